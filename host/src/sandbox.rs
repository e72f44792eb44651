//! Checking messages: one fresh store and instance per message, with the
//! memory cap, the guest time budget and bounded imports.

use crate::engine::Engine;
use crate::error::CheckError;
use crate::limits::Limits;
use crate::pack::{LoadedPack, Readiness};
use crate::policy::FailPolicy;
use crate::state::{MessageState, Services};
use mailward_core::types::{Envelope, Verdict};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};

/// Where the time of one check went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    /// Creating the store and instantiating the pack.
    pub instantiate: Duration,
    /// The guest's `check` call, including host imports.
    pub call: Duration,
    /// Dropping the store (the host resets the instance's memory slot).
    pub teardown: Duration,
    /// Everything.
    pub total: Duration,
    /// Largest linear memory of the instance, in bytes: the pack's
    /// snapshot, plus what the message made it grow by.
    pub memory_bytes: usize,
}

/// The answer for one message: always a verdict, and the failure when the
/// verdict came from the fail policy rather than from the pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What the gateway should do. Names the pack version that produced
    /// it (for failures: the pack that was running).
    pub verdict: mailward_core::Verdict,
    /// Why the pack did not decide, when it did not.
    pub failure: Option<CheckError>,
}

/// A loaded pack ready to check messages, safe to share between threads.
#[derive(Debug, Clone)]
pub struct Sandbox {
    engine: Arc<Engine>,
    pack: Arc<LoadedPack>,
    services: Services,
    limits: Arc<Limits>,
}

impl Sandbox {
    /// A sandbox running `pack` on `engine`.
    pub fn new(engine: Arc<Engine>, pack: Arc<LoadedPack>, services: Services, limits: Arc<Limits>) -> Self {
        Sandbox {
            engine,
            pack,
            services,
            limits,
        }
    }

    /// The pack in use.
    pub fn pack(&self) -> &Arc<LoadedPack> {
        &self.pack
    }

    /// The limits in force.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// The services the imports use.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Creates a store and instantiates the pack without checking
    /// anything: the fixed per-message cost, for benchmarks.
    pub fn probe_instantiate(&self) -> Result<(), CheckError> {
        let mut store = Store::new(
            &self.engine.engine,
            MessageState::new(
                self.services.clone(),
                self.limits.clone(),
                self.pack.label.clone(),
                None,
            ),
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(u64::MAX / 2);
        self.pack
            .pre
            .instantiate(&mut store)
            .map(drop)
            .map_err(|e| self.classify(e, &store))
    }

    /// Checks one message in a fresh instance.
    pub fn check(&self, envelope: &Envelope, message: &[u8]) -> Result<Verdict, CheckError> {
        self.check_timed(envelope, message).0
    }

    /// Checks one message and always returns a verdict: the pack's, or, when
    /// the sandbox fails, the one `policy` gives.
    pub fn decide(&self, envelope: &Envelope, message: &[u8], policy: FailPolicy) -> Decision {
        match self.check(envelope, message) {
            Ok(verdict) => Decision {
                verdict,
                failure: None,
            },
            Err(e) => Decision {
                verdict: policy.verdict(&e, &self.pack.info),
                failure: Some(e),
            },
        }
    }

    /// [`Sandbox::check`], also reporting how long each phase took.
    pub fn check_timed(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> (Result<Verdict, CheckError>, PhaseTimes) {
        let mut times = PhaseTimes::default();
        let t = Instant::now();
        let result = self.run(envelope, message, &mut times);
        times.total = t.elapsed();
        (result, times)
    }

    fn run(
        &self,
        envelope: &Envelope,
        message: &[u8],
        times: &mut PhaseTimes,
    ) -> Result<Verdict, CheckError> {
        let t0 = Instant::now();
        if message.len() > self.limits.max_message_bytes {
            return Err(CheckError::MessageTooLarge {
                size: message.len(),
                limit: self.limits.max_message_bytes,
            });
        }
        let mut store = Store::new(
            &self.engine.engine,
            MessageState::new(
                self.services.clone(),
                self.limits.clone(),
                self.pack.label.clone(),
                envelope.queue_id.clone(),
            ),
        );
        store.limiter(|s| &mut s.limiter);
        let budget = self.limits.guest_time;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |cx| {
            Ok(if cx.data().guest_time() > budget {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Continue(1)
            })
        });
        let pack = self
            .pack
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.classify(e, &store))?;
        let t1 = Instant::now();
        times.instantiate = t1 - t0;
        if self.pack.readiness == Readiness::ConfigurePerInstance {
            pack.configure(&mut store, &self.pack.settings)
                .map_err(|e| self.classify(e, &store))?
                .map_err(|e| CheckError::Trap(format!("configure failed on a fresh instance: {e}")))?;
        }
        let verdict = pack
            .check(&mut store, envelope, message)
            .map_err(|e| self.classify(e, &store))?;
        let t2 = Instant::now();
        times.call = t2 - t1;
        times.memory_bytes = store.data().limiter.peak;
        drop(store);
        times.teardown = t2.elapsed();
        bound_verdict(&verdict, &self.limits)?;
        if !verdict.alerts.is_empty() {
            let cx = crate::alerts::AlertContext {
                pack: &self.pack.label,
                queue_id: envelope.queue_id.as_deref(),
                time: self.services.clock.now(),
            };
            for a in &verdict.alerts {
                self.services.alerts.raise(a, cx);
            }
        }
        Ok(verdict)
    }

    fn classify(&self, err: wasmtime::Error, store: &Store<MessageState>) -> CheckError {
        if let Some(abuse) = &store.data().abuse {
            return CheckError::Abuse(abuse.clone());
        }
        if let Some(trap) = err.downcast_ref::<Trap>() {
            return match trap {
                Trap::Interrupt => CheckError::Timeout {
                    budget_ms: u64::try_from(self.limits.guest_time.as_millis()).unwrap_or(u64::MAX),
                },
                other => CheckError::Trap(format!("{other}")),
            };
        }
        let text = format!("{err:#}");
        if text.contains("growing memory") || text.contains("memory minimum size") {
            CheckError::MemoryLimit {
                limit: self.limits.max_memory_bytes,
            }
        } else if (text.contains("concurrent") && text.contains("limit"))
            || text.contains("maximum concurrent")
        {
            CheckError::Capacity(text)
        } else {
            CheckError::Trap(text)
        }
    }
}

/// Checks a verdict against the host's bounds: counts, string sizes,
/// total size, finite scores, header and reply syntax (no line breaks: a
/// header or reply the gateway writes must not smuggle in another).
pub(crate) fn bound_verdict(v: &Verdict, limits: &Limits) -> Result<(), CheckError> {
    let max = limits.verdict_string_bytes;
    let long = |s: &str| s.len() > max;
    let bad = |s: String| Err(CheckError::BadVerdict(s));
    if v.symbols.len() > limits.verdict_symbols {
        return bad(format!(
            "{} symbols (limit {})",
            v.symbols.len(),
            limits.verdict_symbols
        ));
    }
    if v.headers.len() > limits.verdict_headers {
        return bad(format!(
            "{} headers (limit {})",
            v.headers.len(),
            limits.verdict_headers
        ));
    }
    if !v.score.is_finite() || !v.required_score.is_finite() {
        return bad("score is not a finite number".into());
    }
    let mut total = 0usize;
    for s in &v.symbols {
        if long(&s.name)
            || long(&s.description)
            || s.options.len() > limits.verdict_options
            || s.options.iter().any(|o| long(o))
            || !s.score.is_finite()
        {
            return bad(format!("symbol {:.40} is oversized or malformed", s.name));
        }
        total += s.name.len() + s.description.len() + s.options.iter().map(String::len).sum::<usize>();
    }
    for h in &v.headers {
        let name_ok = !h.name.is_empty()
            && h.name.len() <= 76
            && h.name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        let value_ok = !long(&h.value) && !h.value.contains(['\r', '\n', '\0']);
        if !name_ok || !value_ok {
            return bad(format!("header {:.40} is malformed or oversized", h.name));
        }
        total += h.name.len() + h.value.len();
    }
    if let Some(r) = &v.reply {
        let class_ok = (400..600).contains(&r.code);
        let enhanced_ok =
            r.enhanced.len() <= 16 && r.enhanced.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !class_ok || !enhanced_ok || long(&r.text) || r.text.contains(['\r', '\n', '\0']) {
            return bad("SMTP reply is malformed".into());
        }
        total += r.enhanced.len() + r.text.len();
    }
    let p = &v.rule_pack;
    if [&p.name, &p.version, &p.contract, &p.description]
        .iter()
        .any(|s| long(s))
    {
        return bad("rule-pack info is oversized".into());
    }
    total += p.name.len() + p.version.len() + p.contract.len() + p.description.len();
    if total > limits.verdict_bytes {
        return bad(format!("{total} bytes of text (limit {})", limits.verdict_bytes));
    }
    if v.alerts.len() > limits.verdict_alerts {
        return Err(CheckError::BadVerdict(format!(
            "{} alerts (limit {})",
            v.alerts.len(),
            limits.verdict_alerts
        )));
    }
    for a in &v.alerts {
        let user_ok = a.user.as_deref().is_none_or(|u| !long(u));
        if !user_ok
            || long(&a.summary)
            || long(&a.action)
            || a.symbols.len() > 64
            || a.symbols.iter().any(|s| long(s))
        {
            return Err(CheckError::BadVerdict("an alert is oversized".into()));
        }
    }
    Ok(())
}
