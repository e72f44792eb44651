//! Where the message was written: a ham sign.
//!
//! A company that mails its customers writes the message on its own
//! servers: the Message-ID is minted there (RFC 5322 §3.6.4 recommends a
//! domain identifier of the host that made it) and the first relay that
//! records the message (the oldest `Received` field, RFC 5321 §4.4) is one
//! of its hosts. Spam of the same years forged its From with someone else's
//! domain or a throwaway one, so its Message-ID and first relay rarely
//! agree with it. `FROM_ORG_ORIGIN` fires when all three name one
//! organisation, the message then left it (the newest relay is elsewhere;
//! from a live SMTP client a trace of one relay is enough, since the
//! gateway is then the hop out whether or not the MTA shows the milter its
//! own field), and the From domain is neither a freemail provider (anyone
//! can write there) nor a protected domain (mail claiming our own domains
//! must authenticate, not look consistent).
//!
//! The fields are the sender's word, not proof: the pack scores the sign
//! through a meta rule that voids it when authentication or the lookalike
//! checks contradict it (`origin.toml`).

use super::spoof::in_list;
use super::{Context, Findings};
use crate::domain;
use crate::message::RawHeader;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &["FROM_ORG_ORIGIN"];

/// Most `Received` fields looked at, newest first (a longer trace is read
/// as if it ended there).
const MAX_RECEIVED: usize = 64;

/// Runs the check on inbound mail.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let msg = cx.message;
    let Some(from) = msg.from() else { return };
    let Some(from_domain) = from.domain() else { return };
    if !domain::looks_like_domain(&from_domain)
        || cx.config.is_protected(&from_domain)
        || in_list(cx.pack.list("freemail"), &from_domain)
    {
        return;
    }
    let Some(id) = msg.headers_named("Message-ID").next().map(RawHeader::unfolded) else {
        return;
    };
    let Some(id_domain) = message_id_domain(&id) else {
        return;
    };
    if !domain::same_organisation(id_domain, &from_domain) {
        return;
    }
    // The newest relay with a `by` clause, then the oldest below it: only
    // those two fields are unfolded.
    let received: Vec<&RawHeader<'_>> = msg.headers_named("Received").take(MAX_RECEIVED).collect();
    let by = |h: &RawHeader<'_>| by_host(&h.unfolded()).map(str::to_string);
    let Some((at, newest)) = received.iter().enumerate().find_map(|(i, h)| Some((i, by(h)?))) else {
        return;
    };
    let oldest = match received[at + 1..].iter().rev().find_map(|h| by(h)) {
        Some(oldest) => {
            if domain::same_organisation(&newest, &from_domain) {
                return;
            }
            oldest
        }
        // One relay in the trace. Received from a live SMTP client, this
        // gateway is the hop that took the message out of the From
        // organisation (an MTA need not show a milter the field it adds
        // itself), so the one relay is the first; in a stored message it
        // is the relay that delivered it, which proves nothing.
        None if cx.envelope.client_ip.is_some() => newest,
        None => return,
    };
    if !domain::same_organisation(&oldest, &from_domain) {
        return;
    }
    findings.fire(
        cx.pack,
        "FROM_ORG_ORIGIN",
        &[
            &from_domain,
            &format!("Message-ID @{id_domain}"),
            &format!("first relay {oldest}"),
        ],
    );
}

/// The domain of a Message-ID (`<left@domain>`), when it looks like one.
pub fn message_id_domain(id: &str) -> Option<&str> {
    let inner = id.trim().strip_prefix('<')?.split('>').next()?;
    let (_, d) = inner.rsplit_once('@')?;
    let d = d.trim_end_matches('.');
    domain::looks_like_domain(d).then_some(d)
}

/// The host named by a `Received` field's `by` clause (RFC 5321 §4.4),
/// comments skipped; `None` without one or when it is not a domain name.
pub fn by_host(received: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in received.char_indices() {
        match c {
            '(' => {
                if let Some(s) = start.take() {
                    words.push(&received[s..i]);
                }
                depth += 1;
            }
            ')' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => break,
            c if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    words.push(&received[s..i]);
                }
            }
            _ if depth == 0 && start.is_none() => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(&received[s..]);
    }
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("by"))?;
    let host = words.get(at + 1)?.trim_end_matches('.');
    domain::looks_like_domain(host).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::{by_host, message_id_domain};
    use crate::checks::testing::{run, run_in};
    use crate::{Envelope, Verdict};

    #[test]
    fn by_hosts_of_received_fields() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "from mail.example.com (mail.example.com [192.0.2.1]) by mx.example.org (Postfix) with ESMTP id 1; Mon, 1 Jul 2002 10:00:00 +0000",
                Some("mx.example.org"),
            ),
            // A comment may say "by" too; only the clause counts.
            (
                "(from root@localhost) by news.example.net (8.11.6/8.11.6) id g6; Mon, 1 Jul 2002",
                Some("news.example.net"),
            ),
            (
                "from a (comment by fake.example) BY Real.Example.COM. with SMTP",
                Some("Real.Example.COM"),
            ),
            ("from x by [192.0.2.7] with SMTP", None),
            ("from x with SMTP; by later.example", None),
            ("from host.example.com", None),
            ("by", None),
            ("(unbalanced by a.example", None),
        ];
        for (value, want) in cases {
            assert_eq!(by_host(value), *want, "{value}");
        }
    }

    #[test]
    fn message_id_domains() {
        let cases: &[(&str, Option<&str>)] = &[
            ("<20020701.1234@mail.example.com>", Some("mail.example.com")),
            (" <a@b@news.example.net.> (comment)", Some("news.example.net")),
            ("<1234.localhost>", None),
            ("<x@localhost>", None),
            ("no brackets@example.com", None),
            ("<x@[192.0.2.1]>", None),
        ];
        for (value, want) in cases {
            assert_eq!(message_id_domain(value), *want, "{value}");
        }
    }

    const NEWSLETTER: &str = "Received: from mx.example.org by inbox.example.org with LMTP; Mon, 1 Jul 2002 10:00:02 +0000\r\n\
Received: from out.shop.example (out.shop.example [192.0.2.1]) by mx.example.org with ESMTP; Mon, 1 Jul 2002 10:00:01 +0000\r\n\
Received: (from news@localhost) by out.shop.example (8.11.6) id g61; Mon, 1 Jul 2002 10:00:00 +0000\r\n\
From: Shop News <news@shop.example>\r\nTo: a@example.org\r\nSubject: July offers\r\n\
Message-ID: <20020701100000.g61@out.shop.example>\r\n\r\nOur July offers.\r\n";

    fn fires_in(envelope: &Envelope, raw: &str) -> bool {
        marked(&run_in(envelope, &[], raw))
    }

    fn fires(protected: &[&str], raw: &str) -> bool {
        marked(&run(protected, raw))
    }

    fn marked(v: &Verdict) -> bool {
        v.symbols.iter().any(|s| s.name == "FROM_ORG_ORIGIN")
    }

    #[test]
    fn mail_written_in_the_from_organisation_is_marked() {
        let v = run(&[], NEWSLETTER);
        let s = v.symbols.iter().find(|s| s.name == "FROM_ORG_ORIGIN");
        assert_eq!(
            s.map(|s| s.options.clone()),
            Some(vec![
                "shop.example".to_string(),
                "Message-ID @out.shop.example".to_string(),
                "first relay out.shop.example".to_string()
            ])
        );
    }

    #[test]
    fn inconsistent_or_unprovable_origins_are_not_marked() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "Message-ID elsewhere",
                "@out.shop.example>",
                "@bulk.sender.example>",
            ),
            (
                "no Message-ID",
                "Message-ID: <20020701100000.g61@out.shop.example>\r\n",
                "",
            ),
            (
                "first relay elsewhere",
                "by out.shop.example (8.11.6)",
                "by relay.isp.example (8.11.6)",
            ),
            // One relay only: the one that received it, which proves nothing.
            (
                "one relay",
                "Received: from mx.example.org by inbox.example.org with LMTP; Mon, 1 Jul 2002 10:00:02 +0000\r\n\
Received: from out.shop.example (out.shop.example [192.0.2.1]) by mx.example.org with ESMTP; Mon, 1 Jul 2002 10:00:01 +0000\r\n",
                "",
            ),
            // It never left the organisation: delivered by its own relay.
            (
                "newest relay in the From organisation",
                "by inbox.example.org",
                "by inbox.shop.example",
            ),
        ];
        for (why, from, to) in cases {
            let raw = NEWSLETTER.replace(from, to);
            assert_ne!(raw, NEWSLETTER, "{why}: the case changes nothing");
            assert!(!fires(&[], &raw), "{why}");
        }
        // Anyone can write from a freemail provider's servers.
        let free = NEWSLETTER.replace("shop.example", "gmail.com");
        assert!(!fires(&[], &free));
        assert!(fires(&[], &free.replace("gmail.com", "gmail-shop.example")));
        // Mail claiming a protected domain must authenticate instead.
        assert!(fires(&[], NEWSLETTER));
        assert!(!fires(&["shop.example"], NEWSLETTER));
    }

    #[test]
    fn a_live_smtp_session_counts_as_the_newest_relay() {
        // The gateway is the newest hop, so the sender's own field may be
        // the only one.
        let direct = NEWSLETTER
            .lines()
            .filter(|l| !l.contains("example.org with"))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert_eq!(direct.matches("Received:").count(), 1);
        assert!(!fires(&[], &direct), "a stored message with one relay");
        let session = Envelope {
            client_ip: Some("192.0.2.1".parse().unwrap()),
            ..Envelope::default()
        };
        assert!(
            fires_in(&session, &direct),
            "the same message from an SMTP client"
        );
        assert!(
            !fires_in(
                &session,
                &direct.replace("by out.shop.example", "by relay.isp.example")
            ),
            "its one relay elsewhere"
        );
    }
}
