//! `mailward:filter/clock`, for every contract version.

use crate::bindings::{v0_1, v0_2};
use crate::state::MessageState;

impl MessageState {
    fn clock_now(&mut self) -> wasmtime::Result<u64> {
        self.call("clock.now")?;
        Ok(self.services.clock.now())
    }
}

impl v0_2::mailward::filter::clock::Host for MessageState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        self.clock_now()
    }
}

impl v0_1::mailward::filter::clock::Host for MessageState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        self.clock_now()
    }
}
