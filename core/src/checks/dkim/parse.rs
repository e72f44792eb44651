//! Parsing: DKIM tag lists (RFC 6376 §3.2), the signature fields that use
//! them — DKIM-Signature (RFC 6376 §3.5), ARC-Message-Signature and
//! ARC-Seal (RFC 8617 §4.1) — and DKIM key records (RFC 6376 §3.6.1,
//! RFC 8463 §4).
//!
//! Parsing never panics; a field that breaks the grammar or omits a
//! required tag gives a [`SigError`] with a short reason and whatever
//! identity tags (`d=`, `s=`, `a=`, `b=`) could be read, so the outcome can
//! still name the signer.

use crate::checks::auth::ArcChain;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Folding white space inside a tag list.
fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// One `name=value` pair of a tag list, value trimmed of surrounding FWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// Splits a tag list (RFC 6376 §3.2). Tag names are case-sensitive; a
/// duplicate name, a name that is not `ALPHA *ALNUMPUNC`, a spec without
/// `=` or an empty spec between semicolons makes the whole list invalid.
/// One trailing semicolon is allowed.
pub(crate) fn tag_list(text: &str) -> Result<Vec<Tag<'_>>, &'static str> {
    let mut tags: Vec<Tag<'_>> = Vec::new();
    let specs: Vec<&str> = text.split(';').collect();
    let last = specs.len() - 1;
    for (n, spec) in specs.iter().enumerate() {
        let spec = spec.trim_matches(is_fws);
        if spec.is_empty() {
            if n == last {
                continue;
            }
            return Err("empty tag-spec (stray semicolon)");
        }
        let Some((name, value)) = spec.split_once('=') else {
            return Err("tag-spec without '='");
        };
        let name = name.trim_matches(is_fws);
        let mut chars = name.chars();
        let valid_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err("invalid tag name");
        }
        if tags.iter().any(|t| t.name == name) {
            return Err("duplicate tag");
        }
        tags.push(Tag {
            name,
            value: value.trim_matches(is_fws),
        });
    }
    Ok(tags)
}

fn get<'a>(tags: &[Tag<'a>], name: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.name == name).map(|t| t.value)
}

/// A value with all folding white space removed (base64 tags).
pub(crate) fn strip_fws(value: &str) -> String {
    value.chars().filter(|c| !is_fws(*c)).collect()
}

/// Decodes a base64 tag value (FWS inside is ignored). Empty → `None`.
pub(crate) fn base64(value: &str) -> Option<Vec<u8>> {
    let text = strip_fws(value);
    if text.is_empty() {
        return None;
    }
    STANDARD.decode(text.as_bytes()).ok()
}

/// A signing algorithm (`a=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `rsa-sha1` (RFC 6376; deprecated by RFC 8301).
    RsaSha1,
    /// `rsa-sha256`.
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl Algorithm {
    fn parse(value: &str) -> Option<Self> {
        // Tag values are case-sensitive (RFC 6376 §3.2).
        match value {
            "rsa-sha256" => Some(Algorithm::RsaSha256),
            "rsa-sha1" => Some(Algorithm::RsaSha1),
            "ed25519-sha256" => Some(Algorithm::Ed25519Sha256),
            _ => None,
        }
    }

    /// The hash the algorithm uses.
    pub fn hash(self) -> HashAlg {
        match self {
            Algorithm::RsaSha1 => HashAlg::Sha1,
            Algorithm::RsaSha256 | Algorithm::Ed25519Sha256 => HashAlg::Sha256,
        }
    }

    /// The key type the algorithm needs.
    pub fn key_type(self) -> KeyType {
        match self {
            Algorithm::RsaSha1 | Algorithm::RsaSha256 => KeyType::Rsa,
            Algorithm::Ed25519Sha256 => KeyType::Ed25519,
        }
    }
}

/// A hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl HashAlg {
    fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
        }
    }
}

/// A key type (`k=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA.
    Rsa,
    /// Ed25519.
    Ed25519,
}

/// A canonicalization algorithm (`c=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    /// `simple`: bytes as they are (RFC 6376 §3.4.1, §3.4.3).
    Simple,
    /// `relaxed`: white space and case normalised (RFC 6376 §3.4.2, §3.4.4).
    Relaxed,
}

impl Canon {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "simple" => Some(Canon::Simple),
            "relaxed" => Some(Canon::Relaxed),
            _ => None,
        }
    }
}

/// Which header field a signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `DKIM-Signature`.
    Dkim,
    /// `ARC-Message-Signature`.
    Ams,
    /// `ARC-Seal`.
    Seal,
}

/// A parsed, syntactically valid signature field.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The field kind.
    pub kind: Kind,
    /// `a=`.
    pub algorithm: Algorithm,
    /// `b=`, decoded.
    pub b: Vec<u8>,
    /// `b=` as written, FWS removed.
    pub b_text: String,
    /// `bh=`, decoded (empty for ARC-Seal).
    pub bh: Vec<u8>,
    /// Header canonicalization (`c=`; always relaxed for ARC-Seal).
    pub header_canon: Canon,
    /// Body canonicalization.
    pub body_canon: Canon,
    /// `d=`, lower-case.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `h=`, lower-case names in order (empty for ARC-Seal).
    pub headers: Vec<String>,
    /// `i=` of a DKIM-Signature, decoded (default `@d`); empty for ARC.
    pub auid: String,
    /// `l=`.
    pub length: Option<u64>,
    /// `t=`.
    pub timestamp: Option<u64>,
    /// `x=`.
    pub expiration: Option<u64>,
    /// `i=` of an ARC field (0 for DKIM).
    pub instance: u32,
    /// `cv=` of an ARC-Seal (`None` otherwise).
    pub cv: ArcChain,
}

/// A signature field that could not be used, with what could be read of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigError {
    /// Why it is unusable.
    pub reason: String,
    /// `d=` as written, lower-case (may be empty).
    pub domain: String,
    /// `s=` as written (may be empty).
    pub selector: String,
    /// `a=` as written (may be empty).
    pub algorithm: String,
    /// `b=` without FWS (may be empty).
    pub b_text: String,
}

/// True for a syntactically valid domain name or selector: dot-separated
/// labels of letters, digits, `-` and `_`, none empty, none starting or
/// ending with `-`, at most 63 octets each and 253 in all.
pub(crate) fn valid_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A decimal number tag (`t=`, `x=`, `l=`, `i=` of ARC): 1 to 12 digits
/// (76 for `l=`, saturating).
fn number(value: &str, max_digits: usize) -> Option<u64> {
    if value.is_empty() || value.len() > max_digits || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Decodes `dkim-quoted-printable` (RFC 6376 §2.11): `=XX` escapes, FWS
/// removed.
fn dkim_qp(value: &str) -> Option<String> {
    let bytes: Vec<u8> = value
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = bytes.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// True when `sub` is `parent` or one of its subdomains (case-insensitive).
pub(crate) fn is_same_or_subdomain(sub: &str, parent: &str) -> bool {
    let (sub, parent) = (sub.as_bytes(), parent.as_bytes());
    if sub.len() < parent.len() {
        return false;
    }
    let split = sub.len() - parent.len();
    sub[split..].eq_ignore_ascii_case(parent) && (split == 0 || sub[split - 1] == b'.')
}

/// Parses the value (after the colon) of a signature field of `kind`.
pub fn signature(kind: Kind, value: &[u8]) -> Result<Signature, SigError> {
    let mut err = SigError::default();
    let Ok(text) = std::str::from_utf8(value) else {
        err.reason = "signature field is not UTF-8".into();
        return Err(err);
    };
    let tags = match tag_list(text) {
        Ok(t) => t,
        Err(e) => {
            err.reason = format!("signature tag list: {e}");
            return Err(err);
        }
    };
    err.domain = get(&tags, "d").unwrap_or("").to_ascii_lowercase();
    err.selector = get(&tags, "s").unwrap_or("").to_string();
    err.algorithm = get(&tags, "a").unwrap_or("").to_string();
    err.b_text = get(&tags, "b").map(strip_fws).unwrap_or_default();
    let fail = |err: &SigError, reason: String| {
        let mut e = err.clone();
        e.reason = reason;
        Err(e)
    };
    let required = |name: &str| get(&tags, name).ok_or_else(|| format!("missing required tag {name}="));

    let mut instance = 0;
    let mut cv = ArcChain::None;
    match kind {
        // RFC 6376 §3.5 requires v=1. Like Mail::DKIM, OpenDKIM and
        // mail-auth we also verify the pre-RFC drafts' signatures (no v=,
        // or draft-05's v=0.5): their signing rules are RFC 4871's.
        Kind::Dkim => match get(&tags, "v") {
            None | Some("1" | "0.5") => {}
            Some(v) => return fail(&err, format!("incompatible version v={v}")),
        },
        Kind::Ams | Kind::Seal => {
            let i = match required("i") {
                Ok(i) => i,
                Err(e) => return fail(&err, e),
            };
            match number(i, 10).and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n >= 1 => instance = n,
                _ => return fail(&err, format!("invalid instance i={i}")),
            }
        }
    }
    if kind == Kind::Seal {
        cv = match required("cv") {
            Ok("none") => ArcChain::None,
            Ok("pass") => ArcChain::Pass,
            Ok("fail") => ArcChain::Fail,
            Ok(v) => return fail(&err, format!("invalid cv={v}")),
            Err(e) => return fail(&err, e),
        };
        if get(&tags, "h").is_some() {
            return fail(&err, "ARC-Seal must not have h=".into());
        }
    }

    let algorithm = match required("a") {
        Ok(a) => match Algorithm::parse(a) {
            Some(a) => a,
            None => return fail(&err, format!("unsupported algorithm a={a}")),
        },
        Err(e) => return fail(&err, e),
    };
    let b = match required("b") {
        Ok(b) => match base64(b) {
            Some(b) => b,
            None => return fail(&err, "b= is empty or not base64".into()),
        },
        Err(e) => return fail(&err, e),
    };
    let domain = match required("d") {
        Ok(d) if valid_domain(d) => d.to_ascii_lowercase(),
        Ok(d) => return fail(&err, format!("invalid domain d={d}")),
        Err(e) => return fail(&err, e),
    };
    let selector = match required("s") {
        Ok(s) if valid_domain(s) => s.to_string(),
        Ok(s) => return fail(&err, format!("invalid selector s={s}")),
        Err(e) => return fail(&err, e),
    };
    let timestamp = match get(&tags, "t") {
        None => None,
        Some(t) => match number(t, 12) {
            Some(t) => Some(t),
            None => return fail(&err, format!("invalid timestamp t={t}")),
        },
    };

    let mut sig = Signature {
        kind,
        algorithm,
        b,
        b_text: err.b_text.clone(),
        bh: Vec::new(),
        header_canon: Canon::Relaxed,
        body_canon: Canon::Simple,
        domain,
        selector,
        headers: Vec::new(),
        auid: String::new(),
        length: None,
        timestamp,
        expiration: None,
        instance,
        cv,
    };
    if kind == Kind::Seal {
        return Ok(sig);
    }

    // DKIM-Signature and ARC-Message-Signature.
    sig.bh = match required("bh") {
        Ok(bh) => match base64(bh) {
            Some(bh) => bh,
            None => return fail(&err, "bh= is empty or not base64".into()),
        },
        Err(e) => return fail(&err, e),
    };
    (sig.header_canon, sig.body_canon) = match get(&tags, "c") {
        None => (Canon::Simple, Canon::Simple),
        Some(c) => {
            let (h, b) = match c.split_once('/') {
                Some((h, b)) => (Canon::parse(h), Canon::parse(b)),
                None => (Canon::parse(c), Some(Canon::Simple)),
            };
            match (h, b) {
                (Some(h), Some(b)) => (h, b),
                _ => return fail(&err, format!("unsupported canonicalization c={c}")),
            }
        }
    };
    let h = match required("h") {
        Ok(h) => h,
        Err(e) => return fail(&err, e),
    };
    sig.headers = h
        .split(':')
        .map(|n| n.trim_matches(is_fws).to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if sig
        .headers
        .iter()
        .any(|n| n.bytes().any(|b| !(33..=126).contains(&b)))
    {
        return fail(&err, "invalid header name in h=".into());
    }
    match kind {
        Kind::Dkim if !sig.headers.iter().any(|n| n == "from") => {
            return fail(&err, "h= does not sign From".into());
        }
        Kind::Ams if sig.headers.iter().any(|n| n == "arc-seal") => {
            return fail(&err, "h= signs ARC-Seal".into());
        }
        _ => {}
    }
    sig.length = match get(&tags, "l") {
        None => None,
        Some(l) => match number(l, 76) {
            Some(l) => Some(l),
            None => return fail(&err, format!("invalid body length l={l}")),
        },
    };
    sig.expiration = match get(&tags, "x") {
        None => None,
        Some(x) => match number(x, 12) {
            Some(x) => Some(x),
            None => return fail(&err, format!("invalid expiration x={x}")),
        },
    };
    if let (Some(t), Some(x)) = (sig.timestamp, sig.expiration)
        && x <= t
    {
        return fail(&err, "x= is not later than t=".into());
    }
    if kind == Kind::Dkim {
        if let Some(q) = get(&tags, "q")
            // `dns` is the pre-RFC drafts' name of `dns/txt`.
            && !q.split(':').any(|m| matches!(m.trim_matches(is_fws), "dns/txt" | "dns"))
        {
            return fail(&err, format!("no supported query method in q={q}"));
        }
        sig.auid = match get(&tags, "i") {
            None => format!("@{}", sig.domain),
            Some(i) => {
                let Some(auid) = dkim_qp(i) else {
                    return fail(&err, "i= is not valid dkim-quoted-printable".into());
                };
                let Some((_, auid_domain)) = auid.rsplit_once('@') else {
                    return fail(&err, format!("i={auid} has no '@'"));
                };
                if !is_same_or_subdomain(auid_domain, &sig.domain) {
                    return fail(&err, format!("i={auid} is not within d={}", sig.domain));
                }
                auid
            }
        };
    }
    Ok(sig)
}

/// A DKIM key record (RFC 6376 §3.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=` (default `rsa`).
    pub key_type: KeyType,
    /// `p=`, decoded (never empty: an empty `p=` is an error).
    pub public_key: Vec<u8>,
    /// `h=`: acceptable hashes (`None`: all).
    pub hashes: Option<Vec<HashAlg>>,
    /// `t=y`.
    pub testing: bool,
    /// `t=s`.
    pub strict: bool,
}

impl KeyRecord {
    /// True when the record allows `hash`.
    pub fn allows(&self, hash: HashAlg) -> bool {
        self.hashes.as_ref().is_none_or(|h| h.contains(&hash))
    }
}

/// Why a key record is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRecordError {
    /// `p=` is empty: the key was revoked.
    Revoked,
    /// Anything else; the reason.
    Invalid(String),
}

/// Parses one key record's text.
pub fn key_record(text: &[u8]) -> Result<KeyRecord, KeyRecordError> {
    let invalid = |s: &str| Err(KeyRecordError::Invalid(s.to_string()));
    let Ok(text) = std::str::from_utf8(text) else {
        return invalid("key record is not UTF-8");
    };
    let tags = match tag_list(text) {
        Ok(t) => t,
        Err(e) => return Err(KeyRecordError::Invalid(format!("key record tag list: {e}"))),
    };
    if let Some(v) = get(&tags, "v")
        && v != "DKIM1"
    {
        return Err(KeyRecordError::Invalid(format!("key record v={v}")));
    }
    let key_type = match get(&tags, "k") {
        None | Some("rsa") => KeyType::Rsa,
        Some("ed25519") => KeyType::Ed25519,
        Some(k) => return Err(KeyRecordError::Invalid(format!("unsupported key type k={k}"))),
    };
    let hashes = get(&tags, "h").map(|h| {
        h.split(':')
            .filter_map(|a| match a.trim_matches(is_fws) {
                "sha1" => Some(HashAlg::Sha1),
                "sha256" => Some(HashAlg::Sha256),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    if let Some(s) = get(&tags, "s")
        && !s
            .split(':')
            .any(|t| matches!(t.trim_matches(is_fws), "*" | "email"))
    {
        return Err(KeyRecordError::Invalid(format!("key not for e-mail: s={s}")));
    }
    let flags: Vec<&str> = get(&tags, "t")
        .map(|t| t.split(':').map(|f| f.trim_matches(is_fws)).collect())
        .unwrap_or_default();
    let Some(p) = get(&tags, "p") else {
        return invalid("key record has no p=");
    };
    if strip_fws(p).is_empty() {
        return Err(KeyRecordError::Revoked);
    }
    let Some(public_key) = base64(p) else {
        return invalid("p= is not base64");
    };
    Ok(KeyRecord {
        key_type,
        public_key,
        hashes,
        testing: flags.contains(&"y"),
        strict: flags.contains(&"s"),
    })
}

/// The reason text for a key record that does not allow `hash`.
pub(crate) fn hash_not_allowed(hash: HashAlg) -> String {
    format!("key record h= does not allow {}", hash.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_follow_rfc6376_grammar() {
        let t = tag_list(" a = 1 ;b=2;\r\n\tc=x y ; ").unwrap();
        assert_eq!(
            t,
            vec![
                Tag {
                    name: "a",
                    value: "1"
                },
                Tag {
                    name: "b",
                    value: "2"
                },
                Tag {
                    name: "c",
                    value: "x y"
                }
            ]
        );
        assert!(tag_list("a=1;;b=2").is_err(), "stray semicolon");
        assert!(tag_list("a=1; a=2").is_err(), "duplicate");
        assert!(tag_list("a=1; t; p=x").is_err(), "no '='");
        assert!(tag_list("1a=1").is_err(), "bad name");
        assert_eq!(tag_list("").unwrap(), vec![]);
    }

    #[test]
    fn dkim_signature_required_tags_and_identity() {
        let base = "v=1; a=rsa-sha256; d=Example.COM; s=sel; h=From:To; bh=AAAA; b=AA AA";
        let s = signature(Kind::Dkim, base.as_bytes()).unwrap();
        assert_eq!(s.domain, "example.com");
        assert_eq!(s.headers, vec!["from", "to"]);
        assert_eq!(s.auid, "@example.com");
        assert_eq!((s.header_canon, s.body_canon), (Canon::Simple, Canon::Simple));
        let e = signature(Kind::Dkim, base.replace("v=1", "v=2").as_bytes()).unwrap_err();
        assert!(e.reason.contains("v=2"), "{e:?}");
        assert_eq!(e.domain, "example.com");
        assert!(
            signature(Kind::Dkim, base.replace("v=1; ", "").as_bytes()).is_ok(),
            "draft: no v="
        );
        let e = signature(Kind::Dkim, format!("{base}; i=a@other.org").as_bytes()).unwrap_err();
        assert!(e.reason.contains("not within"), "{e:?}");
        let s = signature(Kind::Dkim, format!("{base}; i=a@sub.example.com").as_bytes()).unwrap();
        assert_eq!(s.auid, "a@sub.example.com");
        let s = signature(Kind::Dkim, format!("{base}; i=jlong=40example.com").as_bytes()).unwrap();
        assert_eq!(s.auid, "jlong@example.com");
        let e = signature(Kind::Dkim, base.replace("From:To", "To").as_bytes()).unwrap_err();
        assert!(e.reason.contains("From"), "{e:?}");
        let e = signature(Kind::Dkim, format!("{base}; q=http").as_bytes()).unwrap_err();
        assert!(e.reason.contains("query"), "{e:?}");
        let s = signature(Kind::Dkim, format!("{base}; c=relaxed").as_bytes()).unwrap();
        assert_eq!((s.header_canon, s.body_canon), (Canon::Relaxed, Canon::Simple));
        let e = signature(Kind::Dkim, format!("{base}; t=20; x=10").as_bytes()).unwrap_err();
        assert!(e.reason.contains("x="), "{e:?}");
    }

    #[test]
    fn arc_seal_fields() {
        let s = signature(
            Kind::Seal,
            b"i=2; a=rsa-sha256; cv=pass; d=example.org; s=s; b=AAAA",
        )
        .unwrap();
        assert_eq!((s.instance, s.cv), (2, ArcChain::Pass));
        assert!(signature(Kind::Seal, b"i=0; a=rsa-sha256; cv=pass; d=e.org; s=s; b=AAAA").is_err());
        assert!(signature(Kind::Seal, b"i=1; a=rsa-sha256; cv=Pass; d=e.org; s=s; b=AAAA").is_err());
        assert!(
            signature(
                Kind::Seal,
                b"i=1; a=rsa-sha256; cv=none; d=e.org; s=s; b=AAAA; h=from"
            )
            .is_err()
        );
    }

    #[test]
    fn key_records() {
        let k = key_record(b"v=DKIM1; k=rsa; t=y:s; h=sha256; p=AAAA").unwrap();
        assert!(k.testing && k.strict && k.allows(HashAlg::Sha256) && !k.allows(HashAlg::Sha1));
        assert_eq!(key_record(b"k=rsa; t=y; p="), Err(KeyRecordError::Revoked));
        assert!(key_record(b"v=DKIM3; p=AAAA").is_err());
        assert!(key_record(b"k=foobar; p=AAAA").is_err());
        assert!(key_record(b"s=chat; p=AAAA").is_err());
        assert!(key_record(b"v=DKIM1; g=*; s=email:web; x1 = y ; p=AAAA ; ").is_ok());
        assert!(key_record(b"").is_err());
    }
}
