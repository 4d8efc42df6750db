#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.exporter_churn: exporters come and go without locking anyone out (review C2, R3).
# 6,000 short-lived sources (a new UDP socket, so a new source port, for each datagram: what
# restarting probes and NAT rebinding look like) send one NetFlow v5 record each, more than
# the decoder's 4,096 exporters; flowlogd is restarted (the template snapshot is saved and
# loaded); then a new IPFIX exporter's stream must be stored whole, and so must all 6,000
# v5 records. Before, every source past the 4,096th was refused (exporter-limit), and after
# the restart the snapshot brought the dead exporters back and refused the new one too.
#
#   exporter_churn.sh FLOWLOGD NFSEND STORDUMP
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }

sources=6000
start_flowlogd udp
python3 - "$port" "$sources" <<'EOF'
import socket, struct, sys, time

port, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    now = time.time()
    secs, nsecs = int(now), int((now % 1) * 1e9)
    uptime = 3600000
    # v5 header: version, count, sysUptime, unix_secs, unix_nsecs, flow_sequence,
    # engine type, engine id, sampling
    hdr = struct.pack("!HHIIIIBBH", 5, 1, uptime, secs, nsecs, 0, 0, 0, 0)
    # One record with a 5-tuple of its own: 10.(i>>8).(i&255).1:(1000+i) -> 192.0.2.1:80/tcp,
    # 1 packet of 40 bytes, First/Last 5 s and 1 s before the export.
    rec = struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH",
                      bytes([10, i >> 8, i & 255, 1]), bytes([192, 0, 2, 1]), bytes(4),
                      0, 0, 1, 40, uptime - 5000, uptime - 1000, 1000 + i, 80,
                      0, 0x10, 6, 0, 0, 0, 0, 0, 0)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(hdr + rec, ("127.0.0.1", port))
    s.close()
    if i % 500 == 499:
        time.sleep(0.05)  # let the collector drain its socket: the test needs exact totals
EOF
sleep 1
stop_flowlogd
start_flowlogd udp
"$nfsend" -b 127.0.0.2 -p "$port" -n 3000 -r 3000 -s 41 >"$tmp/sent" || fail "nfsend failed"
sleep 0.5
stop_flowlogd
read -r r p b < <(totals_of "$(cat "$tmp/sent")")
check_store "$((r + sources)) $((p + sources)) $((b + 40 * sources))"
