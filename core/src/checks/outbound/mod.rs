//! Outbound filtering: mail submitted by authenticated users, to detect
//! and stop a hijacked account, and the credential-reply interception
//! that links inbound phishing to the user's answer.
//!
//! The pack decides; the host keeps the state (the WIT `state` import,
//! through [`crate::Env`]). For an outbound message from user U:
//!
//! 1. **Restrictions.** A blocked U is refused at once
//!    (`OUT_USER_BLOCKED`, with an SMTP text saying why and until when).
//!    A suspect U (flagged possibly compromised) gets the limits and the
//!    compromise threshold times `outbound-suspect-limit-factor`.
//! 2. **Limits, as Microsoft EOP's outbound spam policy**: external
//!    recipients per hour, internal recipients per hour, recipients per
//!    day (`OUT_LIMIT_*`), with the action `outbound-limit-action`
//!    (block-user-for-today, block-user, alert-only).
//! 3. **Earlier signals** (`outbound-early-signals = "on"`), each a symbol
//!    the pack scores: a volume spike against U's own baseline, fan-out to
//!    new recipient domains, the same text to many recipients, a new
//!    client network, spammy content (the content checks' score), a From
//!    or Reply-To that is not the account's address.
//! 4. **Compromise**: the score the outbound symbols add to the message
//!    is summed per user over `outbound-compromise-window-hours`; at
//!    `outbound-compromise-score` U is restricted
//!    (`outbound-compromise-action`) and an alert raised.
//! 5. **Credential reply** ([`reply_guard`]): a reply to a remembered
//!    credential-phishing mail, or whatever the pack's `credential-reply`
//!    expression names (a filled-in credential form to an external
//!    recipient), is held (`OUT_CRED_REPLY_HELD`), an alert names U and U
//!    becomes a suspect until an administrator clears it.
//!
//! Inbound mail only feeds the credential-reply memory. Every number and
//! expression is pack data ([`policy`]); state failures never fail the
//! message (`OUT_STATE_UNAVAILABLE`, and the check goes on without it).

pub mod policy;
mod reply_guard;
pub mod util;

pub use policy::{Policy, UserAction};

use super::{Context, Findings};
use crate::Direction;
use crate::message::domain_of;
use crate::state::{CounterUpdate, Restriction, RestrictionKind, StateError};
use crate::types::{Alert, AlertKind, AlertSeverity, SmtpReply};
use std::collections::BTreeSet;
use util::{body_fingerprint, client_network, format_utc, key_part, next_midnight, normalise_address};

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "OUT_USER_BLOCKED",
    "OUT_USER_SUSPECT",
    "OUT_BLOCK_USER",
    "OUT_LIMIT_EXTERNAL_HOUR",
    "OUT_LIMIT_INTERNAL_HOUR",
    "OUT_LIMIT_DAY",
    "OUT_COMPROMISE",
    "OUT_VOLUME_SPIKE",
    "OUT_NEW_RCPT_DOMAINS",
    "OUT_SAME_BODY_BULK",
    "OUT_NEW_CLIENT_NET",
    "OUT_SPAMMY_CONTENT",
    "OUT_FROM_NOT_ACCOUNT",
    "OUT_REPLYTO_NOT_ACCOUNT",
    "OUT_EXTERNAL_RCPT",
    "OUT_REPLY_TO_CRED_PHISH",
    "OUT_CRED_REPLY_HELD",
    "OUT_STATE_UNAVAILABLE",
    "MW_CRED_PHISH_REMEMBERED",
];

/// Most keys or members the check puts in one state call (the host's
/// batch limit is at least this).
pub const MAX_STATE_ITEMS: usize = 32;

const HOUR: u32 = 3600;
const DAY: u32 = 86_400;
/// Days of message history behind "the user has a usual network".
const HISTORY_DAYS: u32 = 30;

/// Who sent an outbound message, and what counts as internal for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user as a state-key part (normalised authenticated user, or
    /// the envelope sender when the gateway says outbound without one).
    pub user: String,
    /// The account's address, when known.
    pub address: Option<String>,
    protected: Vec<String>,
    own_domain: Option<String>,
}

impl Identity {
    /// The sender of an outbound message; `None` when there is nobody to
    /// keep state for (no authenticated user and the null sender).
    pub fn of(cx: &Context<'_>) -> Option<Self> {
        let auth = cx
            .envelope
            .auth_user
            .as_deref()
            .map(normalise_address)
            .filter(|a| !a.is_empty());
        let mail_from = normalise_address(&cx.envelope.mail_from);
        let user = auth.or_else(|| (!mail_from.is_empty()).then(|| mail_from.clone()))?;
        let address = if user.contains('@') {
            Some(user.clone())
        } else if mail_from.contains('@') {
            Some(mail_from)
        } else {
            None
        };
        Some(Identity {
            own_domain: address.as_deref().and_then(domain_of),
            user: key_part(&user),
            address,
            protected: cx.config.protected_domains.clone(),
        })
    }

    /// True when `domain` belongs to the organisation: a protected domain
    /// (or a subdomain of one), or — when none are configured — the
    /// account's own domain.
    pub fn is_internal_domain(&self, domain: &str) -> bool {
        if self.protected.is_empty() {
            self.own_domain.as_deref() == Some(domain)
        } else {
            self.protected.iter().any(|p| {
                domain == p
                    || (domain.len() > p.len()
                        && domain.ends_with(p.as_str())
                        && domain.as_bytes()[domain.len() - p.len() - 1] == b'.')
            })
        }
    }

    /// True for an address in an internal domain (or without a domain).
    pub fn is_internal_address(&self, address: &str) -> bool {
        domain_of(address).is_none_or(|d| self.is_internal_domain(&d))
    }
}

/// Records a state failure as a symbol; the check carries on without state.
pub(crate) fn state_failed(cx: &Context<'_>, findings: &mut Findings, e: StateError) {
    findings.fire(cx.pack, "OUT_STATE_UNAVAILABLE", &[&e.to_string()]);
}

/// Runs the check (both directions; see the module documentation).
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let Some(policy) = cx.config.outbound.as_ref() else {
        return;
    };
    let preview = findings.preview(cx.pack);
    match cx.envelope.effective_direction() {
        Direction::Inbound => {
            if preview.holds(&policy.credential_phish) {
                reply_guard::remember(cx, policy.credential_memory_days, findings);
            }
        }
        Direction::Outbound => {
            if let Some(who) = Identity::of(cx) {
                outbound(cx, policy, &who, preview.score(cx.pack), findings);
            }
        }
    }
}

/// The reply for a blocked user's mail.
pub fn blocked_reply(user: &str, r: &Restriction) -> SmtpReply {
    let until = match r.until {
        Some(t) => format!("until {}", format_utc(t)),
        None => "until an administrator releases it".to_string(),
    };
    SmtpReply {
        code: 550,
        enhanced: "5.7.1".into(),
        text: format!(
            "Sending denied: account {user} is blocked {until} ({}); contact your administrator",
            r.reason
        ),
    }
}

/// One reason to act on the user found while checking this message.
struct Hit {
    kind: AlertKind,
    action: UserAction,
    reason: String,
    /// True when this message took the user over the line (for
    /// alert-only policies, which alert once per crossing).
    crossed: bool,
    symbols: Vec<String>,
}

struct Recipients {
    external: u32,
    internal: u32,
    external_domains: Vec<String>,
}

fn recipients(cx: &Context<'_>, who: &Identity) -> Recipients {
    let mut r = Recipients {
        external: 0,
        internal: 0,
        external_domains: Vec::new(),
    };
    for rcpt in &cx.envelope.rcpt_to {
        let a = normalise_address(rcpt);
        match domain_of(&a) {
            Some(d) if !who.is_internal_domain(&d) => {
                r.external += 1;
                if !r.external_domains.contains(&d) {
                    r.external_domains.push(d);
                }
            }
            _ => r.internal += 1,
        }
    }
    r
}

fn header_identity(cx: &Context<'_>, who: &Identity, findings: &mut Findings) {
    let Some(account) = &who.address else {
        return;
    };
    let from: Vec<String> = cx
        .message
        .mailboxes("From")
        .iter()
        .map(|m| normalise_address(&m.address))
        .collect();
    if let Some(first) = from.first()
        && !from.contains(account)
    {
        findings.fire(cx.pack, "OUT_FROM_NOT_ACCOUNT", &[first]);
    }
    for m in cx.message.mailboxes("Reply-To") {
        let a = normalise_address(&m.address);
        if a != *account && !from.contains(&a) && !who.is_internal_address(&a) {
            findings.fire(cx.pack, "OUT_REPLYTO_NOT_ACCOUNT", &[&a]);
        }
    }
}

fn outbound(cx: &Context<'_>, policy: &Policy, who: &Identity, content_score: f64, findings: &mut Findings) {
    let pack = cx.pack;
    let env = cx.env;
    let now = env.now();
    let u = &who.user;
    findings.score_action_cap = Some(policy.score_action_cap);

    let restrictions = env.restrictions(u).unwrap_or_else(|e| {
        state_failed(cx, findings, e);
        Vec::new()
    });
    if let Some(block) = restrictions
        .iter()
        .find(|r| r.kind == RestrictionKind::Block && r.active_at(now))
    {
        findings.fire(pack, "OUT_USER_BLOCKED", &[&block.reason]);
        findings.reply = Some(blocked_reply(u, block));
        return;
    }
    let suspect = restrictions
        .iter()
        .find(|r| r.kind == RestrictionKind::Suspect && r.active_at(now));
    if let Some(s) = suspect {
        findings.fire(pack, "OUT_USER_SUSPECT", &[&s.reason]);
    }
    let (factor, compromise_factor) = if suspect.is_some() {
        (policy.suspect_factor, policy.suspect_compromise_factor)
    } else {
        (1.0, 1.0)
    };
    let limits = policy.limits.scaled(factor);

    let mut rc = recipients(cx, who);
    if rc.external > 0 {
        findings.fire(
            pack,
            "OUT_EXTERNAL_RCPT",
            &[&format!("{} external recipients", rc.external)],
        );
    }
    reply_guard::check_reply(cx, who, findings);

    // "Seen before": recipient domains and client networks.
    let signals = policy.signals.as_ref();
    let mut new_domains: Vec<String> = Vec::new();
    let mut new_net: Option<String> = None;
    if let Some(sig) = signals {
        header_identity(cx, who, findings);
        let ttl = sig.seen_days.saturating_mul(DAY);
        rc.external_domains.truncate(MAX_STATE_ITEMS);
        if !rc.external_domains.is_empty() {
            match env.seen(&format!("rcpt-domains:{u}"), &rc.external_domains, ttl) {
                Ok(new) => {
                    new_domains = rc
                        .external_domains
                        .iter()
                        .zip(new)
                        .filter(|(_, n)| *n)
                        .map(|(d, _)| d.clone())
                        .collect();
                }
                Err(e) => state_failed(cx, findings, e),
            }
        }
        if let Some(ip) = cx.envelope.client_ip {
            let net = client_network(ip, sig.ipv4_prefix, sig.ipv6_prefix);
            match env.seen(&format!("client-nets:{u}"), std::slice::from_ref(&net), ttl) {
                Ok(v) if v.first() == Some(&true) => new_net = Some(net),
                Ok(_) => {}
                Err(e) => state_failed(cx, findings, e),
            }
        }
    }

    // Counters: the limits' three, then the signals'.
    let new_count = u32::try_from(new_domains.len()).unwrap_or(u32::MAX);
    let mut updates = vec![
        CounterUpdate::add(format!("rcpt-ext:{u}"), HOUR, rc.external),
        CounterUpdate::add(format!("rcpt-int:{u}"), HOUR, rc.internal),
        CounterUpdate::add(format!("rcpt-day:{u}"), DAY, rc.external + rc.internal),
    ];
    let fingerprint = body_fingerprint(cx.message.subject().as_deref(), cx.message.text());
    if let Some(sig) = signals {
        updates.push(CounterUpdate::add(
            format!("rcpt-ext-base:{u}"),
            sig.baseline_days.saturating_mul(DAY),
            rc.external,
        ));
        updates.push(CounterUpdate::add(format!("msgs:{u}"), HISTORY_DAYS * DAY, 1));
        updates.push(CounterUpdate::add(format!("new-domains:{u}"), HOUR, new_count));
        if let Some(f) = &fingerprint {
            updates.push(CounterUpdate::add(format!("body:{u}:{f}"), DAY, rc.external));
        }
    }
    let totals = match env.counters(&updates) {
        Ok(t) if t.len() == updates.len() => Some(t),
        Ok(_) => {
            state_failed(cx, findings, StateError::Unavailable);
            None
        }
        Err(e) => {
            state_failed(cx, findings, e);
            None
        }
    };

    let mut hits: Vec<Hit> = Vec::new();
    if let Some(t) = &totals {
        let checks = [
            (
                "OUT_LIMIT_EXTERNAL_HOUR",
                t[0],
                rc.external,
                limits.external_per_hour,
                "external recipients in the last hour",
            ),
            (
                "OUT_LIMIT_INTERNAL_HOUR",
                t[1],
                rc.internal,
                limits.internal_per_hour,
                "internal recipients in the last hour",
            ),
            (
                "OUT_LIMIT_DAY",
                t[2],
                rc.external + rc.internal,
                limits.per_day,
                "recipients in the last 24 hours",
            ),
        ];
        for (symbol, total, added, limit, what) in checks {
            if total > limit {
                let reason = format!("{total} {what} (limit {limit})");
                findings.fire(pack, symbol, &[&reason]);
                hits.push(Hit {
                    kind: AlertKind::LimitExceeded,
                    action: policy.limit_action,
                    reason,
                    crossed: total.saturating_sub(u64::from(added)) <= limit,
                    symbols: vec![symbol.to_string()],
                });
            }
        }
    }

    if let (Some(sig), Some(t)) = (signals, &totals) {
        let (hour_ext, base, history, new_hour) = (t[0], t[3], t[4], t[5]);
        let earlier = base.saturating_sub(hour_ext);
        let daily = earlier as f64 / f64::from(sig.baseline_days);
        if rc.external > 0
            && hour_ext >= sig.spike_min_recipients
            && hour_ext as f64 > sig.spike_factor * daily
        {
            findings.fire(
                pack,
                "OUT_VOLUME_SPIKE",
                &[&format!(
                    "{hour_ext} external recipients in the last hour, daily average {daily:.1}"
                )],
            );
        }
        if new_count > 0 && new_hour >= sig.new_domains_per_hour {
            let mut opts = vec![format!("{new_hour} new recipient domains in the last hour")];
            opts.extend(new_domains.iter().take(4).cloned());
            let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
            findings.fire(pack, "OUT_NEW_RCPT_DOMAINS", &opts);
        }
        if let Some(&same) = t.get(6)
            && rc.external > 0
            && same >= sig.same_body_recipients
        {
            findings.fire(
                pack,
                "OUT_SAME_BODY_BULK",
                &[&format!(
                    "{same} external recipients of the same text in 24 hours"
                )],
            );
        }
        if let Some(net) = &new_net
            && history.saturating_sub(1) >= sig.history_messages
        {
            findings.fire(pack, "OUT_NEW_CLIENT_NET", &[net]);
        }
    }
    if let Some(sig) = signals
        && content_score >= sig.content_score
    {
        findings.fire(
            pack,
            "OUT_SPAMMY_CONTENT",
            &[&format!("content score {content_score:.1}")],
        );
    }

    // Credential reply: hold, alert, flag the user.
    let preview = findings.preview(pack);
    let held = preview.holds(&policy.credential_reply);
    if held {
        findings.fire(pack, "OUT_CRED_REPLY_HELD", &[]);
        let mut names = BTreeSet::new();
        policy.credential_reply.symbols(&mut names);
        let symbols: Vec<String> = names
            .into_iter()
            .filter(|i| preview.has(*i))
            .map(|i| pack.symbols[i].name.clone())
            .collect();
        let reason = format!("sent a credential reply ({})", symbols.join(", "));
        if suspect.is_none() {
            let r = Restriction {
                kind: RestrictionKind::Suspect,
                reason: reason.clone(),
                since: now,
                until: None,
            };
            if let Err(e) = env.restrict(u, &r) {
                state_failed(cx, findings, e);
            }
        }
        findings.alerts.push(Alert {
            kind: AlertKind::CredentialReply,
            severity: AlertSeverity::Critical,
            user: Some(u.clone()),
            summary: format!("user {u} {reason}: message held, user flagged as possibly compromised"),
            action: "hold, flag-suspect".into(),
            symbols,
        });
    }

    // Compromise score of this message: what the outbound symbols added.
    // A held credential reply adds nothing: it is dealt with (held, the
    // user flagged), and it quotes the lure, whose content would count.
    if signals.is_some() && totals.is_some() {
        let added = if held {
            0.0
        } else {
            (findings.preview(pack).score(pack) - content_score).max(0.0)
        };
        let amount = (added * 100.0).round().min(f64::from(u32::MAX)) as u32;
        let window = policy.compromise_window_hours.saturating_mul(HOUR);
        match env.counters(&[CounterUpdate::add(format!("suspicion:{u}"), window, amount)]) {
            Ok(t) if t.len() == 1 => {
                let total = t[0] as f64 / 100.0;
                let before = t[0].saturating_sub(u64::from(amount)) as f64 / 100.0;
                let threshold = policy.compromise_score * compromise_factor;
                if total >= threshold {
                    let reason = format!(
                        "compromise score {total:.1} in {} hours (threshold {threshold:.1})",
                        policy.compromise_window_hours
                    );
                    findings.fire(pack, "OUT_COMPROMISE", &[&reason]);
                    let symbols = findings
                        .iter()
                        .map(|(i, _)| pack.symbols[i].name.clone())
                        .filter(|n| SYMBOLS.contains(&n.as_str()))
                        .collect();
                    hits.push(Hit {
                        kind: AlertKind::CompromiseSuspected,
                        action: policy.compromise_action,
                        reason,
                        crossed: before < threshold,
                        symbols,
                    });
                }
            }
            Ok(_) => state_failed(cx, findings, StateError::Unavailable),
            Err(e) => state_failed(cx, findings, e),
        }
    }

    act(cx, who, now, hits, findings);
}

/// Blocks the user when a hit says so, and raises the alerts.
fn act(cx: &Context<'_>, who: &Identity, now: u64, hits: Vec<Hit>, findings: &mut Findings) {
    let u = &who.user;
    let blocking: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.action != UserAction::AlertOnly)
        .collect();
    let strongest = blocking
        .iter()
        .map(|h| h.action)
        .max_by_key(|a| matches!(a, UserAction::Block));
    if let Some(action) = strongest {
        let until = match action {
            UserAction::BlockForToday => Some(next_midnight(now)),
            _ => None,
        };
        let reason = blocking
            .iter()
            .map(|h| h.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let r = Restriction {
            kind: RestrictionKind::Block,
            reason,
            since: now,
            until,
        };
        if let Err(e) = cx.env.restrict(u, &r) {
            state_failed(cx, findings, e);
        }
        findings.fire(cx.pack, "OUT_BLOCK_USER", &[action.as_str()]);
        findings.reply = Some(blocked_reply(u, &r));
    }
    for h in hits {
        let blocks = h.action != UserAction::AlertOnly;
        if !blocks && !h.crossed {
            continue;
        }
        let severity = match (h.kind, blocks) {
            (AlertKind::CompromiseSuspected, true) => AlertSeverity::Critical,
            (_, true) | (AlertKind::CompromiseSuspected, false) => AlertSeverity::Warning,
            _ => AlertSeverity::Info,
        };
        let what = match h.action {
            UserAction::Block => "user blocked until released".to_string(),
            UserAction::BlockForToday => format!("user blocked until {}", format_utc(next_midnight(now))),
            UserAction::AlertOnly => "alert only, mail still flows".to_string(),
        };
        findings.alerts.push(Alert {
            kind: h.kind,
            severity,
            user: Some(u.clone()),
            summary: format!("user {u}: {}; {what}", h.reason),
            action: h.action.as_str().into(),
            symbols: h.symbols,
        });
    }
}
