//! The state backends behave the same: one table of operations and
//! expected answers, run on the embedded store (in memory and on disk) and
//! on a real Redis.

use mailward_core::state::{CounterUpdate, Restriction, RestrictionKind};
use mailward_host::{EmbeddedStore, RedisStore, StateSpec, StateStore};
use mailward_tests::{RedisServer, TempDir};

const T: u64 = 1_795_651_200;

/// One step of the table: an operation at a time and what it must answer.
enum Step {
    Count(u64, &'static str, u32, u32, u64),
    Seen(u64, &'static str, &'static [&'static str], u32, &'static [bool]),
    Remember(u64, &'static str, &'static str, u32),
    Recall(u64, &'static [&'static str], &'static [Option<&'static str>]),
    Restrict(u64, &'static str, RestrictionKind, Option<u64>, &'static str),
    Restrictions(u64, &'static str, &'static [(&'static str, Option<u64>)]),
    Listed(u64, &'static [&'static str]),
    Release(&'static str, Option<RestrictionKind>, bool),
}

use Step::*;

const HOUR: u32 = 3600;

fn table() -> Vec<Step> {
    vec![
        // Sliding windows: 60 buckets of a minute for an hour.
        Count(T, "ext:a", HOUR, 3, 3),
        Count(T + 30, "ext:a", HOUR, 2, 5),
        Count(T + 1800, "ext:a", HOUR, 0, 5),
        Count(T + 1800, "ext:a", 86_400, 1, 1), // another window, another counter
        Count(T + 3600 + 60, "ext:a", HOUR, 1, 1),
        Count(T + 3 * 3600, "ext:a", HOUR, 0, 0),
        Count(T + 3 * 3600, "ext:b", HOUR, 0, 0),
        // Seen sets: new once, remembered for the lifetime.
        Seen(T, "doms:a", &["x.example", "y.example"], 3600, &[true, true]),
        Seen(
            T + 10,
            "doms:a",
            &["y.example", "z.example"],
            3600,
            &[false, true],
        ),
        Seen(T + 10, "doms:b", &["y.example"], 3600, &[true]),
        Seen(T + 4000, "doms:a", &["x.example"], 3600, &[true]),
        Seen(T + 4000, "doms:a", &["z.example"], 3600, &[true]),
        // Memory with expiry.
        Remember(T, "phish-mid:m1@x", "<m1@x>", 100),
        Recall(
            T + 50,
            &["phish-mid:m1@x", "phish-mid:other"],
            &[Some("<m1@x>"), None],
        ),
        Recall(T + 100, &["phish-mid:m1@x"], &[None]),
        Remember(T + 100, "phish-mid:m1@x", "again|with bar", 100),
        Recall(T + 150, &["phish-mid:m1@x"], &[Some("again|with bar")]),
        // Restrictions: one per kind, the longer one stays, expiry.
        Restrict(T, "bob", RestrictionKind::Block, Some(T + 100), "today"),
        Restrict(T + 1, "bob", RestrictionKind::Block, Some(T + 50), "shorter"),
        Restrictions(T + 2, "bob", &[("today", Some(T + 100))]),
        Restrict(T + 3, "bob", RestrictionKind::Block, None, "forever"),
        Restrict(
            T + 4,
            "bob",
            RestrictionKind::Block,
            Some(T + 9999),
            "not longer than forever",
        ),
        Restrict(T + 5, "bob", RestrictionKind::Suspect, None, "replied to phish"),
        Restrictions(T + 6, "bob", &[("forever", None), ("replied to phish", None)]),
        Restrict(T + 7, "carol", RestrictionKind::Block, Some(T + 60), "today"),
        Listed(T + 8, &["bob", "carol"]),
        Listed(T + 61, &["bob"]),
        Restrict(
            T + 70,
            "carol",
            RestrictionKind::Block,
            Some(T + 200),
            "again after expiry",
        ),
        Restrictions(T + 71, "carol", &[("again after expiry", Some(T + 200))]),
        Release("bob", Some(RestrictionKind::Block), true),
        Restrictions(T + 72, "bob", &[("replied to phish", None)]),
        Release("bob", None, true),
        Release("bob", None, false),
        Restrictions(T + 73, "bob", &[]),
        Listed(T + 74, &["carol"]),
    ]
}

fn run(name: &str, store: &dyn StateStore) -> usize {
    let mut n = 0;
    for (i, step) in table().into_iter().enumerate() {
        let at = format!("{name} step {i}");
        match step {
            Count(now, key, window, amount, want) => {
                let got = store
                    .counters(now, &[CounterUpdate::add(key, window, amount)])
                    .unwrap();
                assert_eq!(got, [want], "{at}");
            }
            Seen(now, set, members, ttl, want) => {
                let m: Vec<String> = members.iter().map(|s| s.to_string()).collect();
                assert_eq!(store.seen(now, set, &m, ttl).unwrap(), want, "{at}");
            }
            Remember(now, k, v, ttl) => store.remember(now, k, v, ttl).unwrap(),
            Recall(now, keys, want) => {
                let k: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
                let got = store.recall(now, &k).unwrap();
                let want: Vec<Option<String>> = want.iter().map(|w| w.map(str::to_string)).collect();
                assert_eq!(got, want, "{at}");
            }
            Restrict(now, user, kind, until, reason) => {
                let r = Restriction {
                    kind,
                    reason: reason.into(),
                    since: now,
                    until,
                };
                store.restrict(now, user, &r).unwrap();
            }
            Restrictions(now, user, want) => {
                let got: Vec<(String, Option<u64>)> = store
                    .restrictions(now, user)
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.reason, r.until))
                    .collect();
                let want: Vec<(String, Option<u64>)> =
                    want.iter().map(|(r, u)| (r.to_string(), *u)).collect();
                assert_eq!(got, want, "{at}");
            }
            Listed(now, want) => {
                let got: Vec<String> = store
                    .restricted_users(now)
                    .unwrap()
                    .into_iter()
                    .map(|u| u.user)
                    .collect();
                assert_eq!(got, want, "{at}");
            }
            Release(user, kind, want) => assert_eq!(store.release(user, kind).unwrap(), want, "{at}"),
        }
        n += 1;
    }
    n
}

#[test]
fn embedded_in_memory_follows_the_table() {
    let n = run("memory", &EmbeddedStore::in_memory().unwrap());
    assert!(n > 30);
}

#[test]
fn embedded_on_disk_follows_the_table_and_keeps_it() {
    let dir = TempDir::new("state-table");
    let path = dir.0.join("nested/dir/state.redb");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        assert!(run("disk", &store) > 30);
    }
    let store = StateSpec::Embedded(path).open().unwrap();
    let listed = store.restricted_users(T + 74).unwrap();
    assert_eq!(listed.len(), 1, "reopened: {listed:?}");
    assert_eq!(
        store
            .counters(T + 1800, &[CounterUpdate::add("ext:a", 86_400, 0)])
            .unwrap(),
        [1]
    );
}

#[test]
fn embedded_purge_drops_only_expired_entries() {
    let store = EmbeddedStore::in_memory().unwrap();
    store.remember(T, "short", "v", 10).unwrap();
    store.remember(T, "long", "v", 1000).unwrap();
    store.seen(T, "s", &["m".into()], 10).unwrap();
    store.counters(T, &[CounterUpdate::add("c", 60, 1)]).unwrap();
    assert_eq!(store.purge(T + 500).unwrap(), 3);
    assert_eq!(
        store.recall(T + 500, &["long".into()]).unwrap(),
        [Some("v".to_string())]
    );
}

#[test]
fn redis_follows_the_table() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::connect(&redis.url(), "table").unwrap();
    assert!(run("redis", &store) > 30);
    let other = RedisStore::connect(&redis.url(), "other-prefix").unwrap();
    assert!(
        other.restricted_users(T + 74).unwrap().is_empty(),
        "prefixes separate deployments"
    );
}

#[test]
fn redis_counters_are_atomic_across_connections() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let stores: Vec<RedisStore> = (0..4)
        .map(|_| RedisStore::connect(&redis.url(), "atomic").unwrap())
        .collect();
    std::thread::scope(|s| {
        for st in &stores {
            s.spawn(move || {
                for _ in 0..250 {
                    st.counters(T, &[CounterUpdate::add("k", 3600, 1)]).unwrap();
                }
            });
        }
    });
    assert_eq!(
        stores[0]
            .counters(T, &[CounterUpdate::add("k", 3600, 0)])
            .unwrap(),
        [1000]
    );
}

#[test]
fn an_unreachable_redis_is_an_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = std::time::Instant::now();
    assert!(RedisStore::connect(&format!("redis://127.0.0.1:{port}/0"), "x").is_err());
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}
