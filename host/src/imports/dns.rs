//! `mailward:filter/dns`: questions go to the configured [`Resolver`],
//! within the per-message query and time budget; oversized answers are
//! refused as server failures rather than truncated (a truncated SPF or
//! DKIM record would be a different record).
//!
//! The budget and bounds are applied once, on mailward-core's types; each
//! contract version's `Host` trait (0.1 and 0.2 share the interface's
//! shape) only converts.
//!
//! [`Resolver`]: mailward_core::dns::Resolver

use crate::state::MessageState;
use mailward_core::dns::{self as core, Record};
use std::time::Instant;

impl MessageState {
    /// Admits `n` questions against the budget, or says why not.
    fn admit(&self, n: usize) -> Result<(), core::DnsError> {
        let limits = &self.limits;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if self.dns_queries.saturating_add(n) > limits.dns_queries || self.dns_time >= limits.dns_time {
            return Err(core::DnsError::LimitExceeded);
        }
        Ok(())
    }

    fn bound(&self, answer: core::Answer) -> core::Answer {
        let records = answer?;
        let size: usize = records.iter().map(Record::size).sum();
        if records.len() > self.limits.dns_records || size > self.limits.dns_answer_bytes {
            tracing::warn!(target: "mailward::dns", records = records.len(), size, "answer over the size bound; reported as SERVFAIL");
            return Err(core::DnsError::ServFail);
        }
        Ok(records)
    }

    /// Answers `queries` (name, type) within the budget, one answer each.
    fn resolve(&mut self, queries: Vec<(String, core::RecordType)>) -> wasmtime::Result<Vec<core::Answer>> {
        let start = Instant::now();
        let mut out: Vec<Option<core::Answer>> = vec![None; queries.len()];
        let mut asked = Vec::new();
        let mut asked_at = Vec::new();
        for (i, (name, rtype)) in queries.iter().enumerate() {
            if !core::is_valid_query_name(name) {
                out[i] = Some(Err(core::DnsError::LimitExceeded));
            } else {
                asked.push(core::Query::new(name, *rtype));
                asked_at.push(i);
            }
        }
        if let Err(e) = self.admit(asked.len()) {
            self.refuse("dns")?;
            for slot in out.iter_mut().filter(|s| s.is_none()) {
                *slot = Some(Err(e));
            }
        } else if !asked.is_empty() {
            self.dns_queries += u32::try_from(asked.len()).unwrap_or(u32::MAX);
            let answers = self.services.resolver.lookup_batch(&asked);
            for (k, a) in answers.into_iter().enumerate() {
                if let Some(&i) = asked_at.get(k) {
                    out[i] = Some(self.bound(a));
                }
            }
        }
        let spent = start.elapsed();
        self.dns_time += spent;
        self.host_time += spent;
        Ok(out
            .into_iter()
            .map(|a| a.unwrap_or(Err(core::DnsError::ServFail)))
            .collect())
    }

    /// `dns.lookup-batch`: the batch bound, then [`MessageState::resolve`].
    fn lookup_many(
        &mut self,
        queries: Vec<(String, core::RecordType)>,
    ) -> wasmtime::Result<Vec<core::Answer>> {
        self.call("dns.lookup-batch")?;
        if queries.len() > self.limits.dns_batch {
            self.refuse("dns batch")?;
            return Ok(vec![Err(core::DnsError::LimitExceeded); queries.len()]);
        }
        self.resolve(queries)
    }
}

/// The `dns` host trait of one contract version, over the shared logic.
macro_rules! dns_host {
    ($version:ident) => {
        mod $version {
            use crate::bindings::$version::mailward::filter::dns::{
                DnsError, DnsRecord, Host, MxRecord, Query, RecordType,
            };
            use crate::state::MessageState;
            use mailward_core::dns::{self as core, Record};

            type Answer = Result<Vec<DnsRecord>, DnsError>;

            fn question(q: Query) -> (String, core::RecordType) {
                let t = match q.rtype {
                    RecordType::A => core::RecordType::A,
                    RecordType::Aaaa => core::RecordType::Aaaa,
                    RecordType::Txt => core::RecordType::Txt,
                    RecordType::Mx => core::RecordType::Mx,
                    RecordType::Ptr => core::RecordType::Ptr,
                };
                (q.name, t)
            }

            fn answer(a: core::Answer) -> Answer {
                match a {
                    Ok(records) => Ok(records.into_iter().map(record).collect()),
                    Err(e) => Err(match e {
                        core::DnsError::NxDomain => DnsError::Nxdomain,
                        core::DnsError::NoData => DnsError::NoData,
                        core::DnsError::ServFail => DnsError::Servfail,
                        core::DnsError::Timeout => DnsError::Timeout,
                        core::DnsError::LimitExceeded => DnsError::LimitExceeded,
                    }),
                }
            }

            fn record(r: Record) -> DnsRecord {
                match r {
                    Record::A(a) => {
                        let [w, x, y, z] = a.octets();
                        DnsRecord::A((w, x, y, z))
                    }
                    Record::Aaaa(a) => {
                        let s = a.segments();
                        DnsRecord::Aaaa((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
                    }
                    Record::Txt(t) => DnsRecord::Txt(t),
                    Record::Mx {
                        preference,
                        exchange,
                    } => DnsRecord::Mx(MxRecord {
                        preference,
                        exchange,
                    }),
                    Record::Ptr(p) => DnsRecord::Ptr(p),
                }
            }

            impl Host for MessageState {
                fn lookup(&mut self, q: Query) -> wasmtime::Result<Answer> {
                    self.call("dns.lookup")?;
                    let a = self.resolve(vec![question(q)])?.pop();
                    Ok(answer(a.unwrap_or(Err(core::DnsError::ServFail))))
                }

                fn lookup_batch(&mut self, qs: Vec<Query>) -> wasmtime::Result<Vec<Answer>> {
                    let answers = self.lookup_many(qs.into_iter().map(question).collect())?;
                    Ok(answers.into_iter().map(answer).collect())
                }
            }
        }
    };
}

dns_host!(v0_1);
dns_host!(v0_2);
