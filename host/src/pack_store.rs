//! The pack store: the state directory a mailward daemon runs from.
//!
//! ```text
//! STATE_DIR/
//!   state.json               which pack is active, the previous ones (for
//!                            rollback), rejected packs and recent events
//!   packs/<sha256>.wasm      the packs state.json names, by content
//!   packs/<sha256>.wasm.sig  their signatures, when they have one
//!   lock                     serialises writers (flock)
//! ```
//!
//! The store is how `mailward rules load|rollback|status` work with or
//! without a running daemon: the commands validate a pack in their own
//! process and record the outcome here; a daemon whose
//! [`Watcher`](crate::Watcher) follows the store activates what it names
//! (validating it again: signature, compile cache, self-test). Writers hold
//! an exclusive lock while they read, change and atomically replace
//! `state.json` (write to a temporary file, then rename), so readers never
//! see half a file and concurrent writers never lose each other's changes.
//! Nothing in the store is trusted more than a pack from anywhere else:
//! every load verifies the signature again.

use crate::lifecycle::{Event, Origin};
use crate::signing::signature_path;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Events kept in `state.json`.
const MAX_EVENTS: usize = 100;
/// Rejected packs remembered (so a watched directory does not retry them).
const MAX_REJECTED: usize = 50;

/// One pack named by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreEntry {
    /// SHA-256 of the pack file.
    pub sha256: String,
    /// Pack name.
    pub name: String,
    /// Pack version.
    pub version: String,
    /// Where it came from.
    pub origin: Origin,
    /// Unix time it became active (or was rejected).
    pub at: u64,
    /// Why it was rejected (rejected entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StoreEntry {
    /// `name/version`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.name, self.version)
    }
}

/// The content of `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreState {
    /// Format version (1).
    pub format: u32,
    /// The pack to run.
    pub active: Option<StoreEntry>,
    /// Earlier packs, most recent last: where rollback goes.
    pub previous: Vec<StoreEntry>,
    /// Packs that were refused or rolled back automatically, most recent last.
    pub rejected: Vec<StoreEntry>,
    /// Recent lifecycle events, oldest first.
    pub events: Vec<Event>,
}

impl StoreState {
    /// True when `sha256` is active, previous or rejected.
    pub fn knows(&self, sha256: &str) -> bool {
        self.active
            .iter()
            .chain(&self.previous)
            .chain(&self.rejected)
            .any(|e| e.sha256 == sha256)
    }

    /// Records an event (keeping the most recent ones).
    pub fn push_event(&mut self, e: Event) {
        self.events.push(e);
        let extra = self.events.len().saturating_sub(MAX_EVENTS);
        self.events.drain(..extra);
    }

    /// Remembers a rejected pack.
    pub fn push_rejected(&mut self, e: StoreEntry) {
        self.rejected.retain(|r| r.sha256 != e.sha256);
        self.rejected.push(e);
        let extra = self.rejected.len().saturating_sub(MAX_REJECTED);
        self.rejected.drain(..extra);
    }
}

/// A state directory.
#[derive(Debug, Clone)]
pub struct PackStore {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl PackStore {
    /// Opens (and creates, if needed) a state directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, String> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("packs")).map_err(|e| io("creating", &dir, e))?;
        Ok(PackStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Path of a stored pack.
    pub fn pack_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("packs").join(format!("{sha256}.wasm"))
    }

    /// Reads `state.json` (an absent file is an empty state).
    pub fn read(&self) -> Result<StoreState, String> {
        let path = self.state_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("parsing {}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreState {
                format: 1,
                ..StoreState::default()
            }),
            Err(e) => Err(io("reading", &path, e)),
        }
    }

    /// Reads, changes and writes `state.json` under the store's lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut StoreState) -> R) -> Result<R, String> {
        let lock_path = self.dir.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("opening", &lock_path, e))?;
        lock.lock().map_err(|e| io("locking", &lock_path, e))?;
        let mut state = self.read()?;
        state.format = 1;
        let r = f(&mut state);
        self.write(&state)?;
        self.collect_garbage(&state);
        drop(lock);
        Ok(r)
    }

    fn write(&self, state: &StoreState) -> Result<(), String> {
        let path = self.state_path();
        let tmp = self.dir.join(format!(".state.json.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
        let mut f = fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
        f.write_all(&text)
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(|e| io("writing", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io("renaming to", &path, e))
    }

    /// Copies a pack (and its signature) into `packs/`.
    pub fn put_pack(&self, sha256: &str, bytes: &[u8], signature: Option<&str>) -> Result<(), String> {
        let path = self.pack_path(sha256);
        if !path.exists() {
            let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
            fs::write(&tmp, bytes).map_err(|e| io("writing", &tmp, e))?;
            fs::rename(&tmp, &path).map_err(|e| io("renaming to", &path, e))?;
        }
        let sig = signature_path(&path);
        match signature {
            Some(text) => fs::write(&sig, text).map_err(|e| io("writing", &sig, e))?,
            None => {
                let _ = fs::remove_file(&sig);
            }
        }
        Ok(())
    }

    /// Removes stored packs that state.json no longer names.
    fn collect_garbage(&self, state: &StoreState) {
        let keep: Vec<&str> = state
            .active
            .iter()
            .chain(&state.previous)
            .map(|e| e.sha256.as_str())
            .collect();
        let Ok(entries) = fs::read_dir(self.dir.join("packs")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let sha = name.split('.').next().unwrap_or("");
            if !keep.contains(&sha) {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Modification time of `state.json`, to notice changes by others.
    pub fn stamp(&self) -> Option<std::time::SystemTime> {
        fs::metadata(self.state_path()).and_then(|m| m.modified()).ok()
    }
}
