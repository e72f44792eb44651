//! The checks. Each module looks at one aspect of a message and emits
//! named symbols into [`Findings`]; none of them scores anything — scores,
//! thresholds and composites are rule-pack data (see [`crate::pack`]).
//!
//! Checks hand results to each other as values on the [`Context`] (for
//! example the authentication verdict), never by reading each other's
//! symbol names; cross-check logic over symbols belongs in meta rules.

pub mod auth;
pub mod compauth;
pub mod content;
pub mod dmarc;
pub mod sender_domain;
pub mod senderid;
pub mod spf;

use crate::config::Config;
use crate::env::Env;
use crate::message::Message;
use crate::pack::RulePack;
use crate::types::{Envelope, SmtpReply};

/// Every symbol a code check can emit. The pack must score each of them;
/// [`RulePack::compile`] refuses a pack that does not.
pub fn code_symbols() -> Vec<&'static str> {
    [
        content::SYMBOLS,
        sender_domain::SYMBOLS,
        spf::SYMBOLS,
        senderid::SYMBOLS,
        dmarc::SYMBOLS,
        compauth::SYMBOLS,
    ]
    .concat()
}

/// What one message is checked with.
#[derive(Debug)]
pub struct Context<'a> {
    /// DNS, clock and log.
    pub env: &'a dyn Env,
    /// The SMTP envelope.
    pub envelope: &'a Envelope,
    /// The parsed message.
    pub message: &'a Message<'a>,
    /// The compiled pack.
    pub pack: &'a RulePack,
    /// Deployment settings merged with the pack's defaults.
    pub config: &'a Config,
}

impl std::fmt::Debug for dyn Env + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

/// Most options kept per symbol, and most bytes per option.
const MAX_OPTIONS: usize = 8;
const MAX_OPTION_LEN: usize = 200;

/// The symbols fired so far for one message, by pack symbol index.
#[derive(Debug, Default)]
pub struct Findings {
    fired: Vec<Option<Vec<String>>>,
    unknown: Vec<String>,
    /// A reply text a check wants the gateway to give if it refuses.
    pub reply: Option<SmtpReply>,
}

impl Findings {
    /// Findings for a pack with `symbols` symbols.
    pub fn new(symbols: usize) -> Self {
        Findings {
            fired: vec![None; symbols],
            unknown: Vec::new(),
            reply: None,
        }
    }

    /// Fires symbol number `index` with an option (may be empty).
    pub fn fire_index(&mut self, index: usize, option: &str) {
        if let Some(slot) = self.fired.get_mut(index) {
            let opts = slot.get_or_insert_with(Vec::new);
            if !option.is_empty() && opts.len() < MAX_OPTIONS {
                let mut end = option.len().min(MAX_OPTION_LEN);
                while !option.is_char_boundary(end) {
                    end -= 1;
                }
                let o = &option[..end];
                if !opts.iter().any(|x| x == o) {
                    opts.push(o.to_string());
                }
            }
        }
    }

    /// Fires the code symbol `name` with options.
    pub fn fire(&mut self, pack: &RulePack, name: &str, options: &[&str]) {
        match pack.symbol_index(name) {
            Some(i) => {
                self.fire_index(i, "");
                for o in options {
                    self.fire_index(i, o);
                }
            }
            None => self.unknown.push(name.to_string()),
        }
    }

    /// True when symbol number `index` fired.
    pub fn has_index(&self, index: usize) -> bool {
        matches!(self.fired.get(index), Some(Some(_)))
    }

    /// True when symbol `name` fired.
    pub fn has(&self, pack: &RulePack, name: &str) -> bool {
        pack.symbol_index(name).is_some_and(|i| self.has_index(i))
    }

    /// Fired symbols with their options, by index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[String])> {
        self.fired
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_deref().map(|o| (i, o)))
    }

    /// Symbols emitted by code that the pack does not know (a pack/code
    /// mismatch; reported, never scored).
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }
}
