//! Typed errors of the daemon.

use std::net::SocketAddr;
use thiserror::Error;

/// Why the daemon could not start or stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing to listen on.
    #[error("no listener configured: set [serve] milter and/or http")]
    NoListener,
    /// Accepting connections failed for good.
    #[error("accepting connections: {0}")]
    Accept(std::io::Error),
}

/// Why one milter session ended abnormally.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The socket failed.
    #[error("milter connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol.
    #[error("milter protocol: {0}")]
    Protocol(#[from] crate::milter::codec::CodecError),
    /// A command came in a state that does not allow it.
    #[error("milter protocol: {0}")]
    Sequence(&'static str),
    /// The peer was silent for too long.
    #[error("milter connection idle for more than {0:?}")]
    Idle(std::time::Duration),
    /// The check task did not finish (the runtime is shutting down).
    #[error("check task: {0}")]
    Task(String),
}
