#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.query_backend: flowlogd reads [clickhouse] url and [query] backend (config_chquery.c)
# and hands them to its query sessions: a session starts on the configured backend, BACKEND
# switches it, EXPLAIN on ClickHouse shows the SQL, a ClickHouse that does not answer is
# ERR BACKEND and the session goes on; BACKEND local queries the store. The url points at a
# loopback port nothing listens on (the results against a real server are
# clickhouse.query_diff's). Bad values are refused at start.
#
# The CLI's --backend and HTTP's backend= choose the same way.
#
#   query_backend.sh FLOWLOGD FLOWLOG
set -euo pipefail
flowlogd=$1 flowlog=$2
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/flowlogd.conf" <<CONF
[query]
backend = clickhouse
[clickhouse]
url = http://127.0.0.1:$dead/
database = flowlog_test
CONF
start_with -c "$tmp/flowlogd.conf" -w 127.0.0.1:0

# talk LINES...: each request line, then everything up to its OK/ERR status line.
talk() {
    python3 - "$qport" "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
for line in sys.argv[2:]:
    s.sendall(line.encode() + b"\n")
    while True:
        l = f.readline().decode()
        sys.stdout.write(l)
        if not l or l.startswith("OK") or l.startswith("ERR"):
            break
PY
}

out=$(talk "BACKEND" "EXPLAIN dstport:22 | top 3 srcaddr" "QUERY dstport:22" "PING" \
           "QUERY /REJECT/" "BACKEND local" "QUERY * | stats count" "BACKEND bogus")
echo "$out"
expect() {
    grep -qF -- "$1" <<<"$out" || fail "no '$1' in the answers"
}
expect "OK backend clickhouse"
expect "backend clickhouse"

expect "FROM flowlog_test.flows WHERE ((bitAnd(present, 8) != 0) AND ((dstport = 22)))"
expect "OK 2 rows"
expect "ERR BACKEND clickhouse: Couldn't connect to server"
expect "OK PONG"
expect "ERR PARSE col 1: a /regex/ on the whole text line does not translate"
expect "OK backend local"
grep -q '^0$' <<<"$out" || fail "BACKEND local: no count of 0 from the empty store"
expect "ERR ARGS unknown backend 'bogus': local or clickhouse"

# The CLI: --backend sends BACKEND before the request.
[ "$("$flowlog" -s "127.0.0.1:$qport" --backend local query '* | stats count')" = 0 ] ||
    fail "flowlog --backend local: no count of 0"
st=0
"$flowlog" -s "127.0.0.1:$qport" --backend clickhouse query 'dstport:22' 2>"$tmp/cli.err" || st=$?
[ "$st" = 1 ] && grep -q "ERR BACKEND clickhouse" "$tmp/cli.err" ||
    fail "flowlog --backend clickhouse: status $st, $(cat "$tmp/cli.err")"
st=0
"$flowlog" -s "127.0.0.1:$qport" -b bogus query '*' 2>"$tmp/cli.err" || st=$?
[ "$st" = 1 ] && grep -q "ERR ARGS unknown backend 'bogus'" "$tmp/cli.err" ||
    fail "flowlog -b bogus: status $st, $(cat "$tmp/cli.err")"
echo "ok: flowlog --backend"

# HTTP: backend= (absent: [query] backend, here clickhouse).
hport=
for _ in $(seq 50); do
    hport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$hport" ] && break
    sleep 0.1
done
[ -n "$hport" ] || fail "no HTTP listener"
api="http://127.0.0.1:$hport/api/v1/query"
code=$(curl -s -o "$tmp/h.out" -w '%{http_code}' "$api?q=*&backend=bogus")
[ "$code" = 400 ] && grep -q '"code":"ARGS"' "$tmp/h.out" ||
    fail "backend=bogus: $code $(cat "$tmp/h.out")"
code=$(curl -s -o "$tmp/h.out" -w '%{http_code}' "$api?q=*%20%7C%20stats%20count&backend=local")
[ "$code" = 200 ] && grep -q '"status":"OK"' "$tmp/h.out" ||
    fail "backend=local: $code $(cat "$tmp/h.out")"
curl -s -o "$tmp/h.out" "$api?q=dstport:22" || true
grep -q 'BACKEND' "$tmp/h.out" || fail "the default backend (clickhouse) was not used: $(cat "$tmp/h.out")"
echo "ok: HTTP backend="
stop_flowlogd

# Wrong values stop flowlogd at start with the key's name.
for bad in "[query]
backend = mysql" "[clickhouse]
url = ftp://x/" "[clickhouse]
database = a;b" "[clickhouse]
colour = red"; do
    printf '%s\n' "$bad" >"$tmp/bad.conf"
    if "$flowlogd" -f -c "$tmp/bad.conf" -d "$tmp/store" -q 127.0.0.1:0 -w "" \
        >"$tmp/bad.out" 2>&1; then
        fail "flowlogd started with: $bad"
    fi
    grep -qE 'query\.backend|clickhouse\.(url|database|colour)' "$tmp/bad.out" ||
        fail "no key named for: $bad ($(cat "$tmp/bad.out"))"
done
echo "PASS"
