//! Sender ID (RFC 4406, RFC 4407): SPF-style authorisation of the header
//! address that the reader sees as responsible for the message.
//!
//! * [`pra`]: the Purported Responsible Address algorithm over
//!   `Resent-Sender` / `Resent-From` / `Sender` / `From`.
//! * Record selection (RFC 4406 §3.4): `spf2.0/…` records whose scope list
//!   names `pra`; when the domain publishes no `spf2.0` record at all, its
//!   `v=spf1` record is used as if it were `spf2.0/mfrom,pra`. More than
//!   one candidate is a `permerror`.
//! * Evaluation is the SPF engine's `check_host()` with `<sender>` set to
//!   the PRA ([`super::spf::verify`] with [`Scope::Pra`], which applies the
//!   same selection to `include` and `redirect` targets).
//!
//! Deviations from plain SPF, per RFC 4406: a message without a PRA is
//! ill-formed (§4, RFC 4407 step 6) and gets `permerror`; a PRA domain that
//! does not exist gets `fail` (§4: it cannot be a legitimate sender).

pub mod pra;

use super::auth::{SenderIdOutcome, SenderIdRecord, SpfResult};
use super::spf::{self, verify};
use super::{Context, Findings};
use crate::dns::{DnsError, Query, RecordType};
use crate::env::Env;
use crate::message::Message;
use verify::Scope;

/// Symbols this check emits (one per message).
pub const SYMBOLS: &[&str] = &[
    "SENDERID_PASS",
    "SENDERID_FAIL",
    "SENDERID_SOFTFAIL",
    "SENDERID_NEUTRAL",
    "SENDERID_NONE",
    "SENDERID_TEMPERROR",
    "SENDERID_PERMERROR",
];

/// The symbol for a result.
pub fn symbol(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "SENDERID_PASS",
        SpfResult::Fail => "SENDERID_FAIL",
        SpfResult::SoftFail => "SENDERID_SOFTFAIL",
        SpfResult::Neutral => "SENDERID_NEUTRAL",
        SpfResult::None => "SENDERID_NONE",
        SpfResult::TempError => "SENDERID_TEMPERROR",
        SpfResult::PermError => "SENDERID_PERMERROR",
    }
}

/// Runs the Sender ID check on `message`.
pub fn check(env: &dyn Env, message: &Message<'_>, req: &spf::Request<'_>) -> SenderIdOutcome {
    check_pra(env, pra::find(message), req)
}

/// Runs the Sender ID check for the outcome of the PRA algorithm.
pub fn check_pra(
    env: &dyn Env,
    pra: Result<pra::Pra, pra::NoPra>,
    req: &spf::Request<'_>,
) -> SenderIdOutcome {
    let found = match pra {
        Ok(p) => p,
        Err(e) => {
            return SenderIdOutcome {
                result: SpfResult::PermError,
                pra: None,
                pra_field: None,
                record: SenderIdRecord::NoRecord,
                reason: format!("no purported responsible address: {e}"),
            };
        }
    };
    let outcome = |result, record, reason: String| SenderIdOutcome {
        result,
        pra: Some(found.address.clone()),
        pra_field: Some(found.field.to_string()),
        record,
        reason,
    };
    let Some((sender, domain)) = spf::sender_and_domain(&found.address) else {
        return outcome(
            SpfResult::PermError,
            SenderIdRecord::NoRecord,
            "PRA without a domain".into(),
        );
    };
    if !spf::valid_identity_domain(&domain) {
        return outcome(
            SpfResult::None,
            SenderIdRecord::NoRecord,
            format!("{domain:?} is not a valid domain name"),
        );
    }
    let Some(ip) = req.ip else {
        return outcome(
            SpfResult::None,
            SenderIdRecord::NoRecord,
            "no client IP address".into(),
        );
    };
    let params = verify::Params {
        ip: ip.to_canonical(),
        sender: &sender,
        domain: domain.trim_end_matches('.'),
        helo: req.helo.unwrap_or("unknown"),
        receiver: req.receiver,
        now: req.now,
        scope: Scope::Pra,
    };
    let ev = verify::check_host(env, &params);
    let record = match ev.selected {
        Some(verify::Selected::Spf2) => SenderIdRecord::Spf2Pra,
        Some(verify::Selected::Spf1) => SenderIdRecord::Spf1Fallback,
        None => SenderIdRecord::NoRecord,
    };
    if ev.result == SpfResult::None && ev.selected.is_none() {
        // Does the PRA domain exist at all? The TXT answer is in the
        // per-message cache; an NXDOMAIN there means a made-up domain.
        let txt = env.lookup(&Query::new(params.domain, RecordType::Txt));
        if txt == Err(DnsError::NxDomain) {
            return outcome(
                SpfResult::Fail,
                record,
                format!("the PRA domain {} does not exist", params.domain),
            );
        }
    }
    outcome(ev.result, record, ev.reason)
}

/// Fires the symbol of `outcome`.
pub fn fire(cx: &Context<'_>, findings: &mut Findings, outcome: &SenderIdOutcome) {
    let mut options: Vec<String> = Vec::new();
    if let (Some(pra), Some(field)) = (&outcome.pra, &outcome.pra_field) {
        options.push(format!("{field}: {pra}"));
    }
    options.push(outcome.reason.clone());
    let refs: Vec<&str> = options.iter().map(String::as_str).collect();
    findings.fire(cx.pack, symbol(outcome.result), &refs);
}
