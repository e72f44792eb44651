//! DMARC (RFC 7489): does the header From domain's owner vouch for this
//! message through an aligned SPF or DKIM pass, and what does it ask a
//! receiver to do when not?
//!
//! * [`parse`]: policy records.
//! * [`verify`]: organizational domains (Public Suffix List), alignment,
//!   policy discovery at `_dmarc.<From>` then `_dmarc.<organizational
//!   domain>`, `p` / `sp` / `pct`.
//!
//! From-domain extraction (§6.6.1): every mailbox of every From field
//! counts; with several distinct domains each is evaluated and the worst
//! outcome is reported. A message without a From domain gets `none`.
//! `pct` sampling is deterministic: a hash of the Message-ID (or of the
//! header section when there is none) picks the message's bucket, so the
//! same message always gets the same verdict (no randomness in the guest).
//!
//! DMARC takes the SPF outcome and the DKIM outcomes as inputs; it asks
//! the DNS only for policy records.

pub mod parse;
pub mod verify;

use super::auth::{DkimOutcome, DmarcOutcome, DmarcPolicy, DmarcResult, SpfOutcome};
use super::{Context, Findings};
use crate::env::Env;
use crate::message::{Message, domain_of, parse_mailboxes};

/// Symbols this check emits (one per message).
pub const SYMBOLS: &[&str] = &[
    "DMARC_PASS",
    "DMARC_FAIL_REJECT",
    "DMARC_FAIL_QUARANTINE",
    "DMARC_FAIL_NONE",
    "DMARC_NONE",
    "DMARC_TEMPERROR",
    "DMARC_PERMERROR",
];

/// The symbol for an outcome (a failure is named after the policy applied).
pub fn symbol(o: &DmarcOutcome) -> &'static str {
    match o.result {
        DmarcResult::Pass => "DMARC_PASS",
        DmarcResult::Fail => match o.applied {
            DmarcPolicy::Reject => "DMARC_FAIL_REJECT",
            DmarcPolicy::Quarantine => "DMARC_FAIL_QUARANTINE",
            DmarcPolicy::None => "DMARC_FAIL_NONE",
        },
        DmarcResult::None => "DMARC_NONE",
        DmarcResult::TempError => "DMARC_TEMPERROR",
        DmarcResult::PermError => "DMARC_PERMERROR",
    }
}

/// The distinct domains of all From mailboxes, lower-cased, in order (at
/// most one more than [`verify::MAX_FROM_DOMAINS`]); or why there are none.
pub fn from_domains(message: &Message<'_>) -> Result<Vec<String>, &'static str> {
    let mut fields = message.headers_named("From").peekable();
    if fields.peek().is_none() {
        return Err("no From field");
    }
    let mut out: Vec<String> = Vec::new();
    'fields: for h in fields {
        for mb in parse_mailboxes(h.value) {
            if let Some(d) = domain_of(&mb.address)
                && !out.contains(&d)
            {
                out.push(d);
                // One more than DMARC evaluates says there are too many;
                // the rest are not needed (nor compared, which with
                // thousands of addresses took most of a second).
                if out.len() > verify::MAX_FROM_DOMAINS {
                    break 'fields;
                }
            }
        }
    }
    if out.is_empty() {
        Err("no domain in the From field")
    } else {
        Ok(out)
    }
}

/// The message's `pct` sampling bucket (0–99): FNV-1a of the Message-ID,
/// or of the whole header section when there is none.
pub fn sample_bucket(message: &Message<'_>) -> u8 {
    let raw = message.raw();
    let header = &raw[..raw.len() - message.raw_body().len()];
    let id = message.header_text("Message-ID");
    let bytes = id.as_deref().map(str::as_bytes).unwrap_or(header);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % 100) as u8
}

/// Evaluates DMARC for `message`.
pub fn check(env: &dyn Env, message: &Message<'_>, spf: &SpfOutcome, dkim: &[DkimOutcome]) -> DmarcOutcome {
    check_domains(env, from_domains(message), sample_bucket(message), spf, dkim)
}

/// Evaluates DMARC for the From domains [`from_domains`] found, with the
/// message's [`sample_bucket`].
pub fn check_domains(
    env: &dyn Env,
    domains: Result<Vec<String>, &'static str>,
    bucket: u8,
    spf: &SpfOutcome,
    dkim: &[DkimOutcome],
) -> DmarcOutcome {
    let none = |why: &str| DmarcOutcome {
        result: DmarcResult::None,
        from_domain: String::new(),
        org_domain: String::new(),
        published: None,
        applied: DmarcPolicy::None,
        spf_aligned: false,
        dkim_aligned: false,
        reason: why.to_string(),
    };
    match domains {
        Ok(domains) => verify::evaluate(env, &domains, spf, dkim, bucket)
            .unwrap_or_else(|| none("no domain in the From field")),
        Err(why) => none(why),
    }
}

/// Fires the symbol of `outcome`.
pub fn fire(cx: &Context<'_>, findings: &mut Findings, outcome: &DmarcOutcome) {
    let mut options: Vec<String> = Vec::new();
    if !outcome.from_domain.is_empty() {
        options.push(outcome.from_domain.clone());
    }
    options.push(outcome.reason.clone());
    let refs: Vec<&str> = options.iter().map(String::as_str).collect();
    findings.fire(cx.pack, symbol(outcome), &refs);
}
