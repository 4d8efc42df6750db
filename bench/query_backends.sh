#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/query_backends.sh: the same questions on BACKEND local and BACKEND clickhouse over the
# same rows (issue 14, "bench"), in one run.
#
# nfsend sends N deterministic records (seed 7, end times two hours ago, IPFIX over UDP to
# 127.0.0.1 only) to flowlogd; once every window is sealed flowlogd stops, flowlog-chexport
# copies the store into SHARDS private clickhouse-servers (tests/clickhouse/server.sh: free
# loopback ports, a temporary directory), and flowlogd starts again on the store with
# [clickhouse] url set. Each question then runs REPEAT times in a session on each backend
# (bench_query -b); the table has both medians (end to end, as a client sees them), the
# servers' own ms, the row counts (they must agree) and the ratio local / clickhouse
# (> 1: ClickHouse is faster). The backfill's rate is printed too.
#
#   BUILD=build-rel N=1000000 REPEAT=3 SHARDS=1 bench/query_backends.sh
#
# Needs clickhouse-server (apt-get install clickhouse-server), curl and python3.
set -eu

BUILD=${BUILD:-build}
N=${N:-1000000}
REPEAT=${REPEAT:-3}
RATE=${RATE:-10000}
SHARDS=${SHARDS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER=$HERE/../tests/clickhouse/server.sh
NFSEND=$BUILD/tests/nfsend
FLOWLOGD=$BUILD/collector/flowlogd
BQ=$BUILD/bench/bench_query
CHEXPORT=$BUILD/clickhouse/flowlog-chexport
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-backends.XXXXXX")
FPID=

cleanup() {
    [ -z "$FPID" ] || { kill -TERM "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null; } || true
    "$SERVER" stop "$TMP/ch" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for b in "$NFSEND" "$FLOWLOGD" "$BQ" "$CHEXPORT"; do
    [ -x "$b" ] || { echo "no $b: build first (cmake --build $BUILD)" >&2; exit 1; }
done
command -v clickhouse-server >/dev/null || { echo "clickhouse-server missing" >&2; exit 1; }

# listening_port FILE PROTO: the port from a "listening PROTO 127.0.0.1:PORT" line (5 s).
listening_port() {
    i=0
    while [ $i -lt 50 ]; do
        p=$(sed -n "s/^listening $2 127\\.0\\.0\\.1:\\([0-9]*\\)\$/\\1/p" "$1")
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    echo "no 'listening $2' line in $1" >&2
    return 1
}

mkdir -p "$TMP/ch" "$TMP/store"
"$SERVER" start "$TMP/ch" "$SHARDS" >/dev/null
URLS=
for i in $(seq "$SHARDS"); do
    URLS="$URLS http://127.0.0.1:$("$SERVER" http "$TMP/ch" "$i")/"
done
URL1=${URLS# }
URL1=${URL1%% *}

echo "== loading $N records into flowlogd (sealed windows)"
START=$(($(date +%s) - 7200))
"$FLOWLOGD" -f -d "$TMP/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 -w "" >"$TMP/fl.out" \
    2>"$TMP/fl.err" &
FPID=$!
UPORT=$(listening_port "$TMP/fl.out" udp)
QPORT=$(listening_port "$TMP/fl.out" query)
"$NFSEND" -p "$UPORT" -a 127.0.0.1 -n "$N" -r "$RATE" -s 7 -t "$START"
i=0
while [ $i -lt 120 ]; do
    open=$("$BUILD/client/flowlog" -s "127.0.0.1:$QPORT" windows | awk '$4 == "open"' | wc -l)
    [ "$open" = 0 ] && break
    sleep 0.5
    i=$((i + 1))
done
kill -TERM "$FPID"
wait "$FPID" || true
FPID=

echo "== flowlog-chexport into $SHARDS shard(s)"
t0=$(date +%s.%N)
# shellcheck disable=SC2086 # one argument per shard URL
"$CHEXPORT" -d flowlog "$TMP/store" $URLS
t1=$(date +%s.%N)

printf '[clickhouse]\nurl = %s\ndatabase = flowlog\n' "$URL1" >"$TMP/fl.conf"
"$FLOWLOGD" -f -c "$TMP/fl.conf" -d "$TMP/store" -q 127.0.0.1:0 -w "" >"$TMP/fl2.out" \
    2>>"$TMP/fl.err" &
FPID=$!
QPORT=$(listening_port "$TMP/fl2.out" query)
RECS=$("$BUILD/client/flowlog" -s "127.0.0.1:$QPORT" query '* | stats count')
echo "store: $RECS records; backfill $(echo "$RECS / ($t1 - $t0)" | bc -l | cut -d. -f1) rows/s"

field() { echo "$2" | sed -n "s/.*$1=\\([0-9.-]*\\).*/\\1/p"; }
row() { # NAME QUERY [bench_query options]
    name=$1 q=$2
    shift 2
    l=$("$BQ" -p "$QPORT" -b local -n "$REPEAT" "$@" "$q" 2>&1) || true
    c=$("$BQ" -p "$QPORT" -b clickhouse -n "$REPEAT" "$@" "$q" 2>&1) || true
    ls=$(field median_s "$l") cs=$(field median_s "$c")
    if [ -z "$ls" ] || [ -z "$cs" ]; then
        printf '%-28s failed: local %s / clickhouse %s\n' "$name" "$l" "$c"
        return 0
    fi
    printf '%-28s %9.3f %9.3f %8.2fx %9s %9s %8s %8s\n' "$name" "$ls" "$cs" \
        "$(echo "$ls / $cs" | bc -l)" "$(field rows "$l")" "$(field rows "$c")" \
        "$(field server_ms "$l")" "$(field server_ms "$c")"
}

echo
printf '%-28s %9s %9s %9s %9s %9s %8s %8s\n' case local_s ch_s ratio local_rows ch_rows \
    local_ms ch_ms
row "selective address filter" 'srcaddr:10.0.48.0/24'
row "port + protocol filter" 'dstport:443 and protocol:tcp'
row "top 10 dstaddr by bytes" '* | top 10 dstaddr by bytes'
row "top 10 dstport by flows" '* | top 10 dstport by flows'
row "count, bytes by protocol" '* | stats count, sum(bytes) by protocol'
row "sum(bytes)" '* | stats sum(bytes)'
row "top 10 src, dst by bytes" '* | top 10 srcaddr, dstaddr by bytes'
row "timechart 1m by protocol" '* | timechart 1m sum(bytes) by protocol'
row "keyword 3389" '3389'
row "JSON rows, udp in 10.0.0.0/18" 'protocol:udp and srcaddr:10.0.0.0/18' -f json
echo "(ratio = local time / clickhouse time; both end to end through flowlogd's query port;"
echo " *_ms = the server's median OK ... ms; ClickHouse's rows come over HTTP from $SHARDS shard(s))"
