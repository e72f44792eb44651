//! Delivering the alerts packs return in their verdicts: every alert is a
//! structured `tracing` line (target `mailward::alert`), and, when a
//! webhook is configured, a JSON POST to it from a background thread (the
//! message path never waits for the network).
//!
//! The webhook body:
//!
//! ```json
//! {"source": "mailward", "time": 1795651200, "kind": "compromise-suspected",
//!  "severity": "critical", "user": "bob@example.com",
//!  "summary": "user bob@example.com: compromise score 11.5 …; user blocked until released",
//!  "action": "block-user", "symbols": ["OUT_NEW_CLIENT_NET", "…"],
//!  "pack": "mailward-default/0.2.0", "queue_id": "4F2A61C0042"}
//! ```

use mailward_core::types::{Alert, AlertSeverity};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Alerts queued for the webhook before new ones are dropped (and logged).
const QUEUE: usize = 1024;
/// Delivery attempts per alert.
const ATTEMPTS: u32 = 3;

/// Why an alert sink could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The webhook URL is not an http(s) URL.
    #[error("webhook URL {0:?} must start with http:// or https://")]
    BadUrl(String),
    /// The delivery thread could not start.
    #[error("starting the webhook thread: {0}")]
    Thread(String),
}

/// Where an alert came from, for the log line and the webhook.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlertContext<'a> {
    /// `name/version` of the pack.
    pub pack: &'a str,
    /// The gateway's queue id of the message.
    pub queue_id: Option<&'a str>,
    /// The host clock's time (virtual when replaying).
    pub time: u64,
}

#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    done: Condvar,
}

struct Webhook {
    url: String,
    tx: Option<SyncSender<String>>,
    pending: Arc<Pending>,
    thread: Option<JoinHandle<()>>,
}

/// Sends alerts to the log and, optionally, a webhook.
pub struct AlertSink {
    webhook: Option<Webhook>,
}

impl std::fmt::Debug for AlertSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSink")
            .field("webhook", &self.webhook.as_ref().map(|w| w.url.as_str()))
            .finish()
    }
}

impl Default for AlertSink {
    fn default() -> Self {
        AlertSink::log_only()
    }
}

impl AlertSink {
    /// Alerts go to the log only.
    pub fn log_only() -> Self {
        AlertSink { webhook: None }
    }

    /// Alerts also go to `url` (http or https) as JSON POSTs, each within
    /// `timeout`, retried a few times.
    pub fn with_webhook(url: &str, timeout: Duration) -> Result<Self, AlertError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(AlertError::BadUrl(url.into()));
        }
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let pending = Arc::new(Pending::default());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .build()
            .into();
        let thread = {
            let url = url.to_string();
            let pending = pending.clone();
            std::thread::Builder::new()
                .name("mailward-webhook".into())
                .spawn(move || {
                    for body in rx {
                        deliver(&agent, &url, &body);
                        let mut n = pending.count.lock().unwrap_or_else(|p| p.into_inner());
                        *n = n.saturating_sub(1);
                        pending.done.notify_all();
                    }
                })
                .map_err(|e| AlertError::Thread(e.to_string()))?
        };
        Ok(AlertSink {
            webhook: Some(Webhook {
                url: url.to_string(),
                tx: Some(tx),
                pending,
                thread: Some(thread),
            }),
        })
    }

    /// Logs `alert` and queues it for the webhook.
    pub fn raise(&self, alert: &Alert, cx: AlertContext<'_>) {
        let user = alert.user.as_deref().unwrap_or("-");
        let qid = cx.queue_id.unwrap_or("-");
        let symbols = alert.symbols.join(",");
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    target: "mailward::alert",
                    kind = alert.kind.as_str(),
                    severity = alert.severity.as_str(),
                    user,
                    action = %alert.action,
                    symbols = %symbols,
                    pack = cx.pack,
                    queue_id = qid,
                    time = cx.time,
                    "{}",
                    alert.summary
                )
            };
        }
        match alert.severity {
            AlertSeverity::Info => line!(info),
            AlertSeverity::Warning | AlertSeverity::Critical => line!(warn),
        }
        let Some(w) = &self.webhook else { return };
        let body = serde_json::json!({
            "source": "mailward",
            "time": cx.time,
            "kind": alert.kind.as_str(),
            "severity": alert.severity.as_str(),
            "user": alert.user,
            "summary": alert.summary,
            "action": alert.action,
            "symbols": alert.symbols,
            "pack": cx.pack,
            "queue_id": cx.queue_id,
        })
        .to_string();
        let Some(tx) = &w.tx else { return };
        *w.pending.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        if let Err(e) = tx.try_send(body) {
            let mut n = w.pending.count.lock().unwrap_or_else(|p| p.into_inner());
            *n = n.saturating_sub(1);
            let why = match e {
                TrySendError::Full(_) => "queue full",
                TrySendError::Disconnected(_) => "delivery thread gone",
            };
            tracing::error!(target: "mailward::alert", url = %w.url, "webhook alert dropped: {why}");
        }
    }

    /// Waits until every queued alert was delivered (or gave up), at most
    /// `timeout`; true when nothing is left.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(w) = &self.webhook else { return true };
        let deadline = Instant::now() + timeout;
        let mut n = w.pending.count.lock().unwrap_or_else(|p| p.into_inner());
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            n = w
                .pending
                .done
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

fn deliver(agent: &ureq::Agent, url: &str, body: &str) {
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        match agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("User-Agent", concat!("mailward/", env!("CARGO_PKG_VERSION")))
            .send(body)
        {
            Ok(_) => return,
            Err(e) if attempt == ATTEMPTS => {
                tracing::error!(target: "mailward::alert", url, attempts = ATTEMPTS, "webhook delivery failed: {e}");
            }
            Err(e) => {
                tracing::debug!(target: "mailward::alert", url, attempt, "webhook delivery failed, retrying: {e}");
                std::thread::sleep(backoff);
                backoff *= 4;
            }
        }
    }
}

impl Drop for AlertSink {
    fn drop(&mut self) {
        if let Some(w) = &mut self.webhook {
            // Closing the channel ends the thread after the queue drains.
            w.tx.take();
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}
