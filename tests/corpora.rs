//! Malformed and unusual mail from other projects' test suites, through the
//! sandboxed rule pack: every message must get a verdict (never a trap,
//! timeout or bad verdict). The corpora are vendored under `tests/data/`
//! with their licences: mail-parser 0.11.9's `resources/eml` and CPython
//! 3.11's `test_email/data`.

use mailward_core::Action;
use mailward_tests::{data, inbound, seed_sandbox};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The corpus's messages under `dir` (walked as `mailward scan` walks it):
/// `.eml` files and CPython's `msg_*.txt`.
fn files(dir: &Path) -> Vec<PathBuf> {
    mailward_corpus::files(&[dir.to_path_buf()])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".eml") || (name.starts_with("msg_") && name.ends_with(".txt"))
        })
        .collect()
}

/// Runs every message of a corpus; returns (count, actions).
fn run(corpus: &str) -> (usize, BTreeMap<Action, usize>) {
    let paths = files(&data().join(corpus));
    let sandbox = seed_sandbox();
    let mut actions = BTreeMap::new();
    let mut failures = Vec::new();
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        match sandbox.check(&inbound("198.51.100.23", "sender@corpus.example"), &bytes) {
            Ok(v) => *actions.entry(v.action).or_default() += 1,
            Err(e) => failures.push(format!("{}: {e}", p.display())),
        }
    }
    println!("{corpus}: {} messages, verdicts {actions:?}", paths.len());
    assert!(failures.is_empty(), "no verdict for:\n{}", failures.join("\n"));
    (paths.len(), actions)
}

#[test]
fn every_mail_parser_test_message_gets_a_verdict() {
    let (n, _) = run("mail-parser");
    assert_eq!(n, 107, "rfc 10 + malformed 23 + thirdparty 20 + legacy 54");
}

#[test]
fn every_cpython_email_test_message_gets_a_verdict() {
    let (n, _) = run("cpython-email");
    assert_eq!(n, 47);
}
