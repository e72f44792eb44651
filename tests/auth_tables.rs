//! Table tests of the authentication checks on the native core, in the
//! style of mail-auth's YAML tables (`tests/data/auth/*.yml`):
//!
//! * `pra.yml`: the RFC 4407 PRA algorithm over header sections.
//! * `senderid.yml`: Sender ID record selection and evaluation over a zone.
//! * `dmarc.yml`: DMARC and the composite verdict over a zone, with SPF
//!   from the zone and DKIM / ARC outcomes given as values, through
//!   `checks::auth::run` (the orchestration `Filter::check` uses).
//!
//! Every runner asserts that it ran cases and reports all failures at once.

use mailward_core::checks::auth::{
    self, ArcChain, ArcHop, ArcOutcome, AuthResults, DkimOutcome, DkimResult, SenderIdRecord, SpfResult,
};
use mailward_core::checks::senderid::{self, pra};
use mailward_core::checks::{Context, Findings, spf};
use mailward_core::config::Config;
use mailward_core::message::Message;
use mailward_core::{Envelope, ResolverEnv, Settings};
use mailward_host::ZoneResolver;
use mailward_tests::{NOW, data};
use serde::Deserialize;
use serde_yaml::Value;

fn load(name: &str) -> String {
    std::fs::read_to_string(data().join("auth").join(name)).unwrap()
}

fn crlf(headers: &str) -> String {
    headers.lines().map(|l| format!("{l}\r\n")).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PraCase {
    name: String,
    headers: String,
    pra: Option<String>,
    field: Option<String>,
    error: Option<String>,
}

#[test]
fn pra_table() {
    let cases: Vec<PraCase> = serde_yaml::from_str(&load("pra.yml")).unwrap();
    assert!(cases.len() > 10, "ran {} cases", cases.len());
    let mut failed = Vec::new();
    for c in &cases {
        let raw = format!("{}\r\nbody\r\n", crlf(&c.headers));
        let msg = Message::parse(raw.as_bytes());
        let got = match pra::find(&msg) {
            Ok(p) => (Some(p.address), Some(p.field.to_string()), None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        let want = (c.pra.clone(), c.field.clone(), c.error.clone());
        if got != want {
            failed.push(format!("{}: got {got:?}, expected {want:?}", c.name));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SenderIdCase {
    name: String,
    from: Option<String>,
    headers: Option<String>,
    ip: String,
    result: String,
    record: String,
}

#[derive(Deserialize)]
struct SenderIdTable {
    zone: Value,
    cases: Vec<SenderIdCase>,
}

#[test]
fn senderid_table() {
    let table: SenderIdTable = serde_yaml::from_str(&load("senderid.yml")).unwrap();
    let mut zone = ZoneResolver::new();
    zone.merge_yaml_value(&table.zone).unwrap();
    assert!(table.cases.len() > 10, "ran {} cases", table.cases.len());
    let mut failed = Vec::new();
    for c in &table.cases {
        let headers = match (&c.headers, &c.from) {
            (Some(h), _) => h.clone(),
            (None, Some(f)) => format!("From: {f}\r\n"),
            (None, None) => panic!("{}: needs from or headers", c.name),
        };
        let raw = format!("{headers}Subject: t\r\n\r\nbody\r\n");
        let msg = Message::parse(raw.as_bytes());
        let env = ResolverEnv::new(&zone, NOW, 100);
        let req = spf::Request {
            ip: Some(c.ip.parse().unwrap()),
            helo: Some("mx.client.example"),
            receiver: "mx.receiver.example",
            now: NOW,
        };
        let out = senderid::check(&env, &msg, &req);
        let record = match out.record {
            SenderIdRecord::Spf2Pra => "spf2-pra",
            SenderIdRecord::Spf1Fallback => "spf1-fallback",
            SenderIdRecord::NoRecord => "none",
        };
        if out.result.as_str() != c.result || record != c.record {
            failed.push(format!(
                "{}: got {} with {record} ({}), expected {} with {}",
                c.name, out.result, out.reason, c.result, c.record
            ));
        }
        if c.from.is_some() {
            assert_eq!(out.pra.as_deref(), c.from.as_deref(), "{}", c.name);
            assert_eq!(out.pra_field.as_deref(), Some("From"), "{}", c.name);
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DkimSpec {
    result: String,
    domain: String,
    #[serde(default)]
    weak: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HopSpec {
    sealer: String,
    results: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArcSpec {
    chain: String,
    hops: Vec<HopSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DmarcExpect {
    dmarc: Option<String>,
    published: Option<String>,
    applied: Option<String>,
    spf_aligned: Option<bool>,
    dkim_aligned: Option<bool>,
    compauth: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DmarcCase {
    name: String,
    from: Option<String>,
    headers: Option<String>,
    message_id: Option<String>,
    ip: String,
    mail_from: String,
    #[serde(default)]
    dkim: Vec<DkimSpec>,
    arc: Option<ArcSpec>,
    #[serde(default)]
    protected: Vec<String>,
    #[serde(default)]
    trusted_sealers: Vec<String>,
    expect: DmarcExpect,
}

#[derive(Deserialize)]
struct DmarcTable {
    zone: Value,
    cases: Vec<DmarcCase>,
}

fn dkim_result(s: &str) -> DkimResult {
    match s {
        "pass" => DkimResult::Pass,
        "fail" => DkimResult::Fail,
        "temperror" => DkimResult::TempError,
        "permerror" => DkimResult::PermError,
        "neutral" => DkimResult::Neutral,
        "policy" => DkimResult::Policy,
        _ => DkimResult::None,
    }
}

fn check(name: &str, what: &str, got: String, want: &Option<String>, failed: &mut Vec<String>) {
    if let Some(w) = want
        && &got != w
    {
        failed.push(format!("{name}: {what} is {got}, expected {w}"));
    }
}

#[test]
fn dmarc_and_compauth_table() {
    let table: DmarcTable = serde_yaml::from_str(&load("dmarc.yml")).unwrap();
    let mut zone = ZoneResolver::new();
    zone.merge_yaml_value(&table.zone).unwrap();
    let filter = mailward_rules::default_filter().unwrap();
    let pack = filter.pack();
    assert!(table.cases.len() > 20, "ran {} cases", table.cases.len());
    let mut failed = Vec::new();
    for c in &table.cases {
        let settings = Settings {
            protected_domains: c.protected.clone(),
            trusted_arc_sealers: c.trusted_sealers.clone(),
            authserv_id: "mx.receiver.example".into(),
            ..Settings::default()
        };
        let config = Config::new(pack, &settings).unwrap();
        let headers = match (&c.headers, &c.from) {
            (Some(h), _) => h.clone(),
            (None, Some(f)) => format!("From: {f}\r\n"),
            (None, None) => String::new(),
        };
        let mid = c
            .message_id
            .clone()
            .unwrap_or_else(|| format!("<{}@tables.test>", c.name));
        let raw = format!("{headers}Subject: t\r\nMessage-ID: {mid}\r\n\r\nbody\r\n");
        let msg = Message::parse(raw.as_bytes());
        let envelope = Envelope {
            client_ip: Some(c.ip.parse().unwrap()),
            helo: Some("mx.client.example".into()),
            mail_from: c.mail_from.clone(),
            ..Envelope::default()
        };
        let env = ResolverEnv::new(&zone, NOW, 100);
        let cx = Context {
            env: &env,
            envelope: &envelope,
            message: &msg,
            pack,
            config: &config,
            links: &[],
            pages: &[],
        };
        let dkim: Vec<DkimOutcome> = c
            .dkim
            .iter()
            .map(|d| DkimOutcome {
                result: dkim_result(&d.result),
                domain: d.domain.clone(),
                selector: "s1".into(),
                algorithm: if d.weak { "rsa-sha1" } else { "rsa-sha256" }.into(),
                header_b: "AbCdEfGh".into(),
                weak: d.weak,
                testing: false,
                reason: String::new(),
            })
            .collect();
        let arc = match &c.arc {
            Some(a) => ArcOutcome {
                chain: match a.chain.as_str() {
                    "pass" => ArcChain::Pass,
                    "fail" => ArcChain::Fail,
                    _ => ArcChain::None,
                },
                hops: a
                    .hops
                    .iter()
                    .enumerate()
                    .map(|(i, h)| ArcHop {
                        instance: u32::try_from(i + 1).unwrap(),
                        sealer: h.sealer.clone(),
                        results: h.results.clone(),
                    })
                    .collect(),
                reason: String::new(),
            },
            None => ArcOutcome {
                chain: ArcChain::None,
                hops: Vec::new(),
                reason: String::new(),
            },
        };
        let mut findings = Findings::new(pack.symbols.len());
        let r: AuthResults = auth::run(&cx, &mut findings, dkim, arc);
        let e = &c.expect;
        let n = &c.name;
        check(n, "dmarc", r.dmarc.result.as_str().into(), &e.dmarc, &mut failed);
        check(
            n,
            "published policy",
            r.dmarc.published.map(|p| p.as_str()).unwrap_or("-").into(),
            &e.published,
            &mut failed,
        );
        check(
            n,
            "applied policy",
            r.dmarc.applied.as_str().into(),
            &e.applied,
            &mut failed,
        );
        check(
            n,
            "spf alignment",
            r.dmarc.spf_aligned.to_string(),
            &e.spf_aligned.map(|b| b.to_string()),
            &mut failed,
        );
        check(
            n,
            "dkim alignment",
            r.dmarc.dkim_aligned.to_string(),
            &e.dkim_aligned.map(|b| b.to_string()),
            &mut failed,
        );
        check(
            n,
            "compauth",
            r.compauth.result.as_str().into(),
            &e.compauth,
            &mut failed,
        );
        check(
            n,
            "compauth reason",
            r.compauth.reason.as_str().into(),
            &e.reason,
            &mut failed,
        );
        for s in &e.symbols {
            if !findings.has(pack, s) {
                failed.push(format!("{n}: {s} did not fire ({:?})", r.dmarc.reason));
            }
        }
        for s in &e.absent {
            if findings.has(pack, s) {
                failed.push(format!("{n}: {s} fired"));
            }
        }
        // Exactly one symbol per protocol and identity.
        let fired: Vec<&str> = findings
            .iter()
            .map(|(i, _)| pack.symbols[i].name.as_str())
            .collect();
        for prefix in ["DMARC_", "SENDERID_"] {
            let count = fired.iter().filter(|s| s.starts_with(prefix)).count();
            if count != 1 {
                failed.push(format!("{n}: {count} {prefix}* symbols: {fired:?}"));
            }
        }
        if fired.iter().filter(|s| s.starts_with("COMPAUTH_")).count() > 1 {
            failed.push(format!("{n}: several COMPAUTH_* symbols: {fired:?}"));
        }
        assert_ne!(
            r.spf_mailfrom.result,
            SpfResult::TempError,
            "{n}: the zone answers SPF"
        );
    }
    assert!(
        failed.is_empty(),
        "{} problems:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
