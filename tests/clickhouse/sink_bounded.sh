#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The outbox is bounded by local retention (issue 14): with its only ClickHouse shard down,
# flowlogd seals a stream of three hours ago into the outbox (clickhouse-failing, pending rows);
# restarted with `[store] retention = 1h`, retention drops that partition before it could ship:
# clickhouse-outbox-dropped counts it (and its rows), the log says clickhouse-outbox-dropped,
# and the old stream is gone from the outbox afterwards.
#
#   sink_bounded.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/../e2e/lib.sh"
e2e_cleanup() { cleanup; }
command -v clickhouse-server >/dev/null 2>&1 || { echo "clickhouse-server not installed"; exit 77; }
SERVER="$(cd "$(dirname "$0")" && pwd)/server.sh"
mkdir -p "$tmp/ch"
trap '"$SERVER" stop "$tmp/ch" >/dev/null 2>&1 || true; e2e_cleanup' EXIT
"$SERVER" start "$tmp/ch" 1 >/dev/null || fail "ClickHouse did not start"
U1="http://127.0.0.1:$("$SERVER" http "$tmp/ch" 1)/"
"$SERVER" stop "$tmp/ch" # down from the start: nothing can ship

conf() {
    printf '[store]\ncommit_interval = 5s\nretention = %s\n[clickhouse]\nurl = %s\n' "$1" "$U1" \
        >"$tmp/f.conf"
}
wait_for() {
    for _ in $(seq 900); do
        if eval "$2"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited while waiting for $1"
        sleep 0.1
    done
    fail "no $1 within 90 s: $("$flowlog" -s "127.0.0.1:$qport" stats | grep clickhouse | tr '\n' ' ')"
}
s() { stat_of "$1" || echo 0; }

conf 0
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
now=$(date +%s)
# Ten minutes of flows at the start of the hour three hours ago: one partition.
"$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 5000 -r 20000 -s 3 -t $((now / 3600 * 3600 - 3 * 3600 + 60)) \
    >/dev/null ||
    fail "nfsend (old)"
"$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 100 -r 20000 -s 4 -t $((now - 300)) >/dev/null ||
    fail "nfsend (new)"
wait_for "both streams stored" '[ "$(s store-records-stored)" = 5100 ]'
# (The new stream's windows may seal too on a slow machine: 5000 or 5100 rows owed.)
wait_for "the old stream owed" '[ "$(s clickhouse-outbox-rows)" -ge 5000 ] && [ "$(s clickhouse-failing)" = 1 ]'
[ "$(s clickhouse-outbox-dropped)" = 0 ] || fail "dropped before any retention"
stop_flowlogd

conf 1h
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
wait_for "the drop counted" '[ "$(s clickhouse-outbox-dropped-rows)" = 5000 ]'
[ "$(s clickhouse-outbox-dropped)" -ge 1 ] || fail "dropped rows counted without their seals"
wait_for "the old stream gone from the outbox" '[ "$(s clickhouse-outbox-rows)" -le 100 ]'
grep -q 'clickhouse-outbox-dropped' "$tmp/flowlogd.err" "$tmp/flowlogd.out" ||
    fail "no clickhouse-outbox-dropped line in the log"
stop_flowlogd
echo "ok: 5000 unshipped rows dropped by retention, counted and logged"
