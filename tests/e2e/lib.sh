# SPDX-License-Identifier: MIT
# Shared by the e2e scripts (sourced): a temporary directory cleaned up on exit, flowlogd
# started on 127.0.0.1 with an ephemeral port and stopped with SIGTERM, nfsend's totals, and
# the store checked with stordump. Set FLOWLOG_E2E_KEEP=1 to keep the temporary directory.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowlog-e2e.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ "${FLOWLOG_E2E_KEEP:-0}" = 1 ]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*" >&2
    for f in out err; do
        if [ -s "$tmp/flowlogd.$f" ]; then
            echo "--- flowlogd std$f:" >&2
            tail -n 40 "$tmp/flowlogd.$f" >&2
        fi
    done
    exit 1
}

# start_flowlogd PROTO [PORT]: start it on 127.0.0.1 (port 0 = any) with the store in
# $tmp/store; sets $pid and $port. Its query server takes any free port too (tests run in
# parallel), printed in $tmp/flowlogd.out.
start_flowlogd() {
    local proto=$1 want=${2:-0}
    mkdir -p "$tmp/store"
    # The file exists before the background shell opens it: a sed below that ran first would
    # fail, and with pipefail and -e that ended the test without a word.
    : >"$tmp/flowlogd.out"
    "$flowlogd" -f -w "" -d "$tmp/store" -l "$proto:127.0.0.1:$want" -q 127.0.0.1:0 \
        >>"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
    pid=$!
    port=
    for _ in $(seq 50); do
        port=$(sed -n "s/^listening $proto 127\\.0\\.0\\.1:\\([0-9][0-9]*\\)\$/\\1/p" \
            "$tmp/flowlogd.out" | head -n 1)
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
        sleep 0.1
    done
    fail "no 'listening $proto 127.0.0.1:PORT' line from flowlogd within 5 s"
}

# start_with ARGS...: start flowlogd -f -d $tmp/store -q 127.0.0.1:0 -w "" ARGS (listeners, -c FILE)
# and wait for its query line, printed after every listener's; sets $pid, $qport and, when
# there are such listeners, $port (the first UDP one) and $tport (the first TCP one).
start_with() {
    mkdir -p "$tmp/store"
    : >"$tmp/flowlogd.out"
    "$flowlogd" -f -d "$tmp/store" -q 127.0.0.1:0 -w "" "$@" \
        >>"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
    pid=$!
    for _ in $(seq 100); do
        qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/flowlogd.out")
        if [ -n "$qport" ]; then
            port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' \
                "$tmp/flowlogd.out" | head -n 1)
            tport=$(sed -n 's/^listening tcp 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' \
                "$tmp/flowlogd.out" | head -n 1)
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
        sleep 0.1
    done
    fail "no 'listening query' line from flowlogd within 10 s"
}

# stat_of NAME [FLOWLOG ARGS...]: one STATS value over the TCP query port ($qport).
stat_of() {
    local n=$1
    shift
    "$flowlog" -s "127.0.0.1:$qport" "$@" stats | awk -v n="$n" '$1 == n { print $2 }'
}

# stop_flowlogd: SIGTERM; it must exit 0 within 5 s.
stop_flowlogd() {
    kill -TERM "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "flowlogd still running 5 s after SIGTERM"
    local status=0
    wait "$pid" || status=$?
    pid=
    [ "$status" = 0 ] || fail "flowlogd exited with status $status"
}

# totals_of LINE: "records packets bytes" from nfsend's or stordump's line.
totals_of() {
    echo "$1" | sed -n 's/^.*records=\([0-9]*\) packets=\([0-9]*\) bytes=\([0-9]*\).*$/\1 \2 \3/p'
}

# check_store "R P B": the store holds exactly these records, packets and bytes.
check_store() {
    local got
    got=$("$stordump" "$tmp/store") || fail "stordump failed"
    [ "$(totals_of "$got")" = "$1" ] || fail "sent $1 (records packets bytes), store has: $got"
    echo "ok: store holds $1 (records packets bytes)"
}
