//! Shared by the build scripts that compile guests for wasm32 (`pack/` for
//! the default rule pack, `fixtures/` for the test fixtures): toolchain
//! choice, the guest target directory, component encoding and validation.
//! Included with `#[path]` (build scripts cannot share a crate cheaply).

#![allow(dead_code)]

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-unknown-unknown";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";

/// The `--config` overrides every guest build uses, so guests share one
/// build of the standard library (Debian's `-Zbuild-std`).
pub fn guest_build_config(cmd: &mut Command) {
    // The guest wants speed and a small binary, not debug info.
    cmd.args(["--config", "profile.release.debug=false"])
        .args(["--config", "profile.release.codegen-units=1"])
        .args(["--config", "profile.release.opt-level=3"])
        // 128-bit SIMD (memchr, aho-corasick and friends have wasm paths);
        // wasmtime supports it on every platform it runs on.
        //
        // A 256 KiB shadow stack instead of the linker's 1 MiB. The stack
        // sits at the bottom of linear memory, and resetting an instance
        // after a message walks the page table of the whole memory, so
        // every MiB costs each message (a fresh instance of the default
        // pack went from 21.0 to 19.9 µs). The filter needs far less: with
        // a 64 KiB stack, the SpamAssassin training groups, the test data
        // and the fuzz corpus (24 249 messages) gave the same verdicts as
        // with 1 MiB and no failure, nor did 3 000-deep multiparts, 2 000
        // nested messages, 20 000 nested HTML tags or 50 000 nested
        // header comments (the parsers keep their own stacks on the heap).
        // An overflow would trap: a failed message under the fail policy,
        // or a pack that does not load, never a wrong verdict.
        .args([
            "--config",
            "target.wasm32-unknown-unknown.rustflags=[\"-Ctarget-feature=+simd128\", \"-Clink-arg=-zstack-size=262144\"]",
        ]);
}

/// Encodes a core module (with wit-bindgen's component-type metadata) as
/// a component and validates it.
pub fn encode_component(module: &[u8]) -> Vec<u8> {
    let component = wit_component::ComponentEncoder::default()
        .module(module)
        .unwrap_or_else(|e| fail(&format!("reading the guest module's component metadata: {e:#}")))
        .validate(true)
        .encode()
        .unwrap_or_else(|e| fail(&format!("encoding the component: {e:#}")));
    validate_component(&component);
    component
}

/// Appends a custom section to a component (or module).
pub fn append_custom_section(wasm: &mut Vec<u8>, name: &str, data: &[u8]) {
    fn leb(mut v: usize, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    wasm.push(0);
    leb(body.len(), wasm);
    wasm.extend_from_slice(&body);
}

pub fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    panic!("{msg}");
}

pub fn validate_component(bytes: &[u8]) {
    let mut v = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    if let Err(e) = v.validate_all(bytes) {
        fail(&format!("the rule pack is not a valid component: {e}"));
    }
    if !wasmparser::Parser::is_component(bytes) {
        fail("the rule pack is a core module, not a component");
    }
}

/// Where the guest build keeps its own target directory: separate from the
/// host build's (so the two cargo processes never wait on each other), and,
/// under a shared `CARGO_TARGET_DIR`, separate per checkout (so two
/// checkouts never overwrite each other's guest module).
pub fn guest_target_dir(workspace: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            workspace.hash(&mut h);
            PathBuf::from(d).join(format!("wasm-guest-{:016x}", h.finish()))
        }
        None => workspace.join("target").join("wasm-guest"),
    }
}

/// A cargo command that can build for wasm32, with the environment of the
/// outer build removed, and the name of the path chosen.
pub fn toolchain() -> Option<(&'static str, Command)> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if has_wasm_std(&rustc) {
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = clean_command(&cargo);
        cmd.env("RUSTC", &rustc);
        return Some(("rustup", cmd));
    }
    let debian_src = Path::new("/usr/lib/rustlib/src/rust/library");
    if Path::new(DEBIAN_RUSTC).exists() && Path::new(DEBIAN_CARGO).exists() && debian_src.exists() {
        let mut cmd = clean_command(DEBIAN_CARGO);
        cmd.env("RUSTC", DEBIAN_RUSTC)
            .env("RUSTC_BOOTSTRAP", "1")
            .arg("-Zbuild-std=std,panic_abort");
        return Some(("debian-build-std", cmd));
    }
    None
}

pub fn has_wasm_std(rustc: &str) -> bool {
    let Ok(out) = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
    else {
        return false;
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && fs::read_dir(&dir).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
}

/// A command for `program` without the variables the outer cargo set for
/// this build script (they describe the host build, not the guest's).
pub fn clean_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let keep = matches!(
            key.as_ref(),
            "CARGO_HOME" | "CARGO_MAKEFLAGS" | "RUSTUP_HOME" | "RUSTUP_TOOLCHAIN"
        ) || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_REGISTRIES_");
        let outer = key.starts_with("CARGO")
            || key.starts_with("RUST")
            || key.starts_with("DEP_")
            || matches!(
                key.as_ref(),
                "TARGET" | "HOST" | "OUT_DIR" | "OPT_LEVEL" | "PROFILE" | "DEBUG" | "NUM_JOBS"
            );
        if outer && !keep {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}
