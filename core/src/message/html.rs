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
    bytes.get(from..)?.iter().position(|&x| x == b).map(|i| from + i)
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
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
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
    fn entities() {
        assert_eq!(decode_entities("a&#64;b&#x2e;c &bogus; &"), "a@b.c &bogus; &");
    }
}
