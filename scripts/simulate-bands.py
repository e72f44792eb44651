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

With --missed FILE, it writes the paths of the spam the pack's bands leave
below add-header to FILE, one per line (for `scripts/spam-twins.py --only`).

With --search, it also tries other choices for where the classifier alone
flags, what the bands below that score, what the spam signs
(rules/pack/ratware.toml, bulk.toml) score and what the ham signs
(rules/pack/origin.toml) score, and prints the cheapest by the cost
9 x ham flagged + spam missed (a flagged ham costs nine missed spam, the
weighting of Androutsopoulos et al., 2000). The pack's choice is the
cheapest, ties going to the smallest change.

The rendered ham (`--rendered-out DIR`: each plain-text ham re-encoded as
windows-1252 HTML, scored by the model without its source) counts as ham
when a scan of DIR is given: a flagged ham costs the same in any format.

    C=$(scripts/fetch-corpus.sh)
    cargo run --release -p mailward-train -- --ham $C/easy-ham-1 --spam $C/spam-1 \\
        --l2 0.0001 --min-df 1 --prune 0.2 --renditions --group-cv 20 \\
        --drop 'f!tld:,f!org:,u!tld:,f!reply-to-' \\
        --oof /tmp/oof.tsv --rendered-out /tmp/rendered
    mailward scan --offline --json $C/easy-ham-1 > /tmp/easy-ham-1.jsonl
    mailward scan --offline --json $C/spam-1 > /tmp/spam-1.jsonl
    mailward scan --offline --json /tmp/rendered > /tmp/rendered.jsonl
    scripts/simulate-bands.py [--search] /tmp/oof.tsv /tmp/easy-ham-1.jsonl \\
        /tmp/spam-1.jsonl /tmp/rendered.jsonl
"""
import itertools
import json
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


SEARCH_EDGES = (0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
SEARCH_MID = (4.0, 4.5, 5.0, 5.5)
SEARCH_STRONG = (1.0, 1.5, 2.0)
SEARCH_WEAK = (0.5, 1.0)
SEARCH_SIGNS = (0.0, 1.0, 2.0)
SEARCH_HAM = (0.0, -1.0, -2.0, -3.0, -4.0, -5.0)
# The cost of a flagged ham in missed spam (Androutsopoulos et al., 2000).
LAMBDA = 9


class Pipeline:
    """The pack's scoring of the training groups, with the classifier's part
    and the sign families replaceable."""

    def __init__(self, oof_path: str, scans: list[str]):
        # name -> (label, p, known features, source)
        self.oof = {}
        for line in open(oof_path, encoding="utf-8"):
            name, source, label, p, known = line.rstrip("\n").split("\t")
            self.oof[name] = (label, float(p), int(known), source)
        pack = tomllib.loads((ROOT / "rules/pack/pack.toml").read_text())
        classifier = tomllib.loads((ROOT / "rules/pack/classifier.toml").read_text())
        ratware = [
            rule
            for family in ("ratware", "bulk")
            for rule in tomllib.loads((ROOT / f"rules/pack/{family}.toml").read_text())["rule"]
        ]
        # The spam signs (ratware.toml, bulk.toml), and the rule that counts them.
        # The ham signs (origin.toml): scored rules only, searched together.
        self.ham_signs = {
            r["name"]: r["score"]
            for r in tomllib.loads((ROOT / "rules/pack/origin.toml").read_text())["rule"]
            if not r["name"].startswith("__")
        }
        self.combo = next(r for r in ratware if r["type"] == "meta" and r["expr"].endswith(">= 2"))
        self.signs = {
            r["name"]: r["score"] for r in ratware if not r["name"].startswith("__") and r is not self.combo
        }
        self.threshold = pack["actions"]["add-header"]
        self.min_features = classifier["model"]["min-features"]
        self.bands = [
            (r["range"][0], r["range"][1], r["score"]) for r in classifier["rule"] if r["type"] == "model"
        ]
        # (kind, rules' score without BAYES_* and the sign families, p,
        #  known features, the spam signs that fired, the ham signs that fired,
        #  path, ham source, every other symbol that fired)
        self.rows = []
        self.missing = 0
        for scan in scans:
            for line in open(scan, encoding="utf-8"):
                v = json.loads(line)
                if v.get("error") or v["path"] not in self.oof:
                    self.missing += 1
                    continue
                names = {s["name"] for s in v["symbols"]}
                family = [
                    s["score"]
                    for s in v["symbols"]
                    if s["name"].startswith("BAYES_")
                    or s["name"] in self.signs
                    or s["name"] in self.ham_signs
                    or s["name"] == self.combo["name"]
                ]
                kind, p, known, source = self.oof[v["path"]]
                self.rows.append(
                    (
                        kind,
                        v["score"] - sum(family),
                        p,
                        known,
                        [n for n in names if n in self.signs],
                        [n for n in names if n in self.ham_signs],
                        v["path"],
                        source,
                        sorted(n for n in names if not n.startswith("BAYES_")),
                    )
                )

    def band(self, p: float, edge: float | None = None, mid: float = 0.0) -> float:
        for lo, hi, score in self.bands:
            # The pack's ranges are half-open except the last, as in the check.
            if lo <= p < hi or (hi == 1.0 and p == 1.0):
                if edge is not None and lo >= 0.7:
                    # Below the edge the band needs other evidence; from
                    # it on, the band flags alone.
                    return mid if lo < edge else max(score, self.threshold)
                return score
        return 0.0

    def flags(self, row, score_of) -> bool:
        """Whether the row reaches add-header with this scoring."""
        _kind, rules, p, known, fired, ham, *_ = row
        return rules + score_of(p, known, fired, ham) >= self.threshold

    def run(self, score_of, rows=None) -> dict:
        flagged = {"ham": [0, 0], "spam": [0, 0], "rendered-ham": [0, 0]}
        for row in self.rows if rows is None else rows:
            flagged[row[0]][1] += 1
            if self.flags(row, score_of):
                flagged[row[0]][0] += 1
        return flagged

    def as_packed(self, p, known, fired, ham):
        s = self.band(p) if known >= self.min_features else 0.0
        s += sum(self.ham_signs[n] for n in ham)
        s += sum(self.signs[n] for n in fired)
        return s + (self.combo["score"] if len(fired) >= 2 else 0.0)

    def choice(self, edge, mid, strong, weak, both, good):
        """The scoring of one search choice: where the classifier alone flags
        (`edge`), what the bands below it score (`mid`), what the spam signs
        score (those scoring over 1 in the pack as `strong`, the others as
        `weak`, plus the combination) and what each ham sign scores (`good`)."""

        def score_of(p, known, fired, ham):
            s = self.band(p, edge, mid) if known >= self.min_features else 0.0
            s += sum(strong if self.signs[n] > 1 else weak for n in fired) + good * len(ham)
            return s + (both if len(fired) >= 2 else 0.0)

        return score_of

    def search(self, rows=None) -> list[tuple]:
        """Every choice's (cost, ham, rendered ham, spam missed, choice...),
        cheapest first, by the cost LAMBDA x ham flagged + spam missed."""
        results = []
        for choice in itertools.product(
            SEARCH_EDGES, SEARCH_MID, SEARCH_STRONG, SEARCH_WEAK, SEARCH_SIGNS, SEARCH_HAM
        ):
            f = self.run(self.choice(*choice), rows)
            ham, rendered, spam = f["ham"][0], f["rendered-ham"][0], f["spam"][1] - f["spam"][0]
            results.append((LAMBDA * (ham + rendered) + spam, ham, rendered, spam, *choice))
        results.sort()
        return results


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--search"]
    search = len(args) != len(sys.argv) - 1
    missed_out = None
    if "--missed" in args:
        at = args.index("--missed")
        missed_out = args[at + 1] if at + 1 < len(args) else None
        del args[at : at + 2]
    if len(args) < 2 or ("--missed" in sys.argv and missed_out is None):
        print(__doc__, file=sys.stderr)
        return 2
    pipeline = Pipeline(args[0], args[1:])
    flagged = pipeline.run(pipeline.as_packed)
    if missed_out is not None:
        with open(missed_out, "w", encoding="utf-8") as out:
            for row in pipeline.rows:
                if row[0] == "spam" and not pipeline.flags(row, pipeline.as_packed):
                    print(row[6], file=out)
    for kind, (f, n) in flagged.items():
        if n:
            print(f"{kind:4} flagged {f:>5}/{n:<5} ({100 * f / max(n, 1):.2f} %)")
    if search:
        results = pipeline.search()
        print(f"cost = {LAMBDA} x ham flagged (as written or rendered) + spam missed; lowest first")
        print("cost  ham  rendered  spam-missed  alone-from  below-scores  strong  weak  two-signs  ham-sign")
        for cost, ham, rendered, spam, edge, mid, strong, weak, both, good in results[:12]:
            print(f"{cost:4}  {ham:3}  {rendered:8}  {spam:11}  {edge:10}  {mid:12}  {strong:6}  {weak:4}  {both:9}  {good:8}")
    if pipeline.missing:
        print(f"{pipeline.missing} scanned messages had no out-of-fold probability or failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
