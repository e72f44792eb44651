//! Sender authentication in the real pack in the real host: the seed's
//! spoof of a protected domain end to end, the Authentication-Results
//! header against a strict RFC 8601 grammar, and hostile DNS.

#[path = "ar_grammar.rs"]
mod ar_grammar;

use mailward_core::checks::auth::{
    ArcChain, ArcHop, ArcOutcome, AuthResults, CompAuthOutcome, CompAuthReason, CompAuthResult, DkimOutcome,
    DkimResult, DmarcOutcome, DmarcPolicy, DmarcResult, SenderIdOutcome, SenderIdRecord, SpfIdentity,
    SpfOutcome, SpfResult,
};
use mailward_core::dns::{Answer, DnsError, Query, Resolver};
use mailward_core::{Action, Envelope, Settings, Verdict};
use mailward_host::{Limits, ZoneResolver};
use mailward_tests::{inbound, names, read, sandbox_with, zone};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn protected() -> Settings {
    Settings {
        protected_domains: vec!["something.com".into()],
        authserv_id: "mx.something.com".into(),
        ..Settings::default()
    }
}

fn seed_zone() -> ZoneResolver {
    zone(&String::from_utf8(read("seed/something.com.zone.yml")).unwrap())
}

fn envelope(ip: &str, helo: &str, mail_from: &str) -> Envelope {
    Envelope {
        helo: Some(helo.into()),
        ..inbound(ip, mail_from)
    }
}

/// The sum of the scores of the sender-authentication symbols.
fn auth_score(v: &Verdict) -> f64 {
    v.symbols
        .iter()
        .filter(|s| {
            ["SPF_", "SENDERID_", "DMARC_", "COMPAUTH_"]
                .iter()
                .any(|p| s.name.starts_with(p))
        })
        .map(|s| s.score)
        .sum()
}

/// Checks the verdict's Authentication-Results header against the strict
/// grammar and the registered results and properties; returns it parsed.
fn checked_ar(v: &Verdict) -> ar_grammar::Payload {
    let value = v
        .header("Authentication-Results")
        .expect("an Authentication-Results header");
    let p = ar_grammar::parse(value).unwrap_or_else(|e| panic!("not RFC 8601: {e}"));
    for r in &p.results {
        assert!(
            ar_grammar::allowed_results(&r.method).contains(&r.result.as_str()),
            "{}={} is not a registered result: {value}",
            r.method,
            r.result
        );
        for (t, prop, _) in &r.props {
            assert!(
                ar_grammar::allowed_property(&r.method, t, prop),
                "{}: {t}.{prop} is not a registered property: {value}",
                r.method
            );
        }
    }
    p
}

fn entry<'a>(p: &'a ar_grammar::Payload, method: &str) -> &'a ar_grammar::Res {
    p.results
        .iter()
        .find(|r| r.method == method)
        .unwrap_or_else(|| panic!("no {method}= in {p:?}"))
}

#[test]
fn seed_spoof_of_a_protected_domain_is_refused_on_authentication() {
    let s = sandbox_with(Arc::new(seed_zone()), &protected(), Limits::default());
    let lure = read("seed/seed-phish.eml");
    let env = envelope("203.0.113.66", "mx.phisher.example", "admin@something.com");
    let v = s.check(&env, &lure).unwrap();
    assert!(
        matches!(v.action, Action::Reject | Action::Quarantine),
        "{:?}",
        names(&v)
    );
    for sym in [
        "COMPAUTH_INTRA_ORG_SPOOF",
        "DMARC_FAIL_REJECT",
        "SPF_FAIL",
        "SENDERID_FAIL",
    ] {
        assert!(v.has(sym), "{sym} missing: {:?}", names(&v));
    }
    assert!(
        !v.has("COMPAUTH_FAIL"),
        "one composite verdict only: {:?}",
        names(&v)
    );
    let ar = checked_ar(&v);
    assert_eq!(ar.authserv_id, "mx.something.com");
    let compauth = entry(&ar, "compauth");
    assert_eq!(
        (compauth.result.as_str(), compauth.reason.as_deref()),
        ("fail", Some("intra-org-spoof"))
    );
    let dmarc = entry(&ar, "dmarc");
    assert_eq!(dmarc.result, "fail");
    assert_eq!(dmarc.prop("header", "from"), Some("something.com"));
    assert_eq!(dmarc.prop("policy", "dmarc"), Some("reject"));
    let spf = entry(&ar, "spf");
    assert_eq!(
        (spf.result.as_str(), spf.prop("smtp", "mailfrom")),
        ("fail", Some("admin@something.com"))
    );
    assert_eq!(
        entry(&ar, "sender-id").prop("header", "from"),
        Some("admin@something.com")
    );
    assert_eq!(entry(&ar, "dkim").result, "none");
    assert_eq!(entry(&ar, "arc").result, "none");
    let reply = v.reply.as_ref().unwrap();
    assert_eq!((reply.code, reply.enhanced.as_str()), (550, "5.7.1"));
    assert!(reply.text.contains("intra-org-spoof"), "{reply:?}");

    // Authentication alone refuses it: the same spoof with a harmless body.
    let harmless = b"Return-Path: <admin@something.com>\r\nFrom: \"something.com IT\" <admin@something.com>\r\nTo: jane.doe@something.com\r\nSubject: Lunch\r\nMessage-ID: <x1@mx.phisher.example>\r\n\r\nAre you free for lunch on Thursday?\r\n";
    let v = s.check(&env, harmless).unwrap();
    assert!(
        matches!(v.action, Action::Reject | Action::Quarantine),
        "{:?}",
        names(&v)
    );
    assert!(
        auth_score(&v) >= 15.0,
        "auth alone scores {}: {:?}",
        auth_score(&v),
        names(&v)
    );

    // The envelope can name the attacker's own domain (SPF pass there):
    // the header From is still an unauthenticated spoof of ours.
    let z = {
        let mut z = seed_zone();
        z.merge_yaml_value(
            &serde_yaml::from_str("phisher.example:\n  - TXT: v=spf1 ip4:203.0.113.0/24 -all\n").unwrap(),
        )
        .unwrap();
        z
    };
    let s2 = sandbox_with(Arc::new(z), &protected(), Limits::default());
    let v = s2
        .check(
            &envelope("203.0.113.66", "mx.phisher.example", "bounce@phisher.example"),
            harmless,
        )
        .unwrap();
    assert!(
        v.has("SPF_PASS") && v.has("COMPAUTH_INTRA_ORG_SPOOF"),
        "{:?}",
        names(&v)
    );
    assert!(
        matches!(v.action, Action::Reject | Action::Quarantine),
        "{:?}",
        names(&v)
    );

    // Control: the same harmless mail from something.com's own server.
    let ok = s
        .check(
            &envelope("192.0.2.25", "mx.something.com", "admin@something.com"),
            harmless,
        )
        .unwrap();
    assert_eq!(ok.action, Action::Accept, "{:?}", names(&ok));
    assert!(
        ok.has("COMPAUTH_PASS") && ok.has("DMARC_PASS") && ok.has("SPF_PASS"),
        "{:?}",
        names(&ok)
    );
    assert_eq!(
        entry(&checked_ar(&ok), "compauth").reason.as_deref(),
        Some("aligned")
    );
}

#[test]
fn without_protected_domains_the_seed_is_an_explicit_dmarc_failure() {
    let s = sandbox_with(Arc::new(seed_zone()), &Settings::default(), Limits::default());
    let v = s
        .check(
            &envelope("203.0.113.66", "mx.phisher.example", "admin@something.com"),
            &read("seed/seed-phish.eml"),
        )
        .unwrap();
    assert!(
        v.has("COMPAUTH_FAIL") && v.has("DMARC_FAIL_REJECT"),
        "{:?}",
        names(&v)
    );
    assert!(!v.has("COMPAUTH_INTRA_ORG_SPOOF"));
    assert_eq!(
        entry(&checked_ar(&v), "compauth").reason.as_deref(),
        Some("explicit-fail")
    );
    assert_eq!(v.action, Action::Reject);
}

#[test]
fn outbound_mail_is_not_judged_by_sender_authentication() {
    let s = sandbox_with(Arc::new(seed_zone()), &protected(), Limits::default());
    let env = Envelope {
        auth_user: Some("jane".into()),
        ..envelope("203.0.113.66", "laptop", "jane.doe@something.com")
    };
    let v = s
        .check(
            &env,
            b"From: jane.doe@something.com\r\nSubject: hi\r\n\r\nhello\r\n",
        )
        .unwrap();
    assert!(
        !v.symbols
            .iter()
            .any(|s| s.name.starts_with("SPF_") || s.name.starts_with("COMPAUTH_")),
        "{:?}",
        names(&v)
    );
    let ar = checked_ar(&v);
    assert_eq!(entry(&ar, "auth").prop("smtp", "auth"), Some("jane"));
}

/// Hostile values in every field we echo: the header stays parseable.
#[test]
fn authentication_results_survive_hostile_values() {
    let z = zone(
        "weird.example:\n  - TXT: \"v=spf1 exp=why.weird.example -all\"\nwhy.weird.example:\n  - TXT: \"no (really) \\\\ %{l}\"\n",
    );
    let settings = Settings {
        authserv_id: "mx.example".into(),
        ..Settings::default()
    };
    let s = sandbox_with(Arc::new(z), &settings, Limits::default());
    for (mail_from, helo, from) in [
        (
            "\"a (b) c\"@weird.example",
            "h(e)lo\\;x",
            "\"Ev;il\" <\"x;y\"@weird.example>",
        ),
        (
            "user@weird.example",
            "[192.0.2.1]",
            "=?utf-8?q?J=C3=B6rg?= <j\u{f6}rg@b\u{fc}cher.example>",
        ),
        ("", "", "no address at all"),
        ("a@b@weird.example", "x y z", "a@weird.example, b@other.example"),
    ] {
        let env = envelope("192.0.2.1", helo, mail_from);
        let msg = format!("From: {from}\r\nSender: <\"s;(\"@weird.example>\r\nSubject: x\r\n\r\nbody\r\n");
        let v = s.check(&env, msg.as_bytes()).unwrap();
        let ar = checked_ar(&v);
        assert_eq!(ar.authserv_id, "mx.example");
        let spf = entry(&ar, "spf");
        if !mail_from.is_empty() {
            assert_eq!(spf.prop("smtp", "mailfrom"), Some(mail_from), "{ar:?}");
        }
    }
}

/// Our header built from every kind of value, round-tripped.
#[test]
fn authentication_results_round_trip() {
    let spf = |identity, sender: &str, result| SpfOutcome {
        result,
        identity,
        sender: sender.into(),
        domain: "example.com".into(),
        explanation: Some("see http://example.com/why?x=(1)".into()),
        reason: "example.com: matched -all (because \"reasons\")".into(),
    };
    let dkim = |d: &str, result, b: &str| DkimOutcome {
        result,
        domain: d.into(),
        selector: "sel-2024".into(),
        algorithm: "rsa-sha256".into(),
        header_b: b.into(),
        weak: false,
        testing: false,
        reason: String::new(),
    };
    let results = AuthResults {
        spf_mailfrom: spf(SpfIdentity::MailFrom, "bounce+x=y@example.com", SpfResult::Fail),
        spf_helo: Some(spf(
            SpfIdentity::Helo,
            "postmaster@mx.example.com",
            SpfResult::Pass,
        )),
        sender_id: SenderIdOutcome {
            result: SpfResult::SoftFail,
            pra: Some("news@example.com".into()),
            pra_field: Some("Resent-Sender".into()),
            record: SenderIdRecord::Spf2Pra,
            reason: "matched ~all".into(),
        },
        dkim: vec![
            dkim("example.com", DkimResult::Pass, "a/b+c=d"),
            dkim("mailer.example.net", DkimResult::Fail, "Zm9v"),
        ],
        arc: ArcOutcome {
            chain: ArcChain::Pass,
            hops: vec![ArcHop {
                instance: 1,
                sealer: "lists.example.org".into(),
                results: "lists.example.org; spf=pass smtp.mailfrom=example.com".into(),
            }],
            reason: String::new(),
        },
        dmarc: DmarcOutcome {
            result: DmarcResult::Pass,
            from_domain: "example.com".into(),
            org_domain: "example.com".into(),
            published: Some(DmarcPolicy::Quarantine),
            applied: DmarcPolicy::None,
            spf_aligned: false,
            dkim_aligned: true,
            reason: "aligned DKIM pass".into(),
        },
        compauth: CompAuthOutcome {
            result: CompAuthResult::Pass,
            reason: CompAuthReason::Aligned,
        },
    };
    let mut config = mailward_rules::default_filter().unwrap().config().clone();
    config.authserv_id = "mx.receiver.example".into();
    let env = Envelope {
        helo: Some("mx.example.com".into()),
        ..Envelope::default()
    };
    let h = mailward_core::checks::auth::ar::header(&config, &env, &results);
    assert_eq!(h.name, "Authentication-Results");
    let p = ar_grammar::parse(&h.value).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.authserv_id, "mx.receiver.example");
    let methods: Vec<(&str, &str)> = p
        .results
        .iter()
        .map(|r| (r.method.as_str(), r.result.as_str()))
        .collect();
    assert_eq!(
        methods,
        [
            ("spf", "fail"),
            ("spf", "pass"),
            ("sender-id", "softfail"),
            ("dkim", "pass"),
            ("dkim", "fail"),
            ("dmarc", "pass"),
            ("arc", "pass"),
            ("compauth", "pass"),
        ]
    );
    assert_eq!(
        p.results[0].prop("smtp", "mailfrom"),
        Some("bounce+x=y@example.com")
    );
    assert_eq!(p.results[1].prop("smtp", "helo"), Some("mx.example.com"));
    assert_eq!(
        p.results[2].prop("header", "resent-sender"),
        Some("news@example.com")
    );
    assert_eq!(p.results[3].prop("header", "d"), Some("example.com"));
    assert_eq!(p.results[3].prop("header", "s"), Some("sel-2024"));
    assert_eq!(p.results[3].prop("header", "b"), Some("a/b+c=d"));
    assert_eq!(p.results[5].prop("header", "from"), Some("example.com"));
    assert_eq!(p.results[5].prop("policy", "dmarc"), Some("none"));
    assert_eq!(p.results[7].reason.as_deref(), Some("aligned"));
    for r in &p.results {
        assert!(
            ar_grammar::allowed_results(&r.method).contains(&r.result.as_str()),
            "{r:?}"
        );
        for (t, prop, _) in &r.props {
            assert!(ar_grammar::allowed_property(&r.method, t, prop), "{r:?}");
        }
    }
}

/// Counts the questions that reach the resolver.
struct Counting<R> {
    inner: R,
    seen: AtomicU32,
}

impl<R: Resolver> Resolver for Counting<R> {
    fn lookup(&self, q: &Query) -> Answer {
        self.seen.fetch_add(1, Ordering::Relaxed);
        self.inner.lookup(q)
    }
}

fn counted(z: ZoneResolver) -> Arc<Counting<ZoneResolver>> {
    Arc::new(Counting {
        inner: z,
        seen: AtomicU32::new(0),
    })
}

/// Runs one message from `mail_from` at 192.0.2.1 against `zone_yaml`;
/// returns the verdict and the number of questions the resolver saw.
fn hostile(zone_yaml: &str, mail_from: &str, from: &str) -> (Verdict, u32) {
    let r = counted(zone(zone_yaml));
    let s = sandbox_with(r.clone(), &protected(), Limits::default());
    let msg = format!("From: {from}\r\nSubject: hi\r\nMessage-ID: <h@x>\r\n\r\nhello\r\n");
    let v = s
        .check(
            &envelope("192.0.2.1", "mx.sender.example", mail_from),
            msg.as_bytes(),
        )
        .unwrap();
    (v, r.seen.load(Ordering::Relaxed))
}

fn symbol_option<'a>(v: &'a Verdict, name: &str) -> &'a [String] {
    &v.symbol(name)
        .unwrap_or_else(|| panic!("{name} missing: {:?}", names(v)))
        .options
}

#[test]
fn hostile_include_loop_is_a_permerror() {
    let (v, seen) = hostile(
        "a.example:\n  - TXT: v=spf1 include:b.example -all\nb.example:\n  - TXT: v=spf1 include:a.example -all\n",
        "x@a.example",
        "x@a.example",
    );
    assert!(
        symbol_option(&v, "SPF_PERMERROR")
            .iter()
            .any(|o| o.contains("more than 10")),
        "{:?}",
        v.symbols
    );
    assert!(seen <= 20, "{seen} questions");
}

#[test]
fn hostile_eleven_dns_mechanisms_are_a_permerror() {
    let mut z = String::from("many.example:\n  - TXT: v=spf1");
    for i in 0..12 {
        z.push_str(&format!(" a:h{i}.many.example"));
    }
    z.push_str(" -all\n");
    for i in 0..12 {
        z.push_str(&format!("h{i}.many.example:\n  - A: 198.51.100.{i}\n"));
    }
    let (v, seen) = hostile(&z, "x@many.example", "x@many.example");
    assert!(v.has("SPF_PERMERROR"), "{:?}", names(&v));
    assert!(seen <= 20, "{seen} questions");
}

#[test]
fn hostile_void_lookups_are_a_permerror_after_two() {
    let (v, seen) = hostile(
        "void.example:\n  - TXT: v=spf1 a:n1.void.example a:n2.void.example a:n3.void.example a:n4.void.example a:n5.void.example -all\n",
        "x@void.example",
        "x@void.example",
    );
    assert!(
        symbol_option(&v, "SPF_PERMERROR")
            .iter()
            .any(|o| o.contains("void")),
        "{:?}",
        v.symbols
    );
    assert!(seen <= 12, "{seen} questions");
}

#[test]
fn hostile_huge_txt_answers_are_a_temperror() {
    // Over the host's answer bound (64 KiB): refused as SERVFAIL.
    let huge = format!(
        "huge.example:\n  - TXT: \"v=spf1 {}-all\"\n",
        "ip4:198.51.100.1 ".repeat(5000)
    );
    let (v, seen) = hostile(&huge, "x@huge.example", "x@huge.example");
    assert!(v.has("SPF_TEMPERROR"), "{:?}", names(&v));
    assert!(seen <= 12, "{seen} questions");
    // Large but within bounds: evaluated (3000 mechanisms, no DNS terms).
    let big = format!(
        "big.example:\n  - TXT: \"v=spf1 {}ip4:192.0.2.1 -all\"\n",
        "ip4:198.51.100.1 ".repeat(3000)
    );
    let (v, _) = hostile(&big, "x@big.example", "x@big.example");
    assert!(v.has("SPF_PASS"), "{:?}", names(&v));
    // Many records at one name.
    let mut many = String::from("lots.example:\n");
    for i in 0..60 {
        many.push_str(&format!("  - TXT: \"filler record {i} {}\"\n", "x".repeat(900)));
    }
    many.push_str("  - TXT: v=spf1 -all\n");
    let (v, _) = hostile(&many, "x@lots.example", "x@lots.example");
    assert!(v.has("SPF_FAIL") || v.has("SPF_TEMPERROR"), "{:?}", names(&v));
}

#[test]
fn hostile_mx_bomb_stays_in_budget_and_cannot_starve_dmarc() {
    // 10 mx terms with 10 exchanges each would take 110 questions: the
    // evaluation stops at its own query cap with temperror, and the
    // protected domain's DMARC policy (asked first) is still known.
    let mut z = String::from("bomb.example:\n  - TXT: v=spf1");
    for i in 0..10 {
        z.push_str(&format!(" mx:m{i}.bomb.example"));
    }
    z.push_str(" -all\n");
    for i in 0..10 {
        z.push_str(&format!("m{i}.bomb.example:\n"));
        for j in 0..10 {
            z.push_str(&format!("  - MX: [{j}, x{j}.m{i}.bomb.example]\n"));
        }
        for j in 0..10 {
            z.push_str(&format!("x{j}.m{i}.bomb.example:\n  - A: 198.51.100.{j}\n"));
        }
    }
    z.push_str(&String::from_utf8(read("seed/something.com.zone.yml")).unwrap());
    let (v, seen) = hostile(&z, "x@bomb.example", "admin@something.com");
    assert!(
        symbol_option(&v, "SPF_TEMPERROR")
            .iter()
            .any(|o| o.contains("DNS questions")),
        "{:?}",
        v.symbols
    );
    assert!(seen <= Limits::default().dns_queries, "{seen} questions");
    assert!(
        v.has("DMARC_FAIL_REJECT") && v.has("COMPAUTH_INTRA_ORG_SPOOF"),
        "{:?}",
        names(&v)
    );
}

/// Every question times out.
struct Timeouts(AtomicU32);

impl Resolver for Timeouts {
    fn lookup(&self, _: &Query) -> Answer {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(DnsError::Timeout)
    }
}

#[test]
fn hostile_resolver_that_always_times_out_gives_temperrors() {
    let r = Arc::new(Timeouts(AtomicU32::new(0)));
    let s = sandbox_with(r.clone(), &protected(), Limits::default());
    let v = s
        .check(
            &envelope("203.0.113.66", "mx.phisher.example", "admin@something.com"),
            &read("seed/seed-phish.eml"),
        )
        .unwrap();
    for sym in [
        "SPF_TEMPERROR",
        "SPF_HELO_TEMPERROR",
        "DMARC_TEMPERROR",
        "COMPAUTH_TEMPERROR",
    ] {
        assert!(v.has(sym), "{sym}: {:?}", names(&v));
    }
    let seen = r.0.load(Ordering::Relaxed);
    assert!(seen <= 12, "{seen} questions");
    assert_eq!(
        entry(&checked_ar(&v), "compauth").reason.as_deref(),
        Some("temperror")
    );
}

/// The seed's spoof arrives as a forwarded copy: the header From is the
/// protected `something.com`, the forwarder's IP is outside its SPF, and
/// the author's DKIM key is no longer published when the copy arrives
/// (rotated), so SPF, DKIM and DMARC all fail here. The forwarder sealed
/// the message with ARC after it saw `dkim=pass header.d=something.com`.
/// With the forwarder a trusted sealer the composite verdict is a bypass
/// and authentication adds nothing; untrusted, the same bytes are an
/// intra-org spoof.
#[test]
fn forwarded_with_a_valid_arc_seal_from_a_trusted_sealer_is_not_penalised() {
    use mailward_tests::auth_fixtures::{SignOptions, TestKey, arc_seal};
    // The world as the forwarder saw it: the author's key published.
    let mut at_forwarder = seed_zone();
    let author = TestKey::rsa("something.com", "s2026", 2048, &mut at_forwarder);
    let sealer = TestKey::rsa("forwarder.example", "arc", 2048, &mut at_forwarder);
    let original = read("seed/seed-phish.eml");
    let signature = author.dkim_sign(
        &original,
        &["From", "To", "Subject", "Date", "Message-ID"],
        &SignOptions::default(),
    );
    let mut signed = signature.into_bytes();
    signed.extend_from_slice(&original);
    let sealed = arc_seal(&signed, &sealer, "mx.forwarder.example", &at_forwarder);

    // The world as we see it: the seed zone and the sealer's key only.
    let mut here = seed_zone();
    sealer.publish(&mut here, &format!("v=DKIM1; k=rsa; p={}", sealer.public));
    // mail-auth stamps t= with the system clock: check at that time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let check = |trusted: &[&str]| {
        let settings = Settings {
            trusted_arc_sealers: trusted.iter().map(|s| s.to_string()).collect(),
            ..protected()
        };
        let state = Arc::new(mailward_host::EmbeddedStore::in_memory().expect("in-memory state"));
        let services = mailward_host::Services::new(
            Arc::new(here.clone()),
            Arc::new(mailward_host::ManualClock::new(now)),
            state,
        );
        let engine = mailward_host::EngineConfig {
            cache_dir: Some(mailward_tests::cache_dir()),
            ..mailward_host::EngineConfig::default()
        };
        let sandbox = mailward_host::sandbox(
            engine,
            mailward_pack::DEFAULT_PACK,
            &settings,
            services,
            Limits::default(),
        )
        .expect("the default pack loads");
        let env = envelope("198.51.100.25", "mx.forwarder.example", "admin@something.com");
        sandbox.check(&env, &sealed).expect("a verdict")
    };

    let trusted = check(&["forwarder.example"]);
    for sym in ["ARC_PASS", "SPF_FAIL", "DMARC_FAIL_NONE", "COMPAUTH_BYPASS_ARC"] {
        assert!(trusted.has(sym), "{sym} missing: {:?}", names(&trusted));
    }
    assert!(
        !trusted.has("COMPAUTH_INTRA_ORG_SPOOF") && !trusted.has("COMPAUTH_FAIL"),
        "{:?}",
        names(&trusted)
    );
    assert!(
        trusted
            .symbols
            .iter()
            .filter(|s| s.name.starts_with("DKIM_"))
            .all(|s| s.name != "DKIM_PASS"),
        "the author's key is gone, so DKIM cannot pass here: {:?}",
        names(&trusted)
    );
    let all_auth = |v: &Verdict| -> f64 {
        v.symbols
            .iter()
            .filter(|s| {
                ["SPF_", "SENDERID_", "DMARC_", "COMPAUTH_", "DKIM_", "ARC_"]
                    .iter()
                    .any(|p| s.name.starts_with(p))
            })
            .map(|s| s.score)
            .sum()
    };
    assert!(
        all_auth(&trusted) <= 0.0,
        "authentication adds nothing against a vouched-for forward: {} {:?}",
        all_auth(&trusted),
        trusted
            .symbols
            .iter()
            .map(|s| (&s.name, s.score))
            .collect::<Vec<_>>()
    );
    let ar = checked_ar(&trusted);
    let compauth = entry(&ar, "compauth");
    assert_eq!(
        (compauth.result.as_str(), compauth.reason.as_deref()),
        ("pass", Some("bypass"))
    );
    assert_eq!(entry(&ar, "arc").result, "pass");
    assert_eq!(
        entry(&ar, "dmarc").prop("policy", "dmarc"),
        Some("none"),
        "the trusted sealer's override lowers the applied policy"
    );

    let untrusted = check(&[]);
    assert!(untrusted.has("ARC_PASS"), "{:?}", names(&untrusted));
    assert!(
        untrusted.has("COMPAUTH_INTRA_ORG_SPOOF"),
        "{:?}",
        names(&untrusted)
    );
    assert!(
        auth_score(&untrusted) > auth_score(&trusted) + 5.0,
        "{} vs {}",
        auth_score(&untrusted),
        auth_score(&trusted)
    );
}
