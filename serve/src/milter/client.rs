//! The MTA's side of the milter protocol, as Postfix drives it: for tests
//! and the load generator (`mailward bench-serve`).

use super::codec::{Command, OptNeg, Reply, action, protocol, take_packet};
use bytes::BytesMut;
use mailward_core::Envelope;
use std::net::SocketAddr;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a client exchange failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("milter client: {0}")]
    Io(#[from] std::io::Error),
    /// The filter sent bytes that are not a reply.
    #[error("milter client: {0}")]
    Codec(#[from] super::codec::CodecError),
    /// The filter answered out of turn.
    #[error("milter client: unexpected reply {0:?}")]
    Unexpected(Reply),
    /// The filter closed the connection.
    #[error("milter client: the filter closed the connection")]
    Closed,
}

/// What the filter answered at end of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Modifications (header fields, quarantine), in order.
    pub modifications: Vec<Reply>,
    /// The final reply.
    pub last: Reply,
}

impl Outcome {
    /// The header field `name` the filter added, if any (without the
    /// leading space a `HDR_LEADSPC` filter sends).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.modifications.iter().find_map(|r| match r {
            Reply::AddHeader { name: n, value } | Reply::InsertHeader { name: n, value, .. }
                if n.eq_ignore_ascii_case(name) =>
            {
                Some(value.strip_prefix(' ').unwrap_or(value))
            }
            _ => None,
        })
    }

    /// True when the filter quarantined the message.
    pub fn quarantined(&self) -> bool {
        self.modifications
            .iter()
            .any(|r| matches!(r, Reply::Quarantine(_)))
    }
}

/// One MTA connection to a filter.
#[derive(Debug)]
pub struct MilterClient {
    stream: TcpStream,
    buf: BytesMut,
    negotiated: OptNeg,
}

/// What Postfix 3 offers: version 6, every action, every protocol step.
pub const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

impl MilterClient {
    /// Connects and negotiates with `offer`.
    pub async fn connect(addr: SocketAddr, offer: OptNeg) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut c = MilterClient {
            stream,
            buf: BytesMut::with_capacity(4096),
            negotiated: offer,
        };
        c.send(&[Command::OptNeg(offer)]).await?;
        match c.reply().await? {
            Reply::OptNeg(n) => c.negotiated = n,
            other => return Err(ClientError::Unexpected(other)),
        }
        Ok(c)
    }

    /// The filter's side of the negotiation.
    pub fn negotiated(&self) -> OptNeg {
        self.negotiated
    }

    async fn send(&mut self, commands: &[Command]) -> Result<(), ClientError> {
        let mut out = BytesMut::new();
        for c in commands {
            c.encode(&mut out);
        }
        self.stream.write_all(&out).await?;
        Ok(())
    }

    async fn reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some((code, data)) = take_packet(&mut self.buf, 1 << 20)? {
                return Ok(Reply::decode(code, &data)?);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Sends `command`; waits for its `c` unless the filter asked for no
    /// reply (`no_reply` negotiated).
    async fn step(&mut self, command: Command, no_reply: u32) -> Result<(), ClientError> {
        self.send(std::slice::from_ref(&command)).await?;
        if self.negotiated.protocol & no_reply == 0 {
            match self.reply().await? {
                Reply::Continue => {}
                other => return Err(ClientError::Unexpected(other)),
            }
        }
        Ok(())
    }

    /// One SMTP session with one message, the way Postfix's `smtpd` feeds
    /// it: connect, HELO, MAIL (with the `i` and `{auth_authen}` macros),
    /// RCPT, DATA, header fields, end of headers, body in 64 KiB chunks,
    /// end of message; returns the filter's answer. The connection can be
    /// used for the next message.
    pub async fn message(&mut self, envelope: &Envelope, message: &[u8]) -> Result<Outcome, ClientError> {
        use protocol::*;
        let (family, address) = match envelope.client_ip {
            Some(std::net::IpAddr::V4(a)) => (b'4', a.to_string()),
            Some(std::net::IpAddr::V6(a)) => (b'6', a.to_string()),
            None => (b'U', String::new()),
        };
        self.send(&[Command::Macro {
            stage: b'C',
            pairs: vec![
                ("j".into(), "mx.test".into()),
                ("{daemon_name}".into(), "smtpd".into()),
            ],
        }])
        .await?;
        self.step(
            Command::Connect {
                hostname: format!("[{address}]"),
                family,
                port: 40_000,
                address,
            },
            NR_CONN,
        )
        .await?;
        self.step(Command::Helo(envelope.helo.clone().unwrap_or_default()), NR_HELO)
            .await?;
        let mut mail_macros = vec![("i".into(), envelope.queue_id.clone().unwrap_or_default())];
        if let Some(u) = &envelope.auth_user {
            mail_macros.push(("{auth_type}".into(), "PLAIN".into()));
            mail_macros.push(("{auth_authen}".into(), u.clone()));
        }
        self.send(&[Command::Macro {
            stage: b'M',
            pairs: mail_macros,
        }])
        .await?;
        self.step(Command::Mail(vec![format!("<{}>", envelope.mail_from)]), NR_MAIL)
            .await?;
        for r in &envelope.rcpt_to {
            self.step(Command::Rcpt(vec![format!("<{r}>")]), NR_RCPT).await?;
        }
        self.step(Command::Data, NR_DATA).await?;
        let (headers, body) = split_message(message);
        let leadspc = self.negotiated.protocol & HDR_LEADSPC != 0;
        for (name, mut value) in headers {
            if !leadspc && value.first() == Some(&b' ') {
                value.remove(0);
            }
            self.step(Command::Header { name, value }, NR_HDR).await?;
        }
        self.step(Command::Eoh, NR_EOH).await?;
        for chunk in body.chunks(super::codec::CHUNK_SIZE) {
            self.step(Command::Body(chunk.to_vec()), NR_BODY).await?;
        }
        self.send(&[Command::Eom(Vec::new())]).await?;
        let mut modifications = Vec::new();
        loop {
            let r = self.reply().await?;
            if r.is_final() {
                return Ok(Outcome {
                    modifications,
                    last: r,
                });
            }
            if !matches!(r, Reply::Progress) {
                modifications.push(r);
            }
        }
    }

    /// Ends the session (`Q`).
    pub async fn quit(mut self) -> Result<(), ClientError> {
        self.send(&[Command::Quit]).await?;
        Ok(())
    }
}

/// A header field's name and value, as bytes.
pub type HeaderField = (Vec<u8>, Vec<u8>);

/// Splits a message the way an MTA hands it to a milter: header fields
/// (name, value after the colon with folded lines joined by LF) and the
/// body with CRLF line ends.
pub fn split_message(message: &[u8]) -> (Vec<HeaderField>, Vec<u8>) {
    let mut headers: Vec<HeaderField> = Vec::new();
    let mut rest = message;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, next) = rest.split_at(end);
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            rest = next;
            break;
        }
        if matches!(text[0], b' ' | b'\t') {
            if let Some((_, v)) = headers.last_mut() {
                v.push(b'\n');
                v.extend_from_slice(text);
            }
        } else if let Some(colon) = text.iter().position(|&b| b == b':') {
            headers.push((text[..colon].to_vec(), text[colon + 1..].to_vec()));
        } else {
            // Not a header field: the body starts here (as Postfix does).
            break;
        }
        rest = next;
        if rest.is_empty() {
            break;
        }
    }
    let mut body = Vec::with_capacity(rest.len() + rest.len() / 40);
    let mut prev = 0u8;
    for &b in rest {
        if b == b'\n' && prev != b'\r' {
            body.push(b'\r');
        }
        body.push(b);
        prev = b;
    }
    (headers, body)
}

/// The offer of an MTA that answers every step (no `NR_*` flags), for
/// tests of the fully acknowledged path.
pub fn chatty_offer() -> OptNeg {
    OptNeg {
        version: 6,
        actions: action::ADDHDRS | action::QUARANTINE,
        protocol: protocol::HDR_LEADSPC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_like_an_mta_does() {
        let (h, b) = split_message(b"Subject: a\r\n b\r\nTo:x@y\nX-E:\r\n\r\nline1\nline2\r\n");
        assert_eq!(
            h,
            [
                (b"Subject".to_vec(), b" a\n b".to_vec()),
                (b"To".to_vec(), b"x@y".to_vec()),
                (b"X-E".to_vec(), b"".to_vec())
            ]
        );
        assert_eq!(b, b"line1\r\nline2\r\n");
        let (h, b) = split_message(b"no header here\r\nbody");
        assert!(h.is_empty());
        assert_eq!(b, b"no header here\r\nbody");
    }
}
