//! Loading a rule pack: validate → pre-initialise (configure, snapshot) →
//! compile (or take it from the compile cache) → `InstancePre`.
//!
//! Pre-initialisation runs the pack's `configure` once, in an instrumented
//! instance, and snapshots its memory with wasmtime-wizer: the snapshot is
//! a new component whose data segments hold the configured filter
//! (compiled regexes, models). Each message then instantiates that
//! snapshot — copy-on-write — instead of redoing the start-up work.
//! Packs wizer cannot snapshot still load: they are configured on every
//! instance instead (slower, same results).

use crate::cache::{CompileCache, sha256_hex};
use crate::contract::{ContractVersion, PackPre};
use crate::engine::Engine;
use crate::error::LoadError;
use crate::limits::Limits;
use crate::state::{MessageState, Services};
use mailward_core::types::{PackInfo, Settings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::Component;
use wasmtime_wizer::{WasmtimeWizerComponent, Wizer};

/// The newest contract (WIT package and version) this host speaks; see
/// [`ContractVersion::SUPPORTED`] for all of them.
pub const CONTRACT: &str = "mailward:filter@0.2.0";

/// How a pack came to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The configured snapshot was compiled now.
    Compiled,
    /// The configured snapshot came from the compile cache.
    Cached,
    /// The pack could not be snapshotted; every instance runs `configure`.
    ConfigurePerInstance,
}

/// A pack ready to instantiate.
pub struct LoadedPack {
    /// What the pack says it is.
    pub info: PackInfo,
    /// SHA-256 of the pack file.
    pub sha256: String,
    /// The settings it was configured with.
    pub settings: Settings,
    /// How it was made ready.
    pub readiness: Readiness,
    /// Time the load took.
    pub load_time: Duration,
    /// Initial linear memory of an instance (the pre-initialised state),
    /// in bytes.
    pub initial_memory: u64,
    /// The contract version the pack implements.
    pub contract: ContractVersion,
    pub(crate) pre: PackPre,
    pub(crate) label: Arc<str>,
}

impl std::fmt::Debug for LoadedPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPack")
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .field("readiness", &self.readiness)
            .field("load_time", &self.load_time)
            .finish_non_exhaustive()
    }
}

impl LoadedPack {
    /// `name/version` for logs and headers.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Checks that `bytes` are a valid WebAssembly component.
pub(crate) fn check_is_component(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::Invalid(
            "missing the \\0asm header (truncated or not wasm)".into(),
        ));
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(LoadError::CoreModule);
    }
    let mut v = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    v.validate_all(bytes)
        .map_err(|e| LoadError::Invalid(e.to_string()))?;
    Ok(())
}

fn store(engine: &Engine, services: &Services, limits: &Arc<Limits>) -> Store<MessageState> {
    let mut store = Store::new(
        &engine.engine,
        MessageState::new(services.clone(), limits.clone(), Arc::from("loading"), None),
    );
    store.limiter(|s| &mut s.limiter);
    // Start-up (configure compiles every rule) has its own, larger budget.
    let budget = limits.startup_time;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |cx| {
        Ok(if cx.data().guest_time() > budget {
            wasmtime::UpdateDeadline::Interrupt
        } else {
            wasmtime::UpdateDeadline::Continue(1)
        })
    });
    store
}

/// Attempts at preparing a component's memory images (see
/// [`prepare_memory_images`]).
const MEMORY_IMAGE_ATTEMPTS: u32 = 5;

/// Prepares `component`'s copy-on-write memory images now, instead of at
/// its first instantiation, retrying a few times. On Linux each image is a
/// memfd that wasmtime writes and then seals; sealing fails with EBUSY
/// while the kernel still holds references to the freshly written pages,
/// which happened once in a CI run under load ("cannot add seals to the
/// memfd"). That is a passing condition of the host, not a fault of the
/// pack, so it must not refuse the pack on the first try.
fn prepare_memory_images(component: &Component) -> Result<(), LoadError> {
    retry(MEMORY_IMAGE_ATTEMPTS, Duration::from_millis(40), || {
        component.initialize_copy_on_write_image()
    })
    .map_err(|(attempts, e)| {
        LoadError::Compile(format!(
            "preparing the pack's memory image ({attempts} attempts): {e:#}"
        ))
    })
}

/// Calls `f` until it succeeds, at most `attempts` times, waiting `delay`
/// after the first failure and twice as long after each further one; the
/// last error comes back with the number of attempts made.
fn retry<T>(
    attempts: u32,
    delay: Duration,
    mut f: impl FnMut() -> wasmtime::Result<T>,
) -> Result<T, (u32, wasmtime::Error)> {
    let mut attempt = 1;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if attempt < attempts => {
                tracing::warn!(attempt, "preparing the pack failed, retrying: {e:#}");
                std::thread::sleep(delay * (1 << (attempt - 1)));
                attempt += 1;
            }
            Err(e) => return Err((attempt, e)),
        }
    }
}

/// Runs `configure` in an instrumented instance and snapshots it.
fn preinitialize(
    engine: &Engine,
    bytes: &[u8],
    version: ContractVersion,
    settings: &Settings,
    services: &Services,
    limits: &Arc<Limits>,
) -> Result<Vec<u8>, PreinitError> {
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer
        .instrument_component(bytes)
        .map_err(|e| PreinitError::Unsupported(format!("{e:#}")))?;
    let component = Component::new(&engine.engine, &instrumented)
        .map_err(|e| PreinitError::Load(LoadError::Compile(format!("{e:#}"))))?;
    prepare_memory_images(&component).map_err(PreinitError::Load)?;
    let pre = PackPre::new(version, &engine.linker, &component).map_err(PreinitError::Load)?;
    let mut store = store(engine, services, limits);
    let instance = pre
        .instance_pre()
        .instantiate(&mut store)
        .map_err(|e| PreinitError::Load(startup_error(e, &store, limits)))?;
    let pack = pre.wrap(&mut store, &instance).map_err(|e| {
        PreinitError::Load(LoadError::Contract {
            expected: crate::contract::supported_list(),
            detail: format!("{e:#}"),
        })
    })?;
    pack.configure(&mut store, settings)
        .map_err(|e| PreinitError::Load(startup_error(e, &store, limits)))?
        .map_err(|e| PreinitError::Load(LoadError::Configure(e)))?;
    let snapshot = futures::executor::block_on(wizer.snapshot_component(
        &cx,
        &mut WasmtimeWizerComponent {
            store: &mut store,
            instance,
        },
    ))
    .map_err(|e| PreinitError::Unsupported(format!("{e:#}")))?;
    Ok(snapshot)
}

/// Names what went wrong while a pack started up (instantiate, info,
/// configure): the start-up time budget, the memory cap, or a trap.
fn startup_error(err: wasmtime::Error, store: &Store<MessageState>, limits: &Limits) -> LoadError {
    let text = format!("{err:#}");
    if let Some(abuse) = &store.data().abuse {
        return LoadError::Trap(format!("abused a host interface: {abuse}"));
    }
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => LoadError::Trap(format!(
            "start-up exceeded its time budget of {} ms",
            limits.startup_time.as_millis()
        )),
        _ if text.contains("growing memory") || text.contains("memory minimum size") => {
            LoadError::Trap(format!(
                "start-up exceeded the memory cap of {} bytes",
                limits.max_memory_bytes
            ))
        }
        _ => LoadError::Trap(text),
    }
}

enum PreinitError {
    /// wizer cannot snapshot this component: fall back.
    Unsupported(String),
    /// The pack itself is bad: refuse it.
    Load(LoadError),
}

impl Engine {
    /// Loads a pack from bytes and configures it with `settings`:
    /// validate → detect the contract version → pre-initialise (instantiate,
    /// `configure`, snapshot) and compile, or take the compiled snapshot
    /// from the compile cache → link → ask the pack who it is.
    ///
    /// This does not verify signatures or run self-tests; the
    /// [`PackManager`](crate::PackManager) does both around this call.
    pub fn load_pack(
        &self,
        bytes: &[u8],
        settings: &Settings,
        services: &Services,
        limits: &Arc<Limits>,
    ) -> Result<LoadedPack, LoadError> {
        check_is_component(bytes)?;
        self.load_valid_pack(bytes, settings, services, limits)
    }

    /// [`Engine::load_pack`] of bytes already checked by
    /// [`check_is_component`].
    pub(crate) fn load_valid_pack(
        &self,
        bytes: &[u8],
        settings: &Settings,
        services: &Services,
        limits: &Arc<Limits>,
    ) -> Result<LoadedPack, LoadError> {
        let start = Instant::now();
        let version = ContractVersion::detect(bytes)?;
        let sha256 = sha256_hex(bytes);
        let settings_json = serde_json::to_string(settings).unwrap_or_default();
        let key = CompileCache::key(&self.engine, &sha256, &settings_json);

        let mut readiness = Readiness::Cached;
        let cached = self.cache.as_ref().and_then(|c| c.get(&key)).and_then(|bytes| {
            // SAFETY: the bytes were produced by `Component::serialize` of
            // this engine configuration (the key includes the engine's
            // compatibility hash), in a directory only this user can write
            // (checked by `CompileCache::get`), and passed the entry's
            // integrity check. Packs from outside are never deserialized:
            // they are always compiled from their WebAssembly.
            unsafe { Component::deserialize(&self.engine, &bytes) }
                .inspect_err(|e| tracing::warn!("cached pack did not deserialize: {e:#}"))
                .ok()
        });
        let component = match cached {
            Some(c) => c,
            None => match preinitialize(self, bytes, version, settings, services, limits) {
                Ok(snapshot) => {
                    readiness = Readiness::Compiled;
                    let c = Component::new(&self.engine, &snapshot)
                        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                    if let Some(cache) = &self.cache {
                        match c.serialize() {
                            Ok(code) => {
                                if let Err(e) = cache.put(&key, &code) {
                                    tracing::warn!(dir = %cache.dir().display(), "compile cache not written: {e}");
                                }
                            }
                            Err(e) => tracing::warn!("serializing the compiled pack: {e:#}"),
                        }
                    }
                    c
                }
                Err(PreinitError::Load(e)) => return Err(e),
                Err(PreinitError::Unsupported(why)) => {
                    tracing::warn!("pack cannot be pre-initialised ({why}); configuring per instance");
                    readiness = Readiness::ConfigurePerInstance;
                    Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?
                }
            },
        };
        prepare_memory_images(&component)?;
        let initial_memory = component
            .resources_required()
            .and_then(|r| r.max_initial_memory_size)
            .unwrap_or(0)
            * 65536;
        let pre = PackPre::new(version, &self.linker, &component)?;

        // Ask the pack who it is (and, when it must configure per
        // instance, that the settings are acceptable).
        let mut store = store(self, services, limits);
        let pack = pre
            .instantiate(&mut store)
            .map_err(|e| startup_error(e, &store, limits))?;
        let info = pack
            .info(&mut store)
            .map_err(|e| startup_error(e, &store, limits))?;
        if readiness == Readiness::ConfigurePerInstance {
            pack.configure(&mut store, settings)
                .map_err(|e| startup_error(e, &store, limits))?
                .map_err(LoadError::Configure)?;
        }
        if ContractVersion::for_package(&info.contract) != Some(version) {
            return Err(LoadError::Contract {
                expected: version.package().to_string(),
                detail: format!(
                    "the pack's exports are {} but its info() says {:?}",
                    version.package(),
                    info.contract
                ),
            });
        }
        let label: Arc<str> = Arc::from(format!("{}/{}", info.name, info.version));
        tracing::info!(pack = %label, sha256 = %sha256, ?readiness, ms = start.elapsed().as_millis() as u64, "rule pack loaded");
        Ok(LoadedPack {
            info,
            sha256,
            settings: settings.clone(),
            readiness,
            load_time: start.elapsed(),
            initial_memory,
            contract: version,
            pre,
            label,
        })
    }
}

/// True when a pack's declared contract (`mailward:filter@X.Y.Z`) is one
/// this host speaks: same package, same major, and (for 0.x) same minor.
pub fn contract_compatible(declared: &str) -> bool {
    ContractVersion::for_package(declared).is_some()
}

#[cfg(test)]
mod tests {
    use super::retry;
    use std::time::Duration;

    #[test]
    fn retry_stops_at_the_first_success_or_after_the_last_attempt() {
        let mut calls = 0;
        let ok = retry(5, Duration::from_millis(1), || {
            calls += 1;
            if calls < 3 {
                Err(wasmtime::Error::msg("cannot add seals to the memfd"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(ok.unwrap(), 3);

        let mut calls = 0;
        let err = retry(4, Duration::from_millis(1), || -> wasmtime::Result<()> {
            calls += 1;
            Err(wasmtime::Error::msg(format!("failure {calls}")))
        })
        .unwrap_err();
        assert_eq!(calls, 4);
        assert_eq!(err.0, 4);
        assert_eq!(err.1.to_string(), "failure 4");
    }
}
