//! Golden messages: every `*.expect.toml` under `tests/data/golden/` is a
//! case (see that directory's README). A case that fails writes
//! `NAME.failed` beside it; expectation files are never rewritten.

use mailward_core::dns::{Offline, Resolver};
use mailward_core::{Action, Direction, Envelope, Settings};
use mailward_host::{Limits, Sandbox};
use mailward_tests::{data, sandbox_with, zone};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    message: Option<String>,
    zone: Option<String>,
    #[serde(default)]
    envelope: EnvelopeSpec,
    #[serde(default)]
    settings: Settings,
    expect: Expect,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct EnvelopeSpec {
    ip: Option<String>,
    helo: Option<String>,
    mail_from: Option<String>,
    #[serde(default)]
    rcpt: Vec<String>,
    auth_user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Expect {
    action: Option<Action>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    min_score: Option<f64>,
    max_score: Option<f64>,
}

/// The `.expect.toml` files under `dir`, walked as `mailward scan` walks it.
fn cases(dir: &Path) -> Vec<PathBuf> {
    mailward_corpus::files(&[dir.to_path_buf()])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".expect.toml"))
        .collect()
}

fn envelope(spec: &EnvelopeSpec, message: &[u8]) -> Envelope {
    let msg = mailward_core::message::Message::parse(message);
    Envelope {
        client_ip: spec.ip.as_ref().map(|ip| ip.parse().expect("envelope ip")),
        helo: spec.helo.clone(),
        mail_from: spec.mail_from.clone().unwrap_or_else(|| {
            msg.header_text("Return-Path")
                .map(|r| r.trim_matches(['<', '>', ' ']).to_string())
                .unwrap_or_default()
        }),
        rcpt_to: spec.rcpt.clone(),
        auth_user: spec.auth_user.clone(),
        direction: if spec.auth_user.is_some() {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        queue_id: None,
    }
}

/// What is wrong with a verdict, one line per problem.
fn problems(expect: &Expect, v: &mailward_core::Verdict) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = expect.action
        && v.action != a
    {
        out.push(format!("action is {}, expected {a}", v.action));
    }
    if !expect.actions.is_empty() && !expect.actions.contains(&v.action) {
        out.push(format!(
            "action is {}, expected one of {:?}",
            v.action, expect.actions
        ));
    }
    for s in &expect.symbols {
        if !v.has(s) {
            out.push(format!("symbol {s} did not fire"));
        }
    }
    for s in &expect.absent {
        if v.has(s) {
            out.push(format!("symbol {s} fired but must not"));
        }
    }
    if let Some(m) = expect.min_score
        && v.score < m
    {
        out.push(format!("score {} is below {m}", v.score));
    }
    if let Some(m) = expect.max_score
        && v.score > m
    {
        out.push(format!("score {} is above {m}", v.score));
    }
    out
}

#[test]
fn golden_messages_meet_their_expectations() {
    let files = cases(&data().join("golden"));
    assert!(
        files.len() >= 8,
        "expected the golden cases, found {}",
        files.len()
    );
    let mut sandboxes: HashMap<String, Sandbox> = HashMap::new();
    let mut failed = Vec::new();
    let pack = mailward_rules::default_filter().expect("the default pack compiles");
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A misspelt name would make an `absent` expectation hold for any
        // verdict, and a helper (`__NAME`) is never reported.
        for name in case.expect.symbols.iter().chain(&case.expect.absent) {
            let known = pack.pack().symbol_index(name).map(|i| &pack.pack().symbols[i]);
            assert!(
                known.is_some_and(|d| !d.is_helper()),
                "{}: {name} is not a reported symbol of the default pack",
                path.display()
            );
        }
        let stem = path
            .to_string_lossy()
            .trim_end_matches(".expect.toml")
            .to_string();
        let message_path = match &case.message {
            Some(m) => path.parent().unwrap().join(m),
            None => PathBuf::from(format!("{stem}.eml")),
        };
        let message =
            std::fs::read(&message_path).unwrap_or_else(|e| panic!("{}: {e}", message_path.display()));
        let key = format!(
            "{:?}|{}",
            case.zone,
            serde_json::to_string(&case.settings).unwrap()
        );
        let sandbox = sandboxes.entry(key).or_insert_with(|| {
            let resolver: Arc<dyn Resolver> = match &case.zone {
                Some(z) => Arc::new(zone(&std::fs::read_to_string(data().join(z)).unwrap())),
                None => Arc::new(Offline),
            };
            sandbox_with(resolver, &case.settings, Limits::default())
        });
        let env = envelope(&case.envelope, &message);
        let verdict = sandbox
            .check(&env, &message)
            .unwrap_or_else(|e| panic!("{}: sandbox failed: {e}", path.display()));
        let failed_path = PathBuf::from(format!("{stem}.failed"));
        let wrong = problems(&case.expect, &verdict);
        if wrong.is_empty() {
            let _ = std::fs::remove_file(&failed_path);
        } else {
            let report = format!(
                "{}\n\nverdict:\n{}\n",
                wrong.join("\n"),
                serde_json::to_string_pretty(&verdict).unwrap()
            );
            std::fs::write(&failed_path, report).unwrap();
            failed.push(format!("{}: {}", path.display(), wrong.join("; ")));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}
