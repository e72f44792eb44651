//! An in-memory DNS zone in the OpenSPF test-suite `zonedata` shape.
//!
//! ```yaml
//! example.com:
//!   - TXT: v=spf1 ip4:192.0.2.0/24 -all
//!   - MX: [10, mx.example.com]
//!   - A: 192.0.2.1
//! mx.example.com:
//!   - A: 192.0.2.10
//! slow.example.com:
//!   - TIMEOUT
//! ```
//!
//! Semantics follow the suite's drivers: `SPF` entries double as `TXT`
//! unless the name has `TXT` entries of its own (`TXT: NONE` means none);
//! a name with `TIMEOUT` times out for every type it has no records of;
//! `SERVFAIL` does the same with a server failure; `CNAME` is followed;
//! names are case-insensitive and a trailing dot is ignored. A file may
//! also hold the whole suite document's `zonedata:` mapping.

use super::{Answer, DnsError, Query, Record, RecordType, Resolver};
use serde_yaml::Value;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a zone could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// The text is not YAML.
    #[error("zone is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// An entry has an unknown shape or type.
    #[error("zone entry for {name}: {message}")]
    Entry {
        /// Owner name of the bad entry.
        name: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Default, Clone)]
struct Node {
    records: Vec<Record>,
    spf: Vec<Vec<u8>>,
    has_txt: bool,
    cname: Option<String>,
    timeout: bool,
    servfail: bool,
}

/// An in-memory zone that answers like a real server would.
#[derive(Debug, Default, Clone)]
pub struct ZoneResolver {
    nodes: HashMap<String, Node>,
}

fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn txt_bytes(name: &str, v: &Value) -> Result<Vec<u8>, ZoneError> {
    match v {
        Value::Sequence(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend_from_slice(
                    scalar(p)
                        .ok_or_else(|| entry_err(name, "TXT part is not a string"))?
                        .as_bytes(),
                );
            }
            Ok(out)
        }
        other => Ok(scalar(other)
            .ok_or_else(|| entry_err(name, "TXT value is not a string"))?
            .into_bytes()),
    }
}

fn entry_err(name: &str, message: impl Into<String>) -> ZoneError {
    ZoneError::Entry {
        name: name.to_string(),
        message: message.into(),
    }
}

impl ZoneResolver {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a zone from YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, ZoneError> {
        let doc: Value = serde_yaml::from_str(text)?;
        let mut zone = ZoneResolver::new();
        zone.merge_yaml_value(&doc)?;
        Ok(zone)
    }

    /// Adds the names of a parsed YAML mapping (or of its `zonedata` key).
    pub fn merge_yaml_value(&mut self, doc: &Value) -> Result<(), ZoneError> {
        let map = match doc.get("zonedata") {
            Some(z) => z,
            None => doc,
        };
        let Value::Mapping(map) = map else {
            if map.is_null() {
                return Ok(());
            }
            return Err(entry_err("(top)", "zone must be a mapping of names"));
        };
        for (name, entries) in map {
            let name = scalar(name).ok_or_else(|| entry_err("(top)", "name is not a string"))?;
            let entries = match entries {
                Value::Sequence(s) => s.clone(),
                Value::Null => Vec::new(),
                other => vec![other.clone()],
            };
            for entry in &entries {
                self.add_entry(&name, entry)?;
            }
            self.nodes.entry(key(&name)).or_default();
        }
        Ok(())
    }

    fn add_entry(&mut self, name: &str, entry: &Value) -> Result<(), ZoneError> {
        let node = self.nodes.entry(key(name)).or_default();
        match entry {
            Value::String(s) if s == "TIMEOUT" => node.timeout = true,
            Value::String(s) if s == "SERVFAIL" => node.servfail = true,
            Value::Mapping(m) => {
                for (t, v) in m {
                    let t = scalar(t).unwrap_or_default().to_ascii_uppercase();
                    match t.as_str() {
                        "A" => {
                            let s = scalar(v).ok_or_else(|| entry_err(name, "A value"))?;
                            let ip: Ipv4Addr = s
                                .parse()
                                .map_err(|_| entry_err(name, format!("bad A value {s}")))?;
                            node.records.push(Record::A(ip));
                        }
                        "AAAA" => {
                            let s = scalar(v).ok_or_else(|| entry_err(name, "AAAA value"))?;
                            let ip: Ipv6Addr = s
                                .parse()
                                .map_err(|_| entry_err(name, format!("bad AAAA value {s}")))?;
                            node.records.push(Record::Aaaa(ip));
                        }
                        "TXT" => {
                            node.has_txt = true;
                            if scalar(v).as_deref() != Some("NONE") {
                                let txt = txt_bytes(name, v)?;
                                node.records.push(Record::Txt(txt));
                            }
                        }
                        "SPF" => {
                            if scalar(v).as_deref() != Some("NONE") {
                                node.spf.push(txt_bytes(name, v)?);
                            }
                        }
                        "MX" => {
                            let Value::Sequence(pair) = v else {
                                return Err(entry_err(name, "MX must be [preference, host]"));
                            };
                            let pref = pair
                                .first()
                                .and_then(Value::as_u64)
                                .and_then(|p| u16::try_from(p).ok())
                                .ok_or_else(|| entry_err(name, "MX preference"))?;
                            let host = pair
                                .get(1)
                                .and_then(scalar)
                                .ok_or_else(|| entry_err(name, "MX host"))?;
                            node.records.push(Record::Mx {
                                preference: pref,
                                exchange: host.strip_suffix('.').unwrap_or(&host).to_string(),
                            });
                        }
                        "PTR" => {
                            let host = scalar(v).ok_or_else(|| entry_err(name, "PTR value"))?;
                            node.records
                                .push(Record::Ptr(host.strip_suffix('.').unwrap_or(&host).into()));
                        }
                        "CNAME" => {
                            let host = scalar(v).ok_or_else(|| entry_err(name, "CNAME value"))?;
                            node.cname = Some(key(&host));
                        }
                        other => {
                            return Err(entry_err(name, format!("unknown record type {other}")));
                        }
                    }
                }
            }
            Value::String(other) => {
                return Err(entry_err(name, format!("unknown entry {other}")));
            }
            _ => return Err(entry_err(name, "entry must be a mapping or TIMEOUT")),
        }
        Ok(())
    }

    /// Adds one record.
    pub fn add(&mut self, name: &str, record: Record) {
        let node = self.nodes.entry(key(name)).or_default();
        if matches!(record, Record::Txt(_)) {
            node.has_txt = true;
        }
        node.records.push(record);
    }

    /// Makes every query for `name` without matching records time out.
    pub fn add_timeout(&mut self, name: &str) {
        self.nodes.entry(key(name)).or_default().timeout = true;
    }

    /// Makes every query for `name` without matching records fail.
    pub fn add_servfail(&mut self, name: &str) {
        self.nodes.entry(key(name)).or_default().servfail = true;
    }

    /// Number of names in the zone.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the zone holds no names.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn answer(&self, name: &str, rtype: RecordType, depth: u8) -> Answer {
        let Some(node) = self.nodes.get(name) else {
            return Err(DnsError::NxDomain);
        };
        let mut out: Vec<Record> = node
            .records
            .iter()
            .filter(|r| r.rtype() == rtype)
            .cloned()
            .collect();
        if rtype == RecordType::Txt && !node.has_txt {
            out.extend(node.spf.iter().cloned().map(Record::Txt));
        }
        if !out.is_empty() {
            return Ok(out);
        }
        if let Some(target) = &node.cname {
            if depth >= 8 {
                return Err(DnsError::ServFail);
            }
            return self.answer(target, rtype, depth + 1);
        }
        if node.timeout {
            Err(DnsError::Timeout)
        } else if node.servfail {
            Err(DnsError::ServFail)
        } else {
            Err(DnsError::NoData)
        }
    }
}

impl Resolver for ZoneResolver {
    fn lookup(&self, query: &Query) -> Answer {
        self.answer(&key(&query.name), query.rtype, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = r#"
zonedata:
  example.com:
    - SPF: v=spf1 mx -all
    - MX: [10, mail.example.com.]
  Mail.Example.com:
    - A: 192.0.2.1
  split.example.com:
    - TXT: [ "v=spf1 ip4:", "192.0.2.5 -all" ]
  spfonly.example.net:
    - SPF: v=spf1 -all
    - TXT: NONE
  slow.example.net:
    - TXT: v=spf1 -all
    - TIMEOUT
  alias.example.org:
    - CNAME: example.com
"#;

    #[test]
    fn answers_like_the_openspf_driver() {
        let z = ZoneResolver::from_yaml(ZONE).unwrap();
        let q = |n: &str, t| z.lookup(&Query::new(n, t));
        assert_eq!(
            q("example.com", RecordType::Txt).unwrap(),
            vec![Record::Txt(b"v=spf1 mx -all".to_vec())]
        );
        assert_eq!(
            q("MAIL.example.COM.", RecordType::A).unwrap(),
            vec![Record::A(Ipv4Addr::new(192, 0, 2, 1))]
        );
        assert_eq!(
            q("split.example.com", RecordType::Txt).unwrap(),
            vec![Record::Txt(b"v=spf1 ip4:192.0.2.5 -all".to_vec())]
        );
        assert_eq!(q("spfonly.example.net", RecordType::Txt), Err(DnsError::NoData));
        assert_eq!(
            q("slow.example.net", RecordType::Txt).unwrap().len(),
            1,
            "records present are answered even on a TIMEOUT name"
        );
        assert_eq!(q("slow.example.net", RecordType::A), Err(DnsError::Timeout));
        assert_eq!(q("nowhere.example", RecordType::A), Err(DnsError::NxDomain));
        assert_eq!(q("example.com", RecordType::A), Err(DnsError::NoData));
        assert_eq!(
            q("alias.example.org", RecordType::Mx).unwrap(),
            vec![Record::Mx {
                preference: 10,
                exchange: "mail.example.com".into()
            }]
        );
    }

    #[test]
    fn rejects_unknown_types() {
        let err = ZoneResolver::from_yaml("a.example:\n  - HINFO: x\n").unwrap_err();
        assert!(err.to_string().contains("HINFO"), "{err}");
    }
}
