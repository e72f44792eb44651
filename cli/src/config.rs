//! `mailward.toml`: the deployment's settings. `examples/mailward.toml`
//! documents every key.

use anyhow::{Context, Result, bail};
use mailward_core::Settings;
use mailward_host::{
    AlertSink, FailPolicy, ManagerConfig, RollbackPolicy, StateSpec, TrustedKeys, selftest::Suite,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Handed to the pack's `configure`.
    pub policy: Settings,
    /// Which pack and where compiled packs are cached.
    pub rules: RulesConfig,
    /// The DNS resolver.
    pub dns: DnsSection,
    /// Sandbox limits.
    pub limits: LimitsSection,
    /// Where state across messages is kept.
    pub state: StateSection,
    /// Where alerts go besides the log.
    pub alerts: AlertsSection,
    /// What a message the sandbox fails on gets.
    pub failure: FailureSection,
    /// `mailward serve`: listeners and their bounds.
    pub serve: ServeSection,
    /// Where relative paths are resolved (the file's directory).
    #[serde(skip)]
    pub base: PathBuf,
}

/// `[state]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StateSection {
    /// `embedded` (default), `memory` or `redis`.
    pub backend: Option<String>,
    /// The embedded store's file.
    pub path: Option<PathBuf>,
    /// The Redis server (`redis://host:port/db`).
    pub url: Option<String>,
    /// Prefix of every Redis key.
    pub prefix: Option<String>,
}

/// `[serve]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeSection {
    /// Milter listener, `HOST:PORT` (or Postfix's `inet:HOST:PORT`).
    pub milter: Option<String>,
    /// HTTP listener (`/checkv2`, `/metrics`, `/health`, `/admin/…`).
    pub http: Option<String>,
    /// Messages checked at the same time (default: one per CPU).
    pub workers: Option<usize>,
    /// Open milter connections at most.
    pub max_connections: Option<usize>,
    /// Largest milter packet, in KiB.
    pub max_packet_kib: Option<usize>,
    /// A milter connection silent this long is closed.
    pub idle_timeout_ms: Option<u64>,
    /// Time in-flight messages get to finish on SIGTERM/SIGINT.
    pub shutdown_grace_ms: Option<u64>,
    /// Bearer token for the admin endpoints (without one: loopback only).
    pub admin_token: Option<String>,
}

/// A listen address: `HOST:PORT`, `[V6]:PORT` or `inet:HOST:PORT`.
pub fn listen_addr(s: &str) -> Result<std::net::SocketAddr> {
    let t = s.trim();
    let t = t.strip_prefix("inet:").unwrap_or(t);
    if let Ok(a) = t.parse() {
        return Ok(a);
    }
    // Postfix writes inet:[::1]:port and inet:host:port alike.
    use std::net::ToSocketAddrs;
    t.to_socket_addrs()
        .with_context(|| format!("listen address {s:?}"))?
        .next()
        .with_context(|| format!("listen address {s:?} resolves to nothing"))
}

impl FileConfig {
    /// The daemon's settings: `[serve]`, with `milter` and `http` given on
    /// the command line taking precedence, and the message size limit from
    /// `[limits] message-mib`.
    pub fn serve_config(
        &self,
        milter: Option<&str>,
        http: Option<&str>,
    ) -> Result<mailward_serve::ServeConfig> {
        let s = &self.serve;
        let d = mailward_serve::ServeConfig::default();
        let addr = |flag: Option<&str>, file: &Option<String>| -> Result<Option<std::net::SocketAddr>> {
            match flag.or(file.as_deref()) {
                Some(a) => Ok(Some(listen_addr(a)?)),
                None => Ok(None),
            }
        };
        Ok(mailward_serve::ServeConfig {
            milter: addr(milter, &s.milter)?,
            http: addr(http, &s.http)?,
            workers: s.workers.filter(|&w| w > 0).unwrap_or(d.workers),
            max_message_bytes: self.limits().max_message_bytes,
            max_packet_bytes: s.max_packet_kib.map_or(d.max_packet_bytes, |k| k << 10),
            max_connections: s.max_connections.unwrap_or(d.max_connections),
            idle_timeout: s.idle_timeout_ms.map_or(d.idle_timeout, Duration::from_millis),
            shutdown_grace: s
                .shutdown_grace_ms
                .map_or(d.shutdown_grace, Duration::from_millis),
            admin_token: s.admin_token.clone(),
        })
    }
}

/// `[alerts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlertsSection {
    /// A URL that receives each alert as a JSON POST.
    pub webhook: Option<String>,
    /// Time allowed for one POST.
    pub webhook_timeout_ms: Option<u64>,
}

/// `[rules]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesConfig {
    /// A pack file instead of the built-in pack.
    pub path: Option<PathBuf>,
    /// The compile cache directory.
    pub cache_dir: Option<PathBuf>,
    /// The pack store (state directory) the daemon runs from.
    pub state_dir: Option<PathBuf>,
    /// A directory watched for new packs.
    pub watch_dir: Option<PathBuf>,
    /// How often the watched directory and the store are looked at.
    pub watch_interval_ms: Option<u64>,
    /// Public keys (files, or inline `ed25519:BASE64`) that may sign packs.
    pub trusted_keys: Vec<String>,
    /// The operator's own self-test suite.
    pub self_test: Option<PathBuf>,
    /// Refuse packs without any self-test case.
    pub require_self_test: bool,
    /// Earlier packs kept for rollback.
    pub keep_previous: Option<usize>,
    /// Automatic rollback.
    pub rollback: RollbackSection,
}

/// `[rules.rollback]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RollbackSection {
    /// Messages watched after a swap (0: off).
    pub window: Option<u32>,
    /// Failure share that triggers rollback.
    pub max_failure_rate: Option<f64>,
}

/// `[failure]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FailureSection {
    /// `fail-open`, `tempfail` (default) or `fail-closed`.
    pub policy: Option<String>,
}

/// `[dns]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DnsSection {
    /// Name servers.
    pub servers: Vec<std::net::IpAddr>,
    /// Per-attempt timeout.
    pub timeout_ms: Option<u64>,
    /// Attempts per question.
    pub attempts: Option<usize>,
    /// An offline zone file.
    pub zone: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSection {
    /// Guest CPU time per message.
    pub guest_time_ms: Option<u64>,
    /// Memory cap per instance.
    pub memory_mib: Option<usize>,
    /// Largest message.
    pub message_mib: Option<usize>,
    /// DNS questions per message.
    pub dns_queries: Option<u32>,
    /// DNS wall time per message.
    pub dns_time_ms: Option<u64>,
    /// Guest CPU time for starting a pack.
    pub startup_time_ms: Option<u64>,
    /// Host calls per message.
    pub host_calls: Option<u32>,
    /// Questions per DNS batch.
    pub dns_batch: Option<usize>,
    /// Log lines per message.
    pub log_lines: Option<u32>,
    /// Symbols per verdict.
    pub verdict_symbols: Option<usize>,
    /// Headers per verdict.
    pub verdict_headers: Option<usize>,
    /// Bytes of one string in a verdict.
    pub verdict_string_bytes: Option<usize>,
    /// Bytes of all strings in a verdict.
    pub verdict_bytes: Option<usize>,
}

impl FileConfig {
    /// Reads and parses a file; relative paths inside are resolved against
    /// the file's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut c: FileConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.base = base.to_path_buf();
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.rules.path);
        fix(&mut c.rules.cache_dir);
        fix(&mut c.rules.state_dir);
        fix(&mut c.rules.watch_dir);
        fix(&mut c.rules.self_test);
        fix(&mut c.dns.zone);
        fix(&mut c.state.path);
        Ok(c)
    }

    /// The state backend: `flag` (`--state`) if given, else `[state]`,
    /// else the embedded store in its default file.
    pub fn state_spec(&self, flag: Option<&str>) -> Result<StateSpec> {
        if let Some(f) = flag {
            return Ok(f.parse()?);
        }
        let s = &self.state;
        let spec = match s.backend.as_deref().unwrap_or("embedded") {
            "embedded" => match &s.path {
                Some(p) => StateSpec::Embedded(p.clone()),
                None => "embedded".parse()?,
            },
            "memory" => StateSpec::Memory,
            "redis" => StateSpec::Redis {
                url: s.url.clone().context("[state] backend = \"redis\" needs `url`")?,
                prefix: s
                    .prefix
                    .clone()
                    .unwrap_or_else(|| mailward_host::store::DEFAULT_REDIS_PREFIX.into()),
            },
            other => bail!("[state] backend = {other:?}: use embedded, memory or redis"),
        };
        Ok(spec)
    }

    /// The alert sink: the log, and the webhook when configured.
    pub fn alert_sink(&self) -> Result<AlertSink> {
        match &self.alerts.webhook {
            None => Ok(AlertSink::log_only()),
            Some(url) => {
                let timeout = Duration::from_millis(self.alerts.webhook_timeout_ms.unwrap_or(5000));
                Ok(AlertSink::with_webhook(url, timeout)?)
            }
        }
    }

    /// The fail policy.
    pub fn fail_policy(&self) -> Result<FailPolicy> {
        match &self.failure.policy {
            Some(p) => p.parse().map_err(anyhow::Error::msg),
            None => Ok(FailPolicy::default()),
        }
    }

    /// The pack manager's configuration (keys, self-test, rollback,
    /// limits, policy), with `extra_keys` trusted besides the file's.
    pub fn manager_config(&self, extra_keys: &[String]) -> Result<ManagerConfig> {
        let mut specs = self.rules.trusted_keys.clone();
        specs.extend(extra_keys.iter().cloned());
        let base = if self.base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            self.base.as_path()
        };
        let trusted_keys = TrustedKeys::from_specs(&specs, base).context("reading the trusted keys")?;
        let self_test = match &self.rules.self_test {
            Some(p) => Some(Suite::read(p)?),
            None => None,
        };
        let defaults = RollbackPolicy::default();
        let rollback = RollbackPolicy {
            window: self.rules.rollback.window.unwrap_or(defaults.window),
            max_failure_rate: self
                .rules
                .rollback
                .max_failure_rate
                .unwrap_or(defaults.max_failure_rate),
        };
        if !(0.0..=1.0).contains(&rollback.max_failure_rate) {
            anyhow::bail!("[rules.rollback] max-failure-rate must be between 0 and 1");
        }
        Ok(ManagerConfig {
            settings: self.policy.clone(),
            limits: self.limits(),
            fail_policy: self.fail_policy()?,
            trusted_keys,
            self_test,
            require_self_test: self.rules.require_self_test,
            rollback,
            keep_previous: self.rules.keep_previous.unwrap_or(3),
            built_in: Some(mailward_pack::DEFAULT_PACK),
        })
    }

    /// How often to look at the watched directory and the store.
    pub fn watch_interval(&self) -> Duration {
        Duration::from_millis(self.rules.watch_interval_ms.unwrap_or(1000))
    }

    /// The sandbox limits.
    pub fn limits(&self) -> mailward_host::Limits {
        let mut l = mailward_host::Limits::default();
        let s = &self.limits;
        if let Some(ms) = s.guest_time_ms {
            l.guest_time = std::time::Duration::from_millis(ms);
        }
        if let Some(m) = s.memory_mib {
            l.max_memory_bytes = m << 20;
        }
        if let Some(m) = s.message_mib {
            l.max_message_bytes = m << 20;
        }
        if let Some(q) = s.dns_queries {
            l.dns_queries = q;
        }
        if let Some(ms) = s.dns_time_ms {
            l.dns_time = std::time::Duration::from_millis(ms);
        }
        if let Some(ms) = s.startup_time_ms {
            l.startup_time = std::time::Duration::from_millis(ms);
        }
        if let Some(n) = s.host_calls {
            l.host_calls = n;
        }
        if let Some(n) = s.dns_batch {
            l.dns_batch = n;
        }
        if let Some(n) = s.log_lines {
            l.log_lines = n;
        }
        if let Some(n) = s.verdict_symbols {
            l.verdict_symbols = n;
        }
        if let Some(n) = s.verdict_headers {
            l.verdict_headers = n;
        }
        if let Some(n) = s.verdict_string_bytes {
            l.verdict_string_bytes = n;
        }
        if let Some(n) = s.verdict_bytes {
            l.verdict_bytes = n;
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses() {
        let example = include_str!("../../examples/mailward.toml");
        let c: FileConfig = toml::from_str(example).unwrap();
        assert_eq!(c.policy.protected_domains, ["example.com", "example.org"]);
        assert_eq!(c.policy.thresholds.reject, Some(15.0));
        assert_eq!(c.limits().dns_queries, 100);
        let options: std::collections::BTreeMap<_, _> = c.policy.options.iter().cloned().collect();
        assert_eq!(options["outbound-external-recipients-per-hour"], "500");
        assert_eq!(options["outbound-limit-action"], "block-user-for-today");
        assert_eq!(
            c.state_spec(None).unwrap(),
            StateSpec::Embedded("/var/lib/mailward/state.redb".into())
        );
        assert_eq!(
            c.state_spec(Some("redis://127.0.0.1:6379/0")).unwrap(),
            StateSpec::Redis {
                url: "redis://127.0.0.1:6379/0".into(),
                prefix: "mailward".into()
            }
        );
        assert_eq!(
            c.alerts.webhook.as_deref(),
            Some("https://alerts.example.com/mailward")
        );
        // The example's options are the pack's own: the pack accepts them.
        let mut f = mailward_rules::default_filter().unwrap();
        f.configure(&c.policy).unwrap();
        assert!(f.config().outbound.is_some());
        assert_eq!(c.limits().guest_time, Duration::from_millis(500));
        assert_eq!(c.fail_policy().unwrap(), FailPolicy::Tempfail);
        assert_eq!(c.rules.rollback.window, Some(200));
        assert_eq!(c.rules.rollback.max_failure_rate, Some(0.05));
        let m = c.manager_config(&[]).unwrap();
        assert!(m.trusted_keys.is_empty(), "the example's keys are commented out");
        assert_eq!(m.keep_previous, 3);
        let s = c.serve_config(None, None).unwrap();
        assert_eq!(s.milter, Some("127.0.0.1:11332".parse().unwrap()));
        assert_eq!(s.http, Some("127.0.0.1:11333".parse().unwrap()));
        assert_eq!(s.max_message_bytes, 64 << 20);
        assert_eq!(s.max_packet_bytes, 1 << 20);
        assert_eq!(s.shutdown_grace, Duration::from_secs(30));
        assert_eq!(s.admin_token, None);
        let s = c
            .serve_config(Some("inet:127.0.0.1:0"), Some("[::1]:8080"))
            .unwrap();
        assert_eq!(s.milter, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(s.http, Some("[::1]:8080".parse().unwrap()));
        assert!(listen_addr("not an address").is_err());
    }

    #[test]
    fn fail_policy_names_are_checked() {
        let c: FileConfig = toml::from_str("[failure]\npolicy = \"fail-open\"\n").unwrap();
        assert_eq!(c.fail_policy().unwrap(), FailPolicy::FailOpen);
        let c: FileConfig = toml::from_str("[failure]\npolicy = \"open\"\n").unwrap();
        assert!(c.fail_policy().is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("[policy]\nprotected-domain = []\n").is_err());
    }
}
