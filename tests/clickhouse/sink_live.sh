#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The live sink, exactly once across an outage and a crash (issue 14): flowlogd with two
# [clickhouse] shards takes a known stream A (nfsend: exact records, packets, bytes) and ships
# it; shard 2 is stopped; stream B arrives and is sealed (shard 1 takes its part, shard 2
# fails and the outbox keeps B); flowlogd is killed with SIGKILL; shard 2 and flowlogd start
# again, and the outbox drains. ClickHouse's `flows` then holds exactly the store's rows and
# the packets and bytes sent: nothing lost, nothing twice (what shard 1 already had of B is
# skipped by its batch id, counted in clickhouse-batches-skipped, when it had any).
#
#   sink_live.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/../e2e/lib.sh"
e2e_cleanup() { cleanup; }
command -v clickhouse-server >/dev/null 2>&1 || { echo "clickhouse-server not installed"; exit 77; }
SERVER="$(cd "$(dirname "$0")" && pwd)/server.sh"
mkdir -p "$tmp/ch"
trap '"$SERVER" stop "$tmp/ch" >/dev/null 2>&1 || true; e2e_cleanup' EXIT
"$SERVER" start "$tmp/ch" 2 >/dev/null || fail "ClickHouse did not start"
U1="http://127.0.0.1:$("$SERVER" http "$tmp/ch" 1)/"
U2="http://127.0.0.1:$("$SERVER" http "$tmp/ch" 2)/"
q() { curl -sf "$1" --data-binary "$2" || fail "query failed: $2"; }

# One commit takes a whole stream (sent in well under 5 s), so its windows seal once, whole.
cat >"$tmp/f.conf" <<CONF
[store]
commit_interval = 5s
[clickhouse]
url = $U1
url = $U2
batch_rows = 3000
CONF

# wait_for WHAT CONDITION: poll (up to 90 s) until the shell condition holds.
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

start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
now=$(date +%s)
a=$(totals_of "$("$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 20000 -r 20000 -s 7 \
    -t $((now - 3 * 3600)))") || fail "nfsend A"
wait_for "stream A stored" '[ "$(s store-records-stored)" = 20000 ]'
wait_for "stream A shipped" '[ "$(s clickhouse-outbox-shipped)" -ge 1 ] && [ "$(s clickhouse-outbox-windows)" = 0 ]'
got=$(q "$U1" "SELECT count(), sum(packets), sum(bytes) FROM flowlog.flows" | tr '\t' ' ')
[ "$got" = "$a" ] || fail "after A: ClickHouse holds '$got', sent '$a'"
echo "stream A shipped: $got"
heldA=$(q "$U1" "SELECT count() FROM flowlog.flows_local")

"$SERVER" stop "$tmp/ch" 2
b=$(totals_of "$("$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 20000 -r 20000 -s 8 \
    -t $((now - 5 * 3600)))") || fail "nfsend B"
wait_for "stream B stored" '[ "$(s store-records-stored)" = 40000 ]'
wait_for "a failure on shard 2" '[ "$(s clickhouse-failing)" = 1 ] && [ "$(s clickhouse-outbox-windows)" -ge 1 ]'
held1=$(q "$U1" "SELECT count() FROM flowlog.flows_local")
echo "shard 2 down: outbox $(s clickhouse-outbox-windows) item(s), $(s clickhouse-outbox-rows) rows; shard 1 holds $held1 rows"
# Which shard's batch fills first decides whether shard 1 took part of B before shard 2
# failed; when it did, the restart must find those batches and skip them.

kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
"$SERVER" restart "$tmp/ch" 2 || fail "restart of shard 2"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
wait_for "the outbox drained" '[ "$(s clickhouse-outbox-shipped)" -ge 1 ] && [ "$(s clickhouse-outbox-windows)" = 0 ] && [ "$(s clickhouse-failing)" = 0 ]'
skipped=$(s clickhouse-batches-skipped)
echo "after the restart: $(s clickhouse-batches-shipped) batches sent, $skipped skipped"
if [ "$held1" -gt "$heldA" ]; then
    [ "$skipped" -ge 1 ] || fail "shard 1 had part of B but no batch was skipped"
fi
stop_flowlogd

want_p=$(( $(echo "$a" | cut -d' ' -f2) + $(echo "$b" | cut -d' ' -f2) ))
want_b=$(( $(echo "$a" | cut -d' ' -f3) + $(echo "$b" | cut -d' ' -f3) ))
store=$(totals_of "$("$stordump" "$tmp/store")")
got=$(q "$U1" "SELECT count(), sum(packets), sum(bytes) FROM flowlog.flows" | tr '\t' ' ')
[ "$got" = "$store" ] || fail "ClickHouse holds '$got', the store '$store' (rows packets bytes)"
[ "$got" = "$(echo "$store" | cut -d' ' -f1) $want_p $want_b" ] ||
    fail "packets and bytes: sent $want_p $want_b, ClickHouse '$got'"
for u in "$U1" "$U2"; do
    n=$(q "$u" "SELECT count() FROM flowlog.flows_local")
    [ "$n" -gt 0 ] || fail "$u holds no rows"
done
echo "ok: $got"
