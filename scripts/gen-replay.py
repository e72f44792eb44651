#!/usr/bin/env python3
"""Builds a replay scenario for `mailward replay`: an organisation's
authenticated users sending mail over several weeks, some of whose accounts
are hijacked and start sending spam.

    scripts/gen-replay.py OUT_DIR [--users 250] [--days 28] [--hijacked 12] [--seed 7]
    mailward replay OUT_DIR/events.jsonl --compare --quiet

Bodies come from the SpamAssassin public corpus (scripts/fetch-corpus.sh):
normal mail from easy-ham-1, the hijackers' spam from spam-1. Each message is
written to OUT_DIR/msgs/ with its header rewritten for the sender (From,
To, Date, Message-ID), keeping the original subject, MIME structure and body.

Normal behaviour, per user:
* working hours (weekdays, 08:00-18:00 UTC, a few late workers), a personal
  rate (log-normal, median about 7 messages a working day);
* recipients from a personal circle with realistic reuse: a team of
  colleagues and external contacts at a handful of partner domains and
  freemail providers, chosen with a Zipf-like preference; now and then a
  first mail to somebody new;
* client networks: the office, the user's home ISP, a mobile carrier's
  rotating addresses, and for some users a trip (a hotel network for a day);
* legitimate bursts: weekly newsletters from a communications team to 300
  colleagues, monthly customer mailings (80 external contacts across many
  domains) from sales, an event invitation to colleagues and partners.

Hijacked accounts (ground truth: "label": "spam" on their spam events, and
OUT_DIR/truth.json) keep their owner's normal mail and, from a start time in
the second half of the period, send spam at a fixed rate from 20 to 1200
messages an hour, to 1-30 recipients each at many domains, from an
attacker's address (fixed, or rotating through a botnet), with the account's
own From and sometimes a Reply-To elsewhere. Attackers keep sending for
their whole run whatever the gateway answers; the replay counts what was
delivered before the account was blocked.
"""

import argparse
import email.parser
import email.policy
import json
import math
import os
import random
import subprocess
import sys
from datetime import datetime, timezone

ORG = "corp.example"
START = int(datetime(2026, 10, 5, tzinfo=timezone.utc).timestamp())  # a Monday
FREEMAIL = ["gmail.example", "yahoo.example", "outlook.example", "aol.example", "gmx.example", "icloud.example"]
OFFICE_IP = "198.51.100.10"
ISP_NETS = [f"{a}.{b}" for a, b in [(81, 2), (86, 150), (94, 12), (109, 144), (82, 31), (90, 200), (2, 96), (78, 33)]]
CARRIERS = [[f"{a}.{b}" for b in bs] for a, bs in [(176, [64, 65, 66, 67]), (92, [40, 41, 42, 43]), (37, [160, 161, 162, 163])]]
FIRST = ["anna", "ben", "carla", "dan", "eva", "finn", "gina", "hugo", "iris", "jon", "kara", "leo", "mia", "nils", "olga",
         "paul", "rita", "sam", "tara", "uwe", "vera", "will", "xena", "yuri", "zoe", "adam", "bea", "chris", "dora", "emil"]
LAST = ["berg", "cole", "diaz", "ernst", "frost", "gray", "hale", "ito", "jung", "kahn", "lund", "moss", "nash", "orr",
        "park", "quinn", "ross", "sato", "thiel", "ueda", "voss", "wolf", "young", "zeller", "abbot", "brandt", "crane"]


def corpus_dir():
    out = subprocess.run([os.path.join(os.path.dirname(__file__), "fetch-corpus.sh")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def load_bodies(path):
    """(subject, mime headers, body bytes) of each message in a corpus group."""
    out = []
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    for name in sorted(os.listdir(path)):
        raw = open(os.path.join(path, name), "rb").read()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        raw = raw.replace(b"\r\n", b"\n")
        head, sep, body = raw.partition(b"\n\n")
        if not sep:
            continue
        h = parser.parsebytes(head + b"\n\n")
        subject = " ".join(str(h.get("Subject", "")).split())[:200]
        mime = [(k, " ".join(str(v).split())) for k, v in h.items()
                if k.lower() in ("mime-version", "content-type", "content-transfer-encoding")]
        out.append((subject, mime, body))
    return out


def fmt_date(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")


class Writer:
    def __init__(self, out_dir):
        self.dir = out_dir
        os.makedirs(os.path.join(out_dir, "msgs"), exist_ok=True)
        self.n = 0
        self.events = []

    def message(self, t, user, ip, rcpt, body, label, reply_to=None):
        subject, mime, text = body
        self.n += 1
        rel = f"msgs/{self.n:06d}.eml"
        shown = rcpt[:5] if len(rcpt) <= 5 else [f"undisclosed-recipients:;"]
        lines = [f"From: {user['name']} <{user['addr']}>",
                 f"To: {', '.join(shown)}",
                 f"Subject: {subject}",
                 f"Date: {fmt_date(t)}",
                 f"Message-ID: <{t}.{self.n}@{ORG}>"]
        if reply_to:
            lines.append(f"Reply-To: {reply_to}")
        lines += [f"{k}: {v}" for k, v in mime]
        with open(os.path.join(self.dir, rel), "wb") as f:
            f.write(("\n".join(lines) + "\n\n").encode("utf-8", "replace") + text)
        self.events.append({"t": t, "user": user["addr"], "ip": ip, "mail_from": user["addr"],
                            "rcpt": rcpt, "message": rel, "label": label})

    def finish(self):
        self.events.sort(key=lambda e: e["t"])
        with open(os.path.join(self.dir, "events.jsonl"), "w") as f:
            for e in self.events:
                f.write(json.dumps(e) + "\n")


def zipf_pick(rng, items, s=1.1):
    weights = [1.0 / (i + 1) ** s for i in range(len(items))]
    return rng.choices(items, weights)[0]


def make_users(rng, n):
    users, seen = [], set()
    partner_domains = [f"partner{i:03d}.example" for i in range(400)]
    while len(users) < n:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        addr = f"{first}.{last}@{ORG}"
        if addr in seen:
            addr = f"{first}.{last}{len(users)}@{ORG}"
        seen.add(addr)
        users.append({"addr": addr, "name": f"{first.title()} {last.title()}"})
    for u in users:
        u["rate"] = min(60.0, max(1.0, rng.lognormvariate(math.log(7), 0.7)))  # per working day
        u["internal"] = rng.uniform(0.3, 0.9)
        u["late"] = rng.random() < 0.08
        u["team"] = rng.sample([x["addr"] for x in users if x is not u], rng.randint(5, 15))
        domains = rng.sample(partner_domains, rng.randint(2, 12)) + rng.sample(FREEMAIL, 2)
        u["contacts"] = [f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(1, 99)}@{d}"
                         for d in domains for _ in range(rng.randint(1, 5))]
        rng.shuffle(u["contacts"])
        u["home"] = f"{rng.choice(ISP_NETS)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        u["carrier"] = rng.choice(CARRIERS)
        u["trip"] = rng.randrange(28) if rng.random() < 0.1 else None
        u["hotel"] = f"{rng.randint(150, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return users


def user_ip(rng, u, day, weekend):
    if u["trip"] == day:
        return u["hotel"]
    r = rng.random()
    if not weekend and r < 0.7:
        return OFFICE_IP
    if r < 0.9:
        return u["home"]
    return f"{rng.choice(u['carrier'])}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def recipients(rng, u, users):
    k = rng.choices([1, rng.randint(2, 4), rng.randint(5, 15)], [0.7, 0.22, 0.08])[0]
    out = []
    for _ in range(k):
        if rng.random() < u["internal"]:
            out.append(zipf_pick(rng, u["team"]) if rng.random() < 0.85 else rng.choice(users)["addr"])
        elif rng.random() < 0.03:
            new = f"{rng.choice(FIRST)}{rng.randint(1, 999)}@{rng.choice(FREEMAIL + [f'new{rng.randint(0, 9999)}.example'])}"
            u["contacts"].append(new)
            out.append(new)
        else:
            out.append(zipf_pick(rng, u["contacts"]))
    return sorted(set(out))


def normal_mail(rng, w, users, days, ham):
    for u in users:
        for day in range(days):
            weekend = day % 7 >= 5
            rate = u["rate"] * (0.1 if weekend else 1.0)
            for _ in range(rng.poisson(rate) if hasattr(rng, "poisson") else poisson(rng, rate)):
                hour = rng.uniform(8, 18) if not u["late"] or rng.random() < 0.7 else rng.uniform(18, 24)
                t = START + day * 86400 + int(hour * 3600)
                w.message(t, u, user_ip(rng, u, day, weekend), recipients(rng, u, users), rng.choice(ham), "ham")


def poisson(rng, lam):
    # Knuth's method (rates are small).
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


def bursts(rng, w, users, days, ham):
    everyone = [u["addr"] for u in users]
    comms = users[:3]
    sales = users[3:5]
    events = users[5]
    for i, u in enumerate(comms):
        for week in range(days // 7):
            t = START + (week * 7 + i) * 86400 + 9 * 3600 + rng.randint(0, 3600)
            w.message(t, u, OFFICE_IP, rng.sample(everyone, min(300, len(everyone))), rng.choice(ham), "ham")
    for i, u in enumerate(sales):
        customers = sorted({f"{rng.choice(FIRST)}.{rng.choice(LAST)}@customer{rng.randint(0, 60):02d}.example"
                            for _ in range(80)})
        u["contacts"] += customers[:20]  # some customers are everyday contacts
        for month in range((days + 13) // 28):
            t = START + (month * 28 + 10 + i) * 86400 + 10 * 3600
            w.message(t, u, OFFICE_IP, customers, rng.choice(ham), "ham")
    t = START + 16 * 86400 + 14 * 3600
    guests = rng.sample(everyone, 150) + rng.sample(events["contacts"], min(20, len(events["contacts"]))) + \
        [f"guest{i}@partner{rng.randint(0, 399):03d}.example" for i in range(20)]
    w.message(t, events, OFFICE_IP, sorted(set(guests)), rng.choice(ham), "ham")


def hijacks(rng, w, users, days, spam, count):
    rates = [20, 20, 30, 40, 60, 100, 150, 300, 600, 1200]
    spam_domains = [f"target{i:04d}.example" for i in range(3000)] + FREEMAIL * 200
    truth = []
    candidates = users[6:]
    for k, u in enumerate(rng.sample(candidates, count)):
        rate = rates[k % len(rates)]
        start = START + rng.randint(days // 2, days - 2) * 86400 + rng.randint(0, 86399)
        duration = rng.uniform(6, 24) * 3600
        n = max(1, int(rate * duration / 3600))
        n = min(n, 4000)
        campaign = rng.sample(spam, rng.randint(1, 3))
        fixed_ip = f"{rng.randint(150, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" \
            if rng.random() < 0.5 else None
        reply_to = f"{rng.choice(FIRST)}{rng.randint(1, 999)}@{rng.choice(FREEMAIL)}" if rng.random() < 0.4 else None
        max_rcpt = 1 if rate <= 30 else rng.choice([5, 10, 30])
        t = start
        for i in range(n):
            t = start + int(i * 3600 / rate * rng.uniform(0.5, 1.5))
            ip = fixed_ip or f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            rcpt = sorted({f"{rng.choice(FIRST)}{rng.randint(1, 9999)}@{rng.choice(spam_domains)}"
                           for _ in range(rng.randint(1, max_rcpt))})
            w.message(t, u, ip, rcpt, rng.choice(campaign), "spam", reply_to)
        truth.append({"user": u["addr"], "start": start, "rate_per_hour": rate, "messages": n,
                      "max_recipients": max_rcpt, "ip": "fixed" if fixed_ip else "rotating",
                      "reply_to": reply_to})
    return truth


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--users", type=int, default=250)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--hijacked", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus", help="SpamAssassin corpus directory (default: scripts/fetch-corpus.sh)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    corpus = a.corpus or corpus_dir()
    ham = load_bodies(os.path.join(corpus, "easy-ham-1"))
    spam = load_bodies(os.path.join(corpus, "spam-1"))
    users = make_users(rng, a.users)
    w = Writer(a.out)
    normal_mail(rng, w, users, a.days, ham)
    bursts(rng, w, users, a.days, ham)
    truth = hijacks(rng, w, users, a.days, spam, a.hijacked)
    w.finish()
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump({"seed": a.seed, "users": a.users, "days": a.days, "start": START, "hijacked": truth}, f, indent=1)
    spam_events = sum(1 for e in w.events if e["label"] == "spam")
    print(f"{len(w.events)} events ({spam_events} spam from {len(truth)} hijacked accounts) "
          f"from {a.users} users over {a.days} days -> {a.out}/events.jsonl", file=sys.stderr)


if __name__ == "__main__":
    main()
