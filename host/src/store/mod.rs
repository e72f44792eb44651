//! Where the host keeps the state packs use through the WIT `state`
//! interface: per-user sliding-window counters, "seen before" sets, a
//! key/value memory with expiry and the restricted-users list.
//!
//! Backends:
//! * [`EmbeddedStore`] — the default: a [`redb`] file on local disk
//!   (survives restarts), or the same in memory (tests, one-off runs);
//! * [`RedisStore`] — one Redis shared by several gateway nodes, with
//!   atomic server-side updates (Lua scripts) and key expiry.
//!
//! Every operation takes the time explicitly (the host's clock, virtual
//! when replaying), so windows and lifetimes follow the clock the pack
//! sees; backend-side expiry (Redis `EXPIRE`) only collects garbage.

mod embedded;
mod redis;

pub use embedded::EmbeddedStore;
pub use redis::RedisStore;

use mailward_core::state::{CounterUpdate, Restriction, RestrictionKind, State, StateError};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded store could not be opened.
    #[error("opening the state file {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The embedded store failed.
    #[error("embedded state store: {0}")]
    Embedded(String),
    /// Redis failed or is unreachable.
    #[error("redis state store: {0}")]
    Redis(String),
    /// A stored value could not be decoded.
    #[error("corrupt state entry {key}: {message}")]
    Corrupt {
        /// The entry.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A state specification could not be understood.
    #[error("bad state backend {0:?} (memory, embedded, embedded:PATH or redis://HOST:PORT[/DB])")]
    Spec(String),
}

/// A user and the restrictions in force on them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestrictedUser {
    /// The user as the pack keys it (normalised authenticated user).
    pub user: String,
    /// Restrictions in force, block before suspect.
    pub restrictions: Vec<Restriction>,
}

/// A state backend. The operations mirror the WIT `state` interface (see
/// `wit/filter.wit` for their meaning); the admin operations serve
/// `mailward users` and embedders.
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Applies counter updates at `now`, each atomically; totals in order.
    fn counters(&self, now: u64, updates: &[CounterUpdate]) -> Result<Vec<u64>, StoreError>;
    /// Adds members to a set; for each, true when it was not there.
    fn seen(&self, now: u64, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StoreError>;
    /// Stores `value` under `key` for `ttl` seconds.
    fn remember(&self, now: u64, key: &str, value: &str, ttl: u32) -> Result<(), StoreError>;
    /// The live values under `keys`.
    fn recall(&self, now: u64, keys: &[String]) -> Result<Vec<Option<String>>, StoreError>;
    /// Restricts `user` (one restriction per kind; the longer one stays).
    fn restrict(&self, now: u64, user: &str, r: &Restriction) -> Result<(), StoreError>;
    /// The user's restrictions in force at `now`.
    fn restrictions(&self, now: u64, user: &str) -> Result<Vec<Restriction>, StoreError>;
    /// Every user with a restriction in force at `now`, sorted by user.
    fn restricted_users(&self, now: u64) -> Result<Vec<RestrictedUser>, StoreError>;
    /// Lifts the user's restrictions of `kind` (all kinds when `None`);
    /// true when there was something to lift.
    fn release(&self, user: &str, kind: Option<RestrictionKind>) -> Result<bool, StoreError>;
    /// Makes every change so far durable (the embedded store batches
    /// fsyncs; Redis answers only after applying).
    fn flush(&self) -> Result<(), StoreError>;
}

/// Which backend, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSpec {
    /// The embedded store in memory: nothing survives the process.
    Memory,
    /// The embedded store in a file.
    Embedded(PathBuf),
    /// A Redis server.
    Redis {
        /// `redis://[user:pass@]host:port[/db]`.
        url: String,
        /// Prefix of every key, so deployments can share a server.
        prefix: String,
    },
}

/// The default key prefix in Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "mailward";

/// The default embedded state file: `$MAILWARD_STATE_DIR/state.redb`, else
/// `$XDG_STATE_HOME/mailward/state.redb`, else
/// `~/.local/state/mailward/state.redb`.
pub fn default_state_path() -> Option<PathBuf> {
    let dir = if let Some(d) = std::env::var_os("MAILWARD_STATE_DIR") {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        PathBuf::from(d).join("mailward")
    } else {
        PathBuf::from(std::env::var_os("HOME")?).join(".local/state/mailward")
    };
    Some(dir.join("state.redb"))
}

impl FromStr for StateSpec {
    type Err = StoreError;

    /// `memory`, `embedded` (the default file), `embedded:PATH`, or a
    /// `redis://` / `rediss://` URL (key prefix [`DEFAULT_REDIS_PREFIX`]).
    fn from_str(s: &str) -> Result<Self, StoreError> {
        let s = s.trim();
        if s == "memory" {
            Ok(StateSpec::Memory)
        } else if s == "embedded" {
            default_state_path()
                .map(StateSpec::Embedded)
                .ok_or_else(|| StoreError::Spec("embedded (no HOME to find the default file)".into()))
        } else if let Some(p) = s.strip_prefix("embedded:") {
            if p.is_empty() {
                return Err(StoreError::Spec(s.into()));
            }
            Ok(StateSpec::Embedded(PathBuf::from(p)))
        } else if s.starts_with("redis://") || s.starts_with("rediss://") {
            Ok(StateSpec::Redis {
                url: s.to_string(),
                prefix: DEFAULT_REDIS_PREFIX.to_string(),
            })
        } else {
            Err(StoreError::Spec(s.into()))
        }
    }
}

impl StateSpec {
    /// Opens the backend.
    pub fn open(&self) -> Result<Arc<dyn StateStore>, StoreError> {
        Ok(match self {
            StateSpec::Memory => Arc::new(EmbeddedStore::in_memory()?),
            StateSpec::Embedded(path) => Arc::new(EmbeddedStore::open(path)?),
            StateSpec::Redis { url, prefix } => Arc::new(RedisStore::connect(url, prefix)?),
        })
    }
}

impl fmt::Display for StateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateSpec::Memory => f.write_str("memory"),
            StateSpec::Embedded(p) => write!(f, "embedded:{}", p.display()),
            // Never print a password from the URL.
            StateSpec::Redis { url, prefix } => {
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
                    _ => url.clone(),
                };
                write!(f, "{shown} (prefix {prefix})")
            }
        }
    }
}

/// A [`StateStore`] seen as the filter core's [`State`], for native runs
/// (benchmarks, differential tests): failures are logged and reported to
/// the checks as [`StateError::Unavailable`], as the WIT import does.
#[derive(Debug, Clone, Copy)]
pub struct CoreState<'a>(pub &'a dyn StateStore);

fn unavailable(e: StoreError) -> StateError {
    tracing::warn!(target: "mailward::state", "{e}");
    StateError::Unavailable
}

impl State for CoreState<'_> {
    fn counters(&self, now: u64, updates: &[CounterUpdate]) -> Result<Vec<u64>, StateError> {
        self.0.counters(now, updates).map_err(unavailable)
    }
    fn seen(&self, now: u64, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StateError> {
        self.0.seen(now, set, members, ttl).map_err(unavailable)
    }
    fn remember(&self, now: u64, key: &str, value: &str, ttl: u32) -> Result<(), StateError> {
        self.0.remember(now, key, value, ttl).map_err(unavailable)
    }
    fn recall(&self, now: u64, keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
        self.0.recall(now, keys).map_err(unavailable)
    }
    fn restrict(&self, now: u64, user: &str, r: &Restriction) -> Result<(), StateError> {
        self.0.restrict(now, user, r).map_err(unavailable)
    }
    fn restrictions(&self, now: u64, user: &str) -> Result<Vec<Restriction>, StateError> {
        self.0.restrictions(now, user).map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_hide_passwords() {
        assert_eq!("memory".parse::<StateSpec>().unwrap(), StateSpec::Memory);
        assert_eq!(
            "embedded:/var/lib/mw/state.redb".parse::<StateSpec>().unwrap(),
            StateSpec::Embedded("/var/lib/mw/state.redb".into())
        );
        let r: StateSpec = "redis://mw:secret@127.0.0.1:6379/2".parse().unwrap();
        assert_eq!(r.to_string(), "redis://***@127.0.0.1:6379/2 (prefix mailward)");
        assert!("postgres://x".parse::<StateSpec>().is_err());
        assert!("embedded:".parse::<StateSpec>().is_err());
    }
}
