//! The Purported Responsible Address (RFC 4407 §2).
//!
//! 1. The first non-empty `Resent-Sender`, unless a non-empty
//!    `Resent-From` precedes it with a `Received` or `Return-Path` field in
//!    between (then that `Resent-Sender` belongs to an older resent block:
//!    go to 2). Otherwise go to 5.
//! 2. The first non-empty `Resent-From`; if there is one, go to 5.
//! 3. All non-empty `Sender` fields: exactly one → 5; more → 6; none → 4.
//! 4. All non-empty `From` fields: exactly one → 5; otherwise → 6.
//! 5. The selected field must hold exactly one mailbox with a domain;
//!    otherwise → 6. That mailbox is the PRA.
//! 6. The message is ill-formed: there is no PRA.

use crate::message::{Message, RawHeader, parse_mailboxes};

/// The PRA and the field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pra {
    /// The mailbox address (`local@domain`).
    pub address: String,
    /// Its domain, lower-cased.
    pub domain: String,
    /// The field name, canonical case (`Resent-Sender`, `From`, …).
    pub field: &'static str,
}

/// Why there is no PRA (step 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPra {
    /// More than one non-empty `Sender` field.
    MultipleSender,
    /// No non-empty `From` field.
    NoFrom,
    /// More than one non-empty `From` field.
    MultipleFrom,
    /// The selected field does not hold exactly one mailbox with a domain.
    Malformed(&'static str),
}

impl std::fmt::Display for NoPra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoPra::MultipleSender => f.write_str("more than one Sender field"),
            NoPra::NoFrom => f.write_str("no From field"),
            NoPra::MultipleFrom => f.write_str("more than one From field"),
            NoPra::Malformed(field) => write!(f, "the {field} field is malformed"),
        }
    }
}

fn non_empty(h: &RawHeader<'_>) -> bool {
    h.value.iter().any(|b| !b.is_ascii_whitespace())
}

fn is(h: &RawHeader<'_>, name: &str) -> bool {
    h.name.eq_ignore_ascii_case(name)
}

/// Runs the PRA algorithm over the message's header fields.
pub fn find(message: &Message<'_>) -> Result<Pra, NoPra> {
    let headers = message.headers();
    let first = |name: &str| headers.iter().position(|h| is(h, name) && non_empty(h));

    // Step 1.
    if let Some(rs) = first("Resent-Sender") {
        let older_block = headers[..rs]
            .iter()
            .position(|h| is(h, "Resent-From") && non_empty(h))
            .is_some_and(|rf| {
                headers[rf + 1..rs]
                    .iter()
                    .any(|h| is(h, "Received") || is(h, "Return-Path"))
            });
        if !older_block {
            return mailbox(&headers[rs], "Resent-Sender");
        }
    }
    // Step 2.
    if let Some(rf) = first("Resent-From") {
        return mailbox(&headers[rf], "Resent-From");
    }
    // Step 3.
    let senders: Vec<&RawHeader<'_>> = headers
        .iter()
        .filter(|h| is(h, "Sender") && non_empty(h))
        .collect();
    match senders.len() {
        0 => {}
        1 => return mailbox(senders[0], "Sender"),
        _ => return Err(NoPra::MultipleSender),
    }
    // Step 4.
    let froms: Vec<&RawHeader<'_>> = headers.iter().filter(|h| is(h, "From") && non_empty(h)).collect();
    match froms.len() {
        0 => Err(NoPra::NoFrom),
        1 => mailbox(froms[0], "From"),
        _ => Err(NoPra::MultipleFrom),
    }
}

/// Step 5: exactly one mailbox with a domain.
fn mailbox(h: &RawHeader<'_>, field: &'static str) -> Result<Pra, NoPra> {
    let boxes = parse_mailboxes(h.value);
    let [only] = boxes.as_slice() else {
        return Err(NoPra::Malformed(field));
    };
    let address = only.address.trim();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(NoPra::Malformed(field));
    };
    let domain = domain.trim().trim_end_matches('.');
    if local.is_empty() || domain.is_empty() || !domain.contains('.') || domain.contains(char::is_whitespace)
    {
        return Err(NoPra::Malformed(field));
    }
    Ok(Pra {
        address: address.to_string(),
        domain: domain.to_ascii_lowercase(),
        field,
    })
}
