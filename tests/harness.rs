//! Shared helpers for the end-to-end tests: the real default pack (the
//! component `mailward-pack` built from `guest/`) in the real host.

pub mod auth_fixtures;

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
    let state = Arc::new(mailward_host::EmbeddedStore::in_memory().expect("in-memory state"));
    let services = Services::new(resolver, Arc::new(ManualClock::new(NOW)), state);
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

/// A sandbox running the default pack on `state` with time from `clock`,
/// DNS from `resolver`, alerts to `alerts`.
pub fn outbound_sandbox(
    resolver: Arc<dyn Resolver>,
    settings: &Settings,
    state: Arc<dyn mailward_host::StateStore>,
    clock: Arc<ManualClock>,
    alerts: Arc<mailward_host::AlertSink>,
) -> Sandbox {
    let engine = EngineConfig {
        cache_dir: Some(cache_dir()),
        max_concurrent: 4,
        ..EngineConfig::default()
    };
    let services = Services::new(resolver, clock, state).with_alerts(alerts);
    mailward_host::sandbox(
        engine,
        mailward_pack::DEFAULT_PACK,
        settings,
        services,
        Limits::default(),
    )
    .expect("the default pack loads")
}

/// Settings with the given pack options.
pub fn with_options(options: &[(&str, &str)]) -> Settings {
    Settings {
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Settings::default()
    }
}

/// An outbound envelope: `user` authenticated from `ip`, to `rcpt`.
pub fn submit(user: &str, ip: &str, rcpt: &[&str]) -> Envelope {
    Envelope {
        client_ip: Some(ip.parse().expect("test IP")),
        helo: Some("client.example".into()),
        mail_from: user.into(),
        rcpt_to: rcpt.iter().map(|r| r.to_string()).collect(),
        auth_user: Some(user.into()),
        direction: mailward_core::Direction::Outbound,
        queue_id: None,
    }
}

/// A small plain-text message.
pub fn mail(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{}@test.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.len() * 7919 + body.len()
    )
    .into_bytes()
}

/// A `redis-server` of our own on 127.0.0.1 and a random port, stopped
/// (and its directory removed) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server. Without `redis-server` on this machine the test
    /// cannot run: under CI (`CI` set) that fails the test, elsewhere it
    /// says so loudly on stderr and returns `None`.
    pub fn start() -> Option<Self> {
        let found = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            let msg =
                "redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)";
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("\n!!!!!!!!!!\n!!! SKIPPED: {msg}\n!!!!!!!!!!\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let dir = std::env::temp_dir().join(format!("mailward-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis directory");
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer { child, port, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while mailward_host::RedisStore::connect(&server.url(), "probe").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("mailward-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
    let state = Arc::new(mailward_host::EmbeddedStore::in_memory().expect("in-memory state"));
    Services::new(resolver, Arc::new(ManualClock::new(NOW)), state)
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
