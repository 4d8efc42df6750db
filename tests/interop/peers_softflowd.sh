#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.peers_softflowd_MODE: softflowd 1.1.0's export modes that collector_softflowd.sh
# (v5, v9, IPFIX) does not cover, over the traffic captures merged in time order, through
# udptee, into flowlogd and nfcapd:
#
#   biflow  IPFIX with RFC 5103 biflow records (-v 10 -b): one record per connection, the
#           answer's counters in reverse IEs (PEN 29305). Both must store the same flows and the
#           same forward packets and bytes (lib.sh's compare; nfdump's %pkt/%byt are the
#           forward counters). nfcapd also keeps the reverse counters (%opkt/%obyt); flowlogd
#           keeps them only as raw IEs, outside packets and bytes: printed, see README.md.
#   psamp   PSAMP packet reports (-v psamp, RFC 5476): one record per sampled packet, carrying
#           the frame (dataLinkFrameSection) and no flow key or counter. flowlogd stores one
#           record per packet of the capture, with its IEs raw; nfcapd stores none.
#   v1      NetFlow v1: both must store the same flows, packets and bytes (lib.sh's compare),
#           and as many flows as softflowd says it exported.
#
#   peers_softflowd.sh FLOWLOGD STORDUMP UDPTEE CAPTURES_DIR MODE
set -euo pipefail
flowlogd=$1 stordump=$2 udptee=$3 captures=$4 mode=$5
. "$(dirname "$0")/peers_lib.sh"
need_peers softflowd nfcapd nfdump
need_captures "$captures"
merged_traffic "$captures"

case $mode in
biflow) args=(-v 10 -b -6) ;;
psamp) args=(-v psamp -6) ;;
v1) args=(-v 1) ;;
*) fail "unknown mode $mode" ;;
esac

# feed: softflowd reads the whole capture, exports everything at its end and exits (no -c:
# with a control socket, 1.1.0 -r waits in accept()). -p: not /var/run/softflowd.pid.
feed() {
    softflowd -r "$tmp/traffic.pcap" -n "127.0.0.1:$tee_port" "${args[@]}" \
        -p "$tmp/softflowd.pid" >"$tmp/softflowd.log" 2>&1 || return 1
    sf_records=$(sed -n 's/^Flows exported: [0-9]* (\([0-9]*\) records).*(0 failures)$/\1/p' \
        "$tmp/softflowd.log")
    echo "softflowd ${args[*]}: $sf_records records exported"
}

label=softflowd-$mode
# PSAMP sends one datagram per packet in a burst (457 here): nfcapd's default receive buffer
# drops half of them, so every nfcapd of this script gets 8 MB.
nfcapd_rcvbuf 8388608

if [ "$mode" = v1 ]; then
    pair_run "$label" feed
    got=$(totals "$tmp/$label.flowlogd")
    [ "${got%% *}" = "$sf_records" ] && [ "$sf_records" -gt 0 ] ||
        fail "$label: softflowd exported $sf_records records, the stores hold $got"
    echo "ok: $label: both stored the $sf_records records softflowd exported"
    exit 0
fi

if [ "$mode" = biflow ]; then
    pair_run "$label" feed
    rev=$(nfdump -R "$tmp/nfcapd-$label" -q -N -6 -o 'fmt:%opkt|%obyt' |
        awk -F'|' '{ p += $1; b += $2 } END { printf "%.0f %.0f\n", p, b }')
    [ "$rev" != "0 0" ] || fail "$label: no reverse counters in nfcapd: not a biflow export"
    echo "note: $label: reverse packets and bytes $rev are in nfcapd's out counters;" \
        "flowlogd keeps them as raw IEs (PEN 29305) outside its packets and bytes"
    exit 0
fi

# psamp: nfcapd stores nothing, so pair_run's comparison does not apply.
start_flowlogd udp
start_nfcapd "$label"
ncpid=$nfcapd_pid ncport=$nfcapd_port
start_tee "$port" "$ncport"
feed || fail "$label: softflowd failed: $(tail -n 5 "$tmp/softflowd.log")"
stop_tee
drained "$port" flowlogd
drained "$ncport" nfcapd
stop_flowlogd
stop_nfcapd "$ncpid"
stored=$("$stordump" "$tmp/store") || fail "stordump failed"
# Every packet of the capture is reported (softflowd samples 1 in 1 by default).
pkts=$(tshark -r "$tmp/traffic.pcap" -T fields -e frame.number 2>/dev/null | wc -l)
[ "$sf_records" = 0 ] || fail "$label: softflowd counts $sf_records flow records in PSAMP mode"
[ "$(totals_of "$stored")" = "$pkts 0 0" ] ||
    fail "$label: the capture has $pkts packets, flowlogd stored $stored"
# nfdump -I: with no flow at all, nfcapd may leave no file and the flow list a message.
nf=$(nfdump -R "$tmp/nfcapd-$label" -I 2>/dev/null | sed -n 's/^Flows: //p' || true)
[ "${nf:-0}" = 0 ] || fail "$label: nfcapd stored $nf flows from PSAMP reports"
echo "ok: $label: flowlogd stored one record per packet ($pkts, no counters), nfcapd none"
