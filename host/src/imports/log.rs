//! `mailward:filter/log`: guest lines go to `tracing` under the target
//! `mailward::guest`, cut to the line limit, at most the line budget; for
//! every contract version.

use crate::bindings::{v0_1, v0_2};
use crate::state::MessageState;

/// A log level, whichever version's it was.
#[derive(Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl v0_2::mailward::filter::log::Host for MessageState {
    fn write(&mut self, level: v0_2::mailward::filter::log::Level, message: String) -> wasmtime::Result<()> {
        use v0_2::mailward::filter::log::Level as L;
        let level = match level {
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        self.log_write(level, message)
    }
}

impl v0_1::mailward::filter::log::Host for MessageState {
    fn write(&mut self, level: v0_1::mailward::filter::log::Level, message: String) -> wasmtime::Result<()> {
        use v0_1::mailward::filter::log::Level as L;
        let level = match level {
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        self.log_write(level, message)
    }
}

impl MessageState {
    fn log_write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
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
