//! `mailward users`: the users the outbound policy restricted.

use crate::config::FileConfig;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use mailward_core::state::RestrictionKind;
use mailward_host::{Clock, SystemClock};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
    /// Deployment settings (for `[state]`).
    #[arg(long, value_name = "mailward.toml", global = true)]
    config: Option<PathBuf>,
    /// The state store (see `check --state`).
    #[arg(long, value_name = "SPEC", global = true)]
    state: Option<String>,
    /// Pretend the time is this (Unix seconds): which restrictions are in
    /// force.
    #[arg(long, value_name = "UNIX", global = true)]
    now: Option<u64>,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// List restricted users (blocked, or flagged as possibly compromised).
    List {
        /// One JSON object per user.
        #[arg(long)]
        json: bool,
    },
    /// Lift a user's restrictions (all, or one kind).
    Release {
        /// The user, as `users list` shows it.
        user: String,
        /// Only this kind: `block` (sending refused) or `suspect` (flagged
        /// as possibly compromised).
        #[arg(long, value_enum)]
        kind: Option<Kind>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Block,
    Suspect,
}

pub fn run(a: UsersArgs) -> Result<ExitCode> {
    let file = match &a.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let spec = file.state_spec(a.state.as_deref())?;
    let store = spec
        .open()
        .with_context(|| format!("opening the state store {spec}"))?;
    let now = a.now.unwrap_or_else(|| SystemClock.now());
    match a.command {
        UsersCommand::List { json } => {
            let users = store.restricted_users(now)?;
            for u in &users {
                if json {
                    println!("{}", serde_json::to_string(u)?);
                    continue;
                }
                for r in &u.restrictions {
                    let until = match (r.kind, r.until) {
                        (_, Some(t)) => {
                            format!("until {}", mailward_core::checks::outbound::util::format_utc(t))
                        }
                        (RestrictionKind::Block, None) => "until released".to_string(),
                        (RestrictionKind::Suspect, None) => "until cleared".to_string(),
                    };
                    println!(
                        "{}\t{}\t{}\tsince {}\t{}",
                        u.user,
                        r.kind,
                        until,
                        mailward_core::checks::outbound::util::format_utc(r.since),
                        r.reason
                    );
                }
            }
            if !json {
                eprintln!("{} restricted users ({spec})", users.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::Release { user, kind } => {
            let kind = kind.map(|k| match k {
                Kind::Block => RestrictionKind::Block,
                Kind::Suspect => RestrictionKind::Suspect,
            });
            // The same normalisation the pack applies to its state keys.
            let user = mailward_core::checks::outbound::util::key_part(
                &mailward_core::checks::outbound::util::normalise_address(&user),
            );
            if store.release(&user, kind)? {
                println!("released {user}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("mailward: {user} has no such restriction");
                Ok(ExitCode::from(1))
            }
        }
    }
}
