#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's first command: install the dependencies, build, and run the main job:
#   1. start flowlogd as a daemon on its default store (/var/lib/flowlog as root, else
#      $XDG_DATA_HOME/flowlog; DATA_DIR=... picks another) and its default listeners
#      (UDP 2055 and 4739, TCP 4739, queries on 127.0.0.1:7739);
#   2. write a capture of a small site's last ten minutes of traffic (tests/tools/pcapgen)
#      and run flowprobe over it, exporting IPFIX to 127.0.0.1:4739 with a gateway identity;
#   3. ask flowlogd for the top talkers of the last hour, and the traffic by protocol and
#      direction, with the flowlog CLI.
# flowlogd keeps running afterwards, so `./build/client/flowlog` can ask it more; running
# this again stops the earlier one first. Nothing is sent anywhere but 127.0.0.1.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

run=${XDG_RUNTIME_DIR:-/tmp}/flowlog-start
mkdir -p "$run"
pidfile=$run/flowlogd.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    old=$(cat "$pidfile")
    echo "stopping the flowlogd an earlier run started (pid $old)"
    kill -TERM "$old"
    i=0
    while kill -0 "$old" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
fi
printf '[collector]\npid_file = %s\n' "$pidfile" >"$run/flowlogd.conf"
# Without -f flowlogd daemonises once it listens (logging to syslog); a failed start says why.
./build/collector/flowlogd -c "$run/flowlogd.conf" ${DATA_DIR:+-d "$DATA_DIR"}
echo "flowlogd is running (pid $(cat "$pidfile")): NetFlow/IPFIX on UDP 2055 and 4739," \
    "IPFIX on TCP 4739, queries on 127.0.0.1:7739, the console on http://127.0.0.1:7780/"

./build/tests/pcapgen -o "$run/site.pcap" -n 3000 -d 600
./build/probe/flowprobe -r "$run/site.pcap" -c 127.0.0.1:4739 \
    --instance-id sag-demo-01 --snid SAG-SN-0001 --account-id 1234567890 \
    --local-net 10.0.0.0/8 --local-net 2001:db8:10::/64
sleep 2 # flowlogd commits what it received every second

flowlog=./build/client/flowlog
echo
echo "== top talkers of the last hour: flowlog query 'last 1h * | top 10 srcaddr by bytes'"
$flowlog query 'last 1h * | top 10 srcaddr by bytes'
echo
echo "== by protocol and direction: flowlog query 'last 1h * | stats count(), sum(packets), sum(bytes) by protocol, direction'"
$flowlog query 'last 1h * | stats count(), sum(packets), sum(bytes) by protocol, direction'
echo
echo "flowlogd keeps running. Ask it more with $flowlog (no argument: a prompt), e.g."
echo "  $flowlog query 'last 1h dstport in (22, 3389) | top 5 dstaddr by flows'"
echo "  $flowlog windows"
echo "Stop it with: kill \$(cat $pidfile)"
echo
echo "The console (dashboards, search, metrics at /metrics): http://127.0.0.1:7780/"
