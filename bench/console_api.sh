#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/console_api.sh: what /api/v1/query adds to the engine's time (issue 13: under 5 %).
# flowlogd on 127.0.0.1 is fed N records by nfsend; each query then runs R times through the
# line protocol (`flowlog -f json query`, output to /dev/null) and R times through HTTP
# (`curl .../api/v1/query?format=ndjson`), alternating; the medians of the wall times and
# their ratio are printed, one line per query. Only 127.0.0.1 is used.
#
#   BUILD=build-rel N=200000 R=7 bench/console_api.sh
set -euo pipefail
BUILD=${BUILD:-build-rel}
N=${N:-200000}
R=${R:-7}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowlog-bench-api.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

mkdir -p "$tmp/store"
: >"$tmp/out"
"$BUILD/collector/flowlogd" -f -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 \
    -w 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
    qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
    wport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$wport" ] && [ -n "$qport" ] && [ -n "$port" ] && break
    sleep 0.1
done
"$BUILD/tests/nfsend" -p "$port" -n "$N" -r 200000 >/dev/null
# The store aggregates equal keys within a window: wait until the count stops moving.
last=-1
for _ in $(seq 120); do
    sleep 1
    n=$("$BUILD/client/flowlog" -s "127.0.0.1:$qport" -f json query '* | stats count' |
        sed -n 's/.*"count":\([0-9]*\).*/\1/p')
    [ "$n" = "$last" ] && [ "$n" -gt 0 ] && break
    last=$n
done
echo "$n records stored (of $N sent)" >&2

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
urlq() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

printf '%-60s %10s %10s %7s\n' query "line (s)" "http (s)" ratio
for q in '* | top 10 dstport by bytes' \
    '* | stats count, sum(bytes) by protocol' \
    '* | fields srcaddr, dstaddr, dstport, bytes' \
    '*'; do
    u="http://127.0.0.1:$wport/api/v1/query?q=$(urlq "$q")&format=ndjson"
    : >"$tmp/line"
    : >"$tmp/http"
    for _ in $(seq "$R"); do
        t0=$(now)
        "$BUILD/client/flowlog" -s "127.0.0.1:$qport" -f json query "$q" >/dev/null
        t1=$(now)
        curl -s -o /dev/null "$u"
        t2=$(now)
        echo "$t1 - $t0" | bc -l >>"$tmp/line"
        echo "$t2 - $t1" | bc -l >>"$tmp/http"
    done
    l=$(median <"$tmp/line")
    h=$(median <"$tmp/http")
    printf '%-60s %10.4f %10.4f %7.3f\n' "$q" "$l" "$h" "$(echo "$h / $l" | bc -l)"
done
