#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.events: operational events in the log, rate-limited per kind (collector/events.c).
#
#   events.sh FLOWLOGD NFSEND
#
# [collector] exporter_rows_max = 3; 14 nfsend runs (each a new source port, so a new
# exporter). Checks: exactly 3 "event: new exporter" lines; the untracked exporters' many
# datagrams give at most COLL_EVENT_BURST (10) "not tracked" lines; after the bucket refills
# (6 s) the next such line says how many were suppressed.
set -euo pipefail
flowlogd=$1 nfsend=$2
. "$(dirname "$0")/lib.sh"

printf '[collector]\nexporter_rows_max = 3\n' >"$tmp/f.conf"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0 -w ""
for s in $(seq 14); do
    "$nfsend" -p "$port" -a 127.0.0.1 -n 300 -r 0 -s "$s" >/dev/null || fail "nfsend $s failed"
done
sleep 0.5
new=$(grep -c "event: new exporter 127.0.0.1:" "$tmp/flowlogd.err" || true)
untracked=$(grep -c "event: exporter 127.0.0.1:.* not tracked" "$tmp/flowlogd.err" || true)
echo "new-exporter lines: $new; not-tracked lines: $untracked"
[ "$new" = 3 ] || fail "$new new-exporter lines for 3 tracked exporters"
[ "$untracked" -ge 1 ] && [ "$untracked" -le 10 ] || fail "$untracked not-tracked lines (want 1..10)"
sleep 6.5
"$nfsend" -p "$port" -a 127.0.0.1 -n 300 -r 0 -s 99 >/dev/null || fail "nfsend 99 failed"
for _ in $(seq 30); do
    grep -q "not tracked.*more of this kind suppressed" "$tmp/flowlogd.err" && break
    sleep 0.1
done
grep -E "not tracked.*\(([0-9]+) more of this kind suppressed\)" "$tmp/flowlogd.err" ||
    fail "no line saying how many were suppressed"
stop_flowlogd
echo "ok: events logged once per exporter and rate-limited per kind"
