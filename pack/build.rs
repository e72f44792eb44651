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
//!
//! The pack's self-test (`rules/selftest/default.toml`, messages inlined)
//! is embedded as its `mailward-selftest` custom section; the host runs it
//! before the pack may serve traffic.

#[path = "build_support.rs"]
mod build_support;

use build_support::*;
use std::env;
use std::fs;
use std::path::PathBuf;

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
        .arg(&target_dir);
    guest_build_config(&mut cmd);
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
    let mut component = encode_component(&module);
    let suite = self_test_suite(&workspace.join("rules/selftest/default.toml"));
    append_custom_section(&mut component, "mailward-selftest", suite.as_bytes());
    validate_component(&component);
    fs::write(&out, component).unwrap();
    println!("cargo:rustc-env=MAILWARD_PACK_BUILD_PATH={path}");
}

/// The self-test suite with every `message-file` inlined as `message`, as
/// the TOML the host reads from the pack's `mailward-selftest` section.
fn self_test_suite(path: &std::path::Path) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("reading {}: {e}", path.display())));
    let mut doc: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| fail(&format!("parsing {}: {e}", path.display())));
    let base = path.parent().expect("the suite is in a directory");
    let cases = doc
        .get_mut("case")
        .and_then(|c| c.as_array_mut())
        .unwrap_or_else(|| fail(&format!("{}: no [[case]]", path.display())));
    for case in cases {
        let case = case
            .as_table_mut()
            .unwrap_or_else(|| fail("a [[case]] is not a table"));
        if let Some(file) = case.remove("message-file") {
            let file = base.join(
                file.as_str()
                    .unwrap_or_else(|| fail("message-file is not a string")),
            );
            println!("cargo:rerun-if-changed={}", file.display());
            let bytes = fs::read(&file).unwrap_or_else(|e| fail(&format!("reading {}: {e}", file.display())));
            let text = String::from_utf8(bytes)
                .unwrap_or_else(|_| fail(&format!("{} is not UTF-8 (use message-base64)", file.display())));
            case.insert("message".into(), toml::Value::String(text));
        }
    }
    toml::to_string(&doc).unwrap_or_else(|e| fail(&format!("writing the suite: {e}")))
}
