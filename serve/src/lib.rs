//! `mailward serve`: the gateway daemon.
//!
//! It puts a [`PackManager`] (the active rule pack, hot-swapped by its
//! lifecycle) behind two network protocols, one module each:
//!
//! * [`milter`]: the Sendmail milter protocol version 6, as Postfix's
//!   `smtpd_milters` speaks it (connect, HELO, envelope, headers, body,
//!   end of message; macros such as `{auth_authen}` and `i`), answering
//!   accept / reject with SMTP text / tempfail / quarantine and adding the
//!   pack's header fields;
//! * [`http`]: rspamd's `POST /checkv2` (so rspamd clients work unchanged),
//!   `/metrics` (Prometheus), `/health`, and the admin endpoints of the
//!   pack lifecycle.
//!
//! ```text
//!  Postfix ──milter──► milter::session ─┐                ┌─► PackManager::check
//!                                        ├─► Checker ─────┤   (blocking pool, at most
//!  rspamc ───HTTP────► http::checkv2 ───┘   (metrics)    │    `workers` at a time)
//!  admin  ───HTTP────► http::admin ──────► PackManager::load / rollback / Watcher::poke
//! ```
//!
//! Messages are checked on tokio's blocking pool (the sandbox is CPU work),
//! at most [`ServeConfig::workers`] at a time. Every buffer is bounded: a
//! milter packet by [`ServeConfig::max_packet_bytes`], a message by
//! [`ServeConfig::max_message_bytes`] (a longer one is not buffered further
//! and gets the fail policy's verdict for `message-too-large`).
//!
//! [`Server::run`] stops on its shutdown future: the listeners close, every
//! connection finishes the message it is in, and whatever is still open
//! after [`ServeConfig::shutdown_grace`] is dropped.

pub mod error;
pub mod forged;
pub mod http;
pub mod load;
pub mod metrics;
pub mod milter;
pub mod rspamd;

pub use error::{ServeError, SessionError};
pub use metrics::{Metrics, Source};

use mailward_core::{Envelope, PackInfo};
use mailward_host::{CheckError, Decision, FailureKind, PackManager, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How the daemon listens and bounds its work.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Milter listener (`inet:` address for Postfix's `smtpd_milters`).
    pub milter: Option<SocketAddr>,
    /// HTTP listener (`/checkv2`, `/metrics`, `/health`, `/admin/…`).
    pub http: Option<SocketAddr>,
    /// Messages checked at the same time (the rest wait their turn).
    pub workers: usize,
    /// Largest message buffered; longer ones get the fail policy's verdict.
    pub max_message_bytes: usize,
    /// Largest milter packet accepted (Postfix sends at most 64 KiB body
    /// chunks; header fields up to `header_size_limit`).
    pub max_packet_bytes: usize,
    /// Open milter connections at most; more wait in the listen queue.
    pub max_connections: usize,
    /// A milter connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Time in-flight messages get to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Bearer token for `/admin/…`; without one, only loopback clients
    /// may use them.
    pub admin_token: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            milter: None,
            http: None,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_message_bytes: 64 << 20,
            max_packet_bytes: 1 << 20,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
            admin_token: None,
        }
    }
}

/// Checks messages with the manager's active pack on the blocking pool,
/// bounded, and counts them.
#[derive(Debug, Clone)]
pub struct Checker {
    manager: PackManager,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Checker {
    /// A checker running at most `workers` checks at a time.
    pub fn new(manager: PackManager, workers: usize, metrics: Arc<Metrics>) -> Self {
        Checker {
            manager,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            metrics,
        }
    }

    /// The manager.
    pub fn manager(&self) -> &PackManager {
        &self.manager
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The verdict for `message`. Always a decision: a failing sandbox
    /// gets the fail policy's, and so does a check that could not run.
    pub async fn check(&self, source: Source, envelope: Envelope, message: Vec<u8>) -> Decision {
        let start = Instant::now();
        let queue_id = envelope.queue_id.clone();
        let decision = match self.permits.clone().acquire_owned().await {
            Ok(permit) => {
                let manager = self.manager.clone();
                let task = tokio::task::spawn_blocking(move || {
                    let d = manager.check(&envelope, &message);
                    drop(permit);
                    d
                });
                match task.await {
                    Ok(d) => d,
                    Err(e) => self.failed(CheckError::Capacity(format!("check task: {e}"))),
                }
            }
            Err(_) => self.failed(CheckError::Capacity("the checker is closed".into())),
        };
        self.record(source, &decision, start.elapsed(), queue_id.as_deref());
        decision
    }

    /// The fail policy's verdict for a message over the size limit (which
    /// was not buffered whole, so it never reaches the sandbox).
    pub fn too_large(&self, source: Source, size: usize, limit: usize, queue_id: Option<&str>) -> Decision {
        let d = self.failed(CheckError::MessageTooLarge { size, limit });
        self.record(source, &d, Duration::ZERO, queue_id);
        d
    }

    fn failed(&self, error: CheckError) -> Decision {
        let info = self.pack_info();
        Decision {
            verdict: self.manager.config().fail_policy.verdict(&error, &info),
            failure: Some(error),
        }
    }

    fn record(&self, source: Source, d: &Decision, elapsed: Duration, queue_id: Option<&str>) {
        let failure = d.failure.as_ref().map(FailureKind::of);
        self.metrics.message(source, d.verdict.action, elapsed, failure);
        tracing::info!(
            target: "mailward::serve",
            source = ?source,
            queue_id = queue_id.unwrap_or("-"),
            action = %d.verdict.action,
            score = d.verdict.score,
            pack = %format_args!("{}/{}", d.verdict.rule_pack.name, d.verdict.rule_pack.version),
            failure = ?failure.map(FailureKind::as_str),
            ms = elapsed.as_secs_f64() * 1e3,
            "checked"
        );
    }

    /// Name and version of the active pack (empty when none).
    pub fn pack_info(&self) -> PackInfo {
        self.manager
            .active()
            .map(|a| a.info().clone())
            .unwrap_or_default()
    }
}

/// State shared by the listeners.
#[derive(Debug)]
pub struct Shared {
    /// The checker.
    pub checker: Checker,
    /// The configuration.
    pub config: ServeConfig,
    /// The pack watcher (for `POST /admin/pack/rescan` and SIGHUP).
    pub watcher: Option<Watcher>,
    /// Flips to true when shutdown begins.
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Rescans the watched directory and the store now (SIGHUP).
    pub fn rescan(&self) -> bool {
        match &self.watcher {
            Some(w) => {
                w.poke();
                true
            }
            None => false,
        }
    }
}

/// A bound daemon, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    milter: Option<TcpListener>,
    http: Option<TcpListener>,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

impl Server {
    /// Binds the configured listeners (port 0 picks a free port; see
    /// [`Server::milter_addr`], [`Server::http_addr`]). Lifecycle events of
    /// `manager` are counted in the metrics and logged.
    pub async fn bind(
        config: ServeConfig,
        manager: PackManager,
        watcher: Option<Watcher>,
    ) -> Result<Server, ServeError> {
        if config.milter.is_none() && config.http.is_none() {
            return Err(ServeError::NoListener);
        }
        let milter = match config.milter {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let http = match config.http {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let m = metrics.clone();
        manager.on_event(move |e| {
            m.event(e.kind);
            tracing::info!(target: "mailward::lifecycle", "{e}");
        });
        let (stop, shutdown) = watch::channel(false);
        let checker = Checker::new(manager, config.workers, metrics);
        Ok(Server {
            shared: Arc::new(Shared {
                checker,
                config,
                watcher,
                shutdown,
            }),
            stop,
            milter,
            http,
        })
    }

    /// The milter listener's address.
    pub fn milter_addr(&self) -> Option<SocketAddr> {
        self.milter.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTP listener's address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What the listeners share (checker, metrics, watcher).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves until `shutdown` completes, then stops accepting, lets every
    /// connection finish its message (at most `shutdown_grace`) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Server {
            shared,
            stop,
            milter,
            http,
        } = self;
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(l) = milter {
            tasks.spawn(milter::serve(l, shared.clone()));
        }
        if let Some(l) = http {
            tasks.spawn(http::serve(l, shared.clone()));
        }
        let mut failed = None;
        tokio::select! {
            () = shutdown => {}
            Some(r) = tasks.join_next() => {
                if let Ok(Err(e)) = r {
                    failed = Some(e);
                }
            }
        }
        tracing::info!(target: "mailward::serve", "shutting down: no new connections, finishing in-flight messages");
        let _ = stop.send(true);
        let grace = shared.config.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            while let Some(r) = tasks.join_next().await {
                if let Ok(Err(e)) = r {
                    failed.get_or_insert(e);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(target: "mailward::serve", "connections still open after {grace:?}; closing them");
            tasks.abort_all();
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Resolves once shutdown has begun (or the daemon is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The header block of a raw message: up to the first empty line (CRLF or
/// LF), or all of it.
pub(crate) fn header_block(message: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| message.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(message.len());
    String::from_utf8_lossy(&message[..end])
}

/// The fields of `message`'s header block as (name, value), folded lines
/// joined as RFC 5322 unfolds them (the line breaks removed, the
/// whitespace kept); lines that are neither a field nor a continuation are
/// skipped.
pub(crate) fn header_fields(message: &[u8]) -> Vec<(String, String)> {
    let head = header_block(message);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if open && let Some((_, v)) = fields.last_mut() {
                v.push_str(line);
            }
            continue;
        }
        open = match line.split_once(':') {
            Some((n, v)) => {
                fields.push((n.trim_end().to_string(), v.to_string()));
                true
            }
            None => false,
        };
    }
    fields
}
