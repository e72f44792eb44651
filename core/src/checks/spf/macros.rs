//! SPF macro strings (RFC 7208 §7): parsing and expansion.
//!
//! ```text
//! macro-string = *( macro-expand / macro-literal )
//! macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
//!                / "%%" / "%_" / "%-"
//! transformers = *DIGIT [ "r" ]
//! delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="
//! macro-literal = %x21-24 / %x26-7E
//! explain-string = *( macro-string / SP )
//! ```
//!
//! The letters `c`, `r` and `t` are allowed only in explanation text
//! (§7.1); a `%` not followed by `{`, `%`, `_` or `-` is a syntax error.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Where a macro string appears; decides which letters and characters are
/// allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A `domain-spec` (mechanism targets, `redirect=`, `exp=`).
    DomainSpec,
    /// The value of an unknown modifier: any macro letter, never expanded.
    Modifier,
    /// The text of an explanation TXT record: spaces and `c`, `r`, `t`.
    Explanation,
}

/// A macro letter (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    /// `s`: the sender.
    Sender,
    /// `l`: the local-part of the sender.
    Local,
    /// `o`: the domain of the sender.
    SenderDomain,
    /// `d`: the current domain.
    Domain,
    /// `i`: the IP, dotted (nibbles for IPv6).
    Ip,
    /// `p`: the validated domain name of the IP.
    Validated,
    /// `v`: `in-addr` or `ip6`.
    Version,
    /// `h`: the HELO/EHLO domain.
    Helo,
    /// `c`: the readable IP (explanations only).
    ClientIp,
    /// `r`: the receiving host (explanations only).
    Receiver,
    /// `t`: the current time stamp (explanations only).
    Time,
}

impl Letter {
    fn from_byte(b: u8) -> Option<(Letter, bool)> {
        let upper = b.is_ascii_uppercase();
        let l = match b.to_ascii_lowercase() {
            b's' => Letter::Sender,
            b'l' => Letter::Local,
            b'o' => Letter::SenderDomain,
            b'd' => Letter::Domain,
            b'i' => Letter::Ip,
            b'p' => Letter::Validated,
            b'v' => Letter::Version,
            b'h' => Letter::Helo,
            b'c' => Letter::ClientIp,
            b'r' => Letter::Receiver,
            b't' => Letter::Time,
            _ => return None,
        };
        Some((l, upper))
    }

    fn explanation_only(self) -> bool {
        matches!(self, Letter::ClientIp | Letter::Receiver | Letter::Time)
    }
}

/// One `%{...}` expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expand {
    /// The letter.
    pub letter: Letter,
    /// Upper-case letter: URL-escape the result (§7.3).
    pub escape: bool,
    /// Keep this many right-hand parts (at least 1), if given.
    pub keep: Option<usize>,
    /// Reverse the parts first.
    pub reverse: bool,
    /// Split on these characters (`.` when empty).
    pub delimiters: Vec<u8>,
}

/// A piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Text copied as is (`%%`, `%_`, `%-` already decoded).
    Literal(String),
    /// A macro to expand.
    Macro(Expand),
}

/// A parsed macro string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroString {
    /// The pieces, in order.
    pub tokens: Vec<Token>,
    /// The text as written (for reasons and diagnostics).
    pub source: String,
    /// True when the string ends with a `%{...}` expansion (a valid
    /// `domain-end` by itself).
    pub ends_with_macro: bool,
}

impl MacroString {
    /// True when expanding needs the validated domain name of the IP.
    pub fn uses_validated_name(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Macro(e) if e.letter == Letter::Validated))
    }

    /// True when the string is a plain literal without expansions.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }
}

/// Parses `text` as a macro string in context `cx`.
pub fn parse(text: &str, cx: Context) -> Result<MacroString, String> {
    let b = text.as_bytes();
    let mut tokens = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let mut ends_with_macro = false;
    while i < b.len() {
        let c = b[i];
        ends_with_macro = false;
        if c == b'%' {
            let Some(&n) = b.get(i + 1) else {
                return Err(format!("'%' at the end of {text:?}"));
            };
            match n {
                b'%' => {
                    lit.push('%');
                    i += 2;
                }
                b'_' => {
                    lit.push(' ');
                    i += 2;
                }
                b'-' => {
                    lit.push_str("%20");
                    i += 2;
                }
                b'{' => {
                    let close = b[i + 2..]
                        .iter()
                        .position(|&x| x == b'}')
                        .ok_or_else(|| format!("unterminated macro in {text:?}"))?;
                    let body = &b[i + 2..i + 2 + close];
                    let expand = parse_expand(body, cx)
                        .map_err(|e| format!("{e} in macro %{{{}}}", String::from_utf8_lossy(body)))?;
                    if !lit.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut lit)));
                    }
                    tokens.push(Token::Macro(expand));
                    i += 3 + close;
                    ends_with_macro = true;
                }
                _ => {
                    return Err(format!(
                        "'%' must be followed by '{{', '%', '_' or '-' in {text:?}"
                    ));
                }
            }
        } else if (0x21..=0x7e).contains(&c) || (c == b' ' && cx == Context::Explanation) {
            lit.push(c as char);
            i += 1;
        } else {
            return Err(format!("character 0x{c:02x} not allowed in {text:?}"));
        }
    }
    if !lit.is_empty() {
        tokens.push(Token::Literal(lit));
    }
    Ok(MacroString {
        tokens,
        source: text.to_string(),
        ends_with_macro,
    })
}

fn parse_expand(body: &[u8], cx: Context) -> Result<Expand, String> {
    let (&first, rest) = body.split_first().ok_or("empty macro")?;
    let (letter, escape) = Letter::from_byte(first).ok_or("unknown macro letter")?;
    if letter.explanation_only() && cx == Context::DomainSpec {
        return Err("macro letter allowed only in explanations".into());
    }
    let mut i = 0;
    let mut keep: Option<usize> = None;
    while i < rest.len() && rest[i].is_ascii_digit() {
        let d = usize::from(rest[i] - b'0');
        keep = Some(keep.unwrap_or(0).saturating_mul(10).saturating_add(d));
        i += 1;
    }
    if keep == Some(0) {
        return Err("a part count must be at least 1".into());
    }
    let mut reverse = false;
    if i < rest.len() && (rest[i] == b'r' || rest[i] == b'R') {
        reverse = true;
        i += 1;
    }
    let mut delimiters = Vec::new();
    for &d in &rest[i..] {
        if !b".-+,/_=".contains(&d) {
            return Err(format!("invalid delimiter {:?}", d as char));
        }
        if !delimiters.contains(&d) {
            delimiters.push(d);
        }
    }
    Ok(Expand {
        letter,
        escape,
        keep,
        reverse,
        delimiters,
    })
}

/// The values macros expand to.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// `<sender>` (`local@domain`).
    pub sender: &'a str,
    /// `<domain>` of the current `check_host()`.
    pub domain: &'a str,
    /// `<ip>`.
    pub ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: &'a str,
    /// The receiving host's name.
    pub receiver: &'a str,
    /// Seconds since the epoch.
    pub now: u64,
    /// The validated domain name of `ip` (`unknown` when none).
    pub validated: &'a str,
}

/// `i` for an address: dotted quad, or dot-separated nibbles for IPv6
/// (upper-case hex, as in RFC 7208 §7.4's examples).
pub fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(63);
            for byte in v6.octets() {
                for nib in [byte >> 4, byte & 0xf] {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push(
                        char::from_digit(u32::from(nib), 16)
                            .unwrap_or('0')
                            .to_ascii_uppercase(),
                    );
                }
            }
            out
        }
    }
}

/// The reverse-lookup name of `ip` (`….in-addr.arpa` / `….ip6.arpa`).
pub fn reverse_name(ip: IpAddr) -> String {
    let dotted = dotted_ip(ip);
    let mut parts: Vec<&str> = dotted.split('.').collect();
    parts.reverse();
    let suffix = if ip.is_ipv4() { "in-addr.arpa" } else { "ip6.arpa" };
    format!("{}.{suffix}", parts.join("."))
}

fn letter_value(letter: Letter, v: &Vars<'_>) -> String {
    let (local, sender_domain) = match v.sender.rsplit_once('@') {
        Some((l, d)) => (l, d),
        None => ("postmaster", v.sender),
    };
    match letter {
        Letter::Sender => v.sender.to_string(),
        Letter::Local => local.to_string(),
        Letter::SenderDomain => sender_domain.to_string(),
        Letter::Domain => v.domain.to_string(),
        Letter::Ip => dotted_ip(v.ip),
        Letter::Validated => v.validated.to_string(),
        Letter::Version => if v.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
        Letter::Helo => v.helo.to_string(),
        Letter::ClientIp => v.ip.to_string(),
        Letter::Receiver => v.receiver.to_string(),
        Letter::Time => v.now.to_string(),
    }
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn transform(value: &str, e: &Expand) -> String {
    let delims: &[u8] = if e.delimiters.is_empty() {
        b"."
    } else {
        &e.delimiters
    };
    let mut parts: Vec<&str> = value
        .split(|c: char| c.is_ascii() && delims.contains(&(c as u8)))
        .collect();
    if e.reverse {
        parts.reverse();
    }
    if let Some(n) = e.keep
        && n < parts.len()
    {
        parts.drain(..parts.len() - n);
    }
    parts.join(".")
}

/// Expands `ms` with `vars`.
pub fn expand(ms: &MacroString, vars: &Vars<'_>) -> String {
    let mut out = String::new();
    for t in &ms.tokens {
        match t {
            Token::Literal(l) => out.push_str(l),
            Token::Macro(e) => {
                let raw = letter_value(e.letter, vars);
                let value = if e.keep.is_none() && !e.reverse && e.delimiters.is_empty() {
                    raw
                } else {
                    transform(&raw, e)
                };
                if e.escape {
                    out.push_str(&url_escape(&value));
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    out
}

/// Expands a domain-spec into a query name: a trailing dot removed, and
/// left-hand labels dropped until the name fits 253 octets (§7.3).
pub fn expand_domain(ms: &MacroString, vars: &Vars<'_>) -> String {
    let mut name = expand(ms, vars);
    while name.ends_with('.') {
        name.pop();
    }
    while name.len() > 253 {
        match name.find('.') {
            Some(i) => {
                name.drain(..=i);
            }
            None => {
                name.clear();
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(ip: &str) -> Vars<'static> {
        Vars {
            sender: "strong-bad@email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            helo: "mx.example.org",
            receiver: "mx.receiver.example",
            now: 1_234_567_890,
            validated: "mx.example.org",
        }
    }

    fn x(text: &str, ip: &str) -> String {
        expand(&parse(text, Context::Explanation).unwrap(), &vars(ip))
    }

    /// The examples of RFC 7208 §7.4.
    #[test]
    fn rfc7208_section_7_4_examples() {
        let v4 = "192.0.2.3";
        assert_eq!(x("%{s}", v4), "strong-bad@email.example.com");
        assert_eq!(x("%{o}", v4), "email.example.com");
        assert_eq!(x("%{d}", v4), "email.example.com");
        assert_eq!(x("%{d4}", v4), "email.example.com");
        assert_eq!(x("%{d3}", v4), "email.example.com");
        assert_eq!(x("%{d2}", v4), "example.com");
        assert_eq!(x("%{d1}", v4), "com");
        assert_eq!(x("%{dr}", v4), "com.example.email");
        assert_eq!(x("%{d2r}", v4), "example.email");
        assert_eq!(x("%{l}", v4), "strong-bad");
        assert_eq!(x("%{l-}", v4), "strong.bad");
        assert_eq!(x("%{lr}", v4), "strong-bad");
        assert_eq!(x("%{lr-}", v4), "bad.strong");
        assert_eq!(x("%{l1r-}", v4), "strong");
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", v4),
            "3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(x("%{lr-}.lp._spf.%{d2}", v4), "bad.strong.lp._spf.example.com");
        assert_eq!(
            x("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", v4),
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            x("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", v4),
            "3.2.0.192.in-addr.strong.lp._spf.example.com"
        );
        assert_eq!(
            x("%{d2}.trusted-domains.example.net", v4),
            "example.com.trusted-domains.example.net"
        );
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01"),
            "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com"
        );
        assert_eq!(
            x("%{c} %{r} %{t}", v4),
            "192.0.2.3 mx.receiver.example 1234567890"
        );
        assert_eq!(x("%%%_%-", v4), "% %20");
        assert_eq!(x("%{L}", v4), "strong-bad");
        assert_eq!(x("%{S}", v4), "strong-bad%40email.example.com");
    }

    #[test]
    fn syntax_errors() {
        for bad in ["%", "%x", "%{", "%{x}", "%{d0}", "%{d2q}", "a b"] {
            assert!(parse(bad, Context::DomainSpec).is_err(), "{bad}");
        }
        assert!(parse("%{c}.example.com", Context::DomainSpec).is_err());
        assert!(parse("%{c}.example.com", Context::Modifier).is_ok());
        assert!(parse("a b %{c}", Context::Explanation).is_ok());
        assert!(parse("%{d}", Context::DomainSpec).unwrap().ends_with_macro);
        assert!(!parse("%{d}.com", Context::DomainSpec).unwrap().ends_with_macro);
    }

    #[test]
    fn long_names_are_truncated_on_the_left() {
        let long = "a".repeat(60);
        let text = format!("{long}.{long}.{long}.{long}.{long}.example.com");
        let ms = parse(&text, Context::DomainSpec).unwrap();
        let name = expand_domain(&ms, &vars("192.0.2.3"));
        assert!(name.len() <= 253);
        assert!(name.ends_with(".example.com") && name.starts_with('a'));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.3".parse().unwrap()),
            "3.2.0.192.in-addr.arpa"
        );
        assert!(reverse_name("2001:db8::1".parse().unwrap()).ends_with(".8.B.D.0.1.0.0.2.ip6.arpa"));
    }
}
