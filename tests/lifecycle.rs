//! The pack lifecycle with real packs: load while traffic flows, swap,
//! in-flight messages finishing on the old pack, rollback on command and
//! automatic, bad packs refused with a reason while the old pack keeps
//! serving, signatures, self-tests, the pack store and the watched
//! directory.

use mailward_core::dns::{Answer, DnsError, Query, Resolver};
use mailward_core::{Action, Envelope};
use mailward_host::selftest::Suite;
use mailward_host::signing::{SecretKey, SignatureError, TrustedKeys, signature_path};
use mailward_host::{
    EventKind, LoadError, ManagerConfig, PackCandidate, PackManager, PackStore, RollbackPolicy, Trust,
    WatchConfig,
};
use mailward_tests::{engine, read, seed_envelope, seed_services, services, temp_dir};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn v1() -> String {
    mailward_fixtures::default_version()
}

fn v2() -> String {
    mailward_fixtures::v2_version()
}

fn built_in() -> PackCandidate {
    PackCandidate::built_in(mailward_pack::DEFAULT_PACK)
}

fn v2_pack() -> PackCandidate {
    PackCandidate::from_bytes(mailward_fixtures::default_pack_v2(), None, "v2")
}

fn manager(config: ManagerConfig) -> PackManager {
    PackManager::new(engine(), seed_services(), config, None)
}

fn version_of(m: &PackManager) -> String {
    m.check(&seed_envelope(), &read("seed/seed-phish.eml"))
        .verdict
        .rule_pack
        .version
}

/// Waits until `f` holds (the watcher and automatic rollback run on
/// their own threads).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn swap_and_rollback_and_every_verdict_names_its_version() {
    assert_ne!(v1(), v2());
    let m = manager(ManagerConfig::default());
    let r = m.load(built_in()).unwrap();
    assert_eq!(r.activated.version, v1());
    assert!(r.replaced.is_none());
    assert_eq!(version_of(&m), v1());
    let d = m.check(&seed_envelope(), &read("seed/seed-phish.eml"));
    assert!(d.failure.is_none());
    assert!(matches!(d.verdict.action, Action::Reject | Action::Quarantine));

    let r = m.load(v2_pack()).unwrap();
    assert_eq!(r.activated.version, v2());
    assert_eq!(r.replaced.as_ref().unwrap().version, v1());
    assert_eq!(
        r.activated.self_test_cases,
        Some(4),
        "the default pack's own suite ran"
    );
    assert_eq!(version_of(&m), v2());
    let s = m.status();
    assert_eq!(s.active.as_ref().unwrap().version, v2());
    assert_eq!(s.previous[0].version, v1());
    assert_eq!(s.fail_policy, "tempfail");

    let r = m.rollback().unwrap();
    assert_eq!(r.activated.version, v1());
    assert_eq!(r.readiness, None, "the previous pack was still loaded");
    assert_eq!(version_of(&m), v1());
    assert!(matches!(m.rollback(), Err(LoadError::NoPrevious)));
    assert_eq!(version_of(&m), v1());
    let kinds: Vec<EventKind> = m.status().events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Activated, EventKind::Activated, EventKind::RolledBack]
    );
}

/// Blocks the first DNS question until released, so a message can be held
/// in flight while the test swaps packs.
struct Gate {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Resolver for Gate {
    fn lookup(&self, _q: &Query) -> Answer {
        if let Some(tx) = self.entered.lock().unwrap().take() {
            let _ = tx.send(());
            let _ = self.release.lock().unwrap().recv();
        }
        Err(DnsError::NxDomain)
    }
}

#[test]
fn a_message_in_flight_finishes_on_the_pack_it_started_on() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(release_rx),
    });
    let m = PackManager::new(engine(), services(gate), ManagerConfig::default(), None);
    m.load(built_in()).unwrap();
    let m2 = m.clone();
    let in_flight = std::thread::spawn(move || {
        let env = Envelope {
            mail_from: "someone@nowhere.example".into(),
            ..seed_envelope()
        };
        m2.check(
            &env,
            b"From: someone@nowhere.example\r\nSubject: hi\r\n\r\nhello\r\n",
        )
    });
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the check reached DNS");
    // Swap while the message waits inside the old pack's DNS import.
    m.load(v2_pack()).unwrap();
    assert_eq!(m.active().unwrap().info().version, v2());
    release.send(()).unwrap();
    let d = in_flight.join().unwrap();
    assert!(d.failure.is_none(), "{:?}", d.failure);
    assert_eq!(d.verdict.rule_pack.version, v1(), "finished on the old pack");
    assert_eq!(version_of(&m), v2(), "new messages get the new pack");
}

struct Bad {
    name: &'static str,
    candidate: PackCandidate,
    /// Keys configured for this case.
    keys: TrustedKeys,
    check: fn(&LoadError) -> bool,
    reason: &'static str,
}

#[test]
fn bad_packs_are_refused_with_a_reason_and_the_old_pack_keeps_serving() {
    let key = SecretKey::generate().unwrap();
    let stranger = SecretKey::generate().unwrap();
    let trusted = TrustedKeys::new(vec![key.public()]);
    let v2_bytes = mailward_fixtures::default_pack_v2();
    let signed = |k: &SecretKey, bytes: &[u8]| {
        PackCandidate::from_bytes(bytes.to_vec(), Some(k.sign(bytes).to_string()), "signed")
    };
    let mut tampered = v2_bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered_sig = Some(key.sign(&v2_bytes).to_string());
    let cases = vec![
        Bad {
            name: "truncated file",
            candidate: PackCandidate::from_bytes(mailward_fixtures::truncated(&v2_bytes), None, "t"),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::Invalid(_)),
            reason: "not a valid WebAssembly component",
        },
        Bad {
            name: "corrupt file",
            candidate: PackCandidate::from_bytes(mailward_fixtures::corrupted(&v2_bytes), None, "c"),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::Invalid(_) | LoadError::SelfTest(_)),
            reason: "",
        },
        Bad {
            name: "not wasm at all",
            candidate: PackCandidate::from_bytes(b"#!/bin/sh\necho hi\n".to_vec(), None, "g"),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::Invalid(_)),
            reason: "missing the \\0asm header",
        },
        Bad {
            name: "core module",
            candidate: PackCandidate::from_bytes(mailward_fixtures::core_module(&v2_bytes), None, "m"),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::CoreModule),
            reason: "core WebAssembly module, not a component",
        },
        Bad {
            name: "wrong contract major",
            candidate: PackCandidate::from_bytes(mailward_fixtures::WRONG_MAJOR.to_vec(), None, "w"),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::Contract { .. }),
            reason: "the pack implements mailward:filter@1.0.0",
        },
        Bad {
            name: "configure fails",
            candidate: PackCandidate::from_bytes(mailward_fixtures::CONFIGURE_FAILS.to_vec(), None, "cf"),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::Configure(_)),
            reason: "refuses every configuration",
        },
        Bad {
            name: "failing self-test",
            candidate: PackCandidate::from_bytes(
                mailward_fixtures::failing_self_test(mailward_fixtures::ACCEPT_ALL),
                None,
                "st",
            ),
            keys: TrustedKeys::default(),
            check: |e| matches!(e, LoadError::SelfTest(_)),
            reason: "\"a credential lure is refused\": action accept (expected reject)",
        },
        Bad {
            name: "unsigned while keys are configured",
            candidate: PackCandidate::from_bytes(v2_bytes.clone(), None, "u"),
            keys: trusted.clone(),
            check: |e| matches!(e, LoadError::Signature(SignatureError::Missing(_))),
            reason: "not signed",
        },
        Bad {
            name: "signed by an untrusted key",
            candidate: signed(&stranger, &v2_bytes),
            keys: trusted.clone(),
            check: |e| matches!(e, LoadError::Signature(SignatureError::UntrustedKey(_))),
            reason: "not a trusted key",
        },
        Bad {
            name: "tampered after signing",
            candidate: PackCandidate::from_bytes(tampered, tampered_sig, "x"),
            keys: trusted.clone(),
            check: |e| matches!(e, LoadError::Signature(SignatureError::WrongFile { .. })),
            reason: "signature is for a different file",
        },
        Bad {
            name: "garbage signature",
            candidate: PackCandidate::from_bytes(
                v2_bytes.clone(),
                Some("mailward-pack-signature-v1\nkey-id: x\n".into()),
                "g",
            ),
            keys: trusted.clone(),
            check: |e| matches!(e, LoadError::Signature(SignatureError::Malformed(_))),
            reason: "signature file is malformed",
        },
    ];
    let mut ran = 0;
    for case in cases {
        let m = manager(ManagerConfig {
            trusted_keys: case.keys.clone(),
            ..ManagerConfig::default()
        });
        m.load(built_in())
            .expect("the built-in pack is trusted without a signature");
        let err = m.load(case.candidate).expect_err(case.name);
        let text = err.to_string();
        println!("{:<36} refused: {text}", case.name);
        assert!((case.check)(&err), "{}: unexpected error {err:?}", case.name);
        assert!(text.contains(case.reason), "{}: {text}", case.name);
        // The old pack keeps serving.
        let d = m.check(&seed_envelope(), &read("seed/seed-phish.eml"));
        assert!(d.failure.is_none(), "{}", case.name);
        assert_eq!(d.verdict.rule_pack.version, v1(), "{}", case.name);
        let last = m.status().events.last().cloned().unwrap();
        assert_eq!(last.kind, EventKind::Rejected, "{}", case.name);
        ran += 1;
    }
    assert_eq!(ran, 11);
}

#[test]
fn signed_packs_load_when_keys_are_configured() {
    let key = SecretKey::generate().unwrap();
    let v2_bytes = mailward_fixtures::default_pack_v2();
    let m = manager(ManagerConfig {
        trusted_keys: TrustedKeys::new(vec![key.public()]),
        ..ManagerConfig::default()
    });
    let r = m.load(built_in()).unwrap();
    assert_eq!(r.activated.trust, "built in");
    let sig = key.sign(&v2_bytes).to_string();
    m.load(PackCandidate::from_bytes(v2_bytes, Some(sig), "signed"))
        .unwrap();
    assert_eq!(m.active().unwrap().trust, Trust::Signed(key.public().id()));
    assert_eq!(version_of(&m), v2());
}

#[test]
fn self_tests_from_the_operator_and_required_self_tests() {
    let suite = Suite::parse(
        &format!(
            "[[case]]\nname = \"lure\"\nmessage = {:?}\nexpect = [\"reject\", \"quarantine\"]\n",
            mailward_fixtures::LURE
        ),
        None,
        "operator",
    )
    .unwrap();
    let m = manager(ManagerConfig {
        self_test: Some(suite),
        ..ManagerConfig::default()
    });
    let r = m.load(built_in()).unwrap();
    assert_eq!(
        r.activated.self_test_cases,
        Some(5),
        "the pack's 4 and the operator's 1"
    );
    let err = m
        .load(PackCandidate::from_bytes(
            mailward_fixtures::ACCEPT_ALL.to_vec(),
            None,
            "accept-all",
        ))
        .unwrap_err();
    assert!(err.to_string().contains("\"lure\": action accept"), "{err}");
    // A deployment that requires self-tests refuses a pack without any.
    let m = manager(ManagerConfig {
        require_self_test: true,
        ..ManagerConfig::default()
    });
    m.load(built_in()).unwrap();
    let err = m
        .load(PackCandidate::from_bytes(
            mailward_fixtures::ACCEPT_ALL.to_vec(),
            None,
            "accept-all",
        ))
        .unwrap_err();
    assert!(err.to_string().contains("no self-test cases"), "{err}");
    assert_eq!(version_of(&m), v1());
}

fn auto_config() -> ManagerConfig {
    ManagerConfig {
        rollback: RollbackPolicy {
            window: 20,
            max_failure_rate: 0.1,
        },
        ..ManagerConfig::default()
    }
}

#[test]
fn a_pack_that_traps_on_traffic_is_rolled_back_automatically() {
    let m = manager(auto_config());
    m.load(built_in()).unwrap();
    // It passes its own self-test, then traps on every real message.
    let r = m
        .load(PackCandidate::from_bytes(
            mailward_fixtures::trap_on_traffic_with_self_test(),
            None,
            "trap-on-traffic",
        ))
        .unwrap();
    assert_eq!(r.activated.name, "fixture-trap-on-traffic");
    let mut failed = 0;
    for _ in 0..20 {
        let d = m.check(&seed_envelope(), &read("seed/seed-phish.eml"));
        if d.failure.is_some() {
            failed += 1;
            assert_eq!(d.verdict.action, Action::Tempfail, "the default fail policy");
        }
    }
    // 10% of 20 = 2: the third failure trips the rollback.
    assert!(failed >= 3, "{failed}");
    wait_for("the automatic rollback", || {
        m.active().unwrap().info().name == "mailward-default"
    });
    assert_eq!(version_of(&m), v1());
    let s = m.status();
    let auto = s
        .events
        .iter()
        .find(|e| e.kind == EventKind::AutoRolledBack)
        .expect("an auto-rollback event");
    assert!(auto.detail.contains("of its first"), "{}", auto.detail);
    assert_eq!(
        auto.pack.as_deref(),
        Some(format!("mailward-default/{}", v1()).as_str())
    );
}

#[test]
fn a_pack_that_tempfails_everything_is_rolled_back_and_a_healthy_one_stays() {
    let m = manager(auto_config());
    m.load(built_in()).unwrap();
    m.load(PackCandidate::from_bytes(
        mailward_fixtures::TEMPFAIL_ALL.to_vec(),
        None,
        "tempfail-all",
    ))
    .unwrap();
    for _ in 0..5 {
        let d = m.check(&seed_envelope(), b"Subject: x\r\n\r\nx\r\n");
        assert!(d.failure.is_none(), "the pack answers, with tempfail");
    }
    wait_for("the automatic rollback", || {
        m.active().unwrap().info().name == "mailward-default"
    });
    // A healthy new pack passes its window and stays.
    m.load(v2_pack()).unwrap();
    for _ in 0..25 {
        assert!(
            m.check(&seed_envelope(), &read("ham/lunch.eml"))
                .failure
                .is_none()
        );
    }
    let h = m.active().unwrap().health(20);
    assert_eq!((h.seen, h.failures, h.tripped), (20, 0, false));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(version_of(&m), v2());
}

#[test]
fn the_store_records_restores_and_is_followed_by_a_running_manager() {
    let dir = temp_dir("store");
    let store = || PackStore::open(&dir).unwrap();
    let config = || ManagerConfig {
        built_in: Some(mailward_pack::DEFAULT_PACK),
        ..ManagerConfig::default()
    };
    let daemon = PackManager::start(engine(), seed_services(), config(), Some(store())).unwrap();
    assert_eq!(version_of(&daemon), v1());
    let state = store().read().unwrap();
    assert_eq!(
        state.active.as_ref().unwrap().version,
        v1(),
        "the built-in pack is recorded"
    );

    // Another process (the CLI) loads v2 into the store.
    let cli = PackManager::new(engine(), seed_services(), config(), Some(store()));
    cli.load(v2_pack()).unwrap();
    let state = store().read().unwrap();
    let active = state.active.clone().unwrap();
    assert_eq!(active.version, v2());
    assert!(store().pack_path(&active.sha256).exists());
    assert_eq!(state.previous.last().unwrap().version, v1());
    // The daemon follows.
    let r = daemon.sync().unwrap().expect("the daemon swapped");
    assert_eq!(r.activated.version, v2());
    assert_eq!(version_of(&daemon), v2());
    assert!(daemon.sync().unwrap().is_none(), "nothing more to do");

    // A restart comes up with what the store says.
    let restarted = PackManager::start(engine(), seed_services(), config(), Some(store())).unwrap();
    assert_eq!(version_of(&restarted), v2());

    // Rollback by another process; the daemon follows from its cache.
    let r = cli.rollback().unwrap();
    assert_eq!(r.activated.version, v1());
    let r = daemon.sync().unwrap().unwrap();
    assert_eq!(r.activated.version, v1());
    assert_eq!(r.readiness, None, "reactivated from memory, no load");
    assert_eq!(version_of(&daemon), v1());
    let state = store().read().unwrap();
    assert!(state.previous.is_empty(), "{:?}", state.previous);
    assert!(
        !store().pack_path(&active.sha256).exists(),
        "v2's stored file was collected"
    );
    let kinds: Vec<EventKind> = state.events.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::RolledBack), "{kinds:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_watched_directory_loads_new_packs_and_skips_bad_and_known_ones() {
    let dir = temp_dir("watch-state");
    let incoming = temp_dir("watch-incoming");
    let key = SecretKey::generate().unwrap();
    let m = PackManager::start(
        engine(),
        seed_services(),
        ManagerConfig {
            built_in: Some(mailward_pack::DEFAULT_PACK),
            trusted_keys: TrustedKeys::new(vec![key.public()]),
            ..ManagerConfig::default()
        },
        Some(PackStore::open(&dir).unwrap()),
    )
    .unwrap();
    let watcher = m
        .watch(WatchConfig {
            dir: Some(incoming.clone()),
            interval: Duration::from_millis(50),
            follow_store: true,
        })
        .unwrap();
    // A signed v2 appears (signature first, then the pack, as a careful
    // publisher does).
    let v2_bytes = mailward_fixtures::default_pack_v2();
    let path = incoming.join("v2.wasm");
    std::fs::write(signature_path(&path), key.sign(&v2_bytes).to_string()).unwrap();
    std::fs::write(&path, &v2_bytes).unwrap();
    wait_for("v2 to be loaded from the directory", || version_of(&m) == v2());
    // An unsigned pack appears: refused, v2 keeps serving.
    std::fs::write(incoming.join("unsigned.wasm"), mailward_fixtures::ACCEPT_ALL).unwrap();
    wait_for("the unsigned pack to be refused", || {
        m.status()
            .events
            .iter()
            .any(|e| e.kind == EventKind::Rejected && e.detail.contains("unsigned.wasm"))
    });
    assert_eq!(version_of(&m), v2());
    // After a rollback, the file still in the directory is not reloaded.
    m.rollback().unwrap();
    watcher.poke();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(version_of(&m), v1());
    // A changed file is new content: loaded again (here: refused, it is
    // truncated), and v1 keeps serving.
    std::fs::write(&path, mailward_fixtures::truncated(&v2_bytes)).unwrap();
    watcher.poke();
    wait_for("the truncated pack to be refused", || {
        m.status()
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Rejected)
            .count()
            >= 2
    });
    assert_eq!(version_of(&m), v1());
    drop(watcher);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&incoming);
}

/// Issue 6: "support the current and the previous minor at once". A pack
/// built for `mailward:filter@0.1.0` loads and serves in the same host (the
/// same engine and linker) as the default pack of the current contract,
/// and the two swap both ways.
#[test]
fn the_previous_minor_contract_loads_and_swaps_with_the_current_one() {
    let m = manager(ManagerConfig::default());
    let old = PackCandidate::from_bytes(mailward_fixtures::ACCEPT_ALL_V0_1.to_vec(), None, "v0.1 fixture");
    m.load(old).expect("a 0.1 pack loads");
    let active = m.active().expect("active");
    assert_eq!(active.info().contract, "mailward:filter@0.1.0");
    let d = m.check(&seed_envelope(), &read("seed/seed-phish.eml"));
    assert!(d.failure.is_none(), "{:?}", d.failure);
    assert_eq!(d.verdict.action, Action::Accept);
    assert_eq!(d.verdict.rule_pack.name, "fixture-accept-all-v0.1");
    let seen = d
        .verdict
        .symbols
        .iter()
        .find(|s| s.name == "FIXTURE_V0_1_SEEN")
        .expect("the 0.1 pack's symbol");
    assert!(
        seen.options.contains(&format!("now={}", mailward_tests::NOW)),
        "the 0.1 clock import answered: {:?}",
        seen.options
    );
    assert!(d.verdict.alerts.is_empty());

    m.load(built_in())
        .expect("the current pack loads after a 0.1 pack");
    assert_eq!(m.active().unwrap().info().contract, mailward_host::CONTRACT);
    let d = m.check(&seed_envelope(), &read("seed/seed-phish.eml"));
    assert!(d.failure.is_none(), "{:?}", d.failure);
    assert_eq!(d.verdict.rule_pack.version, v1());
    assert_ne!(
        d.verdict.action,
        Action::Accept,
        "the default pack judges the seed"
    );

    m.rollback().expect("rolls back to the 0.1 pack");
    assert_eq!(version_of(&m), "1.0.0");
}
