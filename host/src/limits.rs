//! What the host allows one message's sandbox to do.

use std::time::Duration;

/// Per-message bounds on the guest and on what it may ask of the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest message handed to the guest, in bytes.
    pub max_message_bytes: usize,
    /// Linear-memory cap of one instance, in bytes.
    pub max_memory_bytes: usize,
    /// Guest CPU time per message (time inside host imports not counted).
    pub guest_time: Duration,
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 << 20,
            max_memory_bytes: 256 << 20,
            guest_time: Duration::from_millis(500),
            dns_queries: 100,
            dns_time: Duration::from_secs(10),
            dns_batch: 32,
            dns_records: 64,
            dns_answer_bytes: 64 << 10,
            log_lines: 64,
            log_line_bytes: 1024,
            verdict_symbols: 512,
            verdict_headers: 32,
            verdict_string_bytes: 8 << 10,
            verdict_alerts: 8,
            state_calls: 32,
            state_batch: 64,
            state_key_bytes: 256,
            state_value_bytes: 1024,
            state_max_seconds: 400 * 86_400,
        }
    }
}
