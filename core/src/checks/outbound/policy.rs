//! The outbound policy: the pack's `outbound-*` and `credential-*` options
//! (defaults in `rules/pack/outbound.toml`, overridable per deployment),
//! parsed and validated once at configure time.

use crate::Action;
use crate::pack::RulePack;
use crate::pack::expr::{self, Expr};
use std::collections::BTreeMap;
use std::str::FromStr;

/// What crossing a limit or the compromise threshold does to the user,
/// named as in Microsoft EOP's outbound spam policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    /// Refuse the user's mail until the next midnight UTC.
    BlockForToday,
    /// Refuse the user's mail until an administrator releases the user.
    Block,
    /// Raise an alert; the mail flows.
    AlertOnly,
}

impl UserAction {
    /// The option value naming this action.
    pub fn as_str(self) -> &'static str {
        match self {
            UserAction::BlockForToday => "block-user-for-today",
            UserAction::Block => "block-user",
            UserAction::AlertOnly => "alert-only",
        }
    }
}

impl FromStr for UserAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block-user-for-today" => Ok(UserAction::BlockForToday),
            "block-user" => Ok(UserAction::Block),
            "alert-only" => Ok(UserAction::AlertOnly),
            other => Err(format!(
                "{other:?} is not an action (block-user-for-today, block-user, alert-only)"
            )),
        }
    }
}

/// EOP-style recipient limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// External recipients per hour.
    pub external_per_hour: u64,
    /// Internal recipients per hour.
    pub internal_per_hour: u64,
    /// Recipients per day.
    pub per_day: u64,
}

impl Limits {
    /// The limits scaled by `factor` (at least 1 each).
    pub fn scaled(&self, factor: f64) -> Limits {
        let s = |v: u64| ((v as f64 * factor).floor() as u64).max(1);
        Limits {
            external_per_hour: s(self.external_per_hour),
            internal_per_hour: s(self.internal_per_hour),
            per_day: s(self.per_day),
        }
    }
}

/// Parameters of the earlier (behavioural) signals.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    /// External recipients in one hour below which no spike is reported.
    pub spike_min_recipients: u64,
    /// A spike is an hour over this many times the user's daily average.
    pub spike_factor: f64,
    /// Days of history behind the daily average.
    pub baseline_days: u32,
    /// New recipient domains in one hour that make a fan-out.
    pub new_domains_per_hour: u64,
    /// External recipients of one body in a day that make bulk.
    pub same_body_recipients: u64,
    /// Messages in the last 30 days before a new client network counts
    /// (a user without history has no usual network).
    pub history_messages: u64,
    /// Prefix length that makes an IPv4 client network.
    pub ipv4_prefix: u8,
    /// Prefix length that makes an IPv6 client network.
    pub ipv6_prefix: u8,
    /// Content score (before the outbound signals) that counts as spammy.
    pub content_score: f64,
    /// Days a recipient domain or client network stays "seen".
    pub seen_days: u32,
}

/// The validated outbound policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Recipient limits for users in good standing.
    pub limits: Limits,
    /// What crossing a limit does.
    pub limit_action: UserAction,
    /// The earlier signals; `None` when switched off (limits only, as EOP).
    pub signals: Option<Signals>,
    /// Sum of message compromise scores over the window that restricts.
    pub compromise_score: f64,
    /// The window of that sum, in hours.
    pub compromise_window_hours: u32,
    /// What crossing the compromise threshold does.
    pub compromise_action: UserAction,
    /// Limits factor for suspect users.
    pub suspect_factor: f64,
    /// Compromise threshold factor for suspect users.
    pub suspect_compromise_factor: f64,
    /// When inbound mail is credential phishing (over the pack's symbols).
    pub credential_phish: Expr,
    /// When outbound mail is a credential reply to hold.
    pub credential_reply: Expr,
    /// Days a credential-phishing mail is remembered.
    pub credential_memory_days: u32,
    /// The strictest action an outbound message's score alone leads to.
    pub score_action_cap: Action,
}

/// Option names, so `configure` can tell the pack's outbound options apart.
pub const PREFIXES: [&str; 2] = ["outbound-", "credential-"];

fn get<'a>(options: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, String> {
    options
        .get(key)
        .map(|s| s.trim())
        .ok_or_else(|| format!("option {key} is missing (the pack's outbound policy is incomplete)"))
}

fn num<T: FromStr>(options: &BTreeMap<String, String>, key: &str) -> Result<T, String> {
    let v = get(options, key)?;
    v.parse()
        .map_err(|_| format!("option {key} = {v:?} is not a valid number"))
}

fn positive(options: &BTreeMap<String, String>, key: &str) -> Result<f64, String> {
    let v: f64 = num(options, key)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("option {key} must be a positive number"))
    }
}

fn at_least<T: FromStr + PartialOrd + Copy + std::fmt::Display>(
    options: &BTreeMap<String, String>,
    key: &str,
    min: T,
) -> Result<T, String> {
    let v: T = num(options, key)?;
    if v < min {
        return Err(format!("option {key} must be at least {min}"));
    }
    Ok(v)
}

fn expression(pack: &RulePack, options: &BTreeMap<String, String>, key: &str) -> Result<Expr, String> {
    let src = get(options, key)?;
    expr::parse(src, &mut |n| pack.symbol_index(n)).map_err(|e| format!("option {key}: {e}"))
}

impl Policy {
    /// Parses the policy from a pack's merged options. `Ok(None)` when the
    /// pack has no outbound options at all (it does no outbound filtering).
    pub fn from_options(pack: &RulePack, options: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        if !options.keys().any(|k| PREFIXES.iter().any(|p| k.starts_with(p))) {
            return Ok(None);
        }
        let signals = match get(options, "outbound-early-signals")? {
            "on" => Some(Signals {
                spike_min_recipients: at_least(options, "outbound-spike-min-recipients", 1)?,
                spike_factor: positive(options, "outbound-spike-factor")?,
                baseline_days: at_least(options, "outbound-baseline-days", 1)?,
                new_domains_per_hour: at_least(options, "outbound-new-domains-per-hour", 1)?,
                same_body_recipients: at_least(options, "outbound-same-body-recipients", 2)?,
                history_messages: num(options, "outbound-history-messages")?,
                ipv4_prefix: prefix(options, "outbound-ipv4-prefix", 32)?,
                ipv6_prefix: prefix(options, "outbound-ipv6-prefix", 128)?,
                content_score: positive(options, "outbound-content-score")?,
                seen_days: at_least(options, "outbound-seen-days", 1)?,
            }),
            "off" => None,
            other => {
                return Err(format!(
                    "option outbound-early-signals = {other:?} must be \"on\" or \"off\""
                ));
            }
        };
        let suspect_factor = positive(options, "outbound-suspect-limit-factor")?;
        let suspect_compromise_factor = positive(options, "outbound-suspect-compromise-factor")?;
        if suspect_factor > 1.0 || suspect_compromise_factor > 1.0 {
            return Err("options outbound-suspect-*-factor must be at most 1 (stricter, not looser)".into());
        }
        let action = |key: &str| -> Result<UserAction, String> {
            get(options, key)?
                .parse()
                .map_err(|e| format!("option {key}: {e}"))
        };
        Ok(Some(Policy {
            limits: Limits {
                external_per_hour: at_least(options, "outbound-external-recipients-per-hour", 1)?,
                internal_per_hour: at_least(options, "outbound-internal-recipients-per-hour", 1)?,
                per_day: at_least(options, "outbound-recipients-per-day", 1)?,
            },
            limit_action: action("outbound-limit-action")?,
            signals,
            compromise_score: positive(options, "outbound-compromise-score")?,
            compromise_window_hours: at_least(options, "outbound-compromise-window-hours", 1)?,
            compromise_action: action("outbound-compromise-action")?,
            suspect_factor,
            suspect_compromise_factor,
            credential_phish: expression(pack, options, "credential-phish")?,
            credential_reply: expression(pack, options, "credential-reply")?,
            credential_memory_days: at_least(options, "credential-memory-days", 1)?,
            score_action_cap: get(options, "outbound-score-action-cap")?
                .parse()
                .map_err(|e| format!("option outbound-score-action-cap: {e}"))?,
        }))
    }
}

fn prefix(options: &BTreeMap<String, String>, key: &str, max: u8) -> Result<u8, String> {
    let v: u8 = num(options, key)?;
    if v == 0 || v > max {
        return Err(format!("option {key} must be between 1 and {max}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> crate::Filter {
        // The default pack's sources are not reachable from core; a small
        // pack with the symbols the expressions name stands in.
        let src = r#"
[pack]
name = "t"
version = "1.0.0"
[actions]
add-header = 5
quarantine = 8
reject = 12
[symbols.A]
score = 1
description = "a"
[symbols.B]
score = 1
description = "b"
"#;
        let code: Vec<&str> = Vec::new();
        let pack = RulePack::compile(&[("p.toml", src)], &code, &code).unwrap();
        crate::Filter::new(std::sync::Arc::new(pack))
    }

    fn options() -> BTreeMap<String, String> {
        [
            ("outbound-external-recipients-per-hour", "500"),
            ("outbound-internal-recipients-per-hour", "1000"),
            ("outbound-recipients-per-day", "1000"),
            ("outbound-limit-action", "block-user-for-today"),
            ("outbound-score-action-cap", "quarantine"),
            ("outbound-early-signals", "on"),
            ("outbound-spike-min-recipients", "40"),
            ("outbound-spike-factor", "3"),
            ("outbound-baseline-days", "14"),
            ("outbound-new-domains-per-hour", "5"),
            ("outbound-same-body-recipients", "20"),
            ("outbound-history-messages", "20"),
            ("outbound-ipv4-prefix", "16"),
            ("outbound-ipv6-prefix", "48"),
            ("outbound-seen-days", "90"),
            ("outbound-content-score", "5"),
            ("outbound-compromise-score", "10"),
            ("outbound-compromise-window-hours", "24"),
            ("outbound-compromise-action", "block-user"),
            ("outbound-suspect-limit-factor", "0.1"),
            ("outbound-suspect-compromise-factor", "0.5"),
            ("credential-phish", "A"),
            ("credential-reply", "A && B"),
            ("credential-memory-days", "14"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_complete_policy_parses_and_no_options_means_no_outbound_filtering() {
        let f = pack();
        let p = Policy::from_options(f.pack(), &options()).unwrap().unwrap();
        assert_eq!(p.limits.external_per_hour, 500);
        assert_eq!(p.limit_action, UserAction::BlockForToday);
        assert_eq!(p.score_action_cap, Action::Quarantine);
        assert_eq!(
            p.limits.scaled(0.1),
            Limits {
                external_per_hour: 50,
                internal_per_hour: 100,
                per_day: 100
            }
        );
        assert!(p.signals.is_some());
        assert_eq!(Policy::from_options(f.pack(), &BTreeMap::new()).unwrap(), None);
    }

    #[test]
    fn bad_values_name_the_option() {
        let f = pack();
        let cases = [
            ("outbound-limit-action", "block-forever", "outbound-limit-action"),
            (
                "outbound-recipients-per-day",
                "lots",
                "outbound-recipients-per-day",
            ),
            ("outbound-recipients-per-day", "0", "at least 1"),
            ("outbound-early-signals", "maybe", "outbound-early-signals"),
            ("outbound-suspect-limit-factor", "2", "at most 1"),
            ("outbound-ipv4-prefix", "33", "between 1 and 32"),
            ("credential-reply", "A && NOPE", "credential-reply"),
            ("outbound-score-action-cap", "drop", "outbound-score-action-cap"),
        ];
        for (key, value, expect) in cases {
            let mut o = options();
            o.insert(key.into(), value.into());
            let e = Policy::from_options(f.pack(), &o).unwrap_err();
            assert!(e.contains(expect), "{key}={value}: {e}");
        }
        let mut o = options();
        o.remove("outbound-compromise-score");
        assert!(
            Policy::from_options(f.pack(), &o)
                .unwrap_err()
                .contains("missing")
        );
        // Signals off: their parameters are not needed.
        let mut o = options();
        o.insert("outbound-early-signals".into(), "off".into());
        o.remove("outbound-spike-factor");
        assert!(
            Policy::from_options(f.pack(), &o)
                .unwrap()
                .unwrap()
                .signals
                .is_none()
        );
    }
}
