//! A load generator for a running daemon: concurrent milter sessions
//! (each a Postfix-like MTA connection sending message after message) and
//! concurrent HTTP clients (keep-alive `POST /checkv2`), for a fixed time.
//! Every exchange started is counted as answered or as an error; `lost`
//! is what neither explains (it must be 0).

use crate::milter::client::{MilterClient, POSTFIX_OFFER};
use crate::milter::codec::Reply;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mailward_core::Envelope;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The daemon's milter listener (no milter load without it).
    pub milter: Option<SocketAddr>,
    /// The daemon's HTTP listener (no HTTP load without it).
    pub http: Option<SocketAddr>,
    /// Concurrent milter sessions.
    pub milter_sessions: usize,
    /// Concurrent HTTP clients.
    pub http_clients: usize,
    /// How long to keep sending.
    pub duration: Duration,
    /// The messages, sent round-robin.
    pub messages: Arc<Vec<(Envelope, Vec<u8>)>>,
}

/// The results of one side (milter or HTTP).
#[derive(Debug, Clone, Default)]
pub struct SideReport {
    /// Exchanges started.
    pub sent: u64,
    /// Exchanges that got a verdict.
    pub answered: u64,
    /// Exchanges that failed (connection, protocol, HTTP status).
    pub errors: u64,
    /// Answers per action (rspamd names for HTTP; for milter the action in
    /// `X-Mailward`, or the SMTP reply of a refusal).
    pub actions: BTreeMap<String, u64>,
    /// Answers per pack `name/version` (HTTP only: the milter answer of a
    /// reject carries no pack name).
    pub packs: BTreeMap<String, u64>,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// Latency of every answer, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl SideReport {
    /// Exchanges started that ended neither in an answer nor in an error.
    pub fn lost(&self) -> u64 {
        self.sent - self.answered - self.errors
    }

    /// The `q` quantile of the latencies (0.5: median).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        Duration::from_micros(u64::from(self.latencies_us[i]))
    }

    fn merge(&mut self, o: SideReport) {
        self.sent += o.sent;
        self.answered += o.answered;
        self.errors += o.errors;
        for (k, v) in o.actions {
            *self.actions.entry(k).or_default() += v;
        }
        for (k, v) in o.packs {
            *self.packs.entry(k).or_default() += v;
        }
        for e in o.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(e);
            }
        }
        self.latencies_us.extend(o.latencies_us);
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.error_samples.len() < 5 {
            self.error_samples.push(e.to_string());
        }
    }

    fn answer(&mut self, start: Instant, action: String, pack: Option<String>) {
        self.answered += 1;
        self.latencies_us
            .push(start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        *self.actions.entry(action).or_default() += 1;
        if let Some(p) = pack {
            *self.packs.entry(p).or_default() += 1;
        }
    }
}

/// Both sides.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Milter sessions.
    pub milter: SideReport,
    /// HTTP clients.
    pub http: SideReport,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Runs the load; returns when every worker has finished its last
/// exchange after `duration`.
pub async fn run(config: LoadConfig) -> LoadReport {
    let start = Instant::now();
    let deadline = start + config.duration;
    // One sequence for all workers: every message is sent in turn.
    let next = Arc::new(AtomicUsize::new(0));
    let mut milter = tokio::task::JoinSet::new();
    let mut http = tokio::task::JoinSet::new();
    if let Some(addr) = config.milter {
        for _ in 0..config.milter_sessions {
            milter.spawn(worker::<MilterClient>(
                addr,
                next.clone(),
                deadline,
                config.messages.clone(),
            ));
        }
    }
    if let Some(addr) = config.http {
        for _ in 0..config.http_clients {
            http.spawn(worker::<Sender>(
                addr,
                next.clone(),
                deadline,
                config.messages.clone(),
            ));
        }
    }
    let mut report = LoadReport::default();
    while let Some(r) = milter.join_next().await {
        match r {
            Ok(s) => report.milter.merge(s),
            Err(e) => report.milter.error(format!("worker: {e}")),
        }
    }
    while let Some(r) = http.join_next().await {
        match r {
            Ok(s) => report.http.merge(s),
            Err(e) => report.http.error(format!("worker: {e}")),
        }
    }
    report.milter.latencies_us.sort_unstable();
    report.http.latencies_us.sort_unstable();
    report.elapsed = start.elapsed();
    report
}

fn reply_kind(r: &Reply) -> String {
    match r {
        Reply::ReplyCode(c) => format!("reply {}", c.get(..3).unwrap_or(c)),
        Reply::Accept | Reply::Continue => "accept".into(),
        other => format!("{other:?}"),
    }
}

/// A protocol client the load workers drive: one connection, message after
/// message, reconnecting after a failed exchange.
trait LoadClient: Sized + Send {
    /// Opens a connection.
    fn connect(addr: SocketAddr) -> impl Future<Output = Result<Self, String>> + Send;

    /// Sends one message; the verdict's action and pack (`name/version`,
    /// when the answer carries it).
    fn exchange(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> impl Future<Output = Result<(String, Option<String>), String>> + Send;

    /// Ends the connection politely.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// One worker: sends the shared sequence's next message until `deadline`,
/// counting every exchange as answered or failed.
async fn worker<C: LoadClient>(
    addr: SocketAddr,
    next: Arc<AtomicUsize>,
    deadline: Instant,
    messages: Arc<Vec<(Envelope, Vec<u8>)>>,
) -> SideReport {
    let mut r = SideReport::default();
    let mut client: Option<C> = None;
    while Instant::now() < deadline {
        let (envelope, message) = &messages[next.fetch_add(1, Ordering::Relaxed) % messages.len()];
        let start = Instant::now();
        r.sent += 1;
        let mut c = match client.take() {
            Some(c) => c,
            None => match C::connect(addr).await {
                Ok(c) => c,
                Err(e) => {
                    r.error(e);
                    continue;
                }
            },
        };
        match c.exchange(envelope, message).await {
            Ok((action, pack)) => {
                r.answer(start, action, pack);
                client = Some(c);
            }
            Err(e) => r.error(e),
        }
    }
    if let Some(c) = client {
        c.close().await;
    }
    r
}

impl LoadClient for MilterClient {
    async fn connect(addr: SocketAddr) -> Result<Self, String> {
        MilterClient::connect(addr, POSTFIX_OFFER)
            .await
            .map_err(|e| e.to_string())
    }

    async fn exchange(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(String, Option<String>), String> {
        let outcome = self.message(envelope, message).await.map_err(|e| e.to_string())?;
        let pack = outcome
            .header("X-Mailward")
            .and_then(|h| h.split("pack=").nth(1))
            .map(|p| p.split(';').next().unwrap_or(p).trim().to_string());
        // The verdict's action from X-Mailward (accept and add-header are
        // both an accept reply); else the reply.
        let action = match outcome.header("X-Mailward") {
            Some(h) if !matches!(outcome.last, Reply::ReplyCode(_)) => {
                h.split(';').next().unwrap_or(h).trim().to_string()
            }
            _ => reply_kind(&outcome.last),
        };
        Ok((action, pack))
    }

    async fn close(self) {
        let _ = self.quit().await;
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn http_connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one `/checkv2` request; the answer's JSON.
pub async fn checkv2(
    sender: &mut Sender,
    envelope: &Envelope,
    message: &[u8],
) -> Result<serde_json::Value, String> {
    let mut req = hyper::Request::post("/checkv2").header("Host", "mailward");
    if let Some(ip) = envelope.client_ip {
        req = req.header("IP", ip.to_string());
    }
    if let Some(h) = &envelope.helo {
        req = req.header("Helo", h);
    }
    req = req.header("From", format!("<{}>", envelope.mail_from));
    for rc in &envelope.rcpt_to {
        req = req.header("Rcpt", format!("<{rc}>"));
    }
    if let Some(u) = &envelope.auth_user {
        req = req.header("User", u);
    }
    if let Some(q) = &envelope.queue_id {
        req = req.header("Queue-Id", q);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(message)))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}"))
}

impl LoadClient for Sender {
    async fn connect(addr: SocketAddr) -> Result<Self, String> {
        http_connect(addr).await
    }

    async fn exchange(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(String, Option<String>), String> {
        let v = checkv2(self, envelope, message).await?;
        match v["action"].as_str() {
            Some(a) => Ok((a.to_string(), v["mailward"]["pack"].as_str().map(String::from))),
            None => Err(format!("answer without an action: {v}")),
        }
    }

    async fn close(self) {}
}
