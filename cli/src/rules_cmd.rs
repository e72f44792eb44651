//! `mailward rules`: the active rule pack of a state directory.
//!
//! The commands work on the pack store (state directory) a mailward daemon
//! runs from (`[rules] state-dir` or `--state-dir`). `load` and `rollback`
//! run the whole lifecycle pipeline in this process — signature, compile
//! (filling the compile cache the daemon shares), contract, configure,
//! self-test — and record the outcome; a running daemon (or `mailward rules
//! watch`) follows `state.json` and swaps to what it names. Without a
//! daemon, the next start runs it.

use crate::PackArgs;
use crate::config::FileConfig;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mailward_host::pack_store::StoreState;
use mailward_host::{FailPolicy, PackCandidate, PackManager, PackStore, SwapReport, WatchConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand)]
pub enum RulesCmd {
    /// Validate a pack (signature, compile, contract, configure, self-test)
    /// and make it the active pack of the state directory.
    Load {
        /// The pack (its signature is PACK.wasm.sig).
        pack: PathBuf,
        #[command(flatten)]
        args: RulesArgs,
    },
    /// Make the previous pack active again.
    Rollback {
        #[command(flatten)]
        args: RulesArgs,
    },
    /// Show the active and previous packs and recent events.
    Status {
        #[command(flatten)]
        args: RulesArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the pack lifecycle in the foreground: load packs dropped into
    /// the watched directory, follow `state.json`, rescan on SIGHUP, print
    /// one line per event; SIGINT/SIGTERM stop it.
    Watch {
        #[command(flatten)]
        args: RulesArgs,
        /// Directory to watch for new `.wasm` packs (default `[rules] watch-dir`).
        #[arg(long, value_name = "DIR")]
        watch_dir: Option<PathBuf>,
        /// How often to look, in milliseconds (default `[rules] watch-interval-ms`, 1000).
        #[arg(long, value_name = "MS")]
        interval_ms: Option<u64>,
    },
}

/// Which state directory, configuration and compile cache.
#[derive(Args, Clone)]
pub struct RulesArgs {
    /// The state directory (default `[rules] state-dir`).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Deployment settings (keys, self-test, limits, policy).
    #[arg(long, value_name = "mailward.toml")]
    config: Option<PathBuf>,
    /// Compile cache directory.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not use the compile cache.
    #[arg(long)]
    no_cache: bool,
    /// Trust this public key (file or `ed25519:BASE64`; repeatable).
    #[arg(long = "trusted-key", value_name = "KEY")]
    trusted_keys: Vec<String>,
}

impl RulesArgs {
    fn pack_args(&self) -> PackArgs {
        PackArgs {
            rules: None,
            config: self.config.clone(),
            dns_zone: None,
            offline: true,
            now: None,
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
            state_dir: self.state_dir.clone(),
            trusted_keys: self.trusted_keys.clone(),
            // Validating a pack must not touch the deployment's counters
            // and restrictions.
            state: Some("memory".into()),
            options: Vec::new(),
        }
    }

    fn open(&self) -> Result<(FileConfig, PackStore)> {
        let pa = self.pack_args();
        let file = pa.file()?;
        let dir = pa
            .state_dir(&file)
            .context("no state directory: give --state-dir or set [rules] state-dir")?;
        let store = PackStore::open(&dir).map_err(anyhow::Error::msg)?;
        Ok((file, store))
    }

    /// A manager started as a daemon would start: with the store's active
    /// pack (or the built-in one, recorded as active when the store is
    /// empty), so a load or rollback here changes what the daemon runs.
    fn manager(&self) -> Result<(PackManager, FileConfig)> {
        let (file, store) = self.open()?;
        let pa = self.pack_args();
        let m = PackManager::start(
            pa.engine(&file)?,
            pa.services(&file)?,
            file.manager_config(&self.trusted_keys)?,
            Some(store),
        )?;
        Ok((m, file))
    }
}

pub fn run(cmd: RulesCmd) -> Result<ExitCode> {
    match cmd {
        RulesCmd::Load { pack, args } => {
            let (m, _) = args.manager()?;
            let report = m
                .load(PackCandidate::from_file(&pack)?)
                .with_context(|| format!("refused {}", pack.display()))?;
            print_swap("loaded", &report);
            Ok(ExitCode::SUCCESS)
        }
        RulesCmd::Rollback { args } => {
            let (m, _) = args.manager()?;
            let report = m.rollback().context("rollback")?;
            print_swap("rolled back to", &report);
            Ok(ExitCode::SUCCESS)
        }
        RulesCmd::Status { args, json } => {
            let (file, store) = args.open()?;
            let state = store.read().map_err(anyhow::Error::msg)?;
            if json {
                let mut v = serde_json::to_value(&state)?;
                v["state_dir"] = serde_json::json!(store.dir());
                v["fail_policy"] = serde_json::json!(file.fail_policy()?.as_str());
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_status(&store, &state, file.fail_policy()?);
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCmd::Watch {
            args,
            watch_dir,
            interval_ms,
        } => watch(args, watch_dir, interval_ms),
    }
}

fn print_swap(what: &str, r: &SwapReport) {
    let a = &r.activated;
    let how = match r.readiness {
        Some(mailward_host::Readiness::Compiled) => "compiled",
        Some(mailward_host::Readiness::Cached) => "from the compile cache",
        Some(mailward_host::Readiness::ConfigurePerInstance) => "configured per instance",
        None => "already loaded",
    };
    println!(
        "{what} {} {} ({}; {}; {} self-test cases; {:.0} ms)",
        a.name,
        a.version,
        a.trust,
        how,
        a.self_test_cases.unwrap_or(0),
        r.timings.total.as_secs_f64() * 1e3
    );
    if let Some(old) = &r.replaced {
        println!("previous {} {}", old.name, old.version);
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time.
fn utc(t: u64) -> String {
    let (y, m, d, secs) = mailward_core::checks::outbound::util::civil_utc(t);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn print_status(store: &PackStore, state: &StoreState, policy: FailPolicy) {
    println!("state:     {}", store.dir().display());
    println!("policy:    {policy}");
    match &state.active {
        Some(a) => println!(
            "active:    {} {}  sha256 {:.16}  from {}  since {}",
            a.name,
            a.version,
            a.sha256,
            a.origin,
            utc(a.at)
        ),
        None => println!("active:    none recorded (a daemon starts with the built-in pack)"),
    }
    for (i, p) in state.previous.iter().rev().enumerate() {
        println!(
            "{}{} {}  sha256 {:.16}  from {}",
            if i == 0 { "previous:  " } else { "           " },
            p.name,
            p.version,
            p.sha256,
            p.origin
        );
    }
    for (i, r) in state.rejected.iter().rev().take(5).enumerate() {
        println!(
            "{}sha256 {:.16}  from {}: {}",
            if i == 0 { "rejected:  " } else { "           " },
            r.sha256,
            r.origin,
            r.reason.as_deref().unwrap_or("")
        );
    }
    if !state.events.is_empty() {
        println!("events:");
        for e in state.events.iter().rev().take(10).rev() {
            println!("  {}  {e}", utc(e.at));
        }
    }
}

fn watch(args: RulesArgs, watch_dir: Option<PathBuf>, interval_ms: Option<u64>) -> Result<ExitCode> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (file, store) = args.open()?;
    let pa = args.pack_args();
    let services = pa.services(&file)?;
    let config = file.manager_config(&args.trusted_keys)?;
    let dir = store.dir().display().to_string();
    let mut signals =
        signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM]).context("signal handlers")?;
    let m = PackManager::start(pa.engine(&file)?, services, config, Some(store))?;
    m.on_event(|e| println!("{e}"));
    let watch_dir = watch_dir.or(file.rules.watch_dir.clone());
    let interval = interval_ms.map_or(file.watch_interval(), Duration::from_millis);
    let watcher = m.watch(WatchConfig {
        dir: watch_dir.clone(),
        interval,
        follow_store: true,
    })?;
    let active = m
        .active()
        .map(|a| a.pack().label().to_string())
        .unwrap_or_default();
    println!(
        "ready: {active} active; state {dir}; watching {}",
        watch_dir
            .as_ref()
            .map_or("no directory".into(), |d| d.display().to_string())
    );
    for sig in signals.forever() {
        match sig {
            SIGHUP => {
                println!("SIGHUP: rescanning");
                watcher.poke();
            }
            _ => break,
        }
    }
    drop(watcher);
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_795_651_200), "2026-11-26 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
    }
}
