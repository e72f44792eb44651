#!/usr/bin/env bash
# Throughput of mailward's sandboxed pipeline against a named peer,
# SpamAssassin (local tests only, `spamd -L` with one child, fed by `spamc`),
# on the same messages, in one run. Both on one core, loopback only.
#
#   scripts/bench-peer.sh [N]     # N messages from easy-ham-1 + spam-1 (default 300)
#
# Needs Debian's `spamassassin` package (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-300}"

command -v spamd >/dev/null || {
    echo "bench-peer: installing spamassassin" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin spamc >/dev/null
}
corpus=$(scripts/fetch-corpus.sh)
sample=$(mktemp -d)
trap 'rm -rf "$sample"; [ -n "${SPAMD_PID:-}" ] && kill "$SPAMD_PID" 2>/dev/null || true' EXIT
half=$((N / 2))
mapfile -t hams < <(ls "$corpus/easy-ham-1" | head -n "$half")
mapfile -t spams < <(ls "$corpus/spam-1" | head -n "$((N - half))")
for f in "${hams[@]}"; do cp "$corpus/easy-ham-1/$f" "$sample/ham-$f"; done
for f in "${spams[@]}"; do cp "$corpus/spam-1/$f" "$sample/spam-$f"; done
count=$(ls "$sample" | wc -l)

cargo build --release -q -p mailward
mw=$(taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/mailward" bench "$sample" --offline --seconds 5 --json)
mw_rate=$(echo "$mw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wasm_msgs_per_s"])')
native_rate=$(echo "$mw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["native_msgs_per_s"])')

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 spamd -L -i 127.0.0.1 -p "$port" --max-children 1 --min-children 1 -u nobody \
    --syslog=stderr >/dev/null 2>&1 &
SPAMD_PID=$!
for _ in $(seq 1 120); do
    spamc -d 127.0.0.1 -p "$port" -K >/dev/null 2>&1 && break
    sleep 0.5
done
# One warm-up message, then the timed run.
spamc -d 127.0.0.1 -p "$port" -c < "$(ls -d "$sample"/* | head -1)" >/dev/null || true
start=$(date +%s.%N)
for f in "$sample"/*; do
    spamc -d 127.0.0.1 -p "$port" -c < "$f" >/dev/null || true
done
end=$(date +%s.%N)
sa_rate=$(python3 -c "print(round($count / ($end - $start), 1))")

printf '%-34s %12s\n' "engine ($count messages, one core)" "msgs/s"
printf '%-34s %12s\n' "mailward, sandboxed (wasm)" "$mw_rate"
printf '%-34s %12s\n' "mailward core, native" "$native_rate"
printf '%-34s %12s\n' "SpamAssassin $(spamassassin -V | head -1 | awk '{print $3}') spamd -L" "$sa_rate"
python3 -c "print('mailward (wasm) / SpamAssassin: %.0fx faster' % ($mw_rate / $sa_rate))"
