//! State that outlives one message, as the filter sees it.
//!
//! The pack decides, the host remembers: checks read and update per-user
//! memory through these calls on [`crate::Env`] (the WIT `state` import
//! inside the sandbox; a host store natively). Every call answers at the
//! environment's clock, so replays in virtual time expire state on the
//! same clock the checks see.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a state call gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum StateError {
    /// The call was refused: a key or value empty or too large, too many
    /// items, or the per-message call budget spent.
    #[error("state call refused (limit exceeded)")]
    LimitExceeded,
    /// The backend failed or there is none.
    #[error("state unavailable")]
    Unavailable,
}

/// One update of a sliding-window counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterUpdate {
    /// The counter's key.
    pub key: String,
    /// The window in seconds (at least [`MIN_WINDOW`]).
    pub window: u32,
    /// Added now; 0 only reads.
    pub amount: u32,
}

impl CounterUpdate {
    /// Adds `amount` to `key` over `window` seconds.
    pub fn add(key: impl Into<String>, window: u32, amount: u32) -> Self {
        CounterUpdate {
            key: key.into(),
            window,
            amount,
        }
    }
}

/// The shortest counter window, in seconds.
pub const MIN_WINDOW: u32 = 60;

/// Buckets per counter window.
pub const BUCKETS: u64 = 60;

/// How a user is restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestrictionKind {
    /// Every message is refused until `until` or until released.
    Block,
    /// Possibly compromised: mail flows under stricter limits until cleared.
    Suspect,
}

impl RestrictionKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RestrictionKind::Block => "block",
            RestrictionKind::Suspect => "suspect",
        }
    }
}

impl fmt::Display for RestrictionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A restriction on an authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    /// Block or suspect.
    pub kind: RestrictionKind,
    /// Why, in one line.
    pub reason: String,
    /// Imposed at (Unix seconds).
    pub since: u64,
    /// Ends at (Unix seconds); `None`: until released.
    pub until: Option<u64>,
}

impl Restriction {
    /// True while the restriction is in force at `now`.
    pub fn active_at(&self, now: u64) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// True when `self` ends no earlier than `other`.
    pub fn outlasts(&self, other: &Restriction) -> bool {
        match (self.until, other.until) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        }
    }

    /// Merges `new` into a user's list of restrictions: one per kind, the
    /// longer-lasting one wins (see the WIT `restrict`).
    pub fn merge_into(list: &mut Vec<Restriction>, new: Restriction, now: u64) {
        list.retain(|r| r.active_at(now));
        match list.iter_mut().find(|r| r.kind == new.kind) {
            Some(old) if old.outlasts(&new) => {}
            Some(old) => *old = new,
            None => list.push(new),
        }
        list.sort_by_key(|r| r.kind);
    }
}

/// A store of state at an explicit time: what a native [`crate::Env`]
/// (tests, benchmarks, replays) forwards the state calls to. The host's
/// backends implement it; see the WIT `state` interface for the meaning
/// of each call.
pub trait State: Send + Sync {
    /// Applies counter updates at `now`; totals in order.
    fn counters(&self, now: u64, updates: &[CounterUpdate]) -> Result<Vec<u64>, StateError>;
    /// Adds members to a set at `now`; for each, true when it is new.
    fn seen(&self, now: u64, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StateError>;
    /// Stores a value for `ttl` seconds from `now`.
    fn remember(&self, now: u64, key: &str, value: &str, ttl: u32) -> Result<(), StateError>;
    /// Values stored under `keys`, as of `now`.
    fn recall(&self, now: u64, keys: &[String]) -> Result<Vec<Option<String>>, StateError>;
    /// Restricts a user.
    fn restrict(&self, now: u64, user: &str, r: &Restriction) -> Result<(), StateError>;
    /// The user's restrictions in force at `now`.
    fn restrictions(&self, now: u64, user: &str) -> Result<Vec<Restriction>, StateError>;
}

/// A sliding-window counter kept as [`BUCKETS`] buckets of `window /
/// BUCKETS` seconds: `(bucket index, count)` pairs. Both host backends use
/// this arithmetic, so they agree to the increment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets(pub Vec<(u64, u64)>);

impl Buckets {
    /// Width of one bucket for `window`.
    pub fn width(window: u32) -> u64 {
        (u64::from(window.max(MIN_WINDOW)) / BUCKETS).max(1)
    }

    /// Adds `amount` at `now`, drops buckets older than the window and
    /// returns the total over the window. Buckets ahead of `now` (another
    /// gateway whose clock runs a little ahead) are kept and counted.
    pub fn add(&mut self, now: u64, window: u32, amount: u32) -> u64 {
        let width = Self::width(window);
        let current = now / width;
        let oldest = current.saturating_sub(BUCKETS - 1);
        self.0.retain(|(b, _)| *b >= oldest);
        if amount > 0 {
            match self.0.iter_mut().find(|(b, _)| *b == current) {
                Some((_, c)) => *c = c.saturating_add(u64::from(amount)),
                None => self.0.push((current, u64::from(amount))),
            }
        }
        self.0.iter().map(|(_, c)| *c).sum()
    }

    /// The newest bucket's start time, if any (for expiry).
    pub fn newest(&self, window: u32) -> Option<u64> {
        self.0.iter().map(|(b, _)| b * Self::width(window)).max()
    }

    /// Encodes as little-endian `(bucket, count)` pairs.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 16);
        for (b, c) in &self.0 {
            out.extend_from_slice(&b.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// Decodes [`Buckets::encode`]'s output; `None` when malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(16) {
            return None;
        }
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        Some(Buckets(
            bytes
                .chunks_exact(16)
                .map(|c| (word(&c[..8]), word(&c[8..])))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_slide() {
        let mut b = Buckets::default();
        let hour = 3600;
        assert_eq!(b.add(1_000_000, hour, 5), 5);
        assert_eq!(b.add(1_000_000 + 1800, hour, 2), 7);
        // One hour and one bucket later the first increment is gone.
        assert_eq!(b.add(1_000_000 + 3600 + 60, hour, 0), 2);
        assert_eq!(b.add(1_000_000 + 2 * 3600, hour, 0), 0);
        assert!(b.0.is_empty(), "stale buckets are dropped");
    }

    #[test]
    fn longer_restriction_wins() {
        let today = Restriction {
            kind: RestrictionKind::Block,
            reason: "limit".into(),
            since: 10,
            until: Some(100),
        };
        let forever = Restriction {
            until: None,
            ..today.clone()
        };
        let mut list = vec![forever.clone()];
        Restriction::merge_into(&mut list, today.clone(), 20);
        assert_eq!(
            list,
            std::slice::from_ref(&forever),
            "block-for-today does not shorten a block"
        );
        let mut list = vec![today.clone()];
        Restriction::merge_into(&mut list, forever.clone(), 20);
        assert_eq!(list, [forever]);
        let mut list = vec![today.clone()];
        Restriction::merge_into(&mut list, today.clone(), 200);
        assert_eq!(list.len(), 1, "an expired restriction is replaced");
        assert!(list[0].active_at(50) && !list[0].active_at(100));
    }
}
