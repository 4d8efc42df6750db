#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.udp_ingest: flowlogd takes IPFIX, NetFlow v9 and NetFlow v5 over UDP and stores every
# record it was sent.
#
#   udp_ingest.sh FLOWLOGD NFSEND STORDUMP
#
# Sends 3 x 5000 records with nfsend (v10, v9, v5; different seeds), waits until flowlogd has
# read every datagram, stops it with SIGTERM (it must commit everything and exit 0 within
# 5 s) and checks with stordump that the store holds exactly the records, packets and bytes
# sent. nfsend's 5-tuples are unique, so aggregation cannot merge rows.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"

# The socket's receive queue (bytes, hex) and drop count from /proc/net/udp (Linux), as
# "QUEUE DROPS"; nothing when the port is not found. Ports there are 4 upper-case hex digits.
udp_queue() {
    local hexport
    hexport=$(printf '%04X' "$1")
    awk -v p=":$hexport" '$2 ~ p"$" { split($5, q, ":"); print q[2], $NF; exit }' \
        /proc/net/udp 2>/dev/null || true
}

start_flowlogd udp
want_records=0 want_packets=0 want_bytes=0
seed=11
for v in 10 9 5; do
    line=$("$nfsend" -p "$port" -a 127.0.0.1 -v "$v" -n 5000 -r 2000 -s "$seed") ||
        fail "nfsend -v $v failed"
    echo "v$v: $line"
    read -r r p b < <(totals_of "$line")
    want_records=$((want_records + r))
    want_packets=$((want_packets + p))
    want_bytes=$((want_bytes + b))
    seed=$((seed + 1))
done

# Datagrams still queued on the socket when SIGTERM arrives could be lost; wait (up to 5 s)
# until flowlogd has read them all. Without /proc/net/udp, give it a moment instead.
if [ -r /proc/net/udp ]; then
    queue=0
    for _ in $(seq 50); do
        read -r queue drops < <(udp_queue "$port"; echo) || true
        queue=$((16#${queue:-0}))
        [ "$queue" = 0 ] && break
        sleep 0.1
    done
    [ "$queue" = 0 ] || fail "flowlogd left $queue bytes unread on its socket for 5 s"
    [ "${drops:-0}" = 0 ] || echo "note: the kernel dropped $drops datagrams" >&2
else
    sleep 1
fi
stop_flowlogd
check_store "$want_records $want_packets $want_bytes"
