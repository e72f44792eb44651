#!/usr/bin/env python3
"""Grouped cross-validation of classifier variants on the trainer's own
features, to try a model change before writing it in Rust.

`mailward-train --dump-features FILE` writes every training document (the
messages and their renditions) with the features the check sees. This
script refits the trainer's model on them with NumPy/SciPy: the same
objective (class-weighted logistic regression, L2 penalty, bias fixed at the
classes' log-odds, L-BFGS), the same feature values (1/sqrt(distinct
features)), the same pruning, and the same grouped folds (each ham source
of at least 20 messages held out alone, the smaller ones together, a
message's renditions with it; spam in 5 interleaved folds or 5 runs of
consecutive files). With no settings it reproduces the shipped model's
out-of-fold probabilities, so `scripts/simulate-bands.py` gives the same
verdicts from either (checked: 472 and 465 of 500 training spam, 0 ham,
with interleaved folds and blocks).

A variant is NAME=JSON with any of:
  l2        L2 penalty (default 1e-4)
  power     feature value 1/n^power, n = distinct features (default 0.5)
  prune     weights smaller than this are dropped (default 0.2)
  min_df    keep features seen in at least this many documents (default 1)
  drop      feature prefixes left out, e.g. ["m:", "m!"]
  nb        Naive Bayes log-count-ratio scaling of the features (NBSVM,
            Wang & Manning 2012) with this smoothing; default off
  known_norm  true: count a message's length (the n above) in the features
            the model keeps, not in all it has (fit, prune, refit on the
            kept features), so unseen words do not dilute the known ones
  robinson  instead of the logistic regression, a Bayes model as
            SpamBayes and SpamAssassin's Bayes combine it: each feature's
            spam probability from the classes' document frequencies,
            Robinson's smoothing toward 0.5 with this strength, the up to
            150 features farthest from 0.5 (at least 0.1 away), Fisher's
            chi-square combination; the other settings but drop are ignored
  spread    a feature's L2 penalty times (2 / g)^spread, g the number of
            groups it occurs in (ham sources; spam in runs of 25
            consecutive files): a feature of one list's jargon or one
            campaign is held back more than one that recurs (default 0)

    C=$(scripts/fetch-corpus.sh)
    target/release/mailward-train --ham $C/easy-ham-1 --spam $C/spam-1 --renditions \\
        --drop 'f!tld:,f!org:,u!tld:,f!reply-to-' --dump-features /tmp/train.tsv
    scripts/model-variants.py /tmp/train.tsv --folds blocks --oof-dir /tmp/oof \\
        'base={}' 'power04={"power": 0.4, "l2": 2e-4}'
    scripts/simulate-bands.py --search /tmp/oof/power04-blocks.tsv \\
        /tmp/easy-ham-1.jsonl /tmp/spam-1.jsonl

Prints per variant the AUC and, at a few probability thresholds, the
training ham flagged and spam caught out of fold. The rendered-ham probes
are not in the dump, so the written OOF files hold the messages as written
only. Training groups only: never feed it the held-out groups.
"""
import argparse
import json
import pathlib
import sys
from collections import Counter, defaultdict

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.stats import chi2
from scipy.stats import rankdata

SETTINGS = {"l2", "power", "prune", "min_df", "drop", "nb", "known_norm", "robinson", "spread"}
# Spam in runs of this many consecutive files counts as one group for
# `spread` (a campaign's near-copies arrive within a few days).
SPREAD_RUN = 25
SPAM_FOLDS = 5
MIN_SOURCE = 20


def load(path):
    docs = []
    for line in open(path, encoding="utf-8"):
        c = line.rstrip("\n").split("\t")
        docs.append(
            {
                "name": c[0],
                "spam": c[1] == "spam",
                "source": c[2],
                "message": int(c[3]),
                "written": c[4] == "-",
                "weight": float(c[5]),
                "distinct": int(c[6]),
                "features": c[7:],
            }
        )
    return docs


def fit_lr(x, spam, weight, l2, bias):
    y = np.where(spam, 1.0, -1.0)

    def objective(w):
        margin = -y * (bias + x @ w)
        loss = np.sum(weight * np.logaddexp(0, margin)) + 0.5 * w @ (l2 * w)
        dz = -y * weight / (1 + np.exp(-margin))
        return loss, x.T @ dz + l2 * w

    r = minimize(objective, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 400})
    return r.x


class Model:
    def __init__(self, settings):
        self.s = settings

    def _docs(self, docs):
        drop = tuple(self.s.get("drop", ()))
        if not drop:
            return docs
        return [dict(d, features=[f for f in d["features"] if not f.startswith(drop)]) for d in docs]

    def _matrix(self, docs):
        rows, cols, vals = [], [], []
        power = self.s.get("power", 0.5)
        known = getattr(self, "known", None)
        for i, d in enumerate(docs):
            idx = [self.vocab[f] for f in d["features"] if f in self.vocab]
            n = d["distinct"] if known is None else sum(1 for f in d["features"] if f in known)
            rows += [i] * len(idx)
            cols += idx
            vals += [max(n, 1) ** -power] * len(idx)
        shape = (len(docs), len(self.vocab))
        return sp.csr_matrix((vals, (rows, cols)), shape=shape), sp.csr_matrix(
            (np.ones(len(vals)), (rows, cols)), shape=shape
        )

    def fit(self, docs):
        docs = self._docs(docs)
        df = Counter()
        for d in docs:
            df.update(set(d["features"]))
        min_df = self.s.get("min_df", 1)
        known = getattr(self, "known", None)
        self.vocab = {
            f: i
            for i, f in enumerate(sorted(f for f, n in df.items() if n >= min_df and (known is None or f in known)))
        }
        x, present = self._matrix(docs)
        spam = np.array([d["spam"] for d in docs])
        weight = np.array([d["weight"] for d in docs])
        self.bias = np.log(weight[spam].sum() / weight[~spam].sum())
        scale = None
        if "nb" in self.s:
            a = self.s["nb"]
            p = np.asarray(present[spam].T @ weight[spam]).ravel() + a
            q = np.asarray(present[~spam].T @ weight[~spam]).ravel() + a
            scale = np.log((p / p.sum()) / (q / q.sum()))
            x = x @ sp.diags(scale)
        l2 = self.s.get("l2", 1e-4)
        if self.s.get("spread"):
            groups = defaultdict(set)
            for d in docs:
                g = f"spam run {d['message'] // SPREAD_RUN}" if d["spam"] else d["source"]
                for f in set(d["features"]):
                    if f in self.vocab:
                        groups[self.vocab[f]].add(g)
            g = np.array([len(groups[i]) for i in range(len(self.vocab))], dtype=float)
            l2 = l2 * (2.0 / np.maximum(g, 1.0)) ** self.s["spread"]
        self.w = fit_lr(x, spam, weight, l2, self.bias)
        if scale is not None:
            self.w = self.w * scale
        self.w[np.abs(self.w) < self.s.get("prune", 0.2)] = 0.0
        if self.s.get("known_norm"):
            kept = {f for f, i in self.vocab.items() if self.w[i] != 0.0}
            if known is None:
                # Refit on the kept features, each message's length counted
                # in them; a check counts the features the model file has.
                self.known = kept
                return self.fit(docs)
            self.known = kept
        return self

    def probability(self, docs):
        x, _ = self._matrix(self._docs(docs))
        return 1 / (1 + np.exp(-(self.bias + x @ self.w)))


class Robinson(Model):
    """Robinson's Bayes with Fisher's chi-square combination."""

    TOKENS = 150
    MIN_STRENGTH = 0.1

    def fit(self, docs):
        docs = self._docs(docs)
        spam_w, ham_w = Counter(), Counter()
        for d in docs:
            counts = spam_w if d["spam"] else ham_w
            for f in set(d["features"]):
                counts[f] += d["weight"]
        spam_total = sum(d["weight"] for d in docs if d["spam"])
        ham_total = sum(d["weight"] for d in docs if not d["spam"])
        s = self.s["robinson"]
        self.f = {}
        for t in spam_w.keys() | ham_w.keys():
            b, g = spam_w[t] / spam_total, ham_w[t] / ham_total
            n = spam_w[t] + ham_w[t]
            self.f[t] = (s * 0.5 + n * b / (b + g)) / (s + n)
        return self

    def probability(self, docs):
        out = []
        for d in self._docs(docs):
            f = np.array([self.f[t] for t in set(d["features"]) if t in self.f])
            f = f[np.abs(f - 0.5) >= self.MIN_STRENGTH]
            f = np.clip(f[np.argsort(-np.abs(f - 0.5))[: self.TOKENS]], 1e-6, 1 - 1e-6)
            if len(f) == 0:
                out.append(0.5)
                continue
            # SpamBayes' chi2_spamprob: S (spam evidence) from the product
            # of 1 - f, H (ham evidence) from the product of f.
            spam = 1 - chi2.sf(-2 * np.log(1 - f).sum(), 2 * len(f))
            ham = 1 - chi2.sf(-2 * np.log(f).sum(), 2 * len(f))
            out.append((1 + spam - ham) / 2)
        return np.array(out)


def out_of_fold(docs, settings, folds):
    sizes = Counter(d["source"] for d in docs if not d["spam"] and d["written"])
    n_spam = max(d["message"] for d in docs if d["spam"]) + 1
    groups = defaultdict(list)
    for i, d in enumerate(docs):
        if d["spam"]:
            m = d["message"]
            fold = m % SPAM_FOLDS if folds == "interleaved" else m * SPAM_FOLDS // n_spam
            groups[f"spam fold {fold}"].append(i)
        else:
            groups[d["source"] if sizes[d["source"]] >= MIN_SOURCE else "(small sources)"].append(i)
    oof = np.zeros(len(docs))
    for held in groups.values():
        held_set = set(held)
        kind = Robinson if "robinson" in settings else Model
        model = kind(settings).fit([d for i, d in enumerate(docs) if i not in held_set])
        oof[held] = model.probability([docs[i] for i in held])
    return oof


def auc(p, spam):
    ranks = rankdata(p)  # ties share their average rank
    pos = spam.sum()
    return (ranks[spam].sum() - pos * (pos + 1) / 2) / (pos * (len(p) - pos))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump", help="mailward-train --dump-features output")
    ap.add_argument("variants", nargs="+", metavar="NAME=JSON")
    ap.add_argument("--folds", choices=("interleaved", "blocks"), default="interleaved")
    ap.add_argument("--oof-dir", type=pathlib.Path, help="write NAME-FOLDS.tsv (simulate-bands.py's input)")
    a = ap.parse_args()
    variants = []
    for v in a.variants:
        name, _, text = v.partition("=")
        settings = json.loads(text or "{}")
        unknown = set(settings) - SETTINGS
        if not name or unknown:
            ap.error(f"{v!r}: want NAME=JSON with settings among {sorted(SETTINGS)}")
        variants.append((name, settings))
    docs = load(a.dump)
    written = np.array([d["written"] for d in docs])
    spam = np.array([d["spam"] for d in docs])[written]
    for name, settings in variants:
        p = out_of_fold(docs, settings, a.folds)[written]
        line = [f"{name} ({a.folds})", f"AUC {auc(p, spam):.5f}"]
        for t in (0.5, 0.7, 0.9, 0.99):
            line.append(f"p >= {t}: ham {(p[~spam] >= t).sum()}, spam {(p[spam] >= t).sum()}")
        print(" | ".join(line), flush=True)
        if a.oof_dir:
            a.oof_dir.mkdir(parents=True, exist_ok=True)
            rows = [d for d in docs if d["written"]]
            with open(a.oof_dir / f"{name}-{a.folds}.tsv", "w", encoding="utf-8") as f:
                for d, q in zip(rows, p):
                    label = "spam" if d["spam"] else "ham"
                    # The model's known-feature count is not tracked: every
                    # message counts as judged (the pack wants 5).
                    f.write(f"{d['name']}\t{d['source']}\t{label}\t{q:.6f}\t{len(d['features'])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
