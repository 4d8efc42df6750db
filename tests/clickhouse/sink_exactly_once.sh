#!/bin/sh
# SPDX-License-Identifier: MIT
# Exactly once into two shards across an outage: a known stream of 10 batches, shard 2
# stopped after batch 4 (batches 5..9 fail there and succeed on shard 1), shard 2 restarted,
# then every batch resent with maybe_sent, as a restarted flowlogd does for what its outbox
# lists. The totals read through the Distributed table equal the stream's; no row twice.
set -eu
ITEST=$1
. "$(dirname "$0")/lib.sh"

"$SERVER" start "$T" 2 >/dev/null || fail "servers did not start"
U1=$(url 1)
U2=$(url 2)
"$ITEST" schema flowlog "$U1" "$U2" >/dev/null || fail "schema"

out=$("$ITEST" ship flowlog 0 4 0 "$U1" "$U2") || fail "first batches: $out"
"$SERVER" stop "$T" 2
if out=$("$ITEST" ship flowlog 5 9 0 "$U1" "$U2"); then
    fail "shipping to a stopped shard succeeded: $out"
fi
echo "$out" | grep -q '^failed 5 2 ' || fail "no failure reported for shard 2: $out"
echo "$out" | grep -q '^failed [0-9]* 1 ' && fail "shard 1 failed while up: $out"
"$SERVER" restart "$T" 2 || fail "restart of shard 2"

# Catch-up after a restart: everything resent, only what is missing goes in.
out=$("$ITEST" ship flowlog 0 9 1 "$U1" "$U2") || fail "catch-up: $out"
[ "$out" = "sent 5 skipped 15" ] || fail "catch-up sent the wrong batches: $out"
out=$("$ITEST" ship flowlog 0 9 1 "$U1" "$U2") || fail "second catch-up: $out"
[ "$out" = "sent 0 skipped 20" ] || fail "a resend inserted again: $out"

want=$("$ITEST" totals 0 9)
got=$(q 1 "SELECT count(), sum(packets), sum(bytes) FROM flowlog.flows" | tr '\t' ' ')
[ "$got" = "$want" ] || fail "totals: got '$got', sent '$want'"
dup=$(q 1 "SELECT count() - uniqExact(batch_id, srcaddr) FROM flowlog.flows")
[ "$dup" = 0 ] || fail "$dup duplicate rows"
for s in 1 2; do
    n=$(q $s "SELECT count() FROM flowlog.flows_local")
    [ "$n" -gt 0 ] || fail "shard $s holds no rows"
done
# The hourly rollup saw every row once, on both shards.
h=$(q 1 "SELECT sum(records), sum(packets) FROM remote('127.0.0.1:$(awk '$1 == 1 { print $3 }' "$T/ports")', flowlog.flows_hourly)" | tr '\t' ' ')
h2=$(q 2 "SELECT sum(records), sum(packets) FROM flowlog.flows_hourly" | tr '\t' ' ')
total=$(( ${h%% *} + ${h2%% *} ))
[ "$total" = "${want%% *}" ] || fail "hourly records $total, sent ${want%% *}"
echo "ok: $want"
