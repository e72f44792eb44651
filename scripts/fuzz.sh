#!/usr/bin/env bash
# Coverage-guided fuzzing of the filter core's entry point (`Filter::check`,
# message bytes + envelope) with cargo-fuzz / libFuzzer. See fuzz/.
#
#   scripts/fuzz.sh smoke            build, then 20 000 executions (CI)
#   scripts/fuzz.sh run [EXECS]      a long run (default 10 000 000 executions)
#   scripts/fuzz.sh repro FILE...    run the target once on each file
#
# libFuzzer needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. The sanitizer is off (the core has no unsafe code;
# what we look for are panics and broken verdict invariants) and debug
# assertions and overflow checks are on (fuzz/Cargo.toml's profile), so
# arithmetic overflow panics too. One process, one
# core, lowest CPU priority. Crashes land in fuzz/artifacts/check/; add
# each as a regression test in tests/fuzz_regressions.rs (the input file
# under tests/data/fuzz-regressions/, the test named after the bug).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-smoke}
shift || true

if ! command -v c++ >/dev/null && command -v apt-get >/dev/null; then
    # libfuzzer-sys compiles libFuzzer (C++).
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++ >/dev/null
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
target_dir=${CARGO_TARGET_DIR:-$PWD/target}/fuzz-$(basename "$PWD")
corpus=fuzz/corpus/check
seeds=fuzz/seeds
mkdir -p "$corpus" "$seeds" fuzz/artifacts/check

# Seeds: every test message in the repository (malformed corpora included).
find tests/data rules/warmup -type f \( -name '*.eml' -o -name 'msg_*.txt' \) -size -256k \
    -exec cp -n {} "$seeds/" \; 2>/dev/null || true
# A few seeds with an envelope block, so the fuzzer learns the format.
printf '\0ENV\nip 203.0.113.66\nhelo mx.something.com\nfrom admin@something.com\nrcpt jane@something.com\n\nFrom: IT <admin@something.com>\nSubject: verify your password\n\nReply with your username and password.\n' >"$seeds/env-inbound"
printf '\0ENV\nip 192.0.2.9\nfrom alice@example.com\nauth alice\nrcpt bob@example.org\n\nFrom: alice@example.com\nTo: bob@example.org\nSubject: lunch\n\nNoon?\n' >"$seeds/env-outbound"

flags=(--release -s none --target-dir "$target_dir")
libfuzzer=(-max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -dict=fuzz/mail.dict)

case "$mode" in
smoke)
    cargo fuzz build "${flags[@]}" check
    # A fixed seed: CI runs the same 20 000 executions every time (from the
    # seeds, on a fresh clone), so a red CI means a change broke something,
    # not that chance found an old bug; `run` is what explores.
    nice -n 19 cargo fuzz run "${flags[@]}" check "$corpus" "$seeds" -- "${libfuzzer[@]}" -seed=1 -runs=20000
    ;;
run)
    execs=${1:-10000000}
    cargo fuzz build "${flags[@]}" check
    nice -n 19 cargo fuzz run "${flags[@]}" check "$corpus" "$seeds" -- "${libfuzzer[@]}" -runs="$execs"
    ;;
repro)
    cargo fuzz build "${flags[@]}" check
    for f in "$@"; do
        cargo fuzz run "${flags[@]}" check "$f"
    done
    ;;
*)
    echo "usage: $0 smoke | run [EXECS] | repro FILE..." >&2
    exit 2
    ;;
esac
