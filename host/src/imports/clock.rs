//! `mailward:filter/clock`.

use crate::bindings::mailward::filter::clock::Host;
use crate::state::MessageState;

impl Host for MessageState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.services.clock.now())
    }
}
