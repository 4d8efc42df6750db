#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.collector_softflowd: softflowd reads the plain traffic captures of the shared corpus
# (captures/traffic/*.pcap) and exports NetFlow v5, v9 and IPFIX, through udptee, to flowlogd
# and to nfcapd; for each version both must store the same flows, packets and bytes.
#
#   collector_softflowd.sh FLOWLOGD STORDUMP UDPTEE CAPTURES_DIR
#
# One flowlogd and one nfcapd per version: the three exports describe the same flows, which
# flowlogd would rightly merge within a capture window. softflowd keeps the capture's own
# timestamps (years ago), so flowlogd files the flows into old windows, as it must.
set -euo pipefail
flowlogd=$1 stordump=$2 udptee=$3 captures=$4
. "$(dirname "$0")/lib.sh"
need_peers nfcapd nfdump softflowd
pcaps=("$captures"/traffic/*.pcap)
[ -e "${pcaps[0]}" ] || { echo "SKIP: no captures in $captures/traffic"; exit 77; }

# feed VERSION: one softflowd run per capture (reading a file, it exports everything at the
# end and exits). -p: it removes its pid file on exit, default /var/run/softflowd.pid.
feed() {
    local f v6=()
    [ "$1" = 5 ] || v6=(-6)
    for f in "${pcaps[@]}"; do
        softflowd -r "$f" -n "127.0.0.1:$tee_port" -v "$1" "${v6[@]}" \
            -p "$tmp/softflowd.pid" >>"$tmp/softflowd.log" 2>&1 || return 1
    done
    # "Flows exported: 1 (2 records) in 1 packets (0 failures)": a flow is both directions.
    sf_records=$(sed -n 's/^Flows exported: [0-9]* (\([0-9]*\) records).*(0 failures)$/\1/p' \
        "$tmp/softflowd.log" | awk '{ n += $1 } END { print n + 0 }')
    echo "softflowd -v $1: $(grep -c '^Flows exported' "$tmp/softflowd.log") runs," \
        "$sf_records records exported"
    : >"$tmp/softflowd.log"
}

for v in 5 9 10; do
    pair_run "softflowd-v$v" feed "$v"
    got=$(totals "$tmp/softflowd-v$v.flowlogd")
    [ "${got%% *}" = "$sf_records" ] ||
        fail "softflowd -v $v exported $sf_records records, the stores hold $got"
done
