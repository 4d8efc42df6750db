#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.counters: the counter line's per-exporter figures and socket drops.
#
#   counters.sh FLOWLOGD NFSEND STORDUMP
#
# 1. Junk datagrams (too short; an unknown version) from 127.0.0.1 are charged to that
#    exporter by reason, next to its good IPFIX traffic from another source port.
# 2. With a small receive buffer (rcvbuf = 4k, applied by SIGHUP after part 1, whose figures a
#    loaded machine must not lose to drops) and flowlogd stopped (SIGSTOP), a burst overflows the
#    socket; after SIGCONT the counter line's socket-drops equals the kernel's drop count for
#    the socket in /proc/net/udp (skipped where /proc/net/udp is missing).
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"

conf=$tmp/flowlogd.conf
cat >"$conf" <<CONF
[collector]
data_dir = $tmp/store
listen = udp:127.0.0.1:0
log_interval = 1s
CONF
start_conf "$conf"
port=$(port_of udp 127.0.0.1)

# 1. Junk from one socket (one source port): 3 bytes of a v9 header (short; no newline byte, which would make printf write twice) and a
#    version-6 header (no NetFlow version 6 exists; 1, 5, 7, 9 and 10 are decoded).
exec 3>"/dev/udp/127.0.0.1/$port"
printf '\000\011\000' >&3
printf '\000\006\000\001AAAAAAAAAAAAAAAAAAAA' >&3
exec 3>&-
good=$("$nfsend" -p "$port" -a 127.0.0.1 -n 200 -r 500 -s 51) || fail "nfsend failed"
read -r r _ < <(totals_of "$good")
line=$(wait_log "stats: .* records=$r .*decode-errors=2 " 5)
echo "$line"
echo "$line" | grep -Eq "\| 127\.0\.0\.1:[0-9]+/udp v[0-9]+ datagrams=2 records=0 bytes=27 errors=2\((short:1,version:1|version:1,short:1)\) " ||
    fail "junk not charged by reason to its exporter: $line"
echo "$line" | grep -Eq "\| 127\.0\.0\.1:[0-9]+/udp v10 datagrams=[0-9]+ records=$r .*errors=0 .*templates=[1-9]" ||
    fail "no clean figures for the IPFIX exporter: $line"
echo "ok: per-exporter figures and errors by reason"

# 2. Socket drops.
if [ ! -r /proc/net/udp ]; then
    echo "no /proc/net/udp: socket drop check skipped"
    stop_flowlogd
    exit 0
fi
echo "rcvbuf = 4k" >>"$conf"
kill -HUP "$pid"
wait_log "reload: applied" 5 >/dev/null
kill -STOP "$pid"
"$nfsend" -p "$port" -a 127.0.0.1 -n 20000 -r 0 -s 52 >/dev/null || {
    kill -CONT "$pid"
    fail "nfsend burst failed"
}
hexport=$(printf '%04X' "$port")
drops=$(awk -v p=":$hexport" '$2 ~ p"$" { print $NF; exit }' /proc/net/udp)
kill -CONT "$pid"
[ "${drops:-0}" -gt 0 ] || fail "the burst overflowed nothing (drops=${drops:-?})"
line=$(wait_log "stats: .* socket-drops=$drops " 5)
echo "ok: socket-drops=$drops as in /proc/net/udp"
stop_flowlogd
