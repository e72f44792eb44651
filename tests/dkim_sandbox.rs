//! DKIM and ARC through the real rule pack in the real host: corpus
//! messages and a freshly ARC-sealed message give their symbols.

use mailward_core::Settings;
use mailward_host::{Limits, ZoneResolver};
use mailward_tests::auth_fixtures::{TestKey, arc_seal};
use mailward_tests::{inbound, names, read, sandbox_with};
use std::sync::Arc;

fn corpus_zone() -> ZoneResolver {
    ZoneResolver::from_yaml(&String::from_utf8(read("dkim-corpus/fake-dns.zone.yml")).unwrap()).unwrap()
}

#[test]
fn corpus_messages_fire_their_dkim_symbols_in_the_sandbox() {
    let sandbox = sandbox_with(Arc::new(corpus_zone()), &Settings::default(), Limits::default());
    let cases = [
        ("goodkey_ed25519.txt", "DKIM_PASS"),
        ("mine_ietf01_3.txt", "DKIM_PASS"),
        ("good_rfc4871_3.txt", "DKIM_WEAK"),
        ("bad_ietf01_1.txt", "DKIM_FAIL"),
        ("badkey_14.txt", "DKIM_TEMPERROR"),
        ("badkey_2.txt", "DKIM_PERMERROR"),
        ("ignore_7.txt", "DKIM_POLICY"),
        ("ignore_2.txt", "DKIM_NEUTRAL"),
        ("good_dk_1.txt", "DKIM_NONE"),
    ];
    for (file, symbol) in cases {
        let raw = read(&format!("dkim-corpus/corpus/{file}"));
        let v = sandbox
            .check(&inbound("192.0.2.7", ""), &raw)
            .expect("the sandbox judges");
        assert!(names(&v).contains(&symbol), "{file}: {:?}", names(&v));
        assert!(names(&v).contains(&"ARC_NONE"), "{file}: {:?}", names(&v));
    }
}

#[test]
fn arc_sealed_message_passes_in_the_sandbox() {
    let mut zone = ZoneResolver::new();
    let sealer = TestKey::rsa("forwarder.example", "arc", 2048, &mut zone);
    let message = b"From: Jane <jane@origin.example>\r\nTo: list@forwarder.example\r\nSubject: hello\r\nDate: Tue, 1 Jul 2025 10:00:00 +0000\r\nMessage-ID: <1@origin.example>\r\n\r\nHi all.\r\n";
    let sealed = arc_seal(message, &sealer, "mx.forwarder.example", &zone);
    // mail-auth stamps t= with the system clock: verify at that time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let env = mailward_core::ResolverEnv::new(&zone, now, 20);
    let native =
        mailward_core::checks::arc::validate(&env, &mailward_core::message::Message::parse(&sealed), now);
    assert_eq!(native.chain.as_str(), "pass", "{}", native.reason);
    assert_eq!(native.hops[0].sealer, "forwarder.example");
    let state = Arc::new(mailward_host::EmbeddedStore::in_memory().expect("in-memory state"));
    let services = mailward_host::Services::new(
        Arc::new(zone),
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
        &Settings::default(),
        services,
        Limits::default(),
    )
    .expect("the default pack loads");
    let v = sandbox
        .check(&inbound("192.0.2.7", ""), &sealed)
        .expect("the sandbox judges");
    assert!(names(&v).contains(&"ARC_PASS"), "{:?}", names(&v));
    let mut tampered = sealed.clone();
    tampered.extend_from_slice(b"added after sealing\r\n");
    let v = sandbox
        .check(&inbound("192.0.2.7", ""), &tampered)
        .expect("the sandbox judges");
    assert!(names(&v).contains(&"ARC_FAIL"), "{:?}", names(&v));
}
