//! `mailward:filter/log`: guest lines go to `tracing` under the target
//! `mailward::guest`, cut to the line limit, at most the line budget.

use crate::bindings::mailward::filter::log::{Host, Level};
use crate::state::MessageState;

impl Host for MessageState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.call("log.write")?;
        self.log_lines += 1;
        if self.log_lines > self.limits.log_lines {
            if self.log_lines == self.limits.log_lines + 1 {
                tracing::warn!(target: "mailward::guest", pack = %self.pack, "log line budget spent; dropping further lines");
            }
            return Ok(());
        }
        let mut end = message.len().min(self.limits.log_line_bytes);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let line = &message[..end];
        let qid = self.queue_id.as_deref().unwrap_or("-");
        match level {
            Level::Debug => {
                tracing::debug!(target: "mailward::guest", pack = %self.pack, queue_id = qid, "{line}")
            }
            Level::Info => {
                tracing::info!(target: "mailward::guest", pack = %self.pack, queue_id = qid, "{line}")
            }
            Level::Warn => {
                tracing::warn!(target: "mailward::guest", pack = %self.pack, queue_id = qid, "{line}")
            }
            Level::Error => {
                tracing::error!(target: "mailward::guest", pack = %self.pack, queue_id = qid, "{line}")
            }
        }
        Ok(())
    }
}
