#!/usr/bin/env bash
# Measures the lookalike-domain check against an external oracle: the
# dnstwist permutation engine (PyPI `dnstwist`, pinned below) generates
# lookalikes of a few real domains; each becomes the From of a message that
# `mailward scan --offline --json` checks with those domains protected. It
# prints the share caught (LOOKALIKE_FROM_DOMAIN fired), per dnstwist fuzzer.
#
# Then it counts false positives: the distinct header-From domains of the
# SpamAssassin ham group(s), checked the same way (a ham sender domain that
# fires any LOOKALIKE_* symbol is a false positive). easy-ham-1 is the
# group used for tuning; pass --held-out to also check easy-ham-2 and
# hard-ham-1.
#
#   scripts/lookalike-dnstwist.sh [--held-out] [--domains "paypal.com google.com …"]
#   MAILWARD_BIN=/path/mailward scripts/lookalike-dnstwist.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DNSTWIST_VERSION="20250130"
domains="paypal.com google.com microsoft.com amazon.com wellsfargo.com something.com"
ham_groups="easy-ham-1"
while [ $# -gt 0 ]; do
    case "$1" in
        --held-out) ham_groups="easy-ham-1 easy-ham-2 hard-ham-1" ;;
        --domains) domains="$2"; shift ;;
        *) echo "usage: $0 [--held-out] [--domains LIST]" >&2; exit 2 ;;
    esac
    shift
done

cache="${XDG_CACHE_HOME:-$HOME/.cache}/mailward"
venv="$cache/dnstwist-$DNSTWIST_VERSION"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import dnstwist" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "dnstwist==$DNSTWIST_VERSION"
fi
corpus=$(scripts/fetch-corpus.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${MAILWARD_BIN:-}" ]; then
    cargo build --release -p mailward >&2
    cp "${CARGO_TARGET_DIR:-target}/release/mailward" "$work/mailward"
    MAILWARD_BIN="$work/mailward"
fi

"$venv/bin/python" - "$work" "$corpus" "$ham_groups" $domains <<'PY'
import email.utils, json, os, sys
import dnstwist

work, corpus, ham_groups = sys.argv[1], sys.argv[2], sys.argv[3].split()
domains = sys.argv[4:]
# Added words and other suffixes for dnstwist's dictionary and tld-swap fuzzers.
words = ["login", "secure", "support", "account", "mail", "online", "verify", "update", "service", "help"]
tlds = ["net", "org", "info", "biz", "co", "io", "xyz", "online", "co.uk", "de"]

def message(domain, note):
    return (f"From: Service <service@{domain}>\nTo: user@example.net\nSubject: {note}\n"
            f"Message-ID: <{abs(hash(domain))}@example.net>\nDate: Wed, 11 Nov 2026 09:00:00 +0000\n\n"
            "Please read the attached notice.\n")

cases = []
for d in domains:
    f = dnstwist.Fuzzer(d, dictionary=words, tld_dictionary=tlds)
    f.generate()
    for p in f.domains:
        if p["fuzzer"] == "*original":
            continue
        cases.append((d, p["fuzzer"], p["domain"]))
os.makedirs(f"{work}/twist")
for i, (d, fz, dom) in enumerate(cases):
    with open(f"{work}/twist/{i:06d}.eml", "w") as fh:
        fh.write(message(dom, f"dnstwist {fz} {d}"))

ham = set()
for g in ham_groups:
    for name in sorted(os.listdir(f"{corpus}/{g}")):
        with open(f"{corpus}/{g}/{name}", "rb") as fh:
            head = fh.read(65536).split(b"\n\n", 1)[0].decode("latin-1")
        for line in head.replace("\n ", " ").replace("\n\t", " ").split("\n"):
            if line.lower().startswith("from:"):
                addr = email.utils.parseaddr(line[5:])[1].lower()
                if "@" in addr:
                    dom = addr.rsplit("@", 1)[1].strip(".> ")
                    if "." in dom and all(c.isalnum() or c in ".-" for c in dom):
                        ham.add(dom)
                break
os.makedirs(f"{work}/ham")
for i, dom in enumerate(sorted(ham)):
    with open(f"{work}/ham/{i:06d}.eml", "w") as fh:
        fh.write(message(dom, "ham sender domain"))
json.dump({"cases": cases, "ham": sorted(ham)}, open(f"{work}/cases.json", "w"))
with open(f"{work}/mailward.toml", "w") as fh:
    fh.write("[policy]\nprotected-domains = [%s]\n" % ", ".join(json.dumps(d) for d in domains))
PY

"$MAILWARD_BIN" scan --offline --json --config "$work/mailward.toml" "$work/twist" >"$work/twist.jsonl" 2>/dev/null
"$MAILWARD_BIN" scan --offline --json --config "$work/mailward.toml" "$work/ham" >"$work/ham.jsonl" 2>/dev/null

python3 - "$work" "$ham_groups" <<'PY'
import json, os, sys
from collections import defaultdict
work, groups = sys.argv[1], sys.argv[2]
meta = json.load(open(f"{work}/cases.json"))
def verdicts(name):
    out = {}
    for line in open(f"{work}/{name}.jsonl"):
        v = json.loads(line)
        idx = int(os.path.basename(v["path"]).split(".")[0])
        out[idx] = {s["name"]: s.get("options", []) for s in v.get("symbols", [])}
    return out
twist = verdicts("twist")
by = defaultdict(lambda: [0, 0])
missed = defaultdict(list)
for i, (d, fz, dom) in enumerate(meta["cases"]):
    hit = "LOOKALIKE_FROM_DOMAIN" in twist.get(i, {})
    by[fz][0] += hit
    by[fz][1] += 1
    if not hit:
        missed[fz].append(dom)
total_hit = sum(v[0] for v in by.values())
total = sum(v[1] for v in by.values())
print(f"dnstwist permutations of {len(set(c[0] for c in meta['cases']))} domains: "
      f"{total_hit}/{total} caught ({100 * total_hit / total:.1f} %)")
for fz in sorted(by, key=lambda f: -by[f][1]):
    h, n = by[fz]
    ex = ", ".join(missed[fz][:3])
    print(f"  {fz:<14} {h:>5}/{n:<5} {100 * h / n:6.1f} %" + (f"   missed e.g. {ex}" if ex else ""))
ham = verdicts("ham")
fps = []
for i, dom in enumerate(meta["ham"]):
    lk = {k: v for k, v in ham.get(i, {}).items() if k.startswith("LOOKALIKE_")}
    if lk:
        fps.append((dom, next(iter(lk.values()))))
print(f"ham sender domains ({groups}): {len(fps)}/{len(meta['ham'])} flagged as lookalikes")
for dom, opts in fps:
    print(f"  {dom}: {'; '.join(opts)}")
PY
