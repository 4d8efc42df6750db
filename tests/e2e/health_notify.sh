#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.health_notify: flowlogd as a Type=notify service, and its HEALTH verb.
#
#   health_notify.sh FLOWLOGD NFSEND FLOWLOG
#
# 1. A unix datagram socket as $NOTIFY_SOCKET and WATCHDOG_USEC=400000: READY=1 arrives after
#    the listening lines, WATCHDOG=1 at least twice, STOPPING=1 at SIGTERM.
# 2. HEALTH says OK on a fresh store, then not-OK naming "commits" once commits fail (a store
#    map of 1 MiB that cannot grow, as in e2e.store_full).
# 3. [health] disk_free_min = 100: not-OK naming "disk" (no file system is 100 % free), in
#    HEALTH, `flowlog health` and GET /api/v1/health (503).
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

# health: the HEALTH answer over the query port ($qport), rows "check state detail".
health() {
    local out
    exec 3<>"/dev/tcp/127.0.0.1/$qport"
    printf 'HEALTH\nQUIT\n' >&3
    out=$(timeout 10 cat <&3) || true
    exec 3>&-
    echo "$out"
}

"$here/notify_listen.py" "$tmp/notify.sock" "$tmp/notify.log" 60 &
npid=$!
for _ in $(seq 50); do
    grep -q '^bound$' "$tmp/notify.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '^bound$' "$tmp/notify.log" || fail "the notify socket was not bound"

printf '[store]\nmap_max = 1M\n' >"$tmp/f.conf"
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=400000 start_with -c "$tmp/f.conf" \
    -l udp:127.0.0.1:0 -w ""
for _ in $(seq 50); do
    [ "$(grep -c '^WATCHDOG=1$' "$tmp/notify.log")" -ge 2 ] && break
    sleep 0.1
done
grep -q '^READY=1|STATUS=ingesting: 1 listeners' "$tmp/notify.log" || fail "no READY=1: $(head -5 "$tmp/notify.log")"
[ "$(grep -c '^WATCHDOG=1$' "$tmp/notify.log")" -ge 2 ] || fail "WATCHDOG=1 did not come every 200 ms"
echo "ok: READY=1 and WATCHDOG=1 ($(grep -c '^WATCHDOG=1$' "$tmp/notify.log") so far)"

h=$(health)
echo "$h"
echo "$h" | grep -q '^health OK ' || fail "HEALTH is not OK on a fresh store"
echo "$h" | grep -q '^commits OK ' || fail "no commits row"

"$nfsend" -p "$port" -n 100000 -r 0 -s 3 >/dev/null || fail "nfsend failed"
for _ in $(seq 200); do
    health | grep -q '^health not-OK commits' && break
    sleep 0.1
done
h=$(health)
echo "$h"
echo "$h" | grep -q '^health not-OK commits' || fail "HEALTH did not turn not-OK while commits fail"
echo "$h" | grep -q '^commits not-OK failing=' || fail "the commits row does not say why"
echo "ok: HEALTH not-OK, naming the failing commits"

kill -TERM "$pid"
status=0
wait "$pid" || status=$? # 1: the final commit fails too (the store is full)
pid=
for _ in $(seq 50); do
    grep -q '^STOPPING=1' "$tmp/notify.log" && break
    sleep 0.1
done
grep -q '^STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1 at SIGTERM"
kill "$npid" 2>/dev/null || true
wait "$npid" 2>/dev/null || true
echo "ok: STOPPING=1 (flowlogd exited $status)"

rm -rf "$tmp/store"
printf '[health]\ndisk_free_min = 100\nexporter_silent = 0\n' >"$tmp/d.conf"
start_with -c "$tmp/d.conf" -w 127.0.0.1:0
hport=
for _ in $(seq 50); do
    hport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$hport" ] && break
    sleep 0.1
done
[ -n "$hport" ] || fail "no 'listening http' line"
h=$(health)
echo "$h"
echo "$h" | grep -q '^health not-OK disk$' || fail "disk_free_min = 100 did not make HEALTH not-OK"
echo "$h" | grep -q '^exporters OK not-checked$' || fail "exporter_silent = 0 still checked"
cli=$("$flowlog" -s "127.0.0.1:$qport" health) || fail "flowlog health failed"
echo "$cli"
echo "$cli" | grep -q 'not-OK' || fail "flowlog health does not show not-OK"
code=$(curl -s -o "$tmp/health.json" -w '%{http_code}' "http://127.0.0.1:$hport/api/v1/health") || true
cat "$tmp/health.json"
[ "$code" = 503 ] || fail "/api/v1/health answered $code while not OK (want 503)"
grep -q '"status":"not-OK"' "$tmp/health.json" || fail "/api/v1/health does not say not-OK"
grep -q '"check":"disk","state":"not-OK"' "$tmp/health.json" || fail "/api/v1/health: no disk check"
stop_flowlogd
echo "ok: HEALTH not-OK for disk space under the threshold"
