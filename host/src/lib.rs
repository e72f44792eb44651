//! The mailward host: loads rule packs (WebAssembly components
//! implementing `mailward:filter`) into wasmtime and checks messages with
//! them, one fresh sandboxed instance per message.
//!
//! ```text
//!            ┌───────────────────────── host (this crate) ─────────────────────────┐
//!  message ─►│ Sandbox::check ─► fresh Store (memory cap, time budget)             │
//!            │                     └─ instance of the pre-initialised pack ───┐    │
//!            │   imports/dns.rs  ◄── lookup / lookup-batch (bounded) ─────────┤    │
//!            │   imports/clock.rs ◄─ now                                      │    │
//!            │   imports/log.rs  ◄── write (bounded)                          │    │
//!            │   imports/state.rs ◄─ counters / seen / remember / recall /    │    │
//!            │        │              restrict / restrictions (bounded)        │    │
//!            │        └─► store: embedded (redb) | Redis                       │    │
//!  verdict ◄─│ bounds-checked verdict ◄──────────── check() ──────────────────┘    │
//!            │   alerts in the verdict ─► log line + webhook (alerts.rs)           │
//!            └─────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Loading ([`Engine::load_pack`]) validates the component, runs its
//! `configure` once and snapshots the result (wasmtime-wizer), compiles the
//! snapshot (or takes it from the on-disk [`CompileCache`]) and keeps an
//! `InstancePre` so per-message instantiation is cheap.

pub mod alerts;
pub mod bindings;
pub mod cache;
pub mod clock;
mod engine;
mod error;
mod imports;
mod limits;
mod pack;
pub mod resolver;
mod sandbox;
mod state;
pub mod store;

pub use alerts::{AlertContext, AlertError, AlertSink};
pub use cache::CompileCache;
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, EngineConfig};
pub use error::{CheckError, LoadError};
pub use limits::Limits;
pub use mailward_core::dns::zone::ZoneResolver;
pub use mailward_core::dns::{Resolver, zone::ZoneError};
pub use pack::{CONTRACT, LoadedPack, Readiness, contract_compatible};
pub use resolver::{DnsConfig, HickoryResolver};
pub use sandbox::{PhaseTimes, Sandbox};
pub use state::Services;
pub use store::{
    CoreState, EmbeddedStore, RedisStore, RestrictedUser, StateSpec, StateStore, StoreError,
    default_state_path,
};

use std::path::Path;
use std::sync::Arc;

/// Reads a pack file.
pub fn read_pack(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Builds an engine, loads `pack` with `settings` and returns a sandbox:
/// the one-call setup for embedders and the CLI.
pub fn sandbox(
    engine_config: EngineConfig,
    pack: &[u8],
    settings: &mailward_core::Settings,
    services: Services,
    limits: Limits,
) -> Result<Sandbox, LoadError> {
    let engine = Arc::new(Engine::new(engine_config)?);
    let limits = Arc::new(limits);
    let loaded = engine.load_pack(pack, settings, &services, &limits)?;
    Ok(Sandbox::new(engine, Arc::new(loaded), services, limits))
}
