//! One parsed message, shared by every check.
//!
//! The raw header fields are split by our own code (authentication checks
//! need the exact bytes); MIME decoding, charsets and RFC 2047 words come
//! from `mail-parser`. Parsing never fails: a message mail-parser cannot
//! read still has its raw headers and an empty body view, and
//! [`Message::parse_problems`] says what went wrong.

pub mod charset;
pub mod html;

use std::borrow::Cow;
use std::sync::LazyLock;

/// Parses MIME structure only: other header fields stay raw (we split and
/// decode the ones checks need ourselves), which skips mail-parser's
/// costly parsing of Received and friends.
static BODY_PARSER: LazyLock<mail_parser::MessageParser> = LazyLock::new(|| {
    mail_parser::MessageParser::new()
        .with_mime_headers()
        .default_header_raw()
});

/// Decodes RFC 2047 words of one unstructured field.
static TEXT_PARSER: LazyLock<mail_parser::MessageParser> = LazyLock::new(|| {
    mail_parser::MessageParser::new()
        .header_text(mail_parser::HeaderName::Subject)
        .default_header_ignore()
});

/// Parses one address-list field.
static ADDRESS_PARSER: LazyLock<mail_parser::MessageParser> = LazyLock::new(|| {
    mail_parser::MessageParser::new()
        .header_address(mail_parser::HeaderName::From)
        .default_header_ignore()
});

/// Most bytes of decoded text the content checks look at.
pub const MAX_TEXT_BYTES: usize = 512 * 1024;

/// One header field as it appears in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    /// Field name as written (case preserved), without the colon.
    pub name: &'a str,
    /// Raw value after the colon, folding and line ends kept.
    pub value: &'a [u8],
    /// The whole field including the name and its final line end.
    pub raw: &'a [u8],
}

impl RawHeader<'_> {
    /// The value unfolded, trimmed, invalid UTF-8 replaced.
    pub fn unfolded(&self) -> String {
        unfold(self.value)
    }
}

/// Unfolds a raw header value: line ends removed, whitespace runs kept as
/// written, ends trimmed, invalid UTF-8 replaced.
pub fn unfold(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch != '\r' && ch != '\n' {
            out.push(ch);
        }
    }
    out.trim().to_string()
}

/// A mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    /// Display name, decoded.
    pub name: Option<String>,
    /// The address as written (may be empty or malformed).
    pub address: String,
}

impl Mailbox {
    /// The domain part of the address, lower-cased, if there is one.
    pub fn domain(&self) -> Option<String> {
        domain_of(&self.address)
    }
}

/// The lower-cased domain of an address (`user@Example.COM` → `example.com`).
pub fn domain_of(address: &str) -> Option<String> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    if domain.is_empty() {
        None
    } else {
        Some(domain.to_ascii_lowercase())
    }
}

/// A link found in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The target as written (`href`, or the bare URL in text).
    pub href: String,
    /// The visible anchor text for HTML links; empty for bare URLs.
    pub text: String,
}

/// A message prepared for the checks.
#[derive(Debug)]
pub struct Message<'a> {
    raw: &'a [u8],
    headers: Vec<RawHeader<'a>>,
    body_offset: usize,
    parsed: Option<mail_parser::Message<'a>>,
    text: String,
    links: Vec<Link>,
    forms: html::Forms,
    problems: Vec<&'static str>,
    /// The first From mailbox, parsed on first use (several checks ask).
    from: std::cell::OnceCell<Option<Mailbox>>,
    /// Raw 8-bit fields decoded by the charset detector, by their index in
    /// `headers`, on first use: the content rules and checks read the same
    /// field many times.
    sniffed: std::cell::RefCell<Vec<(usize, String)>>,
    /// The charset detector's budget for this message, what the parts left
    /// of it (see [`charset::Sniffer`]).
    sniffer: std::cell::RefCell<charset::Sniffer>,
}

impl<'a> Message<'a> {
    /// Parses `raw` (CRLF or LF line ends). Never fails.
    pub fn parse(raw: &'a [u8]) -> Self {
        let (headers, body_offset, mut problems) = split_header(raw);
        let parsed = BODY_PARSER.parse(raw);
        if parsed.is_none() {
            problems.push("MIME structure could not be parsed");
        }
        let mut text = String::new();
        let mut links = Vec::new();
        let mut forms = html::Forms::default();
        let mut sniffer = charset::Sniffer::default();
        if let Some(m) = &parsed {
            // HTML is rendered by our own `html::to_text`, not mail-parser's:
            // its entity table is a compile-time hash that misses on wasm32
            // (`&nbsp;` stays literal there), and the checks and the
            // classifier must see the same text natively and in the sandbox.
            // The HTML parts, decoded once: an HTML-only message lists its
            // part as both its text and its HTML body.
            let html_parts: Vec<(u32, Cow<'_, str>)> = m
                .html_body
                .iter()
                .filter_map(|&id| match m.part(id).map(|p| &p.body) {
                    Some(mail_parser::PartType::Html(h)) => {
                        Some((id, part_text(m, raw, id, h, &mut sniffer)))
                    }
                    _ => None,
                })
                .collect();
            for id in &m.text_body {
                match m.part(*id).map(|p| &p.body) {
                    // A text that is already full takes no more parts.
                    _ if text.len() >= MAX_TEXT_BYTES => break,
                    Some(mail_parser::PartType::Text(t)) => {
                        push_limited(&mut text, &part_text(m, raw, *id, t, &mut sniffer))
                    }
                    Some(mail_parser::PartType::Html(h)) => {
                        let h = match html_parts.iter().find(|(i, _)| i == id) {
                            Some((_, h)) => Cow::Borrowed(&**h),
                            None => part_text(m, raw, *id, h, &mut sniffer),
                        };
                        push_limited(&mut text, &html::to_text(&h))
                    }
                    _ => continue,
                }
                if text.len() < MAX_TEXT_BYTES {
                    text.push('\n');
                }
            }
            for (_, h) in &html_parts {
                html::extract_links(h, &mut links);
                html::scan_forms(h, &mut forms);
            }
            if m.parts.iter().any(|p| p.is_encoding_problem) {
                problems.push("a MIME part has an encoding problem");
            }
        } else if body_offset < raw.len() {
            push_limited(&mut text, &String::from_utf8_lossy(&raw[body_offset..]));
        }
        html::extract_bare_urls(&text, &mut links);
        Message {
            raw,
            headers,
            body_offset,
            parsed,
            text,
            links,
            forms,
            problems,
            from: std::cell::OnceCell::new(),
            sniffed: std::cell::RefCell::default(),
            sniffer: std::cell::RefCell::new(sniffer),
        }
    }

    /// The raw message bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The raw body (everything after the blank line).
    pub fn raw_body(&self) -> &'a [u8] {
        &self.raw[self.body_offset.min(self.raw.len())..]
    }

    /// Header fields in message order.
    pub fn headers(&self) -> &[RawHeader<'a>] {
        &self.headers
    }

    /// Header fields called `name` (case-insensitive), in message order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s RawHeader<'a>> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    }

    /// The first header called `name`, unfolded and with RFC 2047 words
    /// decoded.
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.headers_named(name).next().map(|h| self.decode_words(h))
    }

    /// One field's value, unfolded and with RFC 2047 words decoded.
    pub fn header_text_of(&self, header: &RawHeader<'_>) -> String {
        self.decode_words(header)
    }

    fn decode_words(&self, h: &RawHeader<'_>) -> String {
        // A field written in raw 8-bit that is not UTF-8 says nothing of its
        // charset: decode it as the detector guesses (see [`charset`]).
        let unfolded = if charset::needs_sniffing(h.value) {
            self.sniffed(h)
        } else {
            h.unfolded()
        };
        decode_words(unfolded)
    }

    /// A raw 8-bit field decoded by the charset detector, unfolded: run
    /// once per field of this message.
    fn sniffed(&self, h: &RawHeader<'_>) -> String {
        let decode = || unfold(self.sniffer.borrow_mut().decode(h.value, &[]).as_bytes());
        let Some(i) = self.headers.iter().position(|x| std::ptr::eq(x.value, h.value)) else {
            return decode();
        };
        let mut cache = self.sniffed.borrow_mut();
        if let Some((_, text)) = cache.iter().find(|(j, _)| *j == i) {
            return text.clone();
        }
        let text = decode();
        cache.push((i, text.clone()));
        text
    }

    /// Every header called `name`, unfolded and decoded.
    pub fn header_texts(&self, name: &str) -> Vec<String> {
        self.headers_named(name).map(|h| self.decode_words(h)).collect()
    }

    /// The mail-parser view, when the MIME structure was readable.
    pub fn parsed(&self) -> Option<&mail_parser::Message<'a>> {
        self.parsed.as_ref()
    }

    /// The decoded subject.
    pub fn subject(&self) -> Option<String> {
        self.header_text("Subject")
    }

    /// The first mailbox of the first From field (parsed once).
    pub fn from(&self) -> Option<&Mailbox> {
        self.from
            .get_or_init(|| self.mailboxes("From").into_iter().next())
            .as_ref()
    }

    /// The mailboxes of the first field called `name` (From, Reply-To,
    /// Sender, Resent-From, …).
    pub fn mailboxes(&self, name: &str) -> Vec<Mailbox> {
        let Some(h) = self.headers_named(name).next() else {
            return Vec::new();
        };
        parse_mailboxes(h.value)
    }

    /// Visible text of the message: text parts, and HTML parts rendered
    /// as text, at most [`MAX_TEXT_BYTES`].
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Links in the HTML parts and bare URLs in the text.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The fill-in forms in the HTML parts.
    pub fn forms(&self) -> &html::Forms {
        &self.forms
    }

    /// What was wrong with the message's syntax, if anything.
    pub fn parse_problems(&self) -> &[&'static str] {
        &self.problems
    }
}

fn push_limited(out: &mut String, text: &str) {
    let room = MAX_TEXT_BYTES.saturating_sub(out.len());
    if text.len() <= room {
        out.push_str(text);
    } else {
        let mut end = room;
        while end > 0 && !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&text[..end]);
    }
}

/// The text of text part `id` as mail-parser decoded it (`decoded`), or
/// decoded again from its bytes when the part did not say its charset or
/// said one its bytes are not in (see [`charset`]).
fn part_text<'t>(
    m: &mail_parser::Message<'_>,
    raw: &[u8],
    id: u32,
    decoded: &'t str,
    sniffer: &mut charset::Sniffer,
) -> Cow<'t, str> {
    use mail_parser::MimeHeaders;
    // Cheap test first: mail-parser decodes an unlabelled part as UTF-8
    // (invalid bytes become U+FFFD) and an ASCII-labelled one as
    // windows-1252, so text that is all ASCII came from ASCII bytes.
    if decoded.is_ascii() && !decoded.contains('\x1b') {
        return Cow::Borrowed(decoded);
    }
    let Some(part) = m.part(id) else {
        return Cow::Borrowed(decoded);
    };
    let label = part.content_type().and_then(|ct| ct.attribute("charset"));
    if !charset::label_is_weak(label) {
        return Cow::Borrowed(decoded);
    }
    // Decoded as UTF-8 (no label, an unknown one, or utf-8): only a
    // replacement character says the bytes were not UTF-8.
    if !charset::label_is_ascii(label) && !decoded.contains(['\u{fffd}', '\x1b']) {
        return Cow::Borrowed(decoded);
    }
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    let bytes: Cow<'_, [u8]> = match part.encoding {
        mail_parser::Encoding::None => Cow::Borrowed(body),
        mail_parser::Encoding::QuotedPrintable => {
            match mail_parser::decoders::quoted_printable::quoted_printable_decode(body) {
                Some(b) => Cow::Owned(b),
                None => return Cow::Borrowed(decoded),
            }
        }
        mail_parser::Encoding::Base64 => {
            let packed: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            match mail_parser::decoders::base64::base64_decode(&packed) {
                Some(b) => Cow::Owned(b),
                None => return Cow::Borrowed(decoded),
            }
        }
    };
    if !charset::needs_sniffing(&bytes) {
        return Cow::Borrowed(decoded);
    }
    let meta = match part.body {
        mail_parser::PartType::Html(_) => charset::html_meta_charset(&bytes),
        _ => None,
    };
    let mut hints: Vec<&str> = Vec::with_capacity(2);
    hints.extend(meta.as_deref());
    let parent = m
        .parts
        .iter()
        .find(|p| matches!(&p.body, mail_parser::PartType::Multipart(c) if c.contains(&id)));
    hints.extend(
        parent
            .and_then(|p| p.content_type())
            .and_then(|ct| ct.attribute("charset"))
            .filter(|label| !charset::label_is_weak(Some(label))),
    );
    Cow::Owned(sniffer.decode(&bytes, &hints))
}

/// Decodes the RFC 2047 encoded-words of an unfolded field value.
fn decode_words(unfolded: String) -> String {
    if !unfolded.contains("=?") {
        return unfolded;
    }
    // Let mail-parser decode RFC 2047 encoded-words through its
    // unstructured-text parser.
    let mut field = Vec::with_capacity(unfolded.len() + 20);
    field.extend_from_slice(b"Subject: ");
    field.extend_from_slice(unfolded.as_bytes());
    field.extend_from_slice(b"\r\n\r\n");
    TEXT_PARSER
        .parse_headers(&field[..])
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or(unfolded)
}

/// Parses an address-list field value into mailboxes (groups flattened).
pub fn parse_mailboxes(value: &[u8]) -> Vec<Mailbox> {
    let mut field = Vec::with_capacity(value.len() + 12);
    field.extend_from_slice(b"From:");
    field.extend_from_slice(value);
    if !value.ends_with(b"\n") {
        field.extend_from_slice(b"\r\n");
    }
    field.extend_from_slice(b"\r\n");
    let Some(m) = ADDRESS_PARSER.parse_headers(&field[..]) else {
        return Vec::new();
    };
    let Some(addr) = m.from() else {
        return Vec::new();
    };
    addr.iter()
        .map(|a| Mailbox {
            name: a
                .name
                .as_ref()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            address: a.address.as_deref().map(str::trim).unwrap_or("").to_string(),
        })
        .collect()
}

/// Splits the header section into fields. Returns the fields, the offset of
/// the body and the syntax problems seen.
fn split_header(raw: &[u8]) -> (Vec<RawHeader<'_>>, usize, Vec<&'static str>) {
    let mut headers = Vec::new();
    let mut problems = Vec::new();
    let mut pos = 0;
    // An mbox "From " line before the header is not a field.
    if raw.starts_with(b"From ") {
        pos = line_end(raw, 0);
    }
    let mut field_start: Option<(usize, usize)> = None; // (start, colon)
    loop {
        if pos >= raw.len() {
            close_field(raw, field_start.take(), raw.len(), &mut headers);
            return (headers, raw.len(), problems);
        }
        let end = line_end(raw, pos);
        let line = &raw[pos..end];
        let content = trim_eol(line);
        if content.is_empty() {
            close_field(raw, field_start.take(), pos, &mut headers);
            return (headers, end, problems);
        }
        if content[0] == b' ' || content[0] == b'\t' {
            if field_start.is_none() {
                problems.push("continuation line before the first header field");
            }
        } else {
            close_field(raw, field_start.take(), pos, &mut headers);
            match content.iter().position(|&b| b == b':') {
                Some(colon)
                    if colon > 0
                        && content[..colon]
                            .iter()
                            .all(|&b| (33..=126).contains(&b) && b != b':') =>
                {
                    field_start = Some((pos, pos + colon));
                }
                Some(colon)
                    if colon > 0
                        && content[..colon]
                            .trim_ascii_end()
                            .iter()
                            .all(|&b| b > 32 && b < 127) =>
                {
                    // "Name : value" — obsolete syntax with space before the colon.
                    problems.push("space before a header field's colon");
                    field_start = Some((pos, pos + colon));
                }
                _ => problems.push("header line without a field name"),
            }
        }
        pos = end;
    }
}

fn close_field<'a>(raw: &'a [u8], field: Option<(usize, usize)>, end: usize, out: &mut Vec<RawHeader<'a>>) {
    if let Some((start, colon)) = field {
        let name = std::str::from_utf8(raw[start..colon].trim_ascii_end()).unwrap_or("");
        out.push(RawHeader {
            name,
            value: &raw[colon + 1..end],
            raw: &raw[start..end],
        });
    }
}

fn line_end(raw: &[u8], from: usize) -> usize {
    match raw[from..].iter().position(|&b| b == b'\n') {
        Some(i) => from + i + 1,
        None => raw.len(),
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What the character at byte `i` of `text` is to whitespace collapsing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blank {
    /// Not whitespace.
    No,
    /// U+0020, which a collapse keeps as it is when it stands alone.
    Space,
    /// Any other whitespace (`char::is_whitespace`).
    Other,
}

/// The kind and byte length of the character at byte `i` of `text` (a
/// character boundary); only non-ASCII characters are decoded.
#[inline]
fn blank_at(text: &str, i: usize) -> (Blank, usize) {
    match text.as_bytes()[i] {
        b' ' => (Blank::Space, 1),
        // U+0009..U+000D, the other ASCII White_Space characters.
        b'\t'..=b'\r' => (Blank::Other, 1),
        b if b < 0x80 => (Blank::No, 1),
        _ => {
            let c = text[i..].chars().next().unwrap_or(' ');
            let kind = if c.is_whitespace() {
                Blank::Other
            } else {
                Blank::No
            };
            (kind, c.len_utf8())
        }
    }
}

/// Appends `text` to `out` with whitespace runs collapsed to one space
/// (a run at the start of `text` joins a space already ending `out`).
/// Whitespace is Unicode's (`char::is_whitespace`); the text between runs
/// is copied a run at a time, and only non-ASCII characters are decoded.
pub fn collapse_whitespace_into(out: &mut String, text: &str) {
    out.reserve(text.len());
    let mut in_space = out.ends_with(' ');
    // `start..i` is the pending run of non-whitespace.
    let (mut start, mut i) = (0, 0);
    while i < text.len() {
        let (kind, len) = blank_at(text, i);
        if kind != Blank::No {
            if start < i {
                out.push_str(&text[start..i]);
                in_space = false;
            }
            if !in_space {
                out.push(' ');
                in_space = true;
            }
            start = i + len;
        }
        i += len;
    }
    out.push_str(&text[start..]);
}

/// Whether [`collapse_whitespace_into`] would change `text`: it has a
/// whitespace character other than a space, or two in a row.
fn needs_collapse(text: &str) -> bool {
    let (mut after_space, mut i) = (false, 0);
    while i < text.len() {
        let (kind, len) = blank_at(text, i);
        if kind == Blank::Other || kind == Blank::Space && after_space {
            return true;
        }
        after_space = kind == Blank::Space;
        i += len;
    }
    false
}

/// Collapses whitespace runs to one space; used to normalise text for
/// body rules.
pub fn collapse_whitespace(text: &str) -> Cow<'_, str> {
    if !needs_collapse(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    collapse_whitespace_into(&mut out, text);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_folded_fields_and_body() {
        let raw = b"From: A <a@example.com>\r\nSubject: hello\r\n  world\r\nX-Empty:\r\n\r\nbody\r\n";
        let m = Message::parse(raw);
        let names: Vec<_> = m.headers().iter().map(|h| h.name).collect();
        assert_eq!(names, ["From", "Subject", "X-Empty"]);
        assert_eq!(m.subject().as_deref(), Some("hello  world"));
        assert_eq!(m.raw_body(), b"body\r\n");
        assert_eq!(m.from().unwrap().address, "a@example.com");
        assert_eq!(m.from().unwrap().name.as_deref(), Some("A"));
        assert!(m.parse_problems().is_empty());
    }

    #[test]
    fn lf_only_and_encoded_words() {
        let raw = b"Subject: =?utf-8?q?caf=C3=A9?=\nFrom: =?utf-8?b?SsO2cmc=?= <j@example.org>\n\nhi\n";
        let m = Message::parse(raw);
        assert_eq!(m.subject().as_deref(), Some("caf\u{e9}"));
        assert_eq!(m.from().unwrap().name.as_deref(), Some("J\u{f6}rg"));
        assert_eq!(m.from().unwrap().domain().as_deref(), Some("example.org"));
        assert!(m.text().contains("hi"));
    }

    #[test]
    fn garbage_still_parses() {
        for raw in [
            &b""[..],
            b"\0\0\0",
            b"no colon here\n\nbody",
            b" leading continuation\n",
        ] {
            let m = Message::parse(raw);
            assert!(m.headers().len() <= 1);
        }
        let m = Message::parse(b"no colon here\n\nbody");
        assert_eq!(m.parse_problems()[0], "header line without a field name");
    }

    #[test]
    fn whitespace_collapse() {
        assert_eq!(collapse_whitespace("a  b\n\tc"), "a b c");
        let mut s = String::from("x ");
        collapse_whitespace_into(&mut s, "  y\r\n z ");
        assert_eq!(s, "x y z ");
        assert!(matches!(collapse_whitespace("a b c"), Cow::Borrowed(_)));
        // The same as collapsing character by character, Unicode
        // whitespace (no-break space, ideographic space, line separator,
        // vertical tab) included and the unit separator (not whitespace)
        // kept.
        fn reference(out: &mut String, text: &str) {
            let mut in_space = out.ends_with(' ');
            for ch in text.chars() {
                if ch.is_whitespace() {
                    if !in_space {
                        out.push(' ');
                        in_space = true;
                    }
                } else {
                    out.push(ch);
                    in_space = false;
                }
            }
        }
        for (before, text) in [
            ("", ""),
            ("", "plain"),
            ("x ", " lead and trail "),
            ("x", "\u{a0}nbsp\u{a0}\u{a0}déjà\u{3000}vu\u{2028}\u{b}\u{c}\r\n"),
            (
                "",
                "\u{1f}unit\u{1c}sep \u{85}next\u{200b}zw \u{1680}ogham\u{202f}",
            ),
            ("y ", "中文\u{3000}\u{3000}字符\t\t"),
        ] {
            let (mut got, mut want) = (before.to_string(), before.to_string());
            collapse_whitespace_into(&mut got, text);
            reference(&mut want, text);
            assert_eq!(got, want, "{text:?}");
            // The copy-free path decides alike: a no-break space or a
            // vertical tab alone is still collapsed to a space.
            let mut alone = String::new();
            reference(&mut alone, text);
            assert_eq!(collapse_whitespace(text), alone, "{text:?}");
        }
        for text in ["a\u{a0}b", "a\u{b}b", "a\u{3000}b", "\u{2028}"] {
            let mut want = String::new();
            reference(&mut want, text);
            assert_eq!(collapse_whitespace(text), want, "{text:?}");
        }
        assert!(matches!(collapse_whitespace(" a b "), Cow::Borrowed(_)));
        assert!(matches!(collapse_whitespace("déjà vu"), Cow::Borrowed(_)));
    }

    /// Regression (a message of a hundred unlabelled 8-bit parts ran the
    /// charset detector on each and outlasted the sandbox's time budget):
    /// the parts of one message share the detector's budget, so once it is
    /// spent a part decodes as the detector last decided; the text stops
    /// taking parts once it is full.
    #[test]
    fn unlabelled_parts_share_one_sniff_budget() {
        let ru = "Это тестовое письмо, пожалуйста, не отвечайте на него. ";
        // 20 KiB in a single-byte charset: more than the detector reads.
        let part_text = ru.repeat(40 * 1024 / ru.len());
        let part = |e: &'static encoding_rs::Encoding| {
            [
                &b"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n"[..],
                &e.encode(&part_text).0,
                b"\n",
            ]
            .concat()
        };
        let mut raw =
            b"Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n".to_vec();
        for _ in 0..5 {
            raw.extend(part(encoding_rs::KOI8_R));
        }
        raw.extend(part(encoding_rs::WINDOWS_1251));
        raw.extend_from_slice(b"--b--\n");
        let m = Message::parse(&raw);
        let text = m.text();
        assert_eq!(
            text.matches("тестовое письмо").count(),
            5 * part_text.matches("тестовое").count()
        );
        let as_koi8 = encoding_rs::KOI8_R
            .decode(&encoding_rs::WINDOWS_1251.encode(&part_text).0)
            .0
            .into_owned();
        assert!(text.contains(as_koi8.trim()), "the sixth part is read as KOI8-R");
        // Alone, the same windows-1251 part is read as what it is.
        let alone = [
            &b"Subject: x\nContent-Type: text/plain\n\n"[..],
            &encoding_rs::WINDOWS_1251.encode(&part_text).0,
        ]
        .concat();
        assert!(Message::parse(&alone).text().contains(part_text.trim()));
        // A text that is full takes no more parts.
        let big = "word ".repeat(MAX_TEXT_BYTES / 5 + 1);
        let raw = format!(
            "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\n{big}\n--b\nContent-Type: text/plain\n\nafterwards\n--b--\n"
        );
        let m = Message::parse(raw.as_bytes());
        assert_eq!(m.text().len(), MAX_TEXT_BYTES);
        assert!(!m.text().contains("afterwards"));
    }

    /// Regression: text that did not say its charset (or said us-ascii
    /// over 8-bit bytes) was decoded as UTF-8 or windows-1252, so the
    /// checks and the classifier saw replacement characters or mojibake.
    #[test]
    fn unlabelled_charsets_are_decoded() {
        fn qp(bytes: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            for &b in bytes {
                if b >= 0x80 || b == b'=' {
                    out.extend_from_slice(format!("={b:02X}").as_bytes());
                } else {
                    out.push(b);
                }
            }
            out
        }
        fn b64(bytes: &[u8]) -> Vec<u8> {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into_bytes()
        }
        let zh = "这是一封测试邮件，我们提供最优惠的价格和服务，请访问我们的网站。";
        let tw = "這是一封測試郵件，我們提供最優惠的價格和服務，請訪問我們的網站。";
        let ko = "이것은 시험 메일입니다. 수신을 원하지 않으시면 거부를 눌러 주십시오.";
        let ru = "Это тестовое письмо, пожалуйста, не отвечайте на него.";
        let enc = |e: &'static encoding_rs::Encoding, t: &str| e.encode(t).0.into_owned();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "text/plain without a charset, 8-bit GB2312",
                [&b"Subject: x\nContent-Type: text/plain\n\n"[..], &enc(encoding_rs::GBK, zh)].concat(),
                zh,
            ),
            (
                "HTML that names its charset only in <meta>, quoted-printable",
                [
                    &b"Subject: x\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"[..],
                    &qp(&[
                        &b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=big5\"></head><body><p>"[..],
                        &enc(encoding_rs::BIG5, tw),
                        b"</p></body></html>",
                    ]
                    .concat()),
                ]
                .concat(),
                tw,
            ),
            (
                "the charset on the multipart, not on the part; base64",
                [
                    &b"Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"; charset=\"EUC-KR\"\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"[..],
                    &b64(&enc(encoding_rs::EUC_KR, ko)),
                    b"\n--b--\n",
                ]
                .concat(),
                ko,
            ),
            (
                "us-ascii over KOI8-R bytes",
                [&b"Subject: x\nContent-Type: text/plain; charset=us-ascii\n\n"[..], &enc(encoding_rs::KOI8_R, ru)].concat(),
                ru,
            ),
        ];
        for (what, raw, want) in &cases {
            let m = Message::parse(raw);
            assert!(m.text().contains(want), "{what}: {:?}", m.text());
            assert!(!m.text().contains('\u{fffd}'), "{what}");
        }

        // A raw 8-bit Subject in Shift_JIS.
        let ja = "未承諾広告※ご不要な方は配信停止をお送り下さい";
        let raw = [&b"Subject: "[..], &enc(encoding_rs::SHIFT_JIS, ja), b"\n\nbody\n"].concat();
        assert_eq!(Message::parse(&raw).subject().as_deref(), Some(ja));

        // A charset the part names is used as named, even where the
        // detector would guess another.
        let m =
            Message::parse(b"Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9 cr\xe8me\n");
        assert!(m.text().contains("caf\u{e9} cr\u{e8}me"), "{:?}", m.text());
        // UTF-8 text without a charset needs no guess.
        let m = Message::parse("Subject: x\n\ndéjà vu 价格\n".as_bytes());
        assert!(m.text().contains("déjà vu 价格"));
    }
}
