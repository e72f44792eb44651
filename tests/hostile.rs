//! Hostile guests in the real host: each fixture (fixtures/guest) is
//! contained — the time it takes is measured and bounded, the fail policy's
//! verdict names the failure — and the same engine keeps serving the real
//! pack afterwards. Containment times are printed (`--nocapture`).

use mailward_core::dns::{Answer, DnsError, Query, Resolver};
use mailward_core::{Action, Settings};
use mailward_host::{
    CheckError, FailPolicy, FailureKind, Limits, LoadError, ManagerConfig, PackCandidate, PackManager,
    Sandbox,
};
use mailward_tests::{engine, read, seed_envelope, seed_services, services};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Counts the questions that reach it; every name is NXDOMAIN.
#[derive(Debug, Default)]
struct Counting(AtomicU32);

impl Resolver for Counting {
    fn lookup(&self, _q: &Query) -> Answer {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(DnsError::NxDomain)
    }
}

struct Hostile {
    name: &'static str,
    pack: &'static [u8],
    kind: FailureKind,
    /// Generous upper bound on the containment time (not a timing test:
    /// it proves the guest was stopped, by its budget, long before "never").
    bound: Duration,
    /// The per-message deadline for this fixture.
    deadline: Duration,
}

fn hostile() -> Vec<Hostile> {
    vec![
        Hostile {
            name: "infinite_loop",
            pack: mailward_fixtures::INFINITE_LOOP,
            kind: FailureKind::Timeout,
            bound: Duration::from_secs(3),
            deadline: DEADLINE,
        },
        Hostile {
            name: "memory_bomb",
            pack: mailward_fixtures::MEMORY_BOMB,
            kind: FailureKind::Memory,
            bound: Duration::from_secs(5),
            // Time enough for the memory cap to be what stops it (with the
            // 50 ms deadline the time budget may stop it first: contained
            // either way).
            deadline: Duration::from_secs(2),
        },
        Hostile {
            name: "panic",
            pack: mailward_fixtures::PANIC,
            kind: FailureKind::Trap,
            bound: Duration::from_secs(2),
            deadline: DEADLINE,
        },
        Hostile {
            name: "oversized_verdict",
            pack: mailward_fixtures::OVERSIZED_VERDICT,
            kind: FailureKind::BadVerdict,
            bound: Duration::from_secs(3),
            deadline: DEADLINE,
        },
        Hostile {
            name: "dns_storm",
            pack: mailward_fixtures::DNS_STORM,
            kind: FailureKind::Abuse,
            bound: Duration::from_secs(3),
            deadline: DEADLINE,
        },
        Hostile {
            name: "log_storm",
            pack: mailward_fixtures::LOG_STORM,
            kind: FailureKind::Abuse,
            bound: Duration::from_secs(3),
            deadline: DEADLINE,
        },
    ]
}

/// The per-message deadline these tests run with.
const DEADLINE: Duration = Duration::from_millis(50);

fn limits() -> Limits {
    Limits {
        guest_time: DEADLINE,
        ..Limits::default()
    }
}

#[test]
fn every_hostile_guest_is_contained_and_the_real_pack_keeps_serving() {
    let engine = engine();
    let counting = Arc::new(Counting::default());
    let svc = services(counting.clone());
    let msg = read("seed/seed-phish.eml");
    let mut ran = 0;
    for h in hostile() {
        let limits = Arc::new(Limits {
            guest_time: h.deadline,
            ..limits()
        });
        let pack = Arc::new(
            engine
                .load_pack(h.pack, &Settings::default(), &svc, &limits)
                .unwrap_or_else(|e| panic!("{}: the fixture loads: {e}", h.name)),
        );
        let sandbox = Sandbox::new(engine.clone(), pack, svc.clone(), limits.clone());
        // Twice: the second message gets a fresh instance and is contained
        // the same way (nothing of the first run is left over).
        for round in 0..2 {
            let t = Instant::now();
            let err = sandbox
                .check(&seed_envelope(), &msg)
                .expect_err(&format!("{} must fail", h.name));
            let took = t.elapsed();
            println!(
                "containment {:<18} round {round}: {:>7.1} ms  ({err})",
                h.name,
                took.as_secs_f64() * 1e3
            );
            assert_eq!(FailureKind::of(&err), h.kind, "{}: {err}", h.name);
            assert!(took < h.bound, "{}: contained only after {took:?}", h.name);
            if h.kind == FailureKind::Timeout {
                assert!(
                    took >= h.deadline,
                    "{}: stopped before its deadline ({took:?})",
                    h.name
                );
            }
            // Every policy turns it into a verdict naming the failure.
            for policy in FailPolicy::ALL {
                let v = policy.verdict(&err, &sandbox.pack().info);
                assert_eq!(v.action, policy.action());
                assert!(v.has(h.kind.symbol()), "{}: {:?}", h.name, v.symbols);
                assert_eq!(v.rule_pack.name, format!("fixture-{}", h.name.replace('_', "-")));
            }
        }
        // The same engine still runs the real pack.
        let real = Sandbox::new(
            engine.clone(),
            Arc::new(
                engine
                    .load_pack(
                        mailward_pack::DEFAULT_PACK,
                        &Settings::default(),
                        &seed_services(),
                        &limits,
                    )
                    .unwrap(),
            ),
            seed_services(),
            limits.clone(),
        );
        let v = real.check(&seed_envelope(), &msg).expect("the real pack serves");
        assert!(
            matches!(v.action, Action::Reject | Action::Quarantine),
            "{}: {v:?}",
            h.name
        );
        ran += 1;
    }
    assert_eq!(ran, 6);
    // The storm's two messages got exactly their budget of questions
    // answered; everything past it was refused by the host.
    assert_eq!(counting.0.load(Ordering::Relaxed), 2 * limits().dns_queries);
}

#[test]
fn a_hostile_pack_in_the_manager_gets_the_fail_policy_on_every_message() {
    for policy in FailPolicy::ALL {
        let m = PackManager::new(
            engine(),
            seed_services(),
            ManagerConfig {
                limits: limits(),
                fail_policy: policy,
                ..ManagerConfig::default()
            },
            None,
        );
        // No pack yet: still a verdict.
        let d = m.check(&seed_envelope(), b"Subject: x\r\n\r\nx\r\n");
        assert_eq!(d.failure, Some(CheckError::NoPack));
        assert_eq!(d.verdict.action, policy.action());
        assert!(d.verdict.has("MAILWARD_FAIL_NO_PACK"));
        m.load(PackCandidate::from_bytes(
            mailward_fixtures::PANIC.to_vec(),
            None,
            "panic",
        ))
        .unwrap();
        for _ in 0..3 {
            let d = m.check(&seed_envelope(), b"Subject: x\r\n\r\nx\r\n");
            assert!(matches!(d.failure, Some(CheckError::Trap(_))), "{:?}", d.failure);
            assert_eq!(d.verdict.action, policy.action());
            assert!(d.verdict.has("MAILWARD_FAIL_TRAP"));
            assert_eq!(d.verdict.rule_pack.name, "fixture-panic");
            let header = d.verdict.header("X-Mailward-Failure").unwrap();
            assert_eq!(header, format!("trap; policy={policy}; pack=fixture-panic/1.0.0"));
            match policy {
                FailPolicy::FailOpen => assert!(d.verdict.reply.is_none()),
                FailPolicy::Tempfail => assert_eq!(d.verdict.reply.as_ref().unwrap().code, 451),
                FailPolicy::FailClosed => assert_eq!(d.verdict.reply.as_ref().unwrap().code, 550),
            }
        }
    }
}

#[test]
fn a_message_over_the_size_limit_gets_the_fail_policy() {
    let m = PackManager::new(
        engine(),
        seed_services(),
        ManagerConfig {
            limits: Limits {
                max_message_bytes: 2000,
                ..Limits::default()
            },
            fail_policy: FailPolicy::FailOpen,
            ..ManagerConfig::default()
        },
        None,
    );
    m.load(PackCandidate::built_in(mailward_pack::DEFAULT_PACK))
        .unwrap();
    let d = m.check(&seed_envelope(), &vec![b'a'; 2001]);
    assert!(matches!(d.failure, Some(CheckError::MessageTooLarge { .. })));
    assert_eq!(d.verdict.action, Action::Accept);
    assert!(d.verdict.has("MAILWARD_FAIL_MESSAGE_TOO_LARGE"));
    assert_eq!(d.verdict.rule_pack.name, "mailward-default");
}

#[test]
fn configure_failures_and_start_up_loops_refuse_the_pack() {
    let engine = engine();
    let svc = seed_services();
    let limits = Arc::new(Limits {
        startup_time: Duration::from_millis(300),
        ..limits()
    });
    let t = Instant::now();
    match engine.load_pack(
        mailward_fixtures::CONFIGURE_FAILS,
        &Settings::default(),
        &svc,
        &limits,
    ) {
        Err(LoadError::Configure(msg)) => assert!(msg.contains("refuses every configuration"), "{msg}"),
        other => panic!("expected a configure error, got {other:?}"),
    }
    println!(
        "containment {:<18}: {:>7.1} ms",
        "configure_fails",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    match engine.load_pack(
        mailward_fixtures::CONFIGURE_LOOPS,
        &Settings::default(),
        &svc,
        &limits,
    ) {
        Err(LoadError::Trap(msg)) => assert!(msg.contains("time budget of 300 ms"), "{msg}"),
        other => panic!("expected a start-up timeout, got {other:?}"),
    }
    let took = t.elapsed();
    println!(
        "containment {:<18}: {:>7.1} ms",
        "configure_loops",
        took.as_secs_f64() * 1e3
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // The engine still serves the real pack.
    let real = engine
        .load_pack(mailward_pack::DEFAULT_PACK, &Settings::default(), &svc, &limits)
        .unwrap();
    let s = Sandbox::new(engine.clone(), Arc::new(real), svc, limits);
    let v = s.check(&seed_envelope(), &read("seed/seed-phish.eml")).unwrap();
    assert!(matches!(v.action, Action::Reject | Action::Quarantine));
}

#[test]
fn host_call_and_verdict_bounds_are_enforced() {
    let engine = engine();
    let svc = seed_services();
    // A small host-call budget stops the log storm sooner, as abuse.
    let few_calls = Arc::new(Limits {
        host_calls: 10,
        ..limits()
    });
    let pack = Arc::new(
        engine
            .load_pack(
                mailward_fixtures::LOG_STORM,
                &Settings::default(),
                &svc,
                &few_calls,
            )
            .unwrap(),
    );
    let s = Sandbox::new(engine.clone(), pack, svc.clone(), few_calls);
    match s.check(&seed_envelope(), b"x") {
        Err(CheckError::Abuse(m)) => assert!(m.contains("more than 10 host calls"), "{m}"),
        other => panic!("expected abuse, got {other:?}"),
    }
    // The real pack's verdict for the seed fits the default bounds but not
    // a one-symbol bound.
    let tight = Arc::new(Limits {
        verdict_symbols: 1,
        ..limits()
    });
    let real = Arc::new(
        engine
            .load_pack(mailward_pack::DEFAULT_PACK, &Settings::default(), &svc, &tight)
            .unwrap(),
    );
    let s = Sandbox::new(engine.clone(), real.clone(), svc.clone(), tight);
    match s.check(&seed_envelope(), &read("seed/seed-phish.eml")) {
        Err(CheckError::BadVerdict(m)) => assert!(m.contains("symbols (limit 1)"), "{m}"),
        other => panic!("expected a bad verdict, got {other:?}"),
    }
    let small = Arc::new(Limits {
        verdict_bytes: 100,
        ..limits()
    });
    let s = Sandbox::new(engine.clone(), real, svc, small);
    match s.check(&seed_envelope(), &read("seed/seed-phish.eml")) {
        Err(CheckError::BadVerdict(m)) => assert!(m.contains("bytes of text (limit 100)"), "{m}"),
        other => panic!("expected a bad verdict, got {other:?}"),
    }
}

#[test]
fn phase_times_report_the_instance_memory_and_its_growth() {
    let engine = engine();
    let svc = seed_services();
    let limits = Arc::new(Limits::default());
    let pack = Arc::new(
        engine
            .load_pack(mailward_pack::DEFAULT_PACK, &Settings::default(), &svc, &limits)
            .unwrap(),
    );
    let sandbox = Sandbox::new(engine.clone(), pack, svc, limits);
    let seed = read("seed/seed-phish.eml");
    let (r, first) = sandbox.check_timed(&seed_envelope(), &seed);
    r.unwrap();
    assert!(
        first.memory_bytes >= 4 << 20,
        "the snapshot holds the compiled pack: {} bytes",
        first.memory_bytes
    );
    // 6 MiB of body lines do not fit the snapshot's free memory: the
    // instance grows, and the meter shows it.
    let mut big = seed.clone();
    for _ in 0..(6 << 20) / 64 {
        big.extend_from_slice(&[b'y'; 62]);
        big.extend_from_slice(b"\r\n");
    }
    let (r, grown) = sandbox.check_timed(&seed_envelope(), &big);
    r.unwrap();
    assert!(
        grown.memory_bytes >= first.memory_bytes + (6 << 20),
        "{} after {}",
        grown.memory_bytes,
        first.memory_bytes
    );
    // The next message starts from the snapshot again.
    let (r, again) = sandbox.check_timed(&seed_envelope(), &seed);
    r.unwrap();
    assert_eq!(again.memory_bytes, first.memory_bytes);
}
