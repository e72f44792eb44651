//! The data of one message's store: limits, services and budgets.

use crate::alerts::AlertSink;
use crate::clock::Clock;
use crate::limits::Limits;
use crate::store::StateStore;
use mailward_core::dns::Resolver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{StoreLimits, StoreLimitsBuilder};

/// What the imports talk to, shared by every message.
#[derive(Clone)]
pub struct Services {
    /// DNS answers.
    pub resolver: Arc<dyn Resolver>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// State across messages (the `state` import).
    pub state: Arc<dyn StateStore>,
    /// Where the alerts in verdicts go.
    pub alerts: Arc<AlertSink>,
}

impl Services {
    /// Services with alerts going to the log only.
    pub fn new(resolver: Arc<dyn Resolver>, clock: Arc<dyn Clock>, state: Arc<dyn StateStore>) -> Self {
        Services {
            resolver,
            clock,
            state,
            alerts: Arc::new(AlertSink::log_only()),
        }
    }

    /// The same services with alerts going to `alerts`.
    pub fn with_alerts(mut self, alerts: Arc<AlertSink>) -> Self {
        self.alerts = alerts;
        self
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("clock", &self.clock)
            .field("state", &self.state)
            .field("alerts", &self.alerts)
            .finish_non_exhaustive()
    }
}

/// Per-store data.
pub(crate) struct MessageState {
    pub limiter: MemoryMeter,
    pub services: Services,
    pub limits: Arc<Limits>,
    pub pack: Arc<str>,
    pub queue_id: Option<String>,
    pub started: Instant,
    /// Time spent inside host imports (not charged to the guest).
    pub host_time: Duration,
    /// Calls to any import so far.
    pub host_calls: u32,
    pub dns_queries: u32,
    pub dns_time: Duration,
    pub state_calls: u32,
    /// Calls refused for budget; a guest that keeps calling is stopped.
    pub refused_calls: u32,
    pub log_lines: u32,
    /// Set when an import decides the guest is abusive.
    pub abuse: Option<String>,
}

impl MessageState {
    pub fn new(services: Services, limits: Arc<Limits>, pack: Arc<str>, queue_id: Option<String>) -> Self {
        MessageState {
            limiter: MemoryMeter::new(
                StoreLimitsBuilder::new()
                    .memory_size(limits.max_memory_bytes)
                    .instances(16)
                    .tables(16)
                    .memories(4)
                    .table_elements(100_000)
                    .trap_on_grow_failure(true)
                    .build(),
            ),
            services,
            limits,
            pack,
            queue_id,
            started: Instant::now(),
            host_time: Duration::ZERO,
            host_calls: 0,
            dns_queries: 0,
            dns_time: Duration::ZERO,
            state_calls: 0,
            refused_calls: 0,
            log_lines: 0,
            abuse: None,
        }
    }

    /// Guest CPU time so far: wall time minus time inside imports.
    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_time)
    }

    /// Counts one call to an import; past the per-message budget the
    /// guest is trapped as abusive.
    pub fn call(&mut self, what: &str) -> wasmtime::Result<()> {
        self.host_calls = self.host_calls.saturating_add(1);
        if self.host_calls > self.limits.host_calls {
            let msg = format!(
                "more than {} host calls in one message (last: {what})",
                self.limits.host_calls
            );
            self.abuse = Some(msg.clone());
            return Err(wasmtime::format_err!("{msg}"));
        }
        Ok(())
    }

    /// Counts a refused call; after many, the guest is trapped.
    pub fn refuse(&mut self, what: &str) -> wasmtime::Result<()> {
        self.refused_calls += 1;
        if self.refused_calls > 2 * self.limits.dns_queries.max(self.limits.state_calls).max(16) {
            let msg = format!("{} refused calls to {what}", self.refused_calls);
            self.abuse = Some(msg.clone());
            return Err(wasmtime::format_err!("{msg}"));
        }
        Ok(())
    }
}

/// The store limiter: enforces [`StoreLimits`] and remembers the largest
/// linear memory the instance asked for (its snapshot's size when nothing
/// grows), which [`PhaseTimes`](crate::PhaseTimes) reports.
pub(crate) struct MemoryMeter {
    limits: StoreLimits,
    /// Largest memory size granted so far, in bytes.
    pub peak: usize,
}

impl MemoryMeter {
    fn new(limits: StoreLimits) -> Self {
        MemoryMeter { limits, peak: 0 }
    }
}

impl wasmtime::ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let granted = self.limits.memory_growing(current, desired, maximum)?;
        if granted {
            self.peak = self.peak.max(desired);
        }
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
