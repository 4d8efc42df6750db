#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/clickhouse_live.sh: the live sink's catch-up after an outage (issue 14), against
# flowlog-chexport shipping the same backlog as the peer in the same run.
#
# The shards are down while flowlogd (with [clickhouse] url lines) stores N records (nfsend,
# three hours old, so every window seals at once): the outbox holds the whole backlog. Then,
# REPEAT times, from a copy of that store and with empty shards:
#   live  flowlogd restarted on the store: time until its outbox is empty (STATS polled every
#         0.1 s: clickhouse-outbox-windows 0), every row in ClickHouse
#   peer  flowlog-chexport of the same store into emptied shards (same batches, same checks)
# Prints medians, rows/s and live/peer as a ratio. 127.0.0.1 only.
#
#   BUILD=build-rel N=500000 SHARDS=2 BATCH=100000 REPEAT=3 bench/clickhouse_live.sh
set -eu
BUILD=${BUILD:-build-rel}
N=${N:-500000}
SHARDS=${SHARDS:-2}
BATCH=${BATCH:-100000}
REPEAT=${REPEAT:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER=$HERE/../tests/clickhouse/server.sh
T=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    "$SERVER" stop "$T/ch" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
stat() { "$BUILD/client/flowlog" -s "127.0.0.1:$qport" stats | awk -v n="$1" '$1 == n { print $2 }'; }
start() { # start flowlogd on $T/store; sets pid, port, qport
    : >"$T/out"
    "$BUILD/collector/flowlogd" -f -d "$T/store" -c "$T/f.conf" -l udp:127.0.0.1:0 \
        -q 127.0.0.1:0 -w "" >"$T/out" 2>"$T/err" &
    pid=$!
    qport=
    while [ -z "$qport" ]; do
        sleep 0.1
        qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
    done
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }
drop() { for u in $urls; do curl -sf "$u" --data-binary "DROP DATABASE IF EXISTS flowlog"; done; }

mkdir -p "$T/ch"
"$SERVER" start "$T/ch" "$SHARDS" >/dev/null
urls=$(awk '{ printf "http://127.0.0.1:%s/ ", $2 }' "$T/ch/ports")
"$SERVER" stop "$T/ch" >/dev/null
{ printf '[store]\ncommit_interval = 5s\n[clickhouse]\nbatch_rows = %s\n' "$BATCH"
  for u in $urls; do echo "url = $u"; done; } >"$T/f.conf"
start
"$BUILD/tests/nfsend" -p "$port" -a 127.0.0.1 -v 10 -n "$N" -r 20000 -s 3 \
    -t $(($(date +%s) - 3 * 3600)) >/dev/null
while [ "$(stat store-records-stored)" != "$N" ] || [ "$(stat clickhouse-outbox-windows)" = 0 ]; do
    sleep 0.2
done
stop
cp -a "$T/store" "$T/backlog"
rows=$("$BUILD/tests/stordump" "$T/store" | sed 's/.*records=\([0-9]*\).*/\1/')
echo "backlog: $rows rows in the outbox; $SHARDS shards, batches of $BATCH rows"

: >"$T/live"; : >"$T/peer"
i=0
while [ $i -lt "$REPEAT" ]; do
    for s in $(seq "$SHARDS"); do "$SERVER" restart "$T/ch" "$s" >/dev/null; done
    drop
    rm -rf "$T/store"; cp -a "$T/backlog" "$T/store"
    t0=$(now_ms)
    start
    while [ "$(stat clickhouse-outbox-shipped)" = 0 ] || [ "$(stat clickhouse-outbox-windows)" != 0 ]; do
        sleep 0.1
    done
    t1=$(now_ms)
    stop
    got=$(curl -sf "$(echo "$urls" | cut -d' ' -f1)" --data-binary "SELECT count() FROM flowlog.flows")
    [ "$got" = "$rows" ] || { echo "live: ClickHouse holds $got rows, want $rows" >&2; exit 1; }
    drop
    t2=$(now_ms)
    # shellcheck disable=SC2086
    "$BUILD/clickhouse/flowlog-chexport" -b "$BATCH" "$T/store" $urls >/dev/null
    t3=$(now_ms)
    echo $((t1 - t0)) >>"$T/live"
    echo $((t3 - t2)) >>"$T/peer"
    "$SERVER" stop "$T/ch" >/dev/null
    i=$((i + 1))
done
l=$(median <"$T/live")
p=$(median <"$T/peer")
printf 'live sink catch-up  %6d ms  %9d rows/s  (flowlogd start included)\n' "$l" \
    $((rows * 1000 / (l > 0 ? l : 1)))
printf 'peer chexport       %6d ms  %9d rows/s\n' "$p" $((rows * 1000 / (p > 0 ? p : 1)))
awk -v l="$l" -v p="$p" 'BEGIN { printf "live / peer time: %.2f\n", l / (p > 0 ? p : 1) }'
