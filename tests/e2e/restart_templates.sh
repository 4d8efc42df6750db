#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.restart_templates: a collector restarted in the middle of a stream loses no
# templates. One nfsend (one source port, templates sent once, never refreshed) sends half
# its records, flowlogd is stopped and started again on the same port, and the second half,
# data sets only, must decode with the templates the first run kept in the store.
#
#   restart_templates.sh FLOWLOGD NFSEND STORDUMP
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"

start_flowlogd udp
first=$port
"$nfsend" -R -P 2000 -W "$tmp/go" -p "$port" -n 4000 -r 2000 -s 31 >"$tmp/sent" &
sender=$!
sleep 1.5 # 2000 records at 2000 messages/s are out well within this; then the sender waits
stop_flowlogd
start_flowlogd udp "$first"
touch "$tmp/go"
wait "$sender" || fail "nfsend failed"
sleep 0.5
stop_flowlogd
read -r r p b < <(totals_of "$(cat "$tmp/sent")")
check_store "$r $p $b"
