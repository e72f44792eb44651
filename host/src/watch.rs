//! Triggers for pack changes: a watched directory, the store's
//! `state.json`, and a poke (what a daemon does on SIGHUP).
//!
//! The watcher polls (portable, no inotify limits, and a pack being copied
//! in is never read half-written: a file must look the same — size and
//! modification time, its `.sig` too — on two polls in a row before it is
//! loaded; a poke skips that wait). Every `.wasm` in the directory whose
//! content the manager has not seen before (not active, previous or
//! refused, in this process or in the store) is loaded through the whole
//! pipeline, oldest first, so the newest valid pack ends up active. A pack
//! that fails is not retried until its file changes. When the store's
//! `state.json` changes (another process ran `mailward rules load` or
//! `rollback`), the manager [syncs](crate::PackManager::sync) to it.

use crate::cache::sha256_hex;
use crate::lifecycle::PackManager;
use crate::signing::signature_path;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// What the watcher watches.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// A directory of `.wasm` packs (and their `.sig` files).
    pub dir: Option<PathBuf>,
    /// How often to look.
    pub interval: Duration,
    /// Follow the manager's store (`state.json`) for changes by others.
    pub follow_store: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            dir: None,
            interval: Duration::from_secs(1),
            follow_store: true,
        }
    }
}

/// A running watcher; stops when dropped.
#[derive(Debug)]
pub struct Watcher {
    tx: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Looks now, without waiting for files to settle (SIGHUP).
    pub fn poke(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(());
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Size and modification time of a pack file and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    sig: Option<(u64, Option<SystemTime>)>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let sig = std::fs::metadata(signature_path(path))
        .ok()
        .map(|s| (s.len(), s.modified().ok()));
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        sig,
    })
}

struct State {
    manager: PackManager,
    config: WatchConfig,
    /// Files handled, with the stamp they had.
    done: HashMap<PathBuf, Stamp>,
    /// Files that changed on the last poll, with the stamp they had.
    settling: HashMap<PathBuf, Stamp>,
    store_stamp: Option<SystemTime>,
}

impl State {
    fn scan(&mut self, forced: bool) {
        if self.config.follow_store
            && let Some(store) = self.manager.store()
        {
            let s = store.stamp();
            if forced || s != self.store_stamp {
                self.store_stamp = s;
                if let Err(e) = self.manager.sync() {
                    tracing::error!(target: "mailward::lifecycle", "following the store: {e}");
                }
            }
        }
        let Some(dir) = self.config.dir.clone() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            tracing::warn!(target: "mailward::lifecycle", dir = %dir.display(), "watched directory is not readable");
            return;
        };
        let mut ready = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "wasm") || !path.is_file() {
                continue;
            }
            let Some(st) = stamp(&path) else { continue };
            if self.done.get(&path) == Some(&st) {
                continue;
            }
            if forced || self.settling.get(&path) == Some(&st) {
                self.settling.remove(&path);
                ready.push((st.modified, path, st));
            } else {
                self.settling.insert(path, st);
            }
        }
        ready.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (_, path, st) in ready {
            self.done.insert(path.clone(), st);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if self.manager.knows(&sha256_hex(&bytes)) {
                continue;
            }
            // Errors are recorded as `rejected` events by the manager.
            let _ = self.manager.load_file(&path);
        }
    }
}

impl PackManager {
    /// Starts a watcher thread (see the [module docs](crate::watch)). The
    /// first look happens at once.
    pub fn watch(&self, config: WatchConfig) -> std::io::Result<Watcher> {
        let (tx, rx) = mpsc::channel::<()>();
        let mut state = State {
            manager: self.clone(),
            store_stamp: self.store().and_then(|s| s.stamp()),
            config,
            done: HashMap::new(),
            settling: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("mailward-watch".into())
            .spawn(move || {
                state.scan(false);
                loop {
                    match rx.recv_timeout(state.config.interval) {
                        Ok(()) => state.scan(true),
                        Err(RecvTimeoutError::Timeout) => state.scan(false),
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(Watcher {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}
