#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.udp_ingest: flowlogd takes IPFIX, NetFlow v9 and NetFlow v5 over UDP and stores every
# record it was sent.
#
#   udp_ingest.sh FLOWLOGD NFSEND STORDUMP
#
# Starts flowlogd in the foreground on 127.0.0.1 with an ephemeral port (it prints
# "listening udp 127.0.0.1:PORT"), sends 3 x 5000 records with nfsend (v10, v9, v5; different
# seeds), waits until flowlogd has read every datagram, stops it with SIGTERM (it must commit
# everything and exit 0 within 5 s) and checks with stordump that the store holds exactly the
# records, packets and bytes sent. nfsend's 5-tuples are unique, so aggregation cannot merge
# rows. Set FLOWLOG_E2E_KEEP=1 to keep the temporary directory.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 FLOWLOGD NFSEND STORDUMP" >&2
    exit 2
fi
flowlogd=$1
nfsend=$2
stordump=$3

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

# The socket's receive queue (bytes, hex) and drop count from /proc/net/udp (Linux), as
# "QUEUE DROPS"; nothing when the port is not found. Ports there are 4 upper-case hex digits.
udp_queue() {
    local hexport
    hexport=$(printf '%04X' "$1")
    awk -v p=":$hexport" '$2 ~ p"$" { split($5, q, ":"); print q[2], $NF; exit }' \
        /proc/net/udp 2>/dev/null || true
}

mkdir "$tmp/store"
"$flowlogd" -f -d "$tmp/store" -l udp:127.0.0.1:0 >"$tmp/flowlogd.out" 2>"$tmp/flowlogd.err" &
pid=$!

port=
for _ in $(seq 50); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/flowlogd.out" |
        head -n 1)
    if [ -n "$port" ]; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
    sleep 0.1
done
[ -n "$port" ] || fail "no 'listening udp 127.0.0.1:PORT' line from flowlogd within 5 s"
echo "flowlogd pid $pid listening on 127.0.0.1:$port"

want_records=0
want_packets=0
want_bytes=0
seed=11
for v in 10 9 5; do
    line=$("$nfsend" -p "$port" -a 127.0.0.1 -v "$v" -n 5000 -r 2000 -s "$seed") ||
        fail "nfsend -v $v failed"
    echo "v$v: $line"
    b=
    read -r r p b < <(echo "$line" |
        sed -n 's/^sent records=\([0-9]*\) packets=\([0-9]*\) bytes=\([0-9]*\) messages=[0-9]*$/\1 \2 \3/p') ||
        true
    [ -n "$b" ] || fail "cannot parse nfsend output: $line"
    want_records=$((want_records + r))
    want_packets=$((want_packets + p))
    want_bytes=$((want_bytes + b))
    seed=$((seed + 1))
done

# Datagrams still queued on the socket when SIGTERM arrives could be lost; wait (up to 5 s)
# until flowlogd has read them all. Without /proc/net/udp, give it a moment instead.
drops=
if [ -r /proc/net/udp ]; then
    queue=0
    for _ in $(seq 50); do
        read -r queue drops < <(udp_queue "$port"; echo) || true
        queue=$((16#${queue:-0}))
        if [ "$queue" = 0 ]; then
            break
        fi
        sleep 0.1
    done
    [ "$queue" = 0 ] || fail "flowlogd left $queue bytes unread on its socket for 5 s"
else
    sleep 1
fi

kill -TERM "$pid"
for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    fail "flowlogd still running 5 s after SIGTERM"
fi
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 0 ] || fail "flowlogd exited with status $status after SIGTERM"

got=$("$stordump" "$tmp/store") || fail "stordump failed"
echo "sent:   records=$want_records packets=$want_packets bytes=$want_bytes"
echo "stored: $got"
if [ -n "${drops:-}" ] && [ "$drops" != 0 ]; then
    echo "note: the kernel dropped $drops datagrams on flowlogd's socket" >&2
fi
case "$got" in
"records=$want_records packets=$want_packets bytes=$want_bytes "*) ;;
*) fail "the store does not hold what was sent" ;;
esac
echo "PASS"
