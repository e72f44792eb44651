//! Typed errors of the host library.

use std::path::PathBuf;

/// Why a rule pack could not be loaded. The previously loaded pack (if
/// any) is unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// A core module was given where a component is required.
    #[error("this is a core WebAssembly module, not a component (encode it with wit-component)")]
    CoreModule,
    /// The component does not implement a contract version this host
    /// speaks.
    #[error("the pack does not implement {expected}: {detail}")]
    Contract {
        /// The contract version(s) the host speaks.
        expected: String,
        /// What is missing or different.
        detail: String,
    },
    /// Compiling the component failed.
    #[error("compiling the pack: {0}")]
    Compile(String),
    /// The pack refused the deployment settings.
    #[error("the pack refused the settings: {0}")]
    Configure(String),
    /// The pack trapped while starting up.
    #[error("the pack trapped while starting up: {0}")]
    Trap(String),
    /// The pack's signature is missing or wrong (checked before anything
    /// else when public keys are configured).
    #[error("signature check failed: {0}")]
    Signature(#[from] crate::signing::SignatureError),
    /// The pack failed its self-test.
    #[error("the pack failed its self-test: {0}")]
    SelfTest(String),
    /// Rollback was asked for, but there is no previous pack.
    #[error("there is no previous pack to roll back to")]
    NoPrevious,
    /// The pack store (state directory) could not be read or written.
    #[error("pack store: {0}")]
    Store(String),
}

/// Why checking one message failed. The host maps these to the
/// deployment's fail policy; the next message gets a fresh instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The message exceeds the host's size limit.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Message size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The guest ran past its time budget.
    #[error("the pack exceeded its time budget of {budget_ms} ms")]
    Timeout {
        /// The budget.
        budget_ms: u64,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("the pack exceeded its memory cap of {limit} bytes")]
    MemoryLimit {
        /// The cap.
        limit: usize,
    },
    /// The guest trapped (panic, unreachable, out-of-bounds access…).
    #[error("the pack trapped: {0}")]
    Trap(String),
    /// The guest's answer broke the host's bounds (too many symbols,
    /// oversized strings…).
    #[error("the pack's verdict is out of bounds: {0}")]
    BadVerdict(String),
    /// The guest abused a host import (query storm, oversized request).
    #[error("the pack abused a host interface: {0}")]
    Abuse(String),
    /// No instance slot was free (too many concurrent messages).
    #[error("no sandbox slot available: {0}")]
    Capacity(String),
    /// No rule pack is loaded (a manager that has not loaded one yet).
    #[error("no rule pack is loaded")]
    NoPack,
}
