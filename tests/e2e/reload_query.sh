#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.reload_query: SIGHUP applies [query]'s limits live (the next connection gets them) and
# applies [store] retention live too (stor_set_retention; e2e.reload_retention tests its effect).
#
#   reload_query.sh FLOWLOGD NFSEND FLOWLOG
#
# 1. 2000 records stored; with no row limit a query lists all of them.
# 2. SIGHUP with [query] row_limit = 10 and a new [store] retention: the log says
#    "applied store.retention query.row_limit"; a new
#    connection's listing stops at 10 rows with ERR LIMIT.
# 3. SIGHUP with row_limit = 0 again: the listing is whole again.
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"

conf=$tmp/f.conf
write_conf() {
    cat >"$conf" <<EOC
[collector]
data_dir = $tmp/store
log_interval = 0
[store]
commit_interval = 200ms
retention = $2
[query]
listen = 127.0.0.1:0
row_limit = $1
[http]
listen =
EOC
}
# rows: how many records a listing gives on a new connection (and its status line's word).
rows() {
    "$flowlog" -s "127.0.0.1:$qport" query '*' 2>"$tmp/q.err" | wc -l || true
}

write_conf 0 30d
start_conf "$conf" -l udp:127.0.0.1:0
port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
for _ in $(seq 50); do
    qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$qport" ] && break
    sleep 0.1
done
[ -n "$qport" ] || fail "no query port"
"$nfsend" -p "$port" -a 127.0.0.1 -n 2000 -s 41 >/dev/null || fail "nfsend failed"
for _ in $(seq 100); do
    [ "$(rows)" -ge 2000 ] && break
    sleep 0.1
done
n=$(rows)
[ "$n" -ge 2000 ] || fail "without a row limit the listing has $n rows"
echo "ok: $n rows without a limit"

write_conf 10 7d
kill -HUP "$pid"
wait_log "reload: applied store.retention query.row_limit" >/dev/null
n=$(rows)
[ "$n" -le 10 ] || fail "after the reload to row_limit = 10 a listing has $n rows"
grep -q "LIMIT" "$tmp/q.err" || fail "no ERR LIMIT after 10 rows: $(cat "$tmp/q.err")"
echo "ok: row_limit = 10 applied live ($n rows, then $(head -c 80 "$tmp/q.err"))"

write_conf 0 7d
kill -HUP "$pid"
for _ in $(seq 50); do
    [ "$(grep -c "reload: applied .*query.row_limit" "$tmp/flowlogd.err")" -ge 2 ] && break
    sleep 0.1
done
n=$(rows)
[ "$n" -ge 2000 ] || fail "after the reload back to no limit the listing has $n rows"
echo "ok: row_limit = 0 applied live again ($n rows)"
stop_flowlogd
