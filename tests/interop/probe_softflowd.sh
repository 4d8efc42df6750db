#!/bin/bash
# SPDX-License-Identifier: MIT
# flowprobe against softflowd -r on the same capture (the traffic captures merged in time
# order) with the same (long) timeouts, both exporting IPFIX to their own nfcapd: the same
# flows (protocol, addresses, ports) with the same packet counts. Bytes differ by one
# principled amount: softflowd counts the frame minus the Ethernet header, so the padding of
# short Ethernet frames is counted as IP bytes; flowprobe counts the IP length (RFC 7012
# octetDeltaCount). The test checks the difference is exactly that padding (docs/probe.md).
# usage: probe_softflowd.sh FLOWPROBE PROBE_UDPCAP CAPTURES_DIR
set -eu
flowprobe=$1 udpcap=$2 captures=$3
. "$(dirname "$0")/probe_lib.sh"
need_peers nfcapd nfdump tshark mergecap softflowd softflowctl
need_captures "$captures"
merged_traffic "$captures"
long=100000

start_nfcapd fp
"$flowprobe" -r "$tmp/traffic.pcap" -c "127.0.0.1:$nf_port" --idle $long --active $long \
    2>"$tmp/flowprobe.log" || fail "flowprobe exited with $?"
sleep 0.3
stop_nfcapd

start_nfcapd sf
softflowd -r "$tmp/traffic.pcap" -n "127.0.0.1:$nf_port" -v 10 -6 -d -c "$tmp/sf.ctl" \
    -p "$tmp/sf.pid" -t maxlife=$long -t general=$long -t tcp=$long -t udp=$long \
    -t icmp=$long -t tcp.rst=$long -t tcp.fin=$long >"$tmp/softflowd.log" 2>&1 &
sf=$!
bg_pids="$bg_pids $sf"
# softflowd 1.1.0 -r reads one batch of the file per event on its control socket and exits
# after flushing at end of file, so it is poked until it exits.
for _ in $(seq 100); do
    kill -0 $sf 2>/dev/null || break
    softflowctl -c "$tmp/sf.ctl" statistics >/dev/null 2>&1 || true
    sleep 0.05
done
wait $sf || fail "softflowd exited with $?"
sleep 0.3
stop_nfcapd

fmt="fmt:%pr %sa %sp %da %dp %pkt"
nfdump -q -R "$tmp/fp" -o "$fmt" -6 | sort >"$tmp/fp.flows"
nfdump -q -R "$tmp/sf" -o "$fmt" -6 | sort >"$tmp/sf.flows"
[ -s "$tmp/fp.flows" ] || fail "flowprobe's nfcapd stored nothing"
diff "$tmp/fp.flows" "$tmp/sf.flows" >"$tmp/flows.diff.log" ||
    fail "flows or packet counts differ (< flowprobe, > softflowd)"
echo "ok: the same $(wc -l <"$tmp/fp.flows") flows with the same packet counts"

fpb=$(nfdump_totals "$tmp/fp" | awk '{print $3}')
sfb=$(nfdump_totals "$tmp/sf" | awk '{print $3}')
pad=$(tshark -r "$tmp/traffic.pcap" -Y "eth and ip and not vlan" -T fields -E occurrence=f \
    -e frame.len -e ip.len 2>/dev/null | awk '{ if ($1 > 14 + $2) p += $1 - 14 - $2 } END {print p + 0}')
[ $((sfb - fpb)) = "$pad" ] ||
    fail "bytes: flowprobe $fpb, softflowd $sfb, Ethernet padding $pad"
echo "ok: bytes flowprobe $fpb, softflowd $sfb = $fpb + $pad bytes of Ethernet padding"
