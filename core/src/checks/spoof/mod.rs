//! Display-name spoofing and Reply-To hijacking: the header From shows one
//! identity while the address, or where replies go, is another.
//!
//! * The display name carries an address or a domain of another
//!   organisation than the From address (`"service@bank.example"
//!   <x@evil.example>`).
//! * The display name names a protected domain or its brand while the
//!   From address is outside the protected domains.
//! * Reply-To sends answers to another organisation, to a freemail
//!   mailbox (the pack's `freemail` list), or out of a protected domain the
//!   From claims.

use super::{Context, Findings};
use crate::domain;
use crate::message::Mailbox;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "FROM_NAME_HAS_ADDRESS",
    "FROM_NAME_HAS_DOMAIN",
    "FROM_NAME_PROTECTED_BRAND",
    "REPLYTO_OTHER_DOMAIN",
    "REPLYTO_FREEMAIL",
    "REPLYTO_LEAVES_PROTECTED",
];

/// Pack lists this check reads.
pub const LISTS: &[&str] = &["freemail"];

/// Words of a display name: runs of letters, digits, `.`, `-`, `@`, `_`, `+`.
fn name_tokens(name: &str) -> impl Iterator<Item = &str> {
    name.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '@' | '_' | '+')))
        .map(|t| t.trim_matches(['.', '-']))
        .filter(|t| !t.is_empty())
}

/// The first address in a display name of another organisation than
/// `from_domain`, and the first domain shown likewise.
fn name_identities(name: &str, from_domain: &str) -> (Option<String>, Option<String>) {
    let mut address = None;
    let mut shown = None;
    for tok in name_tokens(name) {
        let lower = tok.to_lowercase();
        if let Some((_, d)) = lower.rsplit_once('@') {
            if domain::looks_like_domain(d) && !domain::same_organisation(d, from_domain) && address.is_none()
            {
                address = Some(lower.clone());
            }
        } else if domain::looks_like_domain(&lower)
            && !domain::same_organisation(&lower, from_domain)
            && shown.is_none()
        {
            shown = Some(lower);
        }
    }
    (address, shown)
}

/// True when `host` (or its organisation) is in the sorted pack list.
pub fn in_list(list: &[String], host: &str) -> bool {
    let host = domain::normalise(host);
    let found = |h: &str| list.binary_search_by(|x| x.as_str().cmp(h)).is_ok();
    found(&host) || found(domain::registrable(&host))
}

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let msg = cx.message;
    let Some(from) = msg.from() else { return };
    let Some(from_domain) = from.domain() else { return };
    let from_protected = cx.config.is_protected(&from_domain);

    if let Some(name) = &from.name {
        let (address, shown) = name_identities(name, &from_domain);
        if let Some(a) = &address {
            findings.fire(
                cx.pack,
                "FROM_NAME_HAS_ADDRESS",
                &[&format!("{a} <> {}", from.address)],
            );
        }
        if let Some(d) = &shown {
            findings.fire(
                cx.pack,
                "FROM_NAME_HAS_DOMAIN",
                &[&format!("{d} <> {from_domain}")],
            );
        }
        if !from_protected {
            let lower = name.to_lowercase();
            let words: Vec<String> = name_tokens(&lower)
                .map(|t| t.rsplit_once('@').map_or(t, |(_, d)| d).to_string())
                .collect();
            let brand = cx.config.lookalikes.brands().find(|(dom, label)| {
                words.iter().any(|w| {
                    w == dom
                        || domain::registrable(w) == *dom
                        || (label.chars().count() >= 4 && (w == label || w.replace('-', "") == *label))
                })
            });
            if let Some((dom, _)) = brand {
                findings.fire(
                    cx.pack,
                    "FROM_NAME_PROTECTED_BRAND",
                    &[&format!("{name} <{}> shows {dom}", from.address)],
                );
            }
        }
    }

    let reply_to: Vec<Mailbox> = msg.mailboxes("Reply-To");
    let freemail = cx.pack.list("freemail");
    for r in reply_to.iter().take(4) {
        let Some(rd) = r.domain() else { continue };
        if domain::same_organisation(&rd, &from_domain) {
            continue;
        }
        let option = format!("{} -> {}", from.address, r.address);
        findings.fire(cx.pack, "REPLYTO_OTHER_DOMAIN", &[&option]);
        if in_list(freemail, &rd) {
            findings.fire(cx.pack, "REPLYTO_FREEMAIL", &[&option]);
        }
        if from_protected && !cx.config.is_protected(&rd) {
            findings.fire(cx.pack, "REPLYTO_LEAVES_PROTECTED", &[&option]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_in_display_names() {
        assert_eq!(
            name_identities("service@paypal.com via PayPal", "evil.example"),
            (Some("service@paypal.com".into()), None)
        );
        assert_eq!(name_identities("Amazon.com", "amazon.com"), (None, None));
        assert_eq!(
            name_identities("PayPal.com Security", "evil.example"),
            (None, Some("paypal.com".into()))
        );
        assert_eq!(name_identities("John Q. Public", "example.org"), (None, None));
        assert_eq!(
            name_identities("Jane (jane@mail.example.org)", "example.org"),
            (None, None),
            "same organisation"
        );
    }

    #[test]
    fn check_fires_on_spoofed_names_and_replies() {
        let v = crate::checks::testing::run(
            &["something.com"],
            "From: \"Something.com Support\" <help@mailer.example>\r\nReply-To: x@gmail.com\r\n\r\nhi\r\n",
        );
        for s in [
            "FROM_NAME_PROTECTED_BRAND",
            "FROM_NAME_HAS_DOMAIN",
            "REPLYTO_OTHER_DOMAIN",
            "REPLYTO_FREEMAIL",
        ] {
            assert!(v.has(s), "{s}: {:?}", v.symbols);
        }
        assert!(!v.has("REPLYTO_LEAVES_PROTECTED"));
        let v = crate::checks::testing::run(
            &["something.com"],
            "From: IT <it@something.com>\r\nReply-To: it@helpdesk.example\r\n\r\nhi\r\n",
        );
        assert!(
            v.has("REPLYTO_LEAVES_PROTECTED") && !v.has("REPLYTO_FREEMAIL"),
            "{:?}",
            v.symbols
        );
        let v = crate::checks::testing::run(&["something.com"], "From: Bob <bob@example.org>\r\n\r\nhi\r\n");
        assert!(v.symbols.is_empty(), "{:?}", v.symbols);
    }

    #[test]
    fn list_lookup() {
        let list: Vec<String> = vec!["gmail.com".into(), "yahoo.co.uk".into(), "yahoo.com".into()];
        assert!(in_list(&list, "GMAIL.com"));
        assert!(in_list(&list, "mail.yahoo.co.uk"));
        assert!(!in_list(&list, "example.com"));
    }
}
