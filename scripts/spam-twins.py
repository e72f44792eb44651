#!/usr/bin/env python3
"""Counts how many messages of a directory have a near-copy on the other
side of a cross-validation split, for `mailward-train --spam-folds`:
interleaved folds (message k in fold k mod 5) against blocks (5 runs of
consecutive files).

A message's words are the set of its text parts' words (decoded, HTML tags
stripped, lower-cased, 3 or more letters or digits); two messages are
near-copies when the Jaccard similarity of their word sets is at least the
threshold. Prints, per kind of fold and threshold, how many messages have a
near-copy in the folds a model scoring them would train on.

With `--only FILE`, counts only the messages FILE lists (paths or file
names, one per line), such as the spam the pipeline misses
(`scripts/simulate-bands.py --missed FILE`), against all the others.

    C=$(scripts/fetch-corpus.sh)
    scripts/spam-twins.py $C/spam-1
    scripts/spam-twins.py $C/spam-1 --only /tmp/missed.txt
"""
import email
import email.policy
import os
import re
import sys

FOLDS = 5
THRESHOLDS = (0.5, 0.8)


def words(path: str) -> set[str]:
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.compat32)
    text = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text.append(payload.decode("latin-1"))
    plain = re.sub(r"<[^>]*>", " ", " ".join(text)).lower()
    return set(re.findall(r"[a-z0-9]{3,}", plain))


def main() -> int:
    args = sys.argv[1:]
    only = None
    if len(args) == 3 and args[1] == "--only":
        only = {os.path.basename(line.strip()) for line in open(args[2], encoding="utf-8") if line.strip()}
        args = args[:1]
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__, file=sys.stderr)
        return 2
    d = args[0]
    names = sorted(os.listdir(d))
    sets = [words(os.path.join(d, f)) for f in names]
    n = len(sets)
    # The messages counted (all, or those --only lists).
    counted = [m for m in range(n) if only is None or names[m] in only]
    # Each message's fold, per kind of split.
    folds = {
        "interleaved": [m % FOLDS for m in range(n)],
        "blocks": [m * FOLDS // max(n, 1) for m in range(n)],
    }
    sim = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            s = len(sets[i] & sets[j]) / max(1, len(sets[i] | sets[j]))
            sim[i][j] = sim[j][i] = s
    print(f"{n} messages" + ("" if only is None else f", {len(counted)} of them counted"))
    for kind, fold in folds.items():
        # Each counted message's closest message in the other folds.
        best = [max((sim[i][j] for j in range(n) if fold[j] != fold[i]), default=0.0) for i in counted]
        for t in THRESHOLDS:
            c = sum(1 for b in best if b >= t)
            print(f"{kind:12} near-copy (Jaccard >= {t}) in the training folds: {c:>5}/{len(counted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
