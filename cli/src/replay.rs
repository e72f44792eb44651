//! `mailward replay`: a log of submissions replayed through the pack in
//! virtual time, to measure what the outbound policy does.
//!
//! Each line of the events file is one message:
//!
//! ```json
//! {"t": 1795651200, "user": "alice@corp.example", "ip": "198.51.100.7",
//!  "mail_from": "alice@corp.example", "rcpt": ["bob@partner.example"],
//!  "message": "msgs/000001.eml", "label": "ham"}
//! ```
//!
//! `user` (the authenticated user) makes the message outbound; without it
//! the message is inbound. `message` is relative to the events file.
//! `label` (`ham` or `spam`, optional) is ground truth for the summary:
//! spam from an account is what a hijacker sent. The host clock follows
//! `t`, so every window, expiry and "block until midnight" runs on the
//! events' time. One JSON line per verdict goes to standard output; the
//! summary to standard error (and `--summary-json`).

use crate::PackArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use mailward_core::{Action, AlertKind, Direction, Envelope, Verdict};
use mailward_host::{Clock, EmbeddedStore, ManualClock, RedisStore, StateStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args)]
pub struct ReplayArgs {
    /// The events, one JSON object per line.
    events: PathBuf,
    #[command(flatten)]
    pack: PackArgs,
    /// Replay a second time with the earlier signals off (Microsoft EOP's
    /// limits alone, `outbound-early-signals=off`) and compare.
    #[arg(long)]
    compare: bool,
    /// No verdict lines, only the summary.
    #[arg(long, short)]
    quiet: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
}

/// One submission.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    t: u64,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    ip: Option<IpAddr>,
    #[serde(default)]
    mail_from: String,
    rcpt: Vec<String>,
    message: PathBuf,
    #[serde(default)]
    label: Option<String>,
}

impl Event {
    fn is_spam(&self) -> bool {
        self.label.as_deref() == Some("spam")
    }
}

/// When and how a user was first restricted.
#[derive(Debug, Clone, Serialize)]
struct Restricted {
    /// Event time.
    t: u64,
    /// The user's message number (1-based) that triggered it.
    message: usize,
    /// The policy action (`block-user`, `block-user-for-today`, `flag-suspect`).
    action: String,
    /// The alert's summary.
    reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
struct UserStats {
    messages: usize,
    delivered: usize,
    held: usize,
    rejected: usize,
    failed: usize,
    spam: usize,
    spam_delivered: usize,
    /// Spam delivered before the first block.
    spam_delivered_before_block: usize,
    /// Spam submitted before the first block, the blocking one included.
    spam_submitted_before_block: usize,
    ham_not_delivered: usize,
    first_spam_t: Option<u64>,
    blocked: Option<Restricted>,
    flagged: Option<Restricted>,
    alerts: usize,
}

#[derive(Debug, Default, Serialize)]
struct Outcome {
    /// The pack options that differ from the pack's defaults.
    options: Vec<(String, String)>,
    events: usize,
    outbound: usize,
    inbound: usize,
    failures: usize,
    seconds: f64,
    alerts_by_kind: BTreeMap<String, usize>,
    users: BTreeMap<String, UserStats>,
    /// Restrictions in force at the end, from the state store.
    restricted_at_end: Vec<mailward_host::RestrictedUser>,
}

#[derive(Debug, Serialize)]
struct Measures {
    hijacked_accounts: usize,
    hijacked_blocked: usize,
    /// Over hijacked accounts (never-blocked ones count all their spam).
    spam_delivered_before_block_median: f64,
    spam_delivered_before_block_max: usize,
    spam_submitted_before_block_median: f64,
    spam_submitted_before_block_max: usize,
    spam_delivered_total: usize,
    false_blocks: Vec<String>,
    false_flags: Vec<String>,
    /// Mail of users who never sent spam that was held or refused.
    ham_not_delivered: usize,
    ham_messages: usize,
    /// The hijacked accounts' owners' own mail refused after the block.
    hijacked_owner_mail_not_delivered: usize,
}

fn median(v: &mut [usize]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

impl Outcome {
    fn measures(&self) -> Measures {
        let hijacked: Vec<(&String, &UserStats)> = self.users.iter().filter(|(_, s)| s.spam > 0).collect();
        let mut delivered: Vec<usize> = hijacked
            .iter()
            .map(|(_, s)| s.spam_delivered_before_block)
            .collect();
        let mut submitted: Vec<usize> = hijacked
            .iter()
            .map(|(_, s)| s.spam_submitted_before_block)
            .collect();
        let before_spam = |r: &Option<Restricted>, s: &UserStats| match (r, s.first_spam_t) {
            (Some(r), Some(first)) => r.t < first,
            (Some(_), None) => true,
            (None, _) => false,
        };
        Measures {
            hijacked_accounts: hijacked.len(),
            hijacked_blocked: hijacked.iter().filter(|(_, s)| s.blocked.is_some()).count(),
            spam_delivered_before_block_max: delivered.iter().copied().max().unwrap_or(0),
            spam_delivered_before_block_median: median(&mut delivered),
            spam_submitted_before_block_max: submitted.iter().copied().max().unwrap_or(0),
            spam_submitted_before_block_median: median(&mut submitted),
            spam_delivered_total: self.users.values().map(|s| s.spam_delivered).sum(),
            false_blocks: self
                .users
                .iter()
                .filter(|(_, s)| before_spam(&s.blocked, s))
                .map(|(u, _)| u.clone())
                .collect(),
            false_flags: self
                .users
                .iter()
                .filter(|(_, s)| before_spam(&s.flagged, s))
                .map(|(u, _)| u.clone())
                .collect(),
            ham_not_delivered: self
                .users
                .values()
                .filter(|s| s.spam == 0)
                .map(|s| s.ham_not_delivered)
                .sum(),
            ham_messages: self
                .users
                .values()
                .filter(|s| s.spam == 0)
                .map(|s| s.messages)
                .sum(),
            hijacked_owner_mail_not_delivered: self
                .users
                .values()
                .filter(|s| s.spam > 0)
                .map(|s| s.ham_not_delivered)
                .sum(),
        }
    }
}

fn read_events(path: &Path) -> Result<Vec<Event>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut e: Event = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: bad event", path.display(), n + 1))?;
        if e.message.is_relative() {
            e.message = base.join(&e.message);
        }
        out.push(e);
    }
    // Time only moves forward; equal times keep the file's order.
    out.sort_by_key(|e| e.t);
    Ok(out)
}

/// A fresh state store for one replay, and how to clean it up.
enum Scratch {
    Kept,
    TempDir(PathBuf),
    Redis(Arc<RedisStore>),
}

fn scratch_state(spec: Option<&str>, run: &str) -> Result<(Arc<dyn StateStore>, Scratch, String)> {
    let unique = format!(
        "{}-{}-{run}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    match spec.unwrap_or("embedded") {
        "embedded" => {
            let dir = std::env::temp_dir().join(format!("mailward-replay-{unique}"));
            let store = EmbeddedStore::open(&dir.join("state.redb"))?;
            Ok((
                Arc::new(store),
                Scratch::TempDir(dir),
                "embedded (fresh temporary file)".into(),
            ))
        }
        s if s.starts_with("redis://") || s.starts_with("rediss://") => {
            let prefix = format!("mailward-replay-{unique}");
            let store = Arc::new(RedisStore::connect(s, &prefix)?);
            let label = format!("redis (fresh key prefix {prefix})");
            Ok((store.clone(), Scratch::Redis(store), label))
        }
        other => {
            let spec: mailward_host::StateSpec = other.parse()?;
            Ok((spec.open()?, Scratch::Kept, spec.to_string()))
        }
    }
}

impl Scratch {
    fn clean(self) {
        match self {
            Scratch::Kept => {}
            Scratch::TempDir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Scratch::Redis(r) => {
                if let Err(e) = r.delete_all() {
                    eprintln!("mailward: warning: deleting the replay's redis keys: {e}");
                }
            }
        }
    }
}

fn verdict_line(i: usize, e: &Event, v: &Result<Verdict, mailward_host::CheckError>) -> serde_json::Value {
    match v {
        Ok(v) => serde_json::json!({
            "i": i,
            "t": e.t,
            "user": e.user,
            "action": v.action,
            "score": v.score,
            "symbols": v.symbols.iter().filter(|s| s.score != 0.0 || s.name.starts_with("OUT_")).map(|s| &s.name).collect::<Vec<_>>(),
            "reply": v.reply.as_ref().map(|r| format!("{} {} {}", r.code, r.enhanced, r.text)),
            "alerts": v.alerts.iter().map(|a| serde_json::json!({"kind": a.kind, "action": a.action, "summary": a.summary})).collect::<Vec<_>>(),
        }),
        Err(err) => serde_json::json!({"i": i, "t": e.t, "user": e.user, "error": err.to_string()}),
    }
}

fn replay_once(a: &ReplayArgs, events: &[Event], extra: &[String], run: &str) -> Result<Outcome> {
    let mut pack = a.pack.clone();
    pack.options.extend(extra.iter().cloned());
    if pack.dns_zone.is_none() {
        // Replays are offline unless given a zone: deterministic and fast.
        pack.offline = true;
    }
    let (state, scratch, label) = scratch_state(pack.state.as_deref(), run)?;
    let clock = Arc::new(ManualClock::new(events.first().map_or(0, |e| e.t)));
    let setup = pack.setup_with(Some(clock.clone() as Arc<dyn Clock>), Some(state.clone()))?;
    eprintln!(
        "replay {run}: {} events, pack {}, state {label}",
        events.len(),
        setup.sandbox.pack().label()
    );
    let defaults = mailward_rules::default_filter()?;
    let mut outcome = Outcome {
        options: setup
            .settings
            .options
            .iter()
            .filter(|(k, v)| defaults.config().options.get(k) != Some(v))
            .cloned()
            .collect(),
        ..Outcome::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let start = Instant::now();
    let mut cache: Option<(PathBuf, Vec<u8>)> = None;
    for (i, e) in events.iter().enumerate() {
        clock.set(e.t);
        let bytes = match &cache {
            Some((p, b)) if *p == e.message => b.clone(),
            _ => {
                let b =
                    std::fs::read(&e.message).with_context(|| format!("reading {}", e.message.display()))?;
                cache = Some((e.message.clone(), b.clone()));
                b
            }
        };
        let user = e.user.clone().filter(|u| !u.trim().is_empty());
        let direction = if user.is_some() {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let envelope = Envelope {
            client_ip: e.ip,
            helo: None,
            mail_from: e.mail_from.clone(),
            rcpt_to: e.rcpt.clone(),
            auth_user: user.clone(),
            direction,
            queue_id: Some(format!("replay-{i}")),
        };
        let result = setup.sandbox.check(&envelope, &bytes);
        if !a.quiet {
            writeln!(out, "{}", verdict_line(i, e, &result))?;
        }
        outcome.events += 1;
        let Some(user) = user else {
            outcome.inbound += 1;
            if result.is_err() {
                outcome.failures += 1;
            }
            continue;
        };
        outcome.outbound += 1;
        let s = outcome.users.entry(user.to_ascii_lowercase()).or_default();
        s.messages += 1;
        if e.is_spam() {
            s.spam += 1;
            s.first_spam_t.get_or_insert(e.t);
        }
        let v = match result {
            Ok(v) => v,
            Err(_) => {
                s.failed += 1;
                outcome.failures += 1;
                continue;
            }
        };
        let delivered = matches!(v.action, Action::Accept | Action::AddHeader);
        match v.action {
            Action::Accept | Action::AddHeader => s.delivered += 1,
            Action::Quarantine => s.held += 1,
            Action::Reject | Action::Tempfail => s.rejected += 1,
        }
        if e.is_spam() {
            if delivered {
                s.spam_delivered += 1;
            }
            if s.blocked.is_none() {
                s.spam_submitted_before_block += 1;
                if delivered {
                    s.spam_delivered_before_block += 1;
                }
            }
        } else if !delivered {
            s.ham_not_delivered += 1;
        }
        for al in &v.alerts {
            s.alerts += 1;
            *outcome
                .alerts_by_kind
                .entry(al.kind.as_str().to_string())
                .or_default() += 1;
            let r = Restricted {
                t: e.t,
                message: s.messages,
                action: al.action.clone(),
                reason: al.summary.clone(),
            };
            if al.action.starts_with("block-user") && s.blocked.is_none() {
                s.blocked = Some(r);
            } else if al.kind == AlertKind::CredentialReply && s.flagged.is_none() {
                s.flagged = Some(r);
            }
        }
    }
    out.flush()?;
    drop(out);
    outcome.seconds = start.elapsed().as_secs_f64();
    outcome.restricted_at_end = state.restricted_users(clock.now())?;
    setup.finish();
    drop(setup);
    drop(state);
    scratch.clean();
    Ok(outcome)
}

fn print_outcome(name: &str, o: &Outcome) {
    let m = o.measures();
    let fmt = mailward_core::checks::outbound::util::format_utc;
    eprintln!();
    eprintln!("== {name}");
    if !o.options.is_empty() {
        let opts: Vec<String> = o.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("options: {}", opts.join(" "));
    }
    eprintln!(
        "{} events ({} outbound, {} inbound) in {:.1} s ({:.0} msgs/s), {} sandbox failures",
        o.events,
        o.outbound,
        o.inbound,
        o.seconds,
        o.events as f64 / o.seconds.max(1e-9),
        o.failures
    );
    let blocked: Vec<(&String, &UserStats, &Restricted)> = o
        .users
        .iter()
        .filter_map(|(u, s)| s.blocked.as_ref().map(|r| (u, s, r)))
        .collect();
    eprintln!("restricted users: {}", blocked.len());
    for (u, s, r) in &blocked {
        eprintln!(
            "  {u}  {}  at message {} ({} spam before, {} delivered)  {}",
            fmt(r.t),
            r.message,
            s.spam_submitted_before_block,
            s.spam_delivered_before_block,
            r.reason
        );
    }
    let flagged: Vec<(&String, &Restricted)> = o
        .users
        .iter()
        .filter_map(|(u, s)| s.flagged.as_ref().map(|r| (u, r)))
        .collect();
    if !flagged.is_empty() {
        eprintln!("flagged as possibly compromised: {}", flagged.len());
        for (u, r) in flagged {
            eprintln!("  {u}  {}  at message {}  {}", fmt(r.t), r.message, r.reason);
        }
    }
    let alerts: Vec<String> = o.alerts_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!(
        "alerts: {}",
        if alerts.is_empty() {
            "none".to_string()
        } else {
            alerts.join(", ")
        }
    );
    let delivered: usize = o.users.values().map(|s| s.delivered).sum();
    eprintln!(
        "delivered: {delivered} of {} outbound messages from {} users (per user: --summary-json)",
        o.outbound,
        o.users.len()
    );
    if m.hijacked_accounts > 0 {
        eprintln!(
            "hijacked accounts (spam-labelled): {}, blocked: {}",
            m.hijacked_accounts, m.hijacked_blocked
        );
        eprintln!(
            "  spam delivered before the block: median {}, max {}",
            m.spam_delivered_before_block_median, m.spam_delivered_before_block_max
        );
        eprintln!(
            "  spam submitted before the block: median {}, max {}",
            m.spam_submitted_before_block_median, m.spam_submitted_before_block_max
        );
        eprintln!("  spam delivered in all: {}", m.spam_delivered_total);
    }
    eprintln!(
        "false restrictions (blocked before any spam): {}{}",
        m.false_blocks.len(),
        if m.false_blocks.is_empty() {
            String::new()
        } else {
            format!(" {:?}", m.false_blocks)
        }
    );
    eprintln!(
        "false flags (flagged suspect before any spam): {}; mail of never-hijacked users not delivered: {} of {}",
        m.false_flags.len(),
        m.ham_not_delivered,
        m.ham_messages
    );
    if m.hijacked_accounts > 0 {
        eprintln!(
            "hijacked accounts' owners' own mail refused after the block: {}",
            m.hijacked_owner_mail_not_delivered
        );
    }
}

pub fn run(a: ReplayArgs) -> Result<ExitCode> {
    let events = read_events(&a.events)?;
    if events.is_empty() {
        bail!("no events in {}", a.events.display());
    }
    let main = replay_once(&a, &events, &[], "policy")?;
    print_outcome("policy as configured", &main);
    let mut report = serde_json::json!({
        "events": a.events,
        "policy": { "outcome": &main, "measures": main.measures() },
    });
    if a.compare {
        let eop = replay_once(
            &a,
            &events,
            &["outbound-early-signals=off".to_string()],
            "eop-only",
        )?;
        print_outcome("EOP limits alone (outbound-early-signals=off)", &eop);
        let (p, e) = (main.measures(), eop.measures());
        eprintln!();
        eprintln!("== comparison                                   policy    EOP only");
        let row = |name: &str, x: String, y: String| eprintln!("{name:<44} {x:>9} {y:>11}");
        row(
            "hijacked accounts blocked",
            format!("{}/{}", p.hijacked_blocked, p.hijacked_accounts),
            format!("{}/{}", e.hijacked_blocked, e.hijacked_accounts),
        );
        row(
            "spam delivered before block: median",
            p.spam_delivered_before_block_median.to_string(),
            e.spam_delivered_before_block_median.to_string(),
        );
        row(
            "spam delivered before block: max",
            p.spam_delivered_before_block_max.to_string(),
            e.spam_delivered_before_block_max.to_string(),
        );
        row(
            "spam delivered in all",
            p.spam_delivered_total.to_string(),
            e.spam_delivered_total.to_string(),
        );
        row(
            "false restrictions",
            p.false_blocks.len().to_string(),
            e.false_blocks.len().to_string(),
        );
        row(
            "mail of never-hijacked users not delivered",
            p.ham_not_delivered.to_string(),
            e.ham_not_delivered.to_string(),
        );
        report["eop_only"] = serde_json::json!({ "outcome": &eop, "measures": e });
    }
    if let Some(path) = &a.summary_json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if main.failures > 0 {
        ExitCode::from(crate::EXIT_SANDBOX_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}
