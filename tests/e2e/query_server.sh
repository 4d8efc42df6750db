#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.query_server: flowlogd's query server over TCP on 127.0.0.1 (ephemeral ports).
#
#   query_server.sh FLOWLOGD NFSEND FLOWLOG
#
# Loads 20000 records with nfsend, then checks: the flowlog CLI's counts against nfsend's
# totals; 8 concurrent clients get identical answers; a client that hangs up in the middle of
# a large answer does not disturb the server (its query is canceled, the client count drops
# back); malformed input (binary, NUL bytes, a 100 KiB line, a megabyte with no newline,
# unknown verbs) gets the documented errors and the connection keeps working; the client
# limit answers ERR BUSY; tokens: nothing but AUTH/PING before AUTH, FLOWLOG changes need the
# admin token; a non-loopback bind without a token is refused. Socket work is done by a short
# python3 helper (skipped, exit 77, without python3).
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

# start_q [CONFIG]: flowlogd with UDP and query listeners on ephemeral ports; sets pid, port, qport.
start_q() {
    local cfg=()
    [ $# -ge 1 ] && cfg=(-c "$1")
    mkdir -p "$tmp/store"
    : >"$tmp/flowlogd.out"
    "$flowlogd" -f -w "" "${cfg[@]}" -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 \
        >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
    pid=$!
    for _ in $(seq 50); do
        port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
        qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
        [ -n "$port" ] && [ -n "$qport" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
        sleep 0.1
    done
    fail "flowlogd printed no listening lines"
}

# A python3 helper: talk PORT < script; each script line is "send TEXT" (a request line),
# "raw HEX" (bytes as they are), "expect PREFIX" (next status line begins with it),
# "hangup N" (read N bytes then close), "rows N" (the next answer has N data lines).
cat >"$tmp/talk.py" <<'EOF'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
def answer():
    rows = 0
    while True:
        l = f.readline()
        if not l:
            sys.exit("connection closed while waiting for an answer")
        l = l.decode("utf-8", "replace")
        if l.startswith("OK") or l.startswith("ERR "):
            return rows, l.rstrip("\n")
        rows += 1
for cmd in sys.stdin.read().splitlines():
    op, _, arg = cmd.partition(" ")
    if op == "send":
        s.sendall(arg.encode() + b"\n")
    elif op == "raw":
        s.sendall(bytes.fromhex(arg))
    elif op == "big":
        n, _, tail = arg.partition(" ")
        s.sendall(b"QUERY " + b"x" * int(n) + tail.encode().decode("unicode_escape").encode())
    elif op == "expect":
        rows, st = answer()
        if not st.startswith(arg):
            sys.exit("expected %r, got %r" % (arg, st))
    elif op == "rows":
        want, _, prefix = arg.partition(" ")
        rows, st = answer()
        if rows != int(want) or not st.startswith(prefix):
            sys.exit("expected %s rows and %r, got %d rows and %r" % (want, prefix, rows, st))
    elif op == "hangup":
        f.read(int(arg))
        s.close()
        sys.exit(0)
print("ok")
EOF
talk() { python3 "$tmp/talk.py" "$qport" || fail "talk: $*"; }

start_q
line=$("$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 20000 -r 20000 -s 5) || fail "nfsend failed"
read -r want_r _ want_b < <(totals_of "$line")
# Wait until everything is committed and visible to queries.
got=
for _ in $(seq 100); do
    got=$("$flowlog" -s "127.0.0.1:$qport" query '* | stats count, sum(bytes)') || fail "query"
    [ "$got" = "$want_r $want_b" ] && break
    sleep 0.1
done
[ "$got" = "$want_r $want_b" ] || fail "stats count, sum(bytes): got '$got', sent '$want_r $want_b'"
echo "ok: $want_r records, $want_b bytes"

# 8 concurrent clients, the same aggregation and a streamed answer each.
for i in $(seq 8); do
    ( "$flowlog" -s "127.0.0.1:$qport" query '* | top 20 dstport by bytes' >"$tmp/top.$i" &&
      "$flowlog" -s "127.0.0.1:$qport" -f json query 'protocol:tcp' | wc -l >"$tmp/tcp.$i" ) &
done
wait_all=0
for j in $(jobs -p); do
    [ "$j" = "$pid" ] && continue
    wait "$j" || wait_all=1
done
[ "$wait_all" = 0 ] || fail "a concurrent client failed"
for i in $(seq 2 8); do
    cmp -s "$tmp/top.1" "$tmp/top.$i" || fail "concurrent answers differ (top, client $i)"
    cmp -s "$tmp/tcp.1" "$tmp/tcp.$i" || fail "concurrent answers differ (tcp rows, client $i)"
done
[ "$(wc -l <"$tmp/top.1")" = 20 ] || fail "top 20 gave $(wc -l <"$tmp/top.1") rows"
echo "ok: 8 concurrent clients agree ($(cat "$tmp/tcp.1") tcp rows each)"

# A client hangs up after 4 KiB of a large answer; others keep working, the count drops.
for _ in 1 2 3; do
    printf 'send QUERY * | sort bytes\nhangup 4096\n' | talk hangup
done
printf 'send FORMAT json\nexpect OK format json\nsend QUERY * | limit 5\nrows 5 OK 5 rows\n' |
    talk after-hangup >/dev/null
clients=
for _ in $(seq 50); do
    clients=$("$flowlog" -s "127.0.0.1:$qport" stats | awk '$1 == "query-clients" { print $2 }')
    [ "$clients" = 1 ] && break
    sleep 0.1
done
[ "$clients" = 1 ] || fail "query-clients is $clients after the others hung up (want 1: this one)"
echo "ok: clients that hung up mid-stream are gone"

# Malformed input: each gets its error and the connection keeps working.
talk malformed >/dev/null <<'EOF'
raw 00ff fe0a
expect ERR ARGS a request may not contain NUL bytes
raw 8081828384850a
expect ERR VERB unknown verb
send FROBNICATE now
expect ERR VERB unknown verb 'FROBNICATE'
send QUERY srcaddr:10.0.0.1 and dstport:
expect ERR PARSE col 30: expected a value after ':'
send QUERY srcaddr:999.1.1.1
expect ERR PARSE col 9: expected an address or CIDR for 'srcaddr'
send QUERY foo:bar
expect ERR PARSE col 1: unknown field 'foo'; known fields: flowlog, version
big 102400 \n
expect ERR TOOLONG a request line is at most 65536 bytes
big 1048576 
send
expect ERR TOOLONG
send PING
expect OK PONG
send QUERY * | stats count
rows 1 OK 1 rows
EOF
echo "ok: malformed and oversized lines answered, the session goes on"

# Pipelining: a sort and 30000 PINGs (150 KB, more than the server's input buffer) in one
# write; every answer comes back, in order.
python3 - "$qport" <<'EOF' || fail "pipelined requests"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"QUERY * | sort bytes desc | fields bytes\n" + b"PING\n" * 30000)
f = s.makefile("rb")
rows = 0
while True:
    l = f.readline()
    if l.startswith(b"OK") or l.startswith(b"ERR "):
        break
    rows += 1
if not l.startswith(b"OK 20000 rows") or rows != 20000:
    sys.exit("sort: %d rows, %r" % (rows, l))
for i in range(30000):
    l = f.readline()
    if l != b"OK PONG\n":
        sys.exit("PING %d: %r" % (i, l))
EOF
echo "ok: 30000 pipelined requests behind a sort"
stop_flowlogd

# Tokens and the client limit, from a config file.
cat >"$tmp/flowlogd.conf" <<EOF
[query]
token = s3cret-s3cret-s3cret
admin_token = r00t-r00t-r00t-r00t
max_clients = 2
unix = $tmp/q.sock
EOF
start_q "$tmp/flowlogd.conf"
talk auth >/dev/null <<'EOF'
send QUERY *
expect ERR AUTH authenticate first
send STATS
expect ERR AUTH authenticate first
send PING
expect OK PONG
send AUTH nope
expect ERR AUTH wrong token
send AUTH s3cret-s3cret-s3cret
expect OK authenticated
send QUERY * | stats count
rows 1 OK 1 rows
send FLOWLOG CREATE web
expect ERR DENIED
send AUTH r00t-r00t-r00t-r00t
expect OK authenticated (admin)
send FLOWLOG CREATE web window=60
expect OK flow log web created
EOF
"$flowlog" -s "127.0.0.1:$qport" query '*' 2>"$tmp/noauth" && fail "a query without the token worked"
grep -q "ERR AUTH" "$tmp/noauth" || fail "no ERR AUTH without a token: $(cat "$tmp/noauth")"
[ "$("$flowlog" -s "127.0.0.1:$qport" --token s3cret-s3cret-s3cret describe web | cut -d' ' -f1-3)" = "web 1 60" ] ||
    fail "describe with the token"
# The unix socket serves the same sessions (tokens included).
[ "$("$flowlog" -s "$tmp/q.sock" --token s3cret-s3cret-s3cret query '* | stats count')" = "$want_r" ] ||
    fail "query over the unix socket"
"$flowlog" -s "$tmp/q.sock" stats >/dev/null 2>&1 && fail "unix socket without the token"
# The interactive prompt (libedit) on a pseudo-terminal, when script(1) is there.
if command -v script >/dev/null; then
    printf 'ping\nformat json\ndescribe web\nquit\n' >"$tmp/prompt.in"
    script -qec "$flowlog -s 127.0.0.1:$qport --token s3cret-s3cret-s3cret" /dev/null <"$tmp/prompt.in" \
        >"$tmp/prompt.out" 2>&1 || fail "interactive prompt (port $qport): $(tail -5 "$tmp/prompt.out")"
    grep -q '"name":"web"' "$tmp/prompt.out" || fail "prompt output: $(cat "$tmp/prompt.out")"
    echo "ok: interactive prompt"
fi
# Two clients hold the limit; a third is told ERR BUSY.
python3 - "$qport" <<'EOF' || fail "client limit"
import socket, sys, time
p = int(sys.argv[1])
a = [socket.create_connection(("127.0.0.1", p)) for _ in range(2)]
time.sleep(0.3)
c = socket.create_connection(("127.0.0.1", p), timeout=5)
got = c.makefile("rb").readline().decode()
if not got.startswith("ERR BUSY"):
    sys.exit("third client got %r" % got)
EOF
echo "ok: tokens, admin token, unix socket and client limit"
stop_flowlogd

# A non-loopback address without a token is refused at start.
if "$flowlogd" -f -w "" -d "$tmp/store" -l udp:127.0.0.1:0 -q 0.0.0.0:0 >"$tmp/nl.out" 2>"$tmp/nl.err"; then
    fail "flowlogd served 0.0.0.0 without a token"
fi
grep -q "is not loopback: set a token" "$tmp/nl.err" || fail "no reason given: $(cat "$tmp/nl.err")"
echo "ok: non-loopback bind without a token refused"
