//! SPF (RFC 7208) for the MAIL FROM and HELO identities.
//!
//! * [`parse`]: record syntax (terms, mechanisms, modifiers, CIDRs).
//! * [`macros`]: macro strings and their expansion (incl. `exp=` text).
//! * [`verify`]: `check_host()` with the RFC's processing limits.
//!
//! This module turns an envelope into identities (`postmaster@HELO` for the
//! null reverse path, §2.4), validates their domains (§4.3: a malformed or
//! single-label domain, or a domain literal, gives `none`), runs
//! `check_host()` and fires one symbol per identity.

pub mod macros;
pub mod parse;
pub mod verify;

use super::auth::{SpfIdentity, SpfOutcome, SpfResult};
use super::{Context, Findings};
use crate::env::Env;
use crate::types::{Envelope, SmtpReply};
use std::net::IpAddr;

/// Symbols this check emits: one `SPF_*` for MAIL FROM, one `SPF_HELO_*`
/// for the HELO name.
pub const SYMBOLS: &[&str] = &[
    "SPF_PASS",
    "SPF_FAIL",
    "SPF_SOFTFAIL",
    "SPF_NEUTRAL",
    "SPF_NONE",
    "SPF_TEMPERROR",
    "SPF_PERMERROR",
    "SPF_HELO_PASS",
    "SPF_HELO_FAIL",
    "SPF_HELO_SOFTFAIL",
    "SPF_HELO_NEUTRAL",
    "SPF_HELO_NONE",
    "SPF_HELO_TEMPERROR",
    "SPF_HELO_PERMERROR",
];

/// The symbol for a result of an identity.
pub fn symbol(identity: SpfIdentity, result: SpfResult) -> &'static str {
    match (identity, result) {
        (SpfIdentity::MailFrom, SpfResult::Pass) => "SPF_PASS",
        (SpfIdentity::MailFrom, SpfResult::Fail) => "SPF_FAIL",
        (SpfIdentity::MailFrom, SpfResult::SoftFail) => "SPF_SOFTFAIL",
        (SpfIdentity::MailFrom, SpfResult::Neutral) => "SPF_NEUTRAL",
        (SpfIdentity::MailFrom, SpfResult::None) => "SPF_NONE",
        (SpfIdentity::MailFrom, SpfResult::TempError) => "SPF_TEMPERROR",
        (SpfIdentity::MailFrom, SpfResult::PermError) => "SPF_PERMERROR",
        (SpfIdentity::Helo, SpfResult::Pass) => "SPF_HELO_PASS",
        (SpfIdentity::Helo, SpfResult::Fail) => "SPF_HELO_FAIL",
        (SpfIdentity::Helo, SpfResult::SoftFail) => "SPF_HELO_SOFTFAIL",
        (SpfIdentity::Helo, SpfResult::Neutral) => "SPF_HELO_NEUTRAL",
        (SpfIdentity::Helo, SpfResult::None) => "SPF_HELO_NONE",
        (SpfIdentity::Helo, SpfResult::TempError) => "SPF_HELO_TEMPERROR",
        (SpfIdentity::Helo, SpfResult::PermError) => "SPF_HELO_PERMERROR",
    }
}

/// True when `domain` can be an SPF identity (§4.3): a multi-label name of
/// visible ASCII with labels of 1–63 octets, at most 253 octets, not a
/// domain literal. A single trailing dot is allowed.
pub fn valid_identity_domain(domain: &str) -> bool {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    !d.is_empty()
        && d.len() <= 253
        && !d.starts_with('[')
        && d.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'@')
        && d.contains('.')
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// The `r` macro: the receiving host, or `unknown` (§7.3).
pub fn receiver_name(authserv_id: &str) -> &str {
    if valid_identity_domain(authserv_id) {
        authserv_id
    } else {
        "unknown"
    }
}

/// What one SPF check needs besides DNS.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The HELO/EHLO name.
    pub helo: Option<&'a str>,
    /// The receiving host's name (`r` macro).
    pub receiver: &'a str,
    /// Seconds since the epoch.
    pub now: u64,
}

/// Splits `sender` into the `<sender>` to use (`postmaster` for an empty
/// local-part) and its domain. `None` without an `@`.
pub fn sender_and_domain(sender: &str) -> Option<(String, String)> {
    let (local, domain) = sender.rsplit_once('@')?;
    let local = if local.is_empty() { "postmaster" } else { local };
    Some((format!("{local}@{domain}"), domain.to_string()))
}

/// Runs `check_host()` for one identity and packs the outcome.
pub fn check_identity(
    env: &dyn Env,
    req: &Request<'_>,
    identity: SpfIdentity,
    sender: &str,
    domain: &str,
) -> SpfOutcome {
    let outcome = |result, reason: String| SpfOutcome {
        result,
        identity,
        sender: sender.to_string(),
        domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        explanation: None,
        reason,
    };
    if !valid_identity_domain(domain) {
        return outcome(SpfResult::None, format!("{domain:?} is not a valid domain name"));
    }
    let Some(ip) = req.ip else {
        return outcome(SpfResult::None, "no client IP address".into());
    };
    let params = verify::Params {
        ip: ip.to_canonical(),
        sender,
        domain: domain.trim_end_matches('.'),
        helo: req.helo.unwrap_or("unknown"),
        receiver: req.receiver,
        now: req.now,
        scope: verify::Scope::Spf1,
    };
    let ev = verify::check_host(env, &params);
    let mut out = outcome(ev.result, ev.reason);
    out.explanation = ev.explanation;
    out
}

/// SPF for the MAIL FROM identity, or `postmaster@HELO` for the null
/// reverse path (§2.4).
pub fn check_mail_from(env: &dyn Env, envelope: &Envelope, req: &Request<'_>) -> SpfOutcome {
    let mail_from = envelope
        .mail_from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (sender, domain) = if mail_from.is_empty() {
        match req.helo {
            Some(h) => (format!("postmaster@{h}"), h.to_string()),
            None => {
                return SpfOutcome {
                    result: SpfResult::None,
                    identity: SpfIdentity::MailFrom,
                    sender: String::new(),
                    domain: String::new(),
                    explanation: None,
                    reason: "null reverse path and no HELO name".into(),
                };
            }
        }
    } else {
        match sender_and_domain(mail_from) {
            Some(sd) => sd,
            None => {
                return SpfOutcome {
                    result: SpfResult::None,
                    identity: SpfIdentity::MailFrom,
                    sender: mail_from.to_string(),
                    domain: String::new(),
                    explanation: None,
                    reason: "MAIL FROM has no domain".into(),
                };
            }
        }
    };
    check_identity(env, req, SpfIdentity::MailFrom, &sender, &domain)
}

/// SPF for the HELO identity (§2.3), when there is a HELO name. When the
/// MAIL FROM check already evaluated the same `postmaster@HELO` identity
/// (null reverse path), its outcome is reused instead of asking again.
pub fn check_helo(
    env: &dyn Env,
    envelope: &Envelope,
    req: &Request<'_>,
    mail_from: &SpfOutcome,
) -> Option<SpfOutcome> {
    let helo = req.helo?;
    let sender = format!("postmaster@{helo}");
    if envelope.mail_from.trim().trim_matches(['<', '>']).is_empty() && mail_from.sender == sender {
        return Some(SpfOutcome {
            identity: SpfIdentity::Helo,
            ..mail_from.clone()
        });
    }
    Some(check_identity(env, req, SpfIdentity::Helo, &sender, helo))
}

/// Fires the symbol of `outcome`; a MAIL FROM `fail` also proposes the SMTP
/// reply of RFC 7208 §8.4 with the domain's explanation.
pub fn fire(cx: &Context<'_>, findings: &mut Findings, outcome: &SpfOutcome) {
    let name = symbol(outcome.identity, outcome.result);
    let mut options: Vec<String> = Vec::new();
    if !outcome.domain.is_empty() {
        options.push(outcome.domain.clone());
    }
    if !outcome.reason.is_empty() {
        options.push(outcome.reason.clone());
    }
    if let Some(e) = &outcome.explanation {
        options.push(format!("explanation: {e}"));
    }
    let refs: Vec<&str> = options.iter().map(String::as_str).collect();
    findings.fire(cx.pack, name, &refs);
    if outcome.identity == SpfIdentity::MailFrom && outcome.result == SpfResult::Fail {
        let text = match &outcome.explanation {
            Some(e) => e.clone(),
            None => format!(
                "SPF: {} is not allowed to send mail from {}",
                cx.envelope
                    .client_ip
                    .map(|i| i.to_canonical().to_string())
                    .unwrap_or_else(|| "this host".into()),
                outcome.domain
            ),
        };
        findings.reply = Some(SmtpReply {
            code: 550,
            enhanced: "5.7.23".into(),
            text: crate::checks::auth::reply_text(&text),
        });
    }
}
