//! `mailward:filter/clock`.

use crate::bindings::mailward::filter::clock::Host;
use crate::state::MessageState;

impl Host for MessageState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        self.call("clock.now")?;
        Ok(self.services.clock.now())
    }
}
