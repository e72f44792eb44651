//! SPF record syntax (RFC 7208 §4.6, §5, §6, §12): terms, mechanisms,
//! modifiers, CIDR lengths and domain-specs.
//!
//! A record is parsed completely before it is evaluated, so a syntax
//! error anywhere gives `permerror` (§4.6). The same grammar serves Sender
//! ID records (RFC 4406 §3), which differ only in their version prefix.

use super::macros::{self, Context, MacroString};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A mechanism's qualifier (§4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+` (the default).
    Pass,
    /// `-`.
    Fail,
    /// `~`.
    SoftFail,
    /// `?`.
    Neutral,
}

/// CIDR prefix lengths for `a` and `mx` (`dual-cidr-length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DualCidr {
    /// IPv4 prefix length (default 32).
    pub v4: u8,
    /// IPv6 prefix length (default 128).
    pub v6: u8,
}

impl Default for DualCidr {
    fn default() -> Self {
        DualCidr { v4: 32, v6: 128 }
    }
}

/// A mechanism (§5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:<domain-spec>`.
    Include(MacroString),
    /// `a[:<domain-spec>][cidr]`.
    A(Option<MacroString>, DualCidr),
    /// `mx[:<domain-spec>][cidr]`.
    Mx(Option<MacroString>, DualCidr),
    /// `ptr[:<domain-spec>]`.
    Ptr(Option<MacroString>),
    /// `ip4:<network>[/len]`.
    Ip4(Ipv4Addr, u8),
    /// `ip6:<network>[/len]`.
    Ip6(Ipv6Addr, u8),
    /// `exists:<domain-spec>`.
    Exists(MacroString),
}

impl Mechanism {
    /// True for the mechanisms that count against the 10-lookup limit.
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A(..)
                | Mechanism::Mx(..)
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

/// A directive: qualifier and mechanism, with the term as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The qualifier.
    pub qualifier: Qualifier,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The term as written (for reasons).
    pub text: String,
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Directives in order.
    pub directives: Vec<Directive>,
    /// `redirect=`.
    pub redirect: Option<MacroString>,
    /// `exp=`.
    pub exp: Option<MacroString>,
}

impl Record {
    /// True when the record has an `all` mechanism (which makes any
    /// `redirect=` irrelevant, §6.1).
    pub fn has_all(&self) -> bool {
        self.directives.iter().any(|d| d.mechanism == Mechanism::All)
    }
}

/// Which version prefix a record starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// `v=spf1`.
    Spf1,
    /// `spf2.0/<scopes>` (RFC 4406 §3.1), scopes lower-cased.
    Spf2(Vec<String>),
}

/// Recognises the version section of a TXT record: `v=spf1` (case-
/// insensitive, §4.5) or `spf2.0/scope[,scope…]`, terminated by a space
/// or the end of the record. Returns the version and the rest.
pub fn version(txt: &[u8]) -> Option<(Version, &[u8])> {
    let end = txt.iter().position(|&b| b == b' ').unwrap_or(txt.len());
    let head = &txt[..end];
    let rest = &txt[end..];
    if head.eq_ignore_ascii_case(b"v=spf1") {
        return Some((Version::Spf1, rest));
    }
    if head.len() > 7 && head[..7].eq_ignore_ascii_case(b"spf2.0/") {
        let scopes: Vec<String> = head[7..]
            .split(|&b| b == b',')
            .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
            .collect();
        let name_ok = |s: &String| {
            let b = s.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        };
        if scopes.iter().all(name_ok) {
            return Some((Version::Spf2(scopes), rest));
        }
    }
    None
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`.
fn valid_toplabel(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && (b.iter().any(u8::is_ascii_alphabetic) || b.contains(&b'-'))
}

/// Parses a domain-spec: a macro string ending in `"." toplabel ["."]` or
/// in a macro expansion (§7.1).
pub fn domain_spec(text: &str) -> Result<MacroString, String> {
    if text.is_empty() {
        return Err("empty domain-spec".into());
    }
    let ms = macros::parse(text, Context::DomainSpec)?;
    if ms.ends_with_macro {
        return Ok(ms);
    }
    let body = text.strip_suffix('.').unwrap_or(text);
    match body.rfind('.') {
        Some(dot) if valid_toplabel(&body[dot + 1..]) => Ok(ms),
        _ => Err(format!("domain-spec {text:?} does not end in a valid top label")),
    }
}

/// A CIDR length: `1*DIGIT` without leading zeros, at most `max`.
fn cidr_len(digits: &str, max: u8) -> Result<u8, String> {
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && digits.len() <= 3;
    let n: u16 = if ok {
        digits.parse().unwrap_or(u16::MAX)
    } else {
        u16::MAX
    };
    if n > u16::from(max) {
        return Err(format!("invalid CIDR length /{digits}"));
    }
    Ok(n as u8)
}

/// Splits a trailing `dual-cidr-length` off `arg`: returns the text before
/// it and the lengths.
fn split_dual_cidr(arg: &str) -> Result<(&str, DualCidr), String> {
    let mut cidr = DualCidr::default();
    let mut rest = arg;
    let trailing_digits = |s: &str| -> Option<usize> {
        let d = s.bytes().rev().take_while(u8::is_ascii_digit).count();
        (d > 0).then(|| s.len() - d)
    };
    if let Some(start) = trailing_digits(rest)
        && rest[..start].ends_with("//")
    {
        cidr.v6 = cidr_len(&rest[start..], 128)?;
        rest = &rest[..start - 2];
    }
    if let Some(start) = trailing_digits(rest)
        && rest[..start].ends_with('/')
        && !rest[..start].ends_with("//")
    {
        cidr.v4 = cidr_len(&rest[start..], 32)?;
        rest = &rest[..start - 1];
    }
    Ok((rest, cidr))
}

/// `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`.
fn modifier_name_len(term: &str) -> Option<usize> {
    let b = term.as_bytes();
    if b.first().is_some_and(u8::is_ascii_alphabetic) {
        let n = b
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
            .count();
        (b.get(n) == Some(&b'=')).then_some(n)
    } else {
        None
    }
}

fn parse_mechanism(term: &str) -> Result<Directive, String> {
    let (qualifier, body) = match term.as_bytes()[0] {
        b'+' => (Qualifier::Pass, &term[1..]),
        b'-' => (Qualifier::Fail, &term[1..]),
        b'~' => (Qualifier::SoftFail, &term[1..]),
        b'?' => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let name_end = body.find([':', '/']).unwrap_or(body.len());
    let name = body[..name_end].to_ascii_lowercase();
    let arg = &body[name_end..];
    let target = |arg: &str| -> Result<MacroString, String> {
        match arg.strip_prefix(':') {
            Some(spec) => domain_spec(spec),
            None => Err(format!("{name} needs ':' and a domain-spec")),
        }
    };
    let optional_target = |arg: &str| -> Result<(Option<MacroString>, DualCidr), String> {
        match arg.strip_prefix(':') {
            Some(spec) => {
                let (spec, cidr) = split_dual_cidr(spec)?;
                Ok((Some(domain_spec(spec)?), cidr))
            }
            None => {
                let (rest, cidr) = split_dual_cidr(arg)?;
                if rest.is_empty() {
                    Ok((None, cidr))
                } else {
                    Err(format!("invalid argument {arg:?} for {name}"))
                }
            }
        }
    };
    let mechanism = match name.as_str() {
        "all" if arg.is_empty() => Mechanism::All,
        "all" => return Err("'all' takes no argument".into()),
        "include" => Mechanism::Include(target(arg)?),
        "exists" => Mechanism::Exists(target(arg)?),
        "a" => {
            let (t, c) = optional_target(arg)?;
            Mechanism::A(t, c)
        }
        "mx" => {
            let (t, c) = optional_target(arg)?;
            Mechanism::Mx(t, c)
        }
        "ptr" => match arg.strip_prefix(':') {
            Some(spec) => Mechanism::Ptr(Some(domain_spec(spec)?)),
            None if arg.is_empty() => Mechanism::Ptr(None),
            None => return Err(format!("invalid argument {arg:?} for ptr")),
        },
        "ip4" => {
            let spec = arg.strip_prefix(':').ok_or("ip4 needs ':' and a network")?;
            let (net, len) = match spec.split_once('/') {
                Some((n, l)) => (n, cidr_len(l, 32)?),
                None => (spec, 32),
            };
            let ip: Ipv4Addr = net.parse().map_err(|_| format!("invalid ip4 network {net:?}"))?;
            Mechanism::Ip4(ip, len)
        }
        "ip6" => {
            let spec = arg.strip_prefix(':').ok_or("ip6 needs ':' and a network")?;
            let (net, len) = match spec.split_once('/') {
                Some((n, l)) => (n, cidr_len(l, 128)?),
                None => (spec, 128),
            };
            let ip: Ipv6Addr = net.parse().map_err(|_| format!("invalid ip6 network {net:?}"))?;
            Mechanism::Ip6(ip, len)
        }
        _ => return Err(format!("unknown mechanism {term:?}")),
    };
    Ok(Directive {
        qualifier,
        mechanism,
        text: term.to_string(),
    })
}

/// Parses the terms of a record (everything after the version section).
/// The text must be ASCII; any other whitespace than SP is a syntax error.
pub fn terms(text: &str) -> Result<Record, String> {
    let mut record = Record::default();
    for term in text.split(' ').filter(|t| !t.is_empty()) {
        if let Some(n) = modifier_name_len(term) {
            let name = term[..n].to_ascii_lowercase();
            let value = &term[n + 1..];
            match name.as_str() {
                "redirect" => {
                    if record.redirect.is_some() {
                        return Err("more than one redirect= modifier".into());
                    }
                    record.redirect = Some(domain_spec(value)?);
                }
                "exp" => {
                    if record.exp.is_some() {
                        return Err("more than one exp= modifier".into());
                    }
                    record.exp = Some(domain_spec(value)?);
                }
                _ => {
                    macros::parse(value, Context::Modifier)?;
                }
            }
        } else {
            record.directives.push(parse_mechanism(term)?);
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Record {
        terms(t).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn mechanisms_and_cidrs() {
        let r = ok("a mx/24 a:foo.example.com//64 -ip4:192.0.2.0/24 ~ip6:2001:db8::/32 ?all");
        assert_eq!(r.directives.len(), 6);
        assert_eq!(
            r.directives[1].mechanism,
            Mechanism::Mx(None, DualCidr { v4: 24, v6: 128 })
        );
        assert!(matches!(
            &r.directives[2].mechanism,
            Mechanism::A(Some(_), DualCidr { v4: 32, v6: 64 })
        ));
        assert_eq!(r.directives[3].qualifier, Qualifier::Fail);
        assert!(r.has_all());
        let r = ok("a:foo:bar/baz.example.com mx:example.com/24//64");
        assert!(
            matches!(&r.directives[0].mechanism, Mechanism::A(Some(m), _) if m.source == "foo:bar/baz.example.com")
        );
        assert_eq!(
            r.directives[1].mechanism,
            Mechanism::Mx(
                Some(domain_spec("example.com").unwrap()),
                DualCidr { v4: 24, v6: 64 }
            )
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "moo",
            "-all.",
            "-all:foo",
            "-all/8",
            "ptr/0",
            "ptr:",
            "a/33",
            "a//129",
            "a/24/64",
            "a:example.com:8080",
            "a:111.222.33.44",
            "a:abc.123",
            "a:museum",
            "a:museum.",
            "a:",
            "a:example.-com",
            "include",
            "include:",
            "include:ip5.example.com/24",
            "exists",
            "exists:",
            "exists:mail.example.com/24",
            "ip4",
            "ip4:1.2.3.4/33",
            "ip4:1.2.3.4/032",
            "ip4:1.2.3.4:8080",
            "ip4:1.2.3",
            "ip4:1.2.3.4//32",
            "ip6",
            "ip6::CAFE::BABE",
            "ip6:::1/129",
            "ip6:::1//33",
            "redirect:x.example.com",
            "1up=foo",
            "=all",
            "exp=",
            "redirect=",
            "exp=-all",
            "exp=a.example.com exp=b.example.com",
            "redirect=a.example.com redirect=a.example.com",
            "foo=%abc",
            "moo.cow/far=x",
            "a:foo.example.com\0",
        ] {
            assert!(terms(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn valid_oddities() {
        ok("moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all");
        ok("default=pass");
        ok("a:foo.example.xn--zckzah -all");
        ok("exists:%{i}.%{l2r-}.user.%{d2}");
        ok("ip6:::1.1.1.1/0 ip4:0.0.0.0/0 a//33");
        ok("a  -all ");
    }

    #[test]
    fn versions() {
        assert_eq!(version(b"v=spf1 -all").unwrap().0, Version::Spf1);
        assert_eq!(version(b"V=SpF1").unwrap().0, Version::Spf1);
        assert!(version(b"v=spf10").is_none());
        assert!(version(b"v=spf1mx").is_none());
        assert_eq!(
            version(b"spf2.0/mfrom,pra -all").unwrap().0,
            Version::Spf2(vec!["mfrom".into(), "pra".into()])
        );
        assert!(version(b"spf2.0/ -all").is_none());
        assert!(version(b"spf2.0/pra,,mfrom").is_none());
    }
}
