//! Link checks: what a link shows against where it goes, and URL forms
//! that hide the real destination.
//!
//! * The anchor text shows a URL or domain of another organisation than
//!   the link's target (`<a href="http://evil.example">www.bank.example</a>`),
//!   worse when the shown domain is a protected one.
//! * The host is an IP address, or a number in another form
//!   (`http://3232235777/`).
//! * The authority carries userinfo (`http://www.bank.example@evil.example/`),
//!   worse when the userinfo looks like a domain.
//! * The host is a URL shortener (the pack's `url-shorteners` list).
//!
//! The links read are those of the message's text, where its forms
//! submit, and the links, form targets and refresh targets of its
//! attached pages (an attached login page posting to an IP address is
//! the same lure as a link to one). Lookalike hosts are the `lookalike`
//! check's job.

mod parse;

pub use parse::Url;

use super::attachments::Page;
use super::{Context, Findings};
use crate::domain;
use crate::message::{Link, Message};
use std::borrow::Cow;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "URI_IP_LITERAL",
    "URI_NUMERIC_HOST",
    "URI_USERINFO",
    "URI_USERINFO_DOMAIN",
    "URI_TEXT_DOMAIN_MISMATCH",
    "URI_TEXT_PROTECTED_MISMATCH",
    "URI_SHORTENER",
];

/// Pack lists this check reads.
pub const LISTS: &[&str] = &["url-shorteners"];

/// Most links read from the message's forms and attached pages together.
pub const MAX_OTHER_LINKS: usize = 64;
/// Most links of the message's text the check reads.
const MAX_TEXT_LINKS: usize = 128;

/// A link found outside the message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherLink {
    /// Where it was found: `form` for a form of the message, otherwise
    /// the name of the attached page.
    pub place: String,
    /// The link; a form or refresh target has no text.
    pub link: Link,
}

/// Where the message's forms submit, then the form targets, refresh
/// targets and links of its attached `pages`: [`MAX_OTHER_LINKS`] at
/// most.
pub fn other_links(msg: &Message<'_>, pages: &[Page]) -> Vec<OtherLink> {
    let target = |place: &str, href: &String| OtherLink {
        place: place.to_string(),
        link: Link {
            href: href.clone(),
            text: String::new(),
        },
    };
    let mut out: Vec<OtherLink> = msg.forms().actions.iter().map(|a| target("form", a)).collect();
    for page in pages {
        let targets = page.forms.actions.iter().chain(&page.refresh);
        out.extend(targets.map(|href| target(&page.label, href)));
        out.extend(page.links.iter().map(|link| OtherLink {
            place: page.label.clone(),
            link: link.clone(),
        }));
        if out.len() >= MAX_OTHER_LINKS {
            break;
        }
    }
    out.truncate(MAX_OTHER_LINKS);
    out
}

/// A link of the message with its target parsed.
#[derive(Debug, Clone)]
pub struct ParsedLink<'m> {
    /// The link as found.
    pub link: &'m Link,
    /// Its target.
    pub url: Url,
    /// Where it was found when not in the message's text (see
    /// [`OtherLink::place`]).
    pub place: Option<&'m str>,
}

impl ParsedLink<'_> {
    /// The link as options show it: its target, after the place it was
    /// found in when that is not the message's text (`form: http://…`).
    pub fn shown(&self) -> Cow<'_, str> {
        match self.place {
            None => Cow::Borrowed(&self.link.href),
            Some(place) => Cow::Owned(format!("{place}: {}", self.link.href)),
        }
    }
}

/// The message's web links, parsed (others, like `mailto:`, are
/// skipped): those of its text first, then `others`.
pub fn parse_links<'m>(msg: &'m Message<'_>, others: &'m [OtherLink]) -> Vec<ParsedLink<'m>> {
    let text = msg.links().iter().map(|link| (link, None));
    let others = others.iter().map(|o| (&o.link, Some(o.place.as_str())));
    text.chain(others)
        .filter_map(|(link, place)| Url::parse(&link.href).map(|url| ParsedLink { link, url, place }))
        .collect()
}

/// The links a check reads: at most [`MAX_TEXT_LINKS`] of the message's
/// text, so that a text full of links cannot hide the others, then the
/// others (already bounded by [`MAX_OTHER_LINKS`]).
pub fn bounded<'l, 'm>(links: &'l [ParsedLink<'m>]) -> impl Iterator<Item = &'l ParsedLink<'m>> {
    let split = links
        .iter()
        .position(|l| l.place.is_some())
        .unwrap_or(links.len());
    let (text, others) = links.split_at(split);
    text.iter().take(MAX_TEXT_LINKS).chain(others)
}

/// The host a link's visible text shows, when the text is a URL or a
/// bare domain.
pub fn shown_host(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches('/');
    if t.is_empty() || t.len() > 256 {
        return None;
    }
    if let Some(u) = Url::parse(t) {
        return (!u.host.is_empty()
            && (domain::looks_like_domain(&u.host) || domain::is_ip_literal(&u.host)))
        .then_some(u.host);
    }
    let lower = t.to_lowercase();
    domain::looks_like_domain(&lower).then_some(lower)
}

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let shorteners = cx.pack.list("url-shorteners");
    for pl in bounded(cx.links) {
        let url = &pl.url;
        let shown = pl.shown();
        let href = &*shown;
        if url.numeric_host {
            findings.fire(cx.pack, "URI_NUMERIC_HOST", &[href]);
        }
        if domain::is_ip_literal(&url.host) {
            findings.fire(cx.pack, "URI_IP_LITERAL", &[href]);
        }
        if let Some(user) = &url.userinfo {
            findings.fire(cx.pack, "URI_USERINFO", &[href]);
            let user_host = user
                .rsplit_once('@')
                .map_or(user.as_str(), |(_, h)| h)
                .to_lowercase();
            if domain::looks_like_domain(&user_host) && !domain::same_organisation(&user_host, &url.host) {
                findings.fire(cx.pack, "URI_USERINFO_DOMAIN", &[href]);
            }
        }
        if super::spoof::in_list(shorteners, &url.host) {
            findings.fire(cx.pack, "URI_SHORTENER", &[href]);
        }
        if let Some(shown) = shown_host(&pl.link.text)
            && !domain::same_organisation(&shown, &url.host)
        {
            let option = match pl.place {
                None => format!("{shown} -> {}", url.host),
                Some(place) => format!("{place}: {shown} -> {}", url.host),
            };
            findings.fire(cx.pack, "URI_TEXT_DOMAIN_MISMATCH", &[&option]);
            if cx.config.is_protected(&shown) && !cx.config.is_protected(&url.host) {
                findings.fire(cx.pack, "URI_TEXT_PROTECTED_MISMATCH", &[&option]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_fires_on_deceptive_links() {
        let v = crate::checks::testing::run(
            &["something.com"],
            "From: a@b.example\r\nContent-Type: text/html\r\n\r\n\
             <a href=\"http://evil.example/x\">www.something.com</a>\
             <a href=\"http://www.something.com@login.example/\">x</a>\
             <a href=\"http://3325256727/\">y</a> <a href=\"https://bit.ly/abc\">z</a>\r\n",
        );
        for s in SYMBOLS {
            assert!(v.has(s), "{s}: {:?}", v.symbols);
        }
        let v = crate::checks::testing::run(
            &["something.com"],
            "From: a@b.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://www.something.com/a\">something.com</a>\r\n",
        );
        assert!(v.symbols.is_empty(), "{:?}", v.symbols);
    }

    /// A message whose text has one link and a form, with `page` attached
    /// as `statement.html`.
    fn with_page(page: &str) -> String {
        format!(
            "From: a@b.example\r\nSubject: statement\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/html\r\n\r\n\
             <a href=\"https://www.b.example/\">home</a>\
             <form action=\"http://192.0.2.9/order.cgi\"><input name=q></form>\r\n\
             --b1\r\nContent-Type: text/html; name=\"statement.html\"\r\n\
             Content-Disposition: attachment; filename=\"statement.html\"\r\n\r\n{page}\r\n--b1--\r\n"
        )
    }

    #[test]
    fn forms_and_attached_pages_are_read_after_the_text() {
        let raw = with_page(
            "<meta http-equiv=refresh content=\"0; url=https://go.example/r\">\
             <form action=\"https://collect.example/p.php\"><input type=password></form>\
             <a href=\"mailto:x@y.example\">mail</a><a href=\"http://evil.example/\">www.bank.example</a>",
        );
        let msg = Message::parse(raw.as_bytes());
        let pages = crate::checks::attachments::pages(&msg);
        let others = other_links(&msg, &pages);
        let got: Vec<(&str, &str, &str)> = others
            .iter()
            .map(|o| (o.place.as_str(), o.link.href.as_str(), o.link.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("form", "http://192.0.2.9/order.cgi", ""),
                ("statement.html", "https://collect.example/p.php", ""),
                ("statement.html", "https://go.example/r", ""),
                ("statement.html", "mailto:x@y.example", "mail"),
                ("statement.html", "http://evil.example/", "www.bank.example"),
            ]
        );
        // `mailto:` is no web link; the text's own link comes first.
        let parsed = parse_links(&msg, &others);
        let shown: Vec<_> = parsed.iter().map(|l| l.shown().into_owned()).collect();
        assert_eq!(
            shown,
            [
                "https://www.b.example/",
                "form: http://192.0.2.9/order.cgi",
                "statement.html: https://collect.example/p.php",
                "statement.html: https://go.example/r",
                "statement.html: http://evil.example/",
            ]
        );
    }

    #[test]
    fn the_check_reads_forms_and_attached_pages() {
        let raw = with_page("<a href=\"http://evil.example/\">www.something.com</a>");
        let v = crate::checks::testing::run(&["something.com"], &raw);
        let options = |name: &str| {
            v.symbols
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.options.clone())
                .unwrap_or_default()
        };
        assert_eq!(options("URI_IP_LITERAL"), ["form: http://192.0.2.9/order.cgi"]);
        assert_eq!(
            options("URI_TEXT_PROTECTED_MISMATCH"),
            ["statement.html: www.something.com -> evil.example"]
        );
        // The same page as the message's own text is read as before.
        let v = crate::checks::testing::run(
            &["something.com"],
            "From: a@b.example\r\nContent-Type: text/html\r\n\r\n\
             <a href=\"http://evil.example/\">www.something.com</a>\r\n",
        );
        let s = v.symbols.iter().find(|s| s.name == "URI_TEXT_PROTECTED_MISMATCH");
        assert_eq!(
            s.map(|s| s.options.clone()).unwrap_or_default(),
            ["www.something.com -> evil.example"]
        );
    }

    #[test]
    fn a_text_full_of_links_cannot_hide_the_others() {
        let link = Link {
            href: "https://a.example/".into(),
            text: String::new(),
        };
        let url = Url::parse(&link.href).unwrap();
        let mut links: Vec<ParsedLink<'_>> = (0..300)
            .map(|_| ParsedLink {
                link: &link,
                url: url.clone(),
                place: None,
            })
            .collect();
        links.extend((0..5).map(|_| ParsedLink {
            link: &link,
            url: url.clone(),
            place: Some("form"),
        }));
        let read: Vec<_> = bounded(&links).map(|l| l.place).collect();
        assert_eq!(read.len(), MAX_TEXT_LINKS + 5);
        assert_eq!(read.iter().filter(|p| p.is_some()).count(), 5);
        // Forms and pages give MAX_OTHER_LINKS at most.
        let page = format!(
            "<a href=\"https://p.example/\">x</a>{}",
            "<a href=\"https://q.example/\">y</a>".repeat(200)
        );
        let raw = with_page(&page);
        let msg = Message::parse(raw.as_bytes());
        let others = other_links(&msg, &crate::checks::attachments::pages(&msg));
        assert_eq!(others.len(), MAX_OTHER_LINKS);
        assert_eq!(others[1].link.href, "https://p.example/");
    }

    #[test]
    fn shown_hosts() {
        assert_eq!(
            shown_host("https://www.Bank.example/login").as_deref(),
            Some("www.bank.example")
        );
        assert_eq!(
            shown_host(" www.bank.example ").as_deref(),
            Some("www.bank.example")
        );
        assert_eq!(shown_host("PayPal.com").as_deref(), Some("paypal.com"));
        assert_eq!(shown_host("click here"), None);
        assert_eq!(shown_host("Read more."), None);
        assert_eq!(shown_host("http://192.0.2.7/").as_deref(), Some("192.0.2.7"));
    }
}
