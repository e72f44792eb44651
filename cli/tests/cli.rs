//! The `mailward` binary as users run it: exit codes, output formats,
//! offline DNS, scanning directories and mbox files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

/// The `mailward` binary with the tests' shared compile cache.
fn mailward_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailward"));
    command.env(
        "MAILWARD_CACHE_DIR",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache"),
    );
    command
}

fn mailward(args: &[&str]) -> Output {
    let state = StateDir::new();
    mailward_command()
        .args(args)
        .env("MAILWARD_STATE_DIR", &state.0)
        .output()
        .expect("mailward runs")
}

/// A state directory of its own for each command a test runs (tests never
/// touch the user's own state file, and commands of tests running in
/// parallel never wait for each other's lock on the embedded store),
/// under Cargo's temporary directory for tests, removed when dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> StateDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        StateDir(
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("mailward-cli-test-state-{}-{n}", std::process::id())),
        )
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `out` is a failure (exit code 1) whose error message mentions `needle`.
fn assert_fails_with(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
}

#[test]
fn check_rejects_the_seed_mail_with_exit_code_12() {
    let seed = data("seed/seed-phish.eml");
    let zone = data("seed/something.com.zone.yml");
    let out = mailward(&[
        "check",
        seed.to_str().unwrap(),
        "--dns-zone",
        zone.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(12), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("REJECT"), "{stdout}");
    assert!(stdout.contains("PHISH_CRED_LURE"), "{stdout}");
    assert!(stdout.contains("reply: 550 5.7.1"), "{stdout}");
}

#[test]
fn check_json_and_stdin() {
    let ham = std::fs::read(data("ham/lunch.eml")).unwrap();
    let state = StateDir::new();
    let mut child = mailward_command()
        .args([
            "check",
            "-",
            "--json",
            "--offline",
            "--mail-from",
            "alice@example.org",
            "--ip",
            "192.0.2.9",
        ])
        .env("MAILWARD_STATE_DIR", &state.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&ham).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["action"], "accept");
    // Plain ham: nothing counts against it (the classifier may vouch for it).
    assert!(v["score"].as_f64().unwrap() <= 0.0, "{v}");
    assert!(
        v["symbols"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["score"].as_f64().unwrap() <= 0.0),
        "{v}"
    );
    assert_eq!(v["rule_pack"]["name"], "mailward-default");
    assert!(
        v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "X-Mailward")
    );
}

#[test]
fn scan_counts_actions_over_files_and_mbox() {
    let dir = std::env::temp_dir().join(format!("mailward-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let seed = std::fs::read(data("seed/seed-phish.eml")).unwrap();
    let ham = std::fs::read(data("ham/lunch.eml")).unwrap();
    std::fs::write(dir.join("a.eml"), &seed).unwrap();
    std::fs::write(dir.join("sub/b.eml"), &ham).unwrap();
    let mut mbox = Vec::new();
    for m in [&ham, &seed, &ham] {
        mbox.extend_from_slice(b"From someone@example.org  Thu Nov 26 10:00:00 2026\n");
        mbox.extend_from_slice(m);
        mbox.extend_from_slice(b"\n");
    }
    std::fs::write(dir.join("box.mbox"), mbox).unwrap();
    let out = mailward(&["scan", dir.to_str().unwrap(), "--json", "--offline", "-j", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "2 files + 3 mbox messages");
    let rejects = lines.iter().filter(|l| l["action"] == "reject").count();
    assert_eq!(rejects, 2);
    assert!(
        lines
            .iter()
            .any(|l| l["path"].as_str().unwrap().ends_with("box.mbox#2"))
    );
    let summary = text(&out.stderr);
    assert!(summary.contains("scanned 5 messages"), "{summary}");
    assert!(summary.contains("reject=2"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_have_their_own_exit_codes() {
    let out = mailward(&["check", "/no/such/file.eml"]);
    assert_fails_with(&out, "/no/such/file.eml");
    let bad = std::env::temp_dir().join(format!("mailward-bad-pack-{}.wasm", std::process::id()));
    std::fs::write(&bad, b"\0asm\x01\0\0\0").unwrap();
    let out = mailward(&[
        "check",
        data("ham/lunch.eml").to_str().unwrap(),
        "--rules",
        bad.to_str().unwrap(),
    ]);
    assert_fails_with(&out, "core WebAssembly module");
    let _ = std::fs::remove_file(bad);
    let out = mailward(&["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn info_names_the_pack() {
    let out = mailward(&["info"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("mailward-default"), "{s}");
    assert!(s.contains("mailward:filter@0.2.0"), "{s}");
}

/// A fresh directory for one test.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mailward-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn users_list_and_release_after_a_limit_block() {
    let dir = scratch("users");
    let state = format!("embedded:{}", dir.join("state.redb").display());
    let msg = data("ham/lunch.eml");
    let send = |to: &str| {
        mailward(&[
            "check",
            msg.to_str().unwrap(),
            "--offline",
            "--auth-user",
            "bob@something.com",
            "--mail-from",
            "bob@something.com",
            "--rcpt",
            to,
            "--state",
            &state,
            "--option",
            "outbound-external-recipients-per-hour=1",
            "--option",
            "outbound-early-signals=off",
            "--now",
            "1795651200",
        ])
    };
    assert_eq!(send("a@example.org").status.code(), Some(0));
    let blocked = send("b@example.org");
    let stdout = text(&blocked.stdout);
    assert_eq!(blocked.status.code(), Some(12), "{stdout}");
    assert!(
        stdout.contains("alert: warning limit-exceeded [block-user-for-today]"),
        "{stdout}"
    );
    let users = |args: &[&str]| {
        let mut all = vec!["users"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--state", &state, "--now", "1795651300"]);
        mailward(&all)
    };
    let list = users(&["list"]);
    assert!(
        text(&list.stdout).starts_with(
            "bob@something.com\tblock\tuntil 2026-11-27 00:00 UTC\tsince 2026-11-26 00:00 UTC\t"
        ),
        "{}",
        text(&list.stdout)
    );
    let json = users(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(text(&json.stdout).trim()).unwrap();
    assert_eq!(v["restrictions"][0]["kind"], "block");
    let released = users(&["release", "Bob@Something.com"]);
    assert_eq!(released.status.code(), Some(0), "{}", text(&released.stderr));
    assert_eq!(text(&users(&["list"]).stdout), "");
    assert_eq!(users(&["release", "bob@something.com"]).status.code(), Some(1));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn replay_prints_verdicts_and_summarises_restrictions() {
    let dir = scratch("replay");
    let msg = data("ham/lunch.eml");
    let mut events = String::new();
    for i in 0..5u64 {
        let label = if i >= 3 { "spam" } else { "ham" };
        events.push_str(&format!(
            "{{\"t\": {}, \"user\": \"carol@something.com\", \"ip\": \"198.51.100.10\", \"mail_from\": \"carol@something.com\", \"rcpt\": [\"x{i}@partner.example\"], \"message\": \"{}\", \"label\": \"{label}\"}}\n",
            1_795_651_200 + i * 60,
            msg.display()
        ));
    }
    events.push_str(&format!(
        "{{\"t\": 1795651600, \"ip\": \"192.0.2.9\", \"mail_from\": \"alice@example.org\", \"rcpt\": [\"carol@something.com\"], \"message\": \"{}\"}}\n",
        msg.display()
    ));
    let path = dir.join("events.jsonl");
    std::fs::write(&path, events).unwrap();
    let summary = dir.join("summary.json");
    let out = mailward(&[
        "replay",
        path.to_str().unwrap(),
        "--option",
        "outbound-external-recipients-per-hour=2",
        "--option",
        "outbound-limit-action=block-user",
        "--option",
        "outbound-early-signals=off",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["accept", "accept", "reject", "reject", "reject", "accept"]
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("restricted users: 1"), "{stderr}");
    assert!(
        stderr.contains("false restrictions (blocked before any spam): 1"),
        "{stderr}"
    );
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let carol = &s["policy"]["outcome"]["users"]["carol@something.com"];
    assert_eq!(carol["blocked"]["message"], 3);
    assert_eq!(carol["blocked"]["t"], 1_795_651_320u64);
    assert_eq!(carol["delivered"], 2);
    assert_eq!(s["policy"]["outcome"]["inbound"], 1);
    assert_eq!(s["policy"]["measures"]["hijacked_accounts"], 1);
    assert_eq!(s["policy"]["measures"]["spam_delivered_before_block_max"], 0);
    let _ = std::fs::remove_dir_all(dir);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn pack_keygen_sign_and_verify() {
    let dir = scratch("sign");
    let key = dir.join("vendor.key");
    let out = mailward(&["pack", "keygen", "--out", s(&key)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pubkey = dir.join("vendor.key.pub");
    assert!(text(&std::fs::read(&pubkey).unwrap()).starts_with("ed25519:"));
    let pack = dir.join("v2.wasm");
    std::fs::write(&pack, mailward_fixtures::default_pack_v2()).unwrap();
    let out = mailward(&["pack", "sign", "--key", s(&key), s(&pack)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.join("v2.wasm.sig").exists());
    let out = mailward(&["pack", "verify", "--pub", s(&pubkey), s(&pack)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("good signature (signed by"),
        "{}",
        text(&out.stdout)
    );
    // Another key is not trusted.
    let other = dir.join("other.key");
    assert_eq!(
        mailward(&["pack", "keygen", "--out", s(&other)]).status.code(),
        Some(0)
    );
    let out = mailward(&["pack", "verify", "--pub", s(&dir.join("other.key.pub")), s(&pack)]);
    assert_fails_with(&out, "not a trusted key");
    // A changed pack no longer matches its signature.
    let mut bytes = std::fs::read(&pack).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&pack, bytes).unwrap();
    let out = mailward(&["pack", "verify", "--pub", s(&pubkey), s(&pack)]);
    assert_fails_with(&out, "different file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pack_export_writes_the_built_in_pack_that_then_loads() {
    let dir = scratch("export");
    let pack = dir.join("site.wasm");
    let out = mailward(&["pack", "export", "-o", s(&pack)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&pack).unwrap(), mailward_pack::DEFAULT_PACK);
    // The file is a pack like any other: `--rules` runs it, with the
    // built-in pack's verdict.
    let v = seed_check_json(&["--rules", s(&pack)]);
    assert_eq!(v["rule_pack"]["name"], "mailward-default", "{v}");
    assert_eq!(v["action"], "reject", "{v}");
    let out = mailward(&["pack", "export", "-o", s(&dir.join("no-such-dir/site.wasm"))]);
    assert_fails_with(&out, "no-such-dir/site.wasm");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The JSON verdict of `mailward check` on the seed mail, offline, with
/// `extra` arguments.
fn seed_check_json(extra: &[&str]) -> serde_json::Value {
    let seed = data("seed/seed-phish.eml");
    let mut args = vec!["check", seed.to_str().unwrap(), "--offline", "--json"];
    args.extend_from_slice(extra);
    let out = mailward(&args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

fn version_in_state(state: &Path) -> String {
    let v = seed_check_json(&["--state-dir", s(state)]);
    v["rule_pack"]["version"].as_str().unwrap().to_string()
}

#[test]
fn rules_load_status_and_rollback_work_on_a_state_directory() {
    let dir = scratch("rules");
    let state = dir.join("state");
    let v1 = mailward_fixtures::default_version();
    let v2 = mailward_fixtures::v2_version();
    let out = mailward(&["rules", "status", "--state-dir", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("none recorded"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        version_in_state(&state),
        v1,
        "an empty state runs the built-in pack"
    );

    let pack = dir.join("v2.wasm");
    std::fs::write(&pack, mailward_fixtures::default_pack_v2()).unwrap();
    let out = mailward(&["rules", "load", s(&pack), "--state-dir", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!(
            "loaded mailward-default {v2} (unsigned (no keys configured);"
        )),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("4 self-test cases"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(version_in_state(&state), v2);

    // A bad pack is refused with its reason; v2 stays.
    let bad = dir.join("bad.wasm");
    std::fs::write(&bad, mailward_fixtures::WRONG_MAJOR).unwrap();
    let out = mailward(&["rules", "load", s(&bad), "--state-dir", s(&state)]);
    assert_fails_with(&out, "the pack implements mailward:filter@1.0.0");
    assert_eq!(version_in_state(&state), v2);

    let out = mailward(&["rules", "status", "--state-dir", s(&state), "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["active"]["version"], v2.as_str());
    assert_eq!(st["previous"][0]["version"], v1.as_str());
    assert_eq!(st["previous"][0]["origin"], "built-in");
    assert_eq!(st["fail_policy"], "tempfail");
    assert!(st["rejected"][0]["reason"].as_str().unwrap().contains("1.0.0"));
    let out = mailward(&["rules", "status", "--state-dir", s(&state)]);
    let human = text(&out.stdout);
    assert!(
        human.contains(&format!("active:    mailward-default {v2}")),
        "{human}"
    );
    assert!(
        human.contains(&format!("previous:  mailward-default {v1}")),
        "{human}"
    );

    let out = mailward(&["rules", "rollback", "--state-dir", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("rolled back to mailward-default {v1}")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(version_in_state(&state), v1);
    let out = mailward(&["rules", "rollback", "--state-dir", s(&state)]);
    assert_fails_with(&out, "no previous pack");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rules_load_requires_a_signature_when_keys_are_configured() {
    let dir = scratch("signed-rules");
    let key = dir.join("k");
    assert_eq!(
        mailward(&["pack", "keygen", "--out", s(&key)]).status.code(),
        Some(0)
    );
    let config = dir.join("mailward.toml");
    std::fs::write(
        &config,
        "[rules]\nstate-dir = \"state\"\ntrusted-keys = [\"k.pub\"]\n\n[failure]\npolicy = \"fail-closed\"\n",
    )
    .unwrap();
    let pack = dir.join("v2.wasm");
    std::fs::write(&pack, mailward_fixtures::default_pack_v2()).unwrap();
    let out = mailward(&["rules", "load", s(&pack), "--config", s(&config)]);
    assert_fails_with(&out, "not signed");
    assert_eq!(
        mailward(&["pack", "sign", "--key", s(&key), s(&pack)])
            .status
            .code(),
        Some(0)
    );
    let out = mailward(&["rules", "load", s(&pack), "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("signed by"), "{}", text(&out.stdout));
    let out = mailward(&["rules", "status", "--config", s(&config), "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["active"]["version"], mailward_fixtures::v2_version().as_str());
    assert_eq!(st["fail_policy"], "fail-closed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_applies_the_fail_policy_to_a_hostile_pack() {
    let dir = scratch("fail-policy");
    let pack = dir.join("loop.wasm");
    std::fs::write(&pack, mailward_fixtures::INFINITE_LOOP).unwrap();
    let config = dir.join("mailward.toml");
    std::fs::write(
        &config,
        "[failure]\npolicy = \"fail-open\"\n\n[limits]\nguest-time-ms = 50\n",
    )
    .unwrap();
    let out = mailward(&[
        "check",
        data("ham/lunch.eml").to_str().unwrap(),
        "--offline",
        "--rules",
        s(&pack),
        "--config",
        s(&config),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["action"], "accept");
    assert_eq!(v["symbols"][0]["name"], "MAILWARD_FAIL_TIMEOUT");
    assert_eq!(
        v["headers"][0]["value"],
        "timeout; policy=fail-open; pack=fixture-infinite-loop/1.0.0"
    );
    assert!(
        text(&out.stderr).contains("time budget of 50 ms"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_alternates_rounds_and_reports_the_spread_of_their_ratios() {
    let out = mailward(&[
        "bench",
        data("ham").to_str().unwrap(),
        data("seed/seed-phish.eml").to_str().unwrap(),
        "--offline",
        "--rounds",
        "3",
        "--seconds",
        "0",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["rounds"], 3);
    assert_eq!(r["verdict_mismatches_native_vs_wasm"], 0);
    assert_eq!(r["sandbox_failures"], 0);
    let spread = &r["wasm_over_native_rounds"];
    let (min, median, max) = (
        spread["min"].as_f64().unwrap(),
        spread["median"].as_f64().unwrap(),
        spread["max"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= max, "{spread}");
    // With no least time, every round is one pass over the messages.
    let messages = r["messages"].as_u64().unwrap();
    let checked: u64 = r["wasm_actions"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(checked, 3 * messages, "{checked} checks of {messages} messages");
    let zero = mailward(&[
        "bench",
        data("ham").to_str().unwrap(),
        "--offline",
        "--rounds",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2), "{}", text(&zero.stderr));
}

#[test]
fn bench_swaps_reports_latency_and_no_failed_messages() {
    let dir = scratch("bench-swaps");
    let pack = dir.join("v2.wasm");
    std::fs::write(&pack, mailward_fixtures::default_pack_v2()).unwrap();
    let out = mailward(&[
        "bench",
        data("ham").to_str().unwrap(),
        data("seed/seed-phish.eml").to_str().unwrap(),
        "--offline",
        "--swaps",
        "4",
        "--swap-with",
        s(&pack),
        "--threads",
        "1",
        "--bad-every",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["swaps"], 4);
    assert_eq!(r["failed_messages"], 0);
    assert_eq!(r["verdicts_of_other_versions"], 0);
    assert_eq!(r["bad_packs_rejected"], 2);
    assert_eq!(r["swap_errors"], 0);
    assert_eq!(r["swap_cached_ms"]["count"], 4);
    assert!(r["messages_checked"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads the child's stdout lines on a thread; `expect` waits for a line.
struct Lines(std::sync::mpsc::Receiver<String>, Vec<String>);

impl Lines {
    fn new(stdout: std::process::ChildStdout) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx, Vec::new())
    }

    fn expect(&mut self, what: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    self.1.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {what:?}; got:\n{}", self.1.join("\n")),
            }
        }
    }
}

#[test]
fn rules_watch_follows_the_directory_sighup_and_the_cli() {
    let dir = scratch("watch");
    let state = dir.join("state");
    let incoming = dir.join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let v1 = mailward_fixtures::default_version();
    let v2 = mailward_fixtures::v2_version();
    let mut child = mailward_command()
        .args([
            "rules",
            "watch",
            "--state-dir",
            s(&state),
            "--watch-dir",
            s(&incoming),
            "--interval-ms",
            "100",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::new(child.stdout.take().unwrap());
    let ready = lines.expect("ready:");
    assert!(
        ready.contains(&format!("mailward-default/{v1} active")),
        "{ready}"
    );
    // A pack dropped into the directory is loaded.
    let tmp = dir.join("v2.tmp");
    std::fs::write(&tmp, mailward_fixtures::default_pack_v2()).unwrap();
    std::fs::rename(&tmp, incoming.join("v2.wasm")).unwrap();
    let line = lines.expect(&format!("activated mailward-default/{v2}"));
    assert!(line.contains("incoming/v2.wasm"), "{line}");
    // A bad one is refused.
    std::fs::write(incoming.join("broken.wasm"), b"\0asm\x0d\0\x01\0garbage").unwrap();
    let line = lines.expect("rejected");
    assert!(
        line.contains("broken.wasm") && line.contains("not a valid WebAssembly component"),
        "{line}"
    );
    // SIGHUP rescans.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    lines.expect("SIGHUP: rescanning");
    // `mailward rules rollback` in another process; the watcher follows.
    let out = mailward(&["rules", "rollback", "--state-dir", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = lines.expect(&format!("activated mailward-default/{v1}"));
    assert!(line.contains("from the store"), "{line}");
    // SIGTERM stops it cleanly.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    lines.expect("stopped");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
