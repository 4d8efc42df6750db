#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.http_tail: GET /api/v1/tail (Server-Sent Events) against a real flowlogd on 127.0.0.1
# (ephemeral ports), fed by nfsend.
#
#   tail.sh FLOWLOGD NFSEND FLOWLOG
#
# A tail opened before the records arrive gives exactly the rows `flowlog -f json query` gives
# for the same filter (as a set; byte for byte per row), each once, with distinct ids; a
# reconnect with Last-Event-ID gives exactly the rows after that id; runs committed while no
# tail was open are reported by an `event: dropped` on resume, never repeated; a query with a
# stage other than `fields` and a bad query are 400 PARSE with their column; the 17th tail is
# refused (503) and counted, as are the dropped runs, in /metrics.
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/../e2e/lib.sh"

command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }

mkdir -p "$tmp/store"
: >"$tmp/flowlogd.out"
"$flowlogd" -f -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 -w 127.0.0.1:0 \
    >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
pid=$!
for _ in $(seq 100); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    wport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$port" ] && [ -n "$qport" ] && [ -n "$wport" ] && break
    kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
    sleep 0.1
done
[ -n "$wport" ] || fail "flowlogd printed no listening lines"
base="http://127.0.0.1:$wport"
urlq() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
metric() { curl -s "$base/metrics" | sed -n "s/^$1 //p"; }
filter='dstport = 53 or protocol = 17'
tailurl="$base/api/v1/tail?q=$(urlq "$filter")"

# tail_open NAME [curl args]: a tail in the background, its stream in $tmp/NAME.
tail_open() {
    local name=$1
    shift
    curl -sN "$@" "$tailurl" >"$tmp/$name" &
    for _ in $(seq 100); do
        grep -q '^: tail from' "$tmp/$name" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "tail $name did not start: $(head -c 300 "$tmp/$name")"
}
rows_of() { sed -n 's/^data: //p' "$1" | grep '^{"version"' || true; }

tail_open a
apid=$!
"$nfsend" -p "$port" -n 3000 -s 7 >/dev/null || fail "nfsend failed"
"$flowlog" -s "127.0.0.1:$qport" -f json query "$filter" >"$tmp/want" 2>/dev/null || true
for _ in $(seq 150); do
    # The total first: once it is 3000, the filter's rows read after it are all of them (a
    # commit landing between the two reads left want at 0 with the total complete).
    total=$("$flowlog" -s "127.0.0.1:$qport" -f json query '* | stats count' | grep -o '[0-9]*' || true)
    "$flowlog" -s "127.0.0.1:$qport" -f json query "$filter" >"$tmp/want"
    want=$(wc -l <"$tmp/want")
    [ "$total" = 3000 ] && [ "$(rows_of "$tmp/a" | wc -l)" -ge "$want" ] && break
    sleep 0.2
done
[ "$total" = 3000 ] || fail "3000 records not stored ($total)"
[ "$want" -gt 50 ] || fail "the filter matches too few records ($want) to test"
sleep 0.5
rows_of "$tmp/a" | sort >"$tmp/got.sorted"
sort "$tmp/want" >"$tmp/want.sorted"
cmp -s "$tmp/want.sorted" "$tmp/got.sorted" ||
    fail "tail rows differ from the query's: $(wc -l <"$tmp/got.sorted") vs $want"
ids=$(grep -c '^id: ' "$tmp/a")
[ "$ids" = "$want" ] || fail "$ids ids for $want rows"
[ "$(grep '^id: ' "$tmp/a" | sort -u | wc -l)" = "$want" ] || fail "an id repeats"
grep -q '^event: dropped' "$tmp/a" && fail "a tail open all along reported drops"
echo "ok: the tail gave the query's $want rows, each once"

# ---- Last-Event-ID resumes after that row ----
id10=$(grep '^id: ' "$tmp/a" | sed -n '10s/^id: //p')
curl -sN --max-time 2 -H "Last-Event-ID: $id10" "$tailurl" >"$tmp/b" || true
rows_of "$tmp/b" >"$tmp/b.rows"
rows_of "$tmp/a" | tail -n +11 >"$tmp/a.after"
cmp -s "$tmp/a.after" "$tmp/b.rows" ||
    fail "resume after $id10: $(wc -l <"$tmp/b.rows") rows, wanted $(wc -l <"$tmp/a.after")"
echo "ok: Last-Event-ID resumes after its row, nothing twice"

# ---- the 17th tail is refused; a client that hangs up is forgotten at once ----
for _ in $(seq 20); do
    [ "$(metric flowlog_http_tail_clients)" = 1 ] && break
    sleep 0.1
done
[ "$(metric flowlog_http_tail_clients)" = 1 ] || fail "a tail that hung up is still counted"
pids=()
for i in $(seq 15); do
    tail_open "c$i"
    pids+=($!)
done
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$tailurl") || true
[ "$code" = 503 ] || fail "the 17th tail: HTTP $code, wanted 503"
grep -q '"code":"LIMIT"' "$tmp/body" || fail "17th tail: $(cat "$tmp/body")"
[ "$(metric flowlog_http_tail_refused_total)" = 1 ] || fail "tail_refused not counted"
[ "$(metric flowlog_http_tail_clients)" = 16 ] || fail "tail_clients: $(metric flowlog_http_tail_clients)"
kill "${pids[@]}" "$apid" 2>/dev/null || true
wait "${pids[@]}" "$apid" 2>/dev/null || true
echo "ok: at most 16 tails, the 17th refused and counted"

# ---- runs committed while no tail was open: dropped on resume, never repeated ----
for _ in $(seq 20); do
    [ "$(metric flowlog_http_tail_clients)" = 0 ] && break
    sleep 0.1
done
[ "$(metric flowlog_http_tail_clients)" = 0 ] || fail "tails still counted after their clients left"
last=$(grep '^id: ' "$tmp/a" | tail -n 1 | sed 's/^id: //')
"$nfsend" -p "$port" -n 1000 -s 8 >/dev/null || fail "nfsend failed"
for _ in $(seq 100); do
    total=$("$flowlog" -s "127.0.0.1:$qport" -f json query '* | stats count' | grep -o '[0-9]*' || true)
    [ "$total" = 4000 ] && break
    sleep 0.2
done
curl -sN --max-time 2 -H "Last-Event-ID: $last" "$tailurl" >"$tmp/d" || true
grep -A1 '^event: dropped' "$tmp/d" | grep -q '^data: {"runs":[1-9]' ||
    fail "no dropped event on resume: $(head -c 300 "$tmp/d")"
[ "$(rows_of "$tmp/d" | wc -l)" = 0 ] || fail "rows not kept were given anyway"
[ "$(metric flowlog_http_tail_dropped_total)" -ge 1 ] || fail "tail_dropped not counted"
echo "ok: runs not kept are reported dropped"

# ---- errors ----
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/api/v1/tail?q=$(urlq 'dstport ==')") || true
[ "$code" = 400 ] && grep -q '"code":"PARSE".*"col":11' "$tmp/body" ||
    fail "bad query: HTTP $code $(cat "$tmp/body")"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/api/v1/tail?q=$(urlq '* | sort bytes')") || true
[ "$code" = 400 ] && grep -q '"col":5' "$tmp/body" || fail "tail with sort: HTTP $code $(cat "$tmp/body")"
echo "ok: errors with their column"
stop_flowlogd
