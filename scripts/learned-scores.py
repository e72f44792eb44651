#!/usr/bin/env python3
"""Compares the pack's way of scoring with scores learned from the data, on
the training groups only, by nested cross-validation.

The pack scores a message by hand-written structure with a few searched
numbers (`scripts/simulate-bands.py --search`): the classifier flags alone
from one probability on, the bands below need other evidence, the spam and
ham signs score by family. SpamAssassin instead learns a score for every
rule from a corpus (its `masses/` perceptron). This script asks whether
learning the scores would do better here, measured the same way for every
method: the training messages are split into 5 folds (spam into 5 runs of
consecutive files, as `mailward-train --spam-folds blocks` does; ham, and
its renditions, by source), and each fold is scored by choices made on the
other four:

* `pack-search`: the band search of simulate-bands.py run on the four
  folds, its cheapest choice applied to the fifth;
* `logistic C=...`: a logistic regression over every symbol that fired on
  at least 3 training messages (BAYES_* left out) and the classifier's
  log-odds (with hinges at p 0.7 and 0.99), ham weighted 9 to 1, its
  threshold the cheapest on the four folds;
* `boosted N`: gradient-boosted trees (depth 3, N rounds) on the same.

Every message's classifier probability is already out of fold
(`mailward-train --oof`), so the classifier never saw the message it
scores. Prints per method: ham, rendered ham flagged, spam missed and the
cost 9 x (ham + rendered ham) + spam missed, summed over the five folds.
Needs numpy and scikit-learn. With --search-only, only the nested band
search runs: a way to compare two models' out-of-fold probabilities by what
the pipeline makes of them, without the search's in-sample optimism.

    scripts/learned-scores.py /tmp/oof.tsv /tmp/easy-ham-1.jsonl \\
        /tmp/spam-1.jsonl /tmp/rendered.jsonl
"""
import importlib.util
import math
import pathlib
import sys
import zlib

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("simulate_bands", HERE / "simulate-bands.py")
simulate_bands = importlib.util.module_from_spec(spec)
spec.loader.exec_module(simulate_bands)
LAMBDA = simulate_bands.LAMBDA
FOLDS = 5
MIN_FIRED = 3


def folds_of(rows) -> np.ndarray:
    """Spam in runs of consecutive files, ham (written or rendered) by source."""
    fold = np.zeros(len(rows), dtype=int)
    spam = sorted((r[6], i) for i, r in enumerate(rows) if r[0] == "spam")
    for k, (_, i) in enumerate(spam):
        fold[i] = k * FOLDS // len(spam)
    for i, r in enumerate(rows):
        if r[0] != "spam":
            fold[i] = zlib.crc32(r[7].encode()) % FOLDS
    return fold


def counts(kinds, flagged) -> tuple[int, int, int]:
    ham = sum(1 for k, f in zip(kinds, flagged) if k == "ham" and f)
    rendered = sum(1 for k, f in zip(kinds, flagged) if k == "rendered-ham" and f)
    missed = sum(1 for k, f in zip(kinds, flagged) if k == "spam" and not f)
    return ham, rendered, missed


def features(pipeline, rows, names) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(rows), len(names) + 3))
    for j, r in enumerate(rows):
        for n in r[8]:
            if n in index:
                x[j, index[n]] = 1.0
        p = min(max(r[2], 1e-6), 1 - 1e-6)
        if r[3] >= pipeline.min_features:
            logit = math.log(p / (1 - p))
            x[j, -3] = logit
            x[j, -2] = max(logit - math.log(0.7 / 0.3), 0.0)
            x[j, -1] = max(logit - math.log(0.99 / 0.01), 0.0)
    return x


def cheapest_threshold(scores, kinds) -> float:
    ham = np.array([k != "spam" for k in kinds])
    best = None
    for t in np.unique(scores):
        cost = LAMBDA * int((scores[ham] >= t).sum()) + int((scores[~ham] < t).sum())
        if best is None or cost < best[0]:
            best = (cost, t)
    return best[1]


def learned(pipeline, rows, fold, make) -> tuple[int, int, int]:
    kinds = [r[0] for r in rows]
    y = np.array([k == "spam" for k in kinds], dtype=int)
    total = [0, 0, 0]
    for f in range(FOLDS):
        train = [i for i in range(len(rows)) if fold[i] != f]
        test = [i for i in range(len(rows)) if fold[i] == f]
        fired = {}
        for i in train:
            for n in rows[i][8]:
                fired[n] = fired.get(n, 0) + 1
        names = sorted(n for n, c in fired.items() if c >= MIN_FIRED)
        x_train = features(pipeline, [rows[i] for i in train], names)
        x_test = features(pipeline, [rows[i] for i in test], names)
        model = make().fit(x_train, y[train])
        t = cheapest_threshold(model.decision_function(x_train), [kinds[i] for i in train])
        flagged = model.decision_function(x_test) >= t
        for k, c in enumerate(counts([kinds[i] for i in test], flagged)):
            total[k] += c
    return tuple(total)


def pack_search(pipeline, rows, fold) -> tuple[int, int, int]:
    total = [0, 0, 0]
    for f in range(FOLDS):
        train = [r for i, r in enumerate(rows) if fold[i] != f]
        test = [r for i, r in enumerate(rows) if fold[i] == f]
        choice = pipeline.search(train)[0][4:]
        score_of = pipeline.choice(*choice)
        flagged = [pipeline.flags(r, score_of) for r in test]
        for k, c in enumerate(counts([r[0] for r in test], flagged)):
            total[k] += c
    return tuple(total)


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--search-only"]
    search_only = len(args) != len(sys.argv) - 1
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    pipeline = simulate_bands.Pipeline(args[0], args[1:])
    rows = pipeline.rows
    fold = folds_of(rows)
    weights = {0: float(LAMBDA), 1: 1.0}
    methods = [("pack-search", lambda: pack_search(pipeline, rows, fold))]
    for c in () if search_only else (0.1, 1.0, 10.0):
        methods.append(
            (
                f"logistic C={c}",
                lambda c=c: learned(
                    pipeline,
                    rows,
                    fold,
                    lambda: LogisticRegression(C=c, class_weight=weights, max_iter=5000),
                ),
            )
        )
    for rounds in () if search_only else (50, 200):
        methods.append(
            (
                f"boosted {rounds}",
                lambda rounds=rounds: learned(
                    pipeline,
                    rows,
                    fold,
                    lambda: HistGradientBoostingClassifier(
                        max_depth=3, max_iter=rounds, class_weight=weights, random_state=0
                    ),
                ),
            )
        )
    print(f"{len(rows)} messages, {FOLDS} folds; cost = {LAMBDA} x (ham + rendered ham) + spam missed")
    print("method            ham  rendered  spam-missed  cost")
    for name, method in methods:
        ham, rendered, missed = method()
        print(f"{name:16} {ham:4}  {rendered:8}  {missed:11}  {LAMBDA * (ham + rendered) + missed:4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
