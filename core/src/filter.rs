//! The filter: one configured rule pack, ready to judge messages.

use crate::checks::auth::{ArcChain, ArcOutcome, DkimOutcome};
use crate::checks::{self, Context, Findings};
use crate::config::Config;
use crate::dns::cache::CachedEnv;
use crate::env::Env;
use crate::message::Message;
use crate::pack::{PackError, RulePack};
use crate::types::{Envelope, PackInfo, Settings, Verdict};
use std::sync::Arc;

/// A compiled pack plus deployment settings.
#[derive(Debug, Clone)]
pub struct Filter {
    pack: Arc<RulePack>,
    config: Config,
}

impl Filter {
    /// Compiles pack sources and returns a filter with default settings.
    pub fn from_sources(files: &[(&str, &str)]) -> Result<Self, PackError> {
        let pack = RulePack::compile(files, &checks::code_symbols())?;
        Ok(Filter::new(Arc::new(pack)))
    }

    /// A filter over `pack` with the pack's default settings.
    pub fn new(pack: Arc<RulePack>) -> Self {
        let config = Config::defaults(&pack);
        Filter { pack, config }
    }

    /// Applies deployment settings; on error the old settings stay.
    pub fn configure(&mut self, settings: &Settings) -> Result<(), String> {
        self.config = Config::new(&self.pack, settings)?;
        Ok(())
    }

    /// The pack's name and version.
    pub fn info(&self) -> &PackInfo {
        &self.pack.info
    }

    /// The compiled pack.
    pub fn pack(&self) -> &RulePack {
        &self.pack
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `samples` through the filter with no DNS, discarding the
    /// verdicts. This builds the regex engines' lazy caches; in the guest
    /// it runs before the host snapshots the configured instance, so every
    /// per-message instance starts warm.
    pub fn warm_up(&self, samples: &[&[u8]]) {
        struct Offline;
        impl Env for Offline {
            fn lookup(&self, _: &crate::dns::Query) -> crate::dns::Answer {
                Err(crate::dns::DnsError::NxDomain)
            }
            fn now(&self) -> u64 {
                0
            }
            fn log(&self, _: crate::Level, _: &str) {}
        }
        let envelope = Envelope::default();
        for s in samples {
            let _ = self.check(&Offline, &envelope, s);
        }
    }

    /// Judges one message. Never fails and never panics on any input.
    pub fn check(&self, env: &dyn Env, envelope: &Envelope, raw: &[u8]) -> Verdict {
        let message = Message::parse(raw);
        // One DNS cache per message: checks asking the same question (the
        // MAIL FROM domain's TXT record for SPF and Sender ID, its MX
        // records for `mx` and the sender-domain check) spend the host's
        // query budget once.
        let env = CachedEnv::new(env);
        let cx = Context {
            env: &env,
            envelope,
            message: &message,
            pack: &self.pack,
            config: &self.config,
        };
        let mut findings = Findings::new(self.pack.symbols.len());
        // The DKIM and ARC verifiers are wired in here by the lead when the
        // DKIM/ARC branch merges (`checks::dkim::verify`,
        // `checks::arc::validate`); until then no signature is verified.
        let dkim: Vec<DkimOutcome> = Vec::new();
        let arc = ArcOutcome {
            chain: ArcChain::None,
            hops: Vec::new(),
            reason: String::new(),
        };
        let auth = checks::auth::run(&cx, &mut findings, dkim, arc);
        let headers = vec![checks::auth::ar::header(&self.config, envelope, &auth)];
        if envelope.effective_direction() == crate::Direction::Inbound {
            checks::sender_domain::check(&cx, &mut findings);
        }
        checks::content::check(&cx, &mut findings);
        crate::verdict::finish(&self.pack, &self.config, findings, headers)
    }
}
