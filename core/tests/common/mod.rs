//! Helpers shared by the DKIM and ARC test tables.
#![allow(dead_code)]

use mailward_core::dns::Record;
use mailward_core::dns::zone::ZoneResolver;
use serde_yaml::{Mapping, Value};
use std::path::PathBuf;

/// The workspace's `tests/data` directory.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

/// One entry of Mail::DKIM's `FAKE_DNS.dat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeEntry {
    /// A TXT record.
    Txt(String),
    /// `NXDOMAIN`.
    NxDomain,
    /// `~~Query timed out~~`.
    Timeout,
    /// `~~SERVFAIL~~`.
    ServFail,
}

/// Parses `FAKE_DNS.dat`: `name value` per line, `#`/`;` comments. As in
/// Mail::DKIM's `t/verifier.t`, `~~text~~` is a DNS error and `NXDOMAIN`
/// an empty answer; a value written `""` is an empty TXT record.
pub fn fake_dns_entries(text: &str) -> Vec<(String, FakeEntry)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let (name, value) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        let value = value.trim();
        let entry = match value {
            "NXDOMAIN" => FakeEntry::NxDomain,
            "~~Query timed out~~" => FakeEntry::Timeout,
            "~~SERVFAIL~~" => FakeEntry::ServFail,
            v if v.starts_with("~~") => panic!("unknown FAKE_DNS error {v}"),
            "\"\"" => FakeEntry::Txt(String::new()),
            v => FakeEntry::Txt(v.to_string()),
        };
        out.push((name.to_ascii_lowercase(), entry));
    }
    out
}

/// Loads `FAKE_DNS.dat` into a zone.
pub fn fake_dns(text: &str) -> ZoneResolver {
    let mut zone = ZoneResolver::new();
    for (name, entry) in fake_dns_entries(text) {
        match entry {
            FakeEntry::Txt(v) => zone.add(&name, Record::Txt(v.into_bytes())),
            FakeEntry::NxDomain => {}
            FakeEntry::Timeout => zone.add_timeout(&name),
            FakeEntry::ServFail => zone.add_servfail(&name),
        }
    }
    zone
}

/// The same zone in the YAML shape `--dns-zone` reads.
pub fn fake_dns_yaml(text: &str) -> String {
    let mut map = Mapping::new();
    for (name, entry) in fake_dns_entries(text) {
        let item = match entry {
            FakeEntry::Txt(v) => {
                let mut m = Mapping::new();
                m.insert(Value::from("TXT"), Value::from(v));
                Value::Mapping(m)
            }
            FakeEntry::NxDomain => continue,
            FakeEntry::Timeout => Value::from("TIMEOUT"),
            FakeEntry::ServFail => Value::from("SERVFAIL"),
        };
        let slot = map
            .entry(Value::from(name))
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if let Value::Sequence(s) = slot {
            s.push(item);
        }
    }
    let body = serde_yaml::to_string(&Value::Mapping(map)).expect("zone serialises");
    format!(
        "# Generated from FAKE_DNS.dat by core/tests/dkim_corpus.rs (the test fails\n# if the two disagree). NXDOMAIN entries are simply absent.\n{body}"
    )
}

/// LF line ends to CRLF, as on the wire.
pub fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}
