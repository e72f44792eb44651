//! A webmail provider's address that the provider never relayed.
//!
//! The large webmail providers send their users' mail from their own
//! servers, whatever program the user writes in, and every server on the
//! way records itself in a `Received` field (RFC 5321 §4.4): the provider's
//! outbound relay appears in the trace as the `by` host of its own field,
//! and as the `from` host (its HELO name or reverse name) in the next
//! server's. Spam that puts a Yahoo, Hotmail or Gmail address in its From
//! comes from somewhere else, and no host of the provider appears at all.
//! `FREEMAIL_FROM_UNRELAYED` fires then.
//!
//! The providers and the domains their relays use are pack data: the list
//! `freemail-relays`, one entry per provider, its registrable domains
//! separated by spaces (`"gmail.com googlemail.com google.com"`). A From
//! domain of no entry is not judged: smaller providers let their users send
//! through other servers (an ISP's relay, a university's).
//!
//! Not judged either: mail that came through a mailing list or was sent by
//! someone on the author's behalf (a list or a service may post what a
//! webmail user wrote from its own servers: Yahoo Groups' and Gmane's web
//! posting, "mail this article" pages), which these header fields announce;
//! and a stored message without any `Received` field (no trace, no
//! evidence). From a live SMTP client the client's HELO name counts as a
//! relay, since the gateway's own field may not be shown to a milter.
//!
//! The trace is the sender's word, and a forged trace that names the
//! provider silences the check: it can only miss a forgery, not invent one.
//! Authentication says more where DNS is at hand; the pack's meta rule
//! leaves out mail that authenticated for its From domain.

use super::{Context, Findings};
use crate::domain;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &["FREEMAIL_FROM_UNRELAYED"];

/// Pack lists this check reads.
pub const LISTS: &[&str] = &["freemail-relays"];

/// Most `Received` fields read; a longer trace is not judged (the
/// provider's own fields are the oldest, at its end).
const MAX_RECEIVED: usize = 64;

/// Header fields of mailing lists and of mail sent on the author's behalf.
const RELAYED_BY_OTHERS: &[&str] = &[
    "List-Id",
    "List-Post",
    "List-Unsubscribe",
    "Mailing-List",
    "X-Mailing-List",
    "X-Beenthere",
    "Sender",
];

/// The entry of `relays` (space-separated registrable domains) that holds
/// `host`'s registrable domain.
pub fn provider<'a>(relays: &'a [String], host: &str) -> Option<&'a str> {
    relays
        .iter()
        .map(String::as_str)
        .find(|entry| in_provider(entry, host))
}

/// True when `provider` (an entry of the list) names `host`'s registrable
/// domain.
fn in_provider(provider: &str, host: &str) -> bool {
    let host = domain::normalise(host);
    let org = domain::registrable(&host);
    provider.split_whitespace().any(|d| d.eq_ignore_ascii_case(org))
}

/// The host names a `Received` field shows before its date: the `from`
/// clause's HELO name and reverse name (also as `helo=name`), the `by`
/// host, and names in comments. Addresses (`for <a@b>`, `envelope-from
/// a@b`) are not domain names and are skipped with the other words.
pub fn received_hosts(received: &str) -> impl Iterator<Item = &str> {
    let trace = received.rsplit_once(';').map_or(received, |(t, _)| t);
    trace
        .split(|c: char| c.is_whitespace() || "()[]<>,;\"".contains(c))
        .map(|t| t.rsplit_once('=').map_or(t, |(_, v)| v).trim_end_matches('.'))
        .filter(|t| domain::looks_like_domain(t))
}

/// Runs the check on inbound mail.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let msg = cx.message;
    let Some(from) = msg.from() else { return };
    let Some(from_domain) = from.domain() else { return };
    let Some(provider) = provider(cx.pack.list("freemail-relays"), &from_domain) else {
        return;
    };
    if RELAYED_BY_OTHERS
        .iter()
        .any(|name| msg.headers_named(name).next().is_some())
    {
        return;
    }
    let received: Vec<String> = msg
        .headers_named("Received")
        .take(MAX_RECEIVED + 1)
        .map(|h| h.unfolded())
        .collect();
    let helo = cx.envelope.client_ip.and(cx.envelope.helo.as_deref());
    if received.len() > MAX_RECEIVED || (received.is_empty() && cx.envelope.client_ip.is_none()) {
        return;
    }
    let relayed = received
        .iter()
        .flat_map(|r| received_hosts(r))
        .chain(helo)
        .any(|host| in_provider(provider, host));
    if relayed {
        return;
    }
    let trace = match received.len() {
        1 => "1 Received field".to_string(),
        n => format!("{n} Received fields"),
    };
    findings.fire(
        cx.pack,
        "FREEMAIL_FROM_UNRELAYED",
        &[&from_domain, &format!("{trace}, none by the provider")],
    );
}

#[cfg(test)]
mod tests {
    use super::{provider, received_hosts};
    use crate::checks::testing::{run, run_in};
    use crate::{Envelope, Verdict};

    #[test]
    fn hosts_of_received_fields() {
        let cases: &[(&str, &[&str])] = &[
            (
                "from web12.mail.yahoo.com (web12.mail.yahoo.com [216.136.173.1]) by mx.example.org (Postfix) with ESMTP id 1 for <a@example.org>; Mon, 1 Jul 2002 10:00:00 +0000",
                &["web12.mail.yahoo.com", "web12.mail.yahoo.com", "mx.example.org"],
            ),
            (
                "from usw-sf-list1-b.sourceforge.net ([10.3.1.13] helo=usw-sf-list1.sourceforge.net) by usw-sf-list2.sourceforge.net with esmtp (Exim 3.31-VA-mm2 #1 (Debian)) id 17mbxo",
                &[
                    "usw-sf-list1-b.sourceforge.net",
                    "usw-sf-list1.sourceforge.net",
                    "usw-sf-list2.sourceforge.net",
                ],
            ),
            // Addresses, versions and the date are not hosts.
            (
                "from [192.0.2.9] by relay.example.net (8.11.6/8.11.6) with SMTP (envelope-from x@yahoo.com) for <bob@hotmail.com>; Mon, 1 Jul 2002 mail.yahoo.com",
                &["relay.example.net"],
            ),
            (
                "from mail pickup service by hotmail.com with Microsoft SMTPSVC; Mon, 1 Jul 2002",
                &["hotmail.com"],
            ),
        ];
        for (value, want) in cases {
            assert_eq!(received_hosts(value).collect::<Vec<_>>(), *want, "{value}");
        }
    }

    #[test]
    fn providers_are_found_by_registrable_domain() {
        let relays = vec![
            "gmail.com googlemail.com google.com".to_string(),
            "yahoo.com yahoo.co.uk".to_string(),
        ];
        assert_eq!(
            provider(&relays, "GMail.com."),
            Some("gmail.com googlemail.com google.com")
        );
        assert_eq!(
            provider(&relays, "mail-yw1.google.com"),
            Some("gmail.com googlemail.com google.com")
        );
        assert_eq!(provider(&relays, "yahoo.co.uk"), Some("yahoo.com yahoo.co.uk"));
        assert_eq!(provider(&relays, "co.uk"), None);
        assert_eq!(provider(&relays, "gmail.com.example"), None);
        assert_eq!(provider(&relays, "example.com"), None);
    }

    const SPOOFED: &str = "Received: from mx.example.org by inbox.example.org with LMTP; Mon, 1 Jul 2002 10:00:02 +0000\r\n\
Received: from pc7.dsl.example.net (pc7.dsl.example.net [192.0.2.7]) by mx.example.org with SMTP; Mon, 1 Jul 2002 10:00:01 +0000\r\n\
From: \"Jane\" <jane4781@yahoo.com>\r\nTo: a@example.org\r\nSubject: hi\r\n\
Message-ID: <abc@pc7>\r\n\r\nMake money fast.\r\n";

    fn fired(v: &Verdict) -> Option<Vec<String>> {
        v.symbols
            .iter()
            .find(|s| s.name == "FREEMAIL_FROM_UNRELAYED")
            .map(|s| s.options.clone())
    }

    #[test]
    fn a_provider_address_sent_from_elsewhere_fires() {
        assert_eq!(
            fired(&run(&[], SPOOFED)),
            Some(vec![
                "yahoo.com".to_string(),
                "2 Received fields, none by the provider".to_string()
            ])
        );
    }

    #[test]
    fn relayed_listed_or_unjudged_mail_does_not_fire() {
        let long_trace =
            "Received: from hop.example.net by hop.example.net; Mon, 1 Jul 2002 10:00:00 +0000\r\n"
                .repeat(64)
                + "Received: from mx.example.org";
        let cases: &[(&str, &str, &str)] = &[
            (
                "the provider's relay as the client",
                "from pc7.dsl.example.net (pc7.dsl.example.net",
                "from smtp104.mail.sc5.yahoo.com (smtp104.mail.sc5.yahoo.com",
            ),
            (
                "the provider's relay as a by host",
                "Received: from mx.example.org",
                "Received: from [192.0.2.7] by web12.mail.yahoo.com via HTTP; Mon, 1 Jul 2002 10:00:00 +0000\r\nReceived: from mx.example.org",
            ),
            (
                "another relay domain of the same provider",
                "From: \"Jane\" <jane4781@yahoo.com>",
                "From: \"Jane\" <jane4781@aol.com>\r\nReceived: from imo-m01.mx.yahoo.com by pc7.dsl.example.net",
            ),
            (
                "a provider the list does not name",
                "jane4781@yahoo.com",
                "jane4781@example.com",
            ),
            (
                "a mailing list",
                "Subject: hi\r\n",
                "Subject: hi\r\nList-Id: <talk.lists.example.org>\r\n",
            ),
            (
                "sent on the author's behalf",
                "Subject: hi\r\n",
                "Subject: hi\r\nSender: news@stories.example.com\r\n",
            ),
            (
                "a trace too long to read to its end",
                "Received: from mx.example.org",
                &long_trace,
            ),
            (
                "no trace at all",
                "Received: from mx.example.org by inbox.example.org with LMTP; Mon, 1 Jul 2002 10:00:02 +0000\r\n\
Received: from pc7.dsl.example.net (pc7.dsl.example.net [192.0.2.7]) by mx.example.org with SMTP; Mon, 1 Jul 2002 10:00:01 +0000\r\n",
                "",
            ),
        ];
        for (why, from, to) in cases {
            let raw = SPOOFED.replacen(from, to, 1);
            assert_ne!(raw, SPOOFED, "{why}: the case changes nothing");
            assert_eq!(fired(&run(&[], &raw)), None, "{why}");
        }
    }

    #[test]
    fn a_live_client_counts_by_its_helo() {
        let bare = "From: <jane4781@yahoo.com>\r\nTo: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";
        let live = |helo: &str| Envelope {
            client_ip: Some("192.0.2.7".parse().unwrap()),
            helo: Some(helo.to_string()),
            ..Envelope::default()
        };
        assert_eq!(fired(&run(&[], bare)), None, "a stored message without a trace");
        assert_eq!(
            fired(&run_in(&live("pc7.dsl.example.net"), &[], bare)),
            Some(vec![
                "yahoo.com".to_string(),
                "0 Received fields, none by the provider".to_string()
            ])
        );
        assert_eq!(
            fired(&run_in(&live("sonic301.consmr.mail.ne1.yahoo.com"), &[], bare)),
            None
        );
    }
}
