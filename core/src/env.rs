//! The filter's window on the world: DNS, clock and log.
//!
//! Checks receive an `&dyn Env` and nothing else from outside, so the same
//! code runs inside the sandbox (where the guest implements `Env` with the
//! host's WIT imports) and natively (tests, benchmarks, fuzzing).

use crate::dns::{Answer, Query, Resolver};
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
}

/// A native [`Env`] over any [`Resolver`], with a fixed clock, a query
/// budget like the host's, and log lines collected in memory.
#[derive(Debug)]
pub struct ResolverEnv<'a, R: Resolver + ?Sized> {
    resolver: &'a R,
    now: u64,
    budget: Cell<u32>,
    logs: std::cell::RefCell<Vec<(Level, String)>>,
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
        }
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
}
