//! Host bindings generated from `wit/`, one module per contract version
//! this host speaks, and conversions between each version's types and
//! mailward-core's.
//!
//! * [`v0_2`]: `mailward:filter@0.2.0` (`wit/filter.wit`), the current one.
//! * [`v0_1`]: `mailward:filter@0.1.0` (`wit/v0.1.0/filter.wit`), the
//!   previous minor version: no `state` import, no alerts in verdicts.
//!
//! The conversions are written once ([`conversions!`]) and expanded in each
//! version's module: the versions' shared types have the same shape.

/// The alerts of a verdict: converted where the version has them.
macro_rules! verdict_alerts {
    (alerts, $v:ident) => {
        $v.alerts
            .into_iter()
            .map(|a| core::Alert {
                kind: match a.kind {
                    wit::AlertKind::LimitExceeded => core::AlertKind::LimitExceeded,
                    wit::AlertKind::CompromiseSuspected => core::AlertKind::CompromiseSuspected,
                    wit::AlertKind::CredentialReply => core::AlertKind::CredentialReply,
                },
                severity: match a.severity {
                    wit::AlertSeverity::Info => core::AlertSeverity::Info,
                    wit::AlertSeverity::Warning => core::AlertSeverity::Warning,
                    wit::AlertSeverity::Critical => core::AlertSeverity::Critical,
                },
                user: a.user,
                summary: a.summary,
                action: a.action,
                symbols: a.symbols,
            })
            .collect()
    };
    (, $v:ident) => {
        Vec::new()
    };
}

/// The conversions between one version's `types` and mailward-core's.
/// `alerts` when the version's verdict carries alerts.
macro_rules! conversions {
    ($($alerts:ident)?) => {
        use mailward_core::types as core;
        use std::net::IpAddr;

        /// The version's shared types.
        pub use mailward::filter::types as wit;

        /// The envelope in this version's type.
        pub fn envelope(e: &core::Envelope) -> wit::Envelope {
            wit::Envelope {
                client_ip: e.client_ip.map(|ip| match ip {
                    IpAddr::V4(v4) => {
                        let [a, b, c, d] = v4.octets();
                        wit::IpAddress::Ipv4((a, b, c, d))
                    }
                    IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                        Some(v4) => {
                            let [a, b, c, d] = v4.octets();
                            wit::IpAddress::Ipv4((a, b, c, d))
                        }
                        None => {
                            let s = v6.segments();
                            wit::IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
                        }
                    },
                }),
                helo: e.helo.clone(),
                mail_from: e.mail_from.clone(),
                rcpt_to: e.rcpt_to.clone(),
                auth_user: e.auth_user.clone(),
                direction: match e.direction {
                    core::Direction::Inbound => wit::Direction::Inbound,
                    core::Direction::Outbound => wit::Direction::Outbound,
                },
                queue_id: e.queue_id.clone(),
            }
        }

        pub fn settings(s: &core::Settings) -> wit::Settings {
            wit::Settings {
                protected_domains: s.protected_domains.clone(),
                thresholds: wit::Thresholds {
                    add_header: s.thresholds.add_header,
                    quarantine: s.thresholds.quarantine,
                    reject: s.thresholds.reject,
                },
                trusted_arc_sealers: s.trusted_arc_sealers.clone(),
                authserv_id: s.authserv_id.clone(),
                options: s.options.clone(),
            }
        }

        pub fn info(i: wit::RulePackInfo) -> core::PackInfo {
            core::PackInfo {
                name: i.name,
                version: i.version,
                contract: i.contract,
                description: i.description,
            }
        }

        pub fn verdict(v: wit::Verdict) -> core::Verdict {
            core::Verdict {
                action: match v.action {
                    wit::Action::Accept => core::Action::Accept,
                    wit::Action::AddHeader => core::Action::AddHeader,
                    wit::Action::Quarantine => core::Action::Quarantine,
                    wit::Action::Reject => core::Action::Reject,
                    wit::Action::Tempfail => core::Action::Tempfail,
                },
                score: v.score,
                required_score: v.required_score,
                symbols: v
                    .symbols
                    .into_iter()
                    .map(|s| core::Symbol {
                        name: s.name,
                        score: s.score,
                        description: s.description,
                        options: s.options,
                    })
                    .collect(),
                headers: v
                    .headers
                    .into_iter()
                    .map(|h| core::Header {
                        name: h.name,
                        value: h.value,
                    })
                    .collect(),
                reply: v.reply.map(|r| core::SmtpReply {
                    code: r.code,
                    enhanced: r.enhanced,
                    text: r.text,
                }),
                rule_pack: info(v.rule_pack),
                alerts: verdict_alerts!($($alerts)?, v),
            }
        }
    };
}

/// `mailward:filter@0.2.0`, the current contract.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pack",
        imports: { default: trappable },
        additional_derives: [PartialEq],
    });
    conversions!(alerts);
}

/// `mailward:filter@0.1.0`, the previous minor contract.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "pack",
        imports: { default: trappable },
        additional_derives: [PartialEq],
    });
    conversions!();
}
