//! Sender domain existence (RFC 5321 §2.3.5, §5.1): mail whose envelope
//! sender or header From domain does not exist in the DNS cannot be
//! answered or bounced, a classic sign of forged mail.
//!
//! For each domain one batch asks for MX and A records. NXDOMAIN on both
//! means the domain does not exist; existing without MX or address records
//! means nothing can receive replies. Temporary DNS failures never count
//! against the message.

use super::{Context, Findings};
use crate::dns::{DnsError, Query, RecordType};
use crate::message::domain_of;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "SENDER_DOMAIN_NXDOMAIN",
    "SENDER_DOMAIN_NO_MAIL",
    "FROM_DOMAIN_NXDOMAIN",
    "FROM_DOMAIN_NO_MAIL",
];

/// What the DNS says about one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    /// The domain does not exist.
    Missing,
    /// It exists but has neither MX nor A records.
    NoMail,
    /// It has MX or A records.
    Fine,
    /// The DNS could not tell.
    Unknown,
}

/// Looks `domain` up (MX and A in one batch).
pub fn existence(cx: &Context<'_>, domain: &str) -> Existence {
    let answers = cx.env.lookup_batch(&[
        Query::new(domain, RecordType::Mx),
        Query::new(domain, RecordType::A),
    ]);
    let found = |a: &Result<Vec<_>, DnsError>| a.as_ref().is_ok_and(|r| !r.is_empty());
    if answers.iter().any(found) {
        return Existence::Fine;
    }
    let errors: Vec<DnsError> = answers.iter().filter_map(|a| a.as_ref().err().copied()).collect();
    if errors.len() == answers.len() && errors.iter().all(|e| *e == DnsError::NxDomain) {
        Existence::Missing
    } else if errors.len() == answers.len() && errors.iter().all(|e| e.is_not_found()) {
        Existence::NoMail
    } else {
        Existence::Unknown
    }
}

fn checkable(domain: &str) -> bool {
    !domain.starts_with('[') && domain.contains('.') && crate::dns::is_valid_query_name(domain)
}

/// Runs the check on inbound mail.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let envelope_domain = domain_of(&cx.envelope.mail_from).filter(|d| checkable(d));
    let from_domain = cx
        .message
        .from()
        .and_then(|m| m.domain())
        .filter(|d| checkable(d));
    if let Some(d) = &envelope_domain {
        match existence(cx, d) {
            Existence::Missing => findings.fire(cx.pack, "SENDER_DOMAIN_NXDOMAIN", &[d]),
            Existence::NoMail => findings.fire(cx.pack, "SENDER_DOMAIN_NO_MAIL", &[d]),
            Existence::Fine | Existence::Unknown => {}
        }
    }
    if let Some(d) = &from_domain
        && Some(d) != envelope_domain.as_ref()
    {
        match existence(cx, d) {
            Existence::Missing => findings.fire(cx.pack, "FROM_DOMAIN_NXDOMAIN", &[d]),
            Existence::NoMail => findings.fire(cx.pack, "FROM_DOMAIN_NO_MAIL", &[d]),
            Existence::Fine | Existence::Unknown => {}
        }
    }
}
