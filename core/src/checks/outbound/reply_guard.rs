//! Credential-reply interception: links the two directions of the
//! spoof-and-compromise attack.
//!
//! * Inbound: when the pack judges a mail credential phishing (its
//!   `credential-phish` expression over the message's findings holds), its
//!   Message-ID and its reply destinations (Reply-To and From addresses
//!   outside the organisation) are remembered in host state for
//!   `credential-memory-days`.
//! * Outbound: a mail whose In-Reply-To/References name a remembered
//!   Message-ID, or that goes to a remembered reply destination, fires
//!   `OUT_REPLY_TO_CRED_PHISH`. Whether the mail is held is the pack's
//!   `credential-reply` expression (which also covers filled-in credential
//!   forms sent outside); see [`super::check`].

use super::util::{key_part, message_ids, normalise_address};
use super::{Identity, MAX_STATE_ITEMS, state_failed};
use crate::checks::{Context, Findings};
use crate::message::domain_of;

/// Reply destinations remembered per phishing mail.
const MAX_DESTINATIONS: usize = 4;

fn mid_key(id: &str) -> String {
    format!("phish-mid:{}", key_part(id))
}

fn dest_key(addr: &str) -> String {
    format!("phish-dest:{}", key_part(addr))
}

/// Inbound: remembers a credential-phishing mail.
pub fn remember(cx: &Context<'_>, memory_days: u32, findings: &mut Findings) {
    let msg = cx.message;
    let mut ids = Vec::new();
    if let Some(v) = msg.header_text("Message-ID") {
        message_ids(&v, 1, &mut ids);
    }
    let own: Vec<String> = cx.envelope.rcpt_to.iter().filter_map(|r| domain_of(r)).collect();
    let mut dests: Vec<String> = Vec::new();
    for field in ["Reply-To", "From"] {
        for m in msg.mailboxes(field) {
            let a = normalise_address(&m.address);
            let Some(d) = domain_of(&a) else { continue };
            if cx.config.is_protected(&d) || own.contains(&d) || dests.contains(&a) {
                continue;
            }
            if dests.len() < MAX_DESTINATIONS {
                dests.push(a);
            }
        }
    }
    if ids.is_empty() && dests.is_empty() {
        return;
    }
    let ttl = memory_days.saturating_mul(86_400);
    let label = ids
        .first()
        .map_or_else(|| "a mail without Message-ID".to_string(), |i| format!("<{i}>"));
    let mut options = Vec::new();
    for id in &ids {
        match cx.env.remember(&mid_key(id), &label, ttl) {
            Ok(()) => options.push(format!("message-id <{id}>")),
            Err(e) => state_failed(cx, findings, e),
        }
    }
    for d in &dests {
        match cx.env.remember(&dest_key(d), &label, ttl) {
            Ok(()) => options.push(format!("reply destination {d}")),
            Err(e) => state_failed(cx, findings, e),
        }
    }
    if !options.is_empty() {
        let opts: Vec<&str> = options.iter().map(String::as_str).collect();
        findings.fire(cx.pack, "MW_CRED_PHISH_REMEMBERED", &opts);
    }
}

/// Outbound: fires `OUT_REPLY_TO_CRED_PHISH` when the mail answers a
/// remembered credential-phishing mail.
pub fn check_reply(cx: &Context<'_>, who: &Identity, findings: &mut Findings) {
    let msg = cx.message;
    let mut ids = Vec::new();
    for field in ["In-Reply-To", "References"] {
        for v in msg.header_texts(field) {
            message_ids(&v, MAX_STATE_ITEMS / 2, &mut ids);
        }
    }
    let rcpts: Vec<String> = cx
        .envelope
        .rcpt_to
        .iter()
        .map(|r| normalise_address(r))
        .filter(|r| !who.is_internal_address(r))
        .take(MAX_STATE_ITEMS / 2)
        .collect();
    if ids.is_empty() && rcpts.is_empty() {
        return;
    }
    let keys: Vec<String> = ids
        .iter()
        .map(|i| mid_key(i))
        .chain(rcpts.iter().map(|r| dest_key(r)))
        .collect();
    let answers = match cx.env.recall(&keys) {
        Ok(a) => a,
        Err(e) => return state_failed(cx, findings, e),
    };
    let mut options = Vec::new();
    for (k, a) in answers.iter().enumerate() {
        let Some(phish) = a else { continue };
        if k < ids.len() {
            options.push(format!("answers <{}>", ids[k]));
        } else if let Some(r) = rcpts.get(k - ids.len()) {
            options.push(format!("to {r}, the reply address of {phish}"));
        }
    }
    if !options.is_empty() {
        let opts: Vec<&str> = options.iter().map(String::as_str).collect();
        findings.fire(cx.pack, "OUT_REPLY_TO_CRED_PHISH", &opts);
    }
}
