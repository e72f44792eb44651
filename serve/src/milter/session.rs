//! One milter connection: collects the envelope, macros, header fields and
//! body of each message, and answers end-of-message with the verdict.

use super::codec::{Command, OptNeg, Reply, action, negotiate, protocol, take_packet};
use crate::forged::{self, Present};
use crate::{SessionError, Shared, Source};
use bytes::BytesMut;
use mailward_core::{Action, Direction, Envelope};
use mailward_host::Decision;
use std::collections::BTreeMap;
use std::net::IpAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Stages whose macros belong to one message (cleared after it).
const MESSAGE_STAGES: &[u8] = b"MRTLNBE";

/// The message being received.
#[derive(Debug, Default)]
struct Message {
    mail_from: String,
    rcpt: Vec<String>,
    bytes: Vec<u8>,
    /// Bytes the message has (including those not kept once over the limit).
    size: usize,
    in_body: bool,
    /// Header fields mailward may have to delete (see [`crate::forged`]).
    present: Vec<Present>,
}

/// What one connection knows.
#[derive(Debug)]
pub struct Session {
    negotiated: OptNeg,
    client_ip: Option<IpAddr>,
    helo: Option<String>,
    macros: BTreeMap<u8, Vec<(String, String)>>,
    message: Option<Message>,
    max_message_bytes: usize,
    /// The tracked fields of the message last ended, for its verdict.
    ended_present: Vec<Present>,
}

/// What to do after a command.
#[derive(Debug)]
pub enum Step {
    /// Send these replies (maybe none) and read on.
    Reply(Vec<Reply>),
    /// Check the message, send the replies for its verdict.
    Check(Box<Envelope>, Vec<u8>, usize),
    /// Close the connection.
    Close,
}

fn strip_brackets(a: &str) -> String {
    a.trim().trim_start_matches('<').trim_end_matches('>').to_string()
}

impl Session {
    /// A fresh connection; messages over `max_message_bytes` are not kept.
    pub fn new(max_message_bytes: usize) -> Self {
        Session {
            // Until negotiated: answer every step (version 2 behaviour).
            negotiated: OptNeg {
                version: 2,
                actions: action::ADDHDRS,
                protocol: 0,
            },
            client_ip: None,
            helo: None,
            macros: BTreeMap::new(),
            message: None,
            max_message_bytes,
            ended_present: Vec::new(),
        }
    }

    /// True between MAIL and the end of the message.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// The latest value of macro `name` (`i`, `{auth_authen}`, …), later
    /// stages first.
    pub fn macro_value(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('{').trim_end_matches('}');
        for stage in b"EBNLTRMHC" {
            if let Some(pairs) = self.macros.get(stage) {
                for (n, v) in pairs.iter().rev() {
                    if n.trim_start_matches('{').trim_end_matches('}') == bare {
                        return Some(v);
                    }
                }
            }
        }
        None
    }

    fn ack(&self, no_reply: u32) -> Step {
        if self.negotiated.protocol & no_reply != 0 {
            Step::Reply(Vec::new())
        } else {
            Step::Reply(vec![Reply::Continue])
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        let limit = self.max_message_bytes;
        let m = self.message.get_or_insert_with(Message::default);
        m.size = m.size.saturating_add(bytes.len());
        if m.size <= limit {
            m.bytes.extend_from_slice(bytes);
        } else if !m.bytes.is_empty() {
            // Over the limit: free what was kept, only count from now on.
            m.bytes = Vec::new();
        }
    }

    fn end_message(&mut self) {
        self.message = None;
        for s in MESSAGE_STAGES {
            self.macros.remove(s);
        }
    }

    /// Handles one command.
    pub fn handle(&mut self, command: Command) -> Result<Step, SessionError> {
        use protocol::*;
        Ok(match command {
            Command::OptNeg(mta) => {
                if mta.version < 2 {
                    return Err(SessionError::Sequence("milter protocol version below 2"));
                }
                self.negotiated = negotiate(mta);
                Step::Reply(vec![Reply::OptNeg(self.negotiated)])
            }
            Command::Macro { stage, pairs } => {
                self.macros.insert(stage, pairs);
                Step::Reply(Vec::new())
            }
            Command::Connect { family, address, .. } => {
                self.client_ip = match family {
                    b'4' | b'6' => address.trim_start_matches("IPv6:").parse().ok(),
                    _ => None,
                };
                self.ack(NR_CONN)
            }
            Command::Helo(h) => {
                self.helo = Some(h);
                self.ack(NR_HELO)
            }
            Command::Mail(args) => {
                self.message = Some(Message {
                    mail_from: strip_brackets(args.first().map_or("", String::as_str)),
                    ..Message::default()
                });
                self.ack(NR_MAIL)
            }
            Command::Rcpt(args) => {
                let m = self.message.get_or_insert_with(Message::default);
                if let Some(a) = args.first() {
                    m.rcpt.push(strip_brackets(a));
                }
                self.ack(NR_RCPT)
            }
            Command::Data => self.ack(NR_DATA),
            Command::Header { name, value } => {
                self.track(&name, &value);
                let mut line = name;
                line.push(b':');
                if self.negotiated.protocol & HDR_LEADSPC == 0 {
                    line.push(b' ');
                }
                // Folded lines come joined by a bare LF; the message has CRLF.
                let mut prev = 0u8;
                for &b in &value {
                    if b == b'\n' && prev != b'\r' {
                        line.push(b'\r');
                    }
                    line.push(b);
                    prev = b;
                }
                line.extend_from_slice(b"\r\n");
                self.append(&line);
                self.ack(NR_HDR)
            }
            Command::Eoh => {
                self.append(b"\r\n");
                if let Some(m) = &mut self.message {
                    m.in_body = true;
                }
                self.ack(NR_EOH)
            }
            Command::Body(chunk) => {
                self.append(&chunk);
                self.ack(NR_BODY)
            }
            Command::Eom(chunk) => {
                if !chunk.is_empty() {
                    self.append(&chunk);
                }
                let m = self.message.take().unwrap_or_default();
                let auth_user = self
                    .macro_value("{auth_authen}")
                    .filter(|u| !u.is_empty())
                    .map(str::to_string);
                let envelope = Envelope {
                    client_ip: self.client_ip,
                    helo: self.helo.clone(),
                    mail_from: m.mail_from,
                    rcpt_to: m.rcpt,
                    direction: if auth_user.is_some() {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    },
                    auth_user,
                    queue_id: self
                        .macro_value("i")
                        .filter(|i| !i.is_empty())
                        .map(str::to_string),
                };
                self.ended_present = m.present;
                let mut bytes = m.bytes;
                if !m.in_body && m.size <= self.max_message_bytes {
                    // No end-of-headers seen (NOEOH MTAs): still a message.
                    bytes.extend_from_slice(b"\r\n");
                }
                self.end_message();
                Step::Check(Box::new(envelope), bytes, m.size)
            }
            Command::Abort => {
                self.end_message();
                Step::Reply(Vec::new())
            }
            Command::Quit => Step::Close,
            Command::QuitNewConnection => {
                self.end_message();
                self.macros.clear();
                self.client_ip = None;
                self.helo = None;
                Step::Reply(Vec::new())
            }
            Command::Unknown(_) => self.ack(NR_UNKN),
        })
    }

    /// Remembers a field that is mailward's to write, with its index.
    fn track(&mut self, name: &[u8], value: &[u8]) {
        let m = self.message.get_or_insert_with(Message::default);
        forged::track(
            &mut m.present,
            &String::from_utf8_lossy(name),
            &String::from_utf8_lossy(value),
        );
    }

    /// The replies that carry out `decision` at end of message.
    pub fn verdict_replies(&self, decision: &Decision) -> Vec<Reply> {
        let mut out = deletions(decision, self.negotiated, &self.ended_present);
        out.extend(replies(decision, self.negotiated));
        out
    }
}

/// Deletes the received fields that claim to be mailward's
/// ([`forged::forged`]), when the MTA allowed header changes.
pub fn deletions(decision: &Decision, negotiated: OptNeg, present: &[Present]) -> Vec<Reply> {
    if negotiated.actions & action::CHGHDRS == 0 {
        return Vec::new();
    }
    forged::forged(&decision.verdict, present)
        .into_iter()
        .map(|p| Reply::ChangeHeader {
            index: p.index,
            name: p.name.clone(),
            value: String::new(),
        })
        .collect()
}

/// `code enhanced text` when the code has the class `class` (4 or 5).
fn smtp_reply(decision: &Decision, class: u16, default: &str) -> String {
    match &decision.verdict.reply {
        Some(r) if r.code / 100 == class && r.code < 600 => {
            format!("{} {} {}", r.code, r.enhanced, r.text)
        }
        _ => default.to_string(),
    }
}

/// The milter replies for a verdict: header fields (on top, in the
/// verdict's order), quarantine, and the final reply.
pub fn replies(decision: &Decision, negotiated: OptNeg) -> Vec<Reply> {
    let v = &decision.verdict;
    match v.action {
        Action::Reject => {
            return vec![Reply::ReplyCode(smtp_reply(
                decision,
                5,
                "550 5.7.1 Message rejected by policy (mailward)",
            ))];
        }
        Action::Tempfail => {
            return vec![Reply::ReplyCode(smtp_reply(
                decision,
                4,
                "451 4.7.0 Message deferred by policy (mailward)",
            ))];
        }
        Action::Accept | Action::AddHeader | Action::Quarantine => {}
    }
    let mut out = Vec::new();
    // With HDR_LEADSPC the MTA takes values byte-exact in both directions:
    // the space after the colon is ours to send.
    let lead = if negotiated.protocol & protocol::HDR_LEADSPC != 0 {
        " "
    } else {
        ""
    };
    if negotiated.actions & action::ADDHDRS != 0 {
        if negotiated.version >= 6 {
            // Insert at the top, last first, so they end up in order.
            for h in v.headers.iter().rev() {
                out.push(Reply::InsertHeader {
                    index: 0,
                    name: h.name.clone(),
                    value: format!("{lead}{}", h.value),
                });
            }
        } else {
            for h in &v.headers {
                out.push(Reply::AddHeader {
                    name: h.name.clone(),
                    value: format!("{lead}{}", h.value),
                });
            }
        }
    }
    if v.action == Action::Quarantine && negotiated.actions & action::QUARANTINE != 0 {
        let top: Vec<&str> = v
            .symbols
            .iter()
            .filter(|s| s.score > 0.0)
            .take(3)
            .map(|s| s.name.as_str())
            .collect();
        out.push(Reply::Quarantine(format!(
            "mailward {}/{}: score {:.2} ({})",
            v.rule_pack.name,
            v.rule_pack.version,
            v.score,
            top.join(", ")
        )));
    }
    out.push(Reply::Accept);
    out
}

/// Runs one connection to its end.
pub async fn run(mut stream: TcpStream, shared: &Shared) -> Result<(), SessionError> {
    let config = &shared.config;
    let mut session = Session::new(config.max_message_bytes);
    let mut shutdown = shared.shutdown.clone();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(1024);
    loop {
        // Whole packets first.
        while let Some((code, data)) = take_packet(&mut buf, config.max_packet_bytes)? {
            let command = Command::decode(code, &data)?;
            match session.handle(command)? {
                Step::Reply(rs) => rs.iter().for_each(|r| r.encode(&mut out)),
                Step::Close => {
                    stream.write_all(&out).await?;
                    return Ok(());
                }
                Step::Check(envelope, bytes, size) => {
                    // Whatever is pending goes out before the MTA waits.
                    stream.write_all(&out).await?;
                    out.clear();
                    let decision = if size > config.max_message_bytes {
                        shared.checker.too_large(
                            Source::Milter,
                            size,
                            config.max_message_bytes,
                            envelope.queue_id.as_deref(),
                        )
                    } else {
                        shared.checker.check(Source::Milter, *envelope, bytes).await
                    };
                    session
                        .verdict_replies(&decision)
                        .iter()
                        .for_each(|r| r.encode(&mut out));
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        // Shutting down: close between messages (the MTA reconnects
        // elsewhere or applies its default action to later mail).
        let idle = !session.in_message();
        if idle && *shutdown.borrow() {
            return Ok(());
        }
        let read = tokio::select! {
            r = tokio::time::timeout(config.idle_timeout, stream.read_buf(&mut buf)) => r,
            _ = crate::stopped(&mut shutdown), if idle => return Ok(()),
        };
        match read {
            Err(_) => return Err(SessionError::Idle(config.idle_timeout)),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(0)) => {
                if buf.is_empty() {
                    return Ok(());
                }
                return Err(SessionError::Sequence("connection closed inside a packet"));
            }
            Ok(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailward_core::{Header, PackInfo, SmtpReply, Symbol, Verdict};

    fn postfix() -> OptNeg {
        negotiate(OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        })
    }

    fn decision(action: Action, reply: Option<SmtpReply>) -> Decision {
        Decision {
            verdict: Verdict {
                action,
                score: 12.5,
                required_score: 15.0,
                symbols: vec![Symbol {
                    name: "PHISH_CRED_LURE".into(),
                    score: 10.0,
                    description: String::new(),
                    options: vec![],
                }],
                headers: vec![
                    Header {
                        name: "Authentication-Results".into(),
                        value: "mx; spf=fail".into(),
                    },
                    Header {
                        name: "X-Mailward".into(),
                        value: "quarantine".into(),
                    },
                ],
                reply,
                rule_pack: PackInfo {
                    name: "p".into(),
                    version: "1".into(),
                    ..PackInfo::default()
                },
                alerts: vec![],
            },
            failure: None,
        }
    }

    #[test]
    fn a_postfix_style_session_builds_the_envelope_and_message() {
        let mut s = Session::new(1 << 20);
        let step = s
            .handle(Command::OptNeg(OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0x1f_ffff,
            }))
            .unwrap();
        assert!(matches!(&step, Step::Reply(r) if matches!(r[..], [Reply::OptNeg(_)])));
        let silent = |s: &mut Session, c: Command| match s.handle(c).unwrap() {
            Step::Reply(r) => assert!(r.is_empty(), "no-reply steps negotiated: {r:?}"),
            other => panic!("{other:?}"),
        };
        silent(
            &mut s,
            Command::Connect {
                hostname: "[203.0.113.66]".into(),
                family: b'4',
                port: 4000,
                address: "203.0.113.66".into(),
            },
        );
        silent(&mut s, Command::Helo("mx.phisher.example".into()));
        silent(
            &mut s,
            Command::Macro {
                stage: b'M',
                pairs: vec![
                    ("i".into(), "4F2A61C0042".into()),
                    ("{auth_authen}".into(), "bob@something.com".into()),
                ],
            },
        );
        silent(
            &mut s,
            Command::Mail(vec!["<bob@something.com>".into(), "SIZE=10".into()]),
        );
        silent(&mut s, Command::Rcpt(vec!["<a@x.example>".into()]));
        silent(&mut s, Command::Rcpt(vec!["<b@y.example>".into()]));
        silent(&mut s, Command::Data);
        silent(
            &mut s,
            Command::Header {
                name: b"Subject".to_vec(),
                value: b" Hello\n\tworld".to_vec(),
            },
        );
        silent(&mut s, Command::Eoh);
        silent(&mut s, Command::Body(b"body\r\n".to_vec()));
        let Step::Check(env, bytes, size) = s.handle(Command::Eom(Vec::new())).unwrap() else {
            panic!("end of message checks");
        };
        assert_eq!(bytes, b"Subject: Hello\r\n\tworld\r\n\r\nbody\r\n");
        assert_eq!(size, bytes.len());
        assert_eq!(env.client_ip, Some("203.0.113.66".parse().unwrap()));
        assert_eq!(env.helo.as_deref(), Some("mx.phisher.example"));
        assert_eq!(env.mail_from, "bob@something.com");
        assert_eq!(env.rcpt_to, ["a@x.example", "b@y.example"]);
        assert_eq!(env.auth_user.as_deref(), Some("bob@something.com"));
        assert_eq!(
            env.direction,
            Direction::Outbound,
            "{{auth_authen}} makes it outbound"
        );
        assert_eq!(env.queue_id.as_deref(), Some("4F2A61C0042"));
        // The next message on the connection starts clean.
        assert!(!s.in_message());
        assert_eq!(s.macro_value("{auth_authen}"), None);
        silent(&mut s, Command::Mail(vec!["<>".into()]));
        let Step::Check(env, bytes, _) = s.handle(Command::Eom(Vec::new())).unwrap() else {
            panic!()
        };
        assert_eq!(env.auth_user, None);
        assert_eq!(env.direction, Direction::Inbound);
        assert_eq!(env.mail_from, "");
        assert_eq!(bytes, b"\r\n");
        assert_eq!(
            env.client_ip,
            Some("203.0.113.66".parse().unwrap()),
            "connection state stays"
        );
    }

    #[test]
    fn without_negotiation_every_step_is_answered() {
        let mut s = Session::new(1 << 20);
        let step = s.handle(Command::Helo("x".into())).unwrap();
        assert!(matches!(&step, Step::Reply(r) if r == &[Reply::Continue]));
        assert!(matches!(s.handle(Command::Quit).unwrap(), Step::Close));
    }

    #[test]
    fn oversized_messages_are_counted_not_kept() {
        let mut s = Session::new(100);
        s.handle(Command::Mail(vec!["<a@b>".into()])).unwrap();
        s.handle(Command::Body(vec![b'x'; 60])).unwrap();
        s.handle(Command::Body(vec![b'x'; 60])).unwrap();
        s.handle(Command::Body(vec![b'x'; 60])).unwrap();
        let Step::Check(_, bytes, size) = s.handle(Command::Eom(vec![b'y'; 5])).unwrap() else {
            panic!()
        };
        assert_eq!(size, 185);
        assert!(bytes.is_empty(), "nothing kept past the limit");
    }

    #[test]
    fn replies_for_each_action() {
        let n = postfix();
        let r = replies(
            &decision(
                Action::Reject,
                Some(SmtpReply {
                    code: 550,
                    enhanced: "5.7.1".into(),
                    text: "phish".into(),
                }),
            ),
            n,
        );
        assert_eq!(r, [Reply::ReplyCode("550 5.7.1 phish".into())]);
        // A reply whose class does not match the action is not used.
        let r = replies(
            &decision(
                Action::Tempfail,
                Some(SmtpReply {
                    code: 550,
                    enhanced: "5.7.1".into(),
                    text: "x".into(),
                }),
            ),
            n,
        );
        assert_eq!(
            r,
            [Reply::ReplyCode(
                "451 4.7.0 Message deferred by policy (mailward)".into()
            )]
        );
        let r = replies(&decision(Action::Quarantine, None), n);
        assert_eq!(r.len(), 4);
        assert!(matches!(&r[0], Reply::InsertHeader { index: 0, name, .. } if name == "X-Mailward"));
        assert!(
            matches!(&r[1], Reply::InsertHeader { name, value, .. }
            if name == "Authentication-Results" && value == " mx; spf=fail"),
            "leading space: HDR_LEADSPC was negotiated"
        );
        assert!(matches!(&r[2], Reply::Quarantine(q) if q.contains("PHISH_CRED_LURE")));
        assert_eq!(r[3], Reply::Accept);
        // Version 2, no quarantine offered: headers appended, then accept.
        let old = OptNeg {
            version: 2,
            actions: action::ADDHDRS,
            protocol: 0,
        };
        let r = replies(&decision(Action::Quarantine, None), old);
        assert!(
            matches!(&r[0], Reply::AddHeader { name, value } if name == "Authentication-Results" && value == "mx; spf=fail")
        );
        assert_eq!(r.len(), 3);
        assert_eq!(r[2], Reply::Accept);
    }

    #[test]
    fn fields_claiming_to_be_mailwards_are_deleted_last_first() {
        let mut s = Session::new(1 << 20);
        s.handle(Command::OptNeg(OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        }))
        .unwrap();
        s.handle(Command::Mail(vec!["<a@example.org>".into()])).unwrap();
        let fields: &[(&str, &str)] = &[
            ("x-mailward", " accept; score=-100 (forged)"),
            (
                "Authentication-Results",
                " mx; spf=pass (forged: our authserv-id)",
            ),
            ("Authentication-Results", " relay.example.net; spf=fail"),
            ("Subject", " hi"),
            ("X-Mailward", " accept (second forged copy)"),
            ("X-Spam-Flag", " NO"),
            ("Authentication-Results", " (comment) MX; dkim=pass"),
        ];
        for (name, value) in fields {
            s.handle(Command::Header {
                name: name.as_bytes().to_vec(),
                value: value.as_bytes().to_vec(),
            })
            .unwrap();
        }
        s.handle(Command::Eoh).unwrap();
        assert!(matches!(
            s.handle(Command::Eom(Vec::new())).unwrap(),
            Step::Check(..)
        ));
        let del = |index, name: &str| Reply::ChangeHeader {
            index,
            name: name.into(),
            value: String::new(),
        };
        // decision() adds "Authentication-Results: mx; spf=fail".
        let r = s.verdict_replies(&decision(Action::Accept, None));
        assert_eq!(
            r[..5],
            [
                del(3, "Authentication-Results"),
                del(1, "X-Spam-Flag"),
                del(2, "X-Mailward"),
                del(1, "Authentication-Results"),
                del(1, "x-mailward"),
            ],
            "relay.example.net's result (index 2) stays: {r:?}"
        );
        assert!(matches!(&r[5], Reply::InsertHeader { index: 0, name, .. } if name == "X-Mailward"));
        assert_eq!(r.last(), Some(&Reply::Accept));
        // A refused message is not changed; an MTA that did not allow
        // header changes gets none.
        let r = s.verdict_replies(&decision(Action::Reject, None));
        assert!(
            !r.iter().any(|r| matches!(r, Reply::ChangeHeader { .. })),
            "{r:?}"
        );
        let no_chg = OptNeg {
            version: 6,
            actions: action::ADDHDRS,
            protocol: 0,
        };
        assert!(deletions(&decision(Action::Accept, None), no_chg, &s.ended_present).is_empty());
    }
}
