//! The filter's window on the world: DNS, clock, log and host state.
//!
//! Checks receive an `&dyn Env` and nothing else from outside, so the same
//! code runs inside the sandbox (where the guest implements `Env` with the
//! host's WIT imports) and natively (tests, benchmarks, fuzzing).

use crate::dns::{Answer, Query, Resolver};
use crate::state::{CounterUpdate, Restriction, State, StateError};
use std::cell::Cell;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detailed tracing.
    Debug,
    /// Normal events.
    Info,
    /// Suspicious but handled.
    Warn,
    /// A check could not do its job.
    Error,
}

/// Everything outside the pure filter.
pub trait Env {
    /// Looks up one DNS question.
    fn lookup(&self, query: &Query) -> Answer;

    /// Looks up several questions; answers in question order.
    fn lookup_batch(&self, queries: &[Query]) -> Vec<Answer> {
        queries.iter().map(|q| self.lookup(q)).collect()
    }

    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;

    /// Writes a log line.
    fn log(&self, level: Level, message: &str);

    /// Updates sliding-window counters; totals in order. An environment
    /// without state answers [`StateError::Unavailable`] (the default).
    fn counters(&self, _updates: &[CounterUpdate]) -> Result<Vec<u64>, StateError> {
        Err(StateError::Unavailable)
    }

    /// Adds members to a "seen before" set; for each, true when new.
    fn seen(&self, _set: &str, _members: &[String], _ttl: u32) -> Result<Vec<bool>, StateError> {
        Err(StateError::Unavailable)
    }

    /// Stores a value for `ttl` seconds.
    fn remember(&self, _key: &str, _value: &str, _ttl: u32) -> Result<(), StateError> {
        Err(StateError::Unavailable)
    }

    /// Values stored under `keys`.
    fn recall(&self, _keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
        Err(StateError::Unavailable)
    }

    /// Restricts an authenticated user.
    fn restrict(&self, _user: &str, _r: &Restriction) -> Result<(), StateError> {
        Err(StateError::Unavailable)
    }

    /// The user's restrictions in force now.
    fn restrictions(&self, _user: &str) -> Result<Vec<Restriction>, StateError> {
        Err(StateError::Unavailable)
    }
}

/// A native [`Env`] over any [`Resolver`], with a fixed clock, a query
/// budget like the host's, log lines collected in memory and, optionally,
/// a [`State`] store.
pub struct ResolverEnv<'a, R: Resolver + ?Sized> {
    resolver: &'a R,
    now: u64,
    budget: Cell<u32>,
    logs: std::cell::RefCell<Vec<(Level, String)>>,
    state: Option<&'a dyn State>,
}

impl<R: Resolver + ?Sized> std::fmt::Debug for ResolverEnv<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverEnv")
            .field("now", &self.now)
            .field("budget", &self.budget)
            .field("state", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, R: Resolver + ?Sized> ResolverEnv<'a, R> {
    /// An environment answering from `resolver` at time `now` that allows
    /// `max_queries` DNS questions.
    pub fn new(resolver: &'a R, now: u64, max_queries: u32) -> Self {
        ResolverEnv {
            resolver,
            now,
            budget: Cell::new(max_queries),
            logs: Default::default(),
            state: None,
        }
    }

    /// The same environment, with state calls going to `state` at this
    /// environment's time.
    pub fn with_state(mut self, state: &'a dyn State) -> Self {
        self.state = Some(state);
        self
    }

    /// The log lines written so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }
}

impl<R: Resolver + ?Sized> Env for ResolverEnv<'_, R> {
    fn lookup(&self, query: &Query) -> Answer {
        let left = self.budget.get();
        if left == 0 || !crate::dns::is_valid_query_name(&query.name) {
            return Err(crate::dns::DnsError::LimitExceeded);
        }
        self.budget.set(left - 1);
        self.resolver.lookup(query)
    }

    fn now(&self) -> u64 {
        self.now
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn counters(&self, updates: &[CounterUpdate]) -> Result<Vec<u64>, StateError> {
        self.state
            .ok_or(StateError::Unavailable)?
            .counters(self.now, updates)
    }

    fn seen(&self, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StateError> {
        self.state
            .ok_or(StateError::Unavailable)?
            .seen(self.now, set, members, ttl)
    }

    fn remember(&self, key: &str, value: &str, ttl: u32) -> Result<(), StateError> {
        self.state
            .ok_or(StateError::Unavailable)?
            .remember(self.now, key, value, ttl)
    }

    fn recall(&self, keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
        self.state.ok_or(StateError::Unavailable)?.recall(self.now, keys)
    }

    fn restrict(&self, user: &str, r: &Restriction) -> Result<(), StateError> {
        self.state
            .ok_or(StateError::Unavailable)?
            .restrict(self.now, user, r)
    }

    fn restrictions(&self, user: &str) -> Result<Vec<Restriction>, StateError> {
        self.state
            .ok_or(StateError::Unavailable)?
            .restrictions(self.now, user)
    }
}
