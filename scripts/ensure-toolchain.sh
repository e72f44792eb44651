#!/usr/bin/env bash
# Makes sure a toolchain that can build the wasm32 rule pack is present.
#
# The pack (guest/) is compiled for wasm32-unknown-unknown by pack/build.rs,
# which uses, in order: an installed wasm32 std (rustup), or Debian's
# rustc-web + rust-web-src with -Zbuild-std. This script installs the
# Debian packages when neither is present (needs root or sudo and apt).
set -euo pipefail

has_rustup_wasm_std() {
    local libdir
    libdir=$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null) || return 1
    compgen -G "$libdir/libstd-*" >/dev/null
}

has_debian_build_std() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ]
}

if has_rustup_wasm_std || has_debian_build_std; then
    exit 0
fi

if command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown >/dev/null 2>&1 && has_rustup_wasm_std; then
    exit 0
fi

if command -v apt-get >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "ensure-toolchain: installing Debian's rustc-web, cargo-web, rust-web-src, lld-22 for the wasm32 guest" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 >/dev/null
    has_debian_build_std && exit 0
fi

cat >&2 <<'MSG'
ensure-toolchain: no toolchain can build the wasm32-unknown-unknown rule pack. Either
  * rustup target add wasm32-unknown-unknown, or
  * apt-get install rustc-web cargo-web rust-web-src lld-22   (Debian bookworm-security)
MSG
exit 1
