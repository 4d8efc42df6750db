# SPDX-License-Identifier: MIT
# Shared by flowprobe's interop scripts (sourced): a temporary directory, skip (exit 77) when
# a peer or ../shared/captures is missing, nfcapd started on 127.0.0.1 and stopped, nfdump's
# totals, probe_udpcap (a collector stand-in that writes a pcap for tshark), the capture's own
# totals from tshark, and the merged traffic capture. Set FLOWLOG_E2E_KEEP=1 to keep $tmp.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowprobe-interop.XXXXXX")
bg_pids=
cleanup() {
    local p
    for p in $bg_pids; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${FLOWLOG_E2E_KEEP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*" >&2
    for f in "$tmp"/*.log; do
        [ -s "$f" ] && { echo "--- $(basename "$f"):" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

need_peers() {
    local b
    for b in "$@"; do
        command -v "$b" >/dev/null 2>&1 || { echo "SKIP: $b is not installed"; exit 77; }
    done
}

need_captures() {
    [ -d "$1/traffic" ] || { echo "SKIP: no captures at $1"; exit 77; }
}

# merged_traffic CAPTURES: all traffic captures merged in time order into $tmp/traffic.pcap.
merged_traffic() {
    mergecap -F pcap -w "$tmp/traffic.pcap" "$1"/traffic/*.pcap || fail "mergecap"
}

# start_nfcapd NAME: nfcapd on 127.0.0.1 at a free port, flows into $tmp/NAME; sets $nf_pid,
# $nf_port. nfcapd takes no port 0, so free ports are tried until one binds.
start_nfcapd() {
    local name=$1 try
    mkdir -p "$tmp/$name"
    for try in $(seq 20); do
        nf_port=$((20000 + (RANDOM * 7 + try) % 40000))
        nfcapd -b 127.0.0.1 -p "$nf_port" -w "$tmp/$name" >"$tmp/nfcapd-$name.log" 2>&1 &
        nf_pid=$!
        sleep 0.3
        if kill -0 "$nf_pid" 2>/dev/null; then
            bg_pids="$bg_pids $nf_pid"
            return 0
        fi
    done
    fail "nfcapd did not start"
}

# stop_nfcapd: SIGTERM and wait (it writes its file on the way out).
stop_nfcapd() {
    kill -TERM "$nf_pid"
    wait "$nf_pid" 2>/dev/null || true
}

# nfdump_totals DIR: "flows packets bytes" stored by nfcapd.
nfdump_totals() {
    nfdump -R "$1" -I 2>/dev/null | awk '/^Flows:/ {f=$2} /^Packets:/ {p=$2} /^Bytes:/ {b=$2}
        END {print f+0, p+0, b+0}'
}

# start_udpcap NAME [IDLE_MS]: probe_udpcap writing $tmp/NAME.pcap, stopping IDLE_MS (400)
# after the last datagram; sets $uc_pid and $uc_port.
start_udpcap() {
    : >"$tmp/$1.port" # exists before awk below reads it (set -e would end the test)
    "$udpcap" "$tmp/$1.pcap" "${2:-400}" >>"$tmp/$1.port" 2>"$tmp/udpcap-$1.log" &
    uc_pid=$!
    bg_pids="$bg_pids $uc_pid"
    for _ in $(seq 50); do
        uc_port=$(awk '{print $2}' "$tmp/$1.port")
        [ -n "$uc_port" ] && return 0
        sleep 0.1
    done
    fail "probe_udpcap did not start"
}

# tshark_totals PCAP PORT: "records packets bytes" of the flow records tshark decodes.
tshark_totals() {
    tshark -r "$1" -d "udp.port==$2,cflow" -T fields -e cflow.packets -e cflow.octets \
        2>/dev/null | awk -F'\t' 'NF >= 2 && $1 != "" {
            np = split($1, p, ","); split($2, o, ",");
            for (i = 1; i <= np; i++) { n++; P += p[i]; B += o[i] } }
        END { print n + 0, P + 0, B + 0 }'
}

# capture_totals PCAP [v4]: "flows packets bytes" of the capture itself, read by tshark: one
# flow per direction and key (addresses, protocol, ports or ICMP type/code), bytes the IP
# lengths. With v4, IPv6 packets are left out (what NetFlow v5 can carry).
capture_totals() {
    tshark -r "$1" -Y "ip or ipv6" -T fields -E occurrence=f -e ip.src -e ipv6.src -e ip.dst \
        -e ipv6.dst -e ip.proto -e ipv6.nxt -e tcp.srcport -e tcp.dstport -e udp.srcport \
        -e udp.dstport -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code -e ip.len \
        -e ipv6.plen -e frame.len 2>/dev/null | awk -F'\t' -v only4="${2:-}" '{
            v6 = ($1 == ""); if (only4 != "" && v6) next
            src = v6 ? $2 : $1; dst = v6 ? $4 : $3
            if ($11 != "") l4 = "icmp " $11 " " $12
            else if ($13 != "") l4 = "icmp6 " $13 " " $14
            else if ($7 != "") l4 = "tcp " $7 " " $8
            else if ($9 != "") l4 = "udp " $9 " " $10
            else l4 = "other " $5 $6
            keys[src " " dst " " l4] = 1; n++
            if (!v6) b += $15; else if ($16 > 0) b += $16 + 40; else b += $17 - 14 }
        END { f = 0; for (k in keys) f++; print f, n, b }'
}
