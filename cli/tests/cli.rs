//! The `mailward` binary as users run it: exit codes, output formats,
//! offline DNS, scanning directories and mbox files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

fn mailward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailward"))
        .args(args)
        .env(
            "MAILWARD_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache"),
        )
        .env("MAILWARD_STATE_DIR", state_dir())
        .output()
        .expect("mailward runs")
}

/// This test process's state directory (tests never touch the user's own
/// state file).
fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("mailward-cli-test-state-{}", std::process::id()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailward"))
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
        .env(
            "MAILWARD_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache"),
        )
        .env("MAILWARD_STATE_DIR", state_dir())
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
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/no/such/file.eml"));
    let bad = std::env::temp_dir().join(format!("mailward-bad-pack-{}.wasm", std::process::id()));
    std::fs::write(&bad, b"\0asm\x01\0\0\0").unwrap();
    let out = mailward(&[
        "check",
        data("ham/lunch.eml").to_str().unwrap(),
        "--rules",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("core WebAssembly module"),
        "{}",
        text(&out.stderr)
    );
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
