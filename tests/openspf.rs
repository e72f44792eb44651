//! The OpenSPF conformance suites (`tests/data/openspf/`, BSD licence
//! beside them) run through the real rule pack in the real host.
//!
//! For every case the scenario's `zonedata` answers the guest's DNS
//! imports (`ZoneResolver` duplicates `SPF` entries as `TXT` and times out
//! `TIMEOUT` names, like the suite's drivers), the envelope carries the
//! case's `host`, `helo` and `mailfrom`, and the SPF result is read back
//! from the verdict: the `SPF_*` symbol, checked against the `spf=`
//! entry of the Authentication-Results header. `explanation` expectations
//! are checked against the `explanation:` option of `SPF_FAIL` (`DEFAULT`
//! means no `exp=` text). The native build of the same core must give the
//! same verdict.
//!
//! rfc7208-tests.yml must pass completely. rfc4408-tests.yml predates RFC
//! 7208; its cases whose expectation RFC 7208 changed are listed in
//! [`RFC4408_CHANGED_BY_RFC7208`] with the reason, and must fail exactly
//! as explained (a listed case that passes is an error too, so the list
//! cannot go stale).

use mailward_core::dns::{Answer, Query, Resolver};
use mailward_core::{Envelope, ResolverEnv, Settings, Verdict};
use mailward_host::{Limits, ZoneResolver};
use mailward_tests::{NOW, data, sandbox_with};
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// A resolver whose zone the test swaps between scenarios, so one sandbox
/// (one pack load) serves a whole suite.
#[derive(Debug, Default)]
struct SwapZone(RwLock<Arc<ZoneResolver>>);

impl SwapZone {
    fn set(&self, zone: ZoneResolver) {
        *self.0.write().unwrap() = Arc::new(zone);
    }
}

impl Resolver for SwapZone {
    fn lookup(&self, q: &Query) -> Answer {
        let zone = self.0.read().unwrap().clone();
        zone.lookup(q)
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Case {
    helo: String,
    host: String,
    mailfrom: String,
    result: OneOrMany,
    explanation: Option<String>,
    spec: Option<Value>,
}

/// rfc4408-tests.yml cases whose expectation RFC 7208 narrowed: RFC 4408
/// left several results open, RFC 7208 (and rfc7208-tests.yml) requires
/// one. Both suites accept our result; the RFC 4408 run also checks that
/// it is the RFC 7208 one. (case, RFC 7208's result, why.)
const RFC7208_NARROWED: &[(&str, &str, &str)] = &[
    (
        "cidr6-0-ip4",
        "neutral",
        "§5.6: an IPv4 client is matched by ip4 only; ip6:::1.1.1.1/0 does not match it",
    ),
    (
        "cidr6-ip4",
        "neutral",
        "§5/9.2: an IPv4-mapped IPv6 client is an IPv4 client; ip6 does not match it",
    ),
    (
        "exists-dnserr",
        "temperror",
        "§5: a DNS error while evaluating a mechanism ends check_host() with temperror",
    ),
    (
        "multispf2",
        "pass",
        "§3.1: the SPF RR type is gone; the single TXT record decides",
    ),
    (
        "multitxt1",
        "permerror",
        "§4.5: two v=spf1 TXT records are a permerror",
    ),
    (
        "mx-limit",
        "permerror",
        "§4.6.4: an mx target with more than 10 MX records is a permerror",
    ),
    (
        "nospftxttimeout",
        "temperror",
        "§4.4: only TXT is asked for, and it times out",
    ),
    (
        "spfonly",
        "none",
        "§4.4: only TXT is asked for, and there is none",
    ),
    ("spfoverride", "fail", "§3.1: only the TXT record counts"),
    (
        "spftimeout",
        "fail",
        "§4.4: only TXT is asked for; the SPF-type timeout is never seen",
    ),
    ("txtonly", "fail", "§4.4: the TXT record is the record"),
    (
        "txttimeout",
        "temperror",
        "§4.4: only TXT is asked for, and it times out",
    ),
];

struct Outcome {
    result: String,
    explanation: Option<String>,
}

fn read_outcome(v: &Verdict) -> Outcome {
    let spf: Vec<&mailward_core::Symbol> = v
        .symbols
        .iter()
        .filter(|s| s.name.starts_with("SPF_") && !s.name.starts_with("SPF_HELO_"))
        .collect();
    assert_eq!(spf.len(), 1, "exactly one SPF_* symbol: {:?}", v.symbols);
    let result = spf[0].name["SPF_".len()..].to_ascii_lowercase();
    let explanation = spf[0]
        .options
        .iter()
        .find_map(|o| o.strip_prefix("explanation: ").map(str::to_string));
    // The Authentication-Results header says the same.
    let ar = v
        .header("Authentication-Results")
        .expect("an Authentication-Results header");
    let spf_entry = ar
        .split("; ")
        .find(|e| e.starts_with("spf=") && e.contains(" smtp.mailfrom="))
        .unwrap_or_else(|| panic!("no spf= smtp.mailfrom entry in {ar}"));
    let ar_result = spf_entry["spf=".len()..].split(' ').next().unwrap();
    assert_eq!(
        ar_result, result,
        "symbol and Authentication-Results disagree: {ar}"
    );
    Outcome { result, explanation }
}

struct Report {
    total: usize,
    passed: usize,
    failures: BTreeMap<String, String>,
    results: BTreeMap<String, String>,
}

fn run_suite(file: &str) -> Report {
    let path = data().join("openspf").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let zone = Arc::new(SwapZone::default());
    let sandbox = sandbox_with(zone.clone(), &Settings::default(), Limits::default());
    let mut native = mailward_rules::default_filter().unwrap();
    native.configure(&Settings::default()).unwrap();
    let mut report = Report {
        total: 0,
        passed: 0,
        failures: BTreeMap::new(),
        results: BTreeMap::new(),
    };
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc = Value::deserialize(doc).unwrap();
        let mut z = ZoneResolver::new();
        z.merge_yaml_value(&doc).unwrap();
        zone.set(z.clone());
        let tests: BTreeMap<String, Case> = serde_yaml::from_value(doc["tests"].clone()).unwrap();
        for (name, case) in tests {
            report.total += 1;
            let from = if case.mailfrom.is_empty() {
                format!("postmaster@{}", case.helo)
            } else {
                case.mailfrom.clone()
            };
            let message = format!(
                "From: <{from}>\r\nTo: <postmaster@receiver.example>\r\nSubject: {name}\r\nMessage-ID: <{name}@openspf.test>\r\n\r\nSPF test {name}\r\n"
            );
            let envelope = Envelope {
                client_ip: Some(case.host.parse().unwrap_or_else(|e| panic!("{name}: host: {e}"))),
                helo: Some(case.helo.clone()),
                mail_from: case.mailfrom.clone(),
                rcpt_to: vec!["postmaster@receiver.example".into()],
                ..Envelope::default()
            };
            let wasm = sandbox
                .check(&envelope, message.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: sandbox failed: {e}"));
            let renv = ResolverEnv::new(&z, NOW, Limits::default().dns_queries);
            let nat = native.check(&renv, &envelope, message.as_bytes());
            assert_eq!(wasm, nat, "{file} {name}: sandboxed and native verdicts differ");
            let got = read_outcome(&wasm);
            report.results.insert(name.clone(), got.result.clone());
            let expected = case.result.list();
            let mut wrong = Vec::new();
            if !expected.contains(&got.result) {
                wrong.push(format!(
                    "result {} (expected {})",
                    got.result,
                    expected.join(" or ")
                ));
            }
            if let Some(exp) = &case.explanation
                && got.result == "fail"
            {
                let want = (exp != "DEFAULT").then_some(exp.as_str());
                if got.explanation.as_deref() != want {
                    wrong.push(format!("explanation {:?} (expected {:?})", got.explanation, exp));
                }
            }
            if wrong.is_empty() {
                report.passed += 1;
            } else {
                report.failures.insert(
                    name.clone(),
                    format!("{}; spec {:?}", wrong.join("; "), case.spec),
                );
            }
        }
    }
    println!("{file}: {}/{} cases pass", report.passed, report.total);
    for (n, why) in &report.failures {
        println!("  {n}: {why}");
    }
    report
}

#[test]
fn rfc7208_suite_passes_completely() {
    let r = run_suite("rfc7208-tests.yml");
    assert_eq!(r.total, 203, "the suite has 203 cases");
    assert!(
        r.failures.is_empty(),
        "{} of {} rfc7208 cases fail:\n{:#?}",
        r.failures.len(),
        r.total,
        r.failures
    );
}

#[test]
fn rfc4408_suite_passes_with_the_rfc7208_choices() {
    let r = run_suite("rfc4408-tests.yml");
    assert_eq!(r.total, 191, "the suite has 191 cases");
    assert!(
        r.failures.is_empty(),
        "{} of {} rfc4408 cases fail:\n{:#?}",
        r.failures.len(),
        r.total,
        r.failures
    );
    for (name, result, why) in RFC7208_NARROWED {
        assert_eq!(
            r.results.get(*name).map(String::as_str),
            Some(*result),
            "{name}: RFC 7208 requires {result} ({why})"
        );
    }
}
