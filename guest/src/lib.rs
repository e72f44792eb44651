//! The mailward rule pack as a WebAssembly component.
//!
//! Tiny glue: `wit_bindgen::generate!` from `wit/`, conversions between the
//! WIT types and `mailward-core`'s, and an [`Env`] that forwards DNS, clock
//! log and state to the host's imports. All filtering logic lives in
//! `mailward-core`; all rule data in `mailward-rules`.
//!
//! Start-up work (compiling the pack's regexes, reading its models) runs in
//! `configure`. The host snapshots the instance after `configure`
//! (pre-initialisation), so every per-message instance starts from that
//! ready state instead of repeating the work.

#[cfg(target_arch = "wasm32")]
mod arena;
mod convert;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: arena::MessageArena = arena::MessageArena::new();

/// Arena pages made part of the snapshot (most messages need less).
#[cfg(target_arch = "wasm32")]
const ARENA_RESERVE: usize = 4 << 20;

use mailward_core::dns::{Answer, Query};
use mailward_core::state::{CounterUpdate, Restriction, StateError};
use mailward_core::{Env, Filter, Level};
use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../wit",
    world: "pack",
});

use exports::mailward::filter::filter::Guest;
use mailward::filter::types as wit;

thread_local! {
    /// The configured filter; `None` until `configure` or the first use.
    static FILTER: RefCell<Option<Filter>> = const { RefCell::new(None) };
}

/// Runs `f` with the filter, compiling the default pack on first use.
fn with_filter<R>(f: impl FnOnce(&mut Filter) -> R) -> Result<R, String> {
    FILTER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let filter = mailward_rules::default_filter().map_err(|e| e.to_string())?;
            *slot = Some(filter);
        }
        Ok(f(slot.as_mut().expect("filter initialised above")))
    })
}

/// The host, as the filter core sees it.
struct HostEnv;

impl Env for HostEnv {
    fn lookup(&self, query: &Query) -> Answer {
        convert::answer(mailward::filter::dns::lookup(&convert::query(query)))
    }

    fn lookup_batch(&self, queries: &[Query]) -> Vec<Answer> {
        let qs: Vec<_> = queries.iter().map(convert::query).collect();
        let answers = mailward::filter::dns::lookup_batch(&qs);
        let mut out: Vec<Answer> = answers.into_iter().map(convert::answer).collect();
        // A host that answers fewer questions than asked is treated as
        // having failed the rest.
        out.resize(queries.len(), Err(mailward_core::dns::DnsError::ServFail));
        out
    }

    fn now(&self) -> u64 {
        mailward::filter::clock::now()
    }

    fn log(&self, level: Level, message: &str) {
        use mailward::filter::log::Level as L;
        let level = match level {
            Level::Debug => L::Debug,
            Level::Info => L::Info,
            Level::Warn => L::Warn,
            Level::Error => L::Error,
        };
        mailward::filter::log::write(level, message);
    }

    fn counters(&self, updates: &[CounterUpdate]) -> Result<Vec<u64>, StateError> {
        let ups: Vec<_> = updates.iter().map(convert::counter_update).collect();
        mailward::filter::state::counters(&ups).map_err(convert::state_error)
    }

    fn seen(&self, set: &str, members: &[String], ttl: u32) -> Result<Vec<bool>, StateError> {
        mailward::filter::state::seen(set, members, ttl).map_err(convert::state_error)
    }

    fn remember(&self, key: &str, value: &str, ttl: u32) -> Result<(), StateError> {
        mailward::filter::state::remember(key, value, ttl).map_err(convert::state_error)
    }

    fn recall(&self, keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
        mailward::filter::state::recall(keys).map_err(convert::state_error)
    }

    fn restrict(&self, user: &str, r: &Restriction) -> Result<(), StateError> {
        mailward::filter::state::restrict(user, &convert::restriction_to_wit(r)).map_err(convert::state_error)
    }

    fn restrictions(&self, user: &str) -> Result<Vec<Restriction>, StateError> {
        mailward::filter::state::restrictions(user)
            .map(|rs| rs.into_iter().map(convert::restriction_from_wit).collect())
            .map_err(convert::state_error)
    }
}

struct Pack;

impl Guest for Pack {
    fn info() -> wit::RulePackInfo {
        match with_filter(|f| convert::info(f.info())) {
            Ok(info) => info,
            Err(e) => wit::RulePackInfo {
                name: "mailward-default".into(),
                version: "0.0.0".into(),
                contract: mailward_core::pack::CONTRACT_VERSION.into(),
                description: format!("broken pack: {e}"),
            },
        }
    }

    fn configure(settings: wit::Settings) -> Result<(), String> {
        let settings = convert::settings(settings);
        with_filter(|f| {
            f.configure(&settings)?;
            f.warm_up(mailward_rules::WARMUP);
            // From here on (and in every instance of the snapshot taken
            // after configure) allocations go to the per-message arena,
            // including the host's copies of `check`'s arguments.
            #[cfg(target_arch = "wasm32")]
            {
                ALLOCATOR.reserve(ARENA_RESERVE);
                ALLOCATOR.enable();
            }
            Ok(())
        })?
    }

    fn check(envelope: wit::Envelope, message: Vec<u8>) -> wit::Verdict {
        #[cfg(target_arch = "wasm32")]
        ALLOCATOR.enable();
        let envelope = convert::envelope(envelope);
        let verdict = with_filter(|f| f.check(&HostEnv, &envelope, &message));
        match verdict {
            Ok(v) => convert::verdict(v),
            Err(e) => convert::broken_pack_verdict(&e),
        }
    }
}

export!(Pack);
