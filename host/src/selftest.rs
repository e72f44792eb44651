//! Pack self-tests: golden messages with expected actions, run against a
//! freshly loaded pack before it may serve traffic.
//!
//! A suite is TOML:
//!
//! ```toml
//! [[case]]
//! name = "credential lure from a spoofed sender is refused"
//! message = """From: IT <admin@something.com>
//! Subject: verify your password
//!
//! Reply with your username and password."""
//! ip = "203.0.113.66"               # envelope, all optional
//! helo = "mx.attacker.example"
//! mail-from = "admin@something.com"
//! rcpt = ["jane@something.com"]
//! # auth-user = "jane"              # makes the message outbound
//! now = 1795651200                  # the clock (default 2026-11-26T00:00:00Z)
//! zone = """                        # DNS answers (OpenSPF zonedata YAML);
//! something.com:                    # without it every lookup times out
//!   - TXT: v=spf1 -all
//! """
//! expect = ["reject", "quarantine"] # allowed actions (one or a list)
//! symbols = ["PHISH_CRED_LURE"]     # must fire
//! absent = ["SENDER_DOMAIN_NXDOMAIN"] # must not fire
//! ```
//!
//! The message is `message` (text), `message-base64`, or — only in an
//! operator's suite file — `message-file` (relative to the suite file).
//!
//! **How a pack ships its suite**: as a custom section named
//! `mailward-selftest` at the top level of the component, holding the
//! suite's TOML with inline messages ([`embed`], `mailward pack
//! embed-selftest`). It is part of the pack's bytes, so the pack's
//! signature covers it. The default pack's suite is `rules/selftest/`.
//! An operator may configure a suite of their own as well; the host runs
//! both, and refuses the pack if any case fails.

use crate::engine::Engine;
use crate::limits::Limits;
use crate::pack::LoadedPack;
use crate::sandbox::Sandbox;
use crate::state::Services;
use base64::Engine as _;
use mailward_core::dns::Resolver;
use mailward_core::types::{Action, Direction, Envelope};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the custom section that carries a pack's own suite.
pub const SECTION: &str = "mailward-selftest";

/// The clock of a case without `now`: 2026-11-26T00:00:00Z.
pub const DEFAULT_NOW: u64 = 1_795_651_200;

/// A self-test suite could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("self-test suite {origin}: {detail}")]
pub struct SuiteError {
    /// Where the suite came from (a file, or the pack's section).
    pub origin: String,
    /// What is wrong.
    pub detail: String,
}

/// Allowed actions: one, or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expect {
    /// Exactly this action.
    One(Action),
    /// Any of these.
    Any(Vec<Action>),
}

impl Expect {
    fn allows(&self, a: Action) -> bool {
        match self {
            Expect::One(x) => *x == a,
            Expect::Any(xs) => xs.contains(&a),
        }
    }
}

/// One golden message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// The message as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The message as base64 (for bytes that are not UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_base64: Option<String>,
    /// The message in a file (operator suites only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_file: Option<PathBuf>,
    /// SMTP client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// HELO name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// MAIL FROM.
    #[serde(default)]
    pub mail_from: String,
    /// RCPT TO.
    #[serde(default)]
    pub rcpt: Vec<String>,
    /// Authenticated user (outbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<String>,
    /// Clock, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<u64>,
    /// DNS answers, OpenSPF zonedata YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Allowed actions.
    pub expect: Expect,
    /// Symbols that must fire.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Symbols that must not fire.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// A list of golden messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The cases.
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

impl Suite {
    /// Parses a suite. `base` is the directory `message-file` paths are
    /// relative to; without it (a suite inside a pack) every message must
    /// be inline. Zones are checked and messages decoded here, so a broken
    /// suite is reported when it is read, not when it runs.
    pub fn parse(text: &str, base: Option<&Path>, origin: &str) -> Result<Suite, SuiteError> {
        let err = |detail: String| SuiteError {
            origin: origin.to_string(),
            detail,
        };
        let suite: Suite = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for case in &suite.cases {
            case.message_bytes(base)
                .map_err(|e| err(format!("case {:?}: {e}", case.name)))?;
            if let Some(z) = &case.zone {
                mailward_core::dns::zone::ZoneResolver::from_yaml(z)
                    .map_err(|e| err(format!("case {:?}: zone: {e}", case.name)))?;
            }
        }
        Ok(suite)
    }

    /// Reads an operator's suite file.
    pub fn read(path: &Path) -> Result<Suite, SuiteError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SuiteError {
            origin: origin.clone(),
            detail: e.to_string(),
        })?;
        let mut suite = Suite::parse(&text, Some(path.parent().unwrap_or(Path::new("."))), &origin)?;
        // Resolve files now, so the suite is self-contained.
        let base = path.parent().unwrap_or(Path::new("."));
        for case in &mut suite.cases {
            if case.message_file.is_some() {
                let bytes = case.message_bytes(Some(base)).map_err(|detail| SuiteError {
                    origin: origin.clone(),
                    detail,
                })?;
                case.message_file = None;
                match String::from_utf8(bytes) {
                    Ok(t) => case.message = Some(t),
                    Err(e) => {
                        case.message_base64 =
                            Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes()))
                    }
                }
            }
        }
        Ok(suite)
    }

    /// The suite a pack carries in its `mailward-selftest` section, if any.
    pub fn from_pack(pack: &[u8]) -> Result<Option<Suite>, SuiteError> {
        let origin = format!("in the pack's {SECTION} section");
        let mut found = None;
        for (name, data) in top_level_custom_sections(pack).map_err(|detail| SuiteError {
            origin: origin.clone(),
            detail,
        })? {
            if name == SECTION {
                found = Some(data);
            }
        }
        let Some(data) = found else { return Ok(None) };
        let text = std::str::from_utf8(data).map_err(|_| SuiteError {
            origin: origin.clone(),
            detail: "not UTF-8".into(),
        })?;
        Suite::parse(text, None, &origin).map(Some)
    }

    /// Number of cases.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// True when there are no cases.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// The suite as TOML (inline messages only).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

impl Case {
    /// The message bytes.
    pub fn message_bytes(&self, base: Option<&Path>) -> Result<Vec<u8>, String> {
        match (&self.message, &self.message_base64, &self.message_file) {
            (Some(t), None, None) => Ok(t.as_bytes().to_vec()),
            (None, Some(b), None) => base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|e| format!("message-base64: {e}")),
            (None, None, Some(f)) => match base {
                Some(base) => {
                    std::fs::read(base.join(f)).map_err(|e| format!("{}: {e}", base.join(f).display()))
                }
                None => {
                    Err("a suite inside a pack must inline its messages (message or message-base64)".into())
                }
            },
            _ => Err("give exactly one of message, message-base64, message-file".into()),
        }
    }

    fn envelope(&self) -> Envelope {
        Envelope {
            client_ip: self.ip,
            helo: self.helo.clone(),
            mail_from: self.mail_from.clone(),
            rcpt_to: self.rcpt.clone(),
            auth_user: self.auth_user.clone(),
            direction: if self.auth_user.is_some() {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            queue_id: Some(format!("selftest: {}", self.name)),
        }
    }
}

/// The outcome of one suite run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Cases run.
    pub ran: usize,
    /// Failed cases: (name, why).
    pub failures: Vec<(String, String)>,
}

impl Report {
    /// True when every case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// One line per failure.
    pub fn summary(&self) -> String {
        let mut s = format!("{} of {} cases failed", self.failures.len(), self.ran);
        for (name, why) in &self.failures {
            s.push_str(&format!("; {name:?}: {why}"));
        }
        s
    }
}

/// Runs `suite` against `pack`, each case in a fresh sandbox instance with
/// the case's DNS and clock and the deployment's limits.
pub fn run(engine: &Arc<Engine>, pack: &Arc<LoadedPack>, limits: &Arc<Limits>, suite: &Suite) -> Report {
    let mut report = Report::default();
    for case in &suite.cases {
        report.ran += 1;
        if let Err(why) = run_case(engine, pack, limits, case) {
            report.failures.push((case.name.clone(), why));
        }
    }
    report
}

fn run_case(
    engine: &Arc<Engine>,
    pack: &Arc<LoadedPack>,
    limits: &Arc<Limits>,
    case: &Case,
) -> Result<(), String> {
    let message = case.message_bytes(None)?;
    let resolver: Arc<dyn Resolver> = match &case.zone {
        Some(z) => {
            Arc::new(mailward_core::dns::zone::ZoneResolver::from_yaml(z).map_err(|e| format!("zone: {e}"))?)
        }
        None => Arc::new(mailward_core::dns::Offline),
    };
    // A fresh in-memory state store per case: a self-test never touches
    // the deployment's real state (counters, restrictions).
    let state = crate::store::EmbeddedStore::in_memory().map_err(|e| format!("state store: {e}"))?;
    let services = Services::new(
        resolver,
        Arc::new(crate::clock::ManualClock::new(case.now.unwrap_or(DEFAULT_NOW))),
        Arc::new(state),
    );
    let sandbox = Sandbox::new(engine.clone(), pack.clone(), services, limits.clone());
    let v = sandbox
        .check(&case.envelope(), &message)
        .map_err(|e| format!("the sandbox failed: {e}"))?;
    let mut problems = Vec::new();
    if !case.expect.allows(v.action) {
        problems.push(format!(
            "action {} (expected {})",
            v.action,
            match &case.expect {
                Expect::One(a) => a.to_string(),
                Expect::Any(xs) => xs.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" or "),
            }
        ));
    }
    for s in &case.symbols {
        if !v.has(s) {
            problems.push(format!("{s} did not fire"));
        }
    }
    for s in &case.absent {
        if v.has(s) {
            problems.push(format!("{s} fired"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} (score {:.2})", problems.join(", "), v.score))
    }
}

/// The top-level custom sections of a component or module: (name, data).
/// Sections of nested modules and components are not included.
pub fn top_level_custom_sections(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, String> {
    let mut out = Vec::new();
    for (id, body) in top_level_sections(bytes)? {
        if id == 0 {
            let (len, n) = leb_u32(body).ok_or("bad custom section name")?;
            let name = body
                .get(n..n + len as usize)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or("bad custom section name")?;
            out.push((name, &body[n + len as usize..]));
        }
    }
    Ok(out)
}

fn leb_u32(b: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, byte) in b.iter().enumerate().take(5) {
        v |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn leb_encode(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// (section id, section body) of each top-level section.
fn top_level_sections(bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly binary".into());
    }
    let mut out = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        let (len, n) = leb_u32(&bytes[at + 1..]).ok_or("bad section size")?;
        let start = at + 1 + n;
        let end = start
            .checked_add(len as usize)
            .filter(|&e| e <= bytes.len())
            .ok_or("section runs past the end")?;
        out.push((id, &bytes[start..end]));
        at = end;
    }
    Ok(out)
}

/// Embeds `suite` in `pack` as its `mailward-selftest` section, replacing
/// any suite it had. Messages must be inline (resolve files with
/// [`Suite::read`] first). The pack's bytes change, so sign it after this.
pub fn embed(pack: &[u8], suite: &Suite) -> Result<Vec<u8>, String> {
    let text = suite.to_toml();
    Suite::parse(&text, None, "to embed").map_err(|e| e.to_string())?;
    let mut out = pack[..8.min(pack.len())].to_vec();
    let mut at = 8;
    for (id, body) in top_level_sections(pack)? {
        let (len, n) = leb_u32(&pack[at + 1..]).ok_or("bad section size")?;
        let whole = &pack[at..at + 1 + n + len as usize];
        at += whole.len();
        let ours = id == 0
            && leb_u32(body).is_some_and(|(l, k)| body.get(k..k + l as usize) == Some(SECTION.as_bytes()));
        if !ours {
            out.extend_from_slice(whole);
        }
    }
    let mut body = Vec::new();
    leb_encode(SECTION.len() as u32, &mut body);
    body.extend_from_slice(SECTION.as_bytes());
    body.extend_from_slice(text.as_bytes());
    out.push(0);
    leb_encode(
        u32::try_from(body.len()).map_err(|_| "suite too large")?,
        &mut out,
    );
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = r#"
[[case]]
name = "ham"
message = "From: a@b.example\n\nhello\n"
expect = "accept"

[[case]]
name = "phish"
message-base64 = "RnJvbTogeEB5LmV4YW1wbGUKCnBhc3N3b3JkCg=="
ip = "192.0.2.1"
rcpt = ["u@example.com"]
zone = "example.com:\n  - MX: [10, mx.example.com]\n"
expect = ["reject", "quarantine"]
symbols = ["X"]
"#;

    #[test]
    fn suites_parse_and_bad_ones_say_why() {
        let s = Suite::parse(SUITE, None, "test").unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.cases[1].expect.allows(Action::Quarantine));
        assert!(!s.cases[1].expect.allows(Action::Accept));
        assert_eq!(
            s.cases[1].message_bytes(None).unwrap(),
            b"From: x@y.example\n\npassword\n"
        );
        let file_in_pack = "[[case]]\nname = \"f\"\nmessage-file = \"m.eml\"\nexpect = \"accept\"\n";
        let e = Suite::parse(file_in_pack, None, "pack").unwrap_err();
        assert!(e.detail.contains("inline"), "{e}");
        let bad_zone =
            "[[case]]\nname = \"z\"\nmessage = \"x\"\nexpect = \"accept\"\nzone = \"a: [{MX: nonsense}]\"\n";
        assert!(Suite::parse(bad_zone, None, "t").is_err());
        assert!(
            Suite::parse(
                "[[case]]\nname = \"n\"\nmessage = \"x\"\nexpect = \"deliver\"\n",
                None,
                "t"
            )
            .is_err()
        );
        assert!(
            Suite::parse(
                "[[case]]\nname = \"n\"\nmessage = \"x\"\nexpect = \"accept\"\ntypo = 1\n",
                None,
                "t"
            )
            .is_err()
        );
    }

    #[test]
    fn embed_replaces_and_reads_back() {
        // The smallest component: header only.
        let empty = b"\0asm\x0d\0\x01\0".to_vec();
        assert_eq!(Suite::from_pack(&empty).unwrap(), None);
        let s = Suite::parse(SUITE, None, "test").unwrap();
        let once = embed(&empty, &s).unwrap();
        assert_eq!(Suite::from_pack(&once).unwrap().unwrap(), s);
        let mut fewer = s.clone();
        fewer.cases.truncate(1);
        let twice = embed(&once, &fewer).unwrap();
        assert_eq!(Suite::from_pack(&twice).unwrap().unwrap(), fewer);
        assert_eq!(
            top_level_custom_sections(&twice).unwrap().len(),
            1,
            "replaced, not added"
        );
        assert!(
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&twice)
                .is_ok()
        );
    }
}
