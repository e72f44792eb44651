//! The rule-pack lifecycle: load a new pack while traffic flows, swap it in
//! atomically, roll back on command or when the new pack misbehaves.
//!
//! ```text
//!  candidate ─► verify signature ─► read its self-test ─► compile (or take the
//!  (file, API,   (trusted keys;       suite (custom        compiled snapshot from
//!   store)        before anything)    section)             the compile cache)
//!                                                               │
//!   check contract version ◄── configure (pre-initialisation) ◄─┘
//!        │
//!        ▼
//!   self-test (pack's suite + operator's) ─► atomic swap ─► health window
//!                                            (ArcSwap)      (first N messages;
//!                                                            trap/tempfail rate
//!                                                            over the threshold
//!                                                            → automatic rollback)
//! ```
//!
//! [`PackManager`] is the API a gateway embeds: [`PackManager::check`] on
//! any number of threads, and [`PackManager::load`] /
//! [`PackManager::rollback`] / [`PackManager::status`] as the admin API.
//! A check takes a reference to the active pack when it starts and keeps
//! it to the end, so messages in flight during a swap finish on the pack
//! they started on; the old pack is freed when its last message is done.
//! A failed load changes nothing: the active pack keeps serving.
//!
//! With a [`PackStore`] (a state directory), every change is recorded
//! there, the pack a restarted process comes up with is the one recorded
//! as active, and changes made by another process (the `mailward rules`
//! commands) are picked up by [`PackManager::sync`], which a
//! [`Watcher`](crate::Watcher) calls when `state.json` changes.

use crate::cache::sha256_hex;
use crate::engine::Engine;
use crate::error::{CheckError, LoadError};
use crate::limits::Limits;
use crate::pack::{LoadedPack, Readiness};
use crate::pack_store::{PackStore, StoreEntry, StoreState};
use crate::policy::{FailPolicy, FailureKind};
use crate::sandbox::{Decision, Sandbox};
use crate::selftest::{self, Suite};
use crate::signing::{Trust, TrustedKeys, signature_path};
use crate::state::Services;
use arc_swap::ArcSwapOption;
use mailward_core::types::{Action, Envelope, PackInfo, Settings};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where a pack came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The pack built into the binary (trusted without a signature).
    BuiltIn,
    /// A file (a `.wasm` with an optional `.wasm.sig` beside it).
    File(PathBuf),
    /// Bytes handed to the admin API, with the caller's label.
    Api(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Api(l) => write!(f, "api:{l}"),
        }
    }
}

/// A pack to load: its bytes, its signature (if any) and where it is from.
#[derive(Debug, Clone)]
pub struct PackCandidate {
    /// The component.
    pub bytes: Arc<[u8]>,
    /// Text of its `.sig` file.
    pub signature: Option<String>,
    /// Where it came from.
    pub origin: Origin,
}

impl PackCandidate {
    /// The pack built into the binary.
    pub fn built_in(bytes: &[u8]) -> Self {
        PackCandidate {
            bytes: Arc::from(bytes),
            signature: None,
            origin: Origin::BuiltIn,
        }
    }

    /// A pack file and the signature file beside it (`PACK.wasm.sig`), if
    /// present.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let bytes = crate::read_pack(path)?;
        let sig_path = signature_path(path);
        let signature = match std::fs::read_to_string(&sig_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(LoadError::Read {
                    path: sig_path,
                    source,
                });
            }
        };
        Ok(PackCandidate {
            bytes: Arc::from(bytes),
            signature,
            origin: Origin::File(path.to_path_buf()),
        })
    }

    /// Bytes (and a signature text) from an admin API call.
    pub fn from_bytes(bytes: Vec<u8>, signature: Option<String>, label: impl Into<String>) -> Self {
        PackCandidate {
            bytes: Arc::from(bytes),
            signature,
            origin: Origin::Api(label.into()),
        }
    }

    fn sig_name(&self) -> String {
        match &self.origin {
            Origin::File(p) => signature_path(p).display().to_string(),
            _ => "signature".into(),
        }
    }
}

/// When a new pack is rolled back automatically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollbackPolicy {
    /// The new pack's first N messages are watched; 0 turns automatic
    /// rollback off.
    pub window: u32,
    /// Roll back as soon as the share of those N messages on which the
    /// pack trapped (any pack fault: trap, timeout, memory, bad verdict,
    /// abuse) or answered tempfail exceeds this (0.0–1.0).
    pub max_failure_rate: f64,
}

impl Default for RollbackPolicy {
    fn default() -> Self {
        RollbackPolicy {
            window: 200,
            max_failure_rate: 0.05,
        }
    }
}

/// How a [`PackManager`] runs packs.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Handed to every pack's `configure`.
    pub settings: Settings,
    /// Sandbox limits.
    pub limits: Limits,
    /// What a message the sandbox fails on gets.
    pub fail_policy: FailPolicy,
    /// Keys that may sign packs; empty: signatures are not required.
    pub trusted_keys: TrustedKeys,
    /// The operator's own self-test suite, run in addition to the pack's.
    pub self_test: Option<Suite>,
    /// Refuse packs that have no self-test cases at all (neither their own
    /// nor the operator's).
    pub require_self_test: bool,
    /// Automatic rollback.
    pub rollback: RollbackPolicy,
    /// Earlier packs kept for rollback (in memory and in the store).
    pub keep_previous: usize,
    /// The pack built into the binary, trusted without a signature; used
    /// when nothing else is configured or recorded.
    pub built_in: Option<&'static [u8]>,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            settings: Settings::default(),
            limits: Limits::default(),
            fail_policy: FailPolicy::default(),
            trusted_keys: TrustedKeys::default(),
            self_test: None,
            require_self_test: false,
            rollback: RollbackPolicy::default(),
            keep_previous: 3,
            built_in: None,
        }
    }
}

/// What happened, for logs, `mailward rules status` and the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time.
    pub at: u64,
    /// What happened.
    pub kind: EventKind,
    /// `name/version` of the pack concerned, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    /// SHA-256 of the pack concerned, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Details: the origin, the reason, timings.
    pub detail: String,
}

/// Kinds of [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A pack became active.
    Activated,
    /// A pack was refused (signature, contract, configure, self-test…).
    Rejected,
    /// Rolled back on command.
    RolledBack,
    /// Rolled back automatically (failure rate over the threshold).
    AutoRolledBack,
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EventKind::Activated => "activated",
            EventKind::Rejected => "rejected",
            EventKind::RolledBack => "rolled-back",
            EventKind::AutoRolledBack => "auto-rolled-back",
        })
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.pack.as_deref().unwrap_or("-"))?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, Default)]
struct Health {
    seen: AtomicU32,
    failures: AtomicU32,
    tripped: AtomicBool,
}

/// The health window of a pack: its first messages, watched for automatic
/// rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthSnapshot {
    /// Messages seen (counting stops at the window).
    pub seen: u32,
    /// Of those, pack faults or tempfail verdicts.
    pub failures: u32,
    /// The window size.
    pub window: u32,
    /// True once the failure rate crossed the threshold.
    pub tripped: bool,
}

/// A pack serving (or having served) traffic.
#[derive(Debug)]
pub struct ActivePack {
    sandbox: Sandbox,
    /// How it passed the signature check.
    pub trust: Trust,
    /// Where it came from.
    pub origin: Origin,
    /// When it became active.
    pub activated_at: SystemTime,
    /// Increases with every activation in this process.
    pub generation: u64,
    /// Its self-test run.
    pub self_test: selftest::Report,
    health: Health,
}

impl ActivePack {
    /// The loaded pack.
    pub fn pack(&self) -> &Arc<LoadedPack> {
        self.sandbox.pack()
    }

    /// Name, version, contract.
    pub fn info(&self) -> &PackInfo {
        &self.sandbox.pack().info
    }

    /// A sandbox over this pack (for callers that want per-phase timings).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The health window so far.
    pub fn health(&self, window: u32) -> HealthSnapshot {
        HealthSnapshot {
            seen: self.health.seen.load(Ordering::Relaxed).min(window),
            failures: self.health.failures.load(Ordering::Relaxed),
            window,
            tripped: self.health.tripped.load(Ordering::Relaxed),
        }
    }

    fn summary(&self, window: u32) -> PackStatus {
        let p = self.pack();
        PackStatus {
            name: p.info.name.clone(),
            version: p.info.version.clone(),
            contract: p.info.contract.clone(),
            sha256: p.sha256.clone(),
            origin: self.origin.clone(),
            trust: self.trust.to_string(),
            activated_at: self
                .activated_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            generation: Some(self.generation),
            self_test_cases: Some(self.self_test.ran),
            health: Some(self.health(window)),
        }
    }

    fn entry(&self) -> StoreEntry {
        let p = self.pack();
        StoreEntry {
            sha256: p.sha256.clone(),
            name: p.info.name.clone(),
            version: p.info.version.clone(),
            origin: self.origin.clone(),
            at: self
                .activated_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            reason: None,
        }
    }
}

/// One pack in a [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackStatus {
    /// Pack name.
    pub name: String,
    /// Pack version.
    pub version: String,
    /// Contract it implements.
    pub contract: String,
    /// SHA-256 of the pack file.
    pub sha256: String,
    /// Where it came from.
    pub origin: Origin,
    /// How it passed the signature check.
    pub trust: String,
    /// Unix time it became active.
    pub activated_at: u64,
    /// Activation number in this process (absent for packs known only from
    /// the store).
    pub generation: Option<u64>,
    /// Self-test cases it passed (absent for packs known only from the store).
    pub self_test_cases: Option<usize>,
    /// Its health window (active pack only).
    pub health: Option<HealthSnapshot>,
}

impl PackStatus {
    /// `name/version`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.name, self.version)
    }

    fn from_entry(e: &StoreEntry) -> Self {
        PackStatus {
            name: e.name.clone(),
            version: e.version.clone(),
            contract: String::new(),
            sha256: e.sha256.clone(),
            origin: e.origin.clone(),
            trust: String::new(),
            activated_at: e.at,
            generation: None,
            self_test_cases: None,
            health: None,
        }
    }
}

/// The active and previous packs, and recent events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The pack serving traffic.
    pub active: Option<PackStatus>,
    /// Where rollback goes, most recent first.
    pub previous: Vec<PackStatus>,
    /// The fail policy in force.
    pub fail_policy: String,
    /// Recent events, oldest first.
    pub events: Vec<Event>,
}

/// Where the time of a load went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadTimings {
    /// Signature check (and hashing).
    pub verify: Duration,
    /// Compile or cache load, contract check, configure.
    pub load: Duration,
    /// Self-test.
    pub self_test: Duration,
    /// The atomic swap and the update of the previous packs (packs leaving
    /// that list are freed afterwards, outside this time).
    pub swap: Duration,
    /// All of it.
    pub total: Duration,
}

/// The outcome of a successful load or rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwapReport {
    /// The pack now active.
    pub activated: PackStatus,
    /// The pack it replaced.
    pub replaced: Option<PackStatus>,
    /// Compiled now, or taken from the compile cache (`None`: an already
    /// loaded pack was reactivated).
    #[serde(skip)]
    pub readiness: Option<Readiness>,
    /// Timings.
    pub timings: LoadTimings,
}

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

struct Inner {
    engine: Arc<Engine>,
    services: Services,
    limits: Arc<Limits>,
    config: ManagerConfig,
    store: Option<PackStore>,
    active: ArcSwapOption<ActivePack>,
    /// Loaded earlier packs, most recent last (a cache for rollback).
    previous: Mutex<Vec<Arc<ActivePack>>>,
    /// Serialises loads, rollbacks and syncs (never held by checks).
    admin: Mutex<()>,
    events: Mutex<Vec<Event>>,
    generation: AtomicU64,
    listener: Mutex<Option<Listener>>,
}

/// Loads, swaps and rolls back rule packs, and checks messages with the
/// active one. Cheap to clone (a handle); share it between threads.
#[derive(Clone)]
pub struct PackManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PackManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackManager")
            .field("active", &self.active().map(|a| a.pack().label().to_string()))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PackManager {
    /// A manager with no pack yet (checks get the fail policy's verdict
    /// with `MAILWARD_FAIL_NO_PACK` until one is loaded).
    pub fn new(
        engine: Arc<Engine>,
        services: Services,
        config: ManagerConfig,
        store: Option<PackStore>,
    ) -> Self {
        PackManager {
            inner: Arc::new(Inner {
                engine,
                services,
                limits: Arc::new(config.limits.clone()),
                config,
                store,
                active: ArcSwapOption::empty(),
                previous: Mutex::new(Vec::new()),
                admin: Mutex::new(()),
                events: Mutex::new(Vec::new()),
                generation: AtomicU64::new(0),
                listener: Mutex::new(None),
            }),
        }
    }

    /// A manager serving the pack recorded as active in the store; if there
    /// is none (or it no longer loads: the older recorded packs are tried
    /// next), the built-in pack.
    pub fn start(
        engine: Arc<Engine>,
        services: Services,
        config: ManagerConfig,
        store: Option<PackStore>,
    ) -> Result<Self, LoadError> {
        let m = PackManager::new(engine, services, config, store);
        if m.inner.store.is_some() {
            let state = m.store_state()?;
            let mut tried = Vec::new();
            for entry in state.active.iter().chain(state.previous.iter().rev()) {
                match m.candidate_for(entry) {
                    Ok(c) => match m.activate_candidate(c, Record::None) {
                        Ok(_) => {
                            if Some(entry) != state.active.as_ref() {
                                m.record_store(|s| {
                                    let pos = s.previous.iter().rposition(|e| e.sha256 == entry.sha256);
                                    if let Some(pos) = pos {
                                        s.previous.truncate(pos);
                                    }
                                    s.active = Some(entry.clone());
                                })?;
                            }
                            return Ok(m);
                        }
                        Err(e) => tried.push(format!("{}: {e}", entry.label())),
                    },
                    Err(e) => tried.push(format!("{}: {e}", entry.label())),
                }
            }
            if !tried.is_empty() {
                tracing::error!(
                    "no recorded pack loads ({}); falling back to the built-in pack",
                    tried.join("; ")
                );
            }
        }
        if let Some(b) = m.inner.config.built_in {
            m.load(PackCandidate::built_in(b))?;
        }
        Ok(m)
    }

    /// Calls `f` for every lifecycle event (in the thread that caused it).
    pub fn on_event(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        *lock(&self.inner.listener) = Some(Arc::new(f));
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.inner.config
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// The store, if any.
    pub fn store(&self) -> Option<&PackStore> {
        self.inner.store.as_ref()
    }

    /// The active pack.
    pub fn active(&self) -> Option<Arc<ActivePack>> {
        self.inner.active.load_full()
    }

    /// Checks one message with the active pack. Always returns a verdict
    /// (the fail policy's when the sandbox fails or no pack is loaded),
    /// naming the pack version. Counts toward the pack's health window.
    pub fn check(&self, envelope: &Envelope, message: &[u8]) -> Decision {
        let policy = self.inner.config.fail_policy;
        let Some(active) = self.inner.active.load_full() else {
            return Decision {
                verdict: policy.verdict(&CheckError::NoPack, &PackInfo::default()),
                failure: Some(CheckError::NoPack),
            };
        };
        let decision = active.sandbox.decide(envelope, message, policy);
        self.observe(&active, &decision);
        decision
    }

    fn observe(&self, active: &Arc<ActivePack>, d: &Decision) {
        let rb = self.inner.config.rollback;
        let h = &active.health;
        if rb.window == 0 || h.seen.load(Ordering::Relaxed) >= rb.window {
            return;
        }
        h.seen.fetch_add(1, Ordering::Relaxed);
        let bad = match &d.failure {
            Some(e) => FailureKind::of(e).is_pack_fault(),
            None => d.verdict.action == Action::Tempfail,
        };
        if !bad {
            return;
        }
        let failures = h.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if f64::from(failures) > rb.max_failure_rate * f64::from(rb.window)
            && !h.tripped.swap(true, Ordering::AcqRel)
        {
            let m = self.clone();
            let generation = active.generation;
            let why = format!(
                "{failures} of its first {} messages failed (trap or tempfail; threshold {:.1}% of {})",
                h.seen.load(Ordering::Relaxed),
                rb.max_failure_rate * 100.0,
                rb.window
            );
            tracing::warn!(pack = %active.pack().label(), "{why}; rolling back");
            // Not on the message path: the swap may have to load a pack.
            let spawned = std::thread::Builder::new()
                .name("mailward-rollback".into())
                .spawn(move || {
                    if let Err(e) = m.rollback_inner(Some(generation), &why) {
                        tracing::error!("automatic rollback failed: {e}");
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("automatic rollback: no thread: {e}");
            }
        }
    }

    /// Loads `candidate` through the whole pipeline and makes it active.
    /// On any failure the active pack stays and the error says why.
    pub fn load(&self, candidate: PackCandidate) -> Result<SwapReport, LoadError> {
        let _admin = lock(&self.inner.admin);
        self.activate_candidate(candidate, Record::Store)
    }

    /// [`PackManager::load`] of a file (and its `.sig`).
    pub fn load_file(&self, path: &Path) -> Result<SwapReport, LoadError> {
        let candidate = match PackCandidate::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                self.event(
                    EventKind::Rejected,
                    None,
                    None,
                    format!("{}: {e}", path.display()),
                );
                return Err(e);
            }
        };
        self.load(candidate)
    }

    /// Makes the previous pack active again.
    pub fn rollback(&self) -> Result<SwapReport, LoadError> {
        self.rollback_inner(None, "on command")
    }

    /// Brings the active pack in line with the store (after another process
    /// — `mailward rules load|rollback` — changed it). Returns the swap, or
    /// `None` when nothing changed.
    pub fn sync(&self) -> Result<Option<SwapReport>, LoadError> {
        let _admin = lock(&self.inner.admin);
        let state = self.store_state()?;
        let Some(want) = state.active else { return Ok(None) };
        if self.active().is_some_and(|a| a.pack().sha256 == want.sha256) {
            return Ok(None);
        }
        if let Some(cached) = self.take_previous(&want.sha256) {
            return Ok(Some(self.swap(
                cached,
                None,
                Instant::now(),
                LoadTimings::default(),
                EventKind::Activated,
                "from the store",
            )));
        }
        let candidate = self.candidate_for(&want)?;
        self.activate_candidate(candidate, Record::None).map(Some)
    }

    /// The active and previous packs and recent events.
    pub fn status(&self) -> Status {
        let window = self.inner.config.rollback.window;
        let active = self.active().map(|a| a.summary(window));
        let mut previous: Vec<PackStatus> = match self.store_state() {
            Ok(s) if self.inner.store.is_some() => {
                s.previous.iter().rev().map(PackStatus::from_entry).collect()
            }
            _ => lock(&self.inner.previous)
                .iter()
                .rev()
                .map(|p| p.summary(window))
                .collect(),
        };
        // Packs loaded in this process carry more detail than the store.
        let loaded = lock(&self.inner.previous);
        for p in &mut previous {
            if let Some(l) = loaded.iter().find(|l| l.pack().sha256 == p.sha256) {
                let mut s = l.summary(window);
                s.health = None;
                *p = s;
            }
        }
        drop(loaded);
        let events = match self.store_state() {
            Ok(s) if self.inner.store.is_some() => s.events,
            _ => lock(&self.inner.events).clone(),
        };
        Status {
            active,
            previous,
            fail_policy: self.inner.config.fail_policy.to_string(),
            events,
        }
    }

    /// True when this pack content was active, previous or refused before
    /// (a watched directory does not reload it).
    pub fn knows(&self, sha256: &str) -> bool {
        self.active().is_some_and(|a| a.pack().sha256 == sha256)
            || lock(&self.inner.previous)
                .iter()
                .any(|p| p.pack().sha256 == sha256)
            || lock(&self.inner.events)
                .iter()
                .any(|e| e.sha256.as_deref() == Some(sha256))
            || self.store_state().is_ok_and(|s| s.knows(sha256))
    }

    fn store_state(&self) -> Result<StoreState, LoadError> {
        match &self.inner.store {
            Some(s) => s.read().map_err(LoadError::Store),
            None => Ok(StoreState::default()),
        }
    }

    fn record_store<R>(&self, f: impl FnOnce(&mut StoreState) -> R) -> Result<Option<R>, LoadError> {
        match &self.inner.store {
            Some(s) => s.update(f).map(Some).map_err(LoadError::Store),
            None => Ok(None),
        }
    }

    fn candidate_for(&self, entry: &StoreEntry) -> Result<PackCandidate, LoadError> {
        if entry.origin == Origin::BuiltIn {
            let b = self.inner.config.built_in.ok_or_else(|| {
                LoadError::Store("the store names the built-in pack, but there is none".into())
            })?;
            return Ok(PackCandidate::built_in(b));
        }
        let store = self
            .inner
            .store
            .as_ref()
            .ok_or_else(|| LoadError::Store("no store".into()))?;
        let mut c = PackCandidate::from_file(&store.pack_path(&entry.sha256))?;
        c.origin = entry.origin.clone();
        Ok(c)
    }

    fn event(&self, kind: EventKind, pack: Option<String>, sha256: Option<String>, detail: String) {
        let e = Event {
            at: unix_now(),
            kind,
            pack,
            sha256,
            detail,
        };
        match kind {
            EventKind::Activated => tracing::info!(target: "mailward::lifecycle", "{e}"),
            _ => tracing::warn!(target: "mailward::lifecycle", "{e}"),
        }
        {
            let mut events = lock(&self.inner.events);
            events.push(e.clone());
            let extra = events.len().saturating_sub(100);
            events.drain(..extra);
        }
        if let Err(err) = self.record_store(|s| s.push_event(e.clone())) {
            tracing::error!("recording an event in the store: {err}");
        }
        let listener = lock(&self.inner.listener).clone();
        if let Some(f) = listener {
            f(&e);
        }
    }

    /// The whole pipeline for one candidate; the caller holds `admin`.
    fn activate_candidate(&self, c: PackCandidate, record: Record) -> Result<SwapReport, LoadError> {
        let start = Instant::now();
        let sha256 = sha256_hex(&c.bytes);
        let result = self.prepare(&c, start);
        match result {
            Ok((active, timings)) => {
                if record == Record::Store
                    && let Some(store) = &self.inner.store
                {
                    let entry = active.entry();
                    let bytes = c.bytes.clone();
                    let sig = c.signature.clone();
                    let keep = self.inner.config.keep_previous;
                    store
                        .update(|s| -> Result<(), String> {
                            store.put_pack(&entry.sha256, &bytes, sig.as_deref())?;
                            if let Some(old) = s.active.take()
                                && old.sha256 != entry.sha256
                            {
                                s.previous.retain(|p| p.sha256 != old.sha256);
                                s.previous.push(old);
                            }
                            s.previous.retain(|p| p.sha256 != entry.sha256);
                            let extra = s.previous.len().saturating_sub(keep);
                            s.previous.drain(..extra);
                            s.rejected.retain(|r| r.sha256 != entry.sha256);
                            s.active = Some(entry);
                            Ok(())
                        })
                        .map_err(LoadError::Store)?
                        .map_err(LoadError::Store)?;
                }
                let readiness = active.pack().readiness;
                let mut report = self.swap(
                    active,
                    Some(readiness),
                    start,
                    timings,
                    EventKind::Activated,
                    &c.origin.to_string(),
                );
                report.timings.total = start.elapsed();
                Ok(report)
            }
            Err(e) => {
                let why = e.to_string();
                self.event(
                    EventKind::Rejected,
                    None,
                    Some(sha256.clone()),
                    format!("{}: {why}", c.origin),
                );
                if c.origin != Origin::BuiltIn {
                    let entry = StoreEntry {
                        sha256,
                        name: String::new(),
                        version: String::new(),
                        origin: c.origin.clone(),
                        at: unix_now(),
                        reason: Some(why),
                    };
                    if let Err(err) = self.record_store(|s| s.push_rejected(entry)) {
                        tracing::error!("recording a rejected pack: {err}");
                    }
                }
                Err(e)
            }
        }
    }

    /// verify → suites → compile/cache → contract → configure → self-test.
    fn prepare(
        &self,
        c: &PackCandidate,
        start: Instant,
    ) -> Result<(Arc<ActivePack>, LoadTimings), LoadError> {
        let inner = &self.inner;
        let mut timings = LoadTimings::default();
        // 1. The signature, before the bytes are parsed at all.
        let trust = if c.origin == Origin::BuiltIn {
            Trust::BuiltIn
        } else {
            inner
                .config
                .trusted_keys
                .verify(&c.bytes, c.signature.as_deref(), &c.sig_name())?
        };
        timings.verify = start.elapsed();
        // 2. A valid component, and its own self-test (a broken suite
        // refuses the pack).
        let t = Instant::now();
        crate::pack::check_is_component(&c.bytes)?;
        let own = Suite::from_pack(&c.bytes).map_err(|e| LoadError::SelfTest(e.to_string()))?;
        // 3-5. Compile or cache, contract version, configure.
        let pack = Arc::new(inner.engine.load_valid_pack(
            &c.bytes,
            &inner.config.settings,
            &inner.services,
            &inner.limits,
        )?);
        timings.load = t.elapsed();
        // 6. Self-test.
        let t = Instant::now();
        let mut report = selftest::Report::default();
        for suite in own.iter().chain(inner.config.self_test.iter()) {
            let r = selftest::run(&inner.engine, &pack, &inner.limits, suite);
            report.ran += r.ran;
            report.failures.extend(r.failures);
        }
        if !report.passed() {
            return Err(LoadError::SelfTest(report.summary()));
        }
        if report.ran == 0 && inner.config.require_self_test && trust != Trust::BuiltIn {
            return Err(LoadError::SelfTest(
                "the pack has no self-test cases and this deployment requires them".into(),
            ));
        }
        timings.self_test = t.elapsed();
        let sandbox = Sandbox::new(
            inner.engine.clone(),
            pack,
            inner.services.clone(),
            inner.limits.clone(),
        );
        Ok((
            Arc::new(ActivePack {
                sandbox,
                trust,
                origin: c.origin.clone(),
                activated_at: SystemTime::now(),
                generation: inner.generation.fetch_add(1, Ordering::Relaxed) + 1,
                self_test: report,
                health: Health::default(),
            }),
            timings,
        ))
    }

    /// Makes `new` active; the old pack goes to the previous cache.
    fn swap(
        &self,
        new: Arc<ActivePack>,
        readiness: Option<Readiness>,
        start: Instant,
        mut timings: LoadTimings,
        kind: EventKind,
        detail: &str,
    ) -> SwapReport {
        let t = Instant::now();
        let window = self.inner.config.rollback.window;
        let old = self.inner.active.swap(Some(new.clone()));
        // Packs leaving the previous list are freed after the lock and the
        // timing: unloading a compiled pack takes milliseconds.
        let mut leaving = Vec::new();
        if let Some(old) = &old {
            let mut prev = lock(&self.inner.previous);
            leaving.extend(prev.extract_if(.., |p| {
                p.pack().sha256 == old.pack().sha256 || p.pack().sha256 == new.pack().sha256
            }));
            if kind == EventKind::Activated {
                prev.push(old.clone());
            }
            let extra = prev.len().saturating_sub(self.inner.config.keep_previous);
            leaving.extend(prev.drain(..extra));
        }
        timings.swap = t.elapsed();
        drop(leaving);
        timings.total = start.elapsed();
        let activated = new.summary(window);
        let replaced = old.map(|o| {
            let mut s = o.summary(window);
            s.health = Some(o.health(window));
            s
        });
        let detail = match (kind, readiness) {
            (EventKind::Activated, Some(r)) => format!(
                "{detail} ({}, {} self-test cases, {:.0} ms)",
                match r {
                    Readiness::Compiled => "compiled",
                    Readiness::Cached => "from the compile cache",
                    Readiness::ConfigurePerInstance => "configured per instance",
                },
                new.self_test.ran,
                timings.total.as_secs_f64() * 1e3
            ),
            _ => detail.to_string(),
        };
        self.event(
            kind,
            Some(activated.label()),
            Some(activated.sha256.clone()),
            detail,
        );
        SwapReport {
            activated,
            replaced,
            readiness,
            timings,
        }
    }

    fn take_previous(&self, sha256: &str) -> Option<Arc<ActivePack>> {
        let prev = lock(&self.inner.previous);
        prev.iter().rev().find(|p| p.pack().sha256 == sha256).map(|p| {
            // A fresh health window and generation for the reactivation.
            Arc::new(ActivePack {
                sandbox: p.sandbox.clone(),
                trust: p.trust.clone(),
                origin: p.origin.clone(),
                activated_at: SystemTime::now(),
                generation: self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1,
                self_test: p.self_test.clone(),
                health: Health::default(),
            })
        })
    }

    /// Rolls back; with `only_generation`, only if that activation is still
    /// the active one (an automatic rollback racing a newer load).
    fn rollback_inner(&self, only_generation: Option<u64>, why: &str) -> Result<SwapReport, LoadError> {
        let _admin = lock(&self.inner.admin);
        let start = Instant::now();
        let current = self.active();
        if let Some(g) = only_generation
            && current.as_ref().map(|c| c.generation) != Some(g)
        {
            return Err(LoadError::Store(
                "the pack to roll back is no longer active".into(),
            ));
        }
        let auto = only_generation.is_some();
        // Where to go: the store's previous pack, else the in-memory one.
        let state = self.store_state()?;
        let target_sha = match &self.inner.store {
            Some(_) => state.previous.last().map(|e| e.sha256.clone()),
            None => lock(&self.inner.previous).last().map(|p| p.pack().sha256.clone()),
        }
        .ok_or(LoadError::NoPrevious)?;
        let (target, readiness, timings) = match self.take_previous(&target_sha) {
            Some(t) => (t, None, LoadTimings::default()),
            None => {
                let entry = state.previous.last().ok_or(LoadError::NoPrevious)?;
                let c = self.candidate_for(entry)?;
                let (t, timings) = self.prepare(&c, start)?;
                let r = t.pack().readiness;
                (t, Some(r), timings)
            }
        };
        let current_entry = current.as_ref().map(|c| c.entry());
        self.record_store(|s| {
            s.previous.retain(|p| p.sha256 != target_sha);
            if let Some(mut cur) = current_entry.clone()
                && auto
            {
                cur.reason = Some(why.to_string());
                s.push_rejected(cur);
            }
            s.active = Some(target.entry());
        })?;
        let kind = if auto {
            EventKind::AutoRolledBack
        } else {
            EventKind::RolledBack
        };
        let from = current
            .map(|c| c.pack().label().to_string())
            .unwrap_or_else(|| "-".into());
        Ok(self.swap(
            target,
            readiness,
            start,
            timings,
            kind,
            &format!("from {from}: {why}"),
        ))
    }
}

/// Whether an activation is recorded in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// Record it (a load through this manager).
    Store,
    /// Do not (the store already says so: start-up, sync).
    None,
}
