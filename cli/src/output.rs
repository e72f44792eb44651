//! Printing verdicts, and the `scan` runner.

use crate::EnvelopeArgs;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use mailward_core::{Action, Verdict};
use mailward_corpus as corpus;
use mailward_host::{FailPolicy, Sandbox};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// A verdict for people.
pub fn human(v: &Verdict) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  score {:.2} (reject at {:.2})  [{} {}]",
        v.action.as_str().to_uppercase(),
        v.score,
        v.required_score,
        v.rule_pack.name,
        v.rule_pack.version
    );
    if !v.symbols.is_empty() {
        let width = v.symbols.iter().map(|s| s.name.len()).max().unwrap_or(0);
        s.push_str("symbols:\n");
        for sym in &v.symbols {
            let _ = write!(
                s,
                "  {:>6.2}  {:<width$}  {}",
                sym.score, sym.name, sym.description
            );
            if !sym.options.is_empty() {
                let _ = write!(s, "  [{}]", sym.options.join("; "));
            }
            s.push('\n');
        }
    }
    if !v.headers.is_empty() {
        s.push_str("headers:\n");
        for h in &v.headers {
            let _ = writeln!(s, "  {}: {}", h.name, h.value);
        }
    }
    if let Some(r) = &v.reply {
        let _ = writeln!(s, "reply: {} {} {}", r.code, r.enhanced, r.text);
    }
    for a in &v.alerts {
        let _ = writeln!(
            s,
            "alert: {} {} [{}]: {}",
            a.severity.as_str(),
            a.kind.as_str(),
            a.action,
            a.summary
        );
    }
    s
}

/// Counts of a scan.
#[derive(Debug, Default)]
pub struct Summary {
    pub by_action: BTreeMap<Action, usize>,
    pub failures: usize,
    pub messages: usize,
}

enum Outcome {
    Verdict(String, Box<Verdict>),
    /// The sandbox failed: the error, and the fail policy's verdict.
    Failure(String, String, Option<Box<Verdict>>),
}

/// Checks every message in `files` on `jobs` threads.
pub fn scan(
    sandbox: &Sandbox,
    policy: FailPolicy,
    env: &EnvelopeArgs,
    files: &[PathBuf],
    jobs: usize,
    json: bool,
) -> Result<Summary> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(files.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let items = match std::fs::read(path) {
                        Ok(bytes) => corpus::messages_in(path, bytes),
                        Err(e) => {
                            let _ = tx.send(Outcome::Failure(
                                path.display().to_string(),
                                format!("read: {e}"),
                                None,
                            ));
                            continue;
                        }
                    };
                    for item in items {
                        let envelope = env.envelope(&item.bytes);
                        let d = sandbox.decide(&envelope, &item.bytes, policy);
                        let out = match d.failure {
                            None => Outcome::Verdict(item.label, Box::new(d.verdict)),
                            Some(e) => Outcome::Failure(item.label, e.to_string(), Some(Box::new(d.verdict))),
                        };
                        if tx.send(out).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        let mut out = stdout.lock();
        let mut files_done = 0usize;
        for outcome in rx {
            summary.messages += 1;
            match outcome {
                Outcome::Verdict(label, v) => {
                    *summary.by_action.entry(v.action).or_default() += 1;
                    if json {
                        let line = serde_json::json!({
                            "path": label,
                            "action": v.action,
                            "score": v.score,
                            "required_score": v.required_score,
                            "symbols": v.symbols.iter().map(|s| serde_json::json!({"name": s.name, "score": s.score, "options": s.options})).collect::<Vec<_>>(),
                            "rule_pack": format!("{}/{}", v.rule_pack.name, v.rule_pack.version),
                        });
                        writeln!(out, "{line}")?;
                    } else {
                        let names: Vec<&str> = v
                            .symbols
                            .iter()
                            .filter(|s| s.score != 0.0)
                            .map(|s| s.name.as_str())
                            .collect();
                        progress.suspend(|| {
                            writeln!(
                                out,
                                "{:<10} {:>7.2}  {}  {}",
                                v.action.as_str(),
                                v.score,
                                label,
                                names.join(",")
                            )
                        })?;
                    }
                }
                Outcome::Failure(label, err, verdict) => {
                    summary.failures += 1;
                    let action = verdict.as_ref().map(|v| v.action);
                    if json {
                        writeln!(
                            out,
                            "{}",
                            serde_json::json!({"path": label, "error": err, "action": action})
                        )?;
                    } else {
                        progress.suspend(|| {
                            writeln!(
                                out,
                                "{:<10} {:>7}  {}  {} (fail policy: {})",
                                "FAILED",
                                "-",
                                label,
                                err,
                                action.map_or("-", |a| a.as_str())
                            )
                        })?;
                    }
                }
            }
            let done = next.load(Ordering::Relaxed).min(files.len());
            if done != files_done {
                files_done = done;
                progress.set_position(done as u64);
            }
        }
        Ok(())
    })?;
    progress.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let mut text = format!(
        "scanned {} messages in {:.2} s ({:.0} msgs/s, {} threads):",
        summary.messages,
        secs,
        summary.messages as f64 / secs.max(1e-9),
        jobs
    );
    for a in Action::ALL {
        let _ = write!(text, " {}={}", a, summary.by_action.get(&a).copied().unwrap_or(0));
    }
    let _ = write!(text, " failed={}", summary.failures);
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
    Ok(summary)
}
