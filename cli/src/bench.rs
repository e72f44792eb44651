//! `mailward bench`: the whole pipeline inside the sandbox against the
//! same filter core built natively, on the same messages, in one run.

use crate::{EnvelopeArgs, PackArgs, corpus};
use anyhow::{Result, bail};
use clap::Args;
use mailward_core::{Envelope, ResolverEnv};
use std::path::PathBuf;
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
    /// At most this many messages from the paths.
    #[arg(long)]
    limit: Option<usize>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Measure only the sandboxed run (for profiling it alone).
    #[arg(long)]
    wasm_only: bool,
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

    // Pack load: cold (pre-initialise + compile) and from the cache.
    let cache_dir = std::env::temp_dir().join(format!("mailward-bench-cache-{}", std::process::id()));
    let mut cold_args = a.pack.clone();
    cold_args.no_cache = false;
    cold_args.cache_dir = Some(cache_dir.clone());
    let t = Instant::now();
    let setup = cold_args.setup()?;
    let cold_load = t.elapsed();
    let t = Instant::now();
    let warm = cold_args.setup()?;
    let cached_load = t.elapsed();
    drop(warm);
    let _ = std::fs::remove_dir_all(&cache_dir);

    let sandbox = &setup.sandbox;
    let now = setup
        .now
        .unwrap_or_else(|| mailward_host::Clock::now(&mailward_host::SystemClock));
    let mut native = mailward_rules::default_filter()?;
    native.configure(&setup.settings).map_err(anyhow::Error::msg)?;
    if native.info().version != sandbox.pack().info.version && a.pack.rules.is_some() {
        eprintln!(
            "note: --rules pack {} differs from the built-in core {}; the native column runs the built-in rules",
            sandbox.pack().info.version,
            native.info().version
        );
    }

    // Same verdicts both ways (sanity check of the comparison).
    let mut mismatches = 0;
    for (i, item) in items.iter().enumerate() {
        let env = ResolverEnv::new(&*setup.resolver, now, sandbox.limits().dns_queries);
        let n = native.check(&env, &envelopes[i], &item.bytes);
        let w = sandbox.check(&envelopes[i], &item.bytes)?;
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
    let (n_native, t_native) = timed(items.len(), native_min, |i| {
        let env = ResolverEnv::new(&*setup.resolver, now, sandbox.limits().dns_queries);
        std::hint::black_box(native.check(&env, &envelopes[i], &items[i].bytes));
    });
    let mut failures = 0usize;
    let mut phases = mailward_host::PhaseTimes::default();
    let (n_wasm, t_wasm) = timed(items.len(), min, |i| {
        let (r, t) = sandbox.check_timed(&envelopes[i], &items[i].bytes);
        if r.is_err() {
            failures += 1;
        }
        phases.instantiate += t.instantiate;
        phases.call += t.call;
        phases.teardown += t.teardown;
    });
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
        "instantiate_us": (inst_us * 100.0).round() / 100.0,
        "wasm_phase_us": {
            "instantiate": (per(phases.instantiate) * 10.0).round() / 10.0,
            "call": (per(phases.call) * 10.0).round() / 10.0,
            "teardown": (per(phases.teardown) * 10.0).round() / 10.0,
        },
        "pack_load_cold_ms": (cold_load.as_secs_f64() * 1e4).round() / 10.0,
        "pack_load_cached_ms": (cached_load.as_secs_f64() * 1e4).round() / 10.0,
        "verdict_mismatches_native_vs_wasm": mismatches,
        "sandbox_failures": failures,
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
        println!("wasm / native     {:>9.3}x", wasm_us / native_us);
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
            "pack load cold    {:>9.1} ms (pre-initialise + compile)",
            cold_load.as_secs_f64() * 1e3
        );
        println!("pack load cached  {:>9.1} ms", cached_load.as_secs_f64() * 1e3);
        println!("verdicts differing native vs wasm: {mismatches}; sandbox failures: {failures}");
    }
    Ok(())
}
