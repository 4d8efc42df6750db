#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Backfill: a known stream (nfsend, exact records/packets/bytes, three hours old so its windows
# are due) into flowlogd's store, flowlogd stopped, the store exported with flowlog-chexport
# into two shards in small batches: the totals through the Distributed table equal what was
# sent and what stordump sums; a second run sends nothing and adds nothing.
#
#   chexport.sh FLOWLOGD NFSEND STORDUMP CHEXPORT
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 chexport=$4
. "$(dirname "$0")/../e2e/lib.sh"
e2e_cleanup() { cleanup; }
command -v clickhouse-server >/dev/null 2>&1 || { echo "clickhouse-server not installed"; exit 77; }
SERVER="$(cd "$(dirname "$0")" && pwd)/server.sh"
mkdir -p "$tmp/ch"
trap '"$SERVER" stop "$tmp/ch" >/dev/null 2>&1 || true; e2e_cleanup' EXIT
"$SERVER" start "$tmp/ch" 2 >/dev/null || fail "ClickHouse did not start"
U1="http://127.0.0.1:$("$SERVER" http "$tmp/ch" 1)/"
U2="http://127.0.0.1:$("$SERVER" http "$tmp/ch" 2)/"
q() { curl -sf "$U1" --data-binary "$1" || fail "query failed: $1"; }

start_flowlogd udp
line=$("$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 20000 -r 5000 -s 7 \
    -t $(( $(date +%s) - 3 * 3600 ))) || fail "nfsend failed"
want=$(totals_of "$line")
sleep 1
stop_flowlogd
check_store "$want"

out=$("$chexport" -b 3000 "$tmp/store" "$U1" "$U2") || fail "chexport: $out"
echo "first run: $out"
case $out in *" skipped=0") ;; *) fail "first run skipped batches: $out" ;; esac
got=$(q "SELECT count(), sum(packets), sum(bytes) FROM flowlog.flows" | tr '\t' ' ')
# The store may hold fewer rows than records (aggregation); ClickHouse must hold the store's.
store=$(totals_of "$("$stordump" "$tmp/store")")
[ "$got" = "$store" ] || fail "ClickHouse holds '$got', the store '$store'"
[ "${got#* }" = "${want#* }" ] || fail "packets and bytes: sent '$want', ClickHouse '$got'"

out=$("$chexport" -b 3000 "$tmp/store" "$U1" "$U2") || fail "second chexport: $out"
echo "second run: $out"
case $out in *" sent=0 "*) ;; *) fail "a rerun sent batches again: $out" ;; esac
again=$(q "SELECT count(), sum(packets), sum(bytes) FROM flowlog.flows" | tr '\t' ' ')
[ "$again" = "$got" ] || fail "a rerun changed the totals: '$got' then '$again'"
echo "ok: $got"
