#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.query_load: queries never cost ingest. A paced IPFIX stream while 16 clients loop over
# heavy queries (tests/e2e/query_load.py: a regex over everything, top 10 by destination, a
# distinct count by port, a timechart) and 4 clients ask for everything and never read. Every
# record must be stored: zero store-records-dropped and records-dropped, exact totals. The
# rate is low enough for sanitizer builds; bench/query_load.sh is the full-rate measurement.
#
#   query_load.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
#   environment: FLOWLOG_LOAD_S (seconds of load, default 20), FLOWLOG_LOAD_RATE (messages/s
#                of about 20 records, default 100)
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
secs=${FLOWLOG_LOAD_S:-20}
rate=${FLOWLOG_LOAD_RATE:-100}

start_with -l udp:127.0.0.1:0
# Data for the queries to chew on.
"$nfsend" -p "$port" -a 127.0.0.1 -b 127.0.0.4 -n 20000 -r 0 -s 3 >"$tmp/pre" ||
    fail "nfsend (preload) failed"
python3 "$(dirname "$0")/query_load.py" "$qport" "$secs" 16 4 >"$tmp/load" 2>&1 &
load=$!
sleep 1
n=$(( rate * 20 * (secs - 4) )) # records: about 20 per message
"$nfsend" -p "$port" -a 127.0.0.1 -b 127.0.0.2 -n "$n" -r "$rate" -s 4 >"$tmp/stream" ||
    fail "nfsend (stream) failed"
wait "$load" || fail "query load helper: $(cat "$tmp/load")"
kill -0 "$pid" 2>/dev/null || fail "flowlogd died under the query load"
sleep 1
"$flowlog" -s "127.0.0.1:$qport" stats >"$tmp/stats" || fail "STATS after the load"
val() { awk -v n="$1" '$1 == n { print $2 }' "$tmp/stats"; }
echo "query load: $(cat "$tmp/load"); stream: $(cat "$tmp/stream")"
echo "store-records-dropped $(val store-records-dropped) records-dropped $(val records-dropped)" \
    "socket-drops $(val socket-drops) store-commit-max-ms $(val store-commit-max-ms)"
[ "$(val store-records-dropped)" = 0 ] || fail "store-records-dropped $(val store-records-dropped)"
[ "$(val records-dropped)" = 0 ] || fail "records-dropped $(val records-dropped)"
grep -q '^answers=[1-9]' "$tmp/load" || fail "no query was answered: $(cat "$tmp/load")"
stop_flowlogd
got=$("$stordump" -e 127.0.0.2 "$tmp/store") || fail "stordump failed"
want=$(totals_of "$(cat "$tmp/stream")")
[ "$(totals_of "$got")" = "$want" ] || fail "stream: sent $want, stored: $got"
echo "ok: every record of the stream stored under the query load ($want records packets bytes)"
