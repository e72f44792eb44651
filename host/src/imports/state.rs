//! `mailward:filter/state` (contract 0.2 and later): the pack's memory across messages, kept in the
//! configured [`StateStore`](crate::StateStore) at the host clock's time.
//!
//! Bounds (from [`Limits`](crate::Limits)): calls per message, items per
//! call, bytes per key, member and value, and the longest window or
//! lifetime. A refused call answers `limit-exceeded` (a guest that keeps
//! calling after refusals is stopped); a backend failure is logged and
//! answers `unavailable`. Time spent here is host time, not charged to the
//! guest's budget.

use crate::bindings::v0_2::mailward::filter::state::{
    CounterUpdate, Host, Restriction, RestrictionKind, StateError,
};
use crate::state::MessageState;
use crate::store::StoreError;
use mailward_core::state as core;
use std::time::Instant;

fn kind_from(k: RestrictionKind) -> core::RestrictionKind {
    match k {
        RestrictionKind::Block => core::RestrictionKind::Block,
        RestrictionKind::Suspect => core::RestrictionKind::Suspect,
    }
}

fn kind_to(k: core::RestrictionKind) -> RestrictionKind {
    match k {
        core::RestrictionKind::Block => RestrictionKind::Block,
        core::RestrictionKind::Suspect => RestrictionKind::Suspect,
    }
}

fn restriction_to(r: core::Restriction) -> Restriction {
    Restriction {
        kind: kind_to(r.kind),
        reason: r.reason,
        since: r.since,
        until: r.until,
    }
}

impl MessageState {
    /// Admits one state call carrying `items` keys or members, or says why
    /// not (and counts the refusal).
    fn admit_state(&mut self, items: usize) -> wasmtime::Result<Result<(), StateError>> {
        self.state_calls += 1;
        if self.state_calls > self.limits.state_calls || items > self.limits.state_batch {
            self.refuse("state")?;
            return Ok(Err(StateError::LimitExceeded));
        }
        Ok(Ok(()))
    }

    /// True when `s` is an acceptable key, set name or member.
    fn key_ok(&self, s: &str) -> bool {
        !s.is_empty() && s.len() <= self.limits.state_key_bytes && !s.contains(char::is_control)
    }

    fn span_ok(&self, seconds: u32) -> bool {
        seconds <= self.limits.state_max_seconds
    }

    /// Runs one store operation at the clock's time, charging host time
    /// and mapping failures to `unavailable`.
    fn store_op<T>(
        &mut self,
        what: &str,
        op: impl FnOnce(&dyn crate::store::StateStore, u64) -> Result<T, StoreError>,
    ) -> Result<T, StateError> {
        let start = Instant::now();
        let now = self.services.clock.now();
        let result = op(&*self.services.state, now);
        self.host_time += start.elapsed();
        result.map_err(|e| {
            tracing::warn!(target: "mailward::state", pack = %self.pack, op = what, "{e}");
            StateError::Unavailable
        })
    }

    fn refused<T>(&mut self) -> wasmtime::Result<Result<T, StateError>> {
        self.refuse("state")?;
        Ok(Err(StateError::LimitExceeded))
    }
}

impl Host for MessageState {
    fn counters(&mut self, updates: Vec<CounterUpdate>) -> wasmtime::Result<Result<Vec<u64>, StateError>> {
        if let Err(e) = self.admit_state(updates.len())? {
            return Ok(Err(e));
        }
        if updates
            .iter()
            .any(|u| !self.key_ok(&u.key) || u.window < core::MIN_WINDOW || !self.span_ok(u.window))
        {
            return self.refused();
        }
        let ups: Vec<core::CounterUpdate> = updates
            .into_iter()
            .map(|u| core::CounterUpdate {
                key: u.key,
                window: u.window,
                amount: u.amount,
            })
            .collect();
        Ok(self.store_op("counters", |s, now| s.counters(now, &ups)))
    }

    fn seen(
        &mut self,
        set: String,
        members: Vec<String>,
        ttl: u32,
    ) -> wasmtime::Result<Result<Vec<bool>, StateError>> {
        if let Err(e) = self.admit_state(members.len())? {
            return Ok(Err(e));
        }
        if !self.key_ok(&set) || !self.span_ok(ttl) || members.iter().any(|m| !self.key_ok(m)) {
            return self.refused();
        }
        Ok(self.store_op("seen", |s, now| s.seen(now, &set, &members, ttl)))
    }

    fn remember(&mut self, key: String, value: String, ttl: u32) -> wasmtime::Result<Result<(), StateError>> {
        if let Err(e) = self.admit_state(1)? {
            return Ok(Err(e));
        }
        if !self.key_ok(&key) || value.len() > self.limits.state_value_bytes || !self.span_ok(ttl) {
            return self.refused();
        }
        Ok(self.store_op("remember", |s, now| s.remember(now, &key, &value, ttl)))
    }

    fn recall(&mut self, keys: Vec<String>) -> wasmtime::Result<Result<Vec<Option<String>>, StateError>> {
        if let Err(e) = self.admit_state(keys.len())? {
            return Ok(Err(e));
        }
        if keys.iter().any(|k| !self.key_ok(k)) {
            return self.refused();
        }
        let max = self.limits.state_value_bytes;
        Ok(self
            .store_op("recall", |s, now| s.recall(now, &keys))
            .map(|values| {
                // A value over the bound (written by another host with other
                // limits) is withheld rather than cut.
                values.into_iter().map(|v| v.filter(|v| v.len() <= max)).collect()
            }))
    }

    fn restrict(&mut self, user: String, r: Restriction) -> wasmtime::Result<Result<(), StateError>> {
        if let Err(e) = self.admit_state(1)? {
            return Ok(Err(e));
        }
        if !self.key_ok(&user) || r.reason.len() > self.limits.state_value_bytes {
            return self.refused();
        }
        let r = core::Restriction {
            kind: kind_from(r.kind),
            reason: r.reason,
            since: r.since,
            until: r.until,
        };
        tracing::info!(target: "mailward::state", pack = %self.pack, user = %user, kind = %r.kind, until = ?r.until, reason = %r.reason, "user restricted");
        Ok(self.store_op("restrict", |s, now| s.restrict(now, &user, &r)))
    }

    fn restrictions(&mut self, user: String) -> wasmtime::Result<Result<Vec<Restriction>, StateError>> {
        if let Err(e) = self.admit_state(1)? {
            return Ok(Err(e));
        }
        if !self.key_ok(&user) {
            return self.refused();
        }
        Ok(self
            .store_op("restrictions", |s, now| s.restrictions(now, &user))
            .map(|list| list.into_iter().take(8).map(restriction_to).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmbeddedStore, Limits, ManualClock, Services};
    use std::sync::Arc;

    fn state(limits: Limits) -> MessageState {
        let services = Services::new(
            Arc::new(mailward_core::dns::Offline),
            Arc::new(ManualClock::new(1_000_000)),
            Arc::new(EmbeddedStore::in_memory().unwrap()),
        );
        MessageState::new(services, Arc::new(limits), Arc::from("test"), None)
    }

    fn up(key: &str, window: u32) -> CounterUpdate {
        CounterUpdate {
            key: key.into(),
            window,
            amount: 1,
        }
    }

    #[test]
    fn keys_values_windows_and_batches_are_bounded() {
        let limits = Limits::default();
        let mut s = state(limits.clone());
        assert_eq!(s.counters(vec![up("k", 3600)]).unwrap(), Ok(vec![1]));
        let refused = Err(StateError::LimitExceeded);
        assert_eq!(s.counters(vec![up("", 3600)]).unwrap(), refused);
        assert_eq!(
            s.counters(vec![up(&"k".repeat(limits.state_key_bytes + 1), 3600)])
                .unwrap(),
            refused
        );
        assert_eq!(
            s.counters(vec![up("k", 59)]).unwrap(),
            refused,
            "window under a minute"
        );
        assert_eq!(
            s.counters(vec![up("k", limits.state_max_seconds + 1)]).unwrap(),
            refused
        );
        assert_eq!(
            s.counters(vec![up("k\nx", 3600)]).unwrap(),
            refused,
            "control characters"
        );
        let many = vec!["m".to_string(); limits.state_batch + 1];
        assert_eq!(
            s.seen("set".into(), many, 60).unwrap(),
            Err(StateError::LimitExceeded)
        );
        assert_eq!(
            s.remember("k".into(), "v".repeat(limits.state_value_bytes + 1), 60)
                .unwrap(),
            Err(StateError::LimitExceeded)
        );
        assert_eq!(s.remember("k".into(), "v".into(), 60).unwrap(), Ok(()));
        assert_eq!(
            s.recall(vec!["k".into(), "nope".into()]).unwrap(),
            Ok(vec![Some("v".into()), None])
        );
    }

    #[test]
    fn calls_per_message_are_bounded_and_abuse_traps() {
        let limits = Limits {
            state_calls: 3,
            ..Limits::default()
        };
        let mut s = state(limits);
        for _ in 0..3 {
            assert!(s.restrictions("bob".into()).unwrap().is_ok());
        }
        assert_eq!(
            s.restrictions("bob".into()).unwrap(),
            Err(StateError::LimitExceeded)
        );
        // A guest that keeps calling after refusals is stopped.
        let mut trapped = false;
        for _ in 0..1000 {
            if s.restrictions("bob".into()).is_err() {
                trapped = true;
                break;
            }
        }
        assert!(trapped);
        assert!(s.abuse.is_some());
    }

    #[test]
    fn restrictions_round_trip_at_the_clock_time() {
        let mut s = state(Limits::default());
        let r = Restriction {
            kind: RestrictionKind::Block,
            reason: "test".into(),
            since: 1_000_000,
            until: Some(1_000_100),
        };
        assert_eq!(s.restrict("bob".into(), r.clone()).unwrap(), Ok(()));
        assert_eq!(s.restrictions("bob".into()).unwrap(), Ok(vec![r]));
    }
}
