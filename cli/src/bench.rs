//! `mailward bench`: the whole pipeline inside the sandbox against the
//! same filter core built natively, on the same messages, in one run.
//!
//! Outbound messages (`--auth-user`) use host state: unless `--state` is
//! given, the sandbox and the native core each get a fresh embedded
//! (on-disk) store, and a virtual clock that moves `--clock-step` seconds
//! per message; `--users N` spreads the messages over N accounts.

use crate::{EnvelopeArgs, PackArgs};
use anyhow::{Result, bail};
use clap::Args;
use mailward_core::{Action, Envelope, ResolverEnv};
use mailward_corpus as corpus;
use mailward_host::{Clock, CoreState, EmbeddedStore, ManualClock, StateStore};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchArgs {
    /// Files, directories and mbox files to check.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    envelope: EnvelopeArgs,
    #[command(flatten)]
    pack: PackArgs,
    /// Least time to spend on each measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Alternate the native and the sandboxed measurement this many times
    /// (each round `--seconds` per side) and report the spread of the
    /// rounds' ratios, so that a machine whose speed drifts during the run
    /// skews both sides alike.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// At most this many messages from the paths.
    #[arg(long)]
    limit: Option<usize>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Measure only the sandboxed run (for profiling it alone).
    #[arg(long)]
    wasm_only: bool,
    /// Virtual seconds between two messages (outbound windows slide).
    #[arg(long, default_value_t = 0)]
    clock_step: u64,
    /// Spread outbound messages over this many accounts (`--auth-user`
    /// gets a `+N` tag).
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Instead: hot-swap packs this many times while checking the messages
    /// continuously on `--threads` threads, alternating the pack
    /// (`--rules` or built-in) and `--swap-with`, and injecting a bad pack
    /// every `--bad-every` swaps; reports swap latency (cold and from the
    /// compile cache) and failed messages.
    #[arg(long, value_name = "N", requires = "swap_with")]
    swaps: Option<usize>,
    /// The second pack for `--swaps`.
    #[arg(long, value_name = "PACK.wasm")]
    swap_with: Option<PathBuf>,
    /// Checking threads for `--swaps`.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Inject a bad (truncated) pack every this many swaps (0: never).
    #[arg(long, default_value_t = 10)]
    bad_every: usize,
}

/// A fresh embedded store in a temporary directory.
fn temp_store(tag: &str) -> Result<(Arc<dyn StateStore>, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("mailward-bench-state-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = EmbeddedStore::open(&dir.join("state.redb"))?;
    Ok((Arc::new(store), dir))
}

/// The envelope of message number `n`: the outbound account rotated over
/// `users` accounts.
fn nth(envelope: &Envelope, n: usize, users: usize) -> Envelope {
    let mut e = envelope.clone();
    if users > 1
        && let Some(u) = &e.auth_user
    {
        let tagged = match u.split_once('@') {
            Some((local, domain)) => format!("{local}+{}@{domain}", n % users),
            None => format!("{u}+{}", n % users),
        };
        e.mail_from = tagged.clone();
        e.auth_user = Some(tagged);
    }
    e
}

/// Runs `f` over all items repeatedly for at least `min`; returns
/// (messages, elapsed).
fn timed(items: usize, min: Duration, mut f: impl FnMut(usize)) -> (usize, Duration) {
    let start = Instant::now();
    let mut n = 0;
    while n == 0 || start.elapsed() < min {
        for i in 0..items {
            f(i);
            n += 1;
        }
    }
    (n, start.elapsed())
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.swaps.is_some() {
        return crate::bench::swap(a);
    }
    let mut items = corpus::read_all(&a.paths)?;
    if let Some(l) = a.limit {
        items.truncate(l);
    }
    if items.is_empty() {
        bail!("no messages under {:?}", a.paths);
    }
    let bytes: usize = items.iter().map(|i| i.bytes.len()).sum();
    let envelopes: Vec<Envelope> = items.iter().map(|i| a.envelope.envelope(&i.bytes)).collect();
    let min = Duration::from_secs_f64(a.seconds);

    // State and time: fresh embedded stores unless --state says otherwise.
    let start_time = a.pack.now.unwrap_or_else(|| mailward_host::SystemClock.now());
    let mut temp_dirs = Vec::new();
    let (wasm_state, native_state): (Option<Arc<dyn StateStore>>, Arc<dyn StateStore>) = match &a.pack.state {
        Some(_) => (None, Arc::new(EmbeddedStore::in_memory()?)),
        None => {
            let (w, wd) = temp_store("wasm")?;
            let (n, nd) = temp_store("native")?;
            temp_dirs.extend([wd, nd]);
            (Some(w), n)
        }
    };
    let wasm_clock = Arc::new(ManualClock::new(start_time));

    // Pack load: cold (pre-initialise + compile) and from the cache.
    let cache_dir = std::env::temp_dir().join(format!("mailward-bench-cache-{}", std::process::id()));
    let mut cold_args = a.pack.clone();
    cold_args.no_cache = false;
    cold_args.cache_dir = Some(cache_dir.clone());
    let t = Instant::now();
    let setup = cold_args.setup_with(Some(wasm_clock.clone() as Arc<dyn Clock>), wasm_state)?;
    let cold_load = t.elapsed();
    let t = Instant::now();
    let warm = cold_args.setup_with(
        Some(wasm_clock.clone() as Arc<dyn Clock>),
        Some(setup.state.clone()),
    )?;
    let cached_load = t.elapsed();
    drop(warm);
    let _ = std::fs::remove_dir_all(&cache_dir);

    let sandbox = &setup.sandbox;
    let state_label = match &a.pack.state {
        Some(s) => format!("{s} (native: memory)"),
        None => "embedded (fresh files, one each)".to_string(),
    };
    let mut native = mailward_rules::default_filter()?;
    native.configure(&setup.settings).map_err(anyhow::Error::msg)?;
    if native.info().version != sandbox.pack().info.version && a.pack.rules.is_some() {
        eprintln!(
            "note: --rules pack {} differs from the built-in core {}; the native column runs the built-in rules",
            sandbox.pack().info.version,
            native.info().version
        );
    }

    // Same verdicts both ways (sanity check of the comparison): the
    // first pass over the messages, each side on its own state, in step.
    let core_state = CoreState(&*native_state);
    let mut mismatches = 0;
    let mut n_seq = 0usize;
    for (i, item) in items.iter().enumerate() {
        let e = nth(&envelopes[i], n_seq, a.users);
        let now = start_time + n_seq as u64 * a.clock_step;
        n_seq += 1;
        wasm_clock.set(now);
        let env =
            ResolverEnv::new(&*setup.resolver, now, sandbox.limits().dns_queries).with_state(&core_state);
        let n = native.check(&env, &e, &item.bytes);
        let w = sandbox.check(&e, &item.bytes)?;
        if n.action != w.action || (n.score - w.score).abs() > 1e-6 {
            mismatches += 1;
            if mismatches <= 3 {
                let names = |v: &mailward_core::Verdict| {
                    v.symbols
                        .iter()
                        .map(|s| format!("{}{:?}", s.name, s.options))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                eprintln!(
                    "verdicts differ on {}: native {} {} [{}], wasm {} {} [{}]",
                    item.label,
                    n.action,
                    n.score,
                    names(&n),
                    w.action,
                    w.score,
                    names(&w)
                );
            }
        }
    }

    let native_min = if a.wasm_only { Duration::ZERO } else { min };
    let mut n_native_seq = n_seq;
    let mut failures = 0usize;
    let mut phases = mailward_host::PhaseTimes::default();
    // Smallest and largest instance memory over the messages.
    let mut memory = (usize::MAX, 0usize);
    let mut actions: BTreeMap<Action, usize> = BTreeMap::new();
    let mut n_wasm_seq = n_seq;
    let (mut n_native, mut t_native, mut n_wasm, mut t_wasm) = (0, Duration::ZERO, 0, Duration::ZERO);
    // Each round's sandbox / native time per message.
    let mut ratios = Vec::new();
    for _ in 0..a.rounds {
        let (n, t) = timed(items.len(), native_min, |i| {
            let e = nth(&envelopes[i], n_native_seq, a.users);
            let now = start_time + n_native_seq as u64 * a.clock_step;
            n_native_seq += 1;
            let env =
                ResolverEnv::new(&*setup.resolver, now, sandbox.limits().dns_queries).with_state(&core_state);
            std::hint::black_box(native.check(&env, &e, &items[i].bytes));
        });
        n_native += n;
        t_native += t;
        let native_round = t.as_secs_f64() / n as f64;
        let (n, t) = timed(items.len(), min, |i| {
            let e = nth(&envelopes[i], n_wasm_seq, a.users);
            wasm_clock.set(start_time + n_wasm_seq as u64 * a.clock_step);
            n_wasm_seq += 1;
            let (r, t) = sandbox.check_timed(&e, &items[i].bytes);
            match r {
                Ok(v) => *actions.entry(v.action).or_default() += 1,
                Err(_) => failures += 1,
            }
            phases.instantiate += t.instantiate;
            phases.call += t.call;
            phases.teardown += t.teardown;
            memory.0 = memory.0.min(t.memory_bytes);
            memory.1 = memory.1.max(t.memory_bytes);
        });
        n_wasm += n;
        t_wasm += t;
        ratios.push(t.as_secs_f64() / n as f64 / native_round);
    }
    ratios.sort_by(f64::total_cmp);
    let ratio_spread = (ratios[0], ratios[ratios.len() / 2], ratios[ratios.len() - 1]);
    let actions_text: Vec<String> = actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n_wasm as f64;
    let (n_inst, t_inst) = timed(1000, min, |_| {
        let _ = std::hint::black_box(sandbox.probe_instantiate());
    });

    let native_rate = n_native as f64 / t_native.as_secs_f64();
    let wasm_rate = n_wasm as f64 / t_wasm.as_secs_f64();
    let inst_us = t_inst.as_secs_f64() * 1e6 / n_inst as f64;
    let wasm_us = 1e6 / wasm_rate;
    let native_us = 1e6 / native_rate;
    let report = serde_json::json!({
        "messages": items.len(),
        "bytes": bytes,
        "pack": format!("{}/{}", sandbox.pack().info.name, sandbox.pack().info.version),
        "threads": 1,
        "native_msgs_per_s": native_rate.round(),
        "wasm_msgs_per_s": wasm_rate.round(),
        "native_us_per_msg": (native_us * 10.0).round() / 10.0,
        "wasm_us_per_msg": (wasm_us * 10.0).round() / 10.0,
        "wasm_over_native": ((wasm_us / native_us) * 1000.0).round() / 1000.0,
        "rounds": a.rounds,
        "wasm_over_native_rounds": {
            "min": (ratio_spread.0 * 1000.0).round() / 1000.0,
            "median": (ratio_spread.1 * 1000.0).round() / 1000.0,
            "max": (ratio_spread.2 * 1000.0).round() / 1000.0,
        },
        "instantiate_us": (inst_us * 100.0).round() / 100.0,
        "wasm_phase_us": {
            "instantiate": (per(phases.instantiate) * 10.0).round() / 10.0,
            "call": (per(phases.call) * 10.0).round() / 10.0,
            "teardown": (per(phases.teardown) * 10.0).round() / 10.0,
        },
        "instance_memory_bytes": { "smallest": memory.0.min(memory.1), "largest": memory.1 },
        "pack_load_cold_ms": (cold_load.as_secs_f64() * 1e4).round() / 10.0,
        "pack_load_cached_ms": (cached_load.as_secs_f64() * 1e4).round() / 10.0,
        "verdict_mismatches_native_vs_wasm": mismatches,
        "sandbox_failures": failures,
        "state": state_label,
        "clock_step_s": a.clock_step,
        "users": a.users,
        "wasm_actions": actions.iter().map(|(a, n)| (a.as_str().to_string(), *n)).collect::<BTreeMap<_, _>>(),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "messages          {} ({:.1} MiB), one thread",
            items.len(),
            bytes as f64 / 1048576.0
        );
        println!(
            "native core       {:>9.0} msgs/s  {:>8.1} µs/msg",
            native_rate, native_us
        );
        println!(
            "wasm sandbox      {:>9.0} msgs/s  {:>8.1} µs/msg",
            wasm_rate, wasm_us
        );
        if a.rounds > 1 && !a.wasm_only {
            println!(
                "wasm / native     {:>9.3}x (rounds: median {:.3}x, {:.3}–{:.3}x over {} alternating rounds)",
                wasm_us / native_us,
                ratio_spread.1,
                ratio_spread.0,
                ratio_spread.2,
                a.rounds
            );
        } else {
            println!("wasm / native     {:>9.3}x", wasm_us / native_us);
        }
        println!(
            "fresh instance    {:>9.2} µs (store + instantiate, no check)",
            inst_us
        );
        println!(
            "wasm phases       {:>9.1} µs instantiate, {:.1} µs call, {:.1} µs teardown (per message)",
            per(phases.instantiate),
            per(phases.call),
            per(phases.teardown)
        );
        println!(
            "instance memory   {:>9.1} MiB, largest {:.1} MiB (linear memory: the snapshot, plus growth)",
            memory.0.min(memory.1) as f64 / 1048576.0,
            memory.1 as f64 / 1048576.0
        );
        println!(
            "pack load cold    {:>9.1} ms (pre-initialise + compile)",
            cold_load.as_secs_f64() * 1e3
        );
        println!("pack load cached  {:>9.1} ms", cached_load.as_secs_f64() * 1e3);
        println!("verdicts differing native vs wasm: {mismatches}; sandbox failures: {failures}");
        println!(
            "state             {state_label}; clock step {} s; {} account(s)",
            a.clock_step, a.users
        );
        println!("wasm actions      {}", actions_text.join(", "));
    }
    drop(setup);
    drop(native_state);
    for d in &temp_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(())
}

/// Percentile of sorted durations.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// `--swaps`: hot swaps under load.
fn swap(a: BenchArgs) -> Result<()> {
    use mailward_host::{PackCandidate, Readiness};
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let swaps = a.swaps.unwrap_or(0);
    let mut items = corpus::read_all(&a.paths)?;
    if let Some(l) = a.limit {
        items.truncate(l);
    }
    if items.is_empty() {
        bail!("no messages under {:?}", a.paths);
    }
    let envelopes: Vec<Envelope> = items.iter().map(|i| a.envelope.envelope(&i.bytes)).collect();
    // A fresh compile cache, so the first load of each pack is cold.
    let cache_dir = std::env::temp_dir().join(format!("mailward-swap-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache_dir);
    let mut pa = a.pack.clone();
    pa.cache_dir = Some(cache_dir.clone());
    pa.no_cache = false;
    let file = pa.file()?;
    let manager = pa.manager(&file, None)?;
    let first = match &a.pack.rules {
        Some(p) => PackCandidate::from_file(p)?,
        None => PackCandidate::built_in(mailward_pack::DEFAULT_PACK),
    };
    let second = PackCandidate::from_file(a.swap_with.as_ref().expect("clap requires --swap-with"))?;
    let bad = PackCandidate::from_bytes(second.bytes[..second.bytes.len() / 2].to_vec(), None, "truncated");

    let t = Instant::now();
    let r1 = manager.load(first.clone())?;
    let cold_first = t.elapsed();
    let t = Instant::now();
    let r2 = manager.load(second.clone())?;
    let cold_second = t.elapsed();
    let versions = [r1.activated.version.clone(), r2.activated.version.clone()];
    if versions[0] == versions[1] {
        bail!(
            "the two packs have the same version ({}); give two versions",
            versions[0]
        );
    }

    let stop = AtomicBool::new(false);
    let checked = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let seen: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let mut cached = Vec::new();
    let mut phases = mailward_host::LoadTimings::default();
    let mut swap_errors = 0usize;
    let mut bad_rejected = 0usize;
    let t_all = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        for k in 0..a.threads.max(1) {
            let (manager, items, envelopes, stop, checked, failed, seen) =
                (&manager, &items, &envelopes, &stop, &checked, &failed, &seen);
            scope.spawn(move || {
                let mut local: BTreeMap<String, usize> = BTreeMap::new();
                let mut i = k;
                while !stop.load(Ordering::Relaxed) {
                    let j = i % items.len();
                    let d = manager.check(&envelopes[j], &items[j].bytes);
                    if d.failure.is_some() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    *local.entry(d.verdict.rule_pack.version.clone()).or_default() += 1;
                    checked.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                for (v, n) in local {
                    *s.entry(v).or_default() += n;
                }
            });
        }
        let mut next_first = true;
        for n in 0..swaps {
            if a.bad_every > 0 && n % a.bad_every == a.bad_every - 1 {
                match manager.load(bad.clone()) {
                    Err(_) => bad_rejected += 1,
                    Ok(_) => swap_errors += 1,
                }
            }
            let c = if next_first { first.clone() } else { second.clone() };
            next_first = !next_first;
            let t = Instant::now();
            match manager.load(c) {
                Ok(r) => {
                    let took = t.elapsed();
                    if r.readiness == Some(Readiness::Cached) {
                        cached.push(took);
                        phases.verify += r.timings.verify;
                        phases.load += r.timings.load;
                        phases.self_test += r.timings.self_test;
                        phases.swap += r.timings.swap;
                    }
                }
                Err(e) => {
                    eprintln!("swap {n} failed: {e}");
                    swap_errors += 1;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        Ok(())
    })?;
    let elapsed = t_all.elapsed();
    let _ = std::fs::remove_dir_all(&cache_dir);
    cached.sort();
    let per = |d: Duration| ms(d / u32::try_from(cached.len().max(1)).unwrap_or(u32::MAX));
    let seen = seen.into_inner().unwrap_or_else(|p| p.into_inner());
    let foreign: usize = seen
        .iter()
        .filter(|(v, _)| !versions.contains(v))
        .map(|(_, n)| n)
        .sum();
    let checked = checked.into_inner();
    let failed = failed.into_inner();
    let report = serde_json::json!({
        "swaps": swaps,
        "threads": a.threads.max(1),
        "versions": versions,
        "messages_checked": checked,
        "messages_per_s": (checked as f64 / elapsed.as_secs_f64()).round(),
        "failed_messages": failed,
        "verdicts_by_version": seen,
        "verdicts_of_other_versions": foreign,
        "bad_packs_injected": swaps.checked_div(a.bad_every).unwrap_or(0),
        "bad_packs_rejected": bad_rejected,
        "swap_errors": swap_errors,
        "swap_cold_ms": [ms(cold_first), ms(cold_second)],
        "swap_cached_ms": {
            "count": cached.len(),
            "p50": ms(pct(&cached, 0.5)),
            "p95": ms(pct(&cached, 0.95)),
            "max": ms(cached.last().copied().unwrap_or_default()),
            "mean_phases": {
                "verify": per(phases.verify),
                "validate_compile_cache_configure": per(phases.load),
                "self_test": per(phases.self_test),
                "swap": per(phases.swap),
            },
        },
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "swaps             {swaps} ({} threads checking meanwhile)",
            a.threads.max(1)
        );
        println!(
            "messages          {checked} checked, {failed} failed, {foreign} with another version ({:.0} msgs/s)",
            checked as f64 / elapsed.as_secs_f64()
        );
        println!("versions          {seen:?}");
        println!(
            "swap cold         {:.1} ms ({}), {:.1} ms ({})",
            ms(cold_first),
            versions[0],
            ms(cold_second),
            versions[1]
        );
        println!(
            "swap cached       p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} swaps)",
            ms(pct(&cached, 0.5)),
            ms(pct(&cached, 0.95)),
            ms(cached.last().copied().unwrap_or_default()),
            cached.len()
        );
        println!(
            "cached phases     {:.1} ms verify, {:.1} ms validate + cache + contract, {:.1} ms self-test, {:.3} ms swap (mean)",
            per(phases.verify),
            per(phases.load),
            per(phases.self_test),
            per(phases.swap)
        );
        println!("bad packs         {bad_rejected} injected and rejected; swap errors {swap_errors}");
    }
    Ok(())
}
