//! Turning findings into a verdict: meta rules, scores, action, headers.

use crate::checks::Findings;
use crate::config::Config;
use crate::pack::RulePack;
use crate::types::{Action, Header, SmtpReply, Symbol, Verdict};

/// How strongly an action refuses the message; the stricter of a score
/// action and a forced action wins, and a permanent refusal outranks a
/// transient one.
fn severity(a: Action) -> u8 {
    match a {
        Action::Accept => 0,
        Action::AddHeader => 1,
        Action::Quarantine => 2,
        Action::Tempfail => 3,
        Action::Reject => 4,
    }
}

/// Evaluates the meta rules, then scores the findings into a verdict.
pub fn finish(
    pack: &RulePack,
    config: &Config,
    mut findings: Findings,
    extra_headers: Vec<Header>,
) -> Verdict {
    for meta in &pack.metas {
        let fired = meta.expr.eval(&|i| findings.has_index(i)) != 0.0;
        if fired {
            findings.fire_index(meta.symbol, "");
        }
    }
    let mut symbols: Vec<Symbol> = Vec::new();
    let mut score = 0.0;
    let mut forced: Option<Action> = None;
    for (i, options) in findings.iter() {
        let def = &pack.symbols[i];
        if def.is_helper() {
            // Scores 0 (the pack checks it); only meta rules read it.
            continue;
        }
        score += def.score;
        if let Some(a) = def.force_action
            && forced.is_none_or(|f| severity(a) > severity(f))
        {
            forced = Some(a);
        }
        symbols.push(Symbol {
            name: def.name.clone(),
            score: def.score,
            description: def.description.clone(),
            options: options.to_vec(),
        });
    }
    for name in findings.unknown() {
        symbols.push(Symbol {
            name: name.clone(),
            score: 0.0,
            description: "emitted by code but unknown to this pack (not scored)".into(),
            options: Vec::new(),
        });
    }
    symbols.sort_by(|a, b| {
        b.score
            .abs()
            .total_cmp(&a.score.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    // Round away float noise so equal inputs print equal scores.
    let score = (score * 1000.0).round() / 1000.0;
    let mut by_score = config.thresholds.action_for(score);
    if let Some(cap) = findings.score_action_cap
        && severity(by_score) > severity(cap)
    {
        by_score = cap;
    }
    let action = match forced {
        Some(f) if severity(f) > severity(by_score) => f,
        _ => by_score,
    };

    let mut headers = extra_headers;
    let top: Vec<&str> = symbols
        .iter()
        .filter(|s| s.score > 0.0)
        .take(5)
        .map(|s| s.name.as_str())
        .collect();
    headers.push(Header {
        name: "X-Mailward".into(),
        value: format!(
            "{}; score={:.2}; required={:.2}; pack={}/{}{}",
            action,
            score,
            config.thresholds.reject,
            pack.info.name,
            pack.info.version,
            if top.is_empty() {
                String::new()
            } else {
                format!("; symbols={}", top.join(","))
            }
        ),
    });
    if matches!(action, Action::AddHeader | Action::Quarantine) {
        headers.push(Header {
            name: "X-Spam-Flag".into(),
            value: "YES".into(),
        });
    }
    let reply = match action {
        Action::Reject => Some(
            findings
                .reply
                .clone()
                .filter(|r| r.code >= 500)
                .unwrap_or(SmtpReply {
                    code: 550,
                    enhanced: "5.7.1".into(),
                    text: format!(
                        "Message rejected by policy (mailward {}: {})",
                        pack.info.version,
                        top.first().copied().unwrap_or("score")
                    ),
                }),
        ),
        Action::Tempfail => Some(
            findings
                .reply
                .clone()
                .filter(|r| (400..500).contains(&r.code))
                .unwrap_or(SmtpReply {
                    code: 451,
                    enhanced: "4.7.1".into(),
                    text: "Message deferred by policy, try again later (mailward)".into(),
                }),
        ),
        _ => None,
    };
    let alerts = std::mem::take(&mut findings.alerts);
    Verdict {
        action,
        score,
        required_score: config.thresholds.reject,
        symbols,
        headers,
        reply,
        rule_pack: pack.info.clone(),
        alerts,
    }
}
