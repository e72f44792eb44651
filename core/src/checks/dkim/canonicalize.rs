//! Canonicalization (RFC 6376 §3.4) and hashing of header fields and
//! bodies, straight from the message's raw bytes.
//!
//! Line ends: a message read from a file may use bare LF; on the wire
//! every line ends in CRLF, so a bare LF counts as CRLF here.

use super::parse::{Canon, HashAlg};
use sha1::Digest as _;

/// A running hash of either kind.
#[derive(Debug, Clone)]
pub(crate) enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Something canonical bytes are written to.
pub(crate) trait Sink {
    fn write(&mut self, data: &[u8]);
}

impl Sink for Hasher {
    fn write(&mut self, data: &[u8]) {
        self.update(data);
    }
}

impl Sink for Vec<u8> {
    fn write(&mut self, data: &[u8]) {
        self.extend_from_slice(data);
    }
}

/// Counts bytes and passes at most `limit` of them on.
struct Limited<'s, S: Sink> {
    inner: &'s mut S,
    limit: u64,
    written: u64,
}

impl<S: Sink> Sink for Limited<'_, S> {
    fn write(&mut self, data: &[u8]) {
        let room = self.limit.saturating_sub(self.written);
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
        if take > 0 {
            self.inner.write(&data[..take]);
        }
        self.written = self.written.saturating_add(data.len() as u64);
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `data` into lines without their line ends; the last element is
/// the text after the final LF (empty when `data` ends with a line end).
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Writes the canonical form of `body` to `sink`; returns the length of
/// the whole canonical body (before any `limit`).
pub(crate) fn body<S: Sink>(canon: Canon, body: &[u8], limit: Option<u64>, sink: &mut S) -> u64 {
    let mut out = Limited {
        inner: sink,
        limit: limit.unwrap_or(u64::MAX),
        written: 0,
    };
    let mut pending_empty = 0u64;
    let mut line_buf: Vec<u8> = Vec::new();
    let pieces: Vec<&[u8]> = lines(body).collect();
    let count = pieces.len();
    for (n, line) in pieces.into_iter().enumerate() {
        // The element after the final LF is not a line unless it has text.
        if n + 1 == count && line.is_empty() {
            break;
        }
        let line: &[u8] = match canon {
            Canon::Simple => line,
            Canon::Relaxed => {
                line_buf.clear();
                let mut in_wsp = false;
                for &b in line {
                    if is_wsp(b) {
                        in_wsp = true;
                    } else {
                        if in_wsp {
                            line_buf.push(b' ');
                            in_wsp = false;
                        }
                        line_buf.push(b);
                    }
                }
                &line_buf
            }
        };
        if line.is_empty() {
            pending_empty += 1;
            continue;
        }
        for _ in 0..pending_empty {
            out.write(b"\r\n");
        }
        pending_empty = 0;
        out.write(line);
        out.write(b"\r\n");
    }
    if out.written == 0 && canon == Canon::Simple {
        // An empty simple body is a single CRLF (RFC 6376 §3.4.3).
        out.write(b"\r\n");
    }
    out.written
}

/// The body hash for one canonicalization, hash and length limit, and the
/// whole canonical body's length.
pub(crate) fn body_hash(canon: Canon, hash: HashAlg, raw_body: &[u8], limit: Option<u64>) -> (Vec<u8>, u64) {
    let mut h = Hasher::new(hash);
    let len = body(canon, raw_body, limit, &mut h);
    (h.finish(), len)
}

/// Writes one header field (`raw`: name, colon, value, with or without the
/// final line end) in canonical form; with `crlf` the canonical line end
/// follows.
pub(crate) fn header<S: Sink>(canon: Canon, raw: &[u8], crlf: bool, out: &mut S) {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    match canon {
        Canon::Simple => {
            // Bytes as they are, a bare LF of a fold counting as CRLF.
            let mut start = 0;
            for (i, &b) in raw.iter().enumerate() {
                if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
                    out.write(&raw[start..i]);
                    out.write(b"\r\n");
                    start = i + 1;
                }
            }
            out.write(&raw[start..]);
        }
        Canon::Relaxed => {
            let colon = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
            let name = raw[..colon].trim_ascii_end();
            let mut buf = Vec::with_capacity(raw.len());
            buf.extend(name.iter().map(u8::to_ascii_lowercase));
            buf.push(b':');
            let value = raw.get(colon + 1..).unwrap_or(&[]);
            let mut in_wsp = false;
            let mut started = false;
            for &b in value {
                match b {
                    b'\r' | b'\n' => {}
                    b' ' | b'\t' => in_wsp = true,
                    _ => {
                        if in_wsp && started {
                            buf.push(b' ');
                        }
                        in_wsp = false;
                        started = true;
                        buf.push(b);
                    }
                }
            }
            out.write(&buf);
        }
    }
    if crlf {
        out.write(b"\r\n");
    }
}

/// The raw signature field with the value of its `b=` tag removed
/// (RFC 6376 §3.7: "the value of the b= tag (including all surrounding
/// whitespace) must be deleted"), everything else kept byte for byte.
pub(crate) fn strip_b_value(raw: &[u8]) -> Vec<u8> {
    let colon = raw.iter().position(|&b| b == b':').map_or(0, |c| c + 1);
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..colon]);
    let value = &raw[colon..];
    let mut start = 0;
    loop {
        let end = value[start..]
            .iter()
            .position(|&b| b == b';')
            .map_or(value.len(), |p| start + p);
        let spec = &value[start..end];
        let name_start = spec
            .iter()
            .position(|b| !b" \t\r\n".contains(b))
            .unwrap_or(spec.len());
        let rest = &spec[name_start..];
        let name_len = rest
            .iter()
            .position(|b| b" \t\r\n=".contains(b))
            .unwrap_or(rest.len());
        let after_name = &rest[name_len..];
        let eq = after_name.iter().position(|b| !b" \t\r\n".contains(b));
        if &rest[..name_len] == b"b" && eq.is_some_and(|e| after_name[e] == b'=') {
            let cut = name_start + name_len + eq.unwrap_or(0) + 1;
            out.extend_from_slice(&spec[..cut]);
        } else {
            out.extend_from_slice(spec);
        }
        if end >= value.len() {
            break;
        }
        out.push(b';');
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon_body(c: Canon, b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        body(c, b, None, &mut v);
        v
    }

    fn canon_header(c: Canon, h: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        header(c, h, true, &mut v);
        v
    }

    #[test]
    fn rfc6376_section_3_4_5_examples() {
        let hdr1 = b"A: X\r\n";
        let hdr2 = b"B : Y\t\r\n\tZ  \r\n";
        assert_eq!(canon_header(Canon::Relaxed, hdr1), b"a:X\r\n");
        assert_eq!(canon_header(Canon::Relaxed, hdr2), b"b:Y Z\r\n");
        assert_eq!(canon_header(Canon::Simple, hdr2), b"B : Y\t\r\n\tZ  \r\n");
        let b = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(canon_body(Canon::Relaxed, b), b" C\r\nD E\r\n");
        assert_eq!(canon_body(Canon::Simple, b), b" C \r\nD \t E\r\n");
    }

    #[test]
    fn empty_and_unterminated_bodies() {
        assert_eq!(canon_body(Canon::Simple, b""), b"\r\n");
        assert_eq!(canon_body(Canon::Simple, b"\r\n\r\n"), b"\r\n");
        assert_eq!(canon_body(Canon::Relaxed, b""), b"");
        assert_eq!(canon_body(Canon::Relaxed, b" \r\n"), b"");
        assert_eq!(canon_body(Canon::Simple, b"abc"), b"abc\r\n");
        assert_eq!(canon_body(Canon::Relaxed, b"a  b \n\nc\n"), b"a b\r\n\r\nc\r\n");
    }

    #[test]
    fn length_limit_counts_canonical_bytes() {
        let mut v = Vec::new();
        let total = body(Canon::Simple, b"hello\r\nworld\r\n", Some(7), &mut v);
        assert_eq!((v.as_slice(), total), (&b"hello\r\n"[..], 14));
    }

    #[test]
    fn b_value_is_removed_but_bh_kept() {
        let raw = b"DKIM-Signature: v=1; bh=abc; b=XY\r\n Z; d=x\r\n";
        assert_eq!(
            strip_b_value(raw),
            b"DKIM-Signature: v=1; bh=abc; b=; d=x\r\n".to_vec()
        );
        let raw = b"ARC-Seal: i=1; b = XYZ\r\n";
        assert_eq!(strip_b_value(raw), b"ARC-Seal: i=1; b =".to_vec());
    }
}
