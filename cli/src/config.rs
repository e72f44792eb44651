//! `mailward.toml`: the deployment's settings. `examples/mailward.toml`
//! documents every key.

use anyhow::{Context, Result};
use mailward_core::Settings;
use serde::Deserialize;
use std::path::{Path, PathBuf};

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
        Ok(c)
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
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("[policy]\nprotected-domain = []\n").is_err());
    }
}
