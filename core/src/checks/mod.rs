//! The checks. Each module looks at one aspect of a message and emits
//! named symbols into [`Findings`]; none of them scores anything — scores,
//! thresholds and composites are rule-pack data (see [`crate::pack`]).
//!
//! Checks hand results to each other as values on the [`Context`] (for
//! example the authentication verdict), never by reading each other's
//! symbol names; cross-check logic over symbols belongs in meta rules.

pub mod arc;
pub mod attachments;
pub mod auth;
pub mod classifier;
pub mod compauth;
pub mod content;
pub mod date;
pub mod dkim;
pub mod dmarc;
pub mod forms;
pub mod freemail;
pub mod language;
pub mod lookalike;
pub mod origin;
pub mod outbound;
pub mod reads;
pub mod scripts;
pub mod sender_domain;
pub mod senderid;
pub mod spf;
pub mod spoof;
pub mod urls;

use crate::config::Config;
use crate::env::Env;
use crate::message::Message;
use crate::pack::RulePack;
use crate::pack::expr::Expr;
use crate::types::{Action, Alert, Envelope, SmtpReply};

/// Every symbol a code check can emit. The pack must score each of them;
/// [`RulePack::compile`] refuses a pack that does not.
pub fn code_symbols() -> Vec<&'static str> {
    [
        content::SYMBOLS,
        date::SYMBOLS,
        sender_domain::SYMBOLS,
        spf::SYMBOLS,
        senderid::SYMBOLS,
        dmarc::SYMBOLS,
        compauth::SYMBOLS,
        dkim::SYMBOLS,
        arc::SYMBOLS,
        spoof::SYMBOLS,
        lookalike::SYMBOLS,
        urls::SYMBOLS,
        forms::SYMBOLS,
        attachments::SYMBOLS,
        scripts::SYMBOLS,
        language::SYMBOLS,
        origin::SYMBOLS,
        freemail::SYMBOLS,
        outbound::SYMBOLS,
    ]
    .concat()
}

/// Every named pack list a code check reads; [`RulePack::compile`]
/// refuses a pack that does not define them.
pub fn code_lists() -> Vec<&'static str> {
    [spoof::LISTS, urls::LISTS, freemail::LISTS, attachments::LISTS].concat()
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
    /// The message's web links, parsed once for every check: those of
    /// its text, then where its forms submit and the links of its
    /// attached pages.
    pub links: &'a [urls::ParsedLink<'a>],
    /// The web pages attached to the message, read once.
    pub pages: &'a [attachments::Page],
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
    /// Alerts raised for the operator.
    pub alerts: Vec<Alert>,
    /// The strictest action the score alone may lead to (forced actions of
    /// symbols still apply); set by the outbound check, whose policy holds
    /// rather than bounces authenticated users' mail.
    pub score_action_cap: Option<Action>,
}

/// The findings as they would be scored now: the meta rules evaluated
/// over a copy, without touching the findings (see [`Findings::preview`]).
#[derive(Debug, Clone)]
pub struct Preview {
    fired: Vec<bool>,
}

impl Preview {
    /// True when symbol number `index` fired (or its meta rule holds).
    pub fn has(&self, index: usize) -> bool {
        self.fired.get(index).copied().unwrap_or(false)
    }

    /// The total score of the fired symbols.
    pub fn score(&self, pack: &RulePack) -> f64 {
        self.fired
            .iter()
            .zip(&pack.symbols)
            .filter(|(f, _)| **f)
            .map(|(_, s)| s.score)
            .sum()
    }

    /// True when `expr` (a meta-rule expression from pack data) holds.
    pub fn holds(&self, expr: &Expr) -> bool {
        expr.eval(&|i| self.has(i)) != 0.0
    }
}

impl Findings {
    /// Findings for a pack with `symbols` symbols.
    pub fn new(symbols: usize) -> Self {
        Findings {
            fired: vec![None; symbols],
            unknown: Vec::new(),
            reply: None,
            alerts: Vec::new(),
            score_action_cap: None,
        }
    }

    /// The findings so far with the pack's meta rules evaluated, for a
    /// check that acts on the message's judgement so far (the outbound
    /// check reads the content score and the pack's credential-phishing
    /// expression this way, as data, never by symbol name). The findings
    /// themselves are unchanged; [`crate::verdict::finish`] evaluates the
    /// meta rules for real at the end.
    pub fn preview(&self, pack: &RulePack) -> Preview {
        let mut fired: Vec<bool> = (0..pack.symbols.len()).map(|i| self.has_index(i)).collect();
        for meta in &pack.metas {
            if !fired[meta.symbol] && meta.expr.eval(&|i| fired.get(i).copied().unwrap_or(false)) != 0.0 {
                fired[meta.symbol] = true;
            }
        }
        Preview { fired }
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

/// A filter over a minimal pack that scores every code symbol, for the
/// checks' own tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::dns::Offline;
    use crate::{Envelope, Filter, ResolverEnv, Settings, Verdict};

    /// Runs `raw` through every check with `protected` as the protected
    /// domains; returns the verdict without the authentication checks'
    /// symbols (an offline resolver makes those fire on every message, and
    /// they have their own tests).
    pub fn run(protected: &[&str], raw: &str) -> Verdict {
        run_with_rules("", protected, raw, 0)
    }

    /// As [`run`], with `rules` (pack TOML) added to the minimal pack and
    /// the clock at `now` (seconds since the epoch; 0: unknown).
    pub fn run_with_rules(rules: &str, protected: &[&str], raw: &str, now: u64) -> Verdict {
        run_configured(rules, protected, &[], &Envelope::default(), raw, now)
    }

    /// As [`run`], for a message that arrived with `envelope`.
    pub fn run_in(envelope: &Envelope, protected: &[&str], raw: &str) -> Verdict {
        run_configured("", protected, &[], envelope, raw, 0)
    }

    /// As [`run`], with pack `options` set in the settings.
    pub fn run_with_options(options: &[(&str, &str)], raw: &str) -> Verdict {
        run_configured("", &[], options, &Envelope::default(), raw, 0)
    }

    /// The test pack configured with `options`: the error `configure`
    /// gives, if any.
    pub fn configure_with_options(options: &[(&str, &str)]) -> Result<(), String> {
        filter("")
            .configure(&settings(&[], options))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn filter(rules: &str) -> Filter {
        let mut pack = String::from(
            "[pack]\nname = \"t\"\nversion = \"1.0.0\"\n[actions]\nadd-header = 5\nquarantine = 8\nreject = 12\n\
             [lists]\nfreemail = [\"gmail.com\", \"outlook.com\"]\nurl-shorteners = [\"bit.ly\"]\n\
             freemail-relays = [\"yahoo.com aol.com\", \"gmail.com google.com\"]\n\
             executable-extensions = [\"exe\", \"js\", \"scr\"]\n\
             macro-extensions = [\"docm\", \"xlsm\"]\n\
             decoy-extensions = [\"doc\", \"jpg\", \"pdf\"]\n\
             [options]\nok-scripts = \"all\"\nok-languages = \"all\"\nok-attachments = \"\"\n",
        );
        for s in super::code_symbols() {
            pack.push_str(&format!("[symbols.{s}]\nscore = 1\ndescription = \"d\"\n"));
        }
        pack.push_str(rules);
        Filter::from_sources(&[("t.toml", &pack)]).expect("test pack compiles")
    }

    fn settings(protected: &[&str], options: &[(&str, &str)]) -> Settings {
        Settings {
            protected_domains: protected.iter().map(|s| s.to_string()).collect(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Settings::default()
        }
    }

    fn run_configured(
        rules: &str,
        protected: &[&str],
        options: &[(&str, &str)],
        envelope: &Envelope,
        raw: &str,
        now: u64,
    ) -> Verdict {
        let mut f = filter(rules);
        f.configure(&settings(protected, options)).expect("test settings");
        let env = ResolverEnv::new(&Offline, now, 10);
        let mut v = f.check(&env, envelope, raw.as_bytes());
        let auth: Vec<&str> = [
            super::dkim::SYMBOLS,
            super::arc::SYMBOLS,
            super::spf::SYMBOLS,
            super::senderid::SYMBOLS,
            super::dmarc::SYMBOLS,
            super::compauth::SYMBOLS,
        ]
        .concat();
        v.symbols.retain(|s| !auth.contains(&s.name.as_str()));
        v
    }
}
