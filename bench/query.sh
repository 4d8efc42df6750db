#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/query.sh: flowlog queries against nfdump on the same records (issue 5, "Speed").
#
# nfsend generates N deterministic records (seed fixed; IPv4 and IPv6, TCP/UDP/ICMP, end
# times two hours ago so that flowlogd's windows seal and get block summaries) and sends the
# same stream, as IPFIX over UDP to 127.0.0.1 only, once to nfcapd and once to flowlogd. Both
# are stopped with SIGTERM (each commits), then flowlogd is restarted on its store with only a
# query listener and the same questions are timed on both, REPEAT times each (median):
#
#   1. selective address filter   srcaddr:10.0.48.0/24          src net 10.0.48.0/24
#   2. port + protocol filter      dstport:443 and protocol:tcp  dst port 443 and proto tcp
#   3. top 10 by bytes             * | top 10 dstport by bytes   -s dstport/bytes -n 10
#   4. aggregation by two fields   * | stats count, sum(bytes)   -A dstport,proto
#                                    by dstport, protocol
#   5. all records as JSON lines   -f json *                     -o json
#   6. the issue-12 questions: top 10 dstaddr, top 10 dstport by flows, stats by protocol,
#      stats sum(bytes), top 10 srcaddr, dstaddr, timechart 1m by protocol (server ms printed)
#
# nfdump runs as `nfdump -R DIR -q -N ...` with its output to /dev/null; flowlog's side is
# bench_query over TCP (request to the last byte of the answer). Prints the times, records/s
# (over the N records) and the ratio nfdump time / flowlog time (> 1: flowlog is faster).
#
#   BUILD=build-rel N=2000000 REPEAT=3 bench/query.sh
#
# Needs nfcapd and nfdump (apt-get install nfdump).
set -eu

BUILD=${BUILD:-build}
N=${N:-2000000}
REPEAT=${REPEAT:-3}
RATE=${RATE:-10000} # messages/s (about 20 records each)
NFSEND=$BUILD/tests/nfsend
FLOWLOGD=$BUILD/collector/flowlogd
BQ=$BUILD/bench/bench_query
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-query.XXXXXX")
PIDS=

cleanup() {
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for b in "$NFSEND" "$FLOWLOGD" "$BQ"; do
    [ -x "$b" ] || { echo "no $b: build first (cmake --build $BUILD)" >&2; exit 1; }
done
command -v nfcapd >/dev/null && command -v nfdump >/dev/null ||
    { echo "nfcapd/nfdump missing: apt-get install nfdump" >&2; exit 1; }

START=$(($(date +%s) - 7200))
PORT=$((20000 + $$ % 20000))

# stop PID: SIGTERM and wait.
stop() {
    kill -TERM "$1"
    wait "$1" || true
    PIDS=$(echo "$PIDS" | sed "s/\b$1\b//")
}

# listening_port FILE PROTO: the port from a "listening PROTO 127.0.0.1:PORT" line (5 s).
listening_port() {
    i=0
    while [ $i -lt 50 ]; do
        p=$(sed -n "s/^listening $2 127\\.0\\.0\\.1:\\([0-9]*\\)\$/\\1/p" "$1")
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    echo "no 'listening $2' line in $1" >&2
    return 1
}

echo "== loading $N records (nfsend seed 7, end times from $START) into nfcapd and flowlogd"
mkdir -p "$TMP/nf" "$TMP/store"
nfcapd -w "$TMP/nf" -p "$PORT" -b 127.0.0.1 -B 8388608 -t 3600 >"$TMP/nfcapd.log" 2>&1 &
NPID=$!
PIDS="$PIDS $NPID"
sleep 1
"$NFSEND" -p "$PORT" -a 127.0.0.1 -n "$N" -r "$RATE" -s 7 -t "$START"
sleep 1
stop "$NPID"
NF_FLOWS=$(nfdump -R "$TMP/nf" -I | sed -n 's/^Flows: //p')

"$FLOWLOGD" -f -d "$TMP/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 >"$TMP/fl.out" 2>"$TMP/fl.err" &
FPID=$!
PIDS="$PIDS $FPID"
UPORT=$(listening_port "$TMP/fl.out" udp)
QPORT=$(listening_port "$TMP/fl.out" query)
"$NFSEND" -p "$UPORT" -a 127.0.0.1 -n "$N" -r "$RATE" -s 7 -t "$START"
# Until every window is sealed (blocks with summaries), at most 60 s.
i=0
while [ $i -lt 120 ]; do
    open=$("$BUILD/client/flowlog" -s "127.0.0.1:$QPORT" windows | awk '$4 == "open"' | wc -l)
    [ "$open" = 0 ] && break
    sleep 0.5
    i=$((i + 1))
done
stop "$FPID"
"$FLOWLOGD" -f -d "$TMP/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 >"$TMP/fl2.out" 2>>"$TMP/fl.err" &
FPID=$!
PIDS="$PIDS $FPID"
QPORT=$(listening_port "$TMP/fl2.out" query)
FL_FLOWS=$("$BUILD/client/flowlog" -s "127.0.0.1:$QPORT" query '* | stats count')
echo "nfcapd stored $NF_FLOWS flows; flowlogd stored $FL_FLOWS records ($open windows still open)"

# median of REPEAT runs of a command, in seconds
time_nfdump() {
    for _ in $(seq "$REPEAT"); do
        t0=$(date +%s.%N)
        nfdump -R "$TMP/nf" -q -N "$@" >/dev/null
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc -l
    done | sort -n | sed -n "$(((REPEAT + 1) / 2))p"
}

row() { # NAME NFDUMP_S FLOWLOG_LINE
    fl=$(echo "$3" | sed -n 's/.*median_s=\([0-9.]*\).*/\1/p')
    rows=$(echo "$3" | sed -n 's/^rows=\([0-9]*\).*/\1/p')
    sms=$(echo "$3" | sed -n 's/.*server_ms=\([0-9-]*\).*/\1/p')
    if [ -z "$fl" ]; then # the query failed (bench_query printed why)
        printf '%-28s %10.3f %10s\n' "$1" "$2" failed
        return 0
    fi
    printf '%-28s %10.3f %10.3f %10.2f %10.2f %8.1fx %9s %9s\n' "$1" "$2" "$fl" \
        "$(echo "$N / $2 / 1000000" | bc -l)" "$(echo "$N / $fl / 1000000" | bc -l)" \
        "$(echo "$2 / $fl" | bc -l)" "$rows" "$sms"
}

echo
printf '%-28s %10s %10s %10s %10s %9s %9s %9s\n' case nfdump_s flowlog_s nfd_Mrec/s fl_Mrec/s \
    ratio fl_rows server_ms
row "selective address filter" "$(time_nfdump 'src net 10.0.48.0/24')" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" 'srcaddr:10.0.48.0/24')"
row "port + protocol filter" "$(time_nfdump 'dst port 443 and proto tcp')" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" 'dstport:443 and protocol:tcp')"
row "top 10 by bytes" "$(time_nfdump -s dstport/bytes -n 10)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | top 10 dstport by bytes')"
row "aggregation by two fields" "$(time_nfdump -A dstport,proto)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | stats count, sum(bytes) by dstport, protocol')"
row "top 10 dstaddr by bytes" "$(time_nfdump -s dstip/bytes -n 10)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | top 10 dstaddr by bytes')"
row "top 10 dstport by flows" "$(time_nfdump -s dstport/flows -n 10)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | top 10 dstport by flows')"
row "count, bytes by protocol" "$(time_nfdump -A proto)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | stats count, sum(bytes) by protocol')"
row "sum(bytes) (nfdump: -I)" "$(time_nfdump -I)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | stats sum(bytes)')"
row "top 10 src, dst by bytes" "$(time_nfdump -A srcip,dstip -O bytes -n 10)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | top 10 srcaddr, dstaddr by bytes')"
row "timechart 1m by protocol" "$(time_nfdump -A proto)" \
    "$("$BQ" -p "$QPORT" -n "$REPEAT" '* | timechart 1m sum(bytes) by protocol')"
row "all records as JSON lines" "$(time_nfdump -o json)" \
    "$("$BQ" -p "$QPORT" -f json -n "$REPEAT" '*')"
echo "(ratio = nfdump time / flowlog time; Mrec/s = $N records / time; server_ms = the server's"
echo " median OK ... ms; timechart: nfdump has none, -A proto is its nearest aggregation)"
