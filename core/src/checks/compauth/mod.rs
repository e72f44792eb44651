//! Composite authentication: one verdict over SPF, DKIM, DMARC and ARC for
//! the header From domain, after Microsoft's `compauth`.
//!
//! In order, for inbound mail with a From domain:
//!
//! 1. an aligned SPF or DKIM pass (what DMARC would accept, with the
//!    domain's alignment modes or relaxed ones when it publishes no
//!    record) → `pass` (`aligned`);
//! 2. otherwise, a trusted ARC sealer ([`Config::trusted_arc_sealers`])
//!    whose seal validated (`cv=pass` for the whole chain) recorded an
//!    SPF, DKIM or DMARC pass for this From domain in its
//!    ARC-Authentication-Results → `pass` (`bypass`): the failure is the
//!    forwarding's doing;
//! 3. a transient failure (the DMARC policy lookup, or an aligned SPF or
//!    DKIM check, ended in `temperror`) → `none` (`temperror`): nothing is
//!    held against the message for a DNS hiccup;
//! 4. the From domain is one of ours ([`Config::is_protected`]) but the
//!    message arrives from outside unauthenticated → `fail`
//!    (`intra-org-spoof`): the seed's attack, whatever the domain's DMARC
//!    record says;
//! 5. DMARC fails and the domain publishes `quarantine` or `reject` →
//!    `fail` (`explicit-fail`);
//! 6. an unaligned pass (SPF for the MAIL FROM domain, or a valid DKIM
//!    signature of another domain) and nothing explicit against it →
//!    `softpass` (`unaligned`);
//! 7. otherwise (no or weak records, nothing passes) → `fail`
//!    (`implicit-fail`).
//!
//! Outbound mail and mail without a From domain get `none`
//! (`not-applicable`).

use super::auth::ar;
use super::auth::{
    ArcChain, ArcOutcome, CompAuthOutcome, CompAuthReason, CompAuthResult, DkimOutcome, DkimResult,
    DmarcOutcome, DmarcPolicy, DmarcResult, SpfOutcome, SpfResult,
};
use super::dmarc::parse::Alignment;
use super::dmarc::verify::{aligned, dkim_counts, spf_domain};
use super::{Context, Findings};
use crate::config::Config;
use crate::message::domain_of;
use crate::types::SmtpReply;

/// Symbols this check emits (at most one per message).
pub const SYMBOLS: &[&str] = &[
    "COMPAUTH_PASS",
    "COMPAUTH_SOFTPASS",
    "COMPAUTH_FAIL",
    "COMPAUTH_FAIL_IMPLICIT",
    "COMPAUTH_INTRA_ORG_SPOOF",
    "COMPAUTH_BYPASS_ARC",
    "COMPAUTH_TEMPERROR",
];

/// The symbol for an outcome, if it has one.
pub fn symbol(o: &CompAuthOutcome) -> Option<&'static str> {
    Some(match (o.result, o.reason) {
        (CompAuthResult::Pass, CompAuthReason::Bypass) => "COMPAUTH_BYPASS_ARC",
        (CompAuthResult::Pass, _) => "COMPAUTH_PASS",
        (CompAuthResult::SoftPass, _) => "COMPAUTH_SOFTPASS",
        (CompAuthResult::Fail, CompAuthReason::IntraOrgSpoof) => "COMPAUTH_INTRA_ORG_SPOOF",
        (CompAuthResult::Fail, CompAuthReason::ExplicitFail) => "COMPAUTH_FAIL",
        (CompAuthResult::Fail, _) => "COMPAUTH_FAIL_IMPLICIT",
        (CompAuthResult::None, CompAuthReason::TempError) => "COMPAUTH_TEMPERROR",
        (CompAuthResult::None, _) => return None,
    })
}

/// Everything the composite verdict looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The message arrives from outside (not submitted by a local user).
    pub inbound: bool,
    /// SPF for MAIL FROM.
    pub spf: &'a SpfOutcome,
    /// DKIM signatures.
    pub dkim: &'a [DkimOutcome],
    /// ARC.
    pub arc: &'a ArcOutcome,
    /// DMARC (its `from_domain` is the domain judged).
    pub dmarc: &'a DmarcOutcome,
    /// Deployment settings (protected domains, trusted sealers).
    pub config: &'a Config,
}

/// Does an ARC-Authentication-Results payload record a pass for `from`?
/// Returns what passed.
pub fn aar_vouches(results: &str, from: &str) -> Option<String> {
    let read = ar::read(results)?;
    read.results.iter().find_map(|r| {
        if r.result != "pass" {
            return None;
        }
        let hit = match r.method.as_str() {
            "dmarc" => r
                .prop("header.from")
                .is_some_and(|d| d.eq_ignore_ascii_case(from)),
            "spf" => r
                .prop("smtp.mailfrom")
                .map(|v| domain_of(v).unwrap_or_else(|| v.to_ascii_lowercase()))
                .is_some_and(|d| aligned(&d, from, Alignment::Relaxed)),
            "dkim" => r
                .prop("header.d")
                .map(str::to_string)
                .or_else(|| r.prop("header.i").and_then(domain_of))
                .is_some_and(|d| aligned(&d, from, Alignment::Relaxed)),
            _ => false,
        };
        hit.then(|| format!("{}=pass", r.method))
    })
}

/// The trusted sealer that vouches for `from`, and what it saw pass.
pub fn arc_bypass(config: &Config, arc: &ArcOutcome, from: &str) -> Option<(String, String)> {
    if arc.chain != ArcChain::Pass {
        return None;
    }
    arc.hops.iter().rev().find_map(|hop| {
        let trusted = config
            .trusted_arc_sealers
            .iter()
            .any(|s| s.eq_ignore_ascii_case(hop.sealer.trim_end_matches('.')));
        if !trusted {
            return None;
        }
        aar_vouches(&hop.results, from).map(|what| (hop.sealer.clone(), what))
    })
}

/// The composite verdict, with a short detail for the symbol's options.
pub fn evaluate(i: &Inputs<'_>) -> (CompAuthOutcome, String) {
    let verdict = |result, reason| CompAuthOutcome { result, reason };
    let from = i.dmarc.from_domain.as_str();
    if !i.inbound {
        return (
            verdict(CompAuthResult::None, CompAuthReason::NotApplicable),
            "outbound".into(),
        );
    }
    if from.is_empty() {
        return (
            verdict(CompAuthResult::None, CompAuthReason::NotApplicable),
            i.dmarc.reason.clone(),
        );
    }
    if i.dmarc.spf_aligned || i.dmarc.dkim_aligned || i.dmarc.result == DmarcResult::Pass {
        return (
            verdict(CompAuthResult::Pass, CompAuthReason::Aligned),
            from.to_string(),
        );
    }
    if let Some((sealer, what)) = arc_bypass(i.config, i.arc, from) {
        return (
            verdict(CompAuthResult::Pass, CompAuthReason::Bypass),
            format!("trusted ARC sealer {sealer} saw {what} for {from}"),
        );
    }
    let spf_transient =
        i.spf.result == SpfResult::TempError && aligned(&spf_domain(i.spf), from, Alignment::Relaxed);
    let dkim_transient = i
        .dkim
        .iter()
        .any(|d| d.result == DkimResult::TempError && aligned(&d.domain, from, Alignment::Relaxed));
    if i.dmarc.result == DmarcResult::TempError || spf_transient || dkim_transient {
        return (
            verdict(CompAuthResult::None, CompAuthReason::TempError),
            format!("{from}: a DNS lookup failed temporarily"),
        );
    }
    if i.config.is_protected(from) {
        return (
            verdict(CompAuthResult::Fail, CompAuthReason::IntraOrgSpoof),
            format!("{from} is a protected domain; the message comes from outside unauthenticated"),
        );
    }
    if i.dmarc.result == DmarcResult::Fail
        && matches!(
            i.dmarc.published,
            Some(DmarcPolicy::Quarantine | DmarcPolicy::Reject)
        )
    {
        return (
            verdict(CompAuthResult::Fail, CompAuthReason::ExplicitFail),
            format!("{from}: DMARC fail"),
        );
    }
    if i.spf.result == SpfResult::Pass || i.dkim.iter().any(dkim_counts) {
        return (
            verdict(CompAuthResult::SoftPass, CompAuthReason::Unaligned),
            format!("{from}: only unaligned authentication passed"),
        );
    }
    (
        verdict(CompAuthResult::Fail, CompAuthReason::ImplicitFail),
        format!("{from}: nothing authenticates the message"),
    )
}

/// Fires the symbol of `outcome`; a `fail` that is a spoof of a protected
/// domain or an explicit DMARC failure also proposes the SMTP reply.
pub fn fire(cx: &Context<'_>, findings: &mut Findings, outcome: &CompAuthOutcome, detail: &str, from: &str) {
    let Some(name) = symbol(outcome) else {
        return;
    };
    findings.fire(cx.pack, name, &[detail]);
    let text = match outcome.reason {
        CompAuthReason::IntraOrgSpoof => {
            format!(
                "Message claims to be from {from} but failed authentication (compauth=fail reason=intra-org-spoof)"
            )
        }
        CompAuthReason::ExplicitFail => format!("Email rejected per DMARC policy for {from}"),
        _ => return,
    };
    findings.reply = Some(SmtpReply {
        code: 550,
        enhanced: "5.7.1".into(),
        text: super::auth::reply_text(&text),
    });
}
