//! Proof under load: checks run continuously on several threads while the
//! pack is swapped 100 times (alternating two versions of the default
//! pack, with a bad pack injected every tenth swap). Every message gets the
//! pack's own verdict (none fails), and every verdict names one of the two
//! versions. Swap latencies are printed (`--nocapture`); `mailward bench
//! --swaps` measures them on a fresh compile cache.

use mailward_host::{ManagerConfig, PackCandidate, PackManager, Readiness};
use mailward_tests::{engine, read, seed_envelope, seed_services};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SWAPS: usize = 100;
const THREADS: usize = 3;

#[test]
fn one_hundred_swaps_under_load_lose_no_message() {
    let messages = [
        read("seed/seed-phish.eml"),
        read("ham/lunch.eml"),
        b"From: x@y.example\r\nSubject: short\r\n\r\nhi\r\n".to_vec(),
    ];
    let a = PackCandidate::built_in(mailward_pack::DEFAULT_PACK);
    let b = PackCandidate::from_bytes(mailward_fixtures::default_pack_v2(), None, "v2");
    let bad = [
        PackCandidate::from_bytes(mailward_fixtures::truncated(&b.bytes), None, "truncated"),
        PackCandidate::from_bytes(mailward_fixtures::WRONG_MAJOR.to_vec(), None, "wrong-major"),
        PackCandidate::from_bytes(
            mailward_fixtures::CONFIGURE_FAILS.to_vec(),
            None,
            "configure-fails",
        ),
    ];
    let versions = [
        mailward_fixtures::default_version(),
        mailward_fixtures::v2_version(),
    ];
    let m = PackManager::new(engine(), seed_services(), ManagerConfig::default(), None);
    m.load(a.clone()).unwrap();
    m.load(b.clone()).unwrap();

    let stop = AtomicBool::new(false);
    let checked = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let seen: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let mut latencies = Vec::new();
    let mut rejected = 0;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (m, messages, stop, checked, failed, seen) = (&m, &messages, &stop, &checked, &failed, &seen);
            scope.spawn(move || {
                let mut i = t;
                let mut local = BTreeMap::<String, usize>::new();
                while !stop.load(Ordering::Relaxed) {
                    let d = m.check(&seed_envelope(), &messages[i % messages.len()]);
                    if let Some(e) = d.failure {
                        failed.lock().unwrap().push(e.to_string());
                    }
                    *local.entry(d.verdict.rule_pack.version).or_default() += 1;
                    checked.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                let mut s = seen.lock().unwrap();
                for (v, n) in local {
                    *s.entry(v).or_default() += n;
                }
            });
        }
        for n in 0..SWAPS {
            if n % 10 == 9 {
                assert!(m.load(bad[(n / 10) % bad.len()].clone()).is_err());
                rejected += 1;
            }
            let c = if n % 2 == 0 { a.clone() } else { b.clone() };
            let t = Instant::now();
            let r = m.load(c).expect("a good pack swaps in");
            assert_eq!(r.readiness, Some(Readiness::Cached));
            latencies.push(t.elapsed());
        }
        // Let the last pack serve a little too.
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
    });
    latencies.sort();
    let seen = seen.into_inner().unwrap();
    let failed = failed.into_inner().unwrap();
    let checked = checked.into_inner();
    println!(
        "{SWAPS} swaps, {rejected} bad packs refused, {checked} messages on {THREADS} threads, {} failed; verdicts by version {seen:?}; cached swap p50 {:?} max {:?}",
        failed.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(failed.is_empty(), "failed messages: {failed:?}");
    assert!(
        checked > SWAPS,
        "traffic flowed during the swaps ({checked} messages)"
    );
    assert_eq!(rejected, SWAPS / 10);
    for v in seen.keys() {
        assert!(versions.contains(v), "a verdict named version {v}");
    }
    assert_eq!(seen.len(), 2, "both versions served: {seen:?}");
    assert_eq!(
        m.active().unwrap().info().version,
        versions[1],
        "the 100th swap loaded b"
    );
}
