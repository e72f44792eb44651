//! Just enough HTML reading to find links and what they claim to be.

use super::Link;
use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::sync::LazyLock;

/// Most links collected from one message.
pub const MAX_LINKS: usize = 512;

/// Appends the `<a href>` links of `html` with their visible text.
pub fn extract_links(html: &str, out: &mut Vec<Link>) {
    let bytes = html.as_bytes();
    let mut pos = 0;
    while out.len() < MAX_LINKS {
        let Some(lt) = find_byte(bytes, pos, b'<') else {
            return;
        };
        let Some(gt) = find_byte(bytes, lt + 1, b'>') else {
            return;
        };
        let tag = &html[lt + 1..gt];
        pos = gt + 1;
        let is_anchor = tag.len() > 1
            && tag.as_bytes()[0].eq_ignore_ascii_case(&b'a')
            && tag.as_bytes()[1].is_ascii_whitespace();
        if !is_anchor {
            continue;
        }
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        // The anchor text runs to the closing </a>.
        let close = find_ci(bytes, pos, b"</a").unwrap_or(bytes.len());
        let text = strip_tags(&html[pos..close]);
        out.push(Link {
            href: decode_entities(href.trim()),
            text: decode_entities(text.trim()),
        });
        pos = close;
    }
}

/// Most form actions kept per message.
pub const MAX_FORM_ACTIONS: usize = 8;

/// The fill-in forms of a message's HTML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forms {
    /// `<form>` elements.
    pub forms: usize,
    /// `<input type="password">` fields, in a form or not.
    pub password_fields: usize,
    /// Where the forms submit (`action`, entities decoded), at most
    /// [`MAX_FORM_ACTIONS`]; a form without one is left out.
    pub actions: Vec<String>,
}

/// Adds the forms and password fields of `html` to `out`.
pub fn scan_forms(html: &str, out: &mut Forms) {
    let bytes = html.as_bytes();
    for lt in memchr::memchr_iter(b'<', bytes) {
        // Only `<form` and `<input` tags are read to their end.
        let name = &html[lt + 1..];
        let is_form = tag_is(name, "form");
        if !is_form && !tag_is(name, "input") {
            continue;
        }
        let Some(gt) = find_byte(bytes, lt + 1, b'>') else {
            return;
        };
        let tag = &html[lt + 1..gt];
        if is_form {
            out.forms += 1;
            if let Some(action) = attribute(tag, "action")
                && out.actions.len() < MAX_FORM_ACTIONS
            {
                out.actions.push(decode_entities(action.trim()));
            }
        } else if attribute(tag, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("password")) {
            out.password_fields += 1;
        }
    }
}

/// The charset a `<meta charset=…>` or `<meta http-equiv="Content-Type"
/// content="…; charset=…">` tag of `html` declares: the first such tag's.
pub fn meta_charset(html: &str) -> Option<&str> {
    for tag in meta_tags(html) {
        let value = attribute(tag, "charset").or_else(|| {
            let content = attribute(tag, "content")?;
            let at = find_ci(content.as_bytes(), 0, b"charset=")?;
            Some(&content[at + "charset=".len()..])
        });
        let label = value.map(|v| {
            let v = v.trim_start_matches(['"', '\'']);
            let end = v
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
                .unwrap_or(v.len());
            &v[..end]
        });
        if let Some(label) = label.filter(|l| !l.is_empty()) {
            return Some(label);
        }
    }
    None
}

/// The target of the first `<meta http-equiv="refresh" content="N;
/// url=…">` of `html`: a page that sends the browser elsewhere.
pub fn meta_refresh(html: &str) -> Option<String> {
    for tag in meta_tags(html) {
        if !attribute(tag, "http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh")) {
            continue;
        }
        let Some(content) = attribute(tag, "content") else {
            continue;
        };
        let Some(at) = find_ci(content.as_bytes(), 0, b"url") else {
            continue;
        };
        let target = content[at + 3..].trim_start().strip_prefix('=').map(str::trim);
        let target = target.map(|t| t.trim_matches(['\'', '"']).trim());
        if let Some(t) = target.filter(|t| !t.is_empty()) {
            return Some(decode_entities(t));
        }
    }
    None
}

/// The `<meta …>` tags of `html`, each from after `<` to before `>` (or
/// the end of an unclosed one).
fn meta_tags(html: &str) -> impl Iterator<Item = &str> {
    let bytes = html.as_bytes();
    memchr::memchr_iter(b'<', bytes)
        .filter(|&lt| tag_is(&html[lt + 1..], "meta"))
        .map(move |lt| &html[lt + 1..find_byte(bytes, lt + 1, b'>').unwrap_or(bytes.len())])
}

/// True when the text after a `<` (`form action=…>`) opens element
/// `name`.
fn tag_is(after_lt: &str, name: &str) -> bool {
    let b = after_lt.as_bytes();
    b.len() >= name.len()
        && b[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && b.get(name.len())
            .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'>'))
}

/// Renders HTML as text: tags removed (block-level ones become line
/// breaks), comments, `<script>`, `<style>`, `<head>` and `<template>`
/// contents dropped, character references decoded. Deterministic on every
/// target (no hashed tables), so the sandbox and native builds agree.
pub fn to_text(html: &str) -> String {
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut pos = 0;
    let mut text_start = 0;
    while pos < b.len() {
        if b[pos] != b'<' {
            pos += 1;
            continue;
        }
        out.push_str(&decode_entities(&html[text_start..pos]));
        if html[pos..].starts_with("<!--") {
            pos = html[pos + 4..].find("-->").map_or(b.len(), |e| pos + 4 + e + 3);
            text_start = pos;
            continue;
        }
        // An unclosed tag runs to the end of the text. (Its last byte need
        // not end a character, so the tag's inside is not `..end - 1`.)
        let (inner_end, end) = find_byte(b, pos + 1, b'>').map_or((b.len(), b.len()), |e| (e, e + 1));
        let inner = &html[pos + 1..inner_end];
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .take(10)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        pos = end;
        if !closing && matches!(name.as_str(), "script" | "style" | "head" | "template" | "title") {
            let close = format!("</{name}");
            pos = find_ci(b, pos, close.as_bytes())
                .map_or(b.len(), |c| find_byte(b, c, b'>').map_or(b.len(), |e| e + 1));
        } else if matches!(
            name.as_str(),
            "br" | "p"
                | "div"
                | "tr"
                | "td"
                | "th"
                | "li"
                | "ul"
                | "ol"
                | "table"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "hr"
                | "blockquote"
                | "pre"
                | "center"
                | "dd"
                | "dt"
                | "body"
                | "html"
        ) {
            out.push('\n');
        }
        text_start = pos;
    }
    if text_start < b.len() {
        out.push_str(&decode_entities(&html[text_start..]));
    }
    out
}

/// Finds where URLs start in text.
static URL_STARTS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(["http://", "https://", "www."])
        .expect("three literals always build")
});

/// Appends `http://`, `https://` and `www.` URLs that appear as plain text.
pub fn extract_bare_urls(text: &str, out: &mut Vec<Link>) {
    let mut pos = 0;
    while out.len() < MAX_LINKS && pos < text.len() {
        let Some(m) = URL_STARTS.find(&text[pos..]) else {
            return;
        };
        let start = pos + m.start();
        // "www." inside a longer token (e.g. "xwww.") is not a URL start.
        if start > 0 && text.as_bytes()[start - 1].is_ascii_alphanumeric() {
            pos = start + m.len();
            continue;
        }
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ')' | ']'))
            .map_or(text.len(), |i| start + i);
        let url = text[start..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if url.len() > 4 && !out.iter().any(|l| l.href == url) {
            out.push(Link {
                href: url.to_string(),
                text: String::new(),
            });
        }
        pos = end.max(start + m.len());
    }
}

fn find_byte(bytes: &[u8], from: usize, b: u8) -> Option<usize> {
    memchr::memchr(b, bytes.get(from..)?).map(|i| from + i)
}

fn find_ci(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|i| from + i)
}

/// The value of attribute `name` in a tag's inside (`a href="x" …`).
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let bytes = tag.as_bytes();
    let mut pos = 0;
    while let Some(i) = find_ci(bytes, pos, name.as_bytes()) {
        pos = i + name.len();
        let before_ok = i > 0 && (bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b'"');
        let mut j = pos;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if !before_ok || j >= bytes.len() || bytes[j] != b'=' {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= bytes.len() {
            return None;
        }
        return Some(match bytes[j] {
            q @ (b'"' | b'\'') => {
                let end = find_byte(bytes, j + 1, q).unwrap_or(bytes.len());
                &tag[j + 1..end]
            }
            _ => {
                let end = tag[j..]
                    .find(|c: char| c.is_ascii_whitespace())
                    .map_or(tag.len(), |k| j + k);
                &tag[j..end]
            }
        });
    }
    None
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    super::collapse_whitespace(&out).into_owned()
}

/// Decodes the common character references (`&amp;`, `&#64;`, `&#x40;`).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // Look for the `;` within 12 bytes; searching bytes (not a `str`
        // slice, whose 12th byte may fall inside a character) keeps this
        // panic-free on any text (fuzz finding crash-9055997c).
        let end = rest.as_bytes()[..rest.len().min(12)]
            .iter()
            .position(|&b| b == b';');
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let ch = match ent {
                "amp" | "AMP" => Some('&'),
                "lt" | "LT" => Some('<'),
                "gt" | "GT" => Some('>'),
                "quot" | "QUOT" => Some('"'),
                "apos" => Some('\''),
                "nbsp" | "NBSP" | "ensp" | "emsp" | "thinsp" => Some(' '),
                "copy" | "COPY" => Some('\u{a9}'),
                "reg" | "REG" => Some('\u{ae}'),
                "trade" => Some('\u{2122}'),
                "hellip" => Some('\u{2026}'),
                "mdash" => Some('\u{2014}'),
                "ndash" => Some('\u{2013}'),
                "lsquo" => Some('\u{2018}'),
                "rsquo" => Some('\u{2019}'),
                "ldquo" => Some('\u{201c}'),
                "rdquo" => Some('\u{201d}'),
                "bull" => Some('\u{2022}'),
                "middot" => Some('\u{b7}'),
                "euro" => Some('\u{20ac}'),
                "pound" => Some('\u{a3}'),
                "cent" => Some('\u{a2}'),
                "yen" => Some('\u{a5}'),
                "sect" => Some('\u{a7}'),
                "deg" => Some('\u{b0}'),
                "times" => Some('\u{d7}'),
                "eacute" => Some('\u{e9}'),
                "egrave" => Some('\u{e8}'),
                "aacute" => Some('\u{e1}'),
                "agrave" => Some('\u{e0}'),
                "uuml" => Some('\u{fc}'),
                "ouml" => Some('\u{f6}'),
                "auml" => Some('\u{e4}'),
                "szlig" => Some('\u{df}'),
                "ccedil" => Some('\u{e7}'),
                "ntilde" => Some('\u{f1}'),
                _ => {
                    let num = ent.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((ch, e + 1))
        });
        match decoded {
            Some((ch, len)) => {
                out.push(ch);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_with_text() {
        let mut links = Vec::new();
        extract_links(
            r#"<p>Go <A HREF="http://evil.example/login?a=1&amp;b=2">https://bank.example.com</a> now
               <a class=x href=http://plain.example/>x<b>y</b></a><a name="n">no</a>"#,
            &mut links,
        );
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].href, "http://evil.example/login?a=1&b=2");
        assert_eq!(links[0].text, "https://bank.example.com");
        assert_eq!(links[1].href, "http://plain.example/");
        assert_eq!(links[1].text, "x y");
    }

    #[test]
    fn bare_urls() {
        let mut links = Vec::new();
        extract_bare_urls(
            "see http://a.example/x, and www.b.example. Not xwww.c.example",
            &mut links,
        );
        let hrefs: Vec<_> = links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(hrefs, ["http://a.example/x", "www.b.example"]);
    }

    #[test]
    fn html_renders_to_text() {
        let t = to_text(
            "<html><head><title>T</title><style>p{color:red}</style></head><body>\
             <p>Free&nbsp;money &amp; <b>more</b></p><!-- hidden --><script>x=1</script>\
             V<!-- -->iagra<br>caf&eacute; &#8364;5 &bogus;</body></html>",
        );
        assert_eq!(
            super::super::collapse_whitespace(t.trim()),
            "Free money & more Viagra caf\u{e9} \u{20ac}5 &bogus;"
        );
        assert_eq!(to_text("no tags"), "no tags");
        assert_eq!(to_text("<unclosed"), "");
    }

    #[test]
    fn entity_decoding_does_not_split_multibyte_characters() {
        // Regression: a `&` followed by a multi-byte character within the
        // 12-byte look-ahead sliced inside that character and panicked.
        assert_eq!(
            decode_entities("&nbsp; 01 \u{201c}51\u{201d}"),
            "  01 \u{201c}51\u{201d}"
        );
        assert_eq!(
            decode_entities("&a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
            "&a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"
        );
        assert_eq!(
            to_text("<p>&\u{201c}\u{201d}\u{201c}\u{201d}</p>").trim(),
            "&\u{201c}\u{201d}\u{201c}\u{201d}"
        );
    }

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a&#64;b&#x2e;c &bogus; &"), "a@b.c &bogus; &");
    }
}
