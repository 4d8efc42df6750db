#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.collector_nfsend: the project's encoder (nfsend) sends IPFIX, NetFlow v9 and v5 once,
# through udptee, to flowlogd and to nfcapd; both must store the same flows, packets and bytes,
# and those must be what nfsend sent.
#
#   collector_nfsend.sh FLOWLOGD NFSEND STORDUMP UDPTEE
#
# nfsend's 5-tuples are unique within a run (the source address holds the record index) and
# its destinations are random per seed, so no two records share a key: flowlogd's aggregation
# cannot merge any, and the flow counts must match exactly.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 udptee=$4
. "$(dirname "$0")/lib.sh"
need_peers nfcapd nfdump

sent_r=0 sent_p=0 sent_b=0
feed() {
    local v seed=21 line r p b
    for v in 10 9 5; do
        line=$("$nfsend" -p "$tee_port" -a 127.0.0.1 -v "$v" -n 3000 -r 2000 -s "$seed") ||
            return 1
        echo "v$v: $line"
        read -r r p b < <(totals_of "$line")
        sent_r=$((sent_r + r)) sent_p=$((sent_p + p)) sent_b=$((sent_b + b))
        seed=$((seed + 1))
    done
}

pair_run nfsend feed
got=$(totals "$tmp/nfsend.flowlogd")
[ "$got" = "$sent_r $sent_p $sent_b" ] ||
    fail "nfsend sent $sent_r $sent_p $sent_b (records packets bytes), the stores hold $got"
echo "ok: both hold what nfsend sent"
