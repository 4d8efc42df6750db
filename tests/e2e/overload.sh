#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.overload: with no free batch in the store, the UDP listener stops reading and the
# kernel drops whole datagrams (collector/listen.c), and every total stays exact.
#
#   overload.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
#
# The store gets one batch of one record ([store] queue_batches = 1, batch_records = 1), so
# the receive loop runs out of batches within the first datagram of a burst. Then:
# overload-pauses > 0; every datagram sent was either read (datagrams) or dropped by the
# kernel (socket-drops); every record read is either stored or counted in records-dropped.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"

conf=$tmp/flowlogd.conf
cat >"$conf" <<CONF
[store]
queue_batches = 1
batch_records = 1
CONF
start_with -c "$conf" -l udp:127.0.0.1:0 -w ""

sent=$("$nfsend" -p "$port" -a 127.0.0.1 -n 200000 -r 0 -s 61) || fail "nfsend failed"
msgs=$(messages_of "$sent")
[ -n "$msgs" ] || fail "no messages= in nfsend's line: $sent"
seen=0
for _ in $(seq 100); do
    seen=$(($(stat_of datagrams) + $(stat_of socket-drops)))
    [ "$seen" -ge "$msgs" ] && break
    sleep 0.1
done
[ "$seen" -eq "$msgs" ] || fail "sent $msgs datagrams, read + socket-drops = $seen"
pauses=$(stat_of overload-pauses)
[ "$pauses" -gt 0 ] || fail "the store never ran out of batches (overload-pauses=0)"
records=$(stat_of records)
dropped=$(stat_of records-dropped)
echo "ok: $msgs datagrams = read $(stat_of datagrams) + socket-drops $(stat_of socket-drops);" \
    "overload-pauses=$pauses"
stop_flowlogd

stored=$("$stordump" "$tmp/store" | sed -n 's/^records=\([0-9]*\) .*/\1/p')
[ $((stored + dropped)) -eq "$records" ] ||
    fail "decoded $records records, stored $stored + records-dropped $dropped"
echo "ok: decoded $records = stored $stored + records-dropped $dropped"
