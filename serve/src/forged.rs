//! Header fields that claim to be mailward's but arrived with the message.
//!
//! `X-Mailward` and `X-Spam-Flag` are written by mailward's verdict only,
//! and an `Authentication-Results` field carrying mailward's authserv-id
//! may only come from mailward (RFC 8601 §5): any that arrive with a
//! message are forged or stale, and both protocols delete them before
//! mailward adds its own. The milter deletes each with `SMFIR_CHGHEADER`;
//! the `/checkv2` answer lists them in rspamd's `milter.remove_headers`.

use mailward_core::{Action, Verdict};

/// Fields only mailward writes (see `core/src/verdict.rs`).
pub const OWN_FIELDS: &[&str] = &["X-Mailward", "X-Spam-Flag"];

/// The field whose authserv-id decides.
const AUTH_RESULTS: &str = "Authentication-Results";

/// Most fields tracked per message (a message with more keeps the rest;
/// the MTA's own limits apply long before).
pub const MAX_PRESENT: usize = 256;

/// A received header field that may need deleting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// Its name as received.
    pub name: String,
    /// Which field of this name it is (1 = the first), as `SMFIR_CHGHEADER`
    /// and rspamd count.
    pub index: u32,
    /// For `Authentication-Results`: its authserv-id, lower-case.
    pub authserv_id: Option<String>,
}

/// The authserv-id of an `Authentication-Results` value (RFC 8601 §2.2):
/// the first token, after any comment.
pub fn authserv_id(value: &str) -> Option<String> {
    let mut rest = value.trim_start();
    while let Some(after) = rest.strip_prefix('(') {
        rest = after.split_once(')').map_or("", |(_, r)| r).trim_start();
    }
    let id = rest
        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("");
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

/// Records the field `name: value` in `present` when it is one mailward
/// writes, with its index among the fields of that name.
pub fn track(present: &mut Vec<Present>, name: &str, value: &str) {
    let ar = name.eq_ignore_ascii_case(AUTH_RESULTS);
    if (!ar && !OWN_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f))) || present.len() >= MAX_PRESENT {
        return;
    }
    let index = 1 + present
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case(name))
        .count() as u32;
    present.push(Present {
        name: name.to_string(),
        index,
        authserv_id: if ar { authserv_id(value) } else { None },
    });
}

/// The tracked fields of a whole message's header block (folded lines
/// joined).
pub fn present_in(message: &[u8]) -> Vec<Present> {
    let mut present = Vec::new();
    for (n, v) in crate::header_fields(message) {
        track(&mut present, &n, &v);
    }
    present
}

/// Which of `present` the verdict's header fields replace, last first (so
/// that deleting them one by one leaves the others' indices valid):
/// every [`OWN_FIELDS`] field, and each `Authentication-Results` with the
/// authserv-id of the one the verdict adds. None for a refused message.
pub fn forged<'p>(verdict: &Verdict, present: &'p [Present]) -> Vec<&'p Present> {
    if matches!(verdict.action, Action::Reject | Action::Tempfail) {
        return Vec::new();
    }
    let ours: Vec<String> = verdict
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(AUTH_RESULTS))
        .filter_map(|h| authserv_id(&h.value))
        .collect();
    present
        .iter()
        .rev()
        .filter(|p| match &p.authserv_id {
            Some(id) => ours.contains(id),
            None => !p.name.eq_ignore_ascii_case(AUTH_RESULTS),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authserv_ids_are_read_past_comments() {
        for (value, want) in [
            (" mx.something.com; spf=pass", Some("mx.something.com")),
            ("MX.Example.ORG 1; none", Some("mx.example.org")),
            (" (forged) mx; dkim=pass", Some("mx")),
            ("mx;spf=fail", Some("mx")),
            ("   ", None),
            ("(only a comment)", None),
        ] {
            assert_eq!(authserv_id(value).as_deref(), want, "{value:?}");
        }
    }

    #[test]
    fn header_fields_unfold_and_skip_stray_lines() {
        let f = crate::header_fields(
            b"From : a@b\r\nSubject: one\r\n two\r\nstray line\r\n\tlost\r\nTo:\tc@d\r\n\r\nX: body\r\n",
        );
        let want = [("From", " a@b"), ("Subject", " one two"), ("To", "\tc@d")];
        assert_eq!(f, want.map(|(n, v)| (n.to_string(), v.to_string())).to_vec());
        assert_eq!(
            crate::rspamd::message_id(b"Message-ID:\r\n <a@b.example>\r\n\r\n").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            crate::rspamd::message_id(b"Subject: x\r\n\r\nMessage-ID: <no>\r\n"),
            None
        );
    }

    #[test]
    fn a_header_block_is_read_with_folded_fields_and_indices() {
        let p = present_in(
            b"X-Mailward: accept\r\nAuthentication-Results: relay.example;\r\n spf=none\r\n\
              Subject: x\r\nauthentication-results:\r\n\t(c) mx; dkim=pass\r\n\r\n\
              X-Mailward: in the body, not a field\r\n",
        );
        assert_eq!(
            p,
            [
                Present {
                    name: "X-Mailward".into(),
                    index: 1,
                    authserv_id: None
                },
                Present {
                    name: "Authentication-Results".into(),
                    index: 1,
                    authserv_id: Some("relay.example".into())
                },
                Present {
                    name: "authentication-results".into(),
                    index: 2,
                    authserv_id: Some("mx".into())
                },
            ]
        );
    }
}
