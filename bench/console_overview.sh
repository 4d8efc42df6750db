#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/console_overview.sh: the console's 24 h view in headless chromium (issue 13: 5 M flows
# over 24 h, all panels ready in under 1.5 s). flowlogd on 127.0.0.1 gets N records from
# nfsend in 24 bursts, one per hour of the last day; then the console is opened R times and the
# time until every panel is ready is printed. Only 127.0.0.1 is used.
#
#   BUILD=build-rel N=1000000 R=3 bench/console_overview.sh
set -euo pipefail
BUILD=${BUILD:-build-rel}
N=${N:-1000000}
R=${R:-3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowlog-bench-console.XXXXXX")
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
now=$(date +%s)
for h in $(seq 24); do
    "$BUILD/tests/nfsend" -p "$port" -n $((N / 24)) -s "$h" -t $((now - h * 3600)) -r 200000 >/dev/null
done
last=-1
for _ in $(seq 300); do
    sleep 1
    n=$("$BUILD/client/flowlog" -s "127.0.0.1:$qport" -f json query '* | stats count' |
        sed -n 's/.*"count":\([0-9]*\).*/\1/p')
    [ "$n" = "$last" ] && [ "$n" -gt 0 ] && break
    last=$n
done
echo "$n records stored (of $N sent) over 24 h" >&2
CHROMIUM=${CHROMIUM:-/usr/bin/chromium} WEB_DIR="$here/../web" \
    node "$here/console_overview.mjs" "http://127.0.0.1:$wport/" "$R"
