//! `mailward serve` against real peers, all on loopback with random ports:
//! Debian's Postfix (a private instance from a temporary configuration
//! directory, `smtpd_milters` pointing at the daemon), rspamd's `rspamc`
//! client, the admin API and signals, and a short load run with a pack
//! swap in the middle. `.ci/run` installs `postfix` and `rspamd` (which
//! ships `rspamc`); without them these tests fail under CI (`CI` set) and
//! say loudly that they were skipped elsewhere.

use bytes::BytesMut;
use mailward_serve::milter::codec::{Command as Milter, OptNeg, Reply, take_packet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn seed(name: &str) -> PathBuf {
    repo().join("tests/data/seed").join(name)
}

/// A fresh directory under the target directory's temporary space,
/// readable by Postfix's unprivileged user.
fn temp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Says why a real peer is missing: a failure under CI, a loud skip
/// elsewhere.
fn missing(what: &str) -> bool {
    let msg = format!("{what} (.ci/run installs it)");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!!!!\n!!! SKIPPED: {msg}\n!!!!!!!!!!\n");
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `mailward serve`; SIGTERM and reaped when dropped.
struct Daemon {
    child: Child,
    milter: SocketAddr,
    http: SocketAddr,
    dir: PathBuf,
}

const CONFIG: &str = r#"
[policy]
protected-domains = ["something.com"]
authserv-id = "mx.something.com"

[state]
backend = "memory"

[serve]
workers = 2
shutdown-grace-ms = 10000
"#;

impl Daemon {
    fn start(name: &str, extra_config: &str) -> Daemon {
        let dir = temp_dir(name);
        let config = dir.join("mailward.toml");
        std::fs::write(&config, format!("{CONFIG}\n{extra_config}")).unwrap();
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-compile-cache");
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailward"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--dns-zone")
            .arg(seed("something.com.zone.yml"))
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--milter", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mailward serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("[mailward serve] {line}");
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(240))
            .expect("mailward serve prints its ready line");
        assert!(line.starts_with("mailward serve: ready"), "{line}");
        let field = |name: &str| -> SocketAddr {
            line.split("; ")
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} in {line}"))
                .trim()
                .parse()
                .unwrap()
        };
        Daemon {
            milter: field("milter "),
            http: field("http "),
            child,
            dir,
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "mailward serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.1 request with `Connection: close`; status and body.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: mailward\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A private Postfix instance in `dir`: its own configuration, queue and
/// data directories, SMTP on `127.0.0.1:smtp_port`, the daemon's milter,
/// and virtual delivery of everything for something.com into one mbox.
struct Postfix {
    conf: PathBuf,
    master: Child,
    smtp: SocketAddr,
    mbox: PathBuf,
    log: PathBuf,
}

fn id_of(flag: &str, name: &str) -> String {
    let o = Command::new("id").args([flag, name]).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

impl Postfix {
    fn start(dir: &Path, milter: SocketAddr) -> Postfix {
        let conf = dir.join("conf");
        let mail = dir.join("mail");
        for d in ["conf", "queue", "data", "mail"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (uid, gid) = (id_of("-u", "postfix"), id_of("-g", "postfix"));
        for d in ["data", "mail"] {
            let st = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(dir.join(d))
                .status()
                .unwrap();
            assert!(st.success());
        }
        let port = free_port();
        let log = dir.join("maillog");
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {q}
data_directory = {d}
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.something.com
mydomain = something.com
myorigin = something.com
mydestination =
relayhost =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = something.com
virtual_mailbox_base = {m}
virtual_mailbox_maps = static:mbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
maillog_file = {log}
maillog_file_prefixes = {dir}
smtp_host_lookup = native
smtpd_milters = inet:{milter}
milter_protocol = 6
milter_default_action = tempfail
milter_mail_macros = i {{auth_type}} {{auth_authen}} {{auth_author}} {{mail_addr}}
",
            q = dir.join("queue").display(),
            d = dir.join("data").display(),
            m = mail.display(),
            log = log.display(),
            dir = dir.display(),
        );
        std::fs::write(conf.join("main.cf"), main_cf).unwrap();
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"
        );
        std::fs::write(conf.join("master.cf"), master_cf).unwrap();
        let check = Command::new("postfix")
            .arg("-c")
            .arg(&conf)
            .arg("check")
            .status()
            .unwrap();
        assert!(check.success(), "postfix check (see {})", log.display());
        let master = Command::new("postfix")
            .arg("-c")
            .arg(&conf)
            .arg("start-fg")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("postfix start-fg");
        let smtp: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(smtp).is_err() {
            assert!(Instant::now() < deadline, "postfix listens on {smtp}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Postfix {
            conf,
            master,
            smtp,
            mbox: mail.join("mbox"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// One SMTP transaction; the final reply (code and text) to DATA's end.
fn smtp_send(addr: SocketAddr, from: &str, rcpt: &str, message: &[u8]) -> (u16, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let reply = |r: &mut BufReader<TcpStream>| -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.len() >= 4, "SMTP reply line: {line:?}");
            all.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), all);
            }
        }
    };
    let (c, t) = reply(&mut r);
    assert_eq!(c, 220, "{t}");
    for cmd in [
        "EHLO client.test".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{rcpt}>"),
        "DATA".to_string(),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let (c, t) = reply(&mut r);
        assert!(c < 400, "{cmd}: {t}");
    }
    let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
    for line in text.lines() {
        let dot = if line.starts_with('.') { "." } else { "" };
        w.write_all(format!("{dot}{line}\r\n").as_bytes()).unwrap();
    }
    w.write_all(b".\r\n").unwrap();
    let result = reply(&mut r);
    let _ = w.write_all(b"QUIT\r\n");
    result
}

/// The header block of the message with Subject `subject` in the Postfix
/// instance's mailbox, once it is delivered (at most 60 s).
fn delivered_header_block(postfix: &Postfix, subject: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mbox = std::fs::read_to_string(&postfix.mbox).unwrap_or_default();
        if let Some(msg) = mbox
            .split("\nFrom ")
            .find(|msg| msg.contains(&format!("Subject: {subject}")))
        {
            return msg.split("\n\n").next().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{subject:?} is delivered to the mailbox\n{}",
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn postfix_rejects_the_seed_phish_and_delivers_ham_with_authentication_results() {
    if Command::new("postfix").arg("-h").output().is_err() && !Path::new("/usr/sbin/postfix").exists() {
        missing("postfix is not installed (Debian: apt-get install postfix)");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Postfix's master must start as root (it drops to mail_owner).
        missing("the Postfix test needs root (Postfix's master starts as root)");
        return;
    }
    let daemon = Daemon::start("postfix", "");
    let dir = temp_dir("postfix-instance");
    let postfix = Postfix::start(&dir, daemon.milter);

    let phish = std::fs::read(seed("seed-phish.eml")).unwrap();
    let (code, phish_reply) = smtp_send(
        postfix.smtp,
        "admin@something.com",
        "jane.doe@something.com",
        &phish,
    );
    assert_eq!(
        code,
        550,
        "the phish is rejected at end of DATA: {phish_reply}\n{}",
        postfix.log()
    );
    assert!(phish_reply.starts_with("550 5.7.1 "), "{phish_reply}");

    let ham = std::fs::read(repo().join("tests/data/ham/lunch.eml")).unwrap();
    let (code, text) = smtp_send(postfix.smtp, "alice@example.org", "bob@something.com", &ham);
    assert_eq!(code, 250, "the ham is queued: {text}\n{}", postfix.log());
    let header_block = delivered_header_block(&postfix, "Lunch on Thursday?");
    assert!(
        header_block.contains("\nAuthentication-Results: mx.something.com;"),
        "mailward's Authentication-Results in the delivered header:\n{header_block}"
    );
    assert!(
        header_block.contains("\nX-Mailward: accept;") || header_block.contains("\nX-Mailward: add-header;"),
        "{header_block}"
    );
    assert!(
        !std::fs::read_to_string(&postfix.mbox)
            .unwrap()
            .contains("E-mail Account Upgrade"),
        "the phish was not delivered"
    );

    // Fields that claim to be mailward's arrive with a message: Postfix
    // delivers it without them (milter SMFIR_CHGHEADER deletions), with
    // mailward's own, and keeps another server's Authentication-Results.
    let ham = String::from_utf8(ham).unwrap();
    let forged = format!(
        "X-Mailward: accept; score=-100.00 (forged)\r\n\
         Authentication-Results: mx.something.com; spf=pass; dkim=pass (forged)\r\n\
         Authentication-Results: relay.example.net; spf=none\r\n\
         X-Spam-Flag: NO\r\n{}",
        ham.replace("Subject: Lunch on Thursday?", "Subject: Forged lunch")
    );
    let (code, text) = smtp_send(
        postfix.smtp,
        "alice@example.org",
        "bob@something.com",
        forged.as_bytes(),
    );
    assert_eq!(code, 250, "the forged ham is queued: {text}\n{}", postfix.log());
    let forged_block = delivered_header_block(&postfix, "Forged lunch");
    assert!(!forged_block.contains("(forged)"), "{forged_block}");
    assert!(!forged_block.contains("X-Spam-Flag: NO"), "{forged_block}");
    assert_eq!(
        forged_block.matches("\nX-Mailward: ").count(),
        1,
        "only mailward's own X-Mailward:\n{forged_block}"
    );
    assert_eq!(
        forged_block
            .matches("\nAuthentication-Results: mx.something.com;")
            .count(),
        1,
        "only mailward's own Authentication-Results:\n{forged_block}"
    );
    assert!(
        forged_block.contains("\nAuthentication-Results: relay.example.net; spf=none"),
        "another server's result is kept:\n{forged_block}"
    );
    // Postfix logged the milter's reject, with the text mailward gave.
    let log = postfix.log();
    let reject = log
        .lines()
        .find(|l| l.contains("milter-reject: END-OF-MESSAGE"))
        .unwrap_or_else(|| panic!("a milter-reject line: {log}"));
    assert!(
        reject.contains(phish_reply.trim_start_matches("550 ").trim()),
        "{reject}\n{phish_reply}"
    );
    // The daemon counted both.
    let (_, metrics) = http(daemon.http, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("mailward_messages_total{source=\"milter\",action=\"reject\"} 1"),
        "{metrics}"
    );
    drop(postfix);
    assert!(daemon.stop().success());
}

/// `rspamc symbols` on the seed phish against `http`, from 203.0.113.66
/// and admin@something.com, with `extra` options.
fn rspamc_seed(http: SocketAddr, extra: &[&str]) -> std::process::Output {
    Command::new("rspamc")
        .arg("-h")
        .arg(http.to_string())
        .args(["-i", "203.0.113.66", "-F", "admin@something.com"])
        .args(extra)
        .arg("symbols")
        .arg(seed("seed-phish.eml"))
        .output()
        .unwrap()
}

#[test]
fn rspamc_shows_mailwards_action_score_and_symbols() {
    if Command::new("rspamc").arg("--help").output().is_err() {
        missing("rspamc is not installed (Debian: apt-get install rspamd)");
        return;
    }
    let daemon = Daemon::start("rspamc", "");
    let out = rspamc_seed(
        daemon.http,
        &["-r", "jane.doe@something.com", "--helo", "mx.phisher.example"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "rspamc exits 0");
    assert!(text.contains("Action: reject"), "{text}");
    let score_line = text
        .lines()
        .find(|l| l.starts_with("Score:"))
        .expect("a Score line");
    let score: f64 = score_line[6..].split('/').next().unwrap().trim().parse().unwrap();
    assert!(score >= 15.0, "{score_line}");
    assert!(text.contains("Symbol: PHISH_CRED_LURE"), "{text}");
    // --json gives the same answer machine-readably.
    let out = rspamc_seed(daemon.http, &["--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('{').expect("JSON in rspamc --json");
    let v = json(&text[start..]);
    assert_eq!(v["action"], "reject", "{v}");
    assert!(
        v["symbols"]["PHISH_CRED_LURE"]["score"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn checkv2_health_metrics_and_admin_swaps() {
    let state = temp_dir("admin-state");
    let watch = state.join("incoming");
    std::fs::create_dir_all(&watch).unwrap();
    let daemon = Daemon::start(
        "admin",
        &format!(
            "[limits]\nmessage-mib = 1\n[rules]\nstate-dir = {:?}\nwatch-dir = {:?}\nwatch-interval-ms = 60000\n",
            state.display().to_string(),
            watch.display().to_string()
        ),
    );
    let v1 = mailward_fixtures::default_version();
    let v2 = mailward_fixtures::v2_version();
    let (code, body) = http(daemon.http, "GET", "/health", &[], b"");
    assert_eq!(code, 200);
    assert_eq!(json(&body)["pack"]["version"], v1.as_str());

    // rspamd's request headers, including User (outbound) and Queue-Id.
    let phish = std::fs::read(seed("seed-phish.eml")).unwrap();
    let (code, body) = http(
        daemon.http,
        "POST",
        "/checkv2",
        &[
            ("IP", "203.0.113.66"),
            ("From", "<admin@something.com>"),
            ("Rcpt", "<jane.doe@something.com>"),
            ("Helo", "mx.phisher.example"),
            ("Queue-Id", "4F2A61C0042"),
        ],
        &phish,
    );
    assert_eq!(code, 200);
    let v = json(&body);
    assert_eq!(v["action"], "reject");
    assert_eq!(v["mailward"]["action"], "reject");
    assert!(v["score"].as_f64().unwrap() >= v["required_score"].as_f64().unwrap());
    assert_eq!(v["symbols"]["PHISH_CRED_LURE"]["name"], "PHISH_CRED_LURE");
    assert!(
        v["messages"]["smtp_message"]
            .as_str()
            .unwrap()
            .starts_with("5.7.1 ")
    );
    assert_eq!(v["message-id"], "20090414131240.5D8E2@mx.phisher.example");

    // A message over [limits] message-mib (1 here) is not buffered whole;
    // the fail policy (tempfail) answers, over HTTP and over milter.
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.resize(1_600_000, b'x');
    let (code, body) = http(daemon.http, "POST", "/checkv2", &[], &big);
    assert_eq!(code, 200);
    let v = json(&body);
    assert_eq!(v["action"], "soft reject", "{v}");
    assert!(v["symbols"]["MAILWARD_FAIL_MESSAGE_TOO_LARGE"].is_object(), "{v}");
    let mut s = TcpStream::connect(daemon.milter).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut buf = BytesMut::new();
    send(
        &mut s,
        &[Milter::Mail(vec!["<a@example.org>".into()]), Milter::Data],
    );
    assert_eq!(
        read_reply(&mut s, &mut buf),
        Reply::Continue,
        "MAIL (no negotiation: every step answered)"
    );
    assert_eq!(read_reply(&mut s, &mut buf), Reply::Continue, "DATA");
    for chunk in big.chunks(65_535) {
        send(&mut s, &[Milter::Body(chunk.to_vec())]);
        assert_eq!(read_reply(&mut s, &mut buf), Reply::Continue);
    }
    send(&mut s, &[Milter::Eom(Vec::new())]);
    let r = read_reply(&mut s, &mut buf);
    assert!(
        matches!(&r, Reply::ReplyCode(c) if c.starts_with("451 4.7.0")),
        "{r:?}"
    );
    drop(s);

    assert_eq!(http(daemon.http, "GET", "/checkv2", &[], b"").0, 405);
    assert_eq!(http(daemon.http, "GET", "/nope", &[], b"").0, 404);
    assert_eq!(http(daemon.http, "GET", "/ping", &[], b"").1.trim(), "pong");

    // Admin API: load v2 (the whole pipeline), roll back.
    let pack = mailward_fixtures::default_pack_v2();
    let (code, body) = http(daemon.http, "POST", "/admin/pack", &[], &pack);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["activated"]["version"], v2.as_str());
    assert_eq!(
        json(&http(daemon.http, "GET", "/health", &[], b"").1)["pack"]["version"],
        v2.as_str()
    );
    let (code, body) = http(daemon.http, "POST", "/admin/pack", &[], b"not a pack");
    assert_eq!(code, 422, "a bad pack is refused: {body}");
    let (code, body) = http(daemon.http, "POST", "/admin/pack/rollback", &[], b"");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        json(&http(daemon.http, "GET", "/health", &[], b"").1)["pack"]["version"],
        v1.as_str()
    );
    let (_, status) = http(daemon.http, "GET", "/admin/pack", &[], b"");
    assert_eq!(json(&status)["active"]["version"], v1.as_str());

    // The watched directory, rescanned on SIGHUP (the poll interval is a
    // minute, so only the signal can explain a swap within the deadline).
    // v2 is a previous pack now, which the watcher skips as known: drop in
    // the same pack with another (empty) self-test section, a new file.
    let v2b = mailward_fixtures::with_suite(&pack, "");
    let staged = state.join("v2b.wasm.part");
    std::fs::write(&staged, &v2b).unwrap();
    std::fs::rename(&staged, watch.join("v2b.wasm")).unwrap();
    daemon.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = http(daemon.http, "GET", "/health", &[], b"");
        if json(&body)["pack"]["version"] == v2.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP loads the watched pack: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let (_, metrics) = http(daemon.http, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("mailward_messages_total{source=\"http\",action=\"reject\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("version=\"{v2}\"")), "{metrics}");
    assert!(
        metrics.contains("mailward_pack_events_total{event=\"rolled-back\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailward_pack_events_total{event=\"rejected\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailward_check_duration_seconds_count{source=\"http\"} 2"),
        "{metrics}"
    );
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&state);
}

fn send(s: &mut TcpStream, commands: &[Milter]) {
    let mut b = BytesMut::new();
    for c in commands {
        c.encode(&mut b);
    }
    s.write_all(&b).unwrap();
}

fn read_reply(s: &mut TcpStream, buf: &mut BytesMut) -> Reply {
    loop {
        if let Some((code, data)) = take_packet(buf, 1 << 20).unwrap() {
            return Reply::decode(code, &data).unwrap();
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the daemon closed the milter connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn sigterm_lets_an_in_flight_milter_message_finish() {
    let daemon = Daemon::start("graceful", "");
    let mut s = TcpStream::connect(daemon.milter).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut buf = BytesMut::new();
    send(
        &mut s,
        &[Milter::OptNeg(OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        })],
    );
    assert!(matches!(read_reply(&mut s, &mut buf), Reply::OptNeg(n) if n.version == 6));
    let phish = std::fs::read(seed("seed-phish.eml")).unwrap();
    let (headers, body) = mailward_serve::milter::client::split_message(&phish);
    let mut first = vec![
        Milter::Connect {
            hostname: "[203.0.113.66]".into(),
            family: b'4',
            port: 40000,
            address: "203.0.113.66".into(),
        },
        Milter::Helo("mx.phisher.example".into()),
        Milter::Macro {
            stage: b'M',
            pairs: vec![("i".into(), "4F2A61C0042".into())],
        },
        Milter::Mail(vec!["<admin@something.com>".into()]),
        Milter::Rcpt(vec!["<jane.doe@something.com>".into()]),
        Milter::Data,
    ];
    first.extend(
        headers
            .into_iter()
            .map(|(name, value)| Milter::Header { name, value }),
    );
    send(&mut s, &first);
    // Mid-message: the daemon is told to stop.
    std::thread::sleep(Duration::from_millis(300));
    daemon.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    // New connections are refused; this one still gets its verdict.
    let refused = TcpStream::connect(daemon.milter);
    assert!(refused.is_err(), "the listener is closed after SIGTERM");
    send(
        &mut s,
        &[Milter::Eoh, Milter::Body(body), Milter::Eom(Vec::new())],
    );
    let reply = read_reply(&mut s, &mut buf);
    assert!(
        matches!(&reply, Reply::ReplyCode(r) if r.starts_with("550 5.7.1")),
        "{reply:?}"
    );
    // Between messages the connection is closed and the daemon exits 0.
    let mut rest = [0u8; 16];
    assert_eq!(s.read(&mut rest).unwrap_or(0), 0, "closed after the message");
    assert!(daemon.stop().success());
}

#[test]
fn bench_serve_loses_nothing_across_a_pack_swap() {
    let dir = temp_dir("bench");
    let v2 = dir.join("v2.wasm");
    std::fs::write(&v2, mailward_fixtures::default_pack_v2()).unwrap();
    let out_json = dir.join("load.json");
    let config = dir.join("mailward.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-compile-cache");
    // Compile v2 into the cache first (as `mailward rules load` does before
    // a daemon swaps): the swap under load is then a cache hit, whatever the
    // machine's speed. (A cold compile under load is in the README's numbers.)
    let info = Command::new(env!("CARGO_BIN_EXE_mailward"))
        .arg("info")
        .arg("--rules")
        .arg(&v2)
        .arg("--config")
        .arg(&config)
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_mailward"))
        .arg("bench-serve")
        .arg(repo().join("tests/data/ham"))
        .arg(seed("seed-phish.eml"))
        .arg("--config")
        .arg(&config)
        .arg("--dns-zone")
        .arg(seed("something.com.zone.yml"))
        .arg("--cache-dir")
        .arg(&cache)
        // The swap starts after 1 s: compiling v2 (when it is not in the
        // compile cache yet) competes with the load for the two cores.
        .args([
            "--seconds",
            "14",
            "--swap-at",
            "1",
            "--milter-sessions",
            "20",
            "--http-clients",
            "20",
        ])
        .arg("--swap-with")
        .arg(&v2)
        .arg("--json")
        .arg(&out_json)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "0 lost, 0 errors, the swap worked");
    let v = json(&std::fs::read_to_string(&out_json).unwrap());
    for side in ["milter", "http"] {
        assert_eq!(v[side]["lost"], 0, "{side}: {v}");
        assert_eq!(v[side]["errors"], 0, "{side}: {v}");
        assert!(v[side]["answered"].as_u64().unwrap() > 20, "{side}: {v}");
        assert!(
            v[side]["actions"].as_object().unwrap().len() >= 2,
            "ham and phish differ: {v}"
        );
    }
    let packs = v["http"]["packs"].as_object().unwrap();
    let name = |ver: String| format!("mailward-default/{ver}");
    assert!(
        packs.contains_key(&name(mailward_fixtures::default_version()))
            && packs.contains_key(&name(mailward_fixtures::v2_version())),
        "answers from both packs: {packs:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
