//! Conversions between the WIT types and mailward-core's.

use crate::mailward::filter::dns as wdns;
use crate::mailward::filter::state as wstate;
use crate::mailward::filter::types as wit;
use mailward_core::dns::{Answer, DnsError, Query, Record, RecordType};
use mailward_core::state::{CounterUpdate, Restriction, RestrictionKind, StateError};
use mailward_core::types as core;

pub fn counter_update(u: &CounterUpdate) -> wstate::CounterUpdate {
    wstate::CounterUpdate {
        key: u.key.clone(),
        window: u.window,
        amount: u.amount,
    }
}

pub fn state_error(e: wstate::StateError) -> StateError {
    match e {
        wstate::StateError::LimitExceeded => StateError::LimitExceeded,
        wstate::StateError::Unavailable => StateError::Unavailable,
    }
}

pub fn restriction_to_wit(r: &Restriction) -> wstate::Restriction {
    wstate::Restriction {
        kind: match r.kind {
            RestrictionKind::Block => wstate::RestrictionKind::Block,
            RestrictionKind::Suspect => wstate::RestrictionKind::Suspect,
        },
        reason: r.reason.clone(),
        since: r.since,
        until: r.until,
    }
}

pub fn restriction_from_wit(r: wstate::Restriction) -> Restriction {
    Restriction {
        kind: match r.kind {
            wstate::RestrictionKind::Block => RestrictionKind::Block,
            wstate::RestrictionKind::Suspect => RestrictionKind::Suspect,
        },
        reason: r.reason,
        since: r.since,
        until: r.until,
    }
}

fn alert(a: core::Alert) -> wit::Alert {
    wit::Alert {
        kind: match a.kind {
            core::AlertKind::LimitExceeded => wit::AlertKind::LimitExceeded,
            core::AlertKind::CompromiseSuspected => wit::AlertKind::CompromiseSuspected,
            core::AlertKind::CredentialReply => wit::AlertKind::CredentialReply,
        },
        severity: match a.severity {
            core::AlertSeverity::Info => wit::AlertSeverity::Info,
            core::AlertSeverity::Warning => wit::AlertSeverity::Warning,
            core::AlertSeverity::Critical => wit::AlertSeverity::Critical,
        },
        user: a.user,
        summary: a.summary,
        action: a.action,
        symbols: a.symbols,
    }
}
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn query(q: &Query) -> wdns::Query {
    wdns::Query {
        name: q.name.clone(),
        rtype: match q.rtype {
            RecordType::A => wdns::RecordType::A,
            RecordType::Aaaa => wdns::RecordType::Aaaa,
            RecordType::Txt => wdns::RecordType::Txt,
            RecordType::Mx => wdns::RecordType::Mx,
            RecordType::Ptr => wdns::RecordType::Ptr,
        },
    }
}

pub fn answer(a: Result<Vec<wdns::DnsRecord>, wdns::DnsError>) -> Answer {
    match a {
        Ok(records) => Ok(records
            .into_iter()
            .map(|r| match r {
                wdns::DnsRecord::A((a, b, c, d)) => Record::A(Ipv4Addr::new(a, b, c, d)),
                wdns::DnsRecord::Aaaa(g) => Record::Aaaa(v6(g)),
                wdns::DnsRecord::Txt(t) => Record::Txt(t),
                wdns::DnsRecord::Mx(m) => Record::Mx {
                    preference: m.preference,
                    exchange: m.exchange,
                },
                wdns::DnsRecord::Ptr(p) => Record::Ptr(p),
            })
            .collect()),
        Err(e) => Err(match e {
            wdns::DnsError::Nxdomain => DnsError::NxDomain,
            wdns::DnsError::NoData => DnsError::NoData,
            wdns::DnsError::Servfail => DnsError::ServFail,
            wdns::DnsError::Timeout => DnsError::Timeout,
            wdns::DnsError::LimitExceeded => DnsError::LimitExceeded,
        }),
    }
}

fn v6(g: wit::Ipv6Address) -> Ipv6Addr {
    Ipv6Addr::new(g.0, g.1, g.2, g.3, g.4, g.5, g.6, g.7)
}

pub fn envelope(e: wit::Envelope) -> core::Envelope {
    core::Envelope {
        client_ip: e.client_ip.map(|ip| match ip {
            wit::IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            wit::IpAddress::Ipv6(g) => {
                let v6 = v6(g);
                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
            }
        }),
        helo: e.helo,
        mail_from: e.mail_from,
        rcpt_to: e.rcpt_to,
        auth_user: e.auth_user,
        direction: match e.direction {
            wit::Direction::Inbound => core::Direction::Inbound,
            wit::Direction::Outbound => core::Direction::Outbound,
        },
        queue_id: e.queue_id,
    }
}

pub fn settings(s: wit::Settings) -> core::Settings {
    core::Settings {
        protected_domains: s.protected_domains,
        thresholds: core::Thresholds {
            add_header: s.thresholds.add_header,
            quarantine: s.thresholds.quarantine,
            reject: s.thresholds.reject,
        },
        trusted_arc_sealers: s.trusted_arc_sealers,
        authserv_id: s.authserv_id,
        options: s.options,
    }
}

pub fn info(i: &core::PackInfo) -> wit::RulePackInfo {
    wit::RulePackInfo {
        name: i.name.clone(),
        version: i.version.clone(),
        contract: i.contract.clone(),
        description: i.description.clone(),
    }
}

fn action(a: core::Action) -> wit::Action {
    match a {
        core::Action::Accept => wit::Action::Accept,
        core::Action::AddHeader => wit::Action::AddHeader,
        core::Action::Quarantine => wit::Action::Quarantine,
        core::Action::Reject => wit::Action::Reject,
        core::Action::Tempfail => wit::Action::Tempfail,
    }
}

pub fn verdict(v: core::Verdict) -> wit::Verdict {
    wit::Verdict {
        action: action(v.action),
        score: v.score,
        required_score: v.required_score,
        symbols: v
            .symbols
            .into_iter()
            .map(|s| wit::Symbol {
                name: s.name,
                score: s.score,
                description: s.description,
                options: s.options,
            })
            .collect(),
        headers: v
            .headers
            .into_iter()
            .map(|h| wit::Header {
                name: h.name,
                value: h.value,
            })
            .collect(),
        reply: v.reply.map(|r| wit::SmtpReply {
            code: r.code,
            enhanced: r.enhanced,
            text: r.text,
        }),
        rule_pack: info(&v.rule_pack),
        alerts: v.alerts.into_iter().map(alert).collect(),
    }
}

/// The verdict when the pack's own data cannot be loaded: tempfail, so
/// nothing is lost while the operator fixes the pack.
pub fn broken_pack_verdict(error: &str) -> wit::Verdict {
    wit::Verdict {
        action: wit::Action::Tempfail,
        score: 0.0,
        required_score: 0.0,
        symbols: vec![wit::Symbol {
            name: "MW_PACK_BROKEN".into(),
            score: 0.0,
            description: "The rule pack could not load its rules".into(),
            options: vec![error.chars().take(200).collect()],
        }],
        headers: Vec::new(),
        reply: Some(wit::SmtpReply {
            code: 451,
            enhanced: "4.3.5".into(),
            text: "Filter unavailable, try again later".into(),
        }),
        rule_pack: wit::RulePackInfo {
            name: "mailward-default".into(),
            version: "0.0.0".into(),
            contract: mailward_core::pack::CONTRACT_VERSION.into(),
            description: "broken".into(),
        },
        alerts: Vec::new(),
    }
}
