#!/usr/bin/env bash
# Which of SpamAssassin's rules fire on which training message: a way to
# find header and format signs for the pack on the training groups only.
#
# Runs Debian's SpamAssassin 4 with its local tests and without Bayes
# (spamd -L on 127.0.0.1, as scripts/evaluate-spamassassin.sh does) over
# easy-ham-1 and spam-1, writes one line per message to OUT/GROUP.hits
# ("file<TAB>RULE,RULE,..."), and prints every rule that fires on at most
# MAX_HAM training ham, with its ham and spam counts, most spam first.
# Pack 0.15.0's HEADER_RAW_8BIT, FREEMAIL_FORGED and the Outlook form of
# MSGID_DATE_MISMATCH were found this way (each then written and measured
# as the pack's own rule; SpamAssassin's scores are not used).
#
# Never run it on the held-out groups: choices made from its output must
# come from the training groups alone.
#
#   scripts/spamassassin-hits.sh [OUT_DIR] [MAX_HAM]   # default: a temp dir, 0
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/spamd-common.sh
corpus=$(scripts/fetch-corpus.sh)
out=${1:-$(mktemp -d)}
max_ham=${2:-0}
mkdir -p "$out"

spamd_setup spamassassin-hits
spamd_site "$work/site"
echo "use_bayes 0" >"$work/site/zz_hits.cf"
chmod 644 "$work/site"/*
start_spamd "$work/site"

for group in easy-ham-1 spam-1; do
    echo "spamassassin-hits: $group" >&2
    # spamc -y prints the rules that fired, comma-separated; -s: whole messages.
    find "$corpus/$group" -type f -print0 | sort -z |
        xargs -0 -P "$jobs" -I{} sh -c \
            'printf "%s\t%s\n" "$(basename "$2")" "$(spamc -d 127.0.0.1 -p "$1" -s 16777216 -y <"$2")"' \
            _ "$port" {} >"$out/$group.hits"
done

python3 - "$out" "$max_ham" <<'EOF'
import collections, sys
out, max_ham = sys.argv[1], int(sys.argv[2])
def counts(group):
    c = collections.Counter()
    n = 0
    for line in open(f"{out}/{group}.hits"):
        n += 1
        _, _, rules = line.rstrip("\n").partition("\t")
        c.update(r for r in rules.split(",") if r)
    return c, n
ham, nh = counts("easy-ham-1")
spam, ns = counts("spam-1")
print(f"rule                             ham/{nh}  spam/{ns}")
for rule, s in sorted(spam.items(), key=lambda x: (-x[1], x[0])):
    if ham[rule] <= max_ham:
        print(f"{rule:32} {ham[rule]:8}  {s:9}")
print(f"per-message hits in {out}/easy-ham-1.hits and {out}/spam-1.hits", file=sys.stderr)
EOF
