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
        let pack = RulePack::compile(files, &checks::code_symbols(), &checks::code_lists())?;
        // The pack's own option defaults must make a valid configuration.
        let config = Config::new(&pack, &Settings::default()).map_err(|message| PackError {
            file: "(pack)".into(),
            line: 0,
            rule: None,
            message: format!("[options]: {message}"),
        })?;
        Ok(Filter {
            pack: Arc::new(pack),
            config,
        })
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

    /// Runs `samples` through the filter with no DNS and no state, as
    /// inbound and as outbound mail, discarding the verdicts. This builds the regex engines' lazy caches; in the guest
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
        let inbound = Envelope::default();
        let outbound = Envelope {
            auth_user: Some("warm-up@mailward.invalid".into()),
            mail_from: "warm-up@mailward.invalid".into(),
            rcpt_to: vec!["someone@example.invalid".into()],
            client_ip: Some(std::net::IpAddr::from([192, 0, 2, 1])),
            ..Envelope::default()
        };
        for s in samples {
            let _ = self.check(&Offline, &inbound, s);
            let _ = self.check(&Offline, &outbound, s);
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
        let pages = checks::attachments::pages(&message);
        let other_links = checks::urls::other_links(&message, &pages);
        let links = checks::urls::parse_links(&message, &other_links);
        let cx = Context {
            env: &env,
            envelope,
            message: &message,
            pack: &self.pack,
            config: &self.config,
            links: &links,
            pages: &pages,
        };
        let mut findings = Findings::new(self.pack.symbols.len());
        let inbound = envelope.effective_direction() == crate::Direction::Inbound;
        // Sender authentication: DKIM and ARC first (DMARC and the
        // composite verdict read them), then SPF, Sender ID, DMARC and
        // compauth in `auth::run`. Mail submitted by an authenticated user
        // is not judged by sender authentication.
        let (dkim, arc) = if inbound {
            let now = env.now();
            let dkim = checks::dkim::verify(&env, &message, now);
            checks::dkim::emit(&self.pack, &dkim, &mut findings);
            let arc = checks::arc::validate(&env, &message, now);
            checks::arc::emit(&self.pack, &arc, &mut findings);
            (dkim, arc)
        } else {
            let arc = ArcOutcome {
                chain: ArcChain::None,
                hops: Vec::new(),
                reason: String::new(),
            };
            (Vec::<DkimOutcome>::new(), arc)
        };
        let auth = checks::auth::run(&cx, &mut findings, dkim, arc);
        let headers = vec![checks::auth::ar::header(&self.config, envelope, &auth)];
        if inbound {
            checks::sender_domain::check(&cx, &mut findings);
        }
        checks::content::check(&cx, &mut findings);
        if inbound {
            checks::date::check(&cx, &mut findings);
        }
        checks::spoof::check(&cx, &mut findings);
        checks::lookalike::check(&cx, &mut findings);
        checks::urls::check(&cx, &mut findings);
        checks::forms::check(&cx, &mut findings);
        checks::attachments::check(&cx, &mut findings);
        if inbound {
            checks::scripts::check(&cx, &mut findings);
            checks::language::check(&cx, &mut findings);
            checks::origin::check(&cx, &mut findings);
            checks::freemail::check(&cx, &mut findings);
        }
        // The model is trained on received mail (SpamAssassin's corpus); a
        // user's own submissions are judged by the outbound policy's
        // signals, not by a model of what spam that arrives looks like.
        if inbound {
            checks::classifier::check(&cx, &mut findings);
        }
        // Last: it reads the judgement of the checks before it.
        checks::outbound::check(&cx, &mut findings);
        crate::verdict::finish(&self.pack, &self.config, findings, headers)
    }
}
