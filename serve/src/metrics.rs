//! Counters for `/metrics` (Prometheus text exposition format 0.0.4).

use mailward_core::Action;
use mailward_host::{EventKind, FailureKind, PackManager};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Where a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A milter session.
    Milter,
    /// `POST /checkv2`.
    Http,
}

impl Source {
    fn index(self) -> usize {
        self as usize
    }

    fn as_str(self) -> &'static str {
        match self {
            Source::Milter => "milter",
            Source::Http => "http",
        }
    }

    const ALL: [Source; 2] = [Source::Milter, Source::Http];
}

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const EVENTS: [EventKind; 4] = [
    EventKind::Activated,
    EventKind::Rejected,
    EventKind::RolledBack,
    EventKind::AutoRolledBack,
];

/// The daemon's counters; shared, lock-free.
#[derive(Debug, Default)]
pub struct Metrics {
    messages: [[AtomicU64; 5]; 2],
    buckets: [[AtomicU64; BUCKETS.len() + 1]; 2],
    latency_sum_us: [AtomicU64; 2],
    failures: [AtomicU64; FailureKind::ALL.len()],
    events: [AtomicU64; EVENTS.len()],
    milter_sessions: AtomicI64,
    milter_sessions_total: AtomicU64,
    protocol_errors: AtomicU64,
    http_requests: AtomicU64,
    http_errors: AtomicU64,
}

fn action_index(a: Action) -> usize {
    Action::ALL.iter().position(|x| *x == a).unwrap_or(0)
}

impl Metrics {
    /// Counts one message: its action, the time to its verdict, and the
    /// sandbox failure behind it, if any.
    pub fn message(&self, source: Source, action: Action, elapsed: Duration, failure: Option<FailureKind>) {
        let s = source.index();
        self.messages[s][action_index(action)].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS.iter().position(|&le| secs <= le).unwrap_or(BUCKETS.len());
        self.buckets[s][b].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us[s].fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        if let Some(f) = failure
            && let Some(i) = FailureKind::ALL.iter().position(|x| *x == f)
        {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a pack lifecycle event.
    pub fn event(&self, kind: EventKind) {
        if let Some(i) = EVENTS.iter().position(|x| *x == kind) {
            self.events[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A milter session started (`+1`) or ended (`-1`).
    pub fn milter_session(&self, delta: i64) {
        self.milter_sessions.fetch_add(delta, Ordering::Relaxed);
        if delta > 0 {
            self.milter_sessions_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A milter peer broke the protocol.
    pub fn protocol_error(&self) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// An HTTP request was answered (with an error status when `error`).
    pub fn http_request(&self, error: bool) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.http_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages answered so far with `action`, over both sources.
    pub fn messages_with(&self, action: Action) -> u64 {
        Source::ALL
            .iter()
            .map(|s| self.messages[s.index()][action_index(action)].load(Ordering::Relaxed))
            .sum()
    }

    /// Messages answered so far.
    pub fn messages_total(&self) -> u64 {
        Action::ALL.iter().map(|&a| self.messages_with(a)).sum()
    }

    /// The exposition text, with the manager's active pack.
    pub fn render(&self, manager: &PackManager) -> String {
        let mut o = String::with_capacity(4096);
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        o.push_str("# HELP mailward_messages_total Messages answered, by action and source.\n");
        o.push_str("# TYPE mailward_messages_total counter\n");
        for s in Source::ALL {
            for a in Action::ALL {
                let _ = writeln!(
                    o,
                    "mailward_messages_total{{source=\"{}\",action=\"{}\"}} {}",
                    s.as_str(),
                    a,
                    ld(&self.messages[s.index()][action_index(a)])
                );
            }
        }
        o.push_str("# HELP mailward_check_duration_seconds Time from a complete message to its verdict.\n");
        o.push_str("# TYPE mailward_check_duration_seconds histogram\n");
        for s in Source::ALL {
            let mut cum = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cum += ld(&self.buckets[s.index()][i]);
                let _ = writeln!(
                    o,
                    "mailward_check_duration_seconds_bucket{{source=\"{}\",le=\"{le}\"}} {cum}",
                    s.as_str()
                );
            }
            cum += ld(&self.buckets[s.index()][BUCKETS.len()]);
            let _ = writeln!(
                o,
                "mailward_check_duration_seconds_bucket{{source=\"{}\",le=\"+Inf\"}} {cum}",
                s.as_str()
            );
            let _ = writeln!(
                o,
                "mailward_check_duration_seconds_sum{{source=\"{}\"}} {}",
                s.as_str(),
                ld(&self.latency_sum_us[s.index()]) as f64 / 1e6
            );
            let _ = writeln!(
                o,
                "mailward_check_duration_seconds_count{{source=\"{}\"}} {cum}",
                s.as_str()
            );
        }
        o.push_str("# HELP mailward_failures_total Messages the sandbox could not judge (the fail policy answered), by kind.\n");
        o.push_str("# TYPE mailward_failures_total counter\n");
        for (i, f) in FailureKind::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "mailward_failures_total{{kind=\"{}\"}} {}",
                f.as_str(),
                ld(&self.failures[i])
            );
        }
        o.push_str(
            "# HELP mailward_pack_events_total Rule pack lifecycle events (swaps, refusals, rollbacks).\n",
        );
        o.push_str("# TYPE mailward_pack_events_total counter\n");
        for (i, e) in EVENTS.iter().enumerate() {
            let _ = writeln!(
                o,
                "mailward_pack_events_total{{event=\"{e}\"}} {}",
                ld(&self.events[i])
            );
        }
        o.push_str("# HELP mailward_pack_info The active rule pack (value 1).\n");
        o.push_str("# TYPE mailward_pack_info gauge\n");
        if let Some(a) = manager.active() {
            let info = a.info();
            let _ = writeln!(
                o,
                "mailward_pack_info{{name=\"{}\",version=\"{}\",contract=\"{}\",sha256=\"{}\"}} 1",
                escape(&info.name),
                escape(&info.version),
                escape(&info.contract),
                a.pack().sha256
            );
        }
        o.push_str("# HELP mailward_milter_sessions Open milter connections.\n");
        o.push_str("# TYPE mailward_milter_sessions gauge\n");
        let _ = writeln!(
            o,
            "mailward_milter_sessions {}",
            self.milter_sessions.load(Ordering::Relaxed)
        );
        o.push_str("# TYPE mailward_milter_sessions_total counter\n");
        let _ = writeln!(
            o,
            "mailward_milter_sessions_total {}",
            ld(&self.milter_sessions_total)
        );
        o.push_str(
            "# HELP mailward_milter_protocol_errors_total Milter connections closed for a protocol error.\n",
        );
        o.push_str("# TYPE mailward_milter_protocol_errors_total counter\n");
        let _ = writeln!(
            o,
            "mailward_milter_protocol_errors_total {}",
            ld(&self.protocol_errors)
        );
        o.push_str("# TYPE mailward_http_requests_total counter\n");
        let _ = writeln!(o, "mailward_http_requests_total {}", ld(&self.http_requests));
        o.push_str("# TYPE mailward_http_errors_total counter\n");
        let _ = writeln!(o, "mailward_http_errors_total {}", ld(&self.http_errors));
        o
    }
}

/// Escapes a Prometheus label value.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.message(Source::Http, Action::Reject, Duration::from_micros(700), None);
        m.message(Source::Http, Action::Accept, Duration::from_millis(30), None);
        m.message(
            Source::Milter,
            Action::Tempfail,
            Duration::from_secs(20),
            Some(FailureKind::Timeout),
        );
        assert_eq!(m.messages_total(), 3);
        assert_eq!(m.messages_with(Action::Reject), 1);
        let b = |s: Source, i: usize| m.buckets[s.index()][i].load(Ordering::Relaxed);
        assert_eq!(b(Source::Http, 1), 1, "0.7 ms falls in le=0.001");
        assert_eq!(b(Source::Http, 6), 1, "30 ms falls in le=0.05");
        assert_eq!(b(Source::Milter, BUCKETS.len()), 1, "20 s only in +Inf");
        assert_eq!(m.failures[1].load(Ordering::Relaxed), 1);
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
