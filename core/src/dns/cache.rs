//! A per-message DNS cache in front of an [`Env`].
//!
//! Several checks ask the same questions about one message (the SPF record
//! of the MAIL FROM domain is also the Sender ID record of the From domain,
//! the sender-domain check asks for MX records the `mx` mechanism needs).
//! [`CachedEnv`] answers a repeated question from memory, so the host's
//! per-message query budget is spent once per question, and batches only
//! the questions it has not seen. It lives for one message: nothing is
//! shared between messages, and nothing is built lazily in a global.

use super::{Answer, Query};
use crate::env::{Env, Level};
use crate::state::{CounterUpdate, Restriction, StateError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// An [`Env`] that remembers every answer for the lifetime of one message.
pub struct CachedEnv<'a> {
    inner: &'a dyn Env,
    answers: RefCell<HashMap<Query, Answer>>,
    asked: Cell<u32>,
}

impl std::fmt::Debug for CachedEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedEnv")
            .field("cached", &self.answers.borrow().len())
            .field("asked", &self.asked.get())
            .finish()
    }
}

fn key(query: &Query) -> Query {
    Query {
        name: query.name.to_ascii_lowercase(),
        rtype: query.rtype,
    }
}

impl<'a> CachedEnv<'a> {
    /// A cache in front of `inner`.
    pub fn new(inner: &'a dyn Env) -> Self {
        CachedEnv {
            inner,
            answers: RefCell::new(HashMap::new()),
            asked: Cell::new(0),
        }
    }

    /// How many questions went to the inner environment.
    pub fn asked(&self) -> u32 {
        self.asked.get()
    }
}

impl Env for CachedEnv<'_> {
    fn lookup(&self, query: &Query) -> Answer {
        let k = key(query);
        if let Some(a) = self.answers.borrow().get(&k) {
            return a.clone();
        }
        self.asked.set(self.asked.get().saturating_add(1));
        let answer = self.inner.lookup(query);
        self.answers.borrow_mut().insert(k, answer.clone());
        answer
    }

    fn lookup_batch(&self, queries: &[Query]) -> Vec<Answer> {
        let keys: Vec<Query> = queries.iter().map(key).collect();
        let mut missing: Vec<Query> = Vec::new();
        {
            let answers = self.answers.borrow();
            for k in &keys {
                if !answers.contains_key(k) && !missing.contains(k) {
                    missing.push(k.clone());
                }
            }
        }
        if !missing.is_empty() {
            self.asked.set(
                self.asked
                    .get()
                    .saturating_add(u32::try_from(missing.len()).unwrap_or(u32::MAX)),
            );
            let got = self.inner.lookup_batch(&missing);
            let mut answers = self.answers.borrow_mut();
            for (i, q) in missing.into_iter().enumerate() {
                let a = got.get(i).cloned().unwrap_or(Err(super::DnsError::ServFail));
                answers.insert(q, a);
            }
        }
        let answers = self.answers.borrow();
        keys.iter()
            .map(|k| answers.get(k).cloned().unwrap_or(Err(super::DnsError::ServFail)))
            .collect()
    }

    fn now(&self) -> u64 {
        self.inner.now()
    }

    fn log(&self, level: Level, message: &str) {
        self.inner.log(level, message);
    }

    // State is not DNS: every call goes to the inner environment (the
    // trait's defaults would answer `unavailable`).

    fn counters(&self, updates: &[CounterUpdate]) -> Result<Vec<u64>, StateError> {
        self.inner.counters(updates)
    }

    fn seen(&self, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StateError> {
        self.inner.seen(set, members, ttl)
    }

    fn remember(&self, key: &str, value: &str, ttl: u32) -> Result<(), StateError> {
        self.inner.remember(key, value, ttl)
    }

    fn recall(&self, keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
        self.inner.recall(keys)
    }

    fn restrict(&self, user: &str, r: &Restriction) -> Result<(), StateError> {
        self.inner.restrict(user, r)
    }

    fn restrictions(&self, user: &str) -> Result<Vec<Restriction>, StateError> {
        self.inner.restrictions(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{DnsError, Record, RecordType};

    struct Counting(Cell<u32>);
    impl Env for Counting {
        fn lookup(&self, q: &Query) -> Answer {
            self.0.set(self.0.get() + 1);
            if q.name == "a.example" {
                Ok(vec![Record::Txt(b"x".to_vec())])
            } else {
                Err(DnsError::NxDomain)
            }
        }
        fn now(&self) -> u64 {
            0
        }
        fn log(&self, _: Level, _: &str) {}
        fn remember(&self, key: &str, _: &str, _: u32) -> Result<(), StateError> {
            if key == "k" {
                Ok(())
            } else {
                Err(StateError::LimitExceeded)
            }
        }
        fn recall(&self, keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
            Ok(keys.iter().map(|k| Some(format!("v-{k}"))).collect())
        }
    }

    /// Regression: the cache wrapped the host's environment for DNS and
    /// answered every state call with the trait's default `unavailable`,
    /// so inbound credential phishing was never remembered and outbound
    /// limits never counted (`OUT_STATE_UNAVAILABLE` on every message).
    #[test]
    fn state_calls_reach_the_inner_environment() {
        let inner = Counting(Cell::new(0));
        let env = CachedEnv::new(&inner);
        assert_eq!(env.remember("k", "v", 60), Ok(()));
        assert_eq!(env.remember("other", "v", 60), Err(StateError::LimitExceeded));
        assert_eq!(env.recall(&["a".to_string()]), Ok(vec![Some("v-a".to_string())]));
    }

    #[test]
    fn repeated_questions_are_asked_once() {
        let inner = Counting(Cell::new(0));
        let env = CachedEnv::new(&inner);
        let q = Query::new("a.example", RecordType::Txt);
        assert!(env.lookup(&q).is_ok());
        assert!(env.lookup(&Query::new("A.EXAMPLE.", RecordType::Txt)).is_ok());
        let batch = env.lookup_batch(&[
            q.clone(),
            Query::new("b.example", RecordType::Txt),
            Query::new("b.example", RecordType::Txt),
        ]);
        assert_eq!(batch.len(), 3);
        assert_eq!(batch[1], Err(DnsError::NxDomain));
        assert_eq!(inner.0.get(), 2, "a.example once, b.example once");
        assert_eq!(env.asked(), 2);
    }
}
