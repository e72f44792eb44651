//! `mailward serve` (the daemon) and `mailward bench-serve` (the same
//! daemon on loopback under load from concurrent milter sessions and HTTP
//! clients, with a rule-pack swap in the middle).

use crate::PackArgs;
use crate::config::FileConfig;
use anyhow::{Context, Result, bail};
use clap::Args;
use mailward_core::{Direction, Envelope};
use mailward_host::{PackCandidate, PackManager, PackStore, Services, WatchConfig, Watcher};
use mailward_serve::Server;
use mailward_serve::load::{LoadConfig, LoadReport, SideReport};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pack: PackArgs,
    /// Milter listener (overrides `[serve] milter`), e.g. `127.0.0.1:11332`.
    #[arg(long, value_name = "ADDR")]
    milter: Option<String>,
    /// HTTP listener (overrides `[serve] http`), e.g. `127.0.0.1:11333`.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
}

#[derive(Args)]
pub struct BenchServeArgs {
    /// Messages to send (files, directories, mbox files), round-robin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    pack: PackArgs,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Concurrent milter sessions.
    #[arg(long, default_value_t = 100)]
    milter_sessions: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 100)]
    http_clients: usize,
    /// Swap to this pack in the middle of the run (through the admin API's
    /// code path: the whole lifecycle pipeline).
    #[arg(long, value_name = "PACK.wasm")]
    swap_with: Option<PathBuf>,
    /// When to start the swap, in seconds from the start (default: half
    /// of --seconds). A pack not in the compile cache is compiled while the
    /// load runs, which takes seconds on a busy machine.
    #[arg(long, value_name = "S")]
    swap_at: Option<f64>,
    /// Client IP of every message.
    #[arg(long, default_value = "192.0.2.10")]
    ip: IpAddr,
    /// Recipient of every message.
    #[arg(long, default_value = "user@example.com")]
    rcpt: String,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The daemon's pack manager: the state directory's recorded pack (with
/// the store followed), else `--rules` / `[rules] path`, else the built-in
/// pack; and the watcher when there is a store or a watched directory.
fn manager(pa: &PackArgs, file: &FileConfig, services: Services) -> Result<(PackManager, Option<Watcher>)> {
    let engine = pa.engine(file)?;
    let config = file.manager_config(&pa.trusted_keys)?;
    let store = match pa.state_dir(file) {
        Some(dir) => Some(PackStore::open(&dir).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let has_store = store.is_some();
    let rules = pa.rules.clone().or(file.rules.path.clone());
    let m = if has_store && pa.rules.is_none() {
        PackManager::start(engine, services, config, store)?
    } else {
        let m = PackManager::new(engine, services, config, store);
        let candidate = match &rules {
            Some(p) => PackCandidate::from_file(p)?,
            None => PackCandidate::built_in(mailward_pack::DEFAULT_PACK),
        };
        m.load(candidate).context("loading the rule pack")?;
        m
    };
    let watcher = if has_store || file.rules.watch_dir.is_some() {
        Some(m.watch(WatchConfig {
            dir: file.rules.watch_dir.clone(),
            interval: file.watch_interval(),
            follow_store: has_store,
        })?)
    } else {
        None
    };
    Ok((m, watcher))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mailward-serve")
        .build()
        .context("starting the async runtime")
}

pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    let file = a.pack.file()?;
    let config = file.serve_config(a.milter.as_deref(), a.http.as_deref())?;
    let services = a.pack.services(&file)?;
    let (alerts, state) = (services.alerts.clone(), services.state.clone());
    let (manager, watcher) = manager(&a.pack, &file, services)?;
    let rt = runtime()?;
    rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let server = Server::bind(config, manager.clone(), watcher).await?;
        let pack = manager
            .active()
            .map(|p| p.pack().label().to_string())
            .unwrap_or_else(|| "no pack".into());
        let show = |a: Option<std::net::SocketAddr>| a.map_or("off".to_string(), |a| a.to_string());
        // One line for supervisors and tests: where it listens.
        println!(
            "mailward serve: ready; pack {pack}; milter {}; http {}; fail policy {}",
            show(server.milter_addr()),
            show(server.http_addr()),
            manager.config().fail_policy
        );
        std::io::stdout().flush()?;
        let shared = server.shared().clone();
        let shutdown = async move {
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        tracing::info!(target: "mailward::serve", "SIGHUP: rescanning the rule packs");
                        if !shared.rescan() {
                            tracing::warn!(target: "mailward::serve", "SIGHUP: no state directory or watched directory to rescan");
                        }
                    }
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                }
            }
        };
        server.run(shutdown).await?;
        anyhow::Ok(())
    })?;
    if !alerts.flush(Duration::from_secs(30)) {
        eprintln!("mailward: warning: some webhook alerts were not delivered in time");
    }
    if let Err(e) = state.flush() {
        eprintln!("mailward: warning: saving state: {e}");
    }
    println!("mailward serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// CPU time this process has used (user + system).
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(u.ru_utime) + tv(u.ru_stime)
}

pub fn bench_serve(a: BenchServeArgs) -> Result<ExitCode> {
    let file = a.pack.file()?;
    let mut config = file.serve_config(Some("127.0.0.1:0"), Some("127.0.0.1:0"))?;
    config.max_connections = config.max_connections.max(a.milter_sessions + 8);
    let items = mailward_corpus::read_all(&a.paths)?;
    if items.is_empty() {
        bail!("no messages under the given paths");
    }
    let messages: Vec<(Envelope, Vec<u8>)> = items
        .into_iter()
        .enumerate()
        .map(|(i, it)| {
            let msg = mailward_core::message::Message::parse(&it.bytes);
            let mail_from = msg
                .header_text("Return-Path")
                .map(|r| r.trim().trim_matches(['<', '>']).to_string())
                .unwrap_or_default();
            let env = Envelope {
                client_ip: Some(a.ip),
                helo: Some("client.example".into()),
                mail_from,
                rcpt_to: vec![a.rcpt.clone()],
                auth_user: None,
                direction: Direction::Inbound,
                queue_id: Some(format!("Q{i:08X}")),
            };
            (env, it.bytes)
        })
        .collect();
    let second = match &a.swap_with {
        Some(p) => Some(PackCandidate::from_file(p)?),
        None => None,
    };
    let services = a.pack.services(&file)?;
    let (manager, watcher) = manager(&a.pack, &file, services)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = runtime()?;
    let (report, swap) = rt.block_on(async {
        let server = Server::bind(config, manager.clone(), watcher).await?;
        let load = LoadConfig {
            milter: server.milter_addr(),
            http: server.http_addr(),
            milter_sessions: a.milter_sessions,
            http_clients: a.http_clients,
            duration: Duration::from_secs(a.seconds),
            messages: Arc::new(messages),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async {
            let _ = stop_rx.await;
        }));
        let swapper = {
            let manager = manager.clone();
            let half = a
                .swap_at
                .map_or(Duration::from_secs(a.seconds) / 2, Duration::from_secs_f64);
            tokio::spawn(async move {
                let second = second?;
                tokio::time::sleep(half).await;
                let t = Instant::now();
                let r = tokio::task::spawn_blocking(move || manager.load(second)).await;
                Some((
                    t.elapsed(),
                    r.map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                ))
            })
        };
        let cpu0 = cpu_time();
        let report = mailward_serve::load::run(load).await;
        let cpu = cpu_time().saturating_sub(cpu0);
        let swap = swapper.await.ok().flatten();
        let _ = stop_tx.send(());
        running.await.context("server task")??;
        anyhow::Ok(((report, cpu), swap))
    })?;
    let (report, cpu) = report;
    print_report(&report, cpu, cores, &swap, a.milter_sessions, a.http_clients);
    if let Some(p) = &a.json {
        let side = |s: &SideReport| {
            serde_json::json!({
                "sent": s.sent, "answered": s.answered, "errors": s.errors, "lost": s.lost(),
                "p50_ms": s.quantile(0.5).as_secs_f64() * 1e3,
                "p99_ms": s.quantile(0.99).as_secs_f64() * 1e3,
                "msgs_per_s": s.answered as f64 / report.elapsed.as_secs_f64(),
                "actions": s.actions, "packs": s.packs, "error_samples": s.error_samples,
            })
        };
        let v = serde_json::json!({
            "seconds": report.elapsed.as_secs_f64(),
            "cpu_seconds": cpu.as_secs_f64(),
            "cores": cores,
            "milter": side(&report.milter),
            "http": side(&report.http),
            "swap": swap.as_ref().map(|(t, r)| serde_json::json!({
                "ms": t.as_secs_f64() * 1e3,
                "result": match r { Ok(rep) => format!("{} {}", rep.activated.name, rep.activated.version), Err(e) => format!("error: {e}") },
            })),
        });
        std::fs::write(p, serde_json::to_string_pretty(&v)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let bad = report.milter.errors + report.milter.lost() + report.http.errors + report.http.lost();
    let swap_failed = matches!(&swap, Some((_, Err(_))));
    Ok(if bad == 0 && !swap_failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

type SwapOutcome = Option<(Duration, Result<mailward_host::SwapReport, String>)>;

fn print_report(
    r: &LoadReport,
    cpu: Duration,
    cores: usize,
    swap: &SwapOutcome,
    sessions: usize,
    clients: usize,
) {
    let secs = r.elapsed.as_secs_f64();
    let total = r.milter.answered + r.http.answered;
    println!(
        "{:.1} s, {cores} cores; process CPU {:.1} s (daemon and load generator together)",
        secs,
        cpu.as_secs_f64()
    );
    for (name, s, n) in [("milter", &r.milter, sessions), ("http  ", &r.http, clients)] {
        println!(
            "{name} {n:>4} conc.  sent {:>7}  answered {:>7}  errors {}  lost {}  {:>7.0} msgs/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            s.sent,
            s.answered,
            s.errors,
            s.lost(),
            s.answered as f64 / secs,
            s.quantile(0.5).as_secs_f64() * 1e3,
            s.quantile(0.99).as_secs_f64() * 1e3
        );
        let actions: Vec<String> = s.actions.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("         actions: {}", actions.join(", "));
        if !s.packs.is_empty() {
            let packs: Vec<String> = s.packs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            println!("         packs:   {}", packs.join(", "));
        }
        for e in &s.error_samples {
            println!("         error:   {e}");
        }
    }
    println!(
        "total {total} answers: {:.0} msgs/s; {:.0} msgs/s per core (wall x {cores} cores); {:.0} msgs per CPU-second",
        total as f64 / secs,
        total as f64 / secs / cores as f64,
        total as f64 / cpu.as_secs_f64().max(1e-9)
    );
    match swap {
        Some((t, Ok(rep))) => println!(
            "swap in the middle: {} {} active after {:.0} ms",
            rep.activated.name,
            rep.activated.version,
            t.as_secs_f64() * 1e3
        ),
        Some((_, Err(e))) => println!("swap in the middle FAILED: {e}"),
        None => println!("no swap (give --swap-with PACK.wasm)"),
    }
}
