//! rspamd's `/checkv2` protocol: the request headers that carry the
//! envelope, and the JSON answer rspamd clients (`rspamc`, Haraka's
//! plugin, Exim's `spam = ...:variant=rspamd`, rspamd's own proxy) read.

use crate::forged::Present;
use mailward_core::{Action, Direction, Envelope, Verdict};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// rspamd's name for a mailward action.
///
/// | mailward | rspamd |
/// |---|---|
/// | accept | `no action` |
/// | add-header | `add header` |
/// | quarantine | `quarantine` (rspamd's own action of that name) |
/// | reject | `reject` |
/// | tempfail | `soft reject` |
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Accept => "no action",
        Action::AddHeader => "add header",
        Action::Quarantine => "quarantine",
        Action::Reject => "reject",
        Action::Tempfail => "soft reject",
    }
}

/// The envelope from rspamd's request headers: `IP`, `Helo`, `From`,
/// `Rcpt` (repeatable, or comma-separated), `User` (the authenticated
/// user: outbound), `Queue-Id`. `get_all(name)` yields every value of a
/// header (case-insensitive).
pub fn envelope<'a, F, I>(get_all: F) -> Envelope
where
    F: Fn(&str) -> I,
    I: Iterator<Item = &'a str>,
{
    let one = |n: &str| {
        get_all(n)
            .next()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let addr = |v: &str| v.trim().trim_start_matches('<').trim_end_matches('>').to_string();
    let rcpt_to = get_all("Rcpt")
        .flat_map(|v| v.split(','))
        .map(addr)
        .filter(|r| !r.is_empty())
        .collect();
    let auth_user = one("User");
    Envelope {
        client_ip: one("IP").and_then(|ip| ip.trim_start_matches("IPv6:").parse().ok()),
        helo: one("Helo"),
        mail_from: one("From").map(|f| addr(&f)).unwrap_or_default(),
        rcpt_to,
        direction: if auth_user.is_some() {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        auth_user,
        queue_id: one("Queue-Id"),
    }
}

/// The `Message-ID` of `message` (without brackets), for the answer.
pub fn message_id(message: &[u8]) -> Option<String> {
    let (_, value) = crate::header_fields(message)
        .into_iter()
        .find(|(name, _)| name.trim_start().eq_ignore_ascii_case("message-id"))?;
    // A msg-id has no whitespace inside; folding may only put some around it.
    let v: String = value.split_whitespace().collect();
    Some(v.trim_start_matches('<').trim_end_matches('>').to_string())
}

/// The `/checkv2` answer for a verdict; `present` are the received fields
/// that mailward writes ([`crate::forged`]), for `milter.remove_headers`.
pub fn answer(
    verdict: &Verdict,
    message_id: Option<String>,
    present: &[Present],
    elapsed: Duration,
) -> Value {
    let mut symbols = Map::new();
    for s in &verdict.symbols {
        symbols.insert(
            s.name.clone(),
            json!({
                "name": s.name,
                "score": s.score,
                "metric_score": s.score,
                "description": s.description,
                "options": s.options,
            }),
        );
    }
    let mut add_headers = Map::new();
    for (order, h) in verdict.headers.iter().enumerate() {
        let entry = json!({"value": h.value, "order": order});
        match add_headers.get_mut(&h.name) {
            Some(Value::Array(a)) => a.push(entry),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, entry]);
            }
            None => {
                add_headers.insert(h.name.clone(), entry);
            }
        }
    }
    // rspamd's milter: a name maps to the field to delete (1 = the first)
    // or 0 for all of them, and deletions come before additions.
    let mut remove_headers = Map::new();
    let forged = crate::forged::forged(verdict, present);
    for p in &forged {
        let of_name = present
            .iter()
            .filter(|q| q.name.eq_ignore_ascii_case(&p.name))
            .count();
        let doomed = forged
            .iter()
            .filter(|q| q.name.eq_ignore_ascii_case(&p.name))
            .count();
        let key = present
            .iter()
            .find(|q| q.name.eq_ignore_ascii_case(&p.name))
            .map_or(p.name.clone(), |q| q.name.clone());
        if doomed == of_name {
            remove_headers.insert(key, json!(0));
        } else if !remove_headers.contains_key(&key) {
            // rspamd takes one index per name: when forged fields of a name
            // are interleaved with kept ones, the last forged one goes.
            remove_headers.insert(key, json!(p.index));
        }
    }
    let mut messages = Map::new();
    if let Some(r) = &verdict.reply {
        messages.insert("smtp_message".into(), json!(format!("{} {}", r.enhanced, r.text)));
    }
    let mut out = json!({
        "is_skipped": false,
        "score": verdict.score,
        "required_score": verdict.required_score,
        "action": action_name(verdict.action),
        "symbols": symbols,
        "messages": messages,
        "time_real": elapsed.as_secs_f64(),
        "milter": {"add_headers": add_headers, "remove_headers": remove_headers},
        "mailward": {
            "action": verdict.action.as_str(),
            "pack": format!("{}/{}", verdict.rule_pack.name, verdict.rule_pack.version),
            "reply": verdict.reply.as_ref().map(|r| format!("{} {} {}", r.code, r.enhanced, r.text)),
        },
    });
    if let Some(id) = message_id {
        out["message-id"] = json!(id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailward_core::{Header, PackInfo, SmtpReply, Symbol};

    #[test]
    fn request_headers_make_the_envelope() {
        let headers = [
            ("IP", "203.0.113.66"),
            ("Helo", "mx.phisher.example"),
            ("From", "<admin@something.com>"),
            ("Rcpt", "<jane@something.com>"),
            ("Rcpt", "a@x.example, b@y.example"),
            ("User", "bob@something.com"),
            ("Queue-Id", "4F2A61C0042"),
        ];
        let e = envelope(|n| {
            headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .into_iter()
        });
        assert_eq!(e.client_ip, Some("203.0.113.66".parse().unwrap()));
        assert_eq!(e.helo.as_deref(), Some("mx.phisher.example"));
        assert_eq!(e.mail_from, "admin@something.com");
        assert_eq!(e.rcpt_to, ["jane@something.com", "a@x.example", "b@y.example"]);
        assert_eq!(e.auth_user.as_deref(), Some("bob@something.com"));
        assert_eq!(e.direction, Direction::Outbound);
        assert_eq!(e.queue_id.as_deref(), Some("4F2A61C0042"));
        let e = envelope(|_| std::iter::empty());
        assert_eq!(e, Envelope::default());
    }

    #[test]
    fn answer_has_rspamds_shape() {
        let v = Verdict {
            action: Action::Reject,
            score: 44.1,
            required_score: 15.0,
            symbols: vec![Symbol {
                name: "PHISH_CRED_LURE".into(),
                score: 10.0,
                description: "lure".into(),
                options: vec!["password".into()],
            }],
            headers: vec![
                Header {
                    name: "X-Mailward".into(),
                    value: "reject".into(),
                },
                Header {
                    name: "X-Mailward".into(),
                    value: "second".into(),
                },
            ],
            reply: Some(SmtpReply {
                code: 550,
                enhanced: "5.7.1".into(),
                text: "no".into(),
            }),
            rule_pack: PackInfo::default(),
            alerts: vec![],
        };
        let id = message_id(b"Subject: x\r\nMessage-ID:\r\n <id@host>\r\n\r\nbody");
        let a = answer(&v, id, &[], Duration::from_millis(2));
        assert_eq!(a["action"], "reject");
        assert_eq!(a["score"], 44.1);
        assert_eq!(a["required_score"], 15.0);
        assert_eq!(a["symbols"]["PHISH_CRED_LURE"]["name"], "PHISH_CRED_LURE");
        assert_eq!(a["symbols"]["PHISH_CRED_LURE"]["score"], 10.0);
        assert_eq!(a["symbols"]["PHISH_CRED_LURE"]["options"][0], "password");
        assert_eq!(a["messages"]["smtp_message"], "5.7.1 no");
        assert_eq!(a["milter"]["add_headers"]["X-Mailward"][1]["value"], "second");
        assert_eq!(a["message-id"], "id@host");
        for (m, r) in [
            (Action::Accept, "no action"),
            (Action::AddHeader, "add header"),
            (Action::Tempfail, "soft reject"),
        ] {
            assert_eq!(action_name(m), r);
        }
    }

    #[test]
    fn forged_fields_are_listed_for_removal() {
        let v = Verdict {
            action: Action::Accept,
            headers: vec![
                Header {
                    name: "X-Mailward".into(),
                    value: "accept".into(),
                },
                Header {
                    name: "Authentication-Results".into(),
                    value: "mx.something.com; spf=none".into(),
                },
            ],
            score: 0.0,
            required_score: 15.0,
            symbols: vec![],
            reply: None,
            rule_pack: PackInfo::default(),
            alerts: vec![],
        };
        let present = crate::forged::present_in(
            b"X-Mailward: accept (forged)\r\nAuthentication-Results: MX.something.com; dkim=pass\r\n\
              Authentication-Results: relay.example; spf=fail\r\nx-mailward: again\r\n\r\nbody",
        );
        let a = answer(&v, None, &present, Duration::ZERO);
        let remove = &a["milter"]["remove_headers"];
        assert_eq!(remove["X-Mailward"], 0, "all of them: {remove}");
        assert_eq!(
            remove["Authentication-Results"], 1,
            "only ours, not relay.example's: {remove}"
        );
        // A refused message is not changed.
        let refused = Verdict {
            action: Action::Reject,
            ..v
        };
        let a = answer(&refused, None, &present, Duration::ZERO);
        assert_eq!(a["milter"]["remove_headers"], serde_json::json!({}));
    }
}
