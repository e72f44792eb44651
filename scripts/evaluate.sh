#!/usr/bin/env bash
# Evaluates the whole pipeline (the built-in rule pack in the sandbox, as
# `mailward scan --offline --json` runs it) on the SpamAssassin public
# corpus and prints, per group: flagged/total, the false-positive rate on
# ham and the recall on spam, at the pack's default thresholds.
#
#   "flagged" = any action other than accept (add-header, quarantine,
#   reject or tempfail), i.e. score >= the pack's add-header threshold or a
#   forced action.
#
# The classifier is trained on easy-ham-1 + spam-1 (marked "training"
# below; numbers there are not a measure of generalisation). easy-ham-2,
# hard-ham-1 and spam-2 are held out: never used for training or tuning.
#
#   scripts/evaluate.sh                  # build, fetch, evaluate
#   MAILWARD_BIN=/path/mailward scripts/evaluate.sh   # skip the build
#   scripts/evaluate.sh --keep DIR       # keep the per-message JSON lines
#   scripts/evaluate.sh --option ok-scripts=latin
#                                        # a pack option for every scan, as a
#                                        # site sets it (repeatable)
#   scripts/evaluate.sh --with-spamassassin
#                                        # then SpamAssassin on the same files
#                                        # (scripts/evaluate-spamassassin.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/eval-common.sh

keep=""
spamassassin=""
options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep="$2"; shift ;;
        --with-spamassassin) spamassassin=1 ;;
        --option) options+=(--option "$2"); shift ;;
        *) echo "usage: $0 [--keep DIR] [--option KEY=VALUE]... [--with-spamassassin]" >&2; exit 2 ;;
    esac
    shift
done

command -v jq >/dev/null || { echo "evaluate: jq is needed (apt-get install jq)" >&2; exit 1; }
corpus=$(scripts/fetch-corpus.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${MAILWARD_BIN:-}" ]; then
    cargo build --release -p mailward >&2
    target="${CARGO_TARGET_DIR:-target}"
    # A private copy: a shared target directory may be rebuilt meanwhile.
    cp "$target/release/mailward" "$work/mailward"
    MAILWARD_BIN="$work/mailward"
fi
jobs=$(nproc 2>/dev/null || echo 2)

groups="easy-ham-1:ham:training spam-1:spam:training easy-ham-2:ham:held-out hard-ham-1:ham:held-out spam-2:spam:held-out"

"$MAILWARD_BIN" info --no-cache | sed -n '1,2p' >&2
[ ${#options[@]} -eq 0 ] || echo "options: ${options[*]}" >&2
printf '%-11s %-5s %-9s %14s  %s\n' group kind role flagged "rate"
for spec in $groups; do
    IFS=: read -r group kind role <<<"$spec"
    out="$work/$group.jsonl"
    "$MAILWARD_BIN" scan --offline --json -j "$jobs" ${options[@]+"${options[@]}"} "$corpus/$group" >"$out" 2>"$work/$group.err" || {
        echo "evaluate: scan of $group failed:" >&2
        cat "$work/$group.err" >&2
        exit 1
    }
    total=$(jq -s 'length' "$out")
    errors=$(jq -s 'map(select(.error != null)) | length' "$out")
    flagged=$(jq -s 'map(select(.action != null and .action != "accept")) | length' "$out")
    rate=$(rate "$kind" "$flagged" "$total")
    [ "$errors" = 0 ] || rate="$rate ($errors sandbox failures)"
    printf '%-11s %-5s %-9s %14s  %s\n' "$group" "$kind" "$role" "$flagged/$total" "$rate"
done

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    cp "$work"/*.jsonl "$keep"/
    echo "per-message verdicts kept in $keep" >&2
fi

if [ -n "$spamassassin" ]; then
    echo
    scripts/evaluate-spamassassin.sh "$corpus"
fi
