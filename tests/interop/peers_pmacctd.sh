#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.peers_pmacctd_vN: pmacctd (pmacct 1.7.7) reads the traffic captures (merged in time
# order) and its nfprobe plugin exports NetFlow v5, v9 or IPFIX, through udptee, to flowlogd
# and to nfcapd: both must store the same flows, packets and bytes (lib.sh's compare). Then
# flowprobe reads the same capture and exports the same version to a second flowlogd: its
# packet and byte totals must equal pmacctd's (two probes, one capture).
#
#   peers_pmacctd.sh FLOWLOGD STORDUMP UDPTEE FLOWPROBE CAPTURES_DIR VERSION
#
# Reading a file, pmacctd sleeps 2 s (to let its plugins start), reads to the end, and its
# nfprobe plugin exports every flow in its cache as it shuts down; no timeout expires first.
set -euo pipefail
flowlogd=$1 stordump=$2 udptee=$3 flowprobe=$4 captures=$5 version=$6
. "$(dirname "$0")/peers_lib.sh"
need_peers pmacctd nfcapd nfdump
need_captures "$captures"
merged_traffic "$captures"

# feed: pmacctd over the capture, exporting to udptee; it exits at the end of the file.
feed() {
    cat >"$tmp/pmacctd.conf" <<EOF
daemonize: false
pcap_savefile: $tmp/traffic.pcap
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$tee_port
nfprobe_version: $version
aggregate: src_host, dst_host, src_port, dst_port, proto, tos
EOF
    # pmacctd's core sometimes exits non-zero at the end of the file ("connection lost to
    # 'default_nfprobe-nfprobe'") after its plugin has exported everything and shut down on
    # request; what counts is that line, and the totals below (equal to flowprobe's on the
    # same capture) catch an export cut short.
    local status=0
    timeout 20 pmacctd -f "$tmp/pmacctd.conf" >"$tmp/pmacctd.log" 2>&1 || status=$?
    [ "$status" -ne 124 ] || {
        tail -n 20 "$tmp/pmacctd.log" >&2
        return 1
    }
    grep -q 'Shutting down on user request' "$tmp/pmacctd.log" || {
        tail -n 20 "$tmp/pmacctd.log" >&2
        return 1
    }
}

label=pmacctd-v$version
pair_run "$label" feed
pm=$(totals "$tmp/$label.flowlogd")

# The same capture through flowprobe, same version, into a fresh flowlogd.
start_flowlogd udp
"$flowprobe" -r "$tmp/traffic.pcap" -c "127.0.0.1:$port" -v "$version" --idle 100000 \
    --active 100000 2>"$tmp/flowprobe.log" || fail "flowprobe -v $version exited with $?"
drained "$port" flowlogd
stop_flowlogd
fp=$(totals <(flowlogd_flows "$tmp/store"))
[ "${pm#* }" = "${fp#* }" ] ||
    fail "pmacctd -> $pm, flowprobe -> $fp (flows packets bytes): packets or bytes differ"
echo "ok: pmacctd and flowprobe export the same packets and bytes from the capture:" \
    "pmacctd $pm, flowprobe $fp (flows packets bytes)"
