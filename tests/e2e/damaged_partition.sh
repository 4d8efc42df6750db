#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.damaged_partition: a partition file truncated to half (reliability review #8: flowlogd
# died of SIGBUS after printing `listening`) is moved aside as *.bad when flowlogd starts,
# and flowlogd keeps running and taking records into a new file.
#
#   damaged_partition.sh FLOWLOGD NFSEND
set -euo pipefail
flowlogd=$1 nfsend=$2
. "$(dirname "$0")/lib.sh"

start_flowlogd udp
"$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 5000 -r 5000 -s 7 >/dev/null || fail "nfsend failed"
sleep 0.5
stop_flowlogd
part=$(ls "$tmp/store"/p-*.mdb | head -n 1)
[ -n "$part" ] || fail "no partition file after ingest"
size=$(stat -c %s "$part")
truncate -s $((size / 2)) "$part"

start_flowlogd udp
"$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 1000 -r 5000 -s 8 >/dev/null || fail "nfsend failed"
sleep 1
kill -0 "$pid" 2>/dev/null || fail "flowlogd died on a truncated partition"
[ -e "$part.bad" ] || fail "$part was not moved aside as $part.bad"
stop_flowlogd
[ -e "$part" ] || fail "no new partition file took the records after the damaged one"
echo "truncated $(basename "$part") from $size bytes: moved aside, flowlogd ran on"
