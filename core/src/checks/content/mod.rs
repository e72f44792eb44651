//! Content rules from the pack: header, body and URI patterns.
//!
//! Body patterns see the subject and the visible text (text parts and HTML
//! rendered as text) with whitespace runs collapsed to one space, in one
//! pass of one automaton. URI patterns see each link target. Header
//! patterns see one field's decoded value, its addresses or display names.

use super::{Context, Findings};
use crate::message::collapse_whitespace_into;
use crate::pack::HeaderPart;

/// Symbols this module emits besides the pack's own rules.
pub const SYMBOLS: &[&str] = &["MW_MESSAGE_MALFORMED", "MW_EMPTY_MESSAGE"];

/// Runs the pack's content rules.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let msg = cx.message;
    let pack = cx.pack;
    if msg.raw().iter().all(u8::is_ascii_whitespace) {
        findings.fire(pack, "MW_EMPTY_MESSAGE", &[]);
    }
    if let Some(problem) = msg.parse_problems().first() {
        findings.fire(pack, "MW_MESSAGE_MALFORMED", &[problem]);
    }

    for group in &pack.headers {
        for h in msg.headers_named(&group.header) {
            let text = match group.part {
                HeaderPart::Value => msg.header_text_of(h),
                HeaderPart::Raw => h.unfolded(),
                HeaderPart::Addr | HeaderPart::Name => {
                    let boxes = crate::message::parse_mailboxes(h.value);
                    let parts: Vec<&str> = boxes
                        .iter()
                        .map(|b| match group.part {
                            HeaderPart::Addr => b.address.as_str(),
                            _ => b.name.as_deref().unwrap_or(""),
                        })
                        .collect();
                    parts.join("\n")
                }
            };
            group
                .set
                .scan(&text, &mut |sym, matched| findings.fire_index(sym, matched));
        }
    }

    let mut body = String::with_capacity(msg.text().len() + 128);
    if let Some(s) = msg.subject() {
        collapse_whitespace_into(&mut body, &s);
        body.push(' ');
    }
    collapse_whitespace_into(&mut body, msg.text());
    pack.body
        .scan(&body, &mut |sym, matched| findings.fire_index(sym, matched));

    for link in msg.links() {
        pack.uri
            .scan(&link.href, &mut |sym, _| findings.fire_index(sym, &link.href));
    }
    // Where the forms submit and the links of attached pages, too.
    for pl in cx.links.iter().filter(|l| l.place.is_some()) {
        let shown = pl.shown();
        pack.uri
            .scan(&pl.link.href, &mut |sym, _| findings.fire_index(sym, &shown));
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::run_with_rules;

    const RULES: &str = r#"
[[rule]]
name = "__DATE_PRESENT"
type = "header"
header = "Date"
pattern = '^'
score = 0
description = "d"

[[rule]]
name = "__DATE_HAS_ZONE"
type = "header"
header = "Date"
pattern = '[+-]\d{4}$'
score = 0
description = "d"

[[rule]]
name = "DATE_NO_ZONE"
type = "meta"
expr = "__DATE_PRESENT && !__DATE_HAS_ZONE"
score = 1.5
description = "d"
"#;

    #[test]
    fn helper_rules_feed_meta_rules_but_are_not_reported() {
        let no_zone = run_with_rules(
            RULES,
            &[],
            "Date: Sat, 14 Sep 2002 13:36:40\r\nSubject: s\r\n\r\nbody\r\n",
            0,
        );
        assert!(no_zone.has("DATE_NO_ZONE"), "{:?}", no_zone.symbols);
        assert!(
            no_zone.symbols.iter().all(|s| !s.name.starts_with("__")),
            "{:?}",
            no_zone.symbols
        );
        let with_zone = run_with_rules(
            RULES,
            &[],
            "Date: Sat, 14 Sep 2002 13:36:40 +0200\r\nSubject: s\r\n\r\nbody\r\n",
            0,
        );
        assert!(!with_zone.has("DATE_NO_ZONE"), "{:?}", with_zone.symbols);
        let no_date = run_with_rules(RULES, &[], "Subject: s\r\n\r\nbody\r\n", 0);
        assert!(!no_date.has("DATE_NO_ZONE"), "{:?}", no_date.symbols);
        assert!(
            (no_zone.score - with_zone.score - 1.5).abs() < 1e-9,
            "helpers score nothing"
        );
    }

    /// The same field read as each header part: decoded, as written, as
    /// addresses, as display names.
    #[test]
    fn uri_rules_read_forms_and_attached_pages() {
        const URI: &str = r#"
[[rule]]
name = "URI_PHP_MAILER"
type = "uri"
pattern = '/[a-z]+\.php$'
score = 1
description = "d"
"#;
        let page = |html: &str| {
            format!(
                "From: a@b.example\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
                 --b1\r\nContent-Type: text/plain\r\n\r\nsee the page\r\n\
                 --b1\r\nContent-Type: text/html; name=\"scan.html\"\r\n\
                 Content-Disposition: attachment\r\n\r\n{html}\r\n--b1--\r\n"
            )
        };
        let cases: &[(&str, &[&str])] = &[
            (
                "<form action=\"https://c.example/next.php\"></form>",
                &["scan.html: https://c.example/next.php"],
            ),
            (
                "<a href=\"https://c.example/next.php\">open</a>",
                &["scan.html: https://c.example/next.php"],
            ),
            ("<a href=\"https://c.example/next.html\">open</a>", &[]),
        ];
        for (html, want) in cases {
            let v = run_with_rules(URI, &[], &page(html), 0);
            let got = v
                .symbols
                .iter()
                .find(|s| s.name == "URI_PHP_MAILER")
                .map(|s| s.options.clone())
                .unwrap_or_default();
            assert_eq!(got, *want, "{html}");
        }
    }

    #[test]
    fn header_parts_see_the_field_their_way() {
        const PARTS: &str = r#"
[[rule]]
name = "VALUE_WORD"
type = "header"
header = "From"
pattern = '=\?'
score = 1
description = "d"

[[rule]]
name = "RAW_WORD"
type = "header"
header = "From:raw"
pattern = '^=\?iso-8859-1\?q\?ren=e9\?= <rene@example\.org>$'
score = 1
description = "d"

[[rule]]
name = "RAW_DECODED"
type = "header"
header = "From:raw"
pattern = 'rené'
score = 1
description = "d"

[[rule]]
name = "NAME_DECODED"
type = "header"
header = "From:name"
pattern = '^rené$'
score = 1
description = "d"

[[rule]]
name = "ADDR_ONLY"
type = "header"
header = "From:addr"
pattern = '^rene@example\.org$'
score = 1
description = "d"
"#;
        let v = run_with_rules(
            PARTS,
            &[],
            "From: =?iso-8859-1?q?ren=e9?=\r\n <rene@example.org>\r\nSubject: s\r\n\r\nbody\r\n",
            0,
        );
        let rules = [
            "VALUE_WORD",
            "RAW_WORD",
            "RAW_DECODED",
            "NAME_DECODED",
            "ADDR_ONLY",
        ];
        let mut fired: Vec<&str> = v
            .symbols
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| rules.contains(n))
            .collect();
        fired.sort_unstable();
        assert_eq!(
            fired,
            ["ADDR_ONLY", "NAME_DECODED", "RAW_WORD"],
            "{:?}",
            v.symbols
        );
    }
}
