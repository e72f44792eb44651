//! Orchestration: the protocol checks in dependency order for one message.
//!
//! SPF (MAIL FROM, HELO) → Sender ID → DMARC (reads SPF and the DKIM
//! outcomes) → composite verdict (reads everything, incl. ARC). A trusted
//! ARC sealer's override also lowers DMARC's applied policy to `none`
//! (RFC 7489 §6.7 local policy), so the DMARC symbol shows what was
//! actually applied.
//!
//! The first DNS round trip is one batch with every question known up
//! front: the TXT records of the MAIL FROM, HELO and PRA domains and the
//! DMARC policy records of the From domain and its organizational domain.
//! Asked first, the policy questions cannot be starved of the per-message
//! DNS budget by a hostile SPF record.

use super::{
    ArcOutcome, AuthResults, CompAuthOutcome, CompAuthReason, CompAuthResult, DkimOutcome, DmarcOutcome,
    DmarcPolicy, DmarcResult, SenderIdOutcome, SenderIdRecord, SpfIdentity, SpfOutcome, SpfResult,
};
use crate::checks::{Context, Findings, compauth, dmarc, senderid, spf};
use crate::dns::{Query, RecordType};
use crate::types::{Direction, Envelope};

/// Most From domains whose policies are prefetched.
const MAX_PREFETCH_FROM: usize = 4;

/// The results for mail that is not judged (outbound): nothing checked,
/// `compauth=none` (`not-applicable`). The DKIM and ARC outcomes are kept.
pub fn not_applicable(envelope: &Envelope, dkim: Vec<DkimOutcome>, arc: ArcOutcome) -> AuthResults {
    let why = "outbound: submitted by an authenticated user";
    AuthResults {
        spf_mailfrom: SpfOutcome {
            result: SpfResult::None,
            identity: SpfIdentity::MailFrom,
            sender: envelope.mail_from.clone(),
            domain: String::new(),
            explanation: None,
            reason: why.into(),
        },
        spf_helo: None,
        sender_id: SenderIdOutcome {
            result: SpfResult::None,
            pra: None,
            pra_field: None,
            record: SenderIdRecord::NoRecord,
            reason: why.into(),
        },
        dkim,
        arc,
        dmarc: DmarcOutcome {
            result: DmarcResult::None,
            from_domain: String::new(),
            org_domain: String::new(),
            published: None,
            applied: DmarcPolicy::None,
            spf_aligned: false,
            dkim_aligned: false,
            reason: why.into(),
        },
        compauth: CompAuthOutcome {
            result: CompAuthResult::None,
            reason: CompAuthReason::NotApplicable,
        },
    }
}

/// Asks, in one batch, the questions every inbound message needs.
fn prefetch(
    cx: &Context<'_>,
    req: &spf::Request<'_>,
    pra: &Result<senderid::pra::Pra, senderid::pra::NoPra>,
    from_domains: &Result<Vec<String>, &'static str>,
) {
    let mut names: Vec<String> = Vec::new();
    let mail_from = cx.envelope.mail_from.trim().trim_matches(['<', '>']);
    if let Some((_, d)) = spf::sender_and_domain(mail_from) {
        names.push(d);
    }
    if let Some(h) = req.helo {
        names.push(h.to_string());
    }
    if let Ok(p) = pra {
        names.push(p.domain.clone());
    }
    let mut queries: Vec<Query> = names
        .iter()
        .filter(|d| spf::valid_identity_domain(d))
        .map(|d| Query::new(d, RecordType::Txt))
        .collect();
    if let Ok(froms) = from_domains {
        for f in froms.iter().take(MAX_PREFETCH_FROM) {
            let org = dmarc::verify::org_domain(f);
            queries.push(Query::new(&format!("_dmarc.{f}"), RecordType::Txt));
            if org != *f {
                queries.push(Query::new(&format!("_dmarc.{org}"), RecordType::Txt));
            }
        }
    }
    queries.retain(|q| crate::dns::is_valid_query_name(&q.name));
    let mut unique: Vec<Query> = Vec::with_capacity(queries.len());
    for q in queries {
        if !unique
            .iter()
            .any(|u| u.name.eq_ignore_ascii_case(&q.name) && u.rtype == q.rtype)
        {
            unique.push(q);
        }
    }
    if !unique.is_empty() {
        let _ = cx.env.lookup_batch(&unique);
    }
}

/// Runs sender authentication for one message, fires the symbols of each
/// protocol, and returns the results for later checks and the
/// Authentication-Results header. `dkim` and `arc` are the outcomes of the
/// DKIM and ARC verifiers, which run before.
pub fn run(
    cx: &Context<'_>,
    findings: &mut Findings,
    dkim: Vec<DkimOutcome>,
    arc: ArcOutcome,
) -> AuthResults {
    if cx.envelope.effective_direction() == Direction::Outbound {
        return not_applicable(cx.envelope, dkim, arc);
    }
    let helo = cx
        .envelope
        .helo
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let req = spf::Request {
        ip: cx.envelope.client_ip,
        helo,
        receiver: spf::receiver_name(&cx.config.authserv_id),
        now: cx.env.now(),
    };
    // The header fields are parsed once, for the first batch and the checks.
    let pra = senderid::pra::find(cx.message);
    let from_domains = dmarc::from_domains(cx.message);
    prefetch(cx, &req, &pra, &from_domains);

    let spf_mailfrom = spf::check_mail_from(cx.env, cx.envelope, &req);
    let spf_helo = spf::check_helo(cx.env, cx.envelope, &req, &spf_mailfrom);
    let sender_id = senderid::check_pra(cx.env, pra, &req);
    let bucket = dmarc::sample_bucket(cx.message);
    let mut dmarc = dmarc::check_domains(cx.env, from_domains, bucket, &spf_mailfrom, &dkim);
    let (compauth, detail) = compauth::evaluate(&compauth::Inputs {
        inbound: true,
        spf: &spf_mailfrom,
        dkim: &dkim,
        arc: &arc,
        dmarc: &dmarc,
        config: cx.config,
    });
    if compauth.reason == CompAuthReason::Bypass && dmarc.result == DmarcResult::Fail {
        dmarc.applied = DmarcPolicy::None;
        dmarc.reason = format!("{}; local policy override: {detail}", dmarc.reason);
    }

    spf::fire(cx, findings, &spf_mailfrom);
    if let Some(h) = &spf_helo {
        spf::fire(cx, findings, h);
    }
    senderid::fire(cx, findings, &sender_id);
    dmarc::fire(cx, findings, &dmarc);
    compauth::fire(cx, findings, &compauth, &detail, &dmarc.from_domain);

    AuthResults {
        spf_mailfrom,
        spf_helo,
        sender_id,
        dkim,
        arc,
        dmarc,
        compauth,
    }
}
