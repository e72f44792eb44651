//! Builds the default rule pack: compiles `mailward-guest` for
//! `wasm32-unknown-unknown`, then turns the core module into a component
//! with `wit-component` and validates it.
//!
//! Toolchain selection, in order:
//! 1. `MAILWARD_PACK_WASM=/path/pack.wasm`: use a prebuilt component.
//! 2. The active toolchain has the wasm32 std installed (a normal rustup
//!    machine after `rustup target add wasm32-unknown-unknown`): plain
//!    `cargo build --target wasm32-unknown-unknown`.
//! 3. Debian's `rustc-web`, `cargo-web` and `rust-web-src`: build std from
//!    source with `-Zbuild-std` (`RUSTC_BOOTSTRAP=1`).
//!
//! Otherwise the build fails and says how to get either toolchain.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest
        .parent()
        .expect("pack/ is inside the workspace")
        .to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("mailward-default.wasm");
    for dir in ["core", "guest", "rules", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-env-changed=MAILWARD_PACK_WASM");

    if let Ok(prebuilt) = env::var("MAILWARD_PACK_WASM") {
        let bytes =
            fs::read(&prebuilt).unwrap_or_else(|e| fail(&format!("MAILWARD_PACK_WASM={prebuilt}: {e}")));
        validate_component(&bytes);
        fs::write(&out, bytes).unwrap();
        println!("cargo:rustc-env=MAILWARD_PACK_BUILD_PATH=prebuilt");
        return;
    }

    let target_dir = guest_target_dir(&workspace);
    let (path, mut cmd) = match toolchain() {
        Some(t) => t,
        None => fail(
            "no toolchain can build the wasm32-unknown-unknown rule pack.\n\
             Fix it one of two ways:\n\
             * rustup: `rustup target add wasm32-unknown-unknown`\n\
             * Debian bookworm (security): `apt-get install rustc-web cargo-web rust-web-src lld-22`\n\
               (the build then uses /usr/bin/rustc with -Zbuild-std)\n\
             or point MAILWARD_PACK_WASM at a prebuilt pack component.",
        ),
    };
    cmd.current_dir(&workspace)
        .args([
            "rustc",
            "--release",
            "--locked",
            "-p",
            "mailward-guest",
            "--target",
            TARGET,
        ])
        .args(["--crate-type", "cdylib"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The guest wants speed and a small binary, not debug info.
        .args(["--config", "profile.release.debug=false"])
        .args(["--config", "profile.release.codegen-units=1"])
        .args(["--config", "profile.release.opt-level=3"])
        // 128-bit SIMD (memchr, aho-corasick and friends have wasm paths);
        // wasmtime supports it on every platform it runs on.
        .args([
            "--config",
            "target.wasm32-unknown-unknown.rustflags=[\"-Ctarget-feature=+simd128\"]",
        ]);
    eprintln!("building the rule pack ({path}): {cmd:?}");
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("running cargo for the guest: {e}")));
    if !status.success() {
        fail(&format!(
            "building the guest for {TARGET} failed ({path}); see the output above"
        ));
    }
    let module_path = target_dir
        .join(TARGET)
        .join("release")
        .join("mailward_guest.wasm");
    let module =
        fs::read(&module_path).unwrap_or_else(|e| fail(&format!("reading {}: {e}", module_path.display())));
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap_or_else(|e| fail(&format!("reading the guest module's component metadata: {e:#}")))
        .validate(true)
        .encode()
        .unwrap_or_else(|e| fail(&format!("encoding the component: {e:#}")));
    validate_component(&component);
    fs::write(&out, component).unwrap();
    println!("cargo:rustc-env=MAILWARD_PACK_BUILD_PATH={path}");
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    panic!("{msg}");
}

fn validate_component(bytes: &[u8]) {
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
fn guest_target_dir(workspace: &Path) -> PathBuf {
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
fn toolchain() -> Option<(&'static str, Command)> {
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

fn has_wasm_std(rustc: &str) -> bool {
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
fn clean_command(program: &str) -> Command {
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
