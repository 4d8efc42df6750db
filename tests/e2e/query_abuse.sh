#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.query_abuse: what hostile or careless query clients can no longer do to flowlogd.
#
#   query_abuse.sh FLOWLOGD NFSEND FLOWLOG
#
# - 64 idle and slowloris TCP connections (no token) do not lock out `flowlog stats`: the
#   unix socket has its own budget (answers at once), and the TCP ones are closed by
#   idle_timeout / line_timeout (counted) so TCP answers again within seconds.
# - With a token, 64 connections that never authenticate are closed after auth_timeout;
#   wrong AUTHs are counted (query-auth-failures) and logged.
# - A client that half-closes (shutdown(SHUT_WR)) after its requests gets every answer.
# - The interactive prompt reconnects after flowlogd closed it for being idle.
# - The CLI exits 1 (not 141, SIGPIPE) when the server answers ERR BUSY while it writes.
# - [query] unix never replaces or deletes a file that is not a socket; the socket is 0600.
# - A SIGHUP does not report query.listen as changed when it came from -q.
# - A token shorter than 16 characters is refused by flowlogd -t.
# Socket work is done by short python3 helpers (skipped, exit 77, without python3).
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

# start_q CONFIG: flowlogd with a UDP listener and the query port; sets pid, qport.
start_q() {
    : >"$tmp/flowlogd.err"
    start_with -c "$1" -l udp:127.0.0.1:0
}

# stat_at SERVER NAME [TOKEN]: one STATS value from SERVER (an address or the unix socket).
stat_at() {
    local tok=()
    [ $# -ge 3 ] && tok=(--token "$3")
    "$flowlog" -s "$1" "${tok[@]}" stats | awk -v n="$2" '$1 == n { print $2 }'
}
hold="$(dirname "$0")/hold.py"

cat >"$tmp/q.conf" <<EOF
[query]
unix = $tmp/q.sock
idle_timeout = 3s
line_timeout = 2s
EOF
start_q "$tmp/q.conf"
python3 "$hold" "$qport" 32 12 idle >"$tmp/idle.out" &
idle_pid=$!
python3 "$hold" "$qport" 32 12 slow >"$tmp/slow.out" &
slow_pid=$!
sleep 1
# The unix socket is not part of the TCP budget: it answers while TCP is full.
"$flowlog" -s "$tmp/q.sock" stats >"$tmp/unix.stats" 2>&1 ||
    fail "flowlog stats over the unix socket while 64 TCP clients sit idle: $(cat "$tmp/unix.stats")"
echo "ok: the unix socket answers while 64 TCP clients hold the TCP budget"
# The TCP clients are closed by the timeouts (3 s idle, 2 s partial line), not after 12 s.
ok=
for _ in $(seq 40); do
    if "$flowlog" -s "127.0.0.1:$qport" stats >/dev/null 2>&1; then
        ok=1
        break
    fi
    sleep 0.2
done
[ -n "$ok" ] || fail "TCP still locked out 9 s after 64 idle/slowloris connections"
wait "$idle_pid" "$slow_pid"
[ "$(tail -n 1 "$tmp/idle.out")" = 32 ] || fail "idle connections closed: $(tail -n 1 "$tmp/idle.out") of 32"
[ "$(tail -n 1 "$tmp/slow.out")" = 32 ] || fail "slowloris connections closed: $(tail -n 1 "$tmp/slow.out") of 32"
idle=$(stat_at "$tmp/q.sock" query-idle-closed)
lines=$(stat_at "$tmp/q.sock" query-line-timeouts)
[ "$idle" -ge 32 ] && [ "$lines" -ge 32 ] ||
    fail "query-idle-closed $idle, query-line-timeouts $lines (want >= 32 each)"
echo "ok: idle ($idle) and slowloris ($lines) connections closed, TCP answers again"

# Half-close: every request sent before shutdown(SHUT_WR) is answered.
python3 - "$qport" <<'EOF' || fail "half-closed client"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"PING\nQUERY * | stats count\nSTATS\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
status = [l for l in data.decode().splitlines() if l.startswith("OK") or l.startswith("ERR")]
if len(status) != 3 or not all(l.startswith("OK") for l in status):
    sys.exit("answers to a half-closed client: %r" % status)
EOF
echo "ok: a half-closed client gets all its answers"

# The prompt outlives the idle timeout: its next line goes out on a new connection.
if command -v script >/dev/null; then
    (printf 'ping\n'; sleep 5; printf 'ping\nquit\n') |
        script -qec "$flowlog -s 127.0.0.1:$qport" /dev/null >"$tmp/prompt.out" 2>&1 ||
        fail "prompt across the idle timeout: $(tail -5 "$tmp/prompt.out")"
    [ "$(grep -c PONG "$tmp/prompt.out")" = 2 ] || fail "prompt answers: $(cat "$tmp/prompt.out")"
    grep -q "reconnected" "$tmp/prompt.out" || fail "no reconnection: $(cat "$tmp/prompt.out")"
    echo "ok: the prompt reconnects after the idle timeout"
fi

# SIGHUP with -q: nothing changed, so nothing needs a restart.
kill -HUP "$pid"
sleep 0.5
grep -q "needs a restart" "$tmp/flowlogd.err" && fail "SIGHUP: $(grep 'needs a restart' "$tmp/flowlogd.err")"
grep -q "reload: .*no change" "$tmp/flowlogd.err" || fail "SIGHUP: no 'no change' line"
echo "ok: SIGHUP with -q reports no change"
[ "$(stat -c %a "$tmp/q.sock")" = 600 ] || fail "socket mode $(stat -c %a "$tmp/q.sock")"
stop_flowlogd
[ -e "$tmp/q.sock" ] && fail "the socket is left after stop"

# Tokens: unauthenticated connections time out, wrong AUTHs are counted and logged.
token=0123456789abcdef-e2e
cat >"$tmp/t.conf" <<EOF
[query]
unix = $tmp/q.sock
token = $token
auth_timeout = 2s
unix_max_clients = 1
EOF
umask 000
start_q "$tmp/t.conf"
umask 022
[ "$(stat -c %a "$tmp/q.sock")" = 600 ] || fail "socket mode $(stat -c %a "$tmp/q.sock") under umask 000"
python3 "$hold" "$qport" 64 10 idle >"$tmp/noauth.out" &
hold_pid=$!
sleep 0.5
ok=
for _ in $(seq 30); do
    if "$flowlog" -s "127.0.0.1:$qport" --token "$token" stats >/dev/null 2>&1; then
        ok=1
        break
    fi
    sleep 0.2
done
[ -n "$ok" ] || fail "TCP still locked out 6 s after 64 unauthenticated connections"
wait "$hold_pid"
[ "$(tail -n 1 "$tmp/noauth.out")" = 64 ] || fail "unauthenticated closed: $(tail -n 1 "$tmp/noauth.out") of 64"
python3 - "$qport" <<'EOF' || fail "wrong AUTHs"
import socket, sys
# One connection per try: the session may close after a few failures.
for i in range(5):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(b"AUTH wrong-token-%d\n" % i)
    l = s.makefile("rb").readline()
    if not l.startswith(b"ERR"):
        sys.exit("AUTH answered %r" % l)
    s.close()
EOF
fails=$(stat_at "127.0.0.1:$qport" query-auth-failures "$token")
[ "$fails" = 5 ] || fail "query-auth-failures $fails (want 5)"
grep -q "AUTH with a wrong token" "$tmp/flowlogd.err" || fail "no log line for wrong AUTHs"
timeouts=$(stat_at "127.0.0.1:$qport" query-auth-timeouts "$token")
[ "$timeouts" -ge 64 ] || fail "query-auth-timeouts $timeouts (want >= 64)"
echo "ok: 64 unauthenticated connections closed ($timeouts), 5 wrong AUTHs counted and logged"

# ERR BUSY while the CLI writes a long request: exit status 1, not 141.
python3 - "$tmp/q.sock" >"$tmp/busy.out" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print("held", flush=True)
time.sleep(4)
EOF
busy_pid=$!
for _ in $(seq 20); do
    grep -q held "$tmp/busy.out" && break
    sleep 0.1
done
sleep 0.3
long=$(head -c 60000 /dev/zero | tr '\0' 'x')
status=0
"$flowlog" -s "$tmp/q.sock" --token "$token" query "$long" >/dev/null 2>"$tmp/busy.err" || status=$?
[ "$status" = 1 ] || fail "flowlog against ERR BUSY exited $status: $(cat "$tmp/busy.err")"
grep -q "ERR BUSY" "$tmp/busy.err" || fail "no ERR BUSY shown: $(cat "$tmp/busy.err")"
wait "$busy_pid"
echo "ok: the CLI exits 1 on ERR BUSY"
stop_flowlogd

# [query] unix naming a regular file: refused, the file kept.
echo precious >"$tmp/precious.txt"
cat >"$tmp/p.conf" <<EOF
[query]
unix = $tmp/precious.txt
EOF
status=0
"$flowlogd" -f -w "" -c "$tmp/p.conf" -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 \
    >/dev/null 2>"$tmp/p.err" || status=$?
[ "$status" != 0 ] || fail "flowlogd started with unix = a regular file"
[ "$(cat "$tmp/precious.txt")" = precious ] || fail "the regular file was replaced or deleted"
grep -q "not a socket" "$tmp/p.err" || fail "no reason given: $(cat "$tmp/p.err")"
echo "ok: a regular file at the socket path is kept and refused"

# A short token is refused by the config check.
printf '[query]\ntoken = short\n' >"$tmp/s.conf"
status=0
"$flowlogd" -t -c "$tmp/s.conf" >/dev/null 2>"$tmp/s.err" || status=$?
[ "$status" = 2 ] || fail "flowlogd -t accepted a 5-character token"
grep -q "shorter than 16" "$tmp/s.err" || fail "no reason given: $(cat "$tmp/s.err")"
echo "ok: a short token is refused at config check"
