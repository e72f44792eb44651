//! The filter's public data model. These mirror the WIT contract's types
//! one to one; the guest and the host convert at the sandbox boundary.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Which way a message travels relative to the protected organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the outside world to local recipients.
    #[default]
    Inbound,
    /// Submitted by an authenticated local user.
    Outbound,
}

/// The SMTP envelope and connection facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Address of the SMTP client.
    pub client_ip: Option<IpAddr>,
    /// HELO/EHLO argument.
    pub helo: Option<String>,
    /// MAIL FROM reverse path without brackets; empty for `<>`.
    pub mail_from: String,
    /// RCPT TO forward paths.
    pub rcpt_to: Vec<String>,
    /// SASL-authenticated user.
    pub auth_user: Option<String>,
    /// Direction as the gateway classifies it.
    pub direction: Direction,
    /// Gateway queue id, for logs.
    pub queue_id: Option<String>,
}

impl Envelope {
    /// The effective direction: an authenticated sender is outbound.
    pub fn effective_direction(&self) -> Direction {
        if self.auth_user.is_some() {
            Direction::Outbound
        } else {
            self.direction
        }
    }
}

/// What the gateway should do with the message, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Deliver.
    #[default]
    Accept,
    /// Deliver with spam headers.
    AddHeader,
    /// Hold in quarantine.
    Quarantine,
    /// Refuse permanently (5xx).
    Reject,
    /// Refuse transiently (4xx).
    Tempfail,
}

impl Action {
    /// The kebab-case name used in configuration, JSON and the WIT.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::AddHeader => "add-header",
            Action::Quarantine => "quarantine",
            Action::Reject => "reject",
            Action::Tempfail => "tempfail",
        }
    }

    /// All actions, mildest first.
    pub const ALL: [Action; 5] = [
        Action::Accept,
        Action::AddHeader,
        Action::Quarantine,
        Action::Reject,
        Action::Tempfail,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s || a.as_str().replace('-', "_") == s)
            .ok_or_else(|| format!("unknown action {s:?} (accept, add-header, quarantine, reject, tempfail)"))
    }
}

/// One finding, scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Symbol {
    /// Stable upper-case name.
    pub name: String,
    /// Score from the rule pack.
    pub score: f64,
    /// One-line description.
    pub description: String,
    /// Details.
    pub options: Vec<String>,
}

/// A header field to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Field name.
    pub name: String,
    /// Unfolded value.
    pub value: String,
}

/// An SMTP reply for refused messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpReply {
    /// Reply code, e.g. 550.
    pub code: u16,
    /// Enhanced status code, e.g. `5.7.1`.
    pub enhanced: String,
    /// Reply text.
    pub text: String,
}

/// Name and version of a rule pack.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackInfo {
    /// Pack name.
    pub name: String,
    /// Semantic version of the pack.
    pub version: String,
    /// `mailward:filter` contract version.
    pub contract: String,
    /// One-line description.
    pub description: String,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A user crossed a sending limit.
    LimitExceeded,
    /// A user's behaviour crossed the compromise threshold.
    CompromiseSuspected,
    /// A reply to credential phishing (or a filled-in credential form) was held.
    CredentialReply,
}

impl AlertKind {
    /// The kebab-case name used in JSON, logs and the WIT.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::LimitExceeded => "limit-exceeded",
            AlertKind::CompromiseSuspected => "compromise-suspected",
            AlertKind::CredentialReply => "credential-reply",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertSeverity {
    /// For the record.
    Info,
    /// Something was held or a user restricted.
    Warning,
    /// An account is very likely compromised.
    Critical,
}

impl AlertSeverity {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Info => "info",
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
        }
    }
}

/// Something the operator should know, raised while judging one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// How urgent.
    pub severity: AlertSeverity,
    /// The authenticated user concerned.
    pub user: Option<String>,
    /// One line for humans.
    pub summary: String,
    /// The action taken on the user (`block-user`, `alert-only`, …).
    pub action: String,
    /// The symbols that led to it.
    pub symbols: Vec<String>,
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// Total score.
    pub score: f64,
    /// Score at which the pack rejects.
    pub required_score: f64,
    /// Symbols that fired.
    pub symbols: Vec<Symbol>,
    /// Headers to add.
    pub headers: Vec<Header>,
    /// Reply for reject/tempfail.
    pub reply: Option<SmtpReply>,
    /// The pack that decided.
    pub rule_pack: PackInfo,
    /// Alerts raised while judging the message.
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

impl Verdict {
    /// The symbol called `name`, if it fired.
    pub fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.iter().find(|s| s.name == name)
    }

    /// True when the symbol called `name` fired.
    pub fn has(&self, name: &str) -> bool {
        self.symbol(name).is_some()
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// Score thresholds; `None` keeps the pack's default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Thresholds {
    /// Add spam headers at or above.
    #[serde(alias = "add_header")]
    pub add_header: Option<f64>,
    /// Quarantine at or above.
    pub quarantine: Option<f64>,
    /// Reject at or above.
    pub reject: Option<f64>,
}

/// Per-deployment policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Domains the organisation owns.
    #[serde(alias = "protected_domains")]
    pub protected_domains: Vec<String>,
    /// Threshold overrides.
    pub thresholds: Thresholds,
    /// Trusted ARC sealers.
    #[serde(alias = "trusted_arc_sealers")]
    pub trusted_arc_sealers: Vec<String>,
    /// The authserv-id in Authentication-Results.
    #[serde(alias = "authserv_id")]
    pub authserv_id: String,
    /// Pack-specific options. In TOML and JSON either a table
    /// (`[policy.options]`, values may be strings, numbers or booleans) or
    /// a list of `[key, value]` pairs.
    #[serde(deserialize_with = "options_de")]
    pub options: Vec<(String, String)>,
}

/// Reads options as a table or a list of pairs; scalar values become text.
fn options_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    use serde::de::{self, MapAccess, SeqAccess, Visitor};

    /// A scalar option value written as its text.
    struct Text(String);
    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Text;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string, number or boolean")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
            }
            d.deserialize_any(V)
        }
    }

    struct Options;
    impl<'de> Visitor<'de> for Options {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of options or a list of [key, value] pairs")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Text>()? {
                out.push((k, v.0));
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = seq.next_element::<(String, Text)>()? {
                out.push((k, v.0));
            }
            Ok(out)
        }
    }
    d.deserialize_any(Options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_a_table_or_as_pairs() {
        let t: Settings = toml::from_str(
            "[options]\noutbound-recipients-per-day = 200\noutbound-early-signals = \"off\"\nx = 0.5\ny = true\n",
        )
        .unwrap();
        assert_eq!(
            t.options,
            [
                ("outbound-recipients-per-day".to_string(), "200".to_string()),
                ("outbound-early-signals".to_string(), "off".to_string()),
                ("x".to_string(), "0.5".to_string()),
                ("y".to_string(), "true".to_string()),
            ]
        );
        let p: Settings = toml::from_str("options = [[\"a\", \"1\"], [\"b\", \"two\"]]\n").unwrap();
        assert_eq!(
            p.options,
            [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "two".to_string())
            ]
        );
        assert!(toml::from_str::<Settings>("options = 3\n").is_err());
    }
}
