//! The default mailward rule pack, built from `guest/` when this crate
//! builds (see `build.rs`), as a WebAssembly component.
//!
//! Hosts use [`DEFAULT_PACK`] when no `--rules` file is given.

/// The default rule pack component (`mailward:filter` world `pack`).
pub const DEFAULT_PACK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mailward-default.wasm"));

/// How the component was built: `rustup` (installed wasm32 std),
/// `debian-build-std` (Debian's rustc-web with rust-src) or `prebuilt`.
pub const BUILD_PATH: &str = env!("MAILWARD_PACK_BUILD_PATH");

#[cfg(test)]
mod tests {
    #[test]
    fn default_pack_is_a_component() {
        // Component binaries start with the wasm magic and layer 1.
        assert_eq!(&super::DEFAULT_PACK[..4], b"\0asm");
        assert_eq!(&super::DEFAULT_PACK[6..8], &[1, 0], "layer 1 = component");
    }
}
