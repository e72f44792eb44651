//! The fail policy: what the gateway does with a message when the sandbox
//! cannot judge it.
//!
//! Every sandbox failure — a trap, the time budget, the memory cap, a
//! verdict out of bounds, abuse of a host interface, no free instance
//! slot, a message over the size limit, no pack loaded — becomes a verdict
//! through one policy, so a gateway always gets an answer and the same
//! failure is always handled the same way. The verdict carries a symbol
//! naming the failure (`MAILWARD_FAIL_TIMEOUT`, …, score 0), a header
//! saying why, and, for the refusing policies, an SMTP reply.
//!
//! | policy        | action   | reply                     |
//! |---------------|----------|---------------------------|
//! | `fail-open`   | accept   | —                         |
//! | `tempfail`    | tempfail | `451 4.7.0` (the default) |
//! | `fail-closed` | reject   | `550 5.7.0`               |
//!
//! `tempfail` is the default, as Postfix's `milter_default_action`: mail is
//! neither lost nor delivered unchecked; the sending server retries.

use crate::error::CheckError;
use mailward_core::types::{Action, Header, PackInfo, SmtpReply, Symbol, Verdict};
use std::fmt;
use std::str::FromStr;

/// The header every failure verdict carries.
pub const FAILURE_HEADER: &str = "X-Mailward-Failure";

/// What to do with a message the sandbox could not judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailPolicy {
    /// Accept the message, with a header saying why it was not checked.
    FailOpen,
    /// Refuse it with a transient (4xx) reply: the sender retries later.
    #[default]
    Tempfail,
    /// Refuse it with a permanent (5xx) reply.
    FailClosed,
}

impl FailPolicy {
    /// All policies.
    pub const ALL: [FailPolicy; 3] = [FailPolicy::FailOpen, FailPolicy::Tempfail, FailPolicy::FailClosed];

    /// The name used in configuration: `fail-open`, `tempfail`, `fail-closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailPolicy::FailOpen => "fail-open",
            FailPolicy::Tempfail => "tempfail",
            FailPolicy::FailClosed => "fail-closed",
        }
    }

    /// The action this policy gives a failed message.
    pub fn action(self) -> Action {
        match self {
            FailPolicy::FailOpen => Action::Accept,
            FailPolicy::Tempfail => Action::Tempfail,
            FailPolicy::FailClosed => Action::Reject,
        }
    }

    /// The verdict for a message the sandbox failed on with `error`; `pack`
    /// is the pack that was running (or would have run) it.
    pub fn verdict(self, error: &CheckError, pack: &PackInfo) -> Verdict {
        let kind = FailureKind::of(error);
        let reason = kind.as_str();
        let reply = match self {
            FailPolicy::FailOpen => None,
            FailPolicy::Tempfail => Some(SmtpReply {
                code: 451,
                enhanced: "4.7.0".into(),
                text: format!("Mail filter temporarily unavailable, try again later (mailward: {reason})"),
            }),
            FailPolicy::FailClosed => Some(SmtpReply {
                code: 550,
                enhanced: "5.7.0".into(),
                text: format!("Message refused: the mail filter could not check it (mailward: {reason})"),
            }),
        };
        let label = if pack.name.is_empty() {
            "none".to_string()
        } else {
            format!("{}/{}", pack.name, pack.version)
        };
        Verdict {
            action: self.action(),
            score: 0.0,
            required_score: 0.0,
            symbols: vec![Symbol {
                name: kind.symbol().into(),
                score: 0.0,
                description: kind.description().into(),
                options: vec![error.to_string()],
            }],
            headers: vec![Header {
                name: FAILURE_HEADER.into(),
                value: format!("{reason}; policy={}; pack={label}", self.as_str()),
            }],
            reply,
            rule_pack: pack.clone(),
            alerts: Vec::new(),
        }
    }
}

impl fmt::Display for FailPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail-open" | "accept" => Ok(FailPolicy::FailOpen),
            "tempfail" => Ok(FailPolicy::Tempfail),
            "fail-closed" | "reject" => Ok(FailPolicy::FailClosed),
            _ => Err(format!(
                "unknown fail policy {s:?} (fail-open, tempfail, fail-closed)"
            )),
        }
    }
}

/// Which kind of sandbox failure happened, for symbols, headers and
/// counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The guest trapped (panic, unreachable, out-of-bounds access).
    Trap,
    /// The guest ran past its time budget.
    Timeout,
    /// The guest hit the memory cap.
    Memory,
    /// The guest's verdict broke the host's bounds.
    BadVerdict,
    /// The guest abused a host interface.
    Abuse,
    /// No instance slot was free.
    Capacity,
    /// The message is over the size limit.
    MessageTooLarge,
    /// No pack is loaded.
    NoPack,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::Trap,
        FailureKind::Timeout,
        FailureKind::Memory,
        FailureKind::BadVerdict,
        FailureKind::Abuse,
        FailureKind::Capacity,
        FailureKind::MessageTooLarge,
        FailureKind::NoPack,
    ];

    /// The kind of `error`.
    pub fn of(error: &CheckError) -> FailureKind {
        match error {
            CheckError::MessageTooLarge { .. } => FailureKind::MessageTooLarge,
            CheckError::Timeout { .. } => FailureKind::Timeout,
            CheckError::MemoryLimit { .. } => FailureKind::Memory,
            CheckError::Trap(_) => FailureKind::Trap,
            CheckError::BadVerdict(_) => FailureKind::BadVerdict,
            CheckError::Abuse(_) => FailureKind::Abuse,
            CheckError::Capacity(_) => FailureKind::Capacity,
            CheckError::NoPack => FailureKind::NoPack,
        }
    }

    /// Short name: `trap`, `timeout`, `memory`, `bad-verdict`, `abuse`,
    /// `capacity`, `message-too-large`, `no-pack`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::BadVerdict => "bad-verdict",
            FailureKind::Abuse => "abuse",
            FailureKind::Capacity => "capacity",
            FailureKind::MessageTooLarge => "message-too-large",
            FailureKind::NoPack => "no-pack",
        }
    }

    /// The symbol a failure verdict carries.
    pub fn symbol(self) -> &'static str {
        match self {
            FailureKind::Trap => "MAILWARD_FAIL_TRAP",
            FailureKind::Timeout => "MAILWARD_FAIL_TIMEOUT",
            FailureKind::Memory => "MAILWARD_FAIL_MEMORY",
            FailureKind::BadVerdict => "MAILWARD_FAIL_BAD_VERDICT",
            FailureKind::Abuse => "MAILWARD_FAIL_ABUSE",
            FailureKind::Capacity => "MAILWARD_FAIL_CAPACITY",
            FailureKind::MessageTooLarge => "MAILWARD_FAIL_MESSAGE_TOO_LARGE",
            FailureKind::NoPack => "MAILWARD_FAIL_NO_PACK",
        }
    }

    /// One line for the symbol's description.
    pub fn description(self) -> &'static str {
        match self {
            FailureKind::Trap => "The rule pack trapped on this message",
            FailureKind::Timeout => "The rule pack exceeded its time budget on this message",
            FailureKind::Memory => "The rule pack exceeded its memory cap on this message",
            FailureKind::BadVerdict => "The rule pack's verdict was out of the host's bounds",
            FailureKind::Abuse => "The rule pack abused a host interface on this message",
            FailureKind::Capacity => "No sandbox slot was free for this message",
            FailureKind::MessageTooLarge => "The message exceeds the host's size limit",
            FailureKind::NoPack => "No rule pack is loaded",
        }
    }

    /// True when the failure is the pack's fault (counts toward automatic
    /// rollback); capacity, size and no-pack failures are the host's
    /// circumstances, not the pack's behaviour.
    pub fn is_pack_fault(self) -> bool {
        matches!(
            self,
            FailureKind::Trap
                | FailureKind::Timeout
                | FailureKind::Memory
                | FailureKind::BadVerdict
                | FailureKind::Abuse
        )
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> PackInfo {
        PackInfo {
            name: "p".into(),
            version: "1.2.3".into(),
            contract: "mailward:filter@0.1.0".into(),
            description: String::new(),
        }
    }

    #[test]
    fn every_policy_gives_a_verdict_naming_the_failure() {
        let err = CheckError::Timeout { budget_ms: 50 };
        for policy in FailPolicy::ALL {
            let v = policy.verdict(&err, &pack());
            assert_eq!(v.action, policy.action());
            assert!(v.has("MAILWARD_FAIL_TIMEOUT"));
            assert_eq!(v.rule_pack.version, "1.2.3");
            let h = v.header(FAILURE_HEADER).unwrap();
            assert_eq!(h, format!("timeout; policy={policy}; pack=p/1.2.3"));
            assert_eq!(v.reply.is_some(), policy != FailPolicy::FailOpen);
        }
        assert_eq!(FailPolicy::default(), FailPolicy::Tempfail);
        assert_eq!(
            FailPolicy::Tempfail.verdict(&err, &pack()).reply.unwrap().code,
            451
        );
        assert_eq!(
            FailPolicy::FailClosed.verdict(&err, &pack()).reply.unwrap().code,
            550
        );
    }

    #[test]
    fn kinds_have_distinct_symbols_and_parse_round_trip() {
        let mut names: Vec<_> = FailureKind::ALL.iter().map(|k| k.symbol()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailureKind::ALL.len());
        for p in FailPolicy::ALL {
            assert_eq!(p.as_str().parse::<FailPolicy>(), Ok(p));
        }
        assert!("open".parse::<FailPolicy>().is_err());
    }
}
