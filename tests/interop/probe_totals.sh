#!/bin/bash
# SPDX-License-Identifier: MIT
# flowprobe's IPFIX, v9 and v5 export of the traffic captures (../shared/captures/traffic,
# merged in time order) decodes in nfcapd/nfdump and in tshark, with flow, packet and byte
# totals equal to the capture's own (tshark's reading of the packets). Both collectors are
# given to one flowprobe run (several collectors). Timeouts are long so that a flow is a key.
# v5 carries the IPv4 flows only; the IPv6 ones are counted as not exportable.
# usage: probe_totals.sh FLOWPROBE PROBE_UDPCAP CAPTURES_DIR
set -eu
flowprobe=$1 udpcap=$2 captures=$3
. "$(dirname "$0")/probe_lib.sh"
need_peers nfcapd nfdump tshark mergecap
need_captures "$captures"
merged_traffic "$captures"

all=$(capture_totals "$tmp/traffic.pcap")
v4=$(capture_totals "$tmp/traffic.pcap" v4)
[ "${all%% *}" -gt 20 ] || fail "capture totals look wrong: $all"
echo "capture: $all (flows packets bytes), IPv4 only: $v4"
v6flows=$(( ${all%% *} - ${v4%% *} ))

for v in 10 9 5; do
    start_nfcapd "nf$v"
    start_udpcap "ts$v"
    "$flowprobe" -r "$tmp/traffic.pcap" -c "127.0.0.1:$nf_port" -c "127.0.0.1:$uc_port/udp" \
        -v "$v" --idle 100000 --active 100000 2>"$tmp/flowprobe-$v.log" ||
        fail "flowprobe -v $v exited with $?"
    wait "$uc_pid" || true
    stop_nfcapd
    want=$all
    if [ "$v" = 5 ]; then
        want=$v4
        grep -q "not-exportable=$v6flows " "$tmp/flowprobe-$v.log" ||
            fail "v5: want not-exportable=$v6flows in: $(cat "$tmp/flowprobe-$v.log")"
    fi
    got=$(nfdump_totals "$tmp/nf$v")
    [ "$got" = "$want" ] || fail "v$v nfdump: $got, capture: $want"
    ts=$(tshark_totals "$tmp/ts$v.pcap" "$uc_port")
    [ "$ts" = "$want" ] || fail "v$v tshark: $ts, capture: $want"
    echo "ok: v$v nfdump and tshark both decode $want (flows packets bytes)"
done

# The example config (etc/flowprobe.conf) is valid: -r replaces its interface, -c adds a
# collector, and its identity reaches the export messages.
# Its own collector line is left out: tests send only to their own sinks.
grep -v '^collector' "$(dirname "$0")/../../etc/flowprobe.conf" >"$tmp/flowprobe.conf"
start_udpcap conf
"$flowprobe" --config "$tmp/flowprobe.conf" -r "$tmp/traffic.pcap" \
    -c "127.0.0.1:$uc_port" 2>"$tmp/flowprobe-conf.log" || fail "example config: exit $?"
wait "$uc_pid" || true
n=$(grep -ac 'sag-0001' "$tmp/conf.pcap" || true)
[ "$n" -gt 0 ] || fail "example config: identity sag-0001 not in the export"
echo "ok: the example config runs and its identity is exported"
