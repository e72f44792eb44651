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
//! Lookalike hosts are the `lookalike` check's job.

mod parse;

pub use parse::Url;

use super::{Context, Findings};
use crate::domain;
use crate::message::{Link, Message};

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

/// A link of the message with its target parsed.
#[derive(Debug, Clone)]
pub struct ParsedLink<'m> {
    /// The link as found.
    pub link: &'m Link,
    /// Its target.
    pub url: Url,
}

/// The message's web links, parsed (others, like `mailto:`, are skipped).
pub fn parse_links<'m>(msg: &'m Message<'_>) -> Vec<ParsedLink<'m>> {
    msg.links()
        .iter()
        .filter_map(|link| Url::parse(&link.href).map(|url| ParsedLink { link, url }))
        .collect()
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
    for pl in cx.links.iter().take(128) {
        let url = &pl.url;
        let href = pl.link.href.as_str();
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
            let option = format!("{shown} -> {}", url.host);
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
