//! mailward's filter core.
//!
//! Pure Rust with no I/O: everything from outside (DNS, clock, log, state) comes
//! through [`Env`]. The same code runs inside the WebAssembly rule pack
//! (`mailward-guest`) and natively (tests, benchmarks, fuzzing).
//!
//! ```text
//!   raw bytes ──► Message::parse ──► checks::* ──► Findings ──► verdict::finish ──► Verdict
//!                                       │  emit symbols          │ meta rules, scores,
//!                                       └─ Env (dns, clock, log) │ thresholds from the RulePack
//! ```

pub mod checks;
pub mod config;
pub mod dns;
pub mod domain;
pub mod env;
mod filter;
pub mod message;
pub mod pack;
pub mod state;
pub mod types;
pub mod verdict;

pub use env::{Env, Level, ResolverEnv};
pub use filter::Filter;
pub use pack::{PackError, RulePack};
pub use state::{CounterUpdate, Restriction, RestrictionKind, State, StateError};
pub use types::{
    Action, Alert, AlertKind, AlertSeverity, Direction, Envelope, Header, PackInfo, Settings, SmtpReply,
    Symbol, Thresholds, Verdict,
};
