#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.peers_fprobe_vN: fprobe 1.1 captures live on the loopback interface, with a BPF
# filter for one port of this test, while the test sends its own UDP datagrams and TCP
# connection attempts to 127.0.0.1 on that port; fprobe exports NetFlow v1, v5 or v7, through
# udptee, to flowlogd and to nfcapd.
#
#   peers_fprobe.sh FLOWLOGD STORDUMP UDPTEE FLOWPROBE VERSION
#
# flowprobe captures the same traffic on lo with the same filter at the same time, exporting
# NetFlow v5 (for fprobe's v1 and v7 too: flowprobe speaks 5, 9 and 10) to its own nfcapd; the
# two probes must report the same flows, packets and bytes per 5-tuple.
#
# Both collectors must store the same flows, packets and bytes (lib.sh's compare), and the
# packets must be the ones the test sent.
#
# Skips (77) when fprobe, nfcapd or nfdump is missing or live capture is not permitted. The
# traffic goes to a port nobody listens on: each UDP datagram is one packet (the kernel's ICMP
# port-unreachable answer does not match the filter), each TCP attempt two (SYN, RST).
set -euo pipefail
flowlogd=$1 stordump=$2 udptee=$3 flowprobe=$4 version=$5
. "$(dirname "$0")/peers_lib.sh"
need_peers fprobe nfcapd nfdump
n_udp=20 n_tcp=10
tport=$(free_udp_port)

# start_fprobe DEST_PORT: fprobe in the foreground (-l 2: log to stdout) on lo; sets fp_pid.
# Idle and active timeouts are long: the flows leave the cache when it is stopped.
start_fprobe() {
    fprobe -l 2 -i lo -p -f "port $tport and (udp or tcp)" -n "$version" -d 60 -e 300 \
        "127.0.0.1:$1" >"$tmp/fprobe.log" 2>&1 &
    fp_pid=$!
    bg_pids="$bg_pids $fp_pid"
    for _ in $(seq 30); do
        grep -q 'collector #1' "$tmp/fprobe.log" && break
        kill -0 "$fp_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$fp_pid" 2>/dev/null || grep -qi 'pcap.*\(denied\|not permitted\)' \
        "$tmp/fprobe.log"; then
        if grep -qi 'denied\|not permitted\|permission' "$tmp/fprobe.log"; then
            echo "SKIP: live capture on lo is not permitted: $(tail -n 1 "$tmp/fprobe.log")"
            exit 77
        fi
        fail "fprobe did not start: $(tail -n 5 "$tmp/fprobe.log")"
    fi
    sleep 0.5 # the capture thread opens lo after the log line
}

# traffic: n_udp datagrams of growing size, n_tcp refused connections, each from a new socket
# (a new source port, a new flow).
traffic() {
    local i
    for i in $(seq "$n_udp"); do
        printf '%*s' "$((i * 10))" x >"/dev/udp/127.0.0.1/$tport"
    done
    for i in $(seq "$n_tcp"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$tport") 2>/dev/null || true
    done
}

# feed: flowprobe (to its own nfcapd) and fprobe (to udptee) capture; the traffic; then
# SIGTERM to both, on which each exports its whole cache.
feed() {
    "$flowprobe" -i lo -c "127.0.0.1:$fpn_port" -v 5 --idle 300 --active 600 \
        "port $tport and (udp or tcp)" 2>"$tmp/flowprobe.log" &
    flp_pid=$!
    bg_pids="$bg_pids $flp_pid"
    start_fprobe "$tee_port"
    kill -0 "$flp_pid" 2>/dev/null || { cat "$tmp/flowprobe.log" >&2; return 1; }
    traffic
    sleep 2 # fprobe moves packets from its capture queue to the cache in batches
    kill -TERM "$fp_pid" "$flp_pid"
    wait "$fp_pid" || return 1
    wait "$flp_pid" || { cat "$tmp/flowprobe.log" >&2; return 1; }
    grep -q 'Emitting flows cache' "$tmp/fprobe.log"
}

label=fprobe-v$version
want_pkts=$((n_udp + 2 * n_tcp))
start_nfcapd flowprobe
fpn_pid=$nfcapd_pid fpn_port=$nfcapd_port
pair_run "$label" feed
got=$(totals "$tmp/$label.flowlogd")
read -r _ p _ <<<"$got"
[ "$p" = "$want_pkts" ] || fail "$label: the test sent $want_pkts packets, both stored $got"
echo "ok: $label: both stored the $want_pkts packets the test sent"

drained "$fpn_port" nfcapd
stop_nfcapd "$fpn_pid"
nfcapd_flows "$tmp/nfcapd-flowprobe" >"$tmp/flowprobe.flows"
fl=$(totals "$tmp/flowprobe.flows")
per_key "$tmp/flowprobe.flows" >"$tmp/flowprobe.keys"
per_key "$tmp/$label.flowlogd" >"$tmp/fprobe.keys"
if ! diff -u "$tmp/fprobe.keys" "$tmp/flowprobe.keys" >"$tmp/probes.diff" || [ "$fl" != "$got" ]; then
    head -n 20 "$tmp/probes.diff" >&2
    fail "the same traffic: fprobe -> $got, flowprobe -> $fl (flows packets bytes)"
fi
echo "ok: fprobe and flowprobe report the same traffic: $fl (flows packets bytes)"
