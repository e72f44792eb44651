//! The embedded state store: one [`redb`] database, in a file (the
//! default backend; it survives restarts) or in memory.
//!
//! Each operation is one write (or read) transaction, so counter updates
//! are atomic between the threads of one host. Commits are made durable
//! (fsync) at most once per [`SYNC_EVERY`], when [`StateStore::flush`] is
//! called and when the store is dropped: a crash loses at most that last
//! moment of counting, a clean restart loses nothing.

use super::{RestrictedUser, StateStore, StoreError};
use mailward_core::state::{Buckets, CounterUpdate, Restriction, RestrictionKind};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const COUNTERS: TableDefinition<&str, &[u8]> = TableDefinition::new("counters");
const SEEN: TableDefinition<&str, u64> = TableDefinition::new("seen");
const MEMORY: TableDefinition<&str, &[u8]> = TableDefinition::new("memory");
const RESTRICTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("restrictions");

/// Longest time between durable commits.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// How long `open` waits for another process to close the file.
pub const OPEN_WAIT: Duration = Duration::from_secs(10);

/// Write transactions between sweeps of expired entries.
const PURGE_EVERY: u64 = 16_384;

fn emb(e: impl std::fmt::Display) -> StoreError {
    StoreError::Embedded(e.to_string())
}

struct Sync {
    last: Instant,
    writes: u64,
    latest_now: u64,
}

/// The embedded backend.
pub struct EmbeddedStore {
    db: Database,
    path: Option<PathBuf>,
    sync: Mutex<Sync>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `path`, creating its directory.
    /// Only one process may have a file open at a time; while another has
    /// it (a `mailward check` running alongside), this waits up to
    /// [`OPEN_WAIT`] for it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let deadline = Instant::now() + OPEN_WAIT;
        let db = loop {
            match Database::create(path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(open_err(e.to_string())),
            }
        };
        Self::init(db, Some(path.to_path_buf()))
    }

    /// A store in memory.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(emb)?;
        Self::init(db, None)
    }

    fn init(db: Database, path: Option<PathBuf>) -> Result<Self, StoreError> {
        let store = EmbeddedStore {
            db,
            path,
            sync: Mutex::new(Sync {
                last: Instant::now(),
                writes: 0,
                latest_now: 0,
            }),
        };
        // Create the tables so read transactions find them.
        store.write(0, |txn| {
            txn.open_table(COUNTERS).map_err(emb)?;
            txn.open_table(SEEN).map_err(emb)?;
            txn.open_table(MEMORY).map_err(emb)?;
            txn.open_table(RESTRICTIONS).map_err(emb)?;
            Ok(())
        })?;
        store.flush()?;
        Ok(store)
    }

    /// The file, when the store is on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` in a write transaction at time `now`.
    fn write<R>(
        &self,
        now: u64,
        f: impl FnOnce(&WriteTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let (durable, purge_at) = {
            let mut s = self.sync.lock().unwrap_or_else(|p| p.into_inner());
            s.writes += 1;
            s.latest_now = s.latest_now.max(now);
            let durable = s.last.elapsed() >= SYNC_EVERY;
            if durable {
                s.last = Instant::now();
            }
            (
                durable,
                s.writes.is_multiple_of(PURGE_EVERY).then_some(s.latest_now),
            )
        };
        let mut txn = self.db.begin_write().map_err(emb)?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(emb)?;
        let out = f(&txn)?;
        if let Some(at) = purge_at {
            purge(&txn, at)?;
        }
        txn.commit().map_err(emb)?;
        Ok(out)
    }

    /// Removes entries expired at `now`; returns how many.
    pub fn purge(&self, now: u64) -> Result<usize, StoreError> {
        self.write(now, |txn| purge(txn, now))
    }
}

fn purge(txn: &WriteTransaction, now: u64) -> Result<usize, StoreError> {
    let mut removed = 0usize;
    {
        let mut t = txn.open_table(SEEN).map_err(emb)?;
        let before = t.len().map_err(emb)?;
        t.retain(|_, expires| expires > now).map_err(emb)?;
        removed += (before - t.len().map_err(emb)?) as usize;
    }
    {
        let mut t = txn.open_table(MEMORY).map_err(emb)?;
        let before = t.len().map_err(emb)?;
        t.retain(|_, v| memory_value(v).is_some_and(|(exp, _)| exp > now))
            .map_err(emb)?;
        removed += (before - t.len().map_err(emb)?) as usize;
    }
    {
        let mut t = txn.open_table(COUNTERS).map_err(emb)?;
        let before = t.len().map_err(emb)?;
        t.retain(|k, v| {
            let window = k
                .split_once('|')
                .and_then(|(w, _)| w.parse::<u32>().ok())
                .unwrap_or(0);
            Buckets::decode(v)
                .and_then(|b| b.newest(window))
                .is_some_and(|newest| newest + u64::from(window) + Buckets::width(window) > now)
        })
        .map_err(emb)?;
        removed += (before - t.len().map_err(emb)?) as usize;
    }
    Ok(removed)
}

/// A memory entry: 8 bytes of expiry, then the value.
fn memory_value(v: &[u8]) -> Option<(u64, &str)> {
    let (exp, text) = v.split_at_checked(8)?;
    Some((
        u64::from_le_bytes(exp.try_into().ok()?),
        std::str::from_utf8(text).ok()?,
    ))
}

fn counter_key(u: &CounterUpdate) -> String {
    format!("{}|{}", u.window, u.key)
}

fn decode_restrictions(user: &str, v: &[u8]) -> Result<Vec<Restriction>, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: format!("restrictions of {user}"),
        message: e.to_string(),
    })
}

impl StateStore for EmbeddedStore {
    fn counters(&self, now: u64, updates: &[CounterUpdate]) -> Result<Vec<u64>, StoreError> {
        self.write(now, |txn| {
            let mut t = txn.open_table(COUNTERS).map_err(emb)?;
            let mut out = Vec::with_capacity(updates.len());
            for u in updates {
                let key = counter_key(u);
                let mut b = match t.get(key.as_str()).map_err(emb)? {
                    Some(v) => Buckets::decode(v.value()).unwrap_or_default(),
                    None => Buckets::default(),
                };
                out.push(b.add(now, u.window, u.amount));
                if b.0.is_empty() {
                    t.remove(key.as_str()).map_err(emb)?;
                } else {
                    t.insert(key.as_str(), b.encode().as_slice()).map_err(emb)?;
                }
            }
            Ok(out)
        })
    }

    fn seen(&self, now: u64, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StoreError> {
        self.write(now, |txn| {
            let mut t = txn.open_table(SEEN).map_err(emb)?;
            let expires = now + u64::from(ttl);
            let mut out = Vec::with_capacity(members.len());
            for m in members {
                let key = format!("{set}\0{m}");
                let new = match t.get(key.as_str()).map_err(emb)? {
                    Some(v) => v.value() <= now,
                    None => true,
                };
                t.insert(key.as_str(), expires).map_err(emb)?;
                out.push(new);
            }
            Ok(out)
        })
    }

    fn remember(&self, now: u64, key: &str, value: &str, ttl: u32) -> Result<(), StoreError> {
        self.write(now, |txn| {
            let mut t = txn.open_table(MEMORY).map_err(emb)?;
            let mut v = (now + u64::from(ttl)).to_le_bytes().to_vec();
            v.extend_from_slice(value.as_bytes());
            t.insert(key, v.as_slice()).map_err(emb)?;
            Ok(())
        })
    }

    fn recall(&self, now: u64, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let txn = self.db.begin_read().map_err(emb)?;
        let t = txn.open_table(MEMORY).map_err(emb)?;
        keys.iter()
            .map(|k| {
                Ok(t.get(k.as_str()).map_err(emb)?.and_then(|v| {
                    memory_value(v.value())
                        .filter(|(exp, _)| *exp > now)
                        .map(|(_, text)| text.to_string())
                }))
            })
            .collect()
    }

    fn restrict(&self, now: u64, user: &str, r: &Restriction) -> Result<(), StoreError> {
        self.write(now, |txn| {
            let mut t = txn.open_table(RESTRICTIONS).map_err(emb)?;
            let mut list = match t.get(user).map_err(emb)? {
                Some(v) => decode_restrictions(user, v.value())?,
                None => Vec::new(),
            };
            Restriction::merge_into(&mut list, r.clone(), now);
            let bytes = serde_json::to_vec(&list).map_err(emb)?;
            t.insert(user, bytes.as_slice()).map_err(emb)?;
            Ok(())
        })
    }

    fn restrictions(&self, now: u64, user: &str) -> Result<Vec<Restriction>, StoreError> {
        let txn = self.db.begin_read().map_err(emb)?;
        let t = txn.open_table(RESTRICTIONS).map_err(emb)?;
        let Some(v) = t.get(user).map_err(emb)? else {
            return Ok(Vec::new());
        };
        let mut list = decode_restrictions(user, v.value())?;
        list.retain(|r| r.active_at(now));
        Ok(list)
    }

    fn restricted_users(&self, now: u64) -> Result<Vec<RestrictedUser>, StoreError> {
        let txn = self.db.begin_read().map_err(emb)?;
        let t = txn.open_table(RESTRICTIONS).map_err(emb)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(emb)? {
            let (k, v) = entry.map_err(emb)?;
            let user = k.value().to_string();
            let mut list = decode_restrictions(&user, v.value())?;
            list.retain(|r| r.active_at(now));
            if !list.is_empty() {
                out.push(RestrictedUser {
                    user,
                    restrictions: list,
                });
            }
        }
        Ok(out)
    }

    fn release(&self, user: &str, kind: Option<RestrictionKind>) -> Result<bool, StoreError> {
        let now = self.sync.lock().unwrap_or_else(|p| p.into_inner()).latest_now;
        let released = self.write(now, |txn| {
            let mut t = txn.open_table(RESTRICTIONS).map_err(emb)?;
            let list = match t.get(user).map_err(emb)? {
                Some(v) => decode_restrictions(user, v.value())?,
                None => return Ok(false),
            };
            let (gone, kept): (Vec<_>, Vec<_>) =
                list.into_iter().partition(|r| kind.is_none_or(|k| r.kind == k));
            if kept.is_empty() {
                t.remove(user).map_err(emb)?;
            } else {
                let bytes = serde_json::to_vec(&kept).map_err(emb)?;
                t.insert(user, bytes.as_slice()).map_err(emb)?;
            }
            Ok(!gone.is_empty())
        })?;
        // An administrator's release is made durable at once.
        self.flush()?;
        Ok(released)
    }

    fn flush(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(emb)?;
        txn.set_durability(Durability::Immediate).map_err(emb)?;
        txn.commit().map_err(emb)?;
        self.sync.lock().unwrap_or_else(|p| p.into_inner()).last = Instant::now();
        Ok(())
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(target: "mailward::state", "making the state durable on close: {e}");
        }
    }
}
