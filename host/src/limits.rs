//! What the host allows one message's sandbox to do.
//!
//! Every way a guest can consume host resources has a bound here: CPU
//! (`guest_time`, `startup_time`, enforced by epoch interruption), memory
//! (`max_memory_bytes`, enforced by the store limiter), host calls (count,
//! DNS questions, batch size, DNS time, log lines and their size), and the
//! verdict it hands back (symbols, options, headers, string sizes, total
//! size). A guest over a bound gets a typed [`CheckError`](crate::CheckError),
//! which the deployment's [`FailPolicy`](crate::FailPolicy) turns into a
//! verdict.

use std::time::Duration;

/// Per-message bounds on the guest and on what it may ask of the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest message handed to the guest, in bytes.
    pub max_message_bytes: usize,
    /// Linear-memory cap of one instance, in bytes.
    pub max_memory_bytes: usize,
    /// Guest CPU time per message (time inside host imports not counted):
    /// the per-message epoch deadline.
    pub guest_time: Duration,
    /// Guest CPU time for starting a pack (`configure`, `info`): it
    /// compiles every rule, so it gets more than a message.
    pub startup_time: Duration,
    /// Calls to host imports per message (DNS, clock, log together); a
    /// guest that makes more is stopped as abusive.
    pub host_calls: u32,
    /// DNS questions per message.
    pub dns_queries: u32,
    /// Wall time the host spends resolving per message.
    pub dns_time: Duration,
    /// Questions in one `lookup-batch` call.
    pub dns_batch: usize,
    /// Records kept from one answer.
    pub dns_records: usize,
    /// Bytes of one answer (all records).
    pub dns_answer_bytes: usize,
    /// Log lines per message (further lines are dropped).
    pub log_lines: u32,
    /// Bytes of one log line (longer lines are cut).
    pub log_line_bytes: usize,
    /// Symbols in one verdict.
    pub verdict_symbols: usize,
    /// Options of one symbol.
    pub verdict_options: usize,
    /// Headers in one verdict.
    pub verdict_headers: usize,
    /// Bytes of any one string in a verdict.
    pub verdict_string_bytes: usize,
    /// Alerts in one verdict.
    pub verdict_alerts: usize,
    /// Calls to the `state` interface per message.
    pub state_calls: u32,
    /// Keys, members or updates in one `state` call.
    pub state_batch: usize,
    /// Bytes of one state key, set name, member or user.
    pub state_key_bytes: usize,
    /// Bytes of one remembered value or restriction reason.
    pub state_value_bytes: usize,
    /// Longest counter window or lifetime, in seconds.
    pub state_max_seconds: u32,
    /// Bytes of all strings in a verdict together.
    pub verdict_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 << 20,
            max_memory_bytes: 256 << 20,
            guest_time: Duration::from_millis(500),
            startup_time: Duration::from_secs(10),
            host_calls: 4096,
            dns_queries: 100,
            dns_time: Duration::from_secs(10),
            dns_batch: 32,
            dns_records: 64,
            dns_answer_bytes: 64 << 10,
            log_lines: 64,
            log_line_bytes: 1024,
            verdict_symbols: 512,
            verdict_options: 64,
            verdict_headers: 32,
            verdict_string_bytes: 8 << 10,
            verdict_alerts: 8,
            state_calls: 32,
            state_batch: 64,
            state_key_bytes: 256,
            state_value_bytes: 1024,
            state_max_seconds: 400 * 86_400,
            verdict_bytes: 1 << 20,
        }
    }
}
