# Shared by scripts/evaluate-spamassassin.sh and scripts/spamassassin-hits.sh
# (sourced): Debian's SpamAssassin daemon with local tests only, on
# 127.0.0.1, in a private work directory that goes away on exit.
#
#   spamd_setup NAME     installs spamassassin + spamc when missing; sets
#                        $jobs, $work (mode 755: spamd's children run as
#                        nobody), $port, and an exit trap that stops the
#                        daemon and removes $work; NAME prefixes messages
#   spamd_site DIR       a site configuration in DIR: the system's (plugin
#                        loading, Debian's local rules); the caller adds
#                        its own settings as DIR/zz_*.cf
#   start_spamd DIR      starts spamd on $port with DIR's configuration
#   stop_spamd

spamd_setup() {
    SPAMD_NAME=$1
    command -v spamd >/dev/null && command -v spamc >/dev/null || {
        echo "$SPAMD_NAME: installing spamassassin" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin spamc >/dev/null
    }
    jobs=$(nproc 2>/dev/null || echo 2)
    work=$(mktemp -d)
    chmod 755 "$work"
    SPAMD_PID=""
    trap spamd_cleanup EXIT
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}

spamd_cleanup() {
    [ -n "$SPAMD_PID" ] && kill "$SPAMD_PID" 2>/dev/null && wait "$SPAMD_PID" 2>/dev/null
    rm -rf "$work"
}

spamd_site() {
    mkdir -m 755 "$1"
    cp /etc/spamassassin/*.pre /etc/spamassassin/*.cf "$1"/
}

start_spamd() {
    spamd -L -i 127.0.0.1 -p "$port" --siteconfigpath "$1" --nouser-config -u nobody \
        --max-children "$jobs" --min-children "$jobs" >"$work/spamd.log" 2>&1 &
    SPAMD_PID=$!
    for _ in $(seq 1 120); do
        spamc -d 127.0.0.1 -p "$port" -K >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "$SPAMD_NAME: spamd did not start:" >&2
    cat "$work/spamd.log" >&2
    exit 1
}

stop_spamd() {
    kill "$SPAMD_PID" 2>/dev/null || true
    wait "$SPAMD_PID" 2>/dev/null || true
    SPAMD_PID=""
}
