#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.mutated: random and mutated datagrams at speed. flowlogd must stay up, count what it
# cannot decode, stop cleanly on SIGTERM, and store every record of the good exporters that
# send to it at the same time.
#
#   mutated.sh FLOWLOGD NFSEND STORDUMP DGRAMFUZZ
#   environment: FLOWLOG_FUZZ_RATE (datagrams/s, default 20000), FLOWLOG_FUZZ_SEED (4242),
#                FLOWLOG_FUZZ_KINDS (dgramfuzz -k; default below, "all" for every kind)
#
# dgramfuzz (seeded, so a failure can be replayed) sends from 127.0.0.1 for 3 s at 20000
# datagrams per second: mutated v5/v9/IPFIX messages (truncated; header length or count, set
# lengths, template ids set to edge values), pure random bytes and some untouched messages.
# Mutations that still decode into records with arbitrary times (bitflip, count, body,
# randver, splice) once opened a storage partition per hour of end time, thousands in
# seconds; flowlogd now stores records with implausible times at their receive time
# (docs/storage.md), so they are in the default mix. Meanwhile
# three nfsend runs (IPFIX, v9, v5) send from 127.0.0.2, a different exporter address, so their
# templates and sequence numbers are their own. Checked afterwards:
#   - flowlogd never exited, read everything queued, and the kernel dropped nothing on its
#     socket (otherwise the totals could not be exact: the test says so and fails);
#   - SIGTERM: exit 0 within 5 s (stop_flowlogd);
#   - its counter line: every datagram counted (empty ones too), decode errors
#     counted for the fuzzing exporter, none for the good ones, and the good exporters' record
#     counts equal what nfsend sent;
#   - the store holds exactly the records, packets and bytes the good exporters sent
#     (stordump -e 127.0.0.2). Mutated records that still decode are stored too, under
#     127.0.0.1; their sources (192.168/16, fd01::/64) never collide with nfsend's.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 dgramfuzz=$4
. "$(dirname "$0")/lib.sh"
rate=${FLOWLOG_FUZZ_RATE:-20000} seed=${FLOWLOG_FUZZ_SEED:-4242}
kinds=${FLOWLOG_FUZZ_KINDS:-all}
[ "$kinds" = all ] &&
    kinds=valid,bitflip,truncate,hdrlen,setlen,tmplid,count,body,random,randver,splice

# "QUEUE DROPS" of the UDP socket on 127.0.0.1:PORT (queue in bytes, decimal).
udp_queue() {
    local q
    q=$(awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a { split($5, q, ":"); print q[2], $NF }' \
        /proc/net/udp 2>/dev/null || true)
    [ -n "$q" ] && echo "$((16#${q%% *})) ${q##* }"
}

# field NAME TEXT: the number after the first "NAME=" in TEXT.
field() {
    echo "$2" | grep -o "[ :]$1=[0-9][0-9]*" | head -n 1 | sed 's/^.*=//'
}

start_flowlogd udp
want_r=0 want_p=0 want_b=0 want_msgs=0
good=()
seeds=(31 32 33)
vers=(10 9 5)
for i in 0 1 2; do
    "$nfsend" -p "$port" -a 127.0.0.1 -b 127.0.0.2 -v "${vers[$i]}" -n 3000 -r 40 \
        -s "${seeds[$i]}" >"$tmp/nfsend.$i" 2>&1 &
    good+=($!)
done
fuzz=$("$dgramfuzz" -p "$port" -a 127.0.0.1 -b 127.0.0.1 -s "$seed" -d 3 -r "$rate" \
    -k "$kinds") || fail "dgramfuzz failed"
echo "dgramfuzz -s $seed -r $rate -k $kinds: $fuzz"
for i in 0 1 2; do
    wait "${good[$i]}" || fail "nfsend -v ${vers[$i]} failed: $(cat "$tmp/nfsend.$i")"
    line=$(cat "$tmp/nfsend.$i")
    echo "good v${vers[$i]} from 127.0.0.2: $line"
    read -r r p b < <(totals_of "$line")
    want_r=$((want_r + r)) want_p=$((want_p + p)) want_b=$((want_b + b))
    want_msgs=$((want_msgs + $(field messages "$line")))
done
kill -0 "$pid" 2>/dev/null || fail "flowlogd died under malformed input"

queue=1 drops=0
for _ in $(seq 100); do
    read -r queue drops < <(udp_queue "$port"; echo) || true
    [ "${queue:-0}" = 0 ] && break
    sleep 0.1
done
[ "${queue:-0}" = 0 ] || fail "flowlogd left $queue bytes unread on its socket for 10 s"
[ "${drops:-0}" = 0 ] ||
    fail "the kernel dropped $drops datagrams on flowlogd's socket: it did not keep up with" \
        "$rate malformed datagrams/s, so good ones may be lost too"
kill -0 "$pid" 2>/dev/null || fail "flowlogd died under malformed input"
stop_flowlogd

stats=$(grep 'stats: datagrams=' "$tmp/flowlogd.err" | tail -n 1)
[ -n "$stats" ] || fail "no 'stats:' counter line from flowlogd at exit"
sent=$(field datagrams "$fuzz") empty=$(field empty "$fuzz")
got=$(field datagrams "$stats") errors=$(field decode-errors "$stats")
# Empty datagrams count too (the decoder calls them short).
[ "$got" -eq $((sent + want_msgs)) ] ||
    fail "flowlogd counted $got datagrams; sent $sent malformed ($empty empty) + $want_msgs good"
[ "${errors:-0}" -gt 0 ] || fail "no decode error counted: $stats"
echo "ok: flowlogd counted $got datagrams, $errors decode errors"

# The exporters in the line: " | ADDR:PORT/udp vN datagrams=.. records=.. bytes=.. errors=..".
echo "$stats" | tr '|' '\n' | sed -n 's/^ *\(127\.0\.0\.[12]\):[0-9]*\/udp .* records=\([0-9]*\) .* errors=\([0-9]*\).*$/\1 \2 \3/p' \
    >"$tmp/exporters"
read -r good_n good_recs good_errs < <(awk '$1 == "127.0.0.2" { n++; r += $2; e += $3 }
    END { print n + 0, r + 0, e + 0 }' "$tmp/exporters")
fuzz_errs=$(awk '$1 == "127.0.0.1" { e += $3 } END { print e + 0 }' "$tmp/exporters")
[ "$good_n" = 3 ] || fail "expected the 3 good exporters in the counter line: $stats"
[ "$good_errs" = 0 ] || fail "decode errors counted for the good exporters: $stats"
[ "$good_recs" = "$want_r" ] ||
    fail "the good exporters sent $want_r records, flowlogd decoded $good_recs: $stats"
[ "$fuzz_errs" -gt 0 ] || fail "no decode error counted for the fuzzing exporter: $stats"
echo "ok: good exporters: $good_recs records decoded, no error; fuzzing exporter: $fuzz_errs errors"

got=$("$stordump" -e 127.0.0.2 "$tmp/store") || fail "stordump failed"
[ "$(totals_of "$got")" = "$want_r $want_p $want_b" ] ||
    fail "the good exporters sent $want_r $want_p $want_b (records packets bytes), the store" \
        "has: $got (flowlogd: $stats)"
echo "ok: the store holds the good exporters' $want_r $want_p $want_b (records packets bytes)"
