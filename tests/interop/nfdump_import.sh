#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.nfdump_import: `flowlog import` brings nfcapd files into flowlogd with their own
# times. nfsend sends two days old and five days old traffic (IPFIX and v5) to nfcapd, which
# writes its files; flowlogd (IPFIX over TCP on loopback) imports one file by name and the
# rest as a directory. The store's totals must then be exactly `nfdump -I`'s (flows, packets,
# bytes, first and last seen), with no record retimed (store-time-skew, store-fanout-retimed)
# or refused as expired, and per-protocol sums must agree too.
#
#   nfdump_import.sh FLOWLOGD NFSEND STORDUMP UDPTEE FLOWLOG
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 udptee=$4 flowlog=$5
. "$(dirname "$0")/lib.sh"
need_peers nfcapd nfdump

now=$(date +%s)
start_nfcapd imp
"$nfsend" -p "$nfcapd_port" -a 127.0.0.1 -v 10 -n 3000 -r 3000 -s 41 -t $((now - 5 * 86400))
"$nfsend" -p "$nfcapd_port" -a 127.0.0.1 -v 5 -n 2000 -r 3000 -s 42 -t $((now - 2 * 86400))
drained "$nfcapd_port" nfcapd
stop_nfcapd "$nfcapd_pid"
nfdir=$tmp/nfcapd-imp
# A second store: one of its files is imported by name, next to the first store's directory.
start_nfcapd imp2
"$nfsend" -p "$nfcapd_port" -a 127.0.0.1 -v 10 -n 1500 -r 3000 -s 43 -t $((now - 3 * 86400))
drained "$nfcapd_port" nfcapd
stop_nfcapd "$nfcapd_pid"
one=$(find "$tmp/nfcapd-imp2" -name 'nfcapd.2*' | head -n 1)
[ -n "$one" ] || fail "nfcapd wrote no file"

info() { nfdump -R "$1" -I | awk -F': ' '/^(Flows|Packets|Bytes|First|Last):/ { printf "%s ", $2 }'; }
want=$(info "$nfdir")
want2=$(info "$tmp/nfcapd-imp2")

start_with -w "" -l tcp:127.0.0.1:0
"$flowlog" import --to "127.0.0.1:$tport" "$one" "$nfdir" >"$tmp/import.out" ||
    fail "flowlog import failed: $(cat "$tmp/import.out")"
cat "$tmp/import.out"
# Totals of both stores: nfdump -I's "Flows Packets Bytes First Last", summed and spanned.
read -r f1 p1 b1 s1 e1 <<<"$want"
read -r f2 p2 b2 s2 e2 <<<"$want2"
expect="$((f1 + f2)) $((p1 + p2)) $((b1 + b2)) $((s1 < s2 ? s1 : s2)) $((e1 > e2 ? e1 : e2))"
grep -q "^imported records=$((f1 + f2)) packets=$((p1 + p2)) bytes=$((b1 + b2)) skipped=0\$" \
    "$tmp/import.out" || fail "import read other totals than nfdump -I: $expect"
got=
for _ in $(seq 100); do # until the last commit holds everything
    got=$("$flowlog" -s "127.0.0.1:$qport" nfdump -I)
    [ "$got" = "$expect" ] && break
    sleep 0.2
done
[ "$got" = "$expect" ] ||
    fail "nfdump -I: $expect (flows packets bytes first last); the store: $got"
echo "ok: the store holds exactly what nfdump -I counts: $got"
for c in store-time-skew store-fanout-retimed store-expired; do
    [ "$(stat_of "$c")" = 0 ] || fail "$c is $(stat_of "$c"): records were retimed or refused"
done
echo "ok: no record retimed or refused"
for d in "$nfdir" "$tmp/nfcapd-imp2"; do nfdump -R "$d" -q -N -s proto/bytes -n 0 -o csv; done |
    awk -F, '$1 != "ts" && NF > 10 { gsub(/ /, "", $5); p[$5] += $8; b[$5] += $10 }
             END { for (k in p) print k, p[k], b[k] }' | sort >"$tmp/nf.proto"
"$flowlog" -s "127.0.0.1:$qport" nfdump -s proto/bytes -n 0 | awk '{ print $1, $3, $4 }' |
    sort >"$tmp/fl.proto"
diff -u "$tmp/nf.proto" "$tmp/fl.proto" >&2 || fail "per-protocol sums differ"
echo "ok: per-protocol packets and bytes equal"
stop_flowlogd
