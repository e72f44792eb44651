//! Lookalike domains of the deployment's protected domains: homoglyphs
//! (IDN/Punycode, Cyrillic and Greek letters, `rn` for `m`, `0` for `o`),
//! typosquats (one letter inserted, left out, swapped, replaced — which
//! covers bit flips, doubled letters and vowel swaps), added words and
//! hyphens, TLD swaps, and subdomain tricks (`something.com.evil.example`,
//! `some.thing.com`).
//!
//! What to compare against is computed once per configuration
//! ([`Lookalikes::new`], called from `configure`); a message only compares
//! its few domains with that table.
//!
//! The check looks at the header From, Reply-To and Sender domains, the
//! envelope MAIL FROM domain, and every link host.

pub mod confusables;

use super::{Context, Findings};
use crate::domain;
use crate::message::domain_of;
use confusables::skeleton;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "LOOKALIKE_FROM_DOMAIN",
    "LOOKALIKE_REPLYTO_DOMAIN",
    "LOOKALIKE_ENVFROM_DOMAIN",
    "LOOKALIKE_URL_DOMAIN",
    "LOOKALIKE_IDN",
];

/// Shortest protected label compared by edit distance or containment;
/// shorter ones (`ibm`, `hp`) would match too many real domains.
const MIN_FUZZY_LABEL: usize = 4;
/// Shortest protected label an added word may surround.
const MIN_COMBO_LABEL: usize = 5;

/// How a domain imitates a protected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Technique {
    /// Characters that look the same (`pаypal` with a Cyrillic а, `rn` for `m`).
    Homoglyph,
    /// One letter inserted, omitted, swapped or replaced.
    Typo,
    /// Hyphens added (`pay-pal`).
    Hyphenation,
    /// Words added (`paypal-secure`, `mypaypal`).
    AddedWord,
    /// Same name under another public suffix (`paypal.net`).
    TldSwap,
    /// The protected name spread over labels (`paypal.com.evil.example`,
    /// `pay.pal.com`, `paypalcom.example`).
    Subdomain,
}

impl Technique {
    /// Short name, used in symbol options.
    pub fn as_str(self) -> &'static str {
        match self {
            Technique::Homoglyph => "homoglyph",
            Technique::Typo => "typo",
            Technique::Hyphenation => "hyphenation",
            Technique::AddedWord => "added-word",
            Technique::TldSwap => "tld-swap",
            Technique::Subdomain => "subdomain",
        }
    }
}

/// A lookalike found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The protected domain imitated.
    pub protected: String,
    /// How.
    pub technique: Technique,
    /// True when the domain uses IDN labels or non-ASCII characters.
    pub idn: bool,
}

/// One protected domain, prepared.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    /// The protected domain as configured.
    domain: String,
    /// Its registrable domain's first label (`something`).
    label: String,
    /// Its public suffix (`com`).
    suffix: String,
    /// The label's skeleton.
    skel: String,
    /// The label with the suffix glued on, dots removed (`somethingcom`).
    glued: String,
}

/// Protected domains prepared for comparison (built once per
/// configuration).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lookalikes {
    targets: Vec<Target>,
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent
/// transpositions), stopping early above `limit`.
pub fn edit_distance(a: &[char], b: &[char], limit: usize) -> usize {
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

impl Lookalikes {
    /// Prepares `protected` (lower-case domains).
    pub fn new(protected: &[String]) -> Self {
        let mut targets: Vec<Target> = Vec::new();
        for p in protected {
            let reg = domain::registrable(p).to_string();
            let (label, suffix) = match reg.split_once('.') {
                Some((l, s)) => (l.to_string(), s.to_string()),
                None => (reg.clone(), String::new()),
            };
            if label.is_empty() || targets.iter().any(|t| t.label == label && t.suffix == suffix) {
                continue;
            }
            targets.push(Target {
                domain: reg.clone(),
                skel: skeleton(&label),
                glued: format!("{label}{}", suffix.replace('.', "")),
                label,
                suffix,
            });
        }
        Lookalikes { targets }
    }

    /// True when no domain is protected.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The protected registrable domains and their labels, for the checks
    /// that look for brand names.
    pub fn brands(&self) -> impl Iterator<Item = (&str, &str)> {
        self.targets.iter().map(|t| (t.domain.as_str(), t.label.as_str()))
    }

    /// Whether `host` imitates a protected domain. A protected domain and
    /// its subdomains are never lookalikes.
    pub fn check(&self, host: &str) -> Option<Finding> {
        if self.targets.is_empty() || host.is_empty() || domain::is_ip_literal(host) {
            return None;
        }
        let idn = domain::is_idn(host);
        let host = domain::to_unicode(&domain::normalise(host));
        let reg = domain::registrable(&host);
        if self.targets.iter().any(|t| reg == t.domain) {
            return None;
        }
        let (label, suffix) = reg.split_once('.').unwrap_or((reg, ""));
        // Everything left of the public suffix, dots removed
        // (`login.pay.pal` → `loginpaypal`), and the labels themselves.
        let before_suffix = host
            .strip_suffix(suffix)
            .map_or(host.as_str(), |h| h.trim_end_matches('.'));
        let labels: Vec<&str> = before_suffix.split('.').filter(|l| !l.is_empty()).collect();
        let skel = skeleton(label);
        let chars: Vec<char> = label.chars().collect();
        let skel_chars: Vec<char> = skel.chars().collect();
        for t in &self.targets {
            let found = |technique| {
                Some(Finding {
                    protected: t.domain.clone(),
                    technique,
                    idn,
                })
            };
            let t_chars: Vec<char> = t.label.chars().collect();
            if label == t.label {
                // Same name under another suffix.
                return found(Technique::TldSwap);
            }
            if skel == t.skel {
                return found(Technique::Homoglyph);
            }
            if label.contains('-') && label.replace('-', "") == t.label {
                return found(Technique::Hyphenation);
            }
            let fuzzy = t_chars.len() >= MIN_FUZZY_LABEL;
            if fuzzy && edit_distance(&chars, &t_chars, 1) <= 1 {
                return found(Technique::Typo);
            }
            if fuzzy && edit_distance(&skel_chars, &t.skel.chars().collect::<Vec<_>>(), 1) <= 1 {
                return found(if idn {
                    Technique::Homoglyph
                } else {
                    Technique::Typo
                });
            }
            // The protected domain spelled out in the labels in front of
            // another domain, or glued into one label.
            let glued_all: String = labels.concat().replace('-', "");
            if labels.len() > 1 && glued_all == t.label {
                return found(Technique::Subdomain);
            }
            if labels.iter().any(|l| l.replace('-', "") == t.glued)
                || glued_all == t.glued
                || host.starts_with(&format!("{}.", t.domain))
                || host.contains(&format!(".{}.", t.domain))
            {
                return found(Technique::Subdomain);
            }
            if labels.len() > 1
                && labels[..labels.len() - 1]
                    .iter()
                    .any(|l| *l == t.label || skeleton(l) == t.skel)
            {
                return found(Technique::Subdomain);
            }
            if t_chars.len() >= MIN_COMBO_LABEL && chars.len() > t_chars.len() {
                let plain = label.replace('-', "");
                if plain.contains(&t.label) || skeleton(&plain).contains(&t.skel) {
                    return found(Technique::AddedWord);
                }
            }
        }
        None
    }
}

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let table = &cx.config.lookalikes;
    if table.is_empty() {
        return;
    }
    let msg = cx.message;
    let mut idn = false;
    let mut report = |symbol: &str, host: &str, findings: &mut Findings| {
        if let Some(f) = table.check(host) {
            let option = format!("{host} ~ {} ({})", f.protected, f.technique.as_str());
            findings.fire(cx.pack, symbol, &[&option]);
            if f.idn && !idn {
                idn = true;
                findings.fire(cx.pack, "LOOKALIKE_IDN", &[&option]);
            }
        }
    };
    if let Some(d) = msg.from().and_then(|m| m.domain()) {
        report("LOOKALIKE_FROM_DOMAIN", &d, findings);
    }
    for name in ["Reply-To", "Sender"] {
        for m in msg.mailboxes(name) {
            if let Some(d) = m.domain() {
                report("LOOKALIKE_REPLYTO_DOMAIN", &d, findings);
            }
        }
    }
    if let Some(d) = domain_of(&cx.envelope.mail_from) {
        report("LOOKALIKE_ENVFROM_DOMAIN", &d, findings);
    }
    let mut seen: Vec<&str> = Vec::new();
    for pl in super::urls::bounded(cx.links) {
        let url = &pl.url;
        // 64 hosts of the text at most; those of forms and attached pages
        // are bounded already.
        if seen.contains(&url.host.as_str()) || (pl.place.is_none() && seen.len() >= 64) {
            continue;
        }
        seen.push(&url.host);
        report("LOOKALIKE_URL_DOMAIN", &url.host, findings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Lookalikes {
        Lookalikes::new(&[
            "something.com".into(),
            "paypal.com".into(),
            "bank.co.uk".into(),
            "ibm.com".into(),
        ])
    }

    fn technique(host: &str) -> Option<&'static str> {
        table().check(host).map(|f| f.technique.as_str())
    }

    #[test]
    fn the_protected_domains_themselves_are_not_lookalikes() {
        for h in [
            "something.com",
            "mail.something.com",
            "PayPal.com.",
            "www.bank.co.uk",
        ] {
            assert_eq!(technique(h), None, "{h}");
        }
    }

    #[test]
    fn homoglyphs_and_idn() {
        let f = table().check("xn--pypal-4ve.com").unwrap();
        assert_eq!(
            (f.technique, f.idn, f.protected.as_str()),
            (Technique::Homoglyph, true, "paypal.com")
        );
        assert_eq!(technique("paypa1.com"), Some("homoglyph"));
        assert_eq!(technique("s0mething.com"), Some("homoglyph"));
        assert_eq!(technique("sornething.net"), Some("homoglyph"));
        assert_eq!(technique("p\u{0430}yp\u{0430}l.com"), Some("homoglyph"));
    }

    #[test]
    fn typosquats() {
        for h in [
            "somethng.com",   // omission
            "sometthing.com", // repetition
            "somehting.com",  // transposition
            "somexhing.com",  // replacement
            "somethinga.com", // addition
            "pqypal.com",     // bitsquatting (a ^ 0x10)
            "paypals.com",    // plural
            "paypel.com",     // vowel swap
        ] {
            assert_eq!(technique(h), Some("typo"), "{h}");
        }
    }

    #[test]
    fn added_words_hyphens_tlds_and_subdomains() {
        assert_eq!(technique("some-thing.com"), Some("hyphenation"));
        assert_eq!(technique("paypal-secure.com"), Some("added-word"));
        assert_eq!(technique("mypaypal.net"), Some("added-word"));
        assert_eq!(technique("something.net"), Some("tld-swap"));
        assert_eq!(technique("bank.com"), Some("tld-swap"));
        assert_eq!(technique("paypal.com.login.example"), Some("subdomain"));
        assert_eq!(technique("paypal-com.example"), Some("subdomain"));
        assert_eq!(technique("somethingcom.com"), Some("subdomain"));
        assert_eq!(technique("some.thing.com"), Some("subdomain"));
        assert_eq!(technique("paypal.evil.example"), Some("subdomain"));
    }

    #[test]
    fn unrelated_and_short_names_stay_clean() {
        for h in [
            "example.org",
            "sourceforge.net",
            "ibx.com",    // one letter from `ibm`: too short to judge
            "ibmers.org", // contains `ibm`: too short for added words
            "somewhere.com",
            "paycheck.org.uk",
            "apple.com",
        ] {
            assert_eq!(technique(h), None, "{h}");
        }
        assert_eq!(Lookalikes::new(&[]).check("paypa1.com"), None);
    }

    #[test]
    fn check_looks_at_every_place() {
        let v = crate::checks::testing::run(
            &["something.com"],
            "From: a@sornething.com\r\nReply-To: b@something.net\r\n\r\nsee http://xn--smething-nbh.com/x\r\n",
        );
        for s in [
            "LOOKALIKE_FROM_DOMAIN",
            "LOOKALIKE_REPLYTO_DOMAIN",
            "LOOKALIKE_URL_DOMAIN",
            "LOOKALIKE_IDN",
        ] {
            assert!(v.has(s), "{s}: {:?}", v.symbols);
        }
        let v = crate::checks::testing::run(&[], "From: a@sornething.com\r\n\r\nx\r\n");
        assert!(
            !v.has("LOOKALIKE_FROM_DOMAIN"),
            "no protected domains, no lookalikes"
        );
    }

    #[test]
    fn forms_and_attached_pages_are_looked_at() {
        // The message's text links only to the real domain; its form and
        // the attached page submit to lookalikes.
        let raw = "From: a@b.example\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
                   --b1\r\nContent-Type: text/html\r\n\r\n\
                   <a href=\"https://www.something.com/\">home</a>\
                   <form action=\"https://something-verify.com/f\"></form>\r\n\
                   --b1\r\nContent-Type: text/html; name=\"login.htm\"\r\n\
                   Content-Disposition: attachment\r\n\r\n\
                   <form action=\"https://sornething.com/owa/auth.php\"><input type=password></form>\r\n\
                   --b1--\r\n";
        let v = crate::checks::testing::run(&["something.com"], raw);
        let s = v.symbols.iter().find(|s| s.name == "LOOKALIKE_URL_DOMAIN");
        let options = s.map(|s| s.options.join(" | ")).unwrap_or_default();
        for host in ["something-verify.com", "sornething.com"] {
            assert!(options.contains(host), "{host}: {options}");
        }
        assert!(!options.contains("www.something.com"), "{options}");
    }

    #[test]
    fn distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(edit_distance(&c("abcd"), &c("abdc"), 2), 1);
        assert_eq!(edit_distance(&c("abcd"), &c("abcd"), 2), 0);
        assert_eq!(edit_distance(&c("abcd"), &c("xyzw"), 1), 2);
        assert_eq!(edit_distance(&c(""), &c("ab"), 3), 2);
    }
}
