//! Fill-in forms in the message itself.
//!
//! Mail that wants something typed back usually links to a web page; a
//! form inside the message submits from the reader's mail program, which
//! is what order forms of unsolicited advertising and credential phishing
//! do (the reader never sees an address bar). A password field in a
//! message has no legitimate use: a real service asks for the password on
//! its own site, never in mail.

use super::{Context, Findings};

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &["HTML_FORM", "HTML_FORM_PASSWORD"];

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let forms = cx.message.forms();
    if forms.forms > 0 {
        let actions: Vec<&str> = forms.actions.iter().map(String::as_str).collect();
        findings.fire(cx.pack, "HTML_FORM", &actions);
    }
    if forms.password_fields > 0 {
        let count = forms.password_fields.to_string();
        findings.fire(cx.pack, "HTML_FORM_PASSWORD", &[count.as_str()]);
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::run;
    use crate::message::html::{Forms, scan_forms};

    fn forms(html: &str) -> Forms {
        let mut out = Forms::default();
        scan_forms(html, &mut out);
        out
    }

    #[test]
    fn forms_and_password_fields_are_counted() {
        let cases: &[(&str, usize, usize, &[&str])] = &[
            ("<p>Hello</p>", 0, 0, &[]),
            (
                r#"<FORM METHOD=post ACTION="http://order.example/cgi-bin/buy?a=1&amp;b=2"><input type=text name=cc></form>"#,
                1,
                0,
                &["http://order.example/cgi-bin/buy?a=1&b=2"],
            ),
            (
                r#"<form action='https://login.example/'>User <input type="text"> Password <input type="Password" name=p></form>"#,
                1,
                1,
                &["https://login.example/"],
            ),
            // A form without an action still counts; its action is not listed.
            ("<form><input type=submit></form>", 1, 0, &[]),
            // Words that merely start like the tags are not tags.
            ("<formula>x</formula><inputs type=password>", 0, 0, &[]),
            // An unclosed tag at the end is not read.
            ("<p>text <form action=x", 0, 0, &[]),
            // A password field outside any form.
            ("<input type = password>", 0, 1, &[]),
        ];
        for (html, n, pw, actions) in cases {
            let f = forms(html);
            assert_eq!((f.forms, f.password_fields), (*n, *pw), "{html}");
            assert_eq!(f.actions, *actions, "{html}");
        }
    }

    #[test]
    fn at_most_eight_actions_are_kept() {
        let html = "<form action=http://a.example/></form>".repeat(12);
        let f = forms(&html);
        assert_eq!(f.forms, 12);
        assert_eq!(f.actions.len(), crate::message::html::MAX_FORM_ACTIONS);
    }

    #[test]
    fn the_check_reports_forms_only_in_html() {
        let html = "From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<form action=\"http://x.example/go\">Password: <input type=password></form>\r\n";
        let v = run(&[], html);
        let names: Vec<&str> = v.symbols.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"HTML_FORM"), "{names:?}");
        assert!(names.contains(&"HTML_FORM_PASSWORD"), "{names:?}");
        let form = v.symbols.iter().find(|s| s.name == "HTML_FORM").unwrap();
        assert_eq!(form.options, ["http://x.example/go"]);

        // The same markup as plain text is only text.
        let plain = html.replace("text/html", "text/plain");
        let v = run(&[], &plain);
        assert!(
            v.symbols.iter().all(|s| !s.name.starts_with("HTML_FORM")),
            "{:?}",
            v.symbols
        );
    }
}
