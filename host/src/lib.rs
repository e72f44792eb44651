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
//! Loading ([`Engine::load_pack`]) validates the component, detects its
//! contract version, runs its `configure` once and snapshots the result
//! (wasmtime-wizer), compiles the snapshot (or takes it from the on-disk
//! [`CompileCache`]) and keeps an `InstancePre` so per-message
//! instantiation is cheap.
//!
//! # Embedding: the pack lifecycle
//!
//! A gateway embeds a [`PackManager`]: it checks messages on any number of
//! threads with the active pack ([`PackManager::check`], always a verdict:
//! sandbox failures go through the deployment's [`FailPolicy`]), and hot-
//! swaps packs safely ([`PackManager::load`]: signature → compile or cache →
//! contract → configure → self-test → atomic swap; [`PackManager::rollback`];
//! automatic rollback when a new pack's trap/tempfail rate over its first
//! messages crosses a threshold). A [`PackStore`] keeps the state across
//! restarts and between processes; a [`Watcher`] loads packs dropped into
//! a directory and follows the store (call [`Watcher::poke`] on SIGHUP).
//!
//! ```no_run
//! use mailward_host::*;
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Arc::new(Engine::new(EngineConfig::default())?);
//! let services = Services::new(
//!     Arc::new(mailward_core::dns::Offline),
//!     Arc::new(SystemClock),
//!     StateSpec::Embedded("/var/lib/mailward/state.redb".into()).open()?,
//! );
//! let config = ManagerConfig {
//!     trusted_keys: TrustedKeys::from_specs(&["/etc/mailward/vendor.pub"], std::path::Path::new("/"))?,
//!     ..ManagerConfig::default()
//! };
//! let store = PackStore::open("/var/lib/mailward")?;
//! let manager = PackManager::start(engine, services, config, Some(store))?;
//! let _watcher = manager.watch(WatchConfig {
//!     dir: Some("/var/lib/mailward/incoming".into()),
//!     ..WatchConfig::default()
//! })?;
//! // Per message, on any thread:
//! let decision = manager.check(&mailward_core::Envelope::default(), b"Subject: hi\r\n\r\nhello\r\n");
//! println!("{} by {}", decision.verdict.action, decision.verdict.rule_pack.version);
//! // Admin API:
//! manager.load(PackCandidate::from_file(std::path::Path::new("/tmp/new.wasm"))?)?;
//! manager.rollback()?;
//! println!("{:?}", manager.status().active);
//! # Ok(()) }
//! ```

pub mod alerts;
pub mod bindings;
pub mod cache;
pub mod clock;
pub mod contract;
mod engine;
mod error;
mod imports;
pub mod lifecycle;
mod limits;
mod pack;
pub mod pack_store;
pub mod policy;
pub mod resolver;
mod sandbox;
pub mod selftest;
pub mod signing;
mod state;
pub mod store;
pub mod watch;

pub use alerts::{AlertContext, AlertError, AlertSink};
pub use cache::CompileCache;
pub use clock::{Clock, ManualClock, SystemClock};
pub use contract::ContractVersion;
pub use engine::{Engine, EngineConfig};
pub use error::{CheckError, LoadError};
pub use lifecycle::{
    ActivePack, Event, EventKind, HealthSnapshot, LoadTimings, ManagerConfig, Origin, PackCandidate,
    PackManager, PackStatus, RollbackPolicy, Status, SwapReport,
};
pub use limits::Limits;
pub use mailward_core::dns::zone::ZoneResolver;
pub use mailward_core::dns::{Resolver, zone::ZoneError};
pub use pack::{CONTRACT, LoadedPack, Readiness, contract_compatible};
pub use pack_store::PackStore;
pub use policy::{FailPolicy, FailureKind};
pub use resolver::{DnsConfig, HickoryResolver};
pub use sandbox::{Decision, PhaseTimes, Sandbox};
pub use signing::{PublicKey, SecretKey, Trust, TrustedKeys};
pub use state::Services;
pub use store::{
    CoreState, EmbeddedStore, RedisStore, RestrictedUser, StateSpec, StateStore, StoreError,
    default_state_path,
};
pub use watch::{WatchConfig, Watcher};

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
