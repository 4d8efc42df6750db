#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/storage.sh: the storage benchmark beside nfcapd (issue 3, "Speed and size").
#
# 1. bench_storage: appends/s, seal s per million records, flowlog bytes per record
#    (median of RUNS runs, fresh store each).
# 2. The same records as IPFIX over UDP to nfcapd on 127.0.0.1, once uncompressed and once
#    with LZ4 (nfdump 1.7: -y); nfcapd's file size per flow. A run whose file does not hold
#    all N flows (receive loss) is repeated at half the send rate.
#
#   BUILD=build-bench N=2000000 RUNS=3 RATE=20000 PORT=29555 bench/storage.sh [bench args]
#
# Extra arguments go to the storage runs (e.g. `-m raw`, `-c hold`). Needs nfcapd and nfdump
# (Debian: apt-get install nfdump). Only 127.0.0.1 is ever sent to.
set -eu

BUILD=${BUILD:-build}
BIN=$BUILD/bench/bench_storage
N=${N:-2000000}
RUNS=${RUNS:-3}
RATE=${RATE:-20000}
PORT=${PORT:-$((20000 + $$ % 20000))}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-storage-sh.XXXXXX")
NFPID=

cleanup() {
    if [ -n "$NFPID" ]; then
        kill -TERM "$NFPID" 2>/dev/null || true
        wait "$NFPID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

[ -x "$BIN" ] || { echo "no $BIN: build first (cmake --build $BUILD --target bench_storage)" >&2; exit 1; }
command -v nfcapd >/dev/null && command -v nfdump >/dev/null ||
    { echo "nfcapd/nfdump missing: apt-get install nfdump" >&2; exit 1; }

echo "== flowlog storage: $N records, $RUNS runs"
"$BIN" -n "$N" -r "$RUNS" "$@" | tee "$TMP/stor.txt"
RES=$(grep '^RESULT' "$TMP/stor.txt")
field() { echo "$RES" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
APPENDS=$(field appends_per_s)
SEAL=$(field seal_s_per_M)
FLB=$(field bytes_per_rec_disk)
[ "$(field complete)" = yes ] || { echo "storage run incomplete (records lost)" >&2; exit 1; }

# nfc_run NAME FLAGS: prints bytes per flow of nfcapd's files for the N records.
nfc_run() {
    rate=$RATE
    for attempt in 1 2 3 4 5; do
        d="$TMP/nfcapd-$1-$attempt"
        mkdir "$d"
        # shellcheck disable=SC2086
        nfcapd -w "$d" -p "$PORT" -b 127.0.0.1 -B 8388608 -t 3600 $2 >"$d.log" 2>&1 &
        NFPID=$!
        i=0
        until grep -q 'Startup' "$d.log" 2>/dev/null || [ $i -ge 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        "$BIN" -u "$PORT" -p "$rate" -n "$N" >&2
        sleep 1
        kill -TERM "$NFPID"
        wait "$NFPID" || true
        NFPID=
        flows=0
        bytes=0
        for f in "$d"/nfcapd.2*; do
            [ -f "$f" ] || continue
            flows=$((flows + $(nfdump -I -r "$f" | sed -n 's/^Flows: //p')))
            bytes=$((bytes + $(stat -c %s "$f")))
        done
        echo "nfcapd $1 attempt $attempt at $rate msg/s: $flows flows, $bytes bytes" >&2
        if [ "$flows" -eq "$N" ]; then
            echo "$bytes $N" | awk '{ printf "%.2f", $1 / $2 }'
            return 0
        fi
        rate=$((rate / 2))
    done
    echo "nfcapd $1: could not store all $N flows" >&2
    return 1
}

echo "== nfcapd $(nfcapd -V 2>&1 | sed -n 's/.*Version: //p'), port $PORT"
NONE=$(nfc_run none "")
LZ4=$(nfc_run lz4 "-y")

echo
printf '%-12s %14s %12s %14s %14s %14s %10s\n' records appends/s seal-s/M flowlog-B/rec \
    nfcapd-B/flow nfcapd-lz4-B/f lz4/flowlog
printf '%-12s %14s %12s %14s %14s %14s %10s\n' "$N" "$APPENDS" "$SEAL" "$FLB" "$NONE" "$LZ4" \
    "$(echo "$LZ4 $FLB" | awk '{ printf "%.2f", $1 / $2 }')"
