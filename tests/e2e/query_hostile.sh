#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.query_hostile: query lines meant to kill or wear down flowlogd's query server (code
# review C1; hardening issue points 1 and 4), over TCP on 127.0.0.1 (ephemeral ports).
#
#   query_hostile.sh FLOWLOGD NFSEND
#
# After 2000 records are stored: a 64 KiB line of 32,000 '(' around a word and one of 16,000
# 'not's (QUERY, EXPLAIN and WINDOWS) are refused with `nesting too deep` on a threadpool
# thread, and flowlogd still answers and still stores; a line of 32,000 terms is refused by
# the node bound; a 6,000-term or-chain runs; with a token set, the third wrong AUTH on a
# connection is answered and the connection closed. Socket work is a short python3 helper
# (skipped, exit 77, without python3).
set -euo pipefail
flowlogd=$1 nfsend=$2
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

cat >"$tmp/flowlogd.conf" <<EOF
[query]
token = open-sesame-0123456789
# The checks below read the records stored from "scanned": every query scans (no rollups).
rollups = off
EOF
mkdir -p "$tmp/store"
: >"$tmp/flowlogd.out"
"$flowlogd" -f -w "" -c "$tmp/flowlogd.conf" -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 \
    >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
pid=$!
port= qport=
for _ in $(seq 50); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$port" ] && [ -n "$qport" ] && break
    kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
    sleep 0.1
done
[ -n "$qport" ] || fail "flowlogd printed no listening lines"

# ask.py PORT: one connection; stdin lines are requests (a line "@NAME" is replaced by the
# generated request NAME); prints each answer's status line, and "closed" at EOF.
cat >"$tmp/ask.py" <<'EOF'
import socket, sys
gen = {
    "parens": b"(" * 32000 + b"x" + b")" * 32000,
    "nots": b"not " * 16000 + b"x",
    "terms": b"x " * 32000 + b"x",
    "chain": b" or ".join(b"tos:%d" % (i % 256) for i in range(6000)),
}
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
f = s.makefile("rb")
for req in sys.stdin.read().splitlines():
    verb, _, arg = req.partition(" ")
    line = verb.encode() + b" " + (gen[arg[1:]] if arg.startswith("@") else arg.encode())
    try:
        s.sendall(line + b"\n")
    except OSError:
        print("closed")
        break
    while True:
        try:
            l = f.readline()
        except ConnectionResetError:
            l = b""  # the server closed while our next request was in flight: a reset
        if not l:
            print("closed")
            sys.exit(0)
        l = l.decode("utf-8", "replace").rstrip("\n")
        if l.startswith("OK") or l.startswith("ERR "):
            print(l)
            break
EOF
ask() { python3 "$tmp/ask.py" "$qport" >"$tmp/ask.out" || fail "ask.py failed: $(cat "$tmp/ask.out")"; }
tok="AUTH open-sesame-0123456789"

line=$("$nfsend" -p "$port" -a 127.0.0.1 -n 2000 -s 7) || fail "nfsend failed"
read -r want_r _ _ < <(totals_of "$line")
got=
for _ in $(seq 100); do
    printf '%s\nQUERY * | stats count\n' "$tok" | ask
    got=$(sed -n 2p "$tmp/ask.out")
    [ "$got" = "OK 1 rows $want_r scanned" ] || [[ "$got" == "OK 1 rows $want_r scanned "* ]] && break
    sleep 0.1
done
[[ "$got" == "OK 1 rows $want_r scanned "* ]] || fail "stats count over $want_r records: $got"

printf '%s\nQUERY @parens\nEXPLAIN @parens\nWINDOWS @parens\nQUERY @nots\nQUERY @terms\nQUERY @chain\nPING\n' \
    "$tok" | ask
kill -0 "$pid" 2>/dev/null || fail "flowlogd died on a nested query"
want="OK authenticated
ERR PARSE col 129: nesting too deep
ERR PARSE col 129: nesting too deep
ERR PARSE col 129: nesting too deep
ERR PARSE col 513: nesting too deep
ERR PARSE col 32767: too many terms (at most 16384)"
[ "$(head -n 6 "$tmp/ask.out")" = "$want" ] || fail "hostile queries: $(cat "$tmp/ask.out")"
[[ "$(sed -n 7p "$tmp/ask.out")" == "OK "* ]] || fail "6,000-term chain: $(sed -n 7p "$tmp/ask.out")"
[ "$(sed -n 8p "$tmp/ask.out")" = "OK PONG" ] || fail "no PONG after the hostile queries"
echo "ok: nesting refused, node bound, a 6,000-term chain runs, flowlogd alive"

# Still storing: 500 more records arrive and are counted.
"$nfsend" -p "$port" -a 127.0.0.1 -n 500 -s 8 >/dev/null || fail "nfsend failed"
for _ in $(seq 100); do
    printf '%s\nQUERY * | stats count\n' "$tok" | ask
    [[ "$(sed -n 2p "$tmp/ask.out")" == "OK 1 rows $((want_r + 500)) scanned "* ]] && break
    sleep 0.1
done
[[ "$(sed -n 2p "$tmp/ask.out")" == "OK 1 rows $((want_r + 500)) scanned "* ]] ||
    fail "records after the hostile queries: $(cat "$tmp/ask.out")"
echo "ok: ingest continues"

# Three wrong tokens: the third is answered and the connection closed.
printf 'AUTH a\nAUTH b\nAUTH c\nPING\n' | ask
want="ERR AUTH wrong token
ERR AUTH wrong token
ERR AUTH wrong token; closing after 3 failures
closed"
[ "$(cat "$tmp/ask.out")" = "$want" ] || fail "three wrong tokens: $(cat "$tmp/ask.out")"
echo "ok: the third wrong AUTH closes the connection"
stop_flowlogd
