#!/usr/bin/env python3
"""Simulates the whole pipeline on the training groups with out-of-fold
classifier probabilities, to choose the classifier's bands without the
held-out groups.

The other rules' scores come from a scan of the same messages (the verdict's
score minus its BAYES_* symbols); the classifier's part is replaced by the
band score at the probability a model trained without the message's source
gave it (`mailward-train --group-cv N --oof FILE`). Prints, for the pack's
bands (read from rules/pack/classifier.toml) and add-header threshold, how
many training ham and spam would be flagged.

    C=$(scripts/fetch-corpus.sh)
    cargo run --release -p mailward-train -- --ham $C/easy-ham-1 --spam $C/spam-1 \\
        --l2 0.0001 --min-df 1 --prune 0.2 --group-cv 20 --oof /tmp/oof.tsv
    mailward scan --offline --json $C/easy-ham-1 > /tmp/easy-ham-1.jsonl
    mailward scan --offline --json $C/spam-1 > /tmp/spam-1.jsonl
    scripts/simulate-bands.py /tmp/oof.tsv /tmp/easy-ham-1.jsonl /tmp/spam-1.jsonl
"""
import json
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    oof = {}
    for line in open(sys.argv[1], encoding="utf-8"):
        name, _source, label, p, known = line.rstrip("\n").split("\t")
        oof[name] = (label, float(p), int(known))
    pack = tomllib.loads((ROOT / "rules/pack/pack.toml").read_text())
    classifier = tomllib.loads((ROOT / "rules/pack/classifier.toml").read_text())
    threshold = pack["actions"]["add-header"]
    min_features = classifier["model"]["min-features"]
    bands = [(r["range"][0], r["range"][1], r["score"]) for r in classifier["rule"] if r["type"] == "model"]

    def band(p: float) -> float:
        for lo, hi, score in bands:
            # The pack's ranges are half-open except the last, as in the check.
            if lo <= p < hi or (hi == 1.0 and p == 1.0):
                return score
        return 0.0

    flagged = {"ham": [0, 0], "spam": [0, 0]}
    missing = 0
    for scan in sys.argv[2:]:
        for line in open(scan, encoding="utf-8"):
            v = json.loads(line)
            if v.get("error") or v["path"] not in oof:
                missing += 1
                continue
            bayes = sum(s["score"] for s in v["symbols"] if s["name"].startswith("BAYES_"))
            rules = v["score"] - bayes
            kind, p, known = oof[v["path"]]
            total = rules + (band(p) if known >= min_features else 0.0)
            flagged[kind][1] += 1
            if total >= threshold:
                flagged[kind][0] += 1
    for kind, (f, n) in flagged.items():
        print(f"{kind:4} flagged {f:>5}/{n:<5} ({100 * f / max(n, 1):.2f} %)")
    if missing:
        print(f"{missing} scanned messages had no out-of-fold probability or failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
