//! The `check_host()` function (RFC 7208 §4–§6), DNS through the [`Env`].
//!
//! Limits (§4.6.4): at most 10 terms that query DNS (`include`, `a`, `mx`,
//! `ptr`, `exists`, `redirect`) and at most 2 void lookups per evaluation,
//! else `permerror`; an `mx` with more than 10 exchanges is a `permerror`;
//! only the first 10 PTR names are checked. On top of those, one
//! evaluation may send at most [`MAX_QUERIES`] DNS questions (the RFC's
//! limits still allow over a hundred through `mx` and `ptr` address
//! lookups); exceeding it is a `temperror`, as §4.6.4 prescribes for an
//! evaluation that runs out of its resource budget. Independent address
//! lookups (the exchanges of one `mx`, the names of one `ptr`) go out as
//! one batch.

use super::macros::{self, MacroString, Vars};
use super::parse::{self, Directive, Mechanism, Qualifier, Record, Version};
use crate::checks::auth::SpfResult;
use crate::dns::{DnsError, Query, Record as Rr, RecordType};
use crate::env::Env;
use std::net::IpAddr;

/// DNS-querying terms allowed per evaluation (§4.6.4).
pub const MAX_DNS_TERMS: u32 = 10;
/// Void lookups allowed per evaluation (§4.6.4).
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// Exchanges one `mx` may resolve, and PTR names one `ptr` considers.
pub const MAX_NAMES: usize = 10;
/// DNS questions one evaluation (with its includes and redirects) may send.
pub const MAX_QUERIES: u32 = 40;

/// Which records an evaluation selects (RFC 7208 §4.5, RFC 4406 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `v=spf1` only (SPF for MAIL FROM and HELO).
    Spf1,
    /// Sender ID's PRA scope: `spf2.0/…pra…` records, or `v=spf1` when the
    /// domain publishes no `spf2.0` record at all.
    Pra,
}

/// Which kind of record the top-level evaluation used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    /// A `v=spf1` record.
    Spf1,
    /// An `spf2.0` record covering the scope.
    Spf2,
}

/// The inputs of one `check_host()` evaluation.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    /// The client's address (IPv4-mapped IPv6 already converted).
    pub ip: IpAddr,
    /// `<sender>`: `local@domain`, with `postmaster` for an empty local-part.
    pub sender: &'a str,
    /// `<domain>`: where the evaluation starts.
    pub domain: &'a str,
    /// The HELO/EHLO name (the `h` macro).
    pub helo: &'a str,
    /// The receiving host's name (the `r` macro).
    pub receiver: &'a str,
    /// Seconds since the epoch (the `t` macro).
    pub now: u64,
    /// Record selection.
    pub scope: Scope,
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The result.
    pub result: SpfResult,
    /// The `exp=` explanation of a `fail`, when there is one.
    pub explanation: Option<String>,
    /// Why: the matching term, the default, or the error.
    pub reason: String,
    /// The kind of record the top-level domain published, if one was used.
    pub selected: Option<Selected>,
    /// DNS-querying terms evaluated.
    pub dns_terms: u32,
    /// Void lookups seen.
    pub void_lookups: u32,
    /// DNS questions sent.
    pub queries: u32,
}

/// Evaluates `check_host()` for `params`.
pub fn check_host(env: &dyn Env, params: &Params<'_>) -> Evaluation {
    let mut engine = Engine {
        env,
        p: params,
        terms: 0,
        voids: 0,
        queries: 0,
        validated: None,
    };
    let out = engine.check(params.domain, true);
    Evaluation {
        result: out.result,
        explanation: out.explanation,
        reason: out.reason,
        selected: out.selected,
        dns_terms: engine.terms,
        void_lookups: engine.voids,
        queries: engine.queries,
    }
}

struct Outcome {
    result: SpfResult,
    reason: String,
    explanation: Option<String>,
    selected: Option<Selected>,
}

impl Outcome {
    fn new(result: SpfResult, reason: impl Into<String>) -> Self {
        Outcome {
            result,
            reason: reason.into(),
            explanation: None,
            selected: None,
        }
    }
}

/// Why a lookup gave no records.
enum Miss {
    /// NXDOMAIN, no data, or a name that cannot be queried.
    Void,
    /// A DNS error (SERVFAIL, timeout, host refusal).
    Error(DnsError),
    /// [`MAX_QUERIES`] reached.
    Budget,
}

type Looked = Result<Vec<Rr>, Miss>;

/// An early end of evaluation with a result (temperror / permerror).
type Abort = Outcome;

struct Engine<'a, 'p> {
    env: &'a dyn Env,
    p: &'a Params<'p>,
    terms: u32,
    voids: u32,
    queries: u32,
    /// Validated names of the IP (for `%{p}`), computed once.
    validated: Option<Vec<String>>,
}

/// True when `name` can be sent as a question: valid lengths, no control
/// characters. Labels may hold any other octet, spaces included (a macro
/// expansion can produce them, e.g. `%_`).
fn is_queryable(name: &str) -> bool {
    crate::dns::is_valid_query_name(name) && name.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn ip_in(ip: IpAddr, rr: &Rr, v4: u8, v6: u8) -> bool {
    match (ip, rr) {
        (IpAddr::V4(a), Rr::A(b)) => {
            let mask = if v4 == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(v4))
            };
            u32::from(a) & mask == u32::from(*b) & mask
        }
        (IpAddr::V6(a), Rr::Aaaa(b)) => {
            let mask = if v6 == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(v6))
            };
            u128::from(a) & mask == u128::from(*b) & mask
        }
        _ => false,
    }
}

fn address_type(ip: IpAddr) -> RecordType {
    if ip.is_ipv4() {
        RecordType::A
    } else {
        RecordType::Aaaa
    }
}

/// True when `name` is `target` or a subdomain of it (case-insensitive).
fn within(name: &str, target: &str) -> bool {
    let name = name.trim_end_matches('.');
    let target = target.trim_end_matches('.');
    name.eq_ignore_ascii_case(target)
        || (name.len() > target.len()
            && name.as_bytes()[name.len() - target.len() - 1] == b'.'
            && name[name.len() - target.len()..].eq_ignore_ascii_case(target))
}

impl Engine<'_, '_> {
    fn miss_to_abort(&self, miss: Miss, what: &str) -> Abort {
        match miss {
            Miss::Error(e) => Outcome::new(SpfResult::TempError, format!("DNS {e} for {what}")),
            Miss::Budget => Outcome::new(
                SpfResult::TempError,
                format!("more than {MAX_QUERIES} DNS questions in one evaluation"),
            ),
            Miss::Void => Outcome::new(SpfResult::PermError, format!("no records for {what}")),
        }
    }

    fn classify(&self, rtype: RecordType, answer: crate::dns::Answer) -> Looked {
        match answer {
            Ok(records) => {
                let records: Vec<Rr> = records.into_iter().filter(|r| r.rtype() == rtype).collect();
                if records.is_empty() {
                    Err(Miss::Void)
                } else {
                    Ok(records)
                }
            }
            Err(e) if e.is_not_found() => Err(Miss::Void),
            Err(e) => Err(Miss::Error(e)),
        }
    }

    fn lookup(&mut self, name: &str, rtype: RecordType) -> Looked {
        if !is_queryable(name) {
            return Err(Miss::Void);
        }
        if self.queries >= MAX_QUERIES {
            return Err(Miss::Budget);
        }
        self.queries += 1;
        let answer = self.env.lookup(&Query::new(name, rtype));
        self.classify(rtype, answer)
    }

    /// Looks up several names at once; answers in order.
    fn lookup_many(&mut self, names: &[String], rtype: RecordType) -> Vec<Looked> {
        let mut out: Vec<Option<Looked>> = names.iter().map(|_| None).collect();
        let mut asked = Vec::new();
        let mut at = Vec::new();
        for (i, n) in names.iter().enumerate() {
            if !is_queryable(n) {
                out[i] = Some(Err(Miss::Void));
            } else if self.queries >= MAX_QUERIES {
                out[i] = Some(Err(Miss::Budget));
            } else {
                self.queries += 1;
                asked.push(Query::new(n, rtype));
                at.push(i);
            }
        }
        if !asked.is_empty() {
            let answers = self.env.lookup_batch(&asked);
            for (k, i) in at.into_iter().enumerate() {
                let a = answers.get(k).cloned().unwrap_or(Err(DnsError::ServFail));
                out[i] = Some(self.classify(rtype, a));
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or(Err(Miss::Error(DnsError::ServFail))))
            .collect()
    }

    fn count_term(&mut self, text: &str) -> Result<(), Abort> {
        self.terms += 1;
        if self.terms > MAX_DNS_TERMS {
            return Err(Outcome::new(
                SpfResult::PermError,
                format!("more than {MAX_DNS_TERMS} DNS-querying terms (at {text})"),
            ));
        }
        Ok(())
    }

    fn void(&mut self, what: &str) -> Result<(), Abort> {
        self.voids += 1;
        if self.voids > MAX_VOID_LOOKUPS {
            return Err(Outcome::new(
                SpfResult::PermError,
                format!("more than {MAX_VOID_LOOKUPS} void lookups (at {what})"),
            ));
        }
        Ok(())
    }

    /// The validated domain names of the IP (§5.5): PTR names (the first
    /// 10) whose forward lookup contains the IP. DNS errors give no names.
    fn validated_names(&mut self) -> Vec<String> {
        if let Some(v) = &self.validated {
            return v.clone();
        }
        let ip = self.p.ip;
        let names: Vec<String> = match self.lookup(&macros::reverse_name(ip), RecordType::Ptr) {
            Ok(records) => records
                .into_iter()
                .filter_map(|r| match r {
                    Rr::Ptr(n) => Some(n.trim_end_matches('.').to_string()),
                    _ => None,
                })
                .take(MAX_NAMES)
                .collect(),
            Err(_) => Vec::new(),
        };
        let answers = self.lookup_many(&names, address_type(ip));
        let validated: Vec<String> = names
            .into_iter()
            .zip(answers)
            .filter(|(_, a)| matches!(a, Ok(rrs) if rrs.iter().any(|r| ip_in(ip, r, 32, 128))))
            .map(|(n, _)| n)
            .collect();
        self.validated = Some(validated.clone());
        validated
    }

    /// The `p` macro's value for `domain` (§7.3): the domain itself if
    /// validated, else a validated subdomain, else any, else `unknown`.
    fn p_value(&mut self, domain: &str) -> String {
        let names = self.validated_names();
        names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(domain))
            .or_else(|| names.iter().find(|n| within(n, domain)))
            .or_else(|| names.first())
            .cloned()
            .unwrap_or_else(|| "unknown".to_string())
    }

    fn expand_with(&mut self, ms: &MacroString, domain: &str, as_domain: bool) -> String {
        let validated = if ms.uses_validated_name() {
            self.p_value(domain)
        } else {
            String::new()
        };
        let vars = Vars {
            sender: self.p.sender,
            domain,
            ip: self.p.ip,
            helo: self.p.helo,
            receiver: self.p.receiver,
            now: self.p.now,
            validated: &validated,
        };
        if as_domain {
            macros::expand_domain(ms, &vars)
        } else {
            macros::expand(ms, &vars)
        }
    }

    fn target(&mut self, spec: &Option<MacroString>, domain: &str) -> String {
        match spec {
            Some(ms) => self.expand_with(ms, domain, true),
            None => domain.trim_end_matches('.').to_string(),
        }
    }

    /// Fetches and selects the record of `domain`.
    fn record(&mut self, domain: &str) -> Result<(Record, Selected), Outcome> {
        let txts = match self.lookup(domain, RecordType::Txt) {
            Ok(r) => r,
            Err(Miss::Void) => {
                return Err(Outcome::new(
                    SpfResult::None,
                    format!("no SPF record at {domain}"),
                ));
            }
            Err(m) => return Err(self.miss_to_abort(m, &format!("TXT {domain}"))),
        };
        let mut spf1: Vec<&[u8]> = Vec::new();
        let mut spf2_any = false;
        let mut spf2_scoped: Vec<&[u8]> = Vec::new();
        for r in &txts {
            let Rr::Txt(t) = r else { continue };
            match parse::version(t) {
                Some((Version::Spf1, rest)) => spf1.push(rest),
                Some((Version::Spf2(scopes), rest)) => {
                    spf2_any = true;
                    if scopes.iter().any(|s| s == "pra") {
                        spf2_scoped.push(rest);
                    }
                }
                None => {}
            }
        }
        let (chosen, selected) = match self.p.scope {
            Scope::Spf1 => (spf1, Selected::Spf1),
            Scope::Pra if spf2_any => (spf2_scoped, Selected::Spf2),
            Scope::Pra => (spf1, Selected::Spf1),
        };
        match chosen.len() {
            0 => Err(Outcome::new(
                SpfResult::None,
                format!("no SPF record at {domain}"),
            )),
            1 => {
                let body = chosen[0];
                if !body.is_ascii() {
                    return Err(Outcome::new(
                        SpfResult::PermError,
                        format!("the SPF record of {domain} is not 7-bit ASCII"),
                    ));
                }
                let text = std::str::from_utf8(body).unwrap_or_default();
                parse::terms(text)
                    .map(|r| (r, selected))
                    .map_err(|e| Outcome::new(SpfResult::PermError, format!("{domain}: syntax error: {e}")))
            }
            n => Err(Outcome::new(
                SpfResult::PermError,
                format!("{n} SPF records at {domain}"),
            )),
        }
    }

    /// `check_host()` for `domain`; `explain` computes the `exp=` text of a
    /// `fail` (off inside `include`, §6.2).
    fn check(&mut self, domain: &str, explain: bool) -> Outcome {
        let (record, selected) = match self.record(domain) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let mut out = self.evaluate(domain, &record, explain);
        out.selected = Some(selected);
        out
    }

    fn evaluate(&mut self, domain: &str, record: &Record, explain: bool) -> Outcome {
        for d in &record.directives {
            match self.matches(domain, d) {
                Err(abort) => return abort,
                Ok(false) => {}
                Ok(true) => {
                    let result = match d.qualifier {
                        Qualifier::Pass => SpfResult::Pass,
                        Qualifier::Fail => SpfResult::Fail,
                        Qualifier::SoftFail => SpfResult::SoftFail,
                        Qualifier::Neutral => SpfResult::Neutral,
                    };
                    let mut out = Outcome::new(result, format!("{domain}: matched {}", d.text));
                    if result == SpfResult::Fail && explain {
                        out.explanation = record.exp.as_ref().and_then(|e| self.explanation(e, domain));
                    }
                    return out;
                }
            }
        }
        if let Some(redirect) = &record.redirect
            && !record.has_all()
        {
            if let Err(abort) = self.count_term("redirect") {
                return abort;
            }
            let target = self.expand_with(redirect, domain, true);
            if !is_queryable(&target) {
                return Outcome::new(
                    SpfResult::PermError,
                    format!("{domain}: redirect target {target:?} is not a domain name"),
                );
            }
            let mut out = self.check(&target, explain);
            if out.result == SpfResult::None {
                out.result = SpfResult::PermError;
                out.reason = format!("{domain}: redirect to {target}, which has no SPF record");
            }
            return out;
        }
        Outcome::new(SpfResult::Neutral, format!("{domain}: no mechanism matched"))
    }

    fn matches(&mut self, domain: &str, d: &Directive) -> Result<bool, Abort> {
        if d.mechanism.queries_dns() {
            self.count_term(&d.text)?;
        }
        let ip = self.p.ip;
        match &d.mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4(net, len) => Ok(ip_in(ip, &Rr::A(*net), *len, 128)),
            Mechanism::Ip6(net, len) => Ok(ip_in(ip, &Rr::Aaaa(*net), 32, *len)),
            Mechanism::A(spec, cidr) => {
                let target = self.target(spec, domain);
                match self.lookup(&target, address_type(ip)) {
                    Ok(rrs) => Ok(rrs.iter().any(|r| ip_in(ip, r, cidr.v4, cidr.v6))),
                    Err(Miss::Void) => self.void(&d.text).map(|_| false),
                    Err(m) => Err(self.miss_to_abort(m, &target)),
                }
            }
            Mechanism::Mx(spec, cidr) => {
                let target = self.target(spec, domain);
                let mut mx: Vec<(u16, String)> = match self.lookup(&target, RecordType::Mx) {
                    Ok(rrs) => rrs
                        .into_iter()
                        .filter_map(|r| match r {
                            Rr::Mx { preference, exchange } => Some((preference, exchange)),
                            _ => None,
                        })
                        .collect(),
                    Err(Miss::Void) => return self.void(&d.text).map(|_| false),
                    Err(m) => return Err(self.miss_to_abort(m, &format!("MX {target}"))),
                };
                if mx.len() > MAX_NAMES {
                    return Err(Outcome::new(
                        SpfResult::PermError,
                        format!("{}: {} has more than {MAX_NAMES} MX records", d.text, target),
                    ));
                }
                mx.sort_by_key(|(p, _)| *p);
                // A null MX ("." / empty, RFC 7505) names no host.
                let names: Vec<String> = mx
                    .into_iter()
                    .map(|(_, e)| e.trim_end_matches('.').to_string())
                    .filter(|e| !e.is_empty())
                    .collect();
                // Sequential semantics over one batch: the first exchange
                // (in preference order) that matches or errs decides.
                for (name, a) in names.iter().zip(self.lookup_many(&names, address_type(ip))) {
                    match a {
                        Ok(rrs) if rrs.iter().any(|r| ip_in(ip, r, cidr.v4, cidr.v6)) => return Ok(true),
                        Ok(_) | Err(Miss::Void) => {}
                        Err(m) => return Err(self.miss_to_abort(m, name)),
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr(spec) => {
                let target = self.target(spec, domain);
                let rev = macros::reverse_name(ip);
                // The PTR lookup itself may be void; errors only fail to match.
                let names: Vec<String> = match self.lookup(&rev, RecordType::Ptr) {
                    Ok(rrs) => rrs
                        .into_iter()
                        .filter_map(|r| match r {
                            Rr::Ptr(n) => Some(n.trim_end_matches('.').to_string()),
                            _ => None,
                        })
                        .take(MAX_NAMES)
                        .collect(),
                    Err(Miss::Void) => return self.void(&d.text).map(|_| false),
                    Err(Miss::Budget) => return Err(self.miss_to_abort(Miss::Budget, &rev)),
                    Err(Miss::Error(_)) => return Ok(false),
                };
                let candidates: Vec<String> = names.into_iter().filter(|n| within(n, &target)).collect();
                let answers = self.lookup_many(&candidates, address_type(ip));
                Ok(answers
                    .iter()
                    .any(|a| matches!(a, Ok(rrs) if rrs.iter().any(|r| ip_in(ip, r, 32, 128)))))
            }
            Mechanism::Exists(spec) => {
                let target = self.expand_with(spec, domain, true);
                match self.lookup(&target, RecordType::A) {
                    Ok(_) => Ok(true),
                    Err(Miss::Void) => self.void(&d.text).map(|_| false),
                    Err(m) => Err(self.miss_to_abort(m, &target)),
                }
            }
            Mechanism::Include(spec) => {
                let target = self.expand_with(spec, domain, true);
                if !is_queryable(&target) {
                    return Err(Outcome::new(
                        SpfResult::PermError,
                        format!("{}: include target {target:?} is not a domain name", d.text),
                    ));
                }
                let inner = self.check(&target, false);
                match inner.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError => Err(inner),
                    SpfResult::PermError => Err(inner),
                    SpfResult::None => Err(Outcome::new(
                        SpfResult::PermError,
                        format!("{}: {target} has no SPF record", d.text),
                    )),
                }
            }
        }
    }

    /// The explanation of a `fail` (§6.2): the single TXT record at the
    /// expanded `exp=` target, macro-expanded. Any problem means none.
    fn explanation(&mut self, exp: &MacroString, domain: &str) -> Option<String> {
        let target = self.expand_with(exp, domain, true);
        let txts = self.lookup(&target, RecordType::Txt).ok()?;
        let [Rr::Txt(text)] = txts.as_slice() else {
            return None;
        };
        if !text.is_ascii() {
            return None;
        }
        let text = std::str::from_utf8(text).ok()?;
        let ms = macros::parse(text, macros::Context::Explanation).ok()?;
        let out = self.expand_with(&ms, domain, false);
        Some(out.chars().filter(|c| !c.is_control()).collect())
    }
}
