#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# interop.peers_ipfixdump: flowprobe's IPFIX export of the traffic captures (merged in time
# order), with an identity (--instance-id, --snid, --account-id), goes through udptee to
# flowlogd and to probe_udpcap, which writes the datagrams to a pcap. Their payloads, joined,
# are an IPFIX file (RFC 5655: messages back to back), which ipfixDump (libfixbuf 2) reads:
# it must read every message without an error, and the flow records it shows (those with a
# packetDeltaCount), their packets and bytes must be what flowlogd stored; each flow record
# must carry the instance id (PEN 32473 IE 1, its length).
#
#   peers_ipfixdump.sh FLOWLOGD STORDUMP UDPTEE FLOWPROBE PROBE_UDPCAP CAPTURES_DIR
set -euo pipefail
flowlogd=$1 stordump=$2 udptee=$3 flowprobe=$4 udpcap=$5 captures=$6
. "$(dirname "$0")/peers_lib.sh"
need_peers ipfixDump tshark xxd
need_captures "$captures"
merged_traffic "$captures"
iid=i-0123456789

start_flowlogd udp
"$udpcap" "$tmp/export.pcap" 600 >"$tmp/udpcap.port" 2>"$tmp/udpcap.log" &
uc_pid=$!
bg_pids="$bg_pids $uc_pid"
for _ in $(seq 50); do
    uc_port=$(awk '{ print $2 }' "$tmp/udpcap.port")
    [ -n "$uc_port" ] && break
    sleep 0.1
done
[ -n "$uc_port" ] || fail "probe_udpcap did not start"
start_tee "$port" "$uc_port"
"$flowprobe" -r "$tmp/traffic.pcap" -c "127.0.0.1:$tee_port" -v 10 --idle 100000 \
    --active 100000 --instance-id "$iid" --snid sn-1 --account-id 42 \
    2>"$tmp/flowprobe.log" || fail "flowprobe exited with $?"
stop_tee >"$tmp/forwarded"
cat "$tmp/forwarded"
dgrams=$(sed -n 's/^forwarded datagrams=\([0-9]*\) .*/\1/p' "$tmp/forwarded")
wait "$uc_pid" || fail "probe_udpcap failed: $(cat "$tmp/udpcap.log")"
drained "$port" flowlogd
stop_flowlogd
want=$(totals <(flowlogd_flows "$tmp/store"))
[ "${want%% *}" != 0 ] || fail "flowlogd stored nothing: nothing to compare"

tshark -r "$tmp/export.pcap" -T fields -e udp.payload 2>/dev/null | xxd -r -p >"$tmp/export.ipfix"
ipfixDump -i "$tmp/export.ipfix" -s >"$tmp/stats.txt" 2>"$tmp/ipfixdump.log" ||
    fail "ipfixDump -s failed: $(cat "$tmp/ipfixdump.log")"
ipfixDump -i "$tmp/export.ipfix" -d >"$tmp/dump.txt" 2>>"$tmp/ipfixdump.log" ||
    fail "ipfixDump -d failed: $(cat "$tmp/ipfixdump.log")"
[ ! -s "$tmp/ipfixdump.log" ] || fail "ipfixDump complained: $(head -n 5 "$tmp/ipfixdump.log")"
msgs=$(sed -n 's/^\*\*\* File Stats: \([0-9]*\) Messages.*/\1/p' "$tmp/stats.txt")
[ "$msgs" = "$dgrams" ] || fail "flowprobe sent $dgrams messages, ipfixDump read ${msgs:-none}"
got=$(awk '/packetDeltaCount :/ { n++; p += $NF } /octetDeltaCount :/ { b += $NF }
           END { printf "%d %.0f %.0f\n", n, p, b }' "$tmp/dump.txt")
[ "$got" = "$want" ] || fail "ipfixDump shows $got, flowlogd stored $want (flows packets bytes)"
# Flow records (a packetDeltaCount) that carry IE 32473/1 with the instance id's length.
ids=$(awk -v l="${#iid}" '/^--- data record/ { n += (pk && id); pk = id = 0 }
    /packetDeltaCount :/ { pk = 1 } /\(32473\/1\)/ && $NF == l { id = 1 }
    END { print n + (pk && id) }' "$tmp/dump.txt")
[ "$ids" = "${want%% *}" ] ||
    fail "$ids of ${want%% *} flow records carry the instance id (PEN 32473 IE 1, ${#iid} bytes)"
echo "ok: ipfixDump read all $msgs messages and shows $got (flows packets bytes)," \
    "as flowlogd stored, each with the instance id"
