#!/bin/bash
# SPDX-License-Identifier: MIT
# flowprobe live on the loopback interface (immediate mode, BPF filter on a port of this
# test's own): three UDP datagrams make one flow; with no further packet, the one-second
# timer expires it after --idle and it reaches the collector stand-in (probe_udpcap) while
# flowprobe keeps running; SIGUSR1 prints statistics; SIGTERM stops it cleanly. Skipped
# (77) when this user cannot capture on lo.
# usage: probe_live.sh FLOWPROBE PROBE_UDPCAP
set -eu
flowprobe=$1 udpcap=$2
. "$(dirname "$0")/../interop/probe_lib.sh"
need_peers tshark

# The traffic goes to a second sink (a listening socket, so no ICMP errors), the export
# to the first.
start_udpcap traffic 30000
tport=$uc_port tpid=$uc_pid
start_udpcap live 30000
"$flowprobe" -i lo -c "127.0.0.1:$uc_port" --idle 1 \
    --instance-id sag-live "udp dst port $tport" 2>"$tmp/flowprobe.log" &
fp=$!
bg_pids="$bg_pids $fp"
sleep 1
if ! kill -0 $fp 2>/dev/null; then
    if grep -qiE "permission|not permitted|socket: Operation" "$tmp/flowprobe.log"; then
        echo "SKIP: cannot capture on lo: $(cat "$tmp/flowprobe.log")"
        exit 77
    fi
    fail "flowprobe -i lo exited"
fi
# Three datagrams from one socket (one source port): one flow.
exec 4>"/dev/udp/127.0.0.1/$tport"
printf 'one' >&4
printf 'two' >&4
printf 'three' >&4
exec 4>&-
# Wait for the timer to expire the flow: no packet arrives to trigger it.
for _ in $(seq 40); do
    kill -USR1 $fp
    sleep 0.25
    grep -q "expired-idle=1 " "$tmp/flowprobe.log" && break
done
grep -q "accounted=3 " "$tmp/flowprobe.log" || fail "flowprobe did not account 3 packets"
grep -q "expired-idle=1 .*records=1 " "$tmp/flowprobe.log" ||
    fail "the idle flow was not expired by the timer"
kill -TERM $fp
wait $fp || fail "flowprobe exited with $? on SIGTERM"
kill -TERM "$uc_pid" "$tpid" 2>/dev/null || true
wait "$uc_pid" || true
got=$(tshark -r "$tmp/live.pcap" -d "udp.port==$uc_port,cflow" -T fields -e cflow.packets \
    -e cflow.octets 2>/dev/null | awk -F'\t' '$1 != ""' | head -n 1)
[ "$got" = "$(printf '3\t%d' $((3 * 28 + 3 + 3 + 5)))" ] || fail "exported record: '$got'"
echo "ok: live capture, timer-driven idle expiry, SIGUSR1 statistics, clean SIGTERM"
