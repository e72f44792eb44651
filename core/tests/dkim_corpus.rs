//! Mail::DKIM's verifier corpus (`tests/data/dkim-corpus/`): every message
//! must get its expected outcome.
//!
//! The expectation comes from the file name (Mail::DKIM's convention, see
//! `tests/data/dkim-corpus/README.md`) and, per signature, from
//! `expected.toml`; an entry whose result differs from what its name says
//! must carry a `deviation` with the RFC reasoning.

mod common;

use mailward_core::ResolverEnv;
use mailward_core::checks::dkim;
use mailward_core::dns::zone::ZoneResolver;
use mailward_core::message::Message;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The verification time: 2023-11-14. Every `t=` of the corpus is
/// earlier; ignore_7's `x=` (2007) has passed.
const NOW: u64 = 1_700_000_000;

#[derive(Debug, Deserialize)]
struct Expected {
    files: BTreeMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    /// One RFC 8601 result per DKIM-Signature, in header order.
    results: Vec<String>,
    /// Why the result differs from the file name's convention.
    deviation: Option<String>,
    /// What the file tests (from Mail::DKIM's t/verifier.t).
    #[allow(dead_code)]
    note: Option<String>,
}

fn dir() -> PathBuf {
    common::data_dir().join("dkim-corpus")
}

fn zone() -> ZoneResolver {
    let text = std::fs::read_to_string(dir().join("FAKE_DNS.dat")).unwrap();
    common::fake_dns(&text)
}

/// The message-level verdicts a file name allows (Mail::DKIM's naming).
fn convention(file: &str) -> &'static [&'static str] {
    if file.starts_with("dk_") || file.contains("_dk_") {
        // DomainKeys (RFC 4870, historic) is not DKIM: no DKIM signature.
        &["none"]
    } else if file.ends_with("_ed25519.txt") && file.starts_with("badkey") {
        // The Ed25519 negative cases: key problems and altered messages.
        &["permerror", "temperror", "fail"]
    } else if file.starts_with("badkey") {
        &["permerror", "temperror"]
    } else if file.starts_with("bad_") {
        &["fail"]
    } else if file.starts_with("ignore_") {
        &["neutral", "policy"]
    } else if ["good", "mine_", "multiple_", "no_body_"]
        .iter()
        .any(|p| file.starts_with(p))
    {
        &["pass"]
    } else {
        panic!("{file}: unknown corpus name prefix")
    }
}

/// A message's verdict: `pass` if any signature passed, else the first
/// signature's result, `none` without signatures.
fn message_verdict(results: &[String]) -> &str {
    if results.iter().any(|r| r == "pass") {
        "pass"
    } else {
        results.first().map_or("none", String::as_str)
    }
}

#[test]
fn fake_dns_zone_yaml_matches_fake_dns_dat() {
    let text = std::fs::read_to_string(dir().join("FAKE_DNS.dat")).unwrap();
    let generated = common::fake_dns_yaml(&text);
    let path = dir().join("fake-dns.zone.yml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if generated != committed {
        std::fs::write(path.with_extension("yml.failed"), &generated).unwrap();
        panic!(
            "{} is out of date; the generated zone is in fake-dns.zone.yml.failed",
            path.display()
        );
    }
    // And it loads into the same answers.
    let from_yaml = ZoneResolver::from_yaml(&committed).unwrap();
    let from_dat = zone();
    let mut n = 0;
    for (name, _) in common::fake_dns_entries(&text) {
        let q = mailward_core::dns::Query::new(&name, mailward_core::dns::RecordType::Txt);
        use mailward_core::dns::Resolver;
        assert_eq!(from_yaml.lookup(&q), from_dat.lookup(&q), "{name}");
        n += 1;
    }
    assert!(n > 20, "only {n} names");
}

#[test]
fn every_corpus_message_gets_its_expected_outcome() {
    let expected: Expected =
        toml::from_str(&std::fs::read_to_string(dir().join("expected.toml")).unwrap()).unwrap();
    let zone = zone();
    let mut files: Vec<String> = std::fs::read_dir(dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut by_verdict: BTreeMap<String, usize> = BTreeMap::new();
    let mut passed = 0;
    let mut deviations = 0;
    for file in &files {
        let raw = std::fs::read(dir().join("corpus").join(file)).unwrap();
        let message = Message::parse(&raw);
        let env = ResolverEnv::new(&zone, NOW, 50);
        let outcomes = dkim::verify(&env, &message, NOW);
        let got: Vec<String> = outcomes.iter().map(|o| o.result.as_str().to_string()).collect();
        let detail: Vec<String> = outcomes
            .iter()
            .map(|o| format!("{} d={} s={} ({})", o.result, o.domain, o.selector, o.reason))
            .collect();
        println!("{file}: {}", detail.join(" | "));
        let Some(entry) = expected.files.get(file) else {
            failures.push(format!("{file}: not in expected.toml (got {got:?})"));
            continue;
        };
        let verdict = message_verdict(&got).to_string();
        *by_verdict.entry(verdict.clone()).or_default() += 1;
        let mut ok = true;
        if got != entry.results {
            failures.push(format!(
                "{file}: expected {:?}, got {:?}: {}",
                entry.results,
                got,
                detail.join(" | ")
            ));
            ok = false;
        }
        let fits = convention(file).contains(&message_verdict(&entry.results));
        match (&entry.deviation, fits) {
            (None, false) => {
                failures.push(format!(
                    "{file}: expected.toml says {:?} but the name means {:?}; add a deviation with the RFC reason",
                    entry.results,
                    convention(file)
                ));
                ok = false;
            }
            (Some(_), true) => {
                failures.push(format!("{file}: has a deviation but agrees with its name"));
                ok = false;
            }
            (Some(_), false) => deviations += 1,
            (None, true) => {}
        }
        if ok {
            passed += 1;
        }
    }
    for name in expected.files.keys() {
        if !files.contains(name) {
            failures.push(format!("{name}: in expected.toml but not in the corpus"));
        }
    }
    println!(
        "DKIM corpus: {passed}/{} messages as expected ({deviations} by RFC deviation from the file name); verdicts {by_verdict:?}",
        files.len()
    );
    assert!(!files.is_empty(), "no corpus files found");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
