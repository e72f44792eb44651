//! DMARC evaluation (RFC 7489 §3, §6.6): organizational domains,
//! identifier alignment, policy discovery, `pct` sampling.

use super::parse::{self, Alignment, DmarcRecord};
use crate::checks::auth::{
    DkimOutcome, DkimResult, DmarcOutcome, DmarcPolicy, DmarcResult, SpfOutcome, SpfResult,
};
use crate::dns::{Query, Record, RecordType};
use crate::env::Env;

/// The organizational domain of `domain` (§3.2): one label below its
/// public suffix, from the Public Suffix List compiled into the `psl`
/// crate (no list is parsed at run time). A name that is itself a public
/// suffix is its own organizational domain.
pub fn org_domain(domain: &str) -> String {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    match psl::domain_str(&d) {
        Some(o) => o.to_string(),
        None => d,
    }
}

/// True when `a` and `b` are aligned under `mode` (§3.1).
pub fn aligned(a: &str, b: &str, mode: Alignment) -> bool {
    let a = a.trim_end_matches('.');
    let b = b.trim_end_matches('.');
    if a.is_empty() || b.is_empty() {
        return false;
    }
    match mode {
        Alignment::Strict => a.eq_ignore_ascii_case(b),
        Alignment::Relaxed => a.eq_ignore_ascii_case(b) || org_domain(a) == org_domain(b),
    }
}

/// The domain SPF authenticated: the domain of `<sender>` (the MAIL FROM,
/// or `postmaster@HELO` for the null reverse path, RFC 7489 §4.1).
pub fn spf_domain(spf: &SpfOutcome) -> String {
    spf.sender
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(&spf.domain)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// True when `spf` is a pass aligned with `from` under `mode`.
pub fn spf_aligned(spf: &SpfOutcome, from: &str, mode: Alignment) -> bool {
    spf.result == SpfResult::Pass && aligned(&spf_domain(spf), from, mode)
}

/// True when a DKIM signature counts for DMARC: it passed and is not
/// weak (RFC 8301 §3: rsa-sha1 and short keys are not valid signatures).
pub fn dkim_counts(d: &DkimOutcome) -> bool {
    d.result == DkimResult::Pass && !d.weak
}

/// True when some signature in `dkim` is a pass aligned with `from`.
pub fn dkim_aligned(dkim: &[DkimOutcome], from: &str, mode: Alignment) -> bool {
    dkim.iter()
        .any(|d| dkim_counts(d) && aligned(&d.domain, from, mode))
}

/// What policy discovery found for one From domain (§6.6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// A usable record; `at_org` when it came from the organizational domain.
    Found {
        /// The record.
        record: DmarcRecord,
        /// True when found at the organizational domain (not the From domain).
        at_org: bool,
    },
    /// No record at either level.
    NotFound,
    /// The DNS could not answer.
    TempError(String),
    /// A record exists but cannot be used (several, or unusable `p=`).
    PermError(String),
}

enum Fetch {
    Record(DmarcRecord),
    None,
    Temp(String),
    Perm(String),
}

fn fetch(env: &dyn Env, domain: &str) -> Fetch {
    let name = format!("_dmarc.{domain}");
    if !crate::dns::is_valid_query_name(&name) {
        return Fetch::None;
    }
    let records = match env.lookup(&Query::new(&name, RecordType::Txt)) {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Fetch::None,
        Err(e) => return Fetch::Temp(format!("DNS {e} for TXT {name}")),
    };
    let dmarc: Vec<&[u8]> = records
        .iter()
        .filter_map(|r| match r {
            Record::Txt(t) if parse::is_dmarc(t) => Some(t.as_slice()),
            _ => None,
        })
        .collect();
    match dmarc.as_slice() {
        [] => Fetch::None,
        [one] => match parse::parse(one) {
            Ok(r) => Fetch::Record(r),
            Err(e) => Fetch::Perm(format!("{name}: {e}")),
        },
        many => Fetch::Perm(format!("{name}: {} DMARC records", many.len())),
    }
}

/// Policy discovery for `from` whose organizational domain is `org`.
pub fn discover(env: &dyn Env, from: &str, org: &str) -> Discovery {
    match fetch(env, from) {
        Fetch::Record(record) => {
            return Discovery::Found {
                record,
                at_org: false,
            };
        }
        Fetch::Temp(e) => return Discovery::TempError(e),
        Fetch::Perm(e) => return Discovery::PermError(e),
        Fetch::None => {}
    }
    if org == from {
        return Discovery::NotFound;
    }
    match fetch(env, org) {
        Fetch::Record(record) => Discovery::Found { record, at_org: true },
        Fetch::Temp(e) => Discovery::TempError(e),
        Fetch::Perm(e) => Discovery::PermError(e),
        Fetch::None => Discovery::NotFound,
    }
}

/// The policy one level milder (§6.6.4, for messages `pct=` leaves out).
fn milder(p: DmarcPolicy) -> DmarcPolicy {
    match p {
        DmarcPolicy::Reject => DmarcPolicy::Quarantine,
        DmarcPolicy::Quarantine | DmarcPolicy::None => DmarcPolicy::None,
    }
}

/// Evaluates DMARC for one From domain. `bucket` (0–99) is the message's
/// deterministic sampling value: the policy applies when `bucket < pct`.
pub fn evaluate_domain(
    env: &dyn Env,
    from: &str,
    spf: &SpfOutcome,
    dkim: &[DkimOutcome],
    bucket: u8,
) -> DmarcOutcome {
    let from = from.trim_end_matches('.').to_ascii_lowercase();
    let org = org_domain(&from);
    let discovery = discover(env, &from, &org);
    let (adkim, aspf) = match &discovery {
        Discovery::Found { record, .. } => (record.adkim, record.aspf),
        _ => (Alignment::Relaxed, Alignment::Relaxed),
    };
    let spf_ok = spf_aligned(spf, &from, aspf);
    let dkim_ok = dkim_aligned(dkim, &from, adkim);
    let mut out = DmarcOutcome {
        result: DmarcResult::None,
        from_domain: from.clone(),
        org_domain: org.clone(),
        published: None,
        applied: DmarcPolicy::None,
        spf_aligned: spf_ok,
        dkim_aligned: dkim_ok,
        reason: String::new(),
    };
    match discovery {
        Discovery::NotFound => {
            out.reason = format!("no DMARC record for {from}");
        }
        Discovery::TempError(e) => {
            out.result = DmarcResult::TempError;
            out.reason = e;
        }
        Discovery::PermError(e) => {
            out.result = DmarcResult::PermError;
            out.reason = e;
        }
        Discovery::Found { record, at_org } => {
            let published = if at_org && from != org {
                record.subdomain_policy.unwrap_or(record.policy)
            } else {
                record.policy
            };
            out.published = Some(published);
            if spf_ok || dkim_ok {
                out.result = DmarcResult::Pass;
                out.reason = format!(
                    "{}; p={}",
                    match (spf_ok, dkim_ok) {
                        (true, true) => "aligned SPF and DKIM pass",
                        (true, false) => "aligned SPF pass",
                        _ => "aligned DKIM pass",
                    },
                    published.as_str()
                );
            } else {
                out.result = DmarcResult::Fail;
                let sampled = bucket < record.pct;
                out.applied = if sampled { published } else { milder(published) };
                out.reason = format!(
                    "no aligned SPF or DKIM pass; p={}{}",
                    published.as_str(),
                    if sampled {
                        String::new()
                    } else {
                        format!(" (pct={} left this message out)", record.pct)
                    }
                );
            }
        }
    }
    out
}

/// How bad an outcome is, for choosing among several From domains.
fn severity(o: &DmarcOutcome) -> u8 {
    match o.result {
        DmarcResult::Fail => 10 + o.applied as u8,
        DmarcResult::TempError => 4,
        DmarcResult::PermError => 3,
        DmarcResult::None => 2,
        DmarcResult::Pass => 1,
    }
}

/// Most author domains evaluated for one message.
///
/// Each costs DNS lookups, and a From field can name thousands: before
/// this bound, a From with 20 000 addresses spent the message's whole DNS
/// budget and kept asking until the host stopped the pack for abusing
/// it, so the message got no verdict. Evaluating only some domains would
/// let a forged one hide behind them, so more than this is a permanent
/// error for the message (RFC 7489 §6.6.1 leaves such messages to the
/// receiver's policy).
pub const MAX_FROM_DOMAINS: usize = 8;

/// Evaluates every From domain and keeps the worst outcome (RFC 7489
/// §6.6.1: with several author domains, apply the strictest result).
pub fn evaluate(
    env: &dyn Env,
    from_domains: &[String],
    spf: &SpfOutcome,
    dkim: &[DkimOutcome],
    bucket: u8,
) -> Option<DmarcOutcome> {
    if from_domains.len() > MAX_FROM_DOMAINS {
        let from = from_domains[0].trim_end_matches('.').to_ascii_lowercase();
        return Some(DmarcOutcome {
            result: DmarcResult::PermError,
            org_domain: org_domain(&from),
            from_domain: from,
            published: None,
            applied: DmarcPolicy::None,
            spf_aligned: false,
            dkim_aligned: false,
            reason: format!("more than {MAX_FROM_DOMAINS} author domains in From"),
        });
    }
    from_domains
        .iter()
        .map(|d| evaluate_domain(env, d, spf, dkim, bucket))
        .reduce(|a, b| if severity(&b) > severity(&a) { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains() {
        assert_eq!(org_domain("mail.Example.COM."), "example.com");
        assert_eq!(org_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(org_domain("example.com"), "example.com");
        assert_eq!(org_domain("co.uk"), "co.uk");
        assert_eq!(org_domain("foo.something.com"), "something.com");
        assert!(aligned("mail.example.com", "example.com", Alignment::Relaxed));
        assert!(!aligned("mail.example.com", "example.com", Alignment::Strict));
        assert!(!aligned("example.co.uk", "other.co.uk", Alignment::Relaxed));
        assert!(!aligned("", "", Alignment::Relaxed));
    }
}
