#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.peers_nfacctd: flowprobe reads the traffic captures (merged in time order) and exports
# IPFIX, NetFlow v9 and v5, through udptee, to flowlogd and to nfacctd (pmacct 1.7.7's
# collector, memory plugin aggregating by 5-tuple, read back with `pmacct -s`). For each
# version, a fresh pair: the packets and bytes summed per 5-tuple (ICMP without ports) must be
# equal in both, and so must their totals.
#
#   peers_nfacctd.sh FLOWLOGD STORDUMP UDPTEE FLOWPROBE CAPTURES_DIR
#
# nfacctd has no flow count to compare (its memory table is one row per aggregate), so the
# flow count is checked against flowlogd's only through the keys. v5 carries IPv4 only, for
# both alike.
set -euo pipefail
flowlogd=$1 stordump=$2 udptee=$3 flowprobe=$4 captures=$5
. "$(dirname "$0")/peers_lib.sh"
need_peers nfacctd pmacct
need_captures "$captures"
merged_traffic "$captures"

for v in 10 9 5; do
    label=nfacctd-v$v
    start_flowlogd udp
    start_nfacctd "$label"
    start_tee "$port" "$nfacctd_port"
    "$flowprobe" -r "$tmp/traffic.pcap" -c "127.0.0.1:$tee_port" -v "$v" --idle 100000 \
        --active 100000 2>"$tmp/flowprobe-$v.log" || fail "flowprobe -v $v exited with $?"
    stop_tee
    drained "$port" flowlogd
    drained "$nfacctd_port" nfacctd
    stop_flowlogd
    mv "$tmp/store" "$tmp/store-$label"
    flowlogd_flows "$tmp/store-$label" >"$tmp/$label.flowlogd"
    per_key "$tmp/$label.flowlogd" >"$tmp/$label.flowlogd.keys"
    want=$(key_totals "$tmp/$label.flowlogd.keys")
    [ "${want%% *}" != 0 ] || fail "$label: flowlogd stored nothing: nothing to compare"
    # nfacctd's core hands records to the plugin through a ring buffer: poll until its table
    # holds what flowlogd stored, for up to 5 s, then compare what it holds.
    for _ in $(seq 50); do
        pmacct_keys "$nfacctd_pipe" >"$tmp/$label.nfacctd.keys"
        [ "$(key_totals "$tmp/$label.nfacctd.keys")" = "$want" ] && break
        sleep 0.1
    done
    stop_pmacct "$nfacctd_pid" nfacctd
    if ! diff -u "$tmp/$label.nfacctd.keys" "$tmp/$label.flowlogd.keys" >"$tmp/$label.diff"; then
        echo "$label: per 5-tuple (proto src dst sport dport packets bytes)," \
            "nfacctd -, flowlogd +:" >&2
        head -n 20 "$tmp/$label.diff" >&2
        fail "$label: nfacctd holds $(key_totals "$tmp/$label.nfacctd.keys"), flowlogd $want" \
            "(5-tuples packets bytes)"
    fi
    echo "ok: $label: nfacctd and flowlogd agree on $want (5-tuples packets bytes);" \
        "flowlogd stored $(totals "$tmp/$label.flowlogd" | cut -d' ' -f1) flows"
done
