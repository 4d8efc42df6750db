#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.tcp_limits: IPFIX-over-TCP sessions are bounded and bad streams are visible.
#
#   tcp_limits.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
#
# - max_tcp_sessions: sessions past it are closed at accept (tcp-sessions-refused), the open
#   ones shown by the tcp-sessions gauge; tcp_idle_timeout closes silent sessions
#   (tcp-sessions-idle-closed).
# - 300 idle sessions cost no reassembly buffer (RSS grows by well under their 80 KiB each),
#   and flowlogd stops cleanly with them open.
# - A stream that is not IPFIX, a header length under 16 and a message cut at EOF are counted
#   (tcp-bad-streams) and logged.
# - With few file descriptors (prlimit --nofile=128), a connection flood is refused at accept
#   (tcp-fd-refused) before the store runs out: records for a new partition are still stored.
# - A clean TCP stream afterwards is stored exactly.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

# start_t CONFIG: flowlogd with TCP and UDP ingest and a query port; sets pid, tport (TCP),
# port (UDP), qport.
start_t() {
    start_with -c "$1" -l tcp:127.0.0.1:0 -l udp:127.0.0.1:0
}

rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}

hold="$(dirname "$0")/hold.py"
wait_open() {
    for _ in $(seq 100); do
        grep -q open "$1" && return 0
        sleep 0.1
    done
    fail "the helper did not open its connections"
}

cat >"$tmp/a.conf" <<EOF
[collector]
max_tcp_sessions = 8
tcp_idle_timeout = 2s
EOF
start_t "$tmp/a.conf"
python3 "$hold" "$tport" 12 6 >"$tmp/h1" &
h=$!
wait_open "$tmp/h1"
sleep 0.5
open=$(stat_of tcp-sessions)
refused=$(stat_of tcp-sessions-refused)
[ "$open" = 8 ] && [ "$refused" = 4 ] ||
    fail "12 connections, max_tcp_sessions 8: tcp-sessions $open, tcp-sessions-refused $refused"
wait "$h"
[ "$(tail -n 1 "$tmp/h1")" = 12 ] || fail "closed by flowlogd: $(tail -n 1 "$tmp/h1") of 12"
idle=$(stat_of tcp-sessions-idle-closed)
open=$(stat_of tcp-sessions)
[ "$idle" = 8 ] && [ "$open" = 0 ] || fail "after 6 s: tcp-sessions-idle-closed $idle, tcp-sessions $open"
echo "ok: max_tcp_sessions refuses 4 of 12, the idle timeout closes the other 8"

# Bad streams: HTTP, an IPFIX header of length 8, a message cut at EOF.
python3 - "$tport" <<'EOF' || fail "bad streams helper"
import socket, sys, time
p = int(sys.argv[1])
for data in (b"GET / HTTP/1.0\r\n\r\n", bytes.fromhex("000a0008") + bytes(12),
             bytes.fromhex("000a0064") + bytes(36)):
    s = socket.create_connection(("127.0.0.1", p))
    s.sendall(data)
    time.sleep(0.2)
    s.close()
EOF
sleep 0.5
bad=$(stat_of tcp-bad-streams)
[ "$bad" = 3 ] || fail "tcp-bad-streams $bad (want 3)"
grep -q "not IPFIX; session closed" "$tmp/flowlogd.err" || fail "no log line for a bad stream"
echo "ok: 3 bad streams counted and logged"

# A clean stream afterwards is stored exactly.
"$nfsend" -T -p "$tport" -n 3000 -r 0 -s 31 >"$tmp/clean" || fail "nfsend failed"
sleep 0.5
stop_flowlogd
check_store "$(totals_of "$(cat "$tmp/clean")")"

# Idle sessions hold no reassembly buffer.
rm -rf "$tmp/store"
cat >"$tmp/b.conf" <<EOF
[collector]
max_tcp_sessions = 1000
EOF
start_t "$tmp/b.conf"
before=$(rss_kb)
python3 "$hold" "$tport" 300 4 >"$tmp/h2" &
h=$!
wait_open "$tmp/h2"
sleep 0.5
[ "$(stat_of tcp-sessions)" = 300 ] || fail "300 sessions not open"
after=$(rss_kb)
grow=$((after - before))
[ "$grow" -lt 8192 ] || fail "300 idle TCP sessions grew RSS by $grow KiB (want < 8 MiB)"
echo "ok: 300 idle sessions: RSS +$grow KiB"
# Stopped with the sessions open: each is closed and freed after its listener's handles.
stop_flowlogd
wait "$h" || true

# Few descriptors: a connection flood is refused before the store needs one.
rm -rf "$tmp/store"
cat >"$tmp/c.conf" <<EOF
[collector]
max_tcp_sessions = 1000
EOF
start_t "$tmp/c.conf"
# flowlogd raised its limit to the hard one at start; this is what it finds at its next accept.
prlimit --pid "$pid" --nofile=128:128 || fail "prlimit failed"
python3 "$hold" "$tport" 150 8 >"$tmp/h3" &
h=$!
wait_open "$tmp/h3"
sleep 0.5
# Records a day apart: partitions the store has to open now, with the flood still held.
"$nfsend" -p "$port" -n 2000 -r 0 -s 32 -t $(( $(date +%s) - 2 * 86400 )) >"$tmp/s1" ||
    fail "nfsend failed"
"$nfsend" -p "$port" -n 2000 -r 0 -s 33 -t $(( $(date +%s) - 86400 )) >"$tmp/s2" ||
    fail "nfsend failed"
sleep 0.5
kill "$h" 2>/dev/null || true
wait "$h" 2>/dev/null || true
sleep 0.5 # the flood's sessions are closed: the query port has descriptors again
fdref=$(stat_of tcp-fd-refused)
[ "$fdref" -gt 0 ] || fail "tcp-fd-refused $fdref: the flood was not refused"
stop_flowlogd
read -r r1 p1 b1 < <(totals_of "$(cat "$tmp/s1")")
read -r r2 p2 b2 < <(totals_of "$(cat "$tmp/s2")")
check_store "$((r1 + r2)) $((p1 + p2)) $((b1 + b2))"
echo "ok: with 128 descriptors, $fdref connections refused and every record stored"
