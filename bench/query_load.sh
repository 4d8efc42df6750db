#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/query_load.sh: do queries cost ingest? A paced IPFIX stream (bench_ingest, 24 records
# per datagram, addresses from HOSTS hosts per side) into flowlogd while HEAVY clients loop
# over heavy queries (a regex over everything, top 10 by destination, a distinct count by
# port, a timechart) and STALLED clients ask for everything and never read
# (tests/e2e/query_load.py). Prints what was sent, decoded and taken by the store, the
# store's drops, the kernel's drops on the socket and the largest commit latency the store
# reports (store-commit-max-ms, when it has it). HEAVY=0 STALLED=0 is the same run without
# queries, for comparison.
#
#   BUILD=build-rel FLOWS=720000 SECS=25 HOSTS=50000 HEAVY=16 STALLED=4 bench/query_load.sh
#
# Build it in Release. Only 127.0.0.1 is ever sent to.
set -eu

BUILD=${BUILD:-build-rel}
FLOWS=${FLOWS:-720000} # flows per second
SECS=${SECS:-25}
HOSTS=${HOSTS:-50000}
HEAVY=${HEAVY:-16}
STALLED=${STALLED:-4}
K=24
SRC=$(cd "$(dirname "$0")/.." && pwd)
SEND=$BUILD/bench/bench_ingest
FLOWLOGD=$BUILD/collector/flowlogd
FLOWLOG=$BUILD/client/flowlog
STORDUMP=$BUILD/tests/stordump
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-qload.XXXXXX")
PID=
LOAD=

cleanup() {
    for p in $LOAD $PID; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for b in "$SEND" "$FLOWLOGD" "$FLOWLOG" "$STORDUMP"; do
    [ -x "$b" ] || { echo "no $b: build first (cmake --build $BUILD)" >&2; exit 1; }
done

# stat NAME: one STATS value ("-" when the server has no such counter).
stat() {
    "$FLOWLOG" -s "127.0.0.1:$QPORT" stats | awk -v n="$1" '$1 == n { v = $2 } END { print v == "" ? "-" : v }'
}

: >"$TMP/out"
"$FLOWLOGD" -f -d "$TMP/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
PID=$!
PORT= QPORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/out")
    QPORT=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/out")
    [ -n "$PORT" ] && [ -n "$QPORT" ] && break
    sleep 0.1
done
[ -n "$QPORT" ] || { echo "flowlogd did not start: $(cat "$TMP/err")" >&2; exit 1; }

# A little data first, so that the queries have work from the start.
"$SEND" -p "$PORT" -r 2000 -d 2 -H "$HOSTS" -s 7 >/dev/null
[ "$HEAVY$STALLED" = 00 ] || python3 "$SRC/tests/e2e/query_load.py" "$QPORT" $((SECS + 10)) "$HEAVY" "$STALLED" \
    >"$TMP/load" 2>&1 &
LOAD=$!
sleep 2
"$SEND" -p "$PORT" -r $((FLOWS / K)) -d "$SECS" -k "$K" -H "$HOSTS" -s 1 >"$TMP/sent"
wait "$LOAD" || true
LOAD=
# Until the store has taken everything decoded (its queue drained), at most 2 minutes.
t_end=$(($(date +%s) + 120))
while [ "$(date +%s)" -lt "$t_end" ]; do
    decoded=$(stat records)
    in=$(stat store-records-in)
    [ "$in" = "$decoded" ] && break
    sleep 1
done
decoded=$(stat records)
in=$(stat store-records-in)
dropped=$(stat store-records-dropped)
coll_dropped=$(stat records-dropped)
sockdrops=$(stat socket-drops)
maxms=$(stat store-commit-max-ms)
kill -TERM "$PID"
wait "$PID" || true
PID=
sent=$(sed -n 's/^.*flows=\([0-9]*\).*$/\1/p' "$TMP/sent")
stored=$("$STORDUMP" "$TMP/store" | sed -n 's/^.*records=\([0-9]*\).*$/\1/p')
echo "stream:  $(cat "$TMP/sent")"
echo "queries: $(cat "$TMP/load") (heavy $HEAVY, never reading $STALLED)"
echo "sent $sent flows (+ 2 s of preload); decoded $decoded; store-records-in $in;" \
    "rows in the store $stored"
echo "store-records-dropped $dropped records-dropped $coll_dropped socket-drops $sockdrops" \
    "store-commit-max-ms $maxms"
