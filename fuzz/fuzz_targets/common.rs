//! What the `check` fuzz target and its regression tests
//! (`tests/fuzz_regressions.rs`, which includes this file) share: the
//! input format, the settings, the DNS answers and the verdict invariants.
//! One definition, so a regression test replays a finding exactly as the
//! fuzzer ran it.
//!
//! Input: the raw message, optionally preceded by an envelope block:
//!
//! ```text
//! \0ENV\n
//! ip 203.0.113.5\n
//! helo mx.example\n
//! from user@example.com\n
//! rcpt a@b.example\n
//! auth someone\n
//! \n
//! <message bytes>
//! ```

use mailward_core::dns::{Answer, DnsError, Query, Record, RecordType};
use mailward_core::{Direction, Env, Envelope, Filter, Level, Settings, Verdict};

/// The time every run sees (2026-11-26T00:00:00Z).
pub const NOW: u64 = 1_795_651_200;

/// The deployment settings the target configures the default pack with.
pub fn settings() -> Settings {
    Settings {
        protected_domains: vec!["example.com".into(), "something.com".into()],
        authserv_id: "mx.fuzz.example".into(),
        // The checks that are off by default run too.
        options: vec![
            ("ok-scripts".into(), "latin".into()),
            ("ok-languages".into(), "en".into()),
        ],
        ..Settings::default()
    }
}

/// The answer to `q`: it depends only on (name, type), through a hash, so
/// a run is deterministic and every kind of answer and error shows up.
pub fn answer(q: &Query) -> Answer {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ q.rtype as u64;
    for b in q.name.bytes() {
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3);
    }
    match h % 8 {
        0 => Err(DnsError::NxDomain),
        1 => Err(DnsError::NoData),
        2 => Err(DnsError::ServFail),
        3 => Err(DnsError::Timeout),
        _ => Ok(match q.rtype {
            RecordType::A => vec![Record::A([192, 0, 2, (h >> 8) as u8].into())],
            RecordType::Aaaa => vec![Record::Aaaa(std::net::Ipv6Addr::LOCALHOST)],
            RecordType::Txt => vec![Record::Txt(match h % 3 {
                0 => b"v=spf1 ip4:192.0.2.0/24 mx -all".to_vec(),
                1 => b"v=DMARC1; p=reject".to_vec(),
                _ => format!("v=DKIM1; k=rsa; p={}", q.name).into_bytes(),
            })],
            RecordType::Mx => vec![Record::Mx {
                preference: (h >> 16) as u16,
                exchange: format!("mx.{}", q.name),
            }],
            RecordType::Ptr => vec![Record::Ptr("host.example.net".into())],
        }),
    }
}

/// The environment of a native run: [`answer`] for DNS, [`NOW`], no logs.
pub struct HashDns;

impl Env for HashDns {
    fn lookup(&self, q: &Query) -> Answer {
        answer(q)
    }

    fn now(&self) -> u64 {
        NOW
    }

    fn log(&self, _: Level, _: &str) {}
}

/// Splits an input into its envelope (the default one when there is no
/// envelope block) and the message bytes.
pub fn split(data: &[u8]) -> (Envelope, &[u8]) {
    let mut env = Envelope {
        client_ip: Some([198, 51, 100, 7].into()),
        helo: Some("mail.example.net".into()),
        mail_from: "sender@example.net".into(),
        rcpt_to: vec!["user@example.com".into()],
        ..Envelope::default()
    };
    let Some(rest) = data.strip_prefix(b"\0ENV\n") else {
        return (env, data);
    };
    let end = rest.windows(2).position(|w| w == b"\n\n").unwrap_or(rest.len());
    let (head, body) = rest.split_at(end);
    let body = body.get(2..).unwrap_or_default();
    for line in head.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let (key, value) = line.split_once(' ').unwrap_or((&line, ""));
        match key {
            "ip" => env.client_ip = value.parse().ok(),
            "helo" => env.helo = Some(value.into()),
            "from" => env.mail_from = value.into(),
            "rcpt" => env.rcpt_to.push(value.into()),
            "auth" => {
                env.auth_user = Some(value.into());
                env.direction = Direction::Outbound;
            }
            _ => {}
        }
    }
    (env, body)
}

/// Beyond "no panic": the verdict is one the host accepts — finite
/// scores, header values and SMTP reply text without line breaks or NULs,
/// and only symbols the pack knows.
pub fn assert_valid(filter: &Filter, v: &Verdict) {
    assert!(v.score.is_finite() && v.required_score.is_finite(), "score");
    for h in &v.headers {
        assert!(
            !h.value.contains(['\r', '\n', '\0']),
            "header {} breaks lines",
            h.name
        );
    }
    if let Some(r) = &v.reply {
        assert!((400..600).contains(&r.code), "reply code");
        assert!(!r.text.contains(['\r', '\n']), "reply text breaks lines");
    }
    for s in &v.symbols {
        assert!(
            filter.pack().symbols.iter().any(|k| k.name == s.name),
            "unknown symbol {}",
            s.name
        );
    }
}
