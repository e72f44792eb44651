//! `mailward:filter/dns`: questions go to the configured [`Resolver`],
//! within the per-message query and time budget; oversized answers are
//! refused as server failures rather than truncated (a truncated SPF or
//! DKIM record would be a different record).

use crate::bindings::mailward::filter::dns::{DnsError, DnsRecord, Host, MxRecord, Query, RecordType};
use crate::state::MessageState;
use mailward_core::dns::{self as core, Record};
use std::time::Instant;

type Answer = Result<Vec<DnsRecord>, DnsError>;

fn rtype(t: RecordType) -> core::RecordType {
    match t {
        RecordType::A => core::RecordType::A,
        RecordType::Aaaa => core::RecordType::Aaaa,
        RecordType::Txt => core::RecordType::Txt,
        RecordType::Mx => core::RecordType::Mx,
        RecordType::Ptr => core::RecordType::Ptr,
    }
}

fn error(e: core::DnsError) -> DnsError {
    match e {
        core::DnsError::NxDomain => DnsError::Nxdomain,
        core::DnsError::NoData => DnsError::NoData,
        core::DnsError::ServFail => DnsError::Servfail,
        core::DnsError::Timeout => DnsError::Timeout,
        core::DnsError::LimitExceeded => DnsError::LimitExceeded,
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
        Record::Mx { preference, exchange } => DnsRecord::Mx(MxRecord { preference, exchange }),
        Record::Ptr(p) => DnsRecord::Ptr(p),
    }
}

impl MessageState {
    /// Admits `n` questions against the budget, or says why not.
    fn admit(&self, n: usize) -> Result<(), DnsError> {
        let limits = &self.limits;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if self.dns_queries.saturating_add(n) > limits.dns_queries || self.dns_time >= limits.dns_time {
            return Err(DnsError::LimitExceeded);
        }
        Ok(())
    }

    fn bound(&self, answer: core::Answer) -> Answer {
        let records = answer.map_err(error)?;
        let size: usize = records.iter().map(Record::size).sum();
        if records.len() > self.limits.dns_records || size > self.limits.dns_answer_bytes {
            tracing::warn!(target: "mailward::dns", records = records.len(), size, "answer over the size bound; reported as SERVFAIL");
            return Err(DnsError::Servfail);
        }
        Ok(records.into_iter().map(record).collect())
    }

    fn resolve(&mut self, queries: Vec<Query>) -> wasmtime::Result<Vec<Answer>> {
        let start = Instant::now();
        let mut out: Vec<Option<Answer>> = vec![None; queries.len()];
        let mut asked = Vec::new();
        let mut asked_at = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            if !core::is_valid_query_name(&q.name) {
                out[i] = Some(Err(DnsError::LimitExceeded));
            } else {
                asked.push(core::Query::new(&q.name, rtype(q.rtype)));
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
            .map(|a| a.unwrap_or(Err(DnsError::Servfail)))
            .collect())
    }
}

impl Host for MessageState {
    fn lookup(&mut self, q: Query) -> wasmtime::Result<Answer> {
        self.call("dns.lookup")?;
        Ok(self.resolve(vec![q])?.pop().unwrap_or(Err(DnsError::Servfail)))
    }

    fn lookup_batch(&mut self, qs: Vec<Query>) -> wasmtime::Result<Vec<Answer>> {
        self.call("dns.lookup-batch")?;
        if qs.len() > self.limits.dns_batch {
            self.refuse("dns batch")?;
            return Ok(vec![Err(DnsError::LimitExceeded); qs.len()]);
        }
        self.resolve(qs)
    }
}
