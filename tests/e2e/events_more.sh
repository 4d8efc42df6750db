#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.events_more: the events other modules detect, in the log (collector/events_src.c), and
# SIGHUP applying [store] retention to a running store (stor_set_retention).
#
#   events_more.sh FLOWLOGD NFSEND FLOWLOG
#
# 1. A template redefined with another layout, and one withdrawn (ipfix_tmpl.py): "event:
#    templates changed" and "event: templates withdrawn".
# 2. [decoder] exporters_max = 2 and 4 sources: "event: exporters evicted".
# 3. [query] slow_ms = 1: a grouping query over 40000 records is logged as a slow query with
#    its text, duration and rows (repeated until one takes 1 ms: never on a loaded machine's
#    first try is not assumed).
# 4. Records 3 hours old and current ones: two partitions, the old one's windows sealed
#    ([store] grace = 0, silent = 1). With retention = 0 nothing is dropped; SIGHUP with
#    retention = 1h drops the old one: "event: store: partition ... dropped ... older than
#    retention" and store-partitions-dropped = 1 in STATS. (The "compacted" notice is
#    checked in unit.stor.backup: when maintenance first looks at a partition here depends
#    on when its windows seal.)
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"
here=$(dirname "$0")

conf=$tmp/f.conf
write_conf() {
    cat >"$conf" <<EOC
[collector]
data_dir = $tmp/store
log_interval = 0
[store]
commit_interval = 100ms
grace = 0
silent = 1
retention = $1
[decoder]
exporters_max = 2
[query]
slow_ms = 1
[http]
listen =
EOC
}
write_conf 0
start_with -c "$conf" -l udp:127.0.0.1:0

# 1. Templates.
python3 "$here/ipfix_tmpl.py" "$port" change
python3 "$here/ipfix_tmpl.py" "$port" withdraw
wait_log "event: templates changed: 1 redefined with another layout" >/dev/null
wait_log "event: templates withdrawn: 1 \(total 1\)" >/dev/null
echo "ok: templates changed and withdrawn are logged"

# 2. Evictions (the 2 exporters above already fill the table).
python3 "$here/ipfix_tmpl.py" "$port" sources 4
line=$(wait_log "event: exporters evicted: [0-9]+ forgotten to make room")
echo "ok: $line"

# 4 (first half). Old records, then current ones.
# Early in an hour 3 hours back, so that the old records share one partition.
old=$(($(date +%s) - 3 * 3600))
old=$((old - old % 3600 + 60))
"$nfsend" -p "$port" -a 127.0.0.1 -n 20000 -r 0 -s 5 -t "$old" >/dev/null || fail "nfsend (old) failed"
"$nfsend" -p "$port" -a 127.0.0.1 -n 20000 -r 0 -s 6 >/dev/null || fail "nfsend (now) failed"

# 3. A slow query.
q() {
    "$flowlog" -s "127.0.0.1:$qport" "$@"
}
for _ in $(seq 30); do
    q query 'last 1d | stats count by srcaddr, dstaddr, dstport' >/dev/null 2>&1 || true
    grep -q "event: slow query: " "$tmp/flowlogd.err" && break
    sleep 0.2
done
line=$(wait_log "event: slow query: [0-9]+ ms, [0-9]+ rows: QUERY last 1d \| stats count by srcaddr")
echo "ok: $line"

# 4. Retention on SIGHUP.
for _ in $(seq 100); do
    [ "$(stat_of store-partitions)" -ge 2 ] && [ "$(stat_of store-open-windows)" -le 1 ] && break
    sleep 0.1
done
[ "$(stat_of store-partitions)" -ge 2 ] || fail "not two partitions: $(stat_of store-partitions)"
sleep 1.5 # maintenance passes (1 s) with retention = 0: nothing goes
[ "$(stat_of store-partitions-dropped)" = 0 ] || fail "a partition was dropped without retention"
write_conf 1h
kill -HUP "$pid"
wait_log "reload: applied store.retention" >/dev/null
for _ in $(seq 300); do
    grep -q "event: store: partition p-[0-9]*\.mdb dropped" "$tmp/flowlogd.err" && break
    sleep 0.1
done
grep -q "event: store: partition p-[0-9]*\.mdb dropped" "$tmp/flowlogd.err" ||
    fail "nothing dropped in 30 s: $("$flowlog" -s "127.0.0.1:$qport" stats | grep -E 'store-(partitions|open-windows|seals|seal-backlog)' | tr '\n' ' ')"
line=$(wait_log "event: store: partition p-[0-9]+\.mdb dropped \([0-9]+ bytes\): older than retention")
[ "$(stat_of store-partitions-dropped)" = 1 ] || fail "store-partitions-dropped = $(stat_of store-partitions-dropped)"
echo "ok: SIGHUP applied retention: $line"
stop_flowlogd
