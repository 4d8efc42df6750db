#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.nfdump_diff: the same datagrams (nfsend's IPFIX and NetFlow v5, through udptee)
# go to nfcapd and to flowlogd; then every filter below runs through real nfdump on nfcapd's
# files and through `flowlog nfdump` (the NFDUMP verb) on flowlogd's store, and the answers
# must be equal: record count, packets and bytes per filter; per statistic (-s) every group's
# flows, packets and bytes (-n 0) and the top 5 by bytes in order; per aggregation (-A) the
# groups' sums; the totals of -I.
#
#   nfdump_diff.sh FLOWLOGD NFSEND STORDUMP UDPTEE FLOWLOG
#
# Flows versus records: flowlogd merges records of one key within a capture window, nfdump
# keeps each flow. nfsend's 5-tuples are unique within a run (the source address holds the
# record index), so here no two records share a key, the stores hold the same flows
# (pair_run checks it) and even counts are comparable. With real traffic, compare sums of
# packets and bytes and distinct keys; counts of flows differ by design (docs/nfdump.md).
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 udptee=$4 flowlog=$5
. "$(dirname "$0")/lib.sh"
need_peers nfcapd nfdump

# No NetFlow v9: nfcapd 1.7.1 ignores icmpTypeCodeIPv6 (139) in v9 and stores 0 as the ICMPv6
# port where flowlogd stores type * 256 + code (README.md), so port filters would differ for
# that reason alone. IPFIX twice (two seeds) and v5 instead.
feed() {
    local v seed=31 line
    for v in 10 10 5; do
        line=$("$nfsend" -p "$tee_port" -a 127.0.0.1 -v "$v" -n 3000 -r 2000 -s "$seed") ||
            return 1
        echo "v$v: $line"
        seed=$((seed + 1))
    done
}
pair_run diff feed
nfdir=$tmp/nfcapd-diff
mv "$tmp/store-diff" "$tmp/store"
start_with -w "" -l udp:127.0.0.1:0
fl() { "$flowlog" -s "127.0.0.1:$qport" nfdump "$@"; }

# "count packets bytes" of nfdump's flows for a filter, and of flowlog's -I.
nf_sum() {
    nfdump -R "$nfdir" -q -N -o 'fmt:%pkt|%byt' "$@" |
        awk -F'|' 'NF > 1 { n++; p += $1; b += $2 } END { printf "%d %.0f %.0f\n", n, p, b }'
}
fl_sum() { fl -I "$@" | awk '{ print $1, $2 == "-" ? 0 : $2, $3 == "-" ? 0 : $3 }'; }

filters=(
    'proto tcp' 'proto udp' 'proto icmp' 'proto 17' 'not proto tcp'
    'proto tcp or proto udp' 'proto tcp and not proto udp'
    'port 80' 'port 443' 'dst port 443' 'src port 53' 'dst port 53 or dst port 123'
    'dst port > 1024' 'dst port < 1024' 'src port >= 32768' 'dst port in [ 22 80 443 8080 ]'
    'port in [53, 123]' 'proto tcp and dst port 8080' 'proto udp and not dst port 53'
    'src net 10.0/16' 'src net 10.0.0.0 255.255.252.0' 'dst net 172.16.0.0/12'
    'dst net 172.20/14' 'net 172.24.0.0/13' 'src ip 10.0.0.7' 'host 10.0.1.12'
    'dst ip in [ 172.16.0.0/13 172.30.0.0/15 ]' 'src net fd00::/16' 'dst net 2001:db8::/32'
    'inet6' 'inet' 'ipv6 and proto tcp' 'ipv4 and dst port 443'
    'flags S' 'flags SA' 'flags F and not flags R' 'flags X' 'flags S and not flags AFRPU'
    'tos 16' 'tos > 8' 'bytes > 500000' 'bytes < 100k' 'packets > 500' 'packets <= 100'
    'in if 10' 'out if 5' 'if 3' 'bytes > 1m and packets < 900'
    '(proto tcp or proto udp) and (dst port 443 or dst port 53)'
    'not (src net 10.0/16 or dst port 80)' 'any' 'router ip 127.0.0.1'
    'proto tcp and (flags S or flags F) and dst port > 1000'
)
n=0 empty=0
for f in "${filters[@]}"; do
    want=$(nf_sum "$f") || fail "nfdump refused '$f'"
    got=$(fl_sum "$f") || fail "flowlog nfdump refused '$f'"
    [ "$want" = "$got" ] || fail "filter '$f': nfdump $want, flowlog $got (flows packets bytes)"
    [ "${want%% *}" != 0 ] || empty=$((empty + 1))
    n=$((n + 1))
done
[ "$empty" -le 3 ] || fail "$empty filters matched nothing: the comparison is too weak"
echo "ok: $n filters: the same flows, packets and bytes ($empty match nothing in both)"

# Statistics: "key flows packets bytes" per group from nfdump's CSV (val fl pkt byt columns).
nf_stat() {
    nfdump -R "$nfdir" -q -N -o csv "$@" | awk -F, 'NR > 1 && NF > 10 {
        gsub(/ /, "", $5); print $5, $6, $8, $10 }'
}
for s in srcip dstip srcport dstport proto tos inif outif; do
    nf_stat -s "$s/bytes" -n 0 | sort >"$tmp/nf.$s"
    fl -s "$s/bytes" -n 0 | sort >"$tmp/fl.$s"
    [ -s "$tmp/nf.$s" ] || fail "nfdump -s $s printed nothing"
    diff -u "$tmp/nf.$s" "$tmp/fl.$s" >&2 || fail "-s $s -n 0: the groups differ"
    nf_stat -s "$s/bytes" -n 5 | awk '{ print $1, $4 }' >"$tmp/nf5.$s"
    fl -s "$s/bytes" -n 5 | awk '{ print $1, $4 }' >"$tmp/fl5.$s"
    diff -u "$tmp/nf5.$s" "$tmp/fl5.$s" >&2 || fail "-s $s/bytes -n 5: the top 5 differ"
    echo "ok: -s $s: $(wc -l <"$tmp/nf.$s") groups equal, top 5 by bytes in the same order"
done
for s in dstport/packets proto/flows; do
    nf_stat -s "$s" -n 3 'proto tcp or proto udp' | awk '{ print $1 }' >"$tmp/nf3"
    fl -s "$s" -n 3 'proto tcp or proto udp' | awk '{ print $1 }' >"$tmp/fl3"
    diff -u "$tmp/nf3" "$tmp/fl3" >&2 || fail "-s $s -n 3 with a filter: the top 3 differ"
done
echo "ok: ordered by packets and flows, with a filter"

# Aggregation: -A proto,dstport: per group flows packets bytes (nfdump's aggregated flows).
# TCP and UDP only: nfdump aggregates ICMP under port "0.0" whatever the type and code, where
# flowlog keeps type * 256 + code as the port (-s dstport above agrees on ICMP).
nfdump -R "$nfdir" -q -N -A proto,dstport -o 'fmt:%pr|%dp|%fl|%pkt|%byt' 'proto tcp or proto udp' | awk -F'|' '{
    for (i = 1; i <= NF; i++) { gsub(/ /, "", $i) } print $1, $2, $3, $4, $5 }' |
    sort >"$tmp/nf.agg"
fl -A proto,dstport 'proto tcp or proto udp' | awk '{ print $1, $2, $5, $6, $7 }' | sort >"$tmp/fl.agg"
# nfdump names protocols; flowlog prints numbers.
sed -i 's/^TCP /6 /; s/^UDP /17 /; s/^ICMP6 /58 /; s/^ICMP /1 /' "$tmp/nf.agg"
diff -u "$tmp/nf.agg" "$tmp/fl.agg" >&2 || fail "-A proto,dstport: the groups differ"
echo "ok: -A proto,dstport: $(wc -l <"$tmp/nf.agg") groups equal"

# -t: a window inside the data; nfdump keeps the flows wholly inside it.
t0=$(fl -I | awk '{ print $4 }') # the earliest start, Unix seconds
lo=$(date -u -d "@$((t0 + 120))" +%Y/%m/%d.%H:%M:%S)
hi=$(date -u -d "@$((t0 + 420))" +%Y/%m/%d.%H:%M:%S)
want=$(TZ=UTC nf_sum -t "$lo-$hi" 'proto tcp')
got=$(fl_sum -t "$lo-$hi" 'proto tcp')
[ "$want" = "$got" ] || fail "-t $lo-$hi: nfdump $want, flowlog $got"
[ "${want%% *}" != 0 ] || fail "-t $lo-$hi matched nothing"
echo "ok: -t $lo-$hi: $want"

# Refusals name the token; a refused request is exit status 1 with nothing on stdout.
if fl 'src as 64512' >"$tmp/as.out" 2>"$tmp/as.err"; then fail "'src as' was accepted"; fi
grep -q "'as': AS numbers" "$tmp/as.err" || fail "'src as': $(cat "$tmp/as.err")"
[ ! -s "$tmp/as.out" ] || fail "a refused request printed rows"
echo "ok: refusals name the token"
stop_flowlogd
