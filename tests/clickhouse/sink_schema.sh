#!/bin/sh
# SPDX-License-Identifier: MIT
# The schema from an empty server: every table created and version 1 recorded once; a second
# run finds version 1 and changes nothing; a server with a newer version is refused; retention
# drops whole day partitions of flows_local and flows_hourly.
set -eu
ITEST=$1
. "$(dirname "$0")/lib.sh"

"$SERVER" start "$T" 1 >/dev/null || fail "server did not start"
U=$(url 1)
[ "$(q 1 "SELECT count() FROM system.databases WHERE name = 'fl_t'")" = 0 ] || fail "not empty"
out=$("$ITEST" schema fl_t "$U") || fail "schema: $out"
[ "$out" = "from 0" ] || fail "first run: $out"
tables=$(q 1 "SELECT name FROM system.tables WHERE database = 'fl_t' ORDER BY name" | tr '\n' ' ')
[ "$tables" = "flows flows_hourly flows_hourly_mv flows_local schema_version " ] ||
    fail "tables: $tables"
engine=$(q 1 "SELECT engine FROM system.tables WHERE database = 'fl_t' AND name = 'flows'")
[ "$engine" = Distributed ] || fail "flows is $engine"
out=$("$ITEST" schema fl_t "$U") || fail "second run: $out"
[ "$out" = "from 1" ] || fail "second run: $out"
[ "$(q 1 "SELECT count(), max(version) FROM fl_t.schema_version" | tr '\t' ' ')" = "1 1" ] ||
    fail "version rows"
# The columns are the contract's (chquery reads them by name).
cols=$(q 1 "SELECT count() FROM system.columns WHERE database = 'fl_t' AND table = 'flows_local'")
[ "$cols" = 33 ] || fail "flows_local has $cols columns"

# Retention: three days of data; keeping 1 day before "now" (day 2) drops day 0 only.
"$ITEST" ship fl_t 0 2 0 "$U" >/dev/null || fail "ship"
[ "$(q 1 "SELECT uniqExact(date) FROM fl_t.flows_local")" = 3 ] || fail "three days"
out=$("$ITEST" retention fl_t 1 "$U") || fail "retention: $out"
[ "$out" = "dropped 2" ] || fail "retention: $out"
want=$("$ITEST" totals 1 2)
got=$(q 1 "SELECT count(), sum(packets), sum(bytes) FROM fl_t.flows_local" | tr '\t' ' ')
[ "$got" = "$want" ] || fail "after retention: got '$got', want '$want'"
[ "$(q 1 "SELECT sum(records) FROM fl_t.flows_hourly")" = "${want%% *}" ] || fail "hourly"

# A newer schema than this build knows is refused, not downgraded.
q 1 "INSERT INTO fl_t.schema_version VALUES (2, now())" >/dev/null
if out=$("$ITEST" schema fl_t "$U"); then
    fail "a newer schema was accepted: $out"
fi
echo "$out" | grep -q newer || fail "wrong error: $out"
echo ok
