//! The wasmtime engine: pooling allocator, epoch interruption and the
//! linker with mailward's imports (and nothing else).

use crate::cache::{self, CompileCache};
use crate::state::MessageState;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of each linear memory kept resident between messages.
///
/// Small on purpose. wasmtime 48 resets a memory with `PAGEMAP_SCAN`,
/// looking for private pages ("written" without userfaultfd
/// write-protection means merely present), so a page any earlier message
/// wrote is found and copied or zeroed again at every reset until it is
/// decommitted. With a budget larger than the memory (it was 32 MiB) the
/// slot resets the union of every page all earlier messages wrote (arena
/// pages of the largest message included): about half of the sandbox's
/// time on the SpamAssassin training groups went to that scan and its
/// `memset`. With 128 KiB (a typical message writes ~40 pages) the reset
/// stays near one message's own pages and decommits the rest: `mailward
/// bench` went from ~3 800 to ~5 300 messages/s and a fresh instance from
/// ~45 to ~23 µs (32 MiB, 1 MiB and 4 MiB measured alike; 16 KiB and
/// 512 KiB slower; 0, which turns the scan off, halves the throughput).
const KEEP_RESIDENT: usize = 128 << 10;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Instances that may run at once (sizes the pooling allocator).
    pub max_concurrent: u32,
    /// Linear-memory cap of one instance, in bytes.
    pub max_memory_bytes: usize,
    /// How often the epoch advances (the granularity of time limits).
    pub epoch_tick: Duration,
    /// Where compiled packs are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        EngineConfig {
            max_concurrent: (cpus * 4).max(16),
            max_memory_bytes: crate::Limits::default().max_memory_bytes,
            epoch_tick: Duration::from_millis(2),
            cache_dir: cache::default_dir(),
        }
    }
}

struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A configured wasmtime engine shared by every pack and message.
pub struct Engine {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) linker: Linker<MessageState>,
    pub(crate) cache: Option<CompileCache>,
    pub(crate) config: EngineConfig,
    _ticker: Ticker,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds an engine.
    pub fn new(config: EngineConfig) -> Result<Self, crate::LoadError> {
        let mut pool = PoolingAllocationConfig::new();
        let slots = config.max_concurrent.max(2);
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .max_memories_per_component(4)
            .max_memory_size(config.max_memory_bytes)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // Reset with PAGEMAP_SCAN (Linux 6.7+): up to KEEP_RESIDENT
            // bytes of written pages are restored in place and stay mapped
            // for the next message, the rest is decommitted (see
            // KEEP_RESIDENT for why the budget is small).
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(1 << 16)
            // Reuse the warm slots of a pack rather than cycling through
            // cold ones: the set of slots in use stays as small as the
            // number of messages in flight.
            .max_unused_warm_slots(0);
        let mut wt = Config::new();
        wt.epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        // `MAILWARD_PERFMAP=1` writes /tmp/perf-PID.map so `perf` can name
        // the pack's functions (profiling only; no effect on results).
        if std::env::var_os("MAILWARD_PERFMAP").is_some() {
            wt.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine =
            wasmtime::Engine::new(&wt).map_err(|e| crate::LoadError::Compile(format!("engine: {e:#}")))?;
        let mut linker = Linker::new(&engine);
        crate::contract::add_to_linker(&mut linker)
            .map_err(|e| crate::LoadError::Compile(format!("linker: {e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let engine = engine.weak();
            let stop = stop.clone();
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("mailward-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        match engine.upgrade() {
                            Some(e) => e.increment_epoch(),
                            None => break,
                        }
                    }
                })
                .map_err(|e| crate::LoadError::Compile(format!("epoch thread: {e}")))?
        };
        Ok(Engine {
            engine,
            linker,
            cache: config.cache_dir.clone().map(CompileCache::new),
            config,
            _ticker: Ticker {
                stop,
                thread: Some(thread),
            },
        })
    }

    /// The underlying wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// The compile cache, if enabled.
    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }
}
