//! `mailward.toml`: the deployment's settings. `examples/mailward.toml`
//! documents every key.

use anyhow::{Context, Result, bail};
use mailward_core::Settings;
use mailward_host::{AlertSink, StateSpec};
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
}

impl FileConfig {
    /// Reads and parses a file; relative paths inside are resolved against
    /// the file's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut c: FileConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.rules.path);
        fix(&mut c.rules.cache_dir);
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
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("[policy]\nprotected-domain = []\n").is_err());
    }
}
