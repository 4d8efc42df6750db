#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.http_api: flowlogd's HTTP API (docs/http.md) with curl, on 127.0.0.1 (ephemeral ports).
#
#   http_api.sh FLOWLOGD NFSEND FLOWLOG
#
# Loads 20000 records with nfsend, then checks: for a set of queries, /api/v1/query's ndjson
# rows are byte for byte `flowlog -f json query` (the line protocol), format=json has the
# same rows and their columns, format=csv equals `flowlog -f csv`; errors are JSON with code,
# message and col (HTTP 400 before any row); explain, windows, flowlogs; the Host check;
# header, body, connection and idle limits, each counted in /metrics; tokens (Bearer, the
# login cookie, admin-only POSTs, cross-site POSTs refused); a non-loopback address without a
# token refused; a client that hangs up has its query canceled; STATS and EXPORTERS are the
# query server's rows (UNAVAILABLE without one); `promtool check metrics` and the required
# series (records received and stored, per exporter, decode errors by reason).
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/../e2e/lib.sh"

command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

# start_w [CONFIG]: flowlogd with UDP, query and HTTP listeners on ephemeral ports.
start_w() {
    local cfg=()
    [ $# -ge 1 ] && cfg=(-c "$1")
    mkdir -p "$tmp/store"
    : >"$tmp/flowlogd.out"
    "$flowlogd" -f "${cfg[@]}" -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 \
        -w 127.0.0.1:0 >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
    pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
        qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
        wport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
        [ -n "$port" ] && [ -n "$qport" ] && [ -n "$wport" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
        sleep 0.1
    done
    fail "flowlogd printed no listening lines"
}

# get PATH [curl args...]: body to $tmp/body, HTTP status to $code.
get() {
    local path=$1
    shift
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@" "http://127.0.0.1:$wport$path") || true
}
urlq() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
expect_code() { [ "$code" = "$1" ] || fail "$2: HTTP $code, wanted $1: $(head -c 300 "$tmp/body")"; }
metric() { curl -s "http://127.0.0.1:$wport/metrics" | sed -n "s/^$1 //p"; }

start_w
"$nfsend" -p "$port" -n 20000 -s 11 >"$tmp/sent" || fail "nfsend failed"
for _ in $(seq 100); do
    get "/api/v1/query?q=$(urlq '* | stats count')"
    grep -q '"count":20000' "$tmp/body" && break
    sleep 0.2
done
grep -q '"count":20000' "$tmp/body" || fail "20000 records not stored: $(cat "$tmp/body")"
echo "ok: 20000 records in"

# ---- the same rows as the line protocol ----
queries=('* | top 5 dstport'
    '* | stats count, sum(bytes) by protocol'
    'protocol = 6 | fields srcaddr, dstaddr, dstport, bytes | limit 50'
    '* | timechart 1m sum(bytes) by protocol'
    '* | sort bytes desc | limit 20'
    'dstport = 53 or dstport = 123 | top 10 srcaddr, dstaddr by bytes')
for q in "${queries[@]}"; do
    "$flowlog" -s "127.0.0.1:$qport" -f json query "$q" >"$tmp/want" 2>/dev/null ||
        fail "flowlog query '$q' failed"
    get "/api/v1/query?q=$(urlq "$q")&format=ndjson"
    expect_code 200 "ndjson '$q'"
    head -n -1 "$tmp/body" >"$tmp/got"
    cmp -s "$tmp/want" "$tmp/got" || fail "ndjson rows of '$q' differ from flowlog's"
    n=$(wc -l <"$tmp/want")
    tail -n 1 "$tmp/body" | grep -q "^{\"status\":\"OK\",\"rows\":$n,\"scanned\":[0-9]*,\"ms\":[0-9]*}\$" ||
        fail "ndjson status of '$q': $(tail -n 1 "$tmp/body")"
    get "/api/v1/query?q=$(urlq "$q")&format=json"
    expect_code 200 "json '$q'"
    python3 - "$tmp/body" "$tmp/want" <<'EOF' || fail "format=json of '$q' differs"
import json, sys
doc = json.load(open(sys.argv[1]))
want = [json.loads(l) for l in open(sys.argv[2])]
assert doc["rows"] == want, "rows"
assert doc["status"]["status"] == "OK" and doc["status"]["rows"] == len(want), doc["status"]
if want:
    assert doc["columns"] == list(want[0].keys()), doc["columns"]
EOF
    "$flowlog" -s "127.0.0.1:$qport" -f csv query "$q" >"$tmp/want.csv" 2>/dev/null
    get "/api/v1/query?q=$(urlq "$q")&format=csv"
    expect_code 200 "csv '$q'"
    cmp -s "$tmp/want.csv" "$tmp/body" || fail "format=csv of '$q' differs from flowlog's"
    echo "ok: '$q': $n rows equal the line protocol's (ndjson, json, csv)"
done

# ---- format=chart: the timechart's rows in columns, null where a bucket has no row ----
q='protocol in (1, 58) | timechart 30s sum(bytes) by protocol'
get "/api/v1/query?q=$(urlq "$q")"
cp "$tmp/body" "$tmp/rows"
get "/api/v1/query?q=$(urlq "$q")&format=chart"
expect_code 200 "format=chart"
python3 - "$tmp/body" "$tmp/rows" <<'EOF' || fail "format=chart differs from the rows: $(head -c 300 "$tmp/body")"
import json, sys, datetime
doc = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])][:-1]
assert doc["span_s"] == 30 and doc["field"] == "protocol" and doc["agg"] == "sum(bytes)"
ts = lambda s: int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())
want = {(ts(r["_time"]), r["protocol"]): r["sum(bytes)"] for r in rows}
t = doc["t"]
assert t == list(range(t[0], t[-1] + 1, 30)) and t[0] == min(k[0] for k in want)
cells = 0
for s in doc["series"]:
    assert len(s["values"]) == len(t)
    for i, v in enumerate(s["values"]):
        assert v == want.get((t[i], s["name"])), (t[i], s["name"], v)
        cells += v is not None
assert cells == len(want) == doc["status"]["rows"]
EOF
get "/api/v1/query?q=$(urlq '* | limit 1')&format=chart"
expect_code 400 "format=chart without timechart"
echo "ok: format=chart holds the timechart's rows, null elsewhere"

# ---- errors ----
get "/api/v1/query?q=$(urlq '* | tpo 3')"
expect_code 400 "a parse error"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="ERR" and d["code"]=="PARSE" and d["col"]==5 and d["message"], d' \
    "$tmp/body" || fail "parse error body: $(cat "$tmp/body")"
get "/api/v1/query"
expect_code 400 "no q="
grep -q '"code":"ARGS"' "$tmp/body" || fail "no q=: $(cat "$tmp/body")"
get "/api/v1/query?q=$(urlq '*')&format=xml"
expect_code 400 "format=xml"
get "/api/v1/query?q=$(urlq $'*\nFLOWLOG DELETE default')"
expect_code 400 "a line break in q"
get "/api/v1/query?q=$(head -c 100000 /dev/zero | tr '\0' 'a')"
expect_code 400 "a 100 KB query"
grep -q '"code":"TOOLONG"' "$tmp/body" || fail "a 100 KB query: $(cat "$tmp/body")"
get "/api/v1/nothing"
expect_code 404 "an unknown path"
echo "ok: errors are JSON with code, message and col"

# ---- the other resources ----
get "/api/v1/explain?q=$(urlq '* | limit 2')"
expect_code 200 "explain"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]["status"]=="OK" and any(l.startswith("scan ") for l in d["lines"]), d' \
    "$tmp/body" || fail "explain: $(head -c 300 "$tmp/body")"
"$flowlog" -s "127.0.0.1:$qport" -f json windows >"$tmp/want"
get "/api/v1/windows"
head -n -1 "$tmp/body" | cmp -s "$tmp/want" - || fail "windows differ from flowlog's"
get "/api/v1/flowlogs?action=create&name=viaget"
"$flowlog" -s "127.0.0.1:$qport" describe viaget >/dev/null 2>&1 && fail "a GET created a flow log"
get "/api/v1/flowlogs" -X POST -d "" --url-query "action=create" --url-query "name=web1" \
    --url-query "args=traffic=reject window=60"
expect_code 200 "POST flowlogs create"
grep -q '"status":"OK"' "$tmp/body" || fail "create: $(cat "$tmp/body")"
get "/api/v1/flowlogs?name=web1"
grep -q '"name":"web1".*"traffic":"reject"' "$tmp/body" || fail "describe: $(cat "$tmp/body")"
get "/api/v1/flowlogs" -X POST -d "" --url-query "action=create" --url-query "name=web1"
expect_code 409 "create twice"
get "/api/v1/flowlogs" -X POST -H "Origin: http://evil.example" --url-query "action=delete" \
    --url-query "name=web1"
expect_code 403 "a cross-site POST"
"$flowlog" -s "127.0.0.1:$qport" describe web1 >/dev/null || fail "a cross-site POST deleted"
echo "ok: explain, windows, flowlogs (GET, POST; a cross-site POST refused)"

# ---- Host check (DNS rebinding) ----
get "/api/v1/stats" -H "Host: evil.example:$wport"
expect_code 421 "Host evil.example"
get "/api/v1/query?q=$(urlq '* | limit 1')" -H "Host: localhost:$wport"
expect_code 200 "Host localhost"
get "/api/v1/query?q=$(urlq '* | limit 1')" -H "Host: 127.0.0.1:1"
expect_code 421 "Host with another port"
[ "$(metric flowlog_http_host_refused_total)" = 2 ] || fail "host_refused not counted"
echo "ok: Host check"

# ---- limits ----
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
get "/api/v1/query?q=$(urlq '*')" -H "X-Big: $big"
expect_code 431 "20 KB of headers"
get "/api/v1/login" -X POST --data-binary "token=$(head -c 70000 /dev/zero | tr '\0' 'b')"
expect_code 413 "a 70 KB body"
[ "$(metric flowlog_http_header_too_large_total)" = 1 ] || fail "header_too_large not counted"
[ "$(metric flowlog_http_body_too_large_total)" = 1 ] || fail "body_too_large not counted"
echo "ok: header and body limits (431, 413), counted"

# ---- a client that hangs up cancels its query ----
python3 - "$wport" <<'EOF' || fail "hang-up helper"
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server soon waits for us
s.settimeout(20)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/v1/query?q=* HTTP/1.1\r\n"
          b"Host: 127.0.0.1\r\n\r\n")
assert s.recv(1000).startswith(b"HTTP/1.1 200")
time.sleep(0.5)  # the server fills its buffer and waits for us
s.close()
EOF
for _ in $(seq 100); do
    [ "$(metric flowlog_http_canceled_total)" = 1 ] && [ "$(metric flowlog_http_clients)" = 1 ] &&
        break
    sleep 0.1
done
[ "$(metric flowlog_http_canceled_total)" = 1 ] || fail "the hang-up did not cancel the query"
[ "$(metric flowlog_http_clients)" = 1 ] || fail "the hung-up connection is still counted"
echo "ok: a client that hangs up has its query canceled"

# ---- STATS and EXPORTERS: the query server's rows ----
get "/api/v1/info"
grep -q '"collector":true' "$tmp/body" || fail "info: $(cat "$tmp/body")"
"$flowlog" -s "127.0.0.1:$qport" -f json exporters >"$tmp/want"
get "/api/v1/exporters"
expect_code 200 "exporters"
head -n -1 "$tmp/body" | cmp -s "$tmp/want" - || fail "exporters differ from flowlog's"
get "/api/v1/stats"
expect_code 200 "stats"
grep -q '^{"name":"records","value":20000}$' "$tmp/body" || fail "stats: $(head -c 300 "$tmp/body")"
echo "ok: stats and exporters are the query server's rows"

# ---- metrics ----
curl -s "http://127.0.0.1:$wport/metrics" >"$tmp/metrics"
grep -q '^flowlog_records_stored_total 20000$' "$tmp/metrics" ||
    fail "flowlog_records_stored_total: $(grep records_stored "$tmp/metrics")"
grep -q '^flowlog_records_received_total 20000$' "$tmp/metrics" ||
    fail "flowlog_records_received_total: $(grep records_received "$tmp/metrics")"
grep -q '^flowlog_exporter_records_total{exporter="127.0.0.1:[0-9]*/udp"} 20000$' "$tmp/metrics" ||
    fail "per-exporter series: $(grep exporter_records "$tmp/metrics")"
grep -q '^flowlog_decode_errors_by_reason_total{reason="version"} 0$' "$tmp/metrics" ||
    fail "decode errors by reason: $(grep by_reason "$tmp/metrics" | head -3)"
if command -v promtool >/dev/null; then
    promtool check metrics <"$tmp/metrics" || fail "promtool check metrics"
    echo "ok: promtool check metrics"
else
    echo "promtool not found (Debian prometheus): its check was not run" >&2
fi
stop_flowlogd

# ---- connections and idle time ----
cat >"$tmp/limits.conf" <<EOF
[http]
max_connections = 2
idle_timeout = 1s
EOF
start_w "$tmp/limits.conf"
python3 - "$wport" <<'EOF' || fail "connection limit helper"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
time.sleep(0.3)
c = socket.create_connection(("127.0.0.1", port), timeout=5)
c.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
try:
    got = c.recv(100)
except ConnectionResetError:
    got = b""
assert got == b"", "a third connection was served: %r" % got
t0 = time.monotonic()
a.settimeout(20)
assert a.recv(100) == b""  # closed by the server for idling
idle = time.monotonic() - t0
assert 0.3 < idle < 15, "idle close after %.1f s" % idle
EOF
sleep 1.5
[ "$(metric flowlog_http_refused_total)" -ge 1 ] || fail "refused connections not counted"
echo "ok: max_connections and idle_timeout"
stop_flowlogd

# ---- tokens ----
tok=web-token-0123456789abcdef
adm=web-admin-0123456789abcdef
cat >"$tmp/tok.conf" <<EOF
[query]
token = $tok
admin_token = $adm
EOF
start_w "$tmp/tok.conf"
get "/api/v1/query?q=$(urlq '* | limit 1')"
expect_code 401 "no token"
get "/api/v1/query?q=$(urlq '* | limit 1')" -H "Authorization: Bearer wrong-token-0123456789"
expect_code 401 "a wrong token"
get "/metrics"
expect_code 401 "metrics without a token"
get "/metrics" -H "Authorization: Bearer $tok"
expect_code 200 "metrics with the token"
grep -q '^flowlog_records_received_total 0$' "$tmp/body" ||
    fail "metrics with a token: the query server's STATS (AUTH) missing"
get "/api/v1/query?q=$(urlq '* | limit 1')" -H "Authorization: Bearer $tok"
expect_code 200 "a Bearer token"
get "/api/v1/login" -X POST --data-binary "token=nope" -D "$tmp/hdr"
expect_code 401 "a login with a wrong token"
get "/api/v1/login" -X POST --data-binary "token=$tok" -D "$tmp/hdr" -c "$tmp/jar"
expect_code 200 "a login"
grep -qi "^set-cookie: flowlog_token=.*HttpOnly; SameSite=Strict" "$tmp/hdr" ||
    fail "login cookie: $(grep -i set-cookie "$tmp/hdr")"
get "/api/v1/query?q=$(urlq '* | limit 1')" -b "$tmp/jar"
expect_code 200 "the login cookie"
get "/api/v1/flowlogs" -X POST -b "$tmp/jar" --url-query "action=create" --url-query "name=w2"
expect_code 403 "an admin POST with the plain token"
get "/api/v1/flowlogs" -X POST -H "Authorization: Bearer $adm" --url-query "action=create" \
    --url-query "name=w2"
expect_code 200 "an admin POST with the admin token"
echo "ok: tokens (Bearer, login cookie, admin POSTs)"
stop_flowlogd

: >"$tmp/flowlogd.out"
if "$flowlogd" -f -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 -w 0.0.0.0:0 \
    >"$tmp/flowlogd.out" 2>"$tmp/nl.err"; then
    fail "a non-loopback HTTP address without a token started"
fi
grep -q "not loopback: set a token" "$tmp/nl.err" || fail "non-loopback: $(cat "$tmp/nl.err")"
echo "ok: a non-loopback address needs a token"

# Without a query server there are no collector counters to ask: said, not invented.
: >"$tmp/flowlogd.out"
"$flowlogd" -f -d "$tmp/store" -l udp:127.0.0.1:0 -q "" -w 127.0.0.1:0 \
    >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
pid=$!
for _ in $(seq 100); do
    wport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$wport" ] && break
    sleep 0.1
done
get "/api/v1/info"
grep -q '"collector":false' "$tmp/body" || fail "info without a query server: $(cat "$tmp/body")"
get "/api/v1/stats"
expect_code 503 "stats without a query server"
get "/metrics"
expect_code 200 "metrics without a query server"
grep -q '^flowlog_records_stored_total ' "$tmp/body" || fail "store counters missing"
grep -q '^flowlog_records_received_total' "$tmp/body" && fail "collector counters invented"
stop_flowlogd
echo "ok: without a query server, STATS is UNAVAILABLE and /metrics has the store's counters"
echo "PASS"
