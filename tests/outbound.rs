//! Outbound filtering with the real pack in the real host: credential-reply
//! interception, EOP-style limits and their actions, a hijacked account
//! caught by the earlier signals, restricted users, state that survives a
//! restart (embedded and Redis), two hosts on one Redis, the alert webhook,
//! and sandbox/native agreement on a stateful sequence.

use mailward_core::{Action, AlertKind, Envelope, ResolverEnv, RestrictionKind, Settings, Verdict};
use mailward_host::{AlertSink, CoreState, EmbeddedStore, ManualClock, RedisStore, Sandbox, StateStore};
use mailward_tests::{
    NOW, RedisServer, TempDir, inbound, mail, names, outbound_sandbox, read, submit, with_options, zone,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// A sandbox on `state` at [`NOW`] with the seed scenario's DNS.
fn setup(settings: &Settings, state: Arc<dyn StateStore>) -> (Sandbox, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let z = zone(&String::from_utf8(read("seed/something.com.zone.yml")).unwrap());
    let s = outbound_sandbox(
        Arc::new(z),
        settings,
        state,
        clock.clone(),
        Arc::new(AlertSink::log_only()),
    );
    (s, clock)
}

fn memory() -> Arc<dyn StateStore> {
    Arc::new(EmbeddedStore::in_memory().unwrap())
}

fn outbound_symbols(v: &Verdict) -> Vec<&str> {
    names(v)
        .into_iter()
        .filter(|n| n.starts_with("OUT_") && *n != "OUT_EXTERNAL_RCPT")
        .collect()
}

const JANE: &str = "jane.doe@something.com";

#[test]
fn seed_reply_with_filled_in_credentials_is_held_and_the_user_flagged() {
    let state = memory();
    let (s, clock) = setup(&Settings::default(), state.clone());
    let mut env = inbound("203.0.113.66", "admin@something.com");
    env.rcpt_to = vec![JANE.into()];
    let lure = s.check(&env, &read("seed/seed-phish.eml")).unwrap();
    assert!(lure.has("MW_CRED_PHISH_REMEMBERED"), "{:?}", names(&lure));
    let remembered = &lure.symbol("MW_CRED_PHISH_REMEMBERED").unwrap().options;
    assert!(
        remembered.contains(&"reply destination upgrade.account.team@freemail.example".to_string()),
        "{remembered:?}"
    );
    assert!(
        !remembered.iter().any(|o| o.contains("admin@something.com")),
        "the recipient's own domain is not a reply destination: {remembered:?}"
    );

    clock.set(NOW + 3600);
    let reply = s
        .check(
            &submit(JANE, "192.0.2.44", &["upgrade.account.team@freemail.example"]),
            &read("outbound/seed-reply.eml"),
        )
        .unwrap();
    assert_eq!(reply.action, Action::Quarantine, "held: {:?}", names(&reply));
    assert!(reply.reply.is_none());
    for s in [
        "OUT_CRED_REPLY_HELD",
        "OUT_REPLY_TO_CRED_PHISH",
        "OUT_CRED_FORM_TO_EXTERNAL",
    ] {
        assert!(reply.has(s), "{s} missing from {:?}", names(&reply));
    }
    assert!(!reply.has("OUT_BLOCK_USER"), "the victim is flagged, not blocked");
    let alert = reply
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::CredentialReply)
        .expect("a credential-reply alert");
    assert_eq!(alert.user.as_deref(), Some(JANE));
    assert!(alert.summary.contains(JANE), "{}", alert.summary);

    let r = state.restrictions(NOW + 3600, JANE).unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].kind, RestrictionKind::Suspect);
    assert_eq!(r[0].until, None, "until an administrator clears it");

    // Her next ordinary mail flows, marked as from a suspect account.
    clock.set(NOW + 7200);
    let next = s
        .check(
            &submit(JANE, "192.0.2.44", &["colleague@something.com"]),
            &mail(
                JANE,
                "colleague@something.com",
                "Minutes",
                "Here are the minutes of today's meeting.",
            ),
        )
        .unwrap();
    assert_eq!(next.action, Action::Accept, "{:?}", names(&next));
    assert!(next.has("OUT_USER_SUSPECT"));
    assert!(state.release(JANE, Some(RestrictionKind::Suspect)).unwrap());
    assert!(state.restrictions(NOW + 7200, JANE).unwrap().is_empty());
}

#[test]
fn ordinary_reply_to_an_ordinary_mail_is_delivered() {
    let (s, clock) = setup(&Settings::default(), memory());
    let mut env = inbound("192.0.2.9", "alice@example.org");
    env.rcpt_to = vec!["bob@something.com".into()];
    let lunch = s.check(&env, &read("ham/lunch.eml")).unwrap();
    assert!(!lunch.has("MW_CRED_PHISH_REMEMBERED"));
    clock.set(NOW + 600);
    let v = s
        .check(
            &submit("bob@something.com", "192.0.2.45", &["alice@example.org"]),
            &read("outbound/ordinary-reply.eml"),
        )
        .unwrap();
    assert_eq!(v.action, Action::Accept, "{:?}", names(&v));
    assert_eq!(outbound_symbols(&v), Vec::<&str>::new());
    assert!(v.alerts.is_empty());
}

#[test]
fn password_reset_notice_forwarded_inside_is_delivered() {
    let (s, _) = setup(&Settings::default(), memory());
    let v = s
        .check(
            &submit(JANE, "192.0.2.44", &["helpdesk@something.com"]),
            &read("outbound/forwarded-reset.eml"),
        )
        .unwrap();
    assert_eq!(v.action, Action::Accept, "{:?}", names(&v));
    assert!(!v.has("OUT_CRED_REPLY_HELD"));
    assert!(v.alerts.is_empty());
}

#[test]
fn filled_in_credential_form_to_an_outside_address_is_held_without_a_remembered_lure() {
    let (s, _) = setup(&Settings::default(), memory());
    let body = "Hi, as you asked:\n\nUsername: jane.doe\nPassword: Winter2026!\n\nJane";
    let v = s
        .check(
            &submit(JANE, "192.0.2.44", &["it-support@lookalike.example"]),
            &mail(JANE, "it-support@lookalike.example", "my login", body),
        )
        .unwrap();
    assert_eq!(v.action, Action::Quarantine, "{:?}", names(&v));
    assert!(v.has("OUT_CRED_FORM_TO_EXTERNAL") && v.has("OUT_CRED_REPLY_HELD"));
    // The same to a colleague stays inside: delivered.
    let inside = s
        .check(
            &submit(JANE, "192.0.2.44", &["it@something.com"]),
            &mail(JANE, "it@something.com", "my login", body),
        )
        .unwrap();
    assert_eq!(inside.action, Action::Accept, "{:?}", names(&inside));
}

/// Sends `n` one-recipient messages from `user` to distinct addresses at
/// one partner domain, a minute apart from `clock`'s time; returns the
/// verdicts.
fn send_batch(s: &Sandbox, clock: &ManualClock, user: &str, n: usize) -> Vec<Verdict> {
    (0..n)
        .map(|i| {
            clock.set(clock_now(clock) + 60);
            let to = format!("contact{i}@partner.example");
            s.check(
                &submit(user, "198.51.100.10", &[&to]),
                &mail(
                    user,
                    &to,
                    "Project status",
                    "The project is on schedule; see you on Monday.",
                ),
            )
            .unwrap()
        })
        .collect()
}

fn clock_now(c: &ManualClock) -> u64 {
    mailward_host::Clock::now(c)
}

#[test]
fn limit_blocks_the_user_for_today_until_midnight() {
    let settings = with_options(&[
        ("outbound-external-recipients-per-hour", "5"),
        ("outbound-early-signals", "off"),
    ]);
    let state = memory();
    let (s, clock) = setup(&settings, state.clone());
    let user = "bob@something.com";
    let first = send_batch(&s, &clock, user, 5);
    assert!(first.iter().all(|v| v.action == Action::Accept));
    let over = send_batch(&s, &clock, user, 1).remove(0);
    assert_eq!(over.action, Action::Reject, "{:?}", names(&over));
    assert!(over.has("OUT_LIMIT_EXTERNAL_HOUR") && over.has("OUT_BLOCK_USER"));
    assert_eq!(over.alerts.len(), 1);
    assert_eq!(over.alerts[0].kind, AlertKind::LimitExceeded);
    assert_eq!(over.alerts[0].action, "block-user-for-today");
    let blocked = send_batch(&s, &clock, user, 1).remove(0);
    assert_eq!(blocked.action, Action::Reject);
    assert!(blocked.has("OUT_USER_BLOCKED"), "{:?}", names(&blocked));
    assert!(blocked.alerts.is_empty(), "no alert storm while blocked");
    let reply = blocked.reply.expect("an SMTP reply");
    assert_eq!((reply.code, reply.enhanced.as_str()), (550, "5.7.1"));
    assert!(
        reply
            .text
            .contains("account bob@something.com is blocked until 2026-11-27 00:00 UTC"),
        "{}",
        reply.text
    );
    let listed = state.restricted_users(clock_now(&clock)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user, user);
    // After midnight UTC the block has ended by itself.
    clock.set(NOW + 86_400 + 60);
    let next_day = send_batch(&s, &clock, user, 1).remove(0);
    assert_eq!(next_day.action, Action::Accept, "{:?}", names(&next_day));
    assert!(state.restricted_users(clock_now(&clock)).unwrap().is_empty());
}

#[test]
fn block_user_lasts_until_an_administrator_releases_it() {
    let settings = with_options(&[
        ("outbound-recipients-per-day", "3"),
        ("outbound-limit-action", "block-user"),
        ("outbound-early-signals", "off"),
    ]);
    let state = memory();
    let (s, clock) = setup(&settings, state.clone());
    let user = "carol@something.com";
    let v = send_batch(&s, &clock, user, 4);
    assert_eq!(v[3].action, Action::Reject);
    assert!(v[3].has("OUT_LIMIT_DAY"), "{:?}", names(&v[3]));
    clock.set(NOW + 10 * 86_400);
    let later = send_batch(&s, &clock, user, 1).remove(0);
    assert!(later.has("OUT_USER_BLOCKED"), "still blocked ten days later");
    assert!(
        later
            .reply
            .unwrap()
            .text
            .contains("until an administrator releases it")
    );
    assert!(state.release(user, None).unwrap());
    assert!(!state.release(user, None).unwrap(), "nothing left to release");
    let after = send_batch(&s, &clock, user, 1).remove(0);
    assert_eq!(after.action, Action::Accept, "{:?}", names(&after));
}

#[test]
fn alert_only_alerts_once_and_delivers() {
    let settings = with_options(&[
        ("outbound-external-recipients-per-hour", "2"),
        ("outbound-limit-action", "alert-only"),
        ("outbound-early-signals", "off"),
    ]);
    let state = memory();
    let (s, clock) = setup(&settings, state.clone());
    let v = send_batch(&s, &clock, "dave@something.com", 5);
    assert!(v.iter().all(|v| v.action == Action::Accept), "mail flows");
    let alerts: Vec<usize> = v.iter().map(|v| v.alerts.len()).collect();
    assert_eq!(alerts, [0, 0, 1, 0, 0], "one alert when the limit is crossed");
    assert_eq!(v[2].alerts[0].action, "alert-only");
    assert!(v[4].has("OUT_LIMIT_EXTERNAL_HOUR"));
    assert!(state.restricted_users(clock_now(&clock)).unwrap().is_empty());
}

/// Ten days of ordinary mail from the office, then spam from a new
/// network to new domains, one recipient a message, 20 an hour. Returns
/// the spam message number (1-based) whose verdict blocked the user.
fn hijack(settings: &Settings) -> (Option<usize>, Vec<Verdict>) {
    let (s, clock) = setup(settings, memory());
    let user = "erin@something.com";
    for day in 0..10u64 {
        for k in 0..4u64 {
            clock.set(NOW + day * 86_400 + 9 * 3600 + k * 3600);
            let to = ["colleague@something.com", "partner@partner.example"][(k % 2) as usize];
            let v = s
                .check(
                    &submit(user, "198.51.100.10", &[to]),
                    &mail(
                        user,
                        to,
                        &format!("Notes {day}-{k}"),
                        "Notes from the meeting, as discussed.",
                    ),
                )
                .unwrap();
            assert_eq!(v.action, Action::Accept, "normal mail: {:?}", names(&v));
        }
    }
    let start = NOW + 11 * 86_400 + 2 * 3600;
    let mut verdicts = Vec::new();
    for i in 0..40u64 {
        clock.set(start + i * 180);
        let to = format!("victim{i}@target{i}.example");
        let v = s
            .check(
                &submit(user, "203.0.113.200", &[&to]),
                &mail(
                    user,
                    &to,
                    "Cheap meds",
                    "Best prices on watches and pills, order today at our shop.",
                ),
            )
            .unwrap();
        let blocked = v.has("OUT_BLOCK_USER");
        verdicts.push(v);
        if blocked {
            return (Some(i as usize + 1), verdicts);
        }
    }
    (None, verdicts)
}

#[test]
fn hijacked_account_is_blocked_within_ten_spam_messages_where_limits_alone_do_not() {
    let (at, verdicts) = hijack(&Settings::default());
    let at = at.expect("the hijacked account is blocked");
    assert!(at <= 10, "blocked only at spam message {at}");
    let last = verdicts.last().unwrap();
    assert_eq!(last.action, Action::Reject);
    let alert = &last.alerts[0];
    assert_eq!(alert.kind, AlertKind::CompromiseSuspected);
    assert_eq!(alert.action, "block-user");
    assert!(
        alert.symbols.iter().any(|s| s == "OUT_NEW_RCPT_DOMAINS"),
        "{alert:?}"
    );
    // The same with the earlier signals off: EOP's limits never trigger.
    let (eop, _) = hijack(&with_options(&[("outbound-early-signals", "off")]));
    assert_eq!(eop, None);
}

#[test]
fn a_newsletter_to_three_hundred_colleagues_is_not_a_hijack() {
    let (s, clock) = setup(&Settings::default(), memory());
    let user = "comms@something.com";
    let staff: Vec<String> = (0..300).map(|i| format!("staff{i}@something.com")).collect();
    let refs: Vec<&str> = staff.iter().map(String::as_str).collect();
    for week in 0..3u64 {
        clock.set(NOW + week * 7 * 86_400);
        let v = s
            .check(
                &submit(user, "198.51.100.10", &refs),
                &mail(
                    user,
                    "staff@something.com",
                    "Weekly news",
                    "This week: the new canteen opens.",
                ),
            )
            .unwrap();
        assert_eq!(v.action, Action::Accept, "{:?}", names(&v));
        assert!(v.alerts.is_empty());
    }
}

/// Blocks `user` through a limit of 5 external recipients an hour with the
/// block-user action, on whatever state the sandbox has.
fn limit_settings() -> Settings {
    with_options(&[
        ("outbound-external-recipients-per-hour", "5"),
        ("outbound-limit-action", "block-user"),
        ("outbound-early-signals", "off"),
    ])
}

#[test]
fn embedded_state_survives_a_restart() {
    let dir = TempDir::new("embedded-restart");
    let path = dir.0.join("state.redb");
    let user = "frank@something.com";
    let at;
    {
        let state: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(&path).unwrap());
        let (s, clock) = setup(&limit_settings(), state);
        let v = send_batch(&s, &clock, user, 3);
        assert!(v.iter().all(|v| v.action == Action::Accept));
        at = clock_now(&clock);
    }
    {
        // Counting goes on where it stopped: two more pass, the sixth
        // recipient crosses the limit.
        let state: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(&path).unwrap());
        let (s, clock) = setup(&limit_settings(), state);
        clock.set(at);
        let v = send_batch(&s, &clock, user, 3);
        let actions: Vec<Action> = v.iter().map(|v| v.action).collect();
        assert_eq!(actions, [Action::Accept, Action::Accept, Action::Reject]);
    }
    let state = EmbeddedStore::open(&path).unwrap();
    let listed = state.restricted_users(at + 3600).unwrap();
    assert_eq!(listed.len(), 1, "the block survived the restart: {listed:?}");
    assert_eq!(listed[0].restrictions[0].kind, RestrictionKind::Block);
}

#[test]
fn two_hosts_on_one_redis_see_one_users_combined_volume_and_restart_keeps_it() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = "two-hosts";
    let a: Arc<dyn StateStore> = Arc::new(RedisStore::connect(&redis.url(), prefix).unwrap());
    let b: Arc<dyn StateStore> = Arc::new(RedisStore::connect(&redis.url(), prefix).unwrap());
    let (host_a, clock_a) = setup(&limit_settings(), a);
    let (host_b, clock_b) = setup(&limit_settings(), b);
    let user = "grace@something.com";
    let mut actions = Vec::new();
    for i in 0..6u64 {
        let (host, clock) = if i % 2 == 0 {
            (&host_a, &clock_a)
        } else {
            (&host_b, &clock_b)
        };
        clock.set(NOW + i * 60);
        let to = format!("c{i}@partner.example");
        let v = host
            .check(
                &submit(user, "198.51.100.10", &[&to]),
                &mail(user, &to, "hello", "Hello there, see you soon."),
            )
            .unwrap();
        actions.push(v.action);
    }
    // Three messages through each host; only together do they cross 5.
    assert_eq!(actions[..5], [Action::Accept; 5]);
    assert_eq!(
        actions[5],
        Action::Reject,
        "host B saw the sixth recipient of the two hosts together"
    );
    clock_a.set(NOW + 600);
    let on_a = host_a
        .check(
            &submit(user, "198.51.100.10", &["x@partner.example"]),
            &mail(user, "x@partner.example", "hi", "Another message for you."),
        )
        .unwrap();
    assert!(
        on_a.has("OUT_USER_BLOCKED"),
        "the block made on B holds on A: {:?}",
        names(&on_a)
    );

    // Both hosts go away; a new one on the same Redis finds the block.
    drop((host_a, host_b));
    let c = Arc::new(RedisStore::connect(&redis.url(), prefix).unwrap());
    let listed = c.restricted_users(NOW + 3600).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user, user);
    let (host_c, clock_c) = setup(&limit_settings(), c.clone());
    clock_c.set(NOW + 3600);
    let v = host_c
        .check(
            &submit(user, "198.51.100.10", &["y@partner.example"]),
            &mail(user, "y@partner.example", "hi", "And one more message."),
        )
        .unwrap();
    assert!(v.has("OUT_USER_BLOCKED"));
    assert!(c.release(user, None).unwrap());
    assert!(c.restricted_users(NOW + 3600).unwrap().is_empty());
    assert!(
        c.delete_all().unwrap() > 0,
        "the test's keys are under its prefix"
    );
}

/// Accepts HTTP requests on a loopback port and hands each body over.
fn webhook_listener() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/mailward", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .unwrap();
            let _ = tx.send(format!(
                "{}\n{}",
                request_line.trim(),
                String::from_utf8_lossy(&body)
            ));
        }
    });
    (url, rx)
}

#[test]
fn alerts_are_posted_to_the_webhook() {
    let (url, rx) = webhook_listener();
    let sink = Arc::new(AlertSink::with_webhook(&url, Duration::from_secs(5)).unwrap());
    let clock = Arc::new(ManualClock::new(NOW));
    let s = outbound_sandbox(
        Arc::new(mailward_core::dns::Offline),
        &with_options(&[
            ("outbound-external-recipients-per-hour", "1"),
            ("outbound-early-signals", "off"),
        ]),
        memory(),
        clock.clone(),
        sink.clone(),
    );
    let v = send_batch(&s, &clock, "heidi@something.com", 2);
    assert_eq!(v[1].alerts.len(), 1);
    assert!(sink.flush(Duration::from_secs(10)), "the webhook was delivered");
    let got = rx.recv_timeout(Duration::from_secs(10)).expect("a POST arrived");
    let (request_line, body) = got.split_once('\n').unwrap();
    assert_eq!(request_line, "POST /hooks/mailward HTTP/1.1");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["kind"], "limit-exceeded");
    assert_eq!(json["user"], "heidi@something.com");
    assert_eq!(json["action"], "block-user-for-today");
    assert_eq!(json["time"], clock_now(&clock));
    assert_eq!(
        json["pack"],
        format!("mailward-default/{}", v[1].rule_pack.version)
    );
}

#[test]
fn sandbox_and_native_core_agree_on_a_stateful_sequence() {
    let settings = Settings::default();
    let wasm_state = memory();
    let native_state = memory();
    let (s, clock) = setup(&settings, wasm_state);
    let mut native = mailward_rules::default_filter().unwrap();
    native.configure(&settings).unwrap();
    let z = zone(&String::from_utf8(read("seed/something.com.zone.yml")).unwrap());
    let mut inbound_seed = inbound("203.0.113.66", "admin@something.com");
    inbound_seed.rcpt_to = vec![JANE.into()];
    let mut steps: Vec<(Envelope, Vec<u8>)> = vec![
        (inbound_seed, read("seed/seed-phish.eml")),
        (
            submit(JANE, "192.0.2.44", &["upgrade.account.team@freemail.example"]),
            read("outbound/seed-reply.eml"),
        ),
    ];
    for i in 0..30 {
        let to = format!("v{i}@t{i}.example");
        steps.push((
            submit("ivan@something.com", "203.0.113.7", &[&to]),
            mail(
                "ivan@something.com",
                &to,
                "Offer",
                "Buy cheap watches today, best offer.",
            ),
        ));
    }
    let core_state = CoreState(&*native_state);
    for (i, (env, msg)) in steps.iter().enumerate() {
        let now = NOW + i as u64 * 120;
        clock.set(now);
        let wasm = s.check(env, msg).unwrap();
        let renv = ResolverEnv::new(&z, now, 100).with_state(&core_state);
        let nat = native.check(&renv, env, msg);
        assert_eq!(wasm, nat, "step {i}: sandboxed and native verdicts differ");
    }
    let blocked = native_state.restricted_users(NOW + 3600 * 2).unwrap();
    assert!(
        blocked.iter().any(|u| u.user == "ivan@something.com"),
        "the sequence reached a block: {blocked:?}"
    );
}
