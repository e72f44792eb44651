//! `mailward`: check mail with a sandboxed rule pack.
//!
//! Exit codes of `check` (the verdict's action):
//! 0 accept, 10 add-header, 11 quarantine, 12 reject, 13 tempfail.
//! Every command: 1 error (unreadable input, bad configuration, a pack that
//! does not load), 2 usage error, 3 the sandbox failed on a message (trap,
//! time or memory limit; `scan` and `check`; the verdict printed is the fail
//! policy's).

mod bench;
mod config;
mod output;
mod pack_cmd;
mod replay;
mod rules_cmd;
mod serve_cmd;
mod users;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use config::FileConfig;
use mailward_core::dns::Resolver;
use mailward_core::{Action, Direction, Envelope, Settings};
use mailward_host::{
    AlertSink, Clock, DnsConfig, Engine, EngineConfig, FailPolicy, HickoryResolver, ManualClock,
    PackCandidate, PackManager, PackStore, Sandbox, Services, StateStore, SystemClock, ZoneResolver,
};
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code when the sandbox failed on a message.
pub(crate) const EXIT_SANDBOX_FAILURE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "mailward",
    version,
    about = "Sandboxed mail filter against spoof-and-compromise attacks"
)]
struct Cli {
    /// More log output (-v info, -vv debug); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check one message and print the verdict.
    Check(CheckArgs),
    /// Check many messages (files, directories, mbox files).
    Scan(ScanArgs),
    /// Measure throughput: the sandboxed pack against the same core built natively.
    Bench(bench::BenchArgs),
    /// Show the rule pack's name, version and contract.
    Info(PackArgs),
    /// List or release users restricted by the outbound policy.
    Users(users::UsersArgs),
    /// Replay a log of submissions in virtual time and summarise what the
    /// outbound policy did (restrictions, alerts, deliveries).
    Replay(replay::ReplayArgs),
    /// Sign, verify and prepare rule pack files (keygen, sign, verify, embed-selftest).
    #[command(subcommand)]
    Pack(pack_cmd::PackCmd),
    /// Manage the active rule pack in a state directory (load, rollback, status, watch).
    #[command(subcommand)]
    Rules(rules_cmd::RulesCmd),
    /// Run the gateway daemon: milter (Postfix) and rspamd-compatible HTTP,
    /// configured by mailward.toml's [serve]; SIGHUP rescans the packs,
    /// SIGTERM/SIGINT stop it gracefully.
    Serve(serve_cmd::ServeArgs),
    /// Load-test the daemon on loopback: concurrent milter sessions and
    /// HTTP clients for a fixed time, with a pack swap in the middle.
    BenchServe(serve_cmd::BenchServeArgs),
}

/// Which pack, with which deployment settings and services.
#[derive(Args, Clone)]
struct PackArgs {
    /// Rule pack component (.wasm); default: the built-in pack.
    #[arg(long, value_name = "PACK.wasm")]
    rules: Option<PathBuf>,
    /// Deployment settings (TOML, see README).
    #[arg(long, value_name = "mailward.toml")]
    config: Option<PathBuf>,
    /// Answer DNS from this zone file only (OpenSPF `zonedata` YAML).
    #[arg(long, value_name = "ZONE.yml", conflicts_with = "offline")]
    dns_zone: Option<PathBuf>,
    /// No DNS at all: every lookup fails as a timeout, so only local
    /// checks decide (for corpora whose DNS no longer exists).
    #[arg(long)]
    offline: bool,
    /// Pretend the time is this (Unix seconds).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// Compile cache directory (default: `[rules] cache-dir`, else
    /// $MAILWARD_CACHE_DIR, $XDG_CACHE_HOME/mailward, ~/.cache/mailward).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not use the on-disk compile cache.
    #[arg(long)]
    no_cache: bool,
    /// State across messages: `embedded` (default file), `embedded:PATH`,
    /// `memory` or `redis://HOST:PORT[/DB]` (default: `[state]`).
    #[arg(long, value_name = "SPEC")]
    state: Option<String>,
    /// A pack option, overriding `[policy.options]` (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Run the pack recorded as active in this state directory (see
    /// `mailward rules`); default: `[rules] state-dir`.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Trust this public key (file or `ed25519:BASE64`) to sign packs, in
    /// addition to `[rules] trusted-keys` (repeatable).
    #[arg(long = "trusted-key", value_name = "KEY")]
    trusted_keys: Vec<String>,
}

/// The SMTP envelope.
#[derive(Args, Clone, Default)]
struct EnvelopeArgs {
    /// Connecting client IP.
    #[arg(long)]
    ip: Option<IpAddr>,
    /// HELO/EHLO name.
    #[arg(long)]
    helo: Option<String>,
    /// MAIL FROM address (`<>` or "" for the null sender); default: the
    /// message's Return-Path.
    #[arg(long, value_name = "ADDR")]
    mail_from: Option<String>,
    /// RCPT TO address (repeatable).
    #[arg(long = "rcpt", value_name = "ADDR")]
    rcpt: Vec<String>,
    /// Authenticated (SASL) user; makes the message outbound.
    #[arg(long, value_name = "USER")]
    auth_user: Option<String>,
}

#[derive(Args)]
struct CheckArgs {
    /// The message (`-` or nothing: standard input).
    file: Option<PathBuf>,
    #[command(flatten)]
    envelope: EnvelopeArgs,
    #[command(flatten)]
    pack: PackArgs,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ScanArgs {
    /// Files, directories (walked recursively) and mbox files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    envelope: EnvelopeArgs,
    #[command(flatten)]
    pack: PackArgs,
    /// One JSON line per message on stdout.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: one per CPU).
    #[arg(long, short)]
    jobs: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    let filter = match cli.verbose {
        0 if serving => "info",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAILWARD_LOG").unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Check(a) => check(a),
        Command::Scan(a) => scan(a),
        Command::Bench(a) => bench::run(a).map(|()| ExitCode::SUCCESS),
        Command::Info(a) => info(a),
        Command::Users(a) => users::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Pack(c) => pack_cmd::run(c),
        Command::Rules(c) => rules_cmd::run(c),
        Command::Serve(a) => serve_cmd::serve(a),
        Command::BenchServe(a) => serve_cmd::bench_serve(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailward: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Everything a command needs to run the pack.
struct Setup {
    sandbox: Sandbox,
    manager: PackManager,
    settings: Settings,
    resolver: Arc<dyn Resolver>,
    state: Arc<dyn StateStore>,
    alerts: Arc<AlertSink>,
    policy: FailPolicy,
}

impl Setup {
    /// Waits for queued webhook alerts and saves state before the command
    /// exits.
    fn finish(&self) {
        if !self.alerts.flush(std::time::Duration::from_secs(30)) {
            eprintln!("mailward: warning: some webhook alerts were not delivered in time");
        }
        if let Err(e) = self.state.flush() {
            eprintln!("mailward: warning: saving state: {e}");
        }
    }
}

impl PackArgs {
    /// The configuration file (or the defaults), with `--option`s applied.
    fn file(&self) -> Result<FileConfig> {
        let mut file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        for kv in &self.options {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--option {kv:?}: expected KEY=VALUE"))?;
            file.policy.options.retain(|(key, _)| key != k.trim());
            file.policy
                .options
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(file)
    }

    /// The state directory, from the flag or the file.
    fn state_dir(&self, file: &FileConfig) -> Option<PathBuf> {
        self.state_dir.clone().or(file.rules.state_dir.clone())
    }

    /// The configured services: resolver, clock, state store and alerts.
    fn services(&self, file: &FileConfig) -> Result<Services> {
        self.services_with(file, None, None)
    }

    /// The services with a given clock and state store instead of the
    /// configured ones.
    fn services_with(
        &self,
        file: &FileConfig,
        clock: Option<Arc<dyn Clock>>,
        state: Option<Arc<dyn StateStore>>,
    ) -> Result<Services> {
        let zone = self.dns_zone.clone().or(file.dns.zone.clone());
        let resolver: Arc<dyn Resolver> = match zone {
            _ if self.offline => Arc::new(mailward_core::dns::Offline),
            Some(z) => {
                let text = std::fs::read_to_string(&z).with_context(|| format!("reading {}", z.display()))?;
                Arc::new(ZoneResolver::from_yaml(&text).with_context(|| format!("parsing {}", z.display()))?)
            }
            None => {
                let mut dns = DnsConfig {
                    servers: file.dns.servers.clone(),
                    ..DnsConfig::default()
                };
                if let Some(ms) = file.dns.timeout_ms {
                    dns.timeout = std::time::Duration::from_millis(ms);
                }
                if let Some(a) = file.dns.attempts {
                    dns.attempts = a;
                }
                Arc::new(HickoryResolver::new(&dns).map_err(anyhow::Error::msg)?)
            }
        };
        let clock: Arc<dyn Clock> = match (clock, self.now) {
            (Some(c), _) => c,
            (None, Some(t)) => Arc::new(ManualClock::new(t)),
            (None, None) => Arc::new(SystemClock),
        };
        let state = match state {
            Some(s) => s,
            None => {
                let spec = file.state_spec(self.state.as_deref())?;
                spec.open()
                    .with_context(|| format!("opening the state store {spec}"))?
            }
        };
        let alerts = Arc::new(file.alert_sink()?);
        Ok(Services::new(resolver, clock, state).with_alerts(alerts))
    }

    fn engine(&self, file: &FileConfig) -> Result<Arc<Engine>> {
        let mut engine = EngineConfig::default();
        if let Some(d) = self.cache_dir.as_ref().or(file.rules.cache_dir.as_ref()) {
            engine.cache_dir = Some(d.clone());
        }
        if self.no_cache {
            engine.cache_dir = None;
        }
        engine.max_memory_bytes = file.limits().max_memory_bytes;
        Ok(Arc::new(Engine::new(engine)?))
    }

    /// A pack manager with this deployment's configuration and `store`.
    fn manager(&self, file: &FileConfig, store: Option<PackStore>) -> Result<PackManager> {
        let services = self.services(file)?;
        self.manager_with(file, store, services)
    }

    fn manager_with(
        &self,
        file: &FileConfig,
        store: Option<PackStore>,
        services: Services,
    ) -> Result<PackManager> {
        let config = file.manager_config(&self.trusted_keys)?;
        Ok(PackManager::new(self.engine(file)?, services, config, store))
    }

    fn setup(&self) -> Result<Setup> {
        self.setup_with(None, None)
    }

    /// Loads the pack through the whole lifecycle pipeline (signature when
    /// keys are configured, compile or cache, contract, configure,
    /// self-test): `--rules`, else the state directory's active pack, else
    /// `[rules] path`, else the built-in pack. `clock` and `state` replace
    /// the configured ones when given.
    fn setup_with(&self, clock: Option<Arc<dyn Clock>>, state: Option<Arc<dyn StateStore>>) -> Result<Setup> {
        let file = self.file()?;
        let services = self.services_with(&file, clock, state)?;
        let manager = self.manager_with(&file, None, services.clone())?;
        let (candidate, what) = if let Some(p) = &self.rules {
            (PackCandidate::from_file(p)?, p.display().to_string())
        } else if let Some(dir) = self.state_dir(&file) {
            let store = PackStore::open(&dir).map_err(anyhow::Error::msg)?;
            let state = store.read().map_err(anyhow::Error::msg)?;
            match state.active {
                Some(e) if e.origin != mailward_host::Origin::BuiltIn => {
                    let mut c = PackCandidate::from_file(&store.pack_path(&e.sha256))?;
                    c.origin = e.origin.clone();
                    (c, format!("{} (active in {})", e.label(), dir.display()))
                }
                _ => (
                    PackCandidate::built_in(mailward_pack::DEFAULT_PACK),
                    "(built-in)".into(),
                ),
            }
        } else if let Some(p) = &file.rules.path {
            (PackCandidate::from_file(p)?, p.display().to_string())
        } else {
            (
                PackCandidate::built_in(mailward_pack::DEFAULT_PACK),
                "(built-in)".into(),
            )
        };
        manager
            .load(candidate)
            .with_context(|| format!("loading rule pack {what}"))?;
        let active = manager.active().context("no pack is active")?;
        Ok(Setup {
            sandbox: active.sandbox().clone(),
            resolver: services.resolver.clone(),
            state: services.state.clone(),
            alerts: services.alerts.clone(),
            policy: manager.config().fail_policy,
            manager,
            settings: file.policy,
        })
    }
}

impl EnvelopeArgs {
    /// The envelope for `message`: flags first, then what the message says.
    fn envelope(&self, message: &[u8]) -> Envelope {
        let msg = mailward_core::message::Message::parse(message);
        let mail_from = match &self.mail_from {
            Some(m) => m.trim_matches(['<', '>']).to_string(),
            None => msg
                .header_text("Return-Path")
                .map(|r| r.trim().trim_matches(['<', '>']).to_string())
                .unwrap_or_default(),
        };
        Envelope {
            client_ip: self.ip,
            helo: self.helo.clone(),
            mail_from,
            rcpt_to: self.rcpt.clone(),
            auth_user: self.auth_user.clone(),
            direction: if self.auth_user.is_some() {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            queue_id: None,
        }
    }
}

fn exit_for(action: Action) -> ExitCode {
    ExitCode::from(match action {
        Action::Accept => 0,
        Action::AddHeader => 10,
        Action::Quarantine => 11,
        Action::Reject => 12,
        Action::Tempfail => 13,
    })
}

fn check(a: CheckArgs) -> Result<ExitCode> {
    let message = match a.file.as_deref() {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
    };
    let message = mailward_corpus::messages_in(std::path::Path::new("-"), message)
        .into_iter()
        .next()
        .map(|i| i.bytes)
        .unwrap_or_default();
    let setup = a.pack.setup()?;
    let envelope = a.envelope.envelope(&message);
    let d = setup.sandbox.decide(&envelope, &message, setup.policy);
    setup.finish();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d.verdict)?);
    } else {
        print!("{}", output::human(&d.verdict));
    }
    match d.failure {
        None => Ok(exit_for(d.verdict.action)),
        Some(e) => {
            eprintln!(
                "mailward: the sandbox failed on this message: {e} (fail policy {})",
                setup.policy
            );
            Ok(ExitCode::from(EXIT_SANDBOX_FAILURE))
        }
    }
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    Ok(buf)
}

fn info(a: PackArgs) -> Result<ExitCode> {
    let setup = a.setup()?;
    let p = setup.sandbox.pack();
    println!("name:      {}", p.info.name);
    println!("version:   {}", p.info.version);
    println!("contract:  {}", p.info.contract);
    println!("about:     {}", p.info.description);
    println!("sha256:    {}", p.sha256);
    if let Some(a) = setup.manager.active() {
        println!("trust:     {}", a.trust);
        println!("self-test: {} cases passed", a.self_test.ran);
    }
    println!(
        "readiness: {:?} in {:.1} ms",
        p.readiness,
        p.load_time.as_secs_f64() * 1e3
    );
    println!(
        "memory:    {:.1} MiB at instantiation",
        p.initial_memory as f64 / 1048576.0
    );
    Ok(ExitCode::SUCCESS)
}

fn scan(a: ScanArgs) -> Result<ExitCode> {
    let files = mailward_corpus::files(&a.paths)?;
    if files.is_empty() {
        bail!("no files under {:?}", a.paths);
    }
    let setup = a.pack.setup()?;
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let summary = output::scan(&setup.sandbox, setup.policy, &a.envelope, &files, jobs, a.json)?;
    setup.finish();
    Ok(if summary.failures > 0 {
        ExitCode::from(EXIT_SANDBOX_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}
