#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/clickhouse.sh: the ClickHouse sink's insert rate and the catch-up time after an outage
# (issue 14), against ClickHouse's own server-side copy as the peer in the same run.
#
# flowlogd stores N records (nfsend, IPFIX, three hours old so every window is due); it is
# stopped and the store is a backlog, what an outage leaves. Then, REPEAT times, on fresh
# private servers (tests/clickhouse/server.sh, 127.0.0.1 only), with SHARDS shards:
#   catch-up  flowlog-chexport of the whole backlog (read the store, RowBinary, HTTP inserts
#             of BATCH rows into flows_local, with the batch_id check; the hourly rollup's
#             materialized view runs on every insert, as in production)
#   recheck   the same command again: every batch found in place, nothing sent
#   peer      INSERT INTO flows_local SELECT * FROM flows_local on one shard: ClickHouse
#             copying the same rows server-side, no client, no network, no encoding
# Prints medians and rates (rows/s) and catch-up/peer as a ratio.
#
#   BUILD=build-rel N=1000000 SHARDS=2 BATCH=100000 REPEAT=3 bench/clickhouse.sh
set -eu
BUILD=${BUILD:-build-rel}
N=${N:-1000000}
SHARDS=${SHARDS:-2}
BATCH=${BATCH:-100000}
REPEAT=${REPEAT:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER=$HERE/../tests/clickhouse/server.sh
T=$(mktemp -d)
pid=
cleanup() {
    "$SERVER" stop "$T/ch" >/dev/null 2>&1 || true
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

mkdir -p "$T/store" "$T/ch"
"$BUILD/collector/flowlogd" -f -d "$T/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 -w "" \
    >"$T/out" 2>"$T/err" &
pid=$!
port=
while [ -z "$port" ]; do
    sleep 0.1
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
done
"$BUILD/tests/nfsend" -p "$port" -a 127.0.0.1 -v 10 -n "$N" -r 20000 -s 3 \
    -t $(($(date +%s) - 3 * 3600)) >"$T/sent"
sleep 2
kill "$pid"
wait "$pid" || true
pid=
stored=$("$BUILD/tests/stordump" "$T/store" | sed 's/.*records=\([0-9]*\).*/\1/')
echo "backlog: $stored rows stored of $N sent; $SHARDS shards, batches of $BATCH rows"

: >"$T/catch"; : >"$T/recheck"; : >"$T/peer"
i=0
while [ $i -lt "$REPEAT" ]; do
    rm -rf "$T/ch"
    mkdir -p "$T/ch"
    "$SERVER" start "$T/ch" "$SHARDS" >/dev/null
    urls=$(awk '{ printf "http://127.0.0.1:%s/ ", $2 }' "$T/ch/ports")
    t0=$(now_ms)
    # shellcheck disable=SC2086
    "$BUILD/clickhouse/flowlog-chexport" -b "$BATCH" "$T/store" $urls >/dev/null
    t1=$(now_ms)
    # shellcheck disable=SC2086
    "$BUILD/clickhouse/flowlog-chexport" -b "$BATCH" "$T/store" $urls >/dev/null
    t2=$(now_ms)
    u1=$(echo "$urls" | cut -d' ' -f1)
    rows1=$(curl -sf "$u1" --data-binary "SELECT count() FROM flowlog.flows_local")
    t3=$(now_ms)
    curl -sf "$u1" --data-binary "INSERT INTO flowlog.flows_local SELECT * FROM flowlog.flows_local" >/dev/null
    t4=$(now_ms)
    echo $((t1 - t0)) >>"$T/catch"
    echo $((t2 - t1)) >>"$T/recheck"
    echo "$rows1 $((t4 - t3))" | awk '{ printf "%d\n", $2 * '"$stored"' / ($1 > 0 ? $1 : 1) }' \
        >>"$T/peer"
    "$SERVER" stop "$T/ch"
    i=$((i + 1))
done
c=$(median <"$T/catch")
r=$(median <"$T/recheck")
p=$(median <"$T/peer")
printf 'catch-up  %6d ms  %9d rows/s\n' "$c" $((stored * 1000 / (c > 0 ? c : 1)))
printf 'recheck   %6d ms  (nothing sent)\n' "$r"
printf 'peer      %6d ms  %9d rows/s  (server-side copy, scaled to the backlog)\n' "$p" \
    $((stored * 1000 / (p > 0 ? p : 1)))
awk -v c="$c" -v p="$p" 'BEGIN { printf "catch-up / peer time: %.2f\n", c / (p > 0 ? p : 1) }'
