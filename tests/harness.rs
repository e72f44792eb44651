//! Shared helpers for the end-to-end tests: the real default pack (the
//! component `mailward-pack` built from `guest/`) in the real host.

use mailward_core::dns::Resolver;
use mailward_core::{Envelope, Settings, Verdict};
use mailward_host::{EngineConfig, Limits, ManualClock, Sandbox, Services, ZoneResolver};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A fixed "now" for deterministic tests: 2026-11-26T00:00:00Z.
pub const NOW: u64 = 1_795_651_200;

/// The test data directory.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Reads a file under the data directory.
pub fn read(rel: &str) -> Vec<u8> {
    let p = data().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// A zone parsed from YAML text.
pub fn zone(yaml: &str) -> ZoneResolver {
    ZoneResolver::from_yaml(yaml).expect("test zone parses")
}

/// The compile cache shared by all test processes (under target/).
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache")
}

/// A sandbox running the default pack with `settings`, answering DNS
/// from `resolver` and showing the time [`NOW`].
pub fn sandbox_with(resolver: Arc<dyn Resolver>, settings: &Settings, limits: Limits) -> Sandbox {
    let engine = EngineConfig {
        cache_dir: Some(cache_dir()),
        max_concurrent: 16,
        ..EngineConfig::default()
    };
    let services = Services {
        resolver,
        clock: Arc::new(ManualClock::new(NOW)),
    };
    mailward_host::sandbox(engine, mailward_pack::DEFAULT_PACK, settings, services, limits)
        .expect("the default pack loads")
}

/// A sandbox with default settings and DNS from the seed scenario's zone,
/// shared by the tests of one process.
pub fn seed_sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(|| {
        let z = zone(&String::from_utf8(read("seed/something.com.zone.yml")).unwrap());
        sandbox_with(Arc::new(z), &Settings::default(), Limits::default())
    })
}

/// An inbound envelope from `ip` with MAIL FROM `mail_from`.
pub fn inbound(ip: &str, mail_from: &str) -> Envelope {
    Envelope {
        client_ip: Some(ip.parse().expect("test IP")),
        helo: Some("mx.test.example".into()),
        mail_from: mail_from.into(),
        rcpt_to: vec!["jane.doe@something.com".into()],
        ..Envelope::default()
    }
}

/// The names of the symbols in a verdict.
pub fn names(v: &Verdict) -> Vec<&str> {
    v.symbols.iter().map(|s| s.name.as_str()).collect()
}

/// An engine using the shared test compile cache.
pub fn engine() -> Arc<mailward_host::Engine> {
    Arc::new(
        mailward_host::Engine::new(EngineConfig {
            cache_dir: Some(cache_dir()),
            max_concurrent: 16,
            ..EngineConfig::default()
        })
        .expect("the engine builds"),
    )
}

/// Services answering DNS from `resolver`, showing the time [`NOW`].
pub fn services(resolver: Arc<dyn Resolver>) -> Services {
    Services {
        resolver,
        clock: Arc::new(ManualClock::new(NOW)),
    }
}

/// Services answering DNS from the seed scenario's zone.
pub fn seed_services() -> Services {
    services(Arc::new(zone(
        &String::from_utf8(read("seed/something.com.zone.yml")).unwrap(),
    )))
}

/// A fresh, empty directory under the system's temp directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mailward-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("creating a temp dir");
    d
}

/// The envelope the seed's phishing mail arrived with.
pub fn seed_envelope() -> Envelope {
    inbound("203.0.113.66", "admin@something.com")
}
