//! Domain-name helpers shared by the checks and the classifier's
//! tokenizer: registrable domains, IP literals, IDN labels.
//!
//! The registrable domain ("organisational domain") is approximated with a
//! short built-in list of second-level public suffixes (`co.uk`, `com.au`,
//! …) instead of the full Public Suffix List: the checks only compare
//! domains with each other and with the protected domains, where this is
//! exact for every common case and costs no table in the pack.

/// Second-level labels under a country code that are public suffixes in
/// most ccTLDs (`co.uk`, `com.au`, `ac.jp`, `gov.br`, …).
const SECOND_LEVEL: &[&str] = &[
    "ac", "co", "com", "edu", "gob", "gov", "govt", "go", "ltd", "me", "mil", "ne", "net", "nic", "nom",
    "or", "org", "plc", "sch",
];

/// The host part of a domain or URL authority, lower-cased, without a
/// trailing dot. IDN labels stay as written (`xn--…` or Unicode).
pub fn normalise(host: &str) -> String {
    host.trim().trim_end_matches('.').to_lowercase()
}

/// True when `host` is an IPv4 or IPv6 literal (with or without brackets).
pub fn is_ip_literal(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.parse::<std::net::IpAddr>().is_ok()
}

/// The registrable domain of `host` (`mail.example.co.uk` →
/// `example.co.uk`); the host itself for IP literals and single labels.
pub fn registrable(host: &str) -> &str {
    if is_ip_literal(host) {
        return host;
    }
    let labels: Vec<&str> = host.rsplitn(4, '.').collect();
    // labels[0] = TLD, labels[1] = second level, …
    let keep = match labels.as_slice() {
        [tld, second, ..] if tld.len() == 2 && SECOND_LEVEL.contains(second) && labels.len() >= 3 => 3,
        _ => 2,
    };
    if labels.len() <= keep {
        return host;
    }
    let cut: usize = labels[..keep].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
    &host[host.len() - cut..]
}

/// The public suffix part of `host` (`com`, `co.uk`); empty for IPs.
pub fn suffix(host: &str) -> &str {
    if is_ip_literal(host) {
        return "";
    }
    let reg = registrable(host);
    match reg.split_once('.') {
        Some((_, rest)) => rest,
        None => "",
    }
}

/// The top-level domain of `host` (its last label).
pub fn tld(host: &str) -> &str {
    host.rsplit('.').next().unwrap_or("")
}

/// Decodes `xn--` labels (RFC 3492 Punycode) to Unicode and lower-cases;
/// a label that does not decode stays as written.
pub fn to_unicode(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for (i, label) in host.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        let lower = label.to_lowercase();
        match lower.strip_prefix("xn--") {
            Some(rest) => match idna::punycode::decode_to_string(rest) {
                Some(u) if !u.is_empty() => out.push_str(&u.to_lowercase()),
                _ => out.push_str(&lower),
            },
            None => out.push_str(&lower),
        }
    }
    out
}

/// True when `host` has an IDN (`xn--`) label or a non-ASCII character.
pub fn is_idn(host: &str) -> bool {
    !host.is_ascii()
        || host
            .split('.')
            .any(|l| l.len() > 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

/// True when `a` and `b` share their registrable domain.
pub fn same_organisation(a: &str, b: &str) -> bool {
    registrable(a).eq_ignore_ascii_case(registrable(b))
}

/// True when `s` looks like a domain name (`label.label`, letters in the
/// last label, no spaces), as shown in display names and link texts.
pub fn looks_like_domain(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    let Some((_, tld)) = s.rsplit_once('.') else {
        return false;
    };
    tld.len() >= 2
        && tld.chars().all(char::is_alphabetic)
        && s.split('.').all(|l| {
            !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-') && !l.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("mail.example.com"), "example.com");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("example.co.uk"), "example.co.uk");
        assert_eq!(registrable("localhost"), "localhost");
        assert_eq!(registrable("192.0.2.1"), "192.0.2.1");
        assert_eq!(registrable("www.gov.uk"), "www.gov.uk");
        assert_eq!(suffix("x.example.com.au"), "com.au");
        assert_eq!(suffix("example.org"), "org");
        assert_eq!(tld("example.org"), "org");
    }

    #[test]
    fn idn_labels_decode() {
        assert_eq!(to_unicode("xn--pypal-4ve.com"), "p\u{0430}ypal.com");
        assert_eq!(to_unicode("XN--bcher-kva.Example"), "b\u{fc}cher.example");
        assert_eq!(to_unicode("xn--.com"), "xn--.com", "an undecodable label stays");
        assert!(is_idn("xn--pypal-4ve.com"));
        assert!(is_idn("p\u{0430}ypal.com"));
        assert!(!is_idn("paypal.com"));
    }

    #[test]
    fn domain_shapes() {
        assert!(looks_like_domain("paypal.com"));
        assert!(looks_like_domain("www.bank.example."));
        assert!(!looks_like_domain("Mr. Smith"));
        assert!(!looks_like_domain("v1.2"));
        assert!(!looks_like_domain("hello"));
        assert!(is_ip_literal("[192.0.2.1]"));
        assert!(is_ip_literal("2001:db8::1"));
        assert!(same_organisation("a.example.com", "b.EXAMPLE.com"));
    }
}
