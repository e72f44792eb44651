//! The real rule pack in the real host: the seed's mail, ham, malformed
//! input, the DNS import and its budget, the compile cache, and agreement
//! between the sandboxed and the native build of the same core.

use mailward_core::dns::{Answer, Query, Resolver};
use mailward_core::{Action, ResolverEnv, Settings};
use mailward_host::{Engine, EngineConfig, Limits, LoadError, Readiness, Services};
use mailward_tests::{NOW, inbound, names, read, sandbox_with, seed_sandbox, zone};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

#[test]
fn seed_phish_is_rejected_with_phishing_symbols() {
    let msg = read("seed/seed-phish.eml");
    let v = seed_sandbox()
        .check(&inbound("203.0.113.66", "admin@something.com"), &msg)
        .unwrap();
    assert!(matches!(v.action, Action::Reject | Action::Quarantine), "{v:?}");
    for s in [
        "PHISH_CRED_LURE",
        "PHISH_CRED_BY_REPLY",
        "PHISH_ONE_TIME_EXCEPTION",
    ] {
        assert!(v.has(s), "{s} missing from {:?}", names(&v));
    }
    assert!(v.score >= v.required_score);
    let reply = v.reply.as_ref().expect("a rejected message has an SMTP reply");
    assert_eq!(reply.code, 550);
    assert_eq!(v.rule_pack.name, "mailward-default");
    assert!(v.header("X-Mailward").unwrap().starts_with("reject; score="));
}

#[test]
fn plain_ham_is_accepted() {
    let msg = read("ham/lunch.eml");
    // example.org authorises its mail server in SPF, so the From domain is
    // authenticated (aligned SPF pass): nothing counts against the mail.
    let z = zone(
        "example.org:\n  - MX: [10, mx.example.org]\n  - TXT: v=spf1 mx -all\nmx.example.org:\n  - A: 192.0.2.9\n",
    );
    let s = sandbox_with(Arc::new(z), &Settings::default(), Limits::default());
    let v = s.check(&inbound("192.0.2.9", "alice@example.org"), &msg).unwrap();
    assert_eq!(v.action, Action::Accept, "{:?}", names(&v));
    // Nothing counts against it; the classifier may vouch for it.
    assert!(v.score <= 0.0, "{} {:?}", v.score, names(&v));
    assert!(v.symbols.iter().all(|s| s.score <= 0.0), "{:?}", names(&v));
    assert!(v.has("SPF_PASS") && v.has("COMPAUTH_PASS"), "{:?}", names(&v));
    assert!(v.reply.is_none());
}

/// Inputs that have broken parsers: each must come back as a verdict.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let mut lcg = 0x2545_f491_4f6c_dd1du64;
    let mut noise = vec![0u8; 64 * 1024];
    for b in &mut noise {
        lcg = lcg
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *b = (lcg >> 56) as u8;
    }
    let mut nested = Vec::new();
    for i in 0..300 {
        nested.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    // Deep nesting, for the parsers' stacks and the sandbox's 256 KiB one
    // (pack/build_support.rs): an overflow would trap.
    let mut rfc822 = Vec::new();
    for _ in 0..2000 {
        rfc822.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nFrom: c@example.net\r\n");
    }
    rfc822.extend_from_slice(b"\r\nbody\r\n");
    let html = [
        b"Content-Type: text/html\r\n\r\n".as_slice(),
        &b"<div><font><a href='http://x.example/'>".repeat(20_000),
        &b"</a></font></div>".repeat(20_000),
    ]
    .concat();
    let comments = [
        b"From: ".as_slice(),
        &b"(".repeat(50_000),
        b"a@example.com",
        &b")".repeat(50_000),
        b"\r\nReceived: from x ",
        &b"(".repeat(50_000),
        b" by y\r\n\r\nbody\r\n",
    ]
    .concat();
    vec![
        ("empty", Vec::new()),
        ("nul bytes", vec![0; 4096]),
        ("random noise", noise),
        ("one huge header line", [b"Subject: ".as_slice(), &vec![b'A'; 2 << 20]].concat()),
        ("header without body", b"From: a@b.example\r\nSubject: x".to_vec()),
        ("only blank lines", b"\r\n\r\n\r\n".to_vec()),
        ("continuation first", b"  folded\r\n\tmore\r\n\r\nbody".to_vec()),
        ("unterminated multipart", b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello".to_vec()),
        ("300-deep multipart", nested),
        ("2000 nested messages", rfc822),
        ("20 000 nested HTML tags", html),
        ("50 000 nested comments", comments),
        ("bad base64", b"Content-Transfer-Encoding: base64\r\n\r\n!!!!****====\r\n".to_vec()),
        ("bad quoted-printable", b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=".to_vec()),
        ("unknown charset", b"Content-Type: text/plain; charset=x-klingon\r\n\r\n\xff\xfe\xfd".to_vec()),
        ("broken encoded words", b"Subject: =?utf-8?b?////?= =?x?q?=ZZ?=\r\nFrom: =?utf-8?q?\xff?= <@>\r\n\r\nx".to_vec()),
        ("html tag soup", b"Content-Type: text/html\r\n\r\n<a href=\"<a href=<<<>>></a></a><a href='x".to_vec()),
        ("invalid utf-8 everywhere", b"Subject: \xc3\x28\xa0\xa1\r\nFrom: \xe2\x28\xa1 <x@\xf0\x28\x8c\xbc>\r\n\r\n\xf8\xa1\xa1\xa1\xa1".to_vec()),
    ]
}

#[test]
fn malformed_input_gets_a_verdict_never_a_trap() {
    let s = seed_sandbox();
    for (name, bytes) in malformed() {
        let v = s
            .check(&inbound("198.51.100.1", ""), &bytes)
            .unwrap_or_else(|e| panic!("{name}: sandbox failed: {e}"));
        assert!(v.score.is_finite(), "{name}");
    }
}

#[test]
fn dns_import_is_answered_from_the_zone() {
    let msg = b"From: Bob <bob@exists.example>\r\nSubject: hi\r\n\r\nhello\r\n";
    let z = zone("exists.example:\n  - MX: [10, mx.exists.example]\n");
    let s = sandbox_with(Arc::new(z), &Settings::default(), Limits::default());
    let known = s.check(&inbound("192.0.2.1", "bob@exists.example"), msg).unwrap();
    assert!(!known.has("SENDER_DOMAIN_NXDOMAIN"), "{:?}", names(&known));
    let unknown = s
        .check(&inbound("192.0.2.1", "bob@missing.example"), msg)
        .unwrap();
    assert!(unknown.has("SENDER_DOMAIN_NXDOMAIN"), "{:?}", names(&unknown));
    assert_eq!(
        unknown.symbol("SENDER_DOMAIN_NXDOMAIN").unwrap().options,
        ["missing.example"]
    );
}

/// Counts the questions it is asked; every name is NXDOMAIN.
#[derive(Debug, Default)]
struct Counting(AtomicU32);

impl Resolver for Counting {
    fn lookup(&self, _q: &Query) -> Answer {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(mailward_core::dns::DnsError::NxDomain)
    }
}

#[test]
fn dns_budget_is_enforced_by_the_host() {
    let counting = Arc::new(Counting::default());
    let limits = Limits {
        dns_queries: 1,
        ..Limits::default()
    };
    let s = sandbox_with(counting.clone(), &Settings::default(), limits);
    let msg = b"From: x@other.example\r\n\r\nhi\r\n";
    let v = s
        .check(&inbound("192.0.2.1", "bob@missing.example"), msg)
        .unwrap();
    // Two questions (MX and A) for the sender domain do not fit a budget of
    // one: the host refuses the batch, the check cannot tell, nothing fires.
    assert_eq!(counting.0.load(Ordering::Relaxed), 0);
    assert!(!v.has("SENDER_DOMAIN_NXDOMAIN"), "{:?}", names(&v));
}

/// A From field naming thousands of author domains made DMARC look each
/// one up: the message spent its DNS budget, kept asking, and the host
/// stopped the pack for abusing the DNS import, so the message got the
/// fail policy instead of a verdict. Now more than eight author domains
/// are a DMARC permanent error, asked about once.
#[test]
fn from_with_thousands_of_author_domains_gets_a_verdict() {
    let cases: &[(usize, bool)] = &[(1, false), (8, false), (9, true), (20_000, true)];
    for &(n, permerror) in cases {
        let counting = Arc::new(Counting::default());
        let s = sandbox_with(counting.clone(), &Settings::default(), Limits::default());
        let from: Vec<String> = (0..n).map(|i| format!("n{i} <a{i}@d{i}.example>")).collect();
        let msg = format!(
            "From: {}\r\nTo: b@example.org\r\nSubject: many authors\r\n\r\nhello\r\n",
            from.join(", ")
        );
        let v = s
            .check(&inbound("192.0.2.1", "a0@d0.example"), msg.as_bytes())
            .unwrap_or_else(|e| panic!("{n} author domains: no verdict: {e}"));
        let asked = counting.0.load(Ordering::Relaxed);
        assert!(asked <= Limits::default().dns_queries, "{n}: {asked} questions");
        assert_eq!(v.has("DMARC_PERMERROR"), permerror, "{n}: {:?}", names(&v));
        if permerror {
            let why = &v.symbol("DMARC_PERMERROR").unwrap().options;
            assert_eq!(why[0], "d0.example");
            assert_eq!(why[1], "more than 8 author domains in From");
        } else {
            assert!(v.has("DMARC_NONE"), "{n}: {:?}", names(&v));
        }
    }
}

#[test]
fn sandbox_and_native_core_agree() {
    let z = zone(&String::from_utf8(read("seed/something.com.zone.yml")).unwrap());
    let mut native = mailward_rules::default_filter().unwrap();
    native.configure(&Settings::default()).unwrap();
    let mut messages = vec![read("seed/seed-phish.eml"), read("ham/lunch.eml")];
    messages.extend(malformed().into_iter().map(|(_, m)| m));
    for dir in ["golden/phishing", "golden/ham", "golden/sanity"] {
        for e in std::fs::read_dir(mailward_tests::data().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "eml") {
                messages.push(std::fs::read(p).unwrap());
            }
        }
    }
    let env = inbound("203.0.113.66", "admin@something.com");
    // The native core gets state too (its own, as the sandbox has its own):
    // inbound credential phishing is remembered either way.
    let state = mailward_host::EmbeddedStore::in_memory().unwrap();
    let state = mailward_host::CoreState(&state);
    for m in &messages {
        let wasm = seed_sandbox().check(&env, m).unwrap();
        let renv = ResolverEnv::new(&z, NOW, 100).with_state(&state);
        let nat = native.check(&renv, &env, m);
        assert_eq!(wasm, nat, "sandboxed and native verdicts differ");
    }
    assert!(messages.len() > 20);
}

#[test]
fn compile_cache_serves_the_second_load() {
    let dir = std::env::temp_dir().join(format!("mailward-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::new(EngineConfig {
        cache_dir: Some(dir.clone()),
        ..EngineConfig::default()
    })
    .unwrap();
    let services = Services::new(
        Arc::new(mailward_core::dns::Offline),
        Arc::new(mailward_host::SystemClock),
        Arc::new(mailward_host::EmbeddedStore::in_memory().unwrap()),
    );
    let limits = Arc::new(Limits::default());
    let settings = Settings::default();
    let first = engine
        .load_pack(mailward_pack::DEFAULT_PACK, &settings, &services, &limits)
        .unwrap();
    assert_eq!(
        first.readiness,
        Readiness::Compiled,
        "the pack is pre-initialised and compiled"
    );
    let second = engine
        .load_pack(mailward_pack::DEFAULT_PACK, &settings, &services, &limits)
        .unwrap();
    assert_eq!(second.readiness, Readiness::Cached);
    assert!(second.load_time < first.load_time);
    // Other settings are another entry: configure runs again.
    let other = Settings {
        protected_domains: vec!["example.com".into()],
        ..Settings::default()
    };
    let third = engine
        .load_pack(mailward_pack::DEFAULT_PACK, &other, &services, &limits)
        .unwrap();
    assert_eq!(third.readiness, Readiness::Compiled);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_reach_the_pack_and_bad_settings_are_refused() {
    let engine = Engine::new(EngineConfig {
        cache_dir: Some(mailward_tests::cache_dir()),
        ..EngineConfig::default()
    })
    .unwrap();
    let services = Services::new(
        Arc::new(mailward_core::dns::Offline),
        Arc::new(mailward_host::SystemClock),
        Arc::new(mailward_host::EmbeddedStore::in_memory().unwrap()),
    );
    let limits = Arc::new(Limits::default());
    let bad = Settings {
        options: vec![("no-such-option".into(), "1".into())],
        ..Settings::default()
    };
    match engine.load_pack(mailward_pack::DEFAULT_PACK, &bad, &services, &limits) {
        Err(LoadError::Configure(msg)) => assert!(msg.contains("no-such-option"), "{msg}"),
        other => panic!("expected a configure error, got {other:?}"),
    }
    // Lower thresholds turn the lunch mail from a domain that does not
    // exist (5 points: SENDER_DOMAIN_NXDOMAIN 3, SENDERID_FAIL 1 for a
    // made-up PRA domain, COMPAUTH_FAIL_IMPLICIT 1) into add-header.
    let low = Settings {
        thresholds: mailward_core::Thresholds {
            add_header: Some(2.0),
            quarantine: Some(6.0),
            reject: Some(8.0),
        },
        ..Settings::default()
    };
    let s = sandbox_with(Arc::new(zone("{}")), &low, Limits::default());
    let v = s
        .check(&inbound("192.0.2.1", "alice@example.org"), &read("ham/lunch.eml"))
        .unwrap();
    assert_eq!(v.action, Action::AddHeader, "{:?}", names(&v));
    assert_eq!(v.required_score, 8.0);
}

#[test]
fn bad_packs_are_refused_with_a_reason() {
    let engine = Engine::new(EngineConfig {
        cache_dir: None,
        ..EngineConfig::default()
    })
    .unwrap();
    let services = Services::new(
        Arc::new(mailward_core::dns::Offline),
        Arc::new(mailward_host::SystemClock),
        Arc::new(mailward_host::EmbeddedStore::in_memory().unwrap()),
    );
    let limits = Arc::new(Limits::default());
    let s = Settings::default();
    let truncated = &mailward_pack::DEFAULT_PACK[..mailward_pack::DEFAULT_PACK.len() / 2];
    assert!(matches!(
        engine.load_pack(truncated, &s, &services, &limits),
        Err(LoadError::Invalid(_))
    ));
    assert!(matches!(
        engine.load_pack(b"hello", &s, &services, &limits),
        Err(LoadError::Invalid(_))
    ));
    // A core module (not a component): `(module)` in binary.
    let core_module = b"\0asm\x01\0\0\0";
    assert!(matches!(
        engine.load_pack(core_module, &s, &services, &limits),
        Err(LoadError::CoreModule)
    ));
}
