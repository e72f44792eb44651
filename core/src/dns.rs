//! DNS types shared by the filter core, the guest and the host.
//!
//! Checks never talk to the network: they ask an [`crate::Env`] which, in
//! the sandbox, forwards to the host's `dns` import and, natively, to a
//! [`Resolver`] (the host's hickory resolver or the in-memory
//! [`ZoneResolver`](zone::ZoneResolver) used by tests and benchmarks).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The record types a check may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// IPv4 address records.
    A,
    /// IPv6 address records.
    Aaaa,
    /// Text records.
    Txt,
    /// Mail exchanger records.
    Mx,
    /// Pointer records.
    Ptr,
}

impl RecordType {
    /// The record type's mnemonic, as in zone files.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Txt => "TXT",
            RecordType::Mx => "MX",
            RecordType::Ptr => "PTR",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One DNS question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// Domain name without the trailing dot.
    pub name: String,
    /// Record type asked for.
    pub rtype: RecordType,
}

impl Query {
    /// A question for `name` (a trailing dot is removed) and `rtype`.
    pub fn new(name: &str, rtype: RecordType) -> Self {
        Query {
            name: name.strip_suffix('.').unwrap_or(name).to_string(),
            rtype,
        }
    }
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A TXT record, its character-strings concatenated.
    Txt(Vec<u8>),
    /// A mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// Exchanger host name without the trailing dot.
        exchange: String,
    },
    /// A PTR target without the trailing dot.
    Ptr(String),
}

impl Record {
    /// The type of this record.
    pub fn rtype(&self) -> RecordType {
        match self {
            Record::A(_) => RecordType::A,
            Record::Aaaa(_) => RecordType::Aaaa,
            Record::Txt(_) => RecordType::Txt,
            Record::Mx { .. } => RecordType::Mx,
            Record::Ptr(_) => RecordType::Ptr,
        }
    }

    /// Approximate size in bytes, used to bound answers.
    pub fn size(&self) -> usize {
        match self {
            Record::A(_) => 4,
            Record::Aaaa(_) => 16,
            Record::Txt(t) => t.len(),
            Record::Mx { exchange, .. } => 2 + exchange.len(),
            Record::Ptr(p) => p.len(),
        }
    }
}

/// Why a lookup gave no records. RFC result vocabularies map these:
/// `NxDomain`/`NoData` are "no record", the rest are temporary errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsError {
    /// The name does not exist.
    NxDomain,
    /// The name exists without records of the asked type.
    NoData,
    /// The server failed.
    ServFail,
    /// No answer in time.
    Timeout,
    /// The host refused: query budget spent or invalid name.
    LimitExceeded,
}

impl DnsError {
    /// True for "the record does not exist" (as opposed to "could not tell").
    pub fn is_not_found(self) -> bool {
        matches!(self, DnsError::NxDomain | DnsError::NoData)
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsError::NxDomain => "NXDOMAIN",
            DnsError::NoData => "no data",
            DnsError::ServFail => "SERVFAIL",
            DnsError::Timeout => "timeout",
            DnsError::LimitExceeded => "DNS limit exceeded",
        })
    }
}

/// The answer to one question.
pub type Answer = Result<Vec<Record>, DnsError>;

/// Something that answers DNS questions synchronously.
pub trait Resolver: Send + Sync {
    /// Answers one question.
    fn lookup(&self, query: &Query) -> Answer;

    /// Answers several questions; the default asks them one by one.
    fn lookup_batch(&self, queries: &[Query]) -> Vec<Answer> {
        queries.iter().map(|q| self.lookup(q)).collect()
    }
}

/// A resolver for running without DNS: every question times out, so
/// DNS-based checks report "could not tell" (like SpamAssassin's local
/// tests only mode).
#[derive(Debug, Default, Clone, Copy)]
pub struct Offline;

impl Resolver for Offline {
    fn lookup(&self, _query: &Query) -> Answer {
        Err(DnsError::Timeout)
    }
}

/// True when `name` is a syntactically valid DNS name for a query: at most
/// 253 octets, labels of 1 to 63 octets.
pub fn is_valid_query_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
}

pub mod cache;
#[cfg(feature = "zone")]
pub mod zone;
