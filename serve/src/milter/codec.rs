//! The milter wire format (Sendmail's libmilter protocol, version 6, as
//! Postfix's `milter8` speaks it).
//!
//! Every packet is a 4-byte big-endian length (counting the command byte),
//! one command byte and the data. Strings are NUL-terminated. The MTA sends
//! commands (`SMFIC_*`), the filter answers with replies (`SMFIR_*`). Both
//! directions are implemented here: the filter side for the daemon, the MTA
//! side for tests and the load generator.

use bytes::{Buf, BufMut, BytesMut};
use thiserror::Error;

/// The protocol version this implementation speaks.
pub const VERSION: u32 = 6;

/// Largest body chunk an MTA sends (libmilter's `MILTER_CHUNK_SIZE`).
pub const CHUNK_SIZE: usize = 65_535;

/// `SMFIF_*`: the modifications a filter may make.
pub mod action {
    /// Add header fields (`h`, and `i` in version 6).
    pub const ADDHDRS: u32 = 0x01;
    /// Replace the body.
    pub const CHGBODY: u32 = 0x02;
    /// Add recipients.
    pub const ADDRCPT: u32 = 0x04;
    /// Remove recipients.
    pub const DELRCPT: u32 = 0x08;
    /// Change or delete header fields.
    pub const CHGHDRS: u32 = 0x10;
    /// Quarantine the message (`q`).
    pub const QUARANTINE: u32 = 0x20;
    /// Change the envelope sender.
    pub const CHGFROM: u32 = 0x40;
    /// Add recipients with ESMTP arguments.
    pub const ADDRCPT_PAR: u32 = 0x80;
    /// Ask for macros per stage in the negotiation reply.
    pub const SETSYMLIST: u32 = 0x100;
}

/// `SMFIP_*`: protocol steps a filter skips or does not answer.
pub mod protocol {
    /// No connect callback.
    pub const NOCONNECT: u32 = 0x01;
    /// No HELO callback.
    pub const NOHELO: u32 = 0x02;
    /// No MAIL callback.
    pub const NOMAIL: u32 = 0x04;
    /// No RCPT callback.
    pub const NORCPT: u32 = 0x08;
    /// No body chunks.
    pub const NOBODY: u32 = 0x10;
    /// No header fields.
    pub const NOHDRS: u32 = 0x20;
    /// No end of headers.
    pub const NOEOH: u32 = 0x40;
    /// No reply to header fields.
    pub const NR_HDR: u32 = 0x80;
    /// No unknown-command callback.
    pub const NOUNKNOWN: u32 = 0x100;
    /// No DATA callback.
    pub const NODATA: u32 = 0x200;
    /// The MTA understands `SMFIS_SKIP`.
    pub const SKIP: u32 = 0x400;
    /// Rejected recipients are sent too.
    pub const RCPT_REJ: u32 = 0x800;
    /// No reply to connect.
    pub const NR_CONN: u32 = 0x1000;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 0x2000;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 0x4000;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 0x8000;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 0x10000;
    /// No reply to unknown commands.
    pub const NR_UNKN: u32 = 0x20000;
    /// No reply to end of headers.
    pub const NR_EOH: u32 = 0x40000;
    /// No reply to body chunks.
    pub const NR_BODY: u32 = 0x80000;
    /// Header values keep their leading space.
    pub const HDR_LEADSPC: u32 = 0x100000;
}

/// Why bytes are not a valid packet.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    /// A zero length (there must be a command byte).
    #[error("empty packet")]
    Empty,
    /// Longer than the configured bound.
    #[error("packet of {len} bytes exceeds the limit of {limit}")]
    TooLong {
        /// Announced length.
        len: usize,
        /// The bound.
        limit: usize,
    },
    /// A command or reply byte this implementation does not know.
    #[error("unknown {what} {code:?}")]
    UnknownCode {
        /// "command" or "reply".
        what: &'static str,
        /// The byte, as a char.
        code: char,
    },
    /// The data does not have the command's shape.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which command.
        what: &'static str,
        /// What is wrong.
        detail: &'static str,
    },
}

fn malformed(what: &'static str, detail: &'static str) -> CodecError {
    CodecError::Malformed { what, detail }
}

/// A command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: option negotiation.
    OptNeg(OptNeg),
    /// `D`: macros for the command `stage` that follows.
    Macro {
        /// The command byte the macros belong to (`C`, `H`, `M`, …).
        stage: u8,
        /// Name and value pairs (names like `i`, `{auth_authen}`).
        pairs: Vec<(String, String)>,
    },
    /// `C`: a client connected.
    Connect {
        /// The client's host name (`[1.2.3.4]` when unknown).
        hostname: String,
        /// `4`, `6`, `L` (Unix socket) or `U` (unknown).
        family: u8,
        /// Client port (0 for `L` and `U`).
        port: u16,
        /// The address (empty for `U`).
        address: String,
    },
    /// `H`: HELO/EHLO argument.
    Helo(String),
    /// `M`: MAIL FROM; the address (with brackets) then ESMTP arguments.
    Mail(Vec<String>),
    /// `R`: RCPT TO; the address (with brackets) then ESMTP arguments.
    Rcpt(Vec<String>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field (value without the name and colon; folded
    /// lines joined by `\n`).
    Header {
        /// Field name.
        name: Vec<u8>,
        /// Field value.
        value: Vec<u8>,
    },
    /// `N`: end of headers.
    Eoh,
    /// `B`: a body chunk (CRLF line ends).
    Body(Vec<u8>),
    /// `E`: end of message (may carry a last body chunk).
    Eom(Vec<u8>),
    /// `A`: the current message is abandoned.
    Abort,
    /// `Q`: close the connection.
    Quit,
    /// `K`: the connection is reused for a new SMTP session.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA does not know.
    Unknown(Vec<u8>),
}

/// The option negotiation, in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptNeg {
    /// Protocol version.
    pub version: u32,
    /// `SMFIF_*` modifications offered (MTA) or wanted (filter).
    pub actions: u32,
    /// `SMFIP_*` steps offered to skip (MTA) or skipped (filter).
    pub protocol: u32,
}

/// A reply from the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `O`: the filter's side of the negotiation.
    OptNeg(OptNeg),
    /// `c`: go on.
    Continue,
    /// `a`: accept the message (or connection) without further callbacks.
    Accept,
    /// `r`: reject with the MTA's default 5xx text.
    Reject,
    /// `t`: temporary failure with the MTA's default 4xx text.
    Tempfail,
    /// `d`: accept and throw away.
    Discard,
    /// `y`: reject or tempfail with this SMTP reply (`550 5.7.1 text`).
    ReplyCode(String),
    /// `h`: append a header field.
    AddHeader {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// `i`: insert a header field at `index` (0: on top).
    InsertHeader {
        /// Position among the header fields.
        index: u32,
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// `m`: change the `index`-th (from 1) field named `name`; an empty
    /// value deletes it.
    ChangeHeader {
        /// Which of the fields with this name (1 = the first).
        index: u32,
        /// Field name.
        name: String,
        /// New value; empty deletes the field.
        value: String,
    },
    /// `q`: put the message on hold with this reason.
    Quarantine(String),
    /// `p`: still working, keep the connection.
    Progress,
}

/// Reads NUL-terminated strings.
struct Strings<'a> {
    data: &'a [u8],
}

impl<'a> Strings<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        let end = self.data.iter().position(|&b| b == 0)?;
        let s = &self.data[..end];
        self.data = &self.data[end + 1..];
        Some(s)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn u32_at(data: &[u8], at: usize, what: &'static str) -> Result<u32, CodecError> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(malformed(what, "too short"))
}

/// Splits a frame: the length prefix of `buf` if complete; `None` when more
/// bytes are needed. Errors for a zero or over-long length.
pub fn frame_len(buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 {
        return Err(CodecError::Empty);
    }
    if len > limit {
        return Err(CodecError::TooLong { len, limit });
    }
    Ok((buf.len() >= 4 + len).then_some(len))
}

/// Takes one complete packet (command byte, data) off the front of `buf`.
pub fn take_packet(buf: &mut BytesMut, limit: usize) -> Result<Option<(u8, BytesMut)>, CodecError> {
    let Some(len) = frame_len(buf, limit)? else {
        return Ok(None);
    };
    buf.advance(4);
    let mut packet = buf.split_to(len);
    let code = packet[0];
    packet.advance(1);
    Ok(Some((code, packet)))
}

fn frame(out: &mut BytesMut, code: u8, data: &[u8]) {
    out.put_u32(data.len() as u32 + 1);
    out.put_u8(code);
    out.put_slice(data);
}

fn nul(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

/// Strips what would end a NUL-terminated string or an SMTP/header line.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| c != '\0' && c != '\r' && c != '\n')
        .collect()
}

impl Command {
    /// Parses a command from its code and data.
    pub fn decode(code: u8, data: &[u8]) -> Result<Command, CodecError> {
        let mut s = Strings { data };
        Ok(match code {
            b'O' => Command::OptNeg(OptNeg {
                version: u32_at(data, 0, "option negotiation")?,
                actions: u32_at(data, 4, "option negotiation")?,
                protocol: u32_at(data, 8, "option negotiation")?,
            }),
            b'D' => {
                let (&stage, rest) = data.split_first().ok_or(malformed("macro", "no stage"))?;
                let mut s = Strings { data: rest };
                let mut pairs = Vec::new();
                while let Some(name) = s.next() {
                    let value = s.next().ok_or(malformed("macro", "a name without value"))?;
                    pairs.push((text(name), text(value)));
                }
                Command::Macro { stage, pairs }
            }
            b'C' => {
                let hostname = text(s.next().ok_or(malformed("connect", "no host name"))?);
                let (&family, rest) = s.data.split_first().ok_or(malformed("connect", "no family"))?;
                let (port, address) = if family == b'U' {
                    (0, String::new())
                } else {
                    let p = rest.get(..2).ok_or(malformed("connect", "no port"))?;
                    let mut a = Strings { data: &rest[2..] };
                    let addr = a.next().ok_or(malformed("connect", "no address"))?;
                    (u16::from_be_bytes([p[0], p[1]]), text(addr))
                };
                Command::Connect {
                    hostname,
                    family,
                    port,
                    address,
                }
            }
            b'H' => Command::Helo(text(s.next().ok_or(malformed("helo", "no name"))?)),
            b'M' | b'R' => {
                let mut args = Vec::new();
                while let Some(a) = s.next() {
                    args.push(text(a));
                }
                if args.is_empty() {
                    return Err(malformed("envelope address", "no address"));
                }
                if code == b'M' {
                    Command::Mail(args)
                } else {
                    Command::Rcpt(args)
                }
            }
            b'T' => Command::Data,
            b'L' => {
                let name = s.next().ok_or(malformed("header", "no name"))?.to_vec();
                let value = s.next().ok_or(malformed("header", "no value"))?.to_vec();
                Command::Header { name, value }
            }
            b'N' => Command::Eoh,
            b'B' => Command::Body(data.to_vec()),
            b'E' => Command::Eom(data.to_vec()),
            b'A' => Command::Abort,
            b'Q' => Command::Quit,
            b'K' => Command::QuitNewConnection,
            b'U' => Command::Unknown(s.next().unwrap_or(data).to_vec()),
            other => {
                return Err(CodecError::UnknownCode {
                    what: "command",
                    code: other as char,
                });
            }
        })
    }

    /// Appends the command as a packet (the MTA's side).
    pub fn encode(&self, out: &mut BytesMut) {
        let mut d = Vec::new();
        let code = match self {
            Command::OptNeg(o) => {
                d.extend_from_slice(&o.version.to_be_bytes());
                d.extend_from_slice(&o.actions.to_be_bytes());
                d.extend_from_slice(&o.protocol.to_be_bytes());
                b'O'
            }
            Command::Macro { stage, pairs } => {
                d.push(*stage);
                for (n, v) in pairs {
                    nul(&mut d, n.as_bytes());
                    nul(&mut d, v.as_bytes());
                }
                b'D'
            }
            Command::Connect {
                hostname,
                family,
                port,
                address,
            } => {
                nul(&mut d, hostname.as_bytes());
                d.push(*family);
                if *family != b'U' {
                    d.extend_from_slice(&port.to_be_bytes());
                    nul(&mut d, address.as_bytes());
                }
                b'C'
            }
            Command::Helo(h) => {
                nul(&mut d, h.as_bytes());
                b'H'
            }
            Command::Mail(args) | Command::Rcpt(args) => {
                for a in args {
                    nul(&mut d, a.as_bytes());
                }
                if matches!(self, Command::Mail(_)) {
                    b'M'
                } else {
                    b'R'
                }
            }
            Command::Data => b'T',
            Command::Header { name, value } => {
                nul(&mut d, name);
                nul(&mut d, value);
                b'L'
            }
            Command::Eoh => b'N',
            Command::Body(b) => {
                d.extend_from_slice(b);
                b'B'
            }
            Command::Eom(b) => {
                d.extend_from_slice(b);
                b'E'
            }
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNewConnection => b'K',
            Command::Unknown(u) => {
                nul(&mut d, u);
                b'U'
            }
        };
        frame(out, code, &d);
    }
}

impl Reply {
    /// Appends the reply as a packet (the filter's side). Strings lose NUL,
    /// CR and LF (they would end the string or the SMTP line); `%` in SMTP
    /// reply text is doubled, as libmilter's `smfi_setreply` requires.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut d = Vec::new();
        let code = match self {
            Reply::OptNeg(o) => {
                d.extend_from_slice(&o.version.to_be_bytes());
                d.extend_from_slice(&o.actions.to_be_bytes());
                d.extend_from_slice(&o.protocol.to_be_bytes());
                b'O'
            }
            Reply::Continue => b'c',
            Reply::Accept => b'a',
            Reply::Reject => b'r',
            Reply::Tempfail => b't',
            Reply::Discard => b'd',
            Reply::ReplyCode(r) => {
                nul(&mut d, clean(r).replace('%', "%%").as_bytes());
                b'y'
            }
            Reply::AddHeader { name, value } => {
                nul(&mut d, clean(name).as_bytes());
                nul(&mut d, clean(value).as_bytes());
                b'h'
            }
            Reply::InsertHeader { index, name, value } => {
                d.extend_from_slice(&index.to_be_bytes());
                nul(&mut d, clean(name).as_bytes());
                nul(&mut d, clean(value).as_bytes());
                b'i'
            }
            Reply::ChangeHeader { index, name, value } => {
                d.extend_from_slice(&index.to_be_bytes());
                nul(&mut d, clean(name).as_bytes());
                nul(&mut d, clean(value).as_bytes());
                b'm'
            }
            Reply::Quarantine(reason) => {
                nul(&mut d, clean(reason).as_bytes());
                b'q'
            }
            Reply::Progress => b'p',
        };
        frame(out, code, &d);
    }

    /// Parses a reply (the MTA's side).
    pub fn decode(code: u8, data: &[u8]) -> Result<Reply, CodecError> {
        let mut s = Strings { data };
        let string = |s: &mut Strings<'_>, what| s.next().map(text).ok_or(malformed(what, "unterminated"));
        Ok(match code {
            b'O' => Reply::OptNeg(OptNeg {
                version: u32_at(data, 0, "option negotiation")?,
                actions: u32_at(data, 4, "option negotiation")?,
                protocol: u32_at(data, 8, "option negotiation")?,
            }),
            b'c' => Reply::Continue,
            b'a' => Reply::Accept,
            b'r' => Reply::Reject,
            b't' => Reply::Tempfail,
            b'd' => Reply::Discard,
            b'p' => Reply::Progress,
            b'y' => Reply::ReplyCode(string(&mut s, "reply code")?.replace("%%", "%")),
            b'h' => Reply::AddHeader {
                name: string(&mut s, "add header")?,
                value: string(&mut s, "add header")?,
            },
            b'i' => {
                let index = u32_at(data, 0, "insert header")?;
                let mut s = Strings { data: &data[4..] };
                Reply::InsertHeader {
                    index,
                    name: string(&mut s, "insert header")?,
                    value: string(&mut s, "insert header")?,
                }
            }
            b'm' => {
                let index = u32_at(data, 0, "change header")?;
                let mut s = Strings { data: &data[4..] };
                Reply::ChangeHeader {
                    index,
                    name: string(&mut s, "change header")?,
                    value: string(&mut s, "change header")?,
                }
            }
            b'q' => Reply::Quarantine(string(&mut s, "quarantine")?),
            other => {
                return Err(CodecError::UnknownCode {
                    what: "reply",
                    code: other as char,
                });
            }
        })
    }

    /// True for replies that end the MTA's wait for an answer (everything
    /// but modifications and progress).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Reply::AddHeader { .. }
                | Reply::InsertHeader { .. }
                | Reply::ChangeHeader { .. }
                | Reply::Quarantine(_)
                | Reply::Progress
        )
    }
}

/// What the filter asks for: the modifications it makes and the steps it
/// does not answer, limited to what the MTA offered.
pub fn negotiate(mta: OptNeg) -> OptNeg {
    use protocol::*;
    // CHGHDRS: to delete header fields that claim to be mailward's.
    let wanted_actions = action::ADDHDRS | action::CHGHDRS | action::QUARANTINE;
    // No replies to anything before end-of-message (the verdict needs the
    // whole message), header values byte-exact (DKIM), no unknown commands.
    let wanted_protocol = NR_CONN
        | NR_HELO
        | NR_MAIL
        | NR_RCPT
        | NR_DATA
        | NR_UNKN
        | NR_EOH
        | NR_BODY
        | NR_HDR
        | NOUNKNOWN
        | HDR_LEADSPC;
    OptNeg {
        version: mta.version.min(VERSION),
        actions: wanted_actions & mta.actions,
        protocol: wanted_protocol & mta.protocol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, data: &[u8]) -> Vec<u8> {
        let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(code);
        v.extend_from_slice(data);
        v
    }

    fn decode_one(bytes: &[u8]) -> Command {
        let mut buf = BytesMut::from(bytes);
        let (code, data) = take_packet(&mut buf, 1 << 20).unwrap().expect("a whole packet");
        assert!(buf.is_empty(), "one packet, nothing left");
        Command::decode(code, &data).unwrap()
    }

    /// Byte-level fixtures in the shape libmilter's protocol description
    /// (and Postfix's milter8.c) gives them.
    #[test]
    fn commands_from_bytes() {
        // SMFIC_OPTNEG: version 6, all actions (0x1ff), Postfix's protocol mask.
        let b = [
            0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff,
        ];
        assert_eq!(
            decode_one(&b),
            Command::OptNeg(OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0x1f_ffff
            })
        );
        // SMFIC_MACRO for SMFIC_MAIL: i and {auth_authen}.
        let b = packet(b'D', b"Mi\x004F2A61C0042\x00{auth_authen}\x00bob@example.com\x00");
        assert_eq!(
            decode_one(&b),
            Command::Macro {
                stage: b'M',
                pairs: vec![
                    ("i".into(), "4F2A61C0042".into()),
                    ("{auth_authen}".into(), "bob@example.com".into())
                ]
            }
        );
        // SMFIC_CONNECT, IPv4: host\0 '4' port(2) addr\0.
        let b = packet(b'C', b"mx.example.net\x004\x30\x39203.0.113.66\x00");
        assert_eq!(
            decode_one(&b),
            Command::Connect {
                hostname: "mx.example.net".into(),
                family: b'4',
                port: 12345,
                address: "203.0.113.66".into()
            }
        );
        // SMFIC_CONNECT, family unknown: no port, no address.
        let b = packet(b'C', b"localhost\x00U");
        assert_eq!(
            decode_one(&b),
            Command::Connect {
                hostname: "localhost".into(),
                family: b'U',
                port: 0,
                address: String::new()
            }
        );
        assert_eq!(
            decode_one(&packet(b'H', b"mx.phisher.example\x00")),
            Command::Helo("mx.phisher.example".into())
        );
        assert_eq!(
            decode_one(&packet(b'M', b"<admin@something.com>\x00SIZE=1234\x00")),
            Command::Mail(vec!["<admin@something.com>".into(), "SIZE=1234".into()])
        );
        assert_eq!(
            decode_one(&packet(b'R', b"<jane@something.com>\x00")),
            Command::Rcpt(vec!["<jane@something.com>".into()])
        );
        assert_eq!(decode_one(&packet(b'T', b"")), Command::Data);
        assert_eq!(
            decode_one(&packet(b'L', b"Subject\x00 Hello\n\tworld\x00")),
            Command::Header {
                name: b"Subject".to_vec(),
                value: b" Hello\n\tworld".to_vec()
            }
        );
        assert_eq!(decode_one(&packet(b'N', b"")), Command::Eoh);
        assert_eq!(
            decode_one(&packet(b'B', b"line\r\n\x00binary")),
            Command::Body(b"line\r\n\x00binary".to_vec())
        );
        assert_eq!(decode_one(&packet(b'E', b"")), Command::Eom(Vec::new()));
        assert_eq!(decode_one(&packet(b'A', b"")), Command::Abort);
        assert_eq!(decode_one(&packet(b'Q', b"")), Command::Quit);
        assert_eq!(decode_one(&packet(b'K', b"")), Command::QuitNewConnection);
        assert_eq!(
            decode_one(&packet(b'U', b"XFOO bar\x00")),
            Command::Unknown(b"XFOO bar".to_vec())
        );
    }

    #[test]
    fn replies_to_bytes() {
        let enc = |r: Reply| {
            let mut b = BytesMut::new();
            r.encode(&mut b);
            b.to_vec()
        };
        assert_eq!(enc(Reply::Continue), [0, 0, 0, 1, b'c']);
        assert_eq!(enc(Reply::Accept), [0, 0, 0, 1, b'a']);
        assert_eq!(enc(Reply::Tempfail), [0, 0, 0, 1, b't']);
        assert_eq!(
            enc(Reply::ReplyCode("550 5.7.1 100% phishing".into())),
            packet(b'y', b"550 5.7.1 100%% phishing\x00")
        );
        assert_eq!(
            enc(Reply::AddHeader {
                name: "X-Mailward".into(),
                value: "accept; score=0.00\r\nBcc: evil".into()
            }),
            packet(b'h', b"X-Mailward\x00accept; score=0.00Bcc: evil\x00")
        );
        assert_eq!(
            enc(Reply::InsertHeader {
                index: 0,
                name: "Authentication-Results".into(),
                value: "mx; spf=fail".into()
            }),
            packet(
                b'i',
                b"\x00\x00\x00\x00Authentication-Results\x00mx; spf=fail\x00"
            )
        );
        assert_eq!(
            enc(Reply::Quarantine("mailward: PHISH".into())),
            packet(b'q', b"mailward: PHISH\x00")
        );
        assert_eq!(
            enc(Reply::ChangeHeader {
                index: 2,
                name: "X-Mailward".into(),
                value: String::new()
            }),
            packet(b'm', b"\x00\x00\x00\x02X-Mailward\x00\x00"),
            "an empty value deletes the second X-Mailward"
        );
        assert_eq!(
            enc(Reply::OptNeg(OptNeg {
                version: 6,
                actions: 0x21,
                protocol: 0x1f_f180
            })),
            [0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 0, 0x21, 0, 0x1f, 0xf1, 0x80]
        );
    }

    #[test]
    fn round_trips() {
        let commands = [
            Command::OptNeg(OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0x3f,
            }),
            Command::Macro {
                stage: b'C',
                pairs: vec![("j".into(), "mx".into())],
            },
            Command::Connect {
                hostname: "h".into(),
                family: b'6',
                port: 25,
                address: "2001:db8::1".into(),
            },
            Command::Mail(vec!["<>".into()]),
            Command::Header {
                name: b"To".to_vec(),
                value: b" a@b".to_vec(),
            },
            Command::Body(vec![0xff; 70_000]),
            Command::Eom(Vec::new()),
        ];
        let mut buf = BytesMut::new();
        for c in &commands {
            c.encode(&mut buf);
        }
        for c in &commands {
            let (code, data) = take_packet(&mut buf, 1 << 20).unwrap().unwrap();
            assert_eq!(&Command::decode(code, &data).unwrap(), c);
        }
        let replies = [
            Reply::Continue,
            Reply::ReplyCode("451 4.7.0 try later".into()),
            Reply::InsertHeader {
                index: 3,
                name: "A".into(),
                value: "b".into(),
            },
            Reply::Quarantine("why".into()),
            Reply::ChangeHeader {
                index: 1,
                name: "Authentication-Results".into(),
                value: String::new(),
            },
        ];
        for r in replies {
            let mut b = BytesMut::new();
            r.encode(&mut b);
            let (code, data) = take_packet(&mut b, 1 << 20).unwrap().unwrap();
            assert_eq!(Reply::decode(code, &data).unwrap(), r);
        }
    }

    #[test]
    fn partial_and_bad_frames() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 5, b'H', b'a'][..]);
        assert_eq!(
            take_packet(&mut buf, 100).unwrap(),
            None,
            "incomplete: wait for more"
        );
        assert_eq!(buf.len(), 6, "nothing consumed");
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(take_packet(&mut buf, 100), Err(CodecError::Empty));
        let mut buf = BytesMut::from(&[0u8, 0x10, 0, 0][..]);
        assert_eq!(
            take_packet(&mut buf, 65_536),
            Err(CodecError::TooLong {
                len: 0x10_0000,
                limit: 65_536
            }),
            "an over-long length is refused before anything is buffered"
        );
        assert!(matches!(
            Command::decode(b'Z', b""),
            Err(CodecError::UnknownCode { code: 'Z', .. })
        ));
        assert!(Command::decode(b'O', &[0, 0, 0, 6]).is_err());
        assert!(Command::decode(b'D', b"Mi\x00").is_err(), "name without value");
        assert!(Command::decode(b'L', b"Subject").is_err(), "unterminated");
        assert!(Command::decode(b'C', b"host\x004").is_err(), "no port");
        assert!(Command::decode(b'M', b"").is_err());
    }

    #[test]
    fn negotiation_keeps_to_the_offer() {
        // Postfix 3.x offers all actions and protocol steps.
        let n = negotiate(OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        });
        assert_eq!(n.version, 6);
        assert_eq!(n.actions, action::ADDHDRS | action::CHGHDRS | action::QUARANTINE);
        assert_ne!(n.protocol & protocol::NR_HDR, 0);
        assert_ne!(n.protocol & protocol::HDR_LEADSPC, 0);
        assert_eq!(n.protocol & protocol::NOBODY, 0, "the body is needed");
        // An old MTA (version 2, no no-reply steps, no quarantine).
        let n = negotiate(OptNeg {
            version: 2,
            actions: action::ADDHDRS,
            protocol: 0x7f,
        });
        assert_eq!(n.version, 2);
        assert_eq!(n.actions, action::ADDHDRS);
        assert_eq!(n.protocol, 0, "nothing it does not offer");
    }
}
