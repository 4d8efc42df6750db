#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.collector_nfreplay: nfreplay replays an nfcapd file as NetFlow v9 and as v5, through
# udptee, into flowlogd and into a second nfcapd; for each version both must store the same
# flows, packets and bytes.
#
#   collector_nfreplay.sh FLOWLOGD NFSEND STORDUMP UDPTEE
#
# The file is made here: nfsend sends 3000 IPFIX records (IPv4 and IPv6, unique 5-tuples) to a
# first nfcapd. nfreplay 1.7.1 sends v5 or v9 only ("Accept only 5 or 9"), and v5 carries
# IPv4 only, so nfreplay leaves the IPv6 flows out of the v5 replay, for both collectors alike.
# One flowlogd and one nfcapd per version: the two replays describe the same flows.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 udptee=$4
. "$(dirname "$0")/lib.sh"
need_peers nfcapd nfdump nfreplay

start_nfcapd source
srcpid=$nfcapd_pid
line=$("$nfsend" -p "$nfcapd_port" -a 127.0.0.1 -v 10 -n 3000 -r 2000 -s 41) ||
    fail "nfsend failed"
echo "source: $line"
drained "$nfcapd_port" nfcapd
stop_nfcapd "$srcpid"
files=("$tmp"/nfcapd-source/nfcapd.[0-9]*)
[ -e "${files[0]}" ] || fail "nfcapd wrote no file"
src=$(totals <(nfcapd_flows "$tmp/nfcapd-source"))
[ "$src" = "$(totals_of "$line")" ] ||
    fail "nfsend sent $(totals_of "$line"), the source nfcapd stored $src"

# feed VERSION: replay every file of the source nfcapd (one, unless an hour boundary passed).
feed() {
    local f
    for f in "${files[@]}"; do
        nfreplay -r "$f" -H 127.0.0.1 -p "$tee_port" -v "$1" >>"$tmp/nfreplay.log" 2>&1 ||
            return 1
    done
}

for v in 9 5; do
    pair_run "nfreplay-v$v" feed "$v"
done
# v9 carries every flow of the file, so the replayed totals are the source's.
got=$(totals "$tmp/nfreplay-v9.flowlogd")
[ "$got" = "$src" ] || fail "the file holds $src (flows packets bytes), the v9 replay stored $got"
echo "ok: the v9 replay stored every flow of the file"
