#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.tcp_ingest: IPFIX over TCP (RFC 7011 §10.4). Two exporters at once: one writes its
# stream one byte per write (so messages arrive cut at every byte boundary), one writes whole
# messages. Every record sent must be stored.
#
#   tcp_ingest.sh FLOWLOGD NFSEND STORDUMP
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"

start_flowlogd tcp
"$nfsend" -T -S -p "$port" -n 3000 -r 0 -s 21 >"$tmp/a" &
a=$!
"$nfsend" -T -p "$port" -n 4000 -r 0 -s 22 >"$tmp/b" || fail "nfsend (whole messages) failed"
wait "$a" || fail "nfsend (one byte per write) failed"
read -r r1 p1 b1 < <(totals_of "$(cat "$tmp/a")")
read -r r2 p2 b2 < <(totals_of "$(cat "$tmp/b")")
sleep 0.5 # the sessions' last bytes are read and decoded before SIGTERM
stop_flowlogd
check_store "$((r1 + r2)) $((p1 + p2)) $((b1 + b2))"
