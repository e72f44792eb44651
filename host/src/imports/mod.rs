//! The host side of the WIT imports, one file per interface. Each bounds
//! what the guest may ask for and what it gets back.

mod clock;
mod dns;
mod log;
mod state;

/// `mailward:filter/types` has only types; the trait is empty.
impl crate::bindings::v0_2::mailward::filter::types::Host for crate::state::MessageState {}
impl crate::bindings::v0_1::mailward::filter::types::Host for crate::state::MessageState {}
