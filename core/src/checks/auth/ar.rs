//! The Authentication-Results header field (RFC 8601): writing ours, and
//! reading the ones others wrote (ARC-Authentication-Results payloads).
//!
//! ```text
//! authres-payload = [CFWS] authserv-id [ CFWS authres-version ]
//!                   ( no-result / 1*resinfo ) [CFWS] CRLF
//! resinfo   = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//! methodspec = [CFWS] method [CFWS] "=" [CFWS] result
//! reasonspec = "reason" [CFWS] "=" [CFWS] value
//! propspec  = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
//! pvalue    = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
//! value     = token / quoted-string            ; RFC 2045
//! ```
//!
//! What we write is ASCII, on one line (the host refuses line breaks in
//! verdict headers), with every value that is not a token or an address
//! quoted, and comments escaped.

use super::{AuthResults, SpfIdentity};
use crate::config::Config;
use crate::types::{Direction, Envelope, Header};

/// Longest comment we write.
const MAX_COMMENT: usize = 160;
/// Most `dkim=` entries we write (one per signature).
const MAX_DKIM: usize = 16;
/// Longest property value we write.
const MAX_VALUE: usize = 256;

/// One `resinfo`: a method's result with its reason and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResInfo {
    /// The method (`spf`, `dkim`, …).
    pub method: String,
    /// The result keyword.
    pub result: String,
    /// A human comment after the result.
    pub comment: Option<String>,
    /// `reason=` value.
    pub reason: Option<String>,
    /// `ptype.property=value` triples.
    pub props: Vec<(String, String, String)>,
}

impl ResInfo {
    fn new(method: &str, result: &str) -> Self {
        ResInfo {
            method: method.into(),
            result: result.into(),
            comment: None,
            reason: None,
            props: Vec::new(),
        }
    }

    fn comment(mut self, c: &str) -> Self {
        if !c.is_empty() {
            self.comment = Some(c.to_string());
        }
        self
    }

    fn prop(mut self, ptype: &str, property: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.props.push((ptype.into(), property.into(), value.into()));
        }
        self
    }
}

/// RFC 2045 token characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

/// True when `s` is an RFC 2045 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.bytes().all(is_atext))
}

/// `domain-name` of RFC 6376: LDH labels separated by dots.
fn is_domain_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    out.push('"');
    if s.len() <= MAX_VALUE
        && s.bytes()
            .all(|b| (b == b' ' || b.is_ascii_graphic()) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return out;
    }
    for ch in s.chars().take(MAX_VALUE) {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            c if c == ' ' || c.is_ascii_graphic() => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

/// A `value` (token or quoted-string).
pub fn value(s: &str) -> String {
    if is_token(s) && s.len() <= MAX_VALUE {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// A `pvalue`: a token, an address / domain name, or a quoted-string.
pub fn pvalue(s: &str) -> String {
    if s.len() <= MAX_VALUE {
        if is_token(s) {
            return s.to_string();
        }
        if let Some((local, domain)) = s.rsplit_once('@')
            && (local.is_empty() || is_dot_atom(local))
            && is_domain_name(domain)
        {
            return s.to_string();
        }
    }
    quoted(s)
}

/// A comment with `(`, `)` and `\` escaped and anything but printable
/// ASCII replaced.
pub fn comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_COMMENT) + 4);
    out.push('(');
    if s.len() <= MAX_COMMENT
        && s.bytes()
            .all(|b| (b == b' ' || b.is_ascii_graphic()) && !b"()\\".contains(&b))
    {
        out.push_str(s);
        out.push(')');
        return out;
    }
    for ch in s.chars().take(MAX_COMMENT) {
        match ch {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            c if c == ' ' || c.is_ascii_graphic() => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Formats a header field value from an authserv-id and results.
pub fn format(authserv_id: &str, items: &[ResInfo]) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(&value(authserv_id));
    if items.is_empty() {
        out.push_str("; none");
        return out;
    }
    for r in items {
        out.push_str("; ");
        out.push_str(&r.method);
        out.push('=');
        out.push_str(&r.result);
        if let Some(c) = &r.comment {
            out.push(' ');
            out.push_str(&comment(c));
        }
        if let Some(reason) = &r.reason {
            out.push_str(" reason=");
            out.push_str(&value(reason));
        }
        for (ptype, property, v) in &r.props {
            out.push(' ');
            out.push_str(ptype);
            out.push('.');
            out.push_str(property);
            out.push('=');
            out.push_str(&pvalue(v));
        }
    }
    out
}

/// The results of one message as `resinfo` entries.
pub fn entries(results: &AuthResults, envelope: &Envelope) -> Vec<ResInfo> {
    if envelope.effective_direction() == Direction::Outbound {
        let user = envelope.auth_user.clone().unwrap_or_default();
        let auth = if user.is_empty() { "none" } else { "pass" };
        return vec![ResInfo::new("auth", auth).prop("smtp", "auth", &user)];
    }
    let mut out = Vec::new();
    let spf = &results.spf_mailfrom;
    out.push(
        ResInfo::new("spf", spf.result.as_str())
            .comment(&spf.reason)
            .prop("smtp", "mailfrom", &spf.sender),
    );
    if let Some(h) = &results.spf_helo
        && h.identity == SpfIdentity::Helo
    {
        let helo = envelope.helo.as_deref().unwrap_or("");
        out.push(
            ResInfo::new("spf", h.result.as_str())
                .comment(&h.reason)
                .prop("smtp", "helo", helo),
        );
    }
    let sid = &results.sender_id;
    let mut r = ResInfo::new("sender-id", sid.result.as_str()).comment(&sid.reason);
    if let (Some(pra), Some(field)) = (&sid.pra, &sid.pra_field) {
        r = r.prop("header", &field.to_ascii_lowercase(), pra);
    }
    out.push(r);
    if results.dkim.is_empty() {
        out.push(ResInfo::new("dkim", "none"));
    }
    for d in results.dkim.iter().take(MAX_DKIM) {
        let header_b: String = d.header_b.chars().take(12).collect();
        out.push(
            ResInfo::new("dkim", d.result.as_str())
                .comment(&d.reason)
                .prop("header", "d", &d.domain)
                .prop("header", "s", &d.selector)
                .prop("header", "a", &d.algorithm)
                .prop("header", "b", &header_b),
        );
    }
    let dm = &results.dmarc;
    let mut r = ResInfo::new("dmarc", dm.result.as_str())
        .comment(&dm.reason)
        .prop("header", "from", &dm.from_domain);
    if dm.published.is_some() {
        r = r.prop("policy", "dmarc", dm.applied.as_str());
    }
    out.push(r);
    out.push(ResInfo::new("arc", results.arc.chain.as_str()).comment(&results.arc.reason));
    let ca = &results.compauth;
    let mut r = ResInfo::new("compauth", ca.result.as_str());
    r.reason = Some(ca.reason.as_str().to_string());
    out.push(r);
    out
}

/// The Authentication-Results header field for one message.
pub fn header(config: &Config, envelope: &Envelope, results: &AuthResults) -> Header {
    Header {
        name: "Authentication-Results".into(),
        value: format(&config.authserv_id, &entries(results, envelope)),
    }
}

/// One method's result as read from someone else's header (lower-cased
/// method, result, property names; values unquoted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadResult {
    /// `spf`, `dkim`, `dmarc`, …
    pub method: String,
    /// `pass`, `fail`, …
    pub result: String,
    /// `reason=`, if any.
    pub reason: Option<String>,
    /// `(ptype.property, value)` pairs.
    pub props: Vec<(String, String)>,
}

impl ReadResult {
    /// The value of property `name` (e.g. `header.from`).
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A header read back: the authserv-id and the results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Read {
    /// The authserv-id.
    pub authserv_id: String,
    /// The results, in order.
    pub results: Vec<ReadResult>,
}

/// Splits `s` on `sep` outside quoted strings, with comments removed.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0u32;
    let mut in_quote = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quote || depth > 0 => {
                let next = chars.next();
                if depth == 0 {
                    out.push('\\');
                    if let Some(n) = next {
                        out.push(n);
                    }
                }
            }
            '"' if depth == 0 => {
                in_quote = !in_quote;
                out.push(c);
            }
            '(' if !in_quote => {
                depth += 1;
                if depth == 1 {
                    out.push(' ');
                }
            }
            ')' if !in_quote && depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// Splits on `sep` outside quoted strings.
fn split_outside_quotes(s: &str, sep: fn(char) -> bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if in_quote && c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == '"' {
            in_quote = !in_quote;
            cur.push(c);
        } else if !in_quote && sep(c) {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_string(),
    }
}

/// Reads an Authentication-Results payload (or an ARC-Authentication-
/// Results payload, with or without its leading `i=N;`). Tolerant: a
/// `resinfo` it cannot read is skipped; `None` only without an
/// authserv-id.
pub fn read(payload: &str) -> Option<Read> {
    let text = strip_comments(payload);
    let mut parts = split_outside_quotes(&text, |c| c == ';').into_iter();
    let mut first = parts.next()?.trim().to_string();
    if first.len() > 2
        && first[..2].eq_ignore_ascii_case("i=")
        && first[2..].trim().bytes().all(|b| b.is_ascii_digit())
    {
        first = parts.next()?.trim().to_string();
    }
    let authserv_id = first.split_whitespace().next()?.to_string();
    let mut results = Vec::new();
    for part in parts {
        // Normalise "a = b" and "x . y" outside quotes into "a=b", "x.y".
        let mut norm = String::with_capacity(part.len());
        let mut in_quote = false;
        for c in part.chars() {
            if c == '"' {
                in_quote = !in_quote;
            }
            if !in_quote && (c == '=' || c == '.') {
                while norm.ends_with(char::is_whitespace) {
                    norm.pop();
                }
                norm.push(c);
                continue;
            }
            if !in_quote && c.is_whitespace() && (norm.ends_with('=') || norm.ends_with('.')) {
                continue;
            }
            norm.push(c);
        }
        let words = split_outside_quotes(norm.trim(), char::is_whitespace);
        let mut words = words.into_iter().filter(|w| !w.is_empty());
        let Some(spec) = words.next() else { continue };
        let Some((method, result)) = spec.split_once('=') else {
            continue;
        };
        let method = method.split('/').next().unwrap_or("").trim().to_ascii_lowercase();
        let mut r = ReadResult {
            method,
            result: result.trim().to_ascii_lowercase(),
            reason: None,
            props: Vec::new(),
        };
        for w in words {
            let Some((k, v)) = w.split_once('=') else { continue };
            if k.eq_ignore_ascii_case("reason") {
                r.reason = Some(unquote(v));
            } else if k.contains('.') {
                r.props.push((k.to_ascii_lowercase(), unquote(v)));
            }
        }
        results.push(r);
    }
    Some(Read { authserv_id, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_tokens_addresses_or_quoted() {
        assert_eq!(pvalue("example.com"), "example.com");
        assert_eq!(pvalue("admin@something.com"), "admin@something.com");
        assert_eq!(pvalue("a b@c"), "\"a b@c\"");
        assert_eq!(pvalue("abc/def+="), "\"abc/def+=\"");
        assert_eq!(value("intra-org-spoof"), "intra-org-spoof");
        assert_eq!(comment("a (b) \\ c\u{7}"), "(a \\(b\\) \\\\ c?)");
        assert_eq!(format("mx.example", &[]), "mx.example; none");
    }

    #[test]
    fn reads_what_others_write() {
        let r = read(
            "i=1; mx.google.com;\r\n dkim=pass header.i=@example.com header.s=s1 header.b=\"ab/c=\";\r\n spf=pass (google.com: domain of a@example.com designates 1.2.3.4) smtp.mailfrom=a@example.com;\r\n dmarc = pass (p=REJECT sp=NONE) header . from=example.com",
        )
        .unwrap();
        assert_eq!(r.authserv_id, "mx.google.com");
        assert_eq!(r.results.len(), 3);
        assert_eq!(r.results[0].prop("header.b"), Some("ab/c="));
        assert_eq!(r.results[1].prop("smtp.mailfrom"), Some("a@example.com"));
        assert_eq!(r.results[2].method, "dmarc");
        assert_eq!(r.results[2].result, "pass");
        assert_eq!(r.results[2].prop("header.from"), Some("example.com"));
        assert!(read("").is_none());
    }
}
