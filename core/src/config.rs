//! Deployment settings merged with a pack's defaults, validated once.

use crate::checks::lookalike::Lookalikes;
use crate::pack::{ActionThresholds, RulePack};
use crate::types::Settings;
use std::collections::BTreeMap;

/// The validated, ready-to-use form of [`Settings`] for one pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Protected domains, lower-case, no trailing dot.
    pub protected_domains: Vec<String>,
    /// Effective thresholds.
    pub thresholds: ActionThresholds,
    /// Trusted ARC sealers, lower-case.
    pub trusted_arc_sealers: Vec<String>,
    /// authserv-id for Authentication-Results.
    pub authserv_id: String,
    /// Pack options: the pack's defaults overridden by the settings.
    pub options: BTreeMap<String, String>,
    /// The protected domains prepared for lookalike comparison.
    pub lookalikes: Lookalikes,
    /// The outbound policy parsed from the options; `None` when the pack
    /// has no outbound options (it does no outbound filtering).
    pub outbound: Option<crate::checks::outbound::Policy>,
    /// The writing systems the site reads (option `ok-scripts`).
    pub scripts: crate::checks::reads::Reads,
    /// The languages the site reads (option `ok-languages`).
    pub languages: crate::checks::reads::Reads,
    /// Attachment extensions the site accepts although the pack's lists
    /// name them (option `ok-attachments`), sorted.
    pub ok_attachments: Vec<String>,
}

/// The authserv-id used when the deployment does not name one.
pub const DEFAULT_AUTHSERV_ID: &str = "mailward";

fn normalise_domain(d: &str) -> Result<String, String> {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() || !crate::dns::is_valid_query_name(&d) || d.contains(char::is_whitespace) {
        return Err(format!("{d:?} is not a domain name"));
    }
    Ok(d)
}

impl Config {
    /// The pack's defaults with no deployment settings.
    pub fn defaults(pack: &RulePack) -> Self {
        Config {
            protected_domains: Vec::new(),
            thresholds: pack.thresholds,
            trusted_arc_sealers: Vec::new(),
            authserv_id: DEFAULT_AUTHSERV_ID.to_string(),
            options: pack.options.clone(),
            lookalikes: Lookalikes::default(),
            // A pack whose own outbound options are invalid is refused by
            // `Filter::from_sources` and the build (both go through
            // `Config::new`); here it just does no outbound filtering.
            outbound: crate::checks::outbound::Policy::from_options(pack, &pack.options)
                .ok()
                .flatten(),
            scripts: crate::checks::scripts::CHOICE
                .from_options(&pack.options)
                .unwrap_or_default(),
            languages: crate::checks::language::CHOICE
                .from_options(&pack.options)
                .unwrap_or_default(),
            ok_attachments: crate::checks::attachments::ok_extensions(&pack.options).unwrap_or_default(),
        }
    }

    /// Validates `settings` against `pack`. Errors name the bad setting.
    pub fn new(pack: &RulePack, settings: &Settings) -> Result<Self, String> {
        let mut c = Config::defaults(pack);
        c.protected_domains = settings
            .protected_domains
            .iter()
            .map(|d| normalise_domain(d).map_err(|e| format!("protected-domains: {e}")))
            .collect::<Result<_, _>>()?;
        c.lookalikes = Lookalikes::new(&c.protected_domains);
        c.trusted_arc_sealers = settings
            .trusted_arc_sealers
            .iter()
            .map(|d| normalise_domain(d).map_err(|e| format!("trusted-arc-sealers: {e}")))
            .collect::<Result<_, _>>()?;
        let t = &settings.thresholds;
        c.thresholds = ActionThresholds {
            add_header: t.add_header.unwrap_or(pack.thresholds.add_header),
            quarantine: t.quarantine.unwrap_or(pack.thresholds.quarantine),
            reject: t.reject.unwrap_or(pack.thresholds.reject),
        };
        c.thresholds.validate().map_err(|e| format!("thresholds: {e}"))?;
        let id = settings.authserv_id.trim();
        if !id.is_empty() {
            if !id
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"();\"\\".contains(&b))
            {
                return Err(format!(
                    "authserv-id {id:?} must be a token without spaces or specials"
                ));
            }
            c.authserv_id = id.to_string();
        }
        for (k, v) in &settings.options {
            if !c.options.contains_key(k) {
                let known: Vec<_> = pack.options.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown option {k:?}; this pack knows: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            c.options.insert(k.clone(), v.clone());
        }
        c.outbound = crate::checks::outbound::Policy::from_options(pack, &c.options)?;
        c.scripts = crate::checks::scripts::CHOICE.from_options(&c.options)?;
        c.languages = crate::checks::language::CHOICE.from_options(&c.options)?;
        c.ok_attachments = crate::checks::attachments::ok_extensions(&c.options)?;
        Ok(c)
    }

    /// True when `domain` is a protected domain or a subdomain of one.
    pub fn is_protected(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.protected_domains.iter().any(|p| {
            domain == *p
                || (domain.len() > p.len()
                    && domain.ends_with(p.as_str())
                    && domain.as_bytes()[domain.len() - p.len() - 1] == b'.')
        })
    }
}
