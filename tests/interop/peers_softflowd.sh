#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.peers_softflowd_MODE: softflowd 1.1.0's export modes that collector_softflowd.sh
# (v5, v9, IPFIX) does not cover, over the traffic captures merged in time order, through
# udptee, into flowlogd and nfcapd:
#
#   biflow  IPFIX with RFC 5103 biflow records (-v 10 -b): one record per connection, the
#           answer's counters in reverse IEs (PEN 29305). nfcapd keeps one flow with in and out
#           counters (%ipkt/%ibyt, %opkt/%obyt); flowlogd stores the answer as a second record
#           with the key swapped. nfcapd's flows are therefore listed as their forward half plus,
#           when it carried traffic, the reverse half (key swapped), and then compared as
#           lib.sh compares: totals and per-5-tuple packets and bytes equal.
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
    # nfcapd's flows as one-direction halves, in lib.sh's list format (ICMP type.code as
    # TYPE * 256 + CODE; the reverse half keeps the forward's, which per_key leaves out).
    nfdump -R "$tmp/nfcapd-$label" -q -N -6 \
        -o 'fmt:%pr|%sa|%da|%sp|%dp|%ipkt|%ibyt|%opkt|%obyt|%ter' | awk -F'|' '{
            for (i = 1; i <= NF; i++) { gsub(/ /, "", $i) }
            if ($5 ~ /\./) { split($5, t, "."); $5 = t[1] * 256 + t[2] }
            w = int($10 / 600)
            printf "%s %s %s %s %s %s %s %d\n", $1, $2, $3, $4, $5, $6, $7, w
            if ($8 > 0 || $9 > 0) printf "%s %s %s %s %s %s %s %d\n", $1, $3, $2, $5, $4, $8, $9, w
        }' >"$tmp/$label.nfcapd"
    flowlogd_flows "$tmp/store" >"$tmp/$label.flowlogd"
    want=$(totals "$tmp/$label.nfcapd")
    got=$(totals "$tmp/$label.flowlogd")
    per_key "$tmp/$label.nfcapd" >"$tmp/$label.nfcapd.keys"
    per_key "$tmp/$label.flowlogd" >"$tmp/$label.flowlogd.keys"
    if ! diff -u "$tmp/$label.nfcapd.keys" "$tmp/$label.flowlogd.keys" >"$tmp/$label.diff" ||
        [ "$want" != "$got" ]; then
        head -n 20 "$tmp/$label.diff" >&2
        fail "$label: nfcapd's halves $want, flowlogd $got (flows packets bytes)"
    fi
    fwd=$(nfdump -R "$tmp/nfcapd-$label" -I | sed -n 's/^Flows: //p')
    echo "ok: $label: nfcapd's $fwd biflows are $want (halves packets bytes), as flowlogd stored"
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
