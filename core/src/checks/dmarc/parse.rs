//! DMARC policy records (RFC 7489 §6.3, §6.6.3).
//!
//! `v=DMARC1` must be the first tag and match exactly; unknown tags are
//! ignored; invalid values of optional tags fall back to their defaults.
//! A record whose `p=` is missing or invalid is used as `p=none` when it
//! has a syntactically valid `rua=` (§6.6.3 step 6), and is unusable
//! otherwise.

use crate::checks::auth::DmarcPolicy;

/// Identifier alignment mode (`adkim=` / `aspf=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// Organizational domains must match (`r`, the default).
    Relaxed,
    /// The domains must be identical (`s`).
    Strict,
}

/// A usable DMARC record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    /// `p=`.
    pub policy: DmarcPolicy,
    /// `sp=`, when valid.
    pub subdomain_policy: Option<DmarcPolicy>,
    /// `adkim=`.
    pub adkim: Alignment,
    /// `aspf=`.
    pub aspf: Alignment,
    /// `pct=` (0–100).
    pub pct: u8,
}

/// True when a TXT record starts with the `v=DMARC1` tag (§6.6.3 step 2).
pub fn is_dmarc(txt: &[u8]) -> bool {
    let text = String::from_utf8_lossy(txt);
    let first = text.split(';').next().unwrap_or("");
    match first.split_once('=') {
        Some((k, v)) => k.trim() == "v" && v.trim() == "DMARC1",
        None => false,
    }
}

fn policy(v: &str) -> Option<DmarcPolicy> {
    match v.to_ascii_lowercase().as_str() {
        "none" => Some(DmarcPolicy::None),
        "quarantine" => Some(DmarcPolicy::Quarantine),
        "reject" => Some(DmarcPolicy::Reject),
        _ => None,
    }
}

fn alignment(v: &str) -> Option<Alignment> {
    match v {
        "r" | "R" => Some(Alignment::Relaxed),
        "s" | "S" => Some(Alignment::Strict),
        _ => None,
    }
}

/// A `rua=` value with at least one `mailto:` / `https:` URI (§6.2).
fn valid_rua(v: &str) -> bool {
    v.split(',').any(|u| {
        let u = u.trim();
        let lower = u.to_ascii_lowercase();
        (lower.starts_with("mailto:") && u.len() > 7 && u.contains('@'))
            || (lower.starts_with("https://") && u.len() > 8)
            || (lower.starts_with("http://") && u.len() > 7)
    })
}

/// Parses a record that [`is_dmarc`] accepted.
pub fn parse(txt: &[u8]) -> Result<DmarcRecord, String> {
    let text = String::from_utf8_lossy(txt);
    let mut tags = text.split(';').map(str::trim).filter(|t| !t.is_empty());
    match tags.next().and_then(|t| t.split_once('=')) {
        Some((k, v)) if k.trim() == "v" && v.trim() == "DMARC1" => {}
        _ => return Err("the first tag is not v=DMARC1".into()),
    }
    let mut p: Option<DmarcPolicy> = None;
    let mut p_seen = false;
    let mut sp = None;
    let mut adkim = Alignment::Relaxed;
    let mut aspf = Alignment::Relaxed;
    let mut pct = 100u8;
    let mut rua = false;
    for tag in tags {
        let Some((k, v)) = tag.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "p" => {
                p_seen = true;
                p = policy(v);
            }
            "sp" => sp = policy(v),
            "adkim" => adkim = alignment(v).unwrap_or(Alignment::Relaxed),
            "aspf" => aspf = alignment(v).unwrap_or(Alignment::Relaxed),
            "pct" => {
                pct = v
                    .parse::<u16>()
                    .ok()
                    .filter(|n| *n <= 100)
                    .and_then(|n| u8::try_from(n).ok())
                    .unwrap_or(100);
            }
            "rua" => rua = valid_rua(v),
            _ => {}
        }
    }
    let policy = match p {
        Some(p) => p,
        None if rua => DmarcPolicy::None,
        None if p_seen => return Err("invalid p= and no valid rua=".into()),
        None => return Err("no p= tag and no valid rua=".into()),
    };
    Ok(DmarcRecord {
        policy,
        subdomain_policy: sp,
        adkim,
        aspf,
        pct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let r = parse(b"v=DMARC1; p=reject; sp=quarantine; adkim=s; pct=20; rua=mailto:a@b.example").unwrap();
        assert_eq!(r.policy, DmarcPolicy::Reject);
        assert_eq!(r.subdomain_policy, Some(DmarcPolicy::Quarantine));
        assert_eq!(r.adkim, Alignment::Strict);
        assert_eq!(r.aspf, Alignment::Relaxed);
        assert_eq!(r.pct, 20);
        let r = parse(b"v=DMARC1 ; p = Quarantine ; pct=500; aspf=x; foo=bar").unwrap();
        assert_eq!(
            (r.policy, r.pct, r.aspf),
            (DmarcPolicy::Quarantine, 100, Alignment::Relaxed)
        );
        assert_eq!(
            parse(b"v=DMARC1; p=bogus; rua=mailto:x@y.example")
                .unwrap()
                .policy,
            DmarcPolicy::None
        );
        assert!(parse(b"v=DMARC1; p=bogus").is_err());
        assert!(parse(b"v=DMARC1; rua=nonsense").is_err());
        assert!(is_dmarc(b"v=DMARC1; p=none"));
        assert!(!is_dmarc(b"v=dmarc1; p=none"));
        assert!(!is_dmarc(b"p=none; v=DMARC1"));
        assert!(!is_dmarc(b"v=spf1 -all"));
    }
}
