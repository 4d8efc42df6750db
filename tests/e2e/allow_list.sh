#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.allow_list: the exporter allow-list drops and counts what comes from other addresses,
# before decoding, and a SIGHUP reload changes it live.
#
#   allow_list.sh FLOWLOGD NFSEND STORDUMP
#
# flowlogd listens on udp 127.0.0.1, udp [::1] and tcp 127.0.0.1 with `allow = ::1,
# 10.0.0.0/8` and a counter line every second. IPFIX from 127.0.0.1 (UDP and TCP) must be
# denied and counted (datagrams = nfsend's messages; one TCP connection), IPFIX from ::1
# stored and shown per exporter in the counter line. Then the file's allow-list becomes
# 127.0.0.0/8 and SIGHUP applies it: 127.0.0.1's records are stored from then on. The store
# must hold exactly the allowed records.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"

conf=$tmp/flowlogd.conf
cat >"$conf" <<CONF
[collector]
data_dir = $tmp/store
listen = udp:127.0.0.1:0
listen = udp:[::1]:0
listen = tcp:127.0.0.1:0
allow = ::1, 10.0.0.0/8
log_interval = 1s
CONF
start_conf "$conf"
p4=$(port_of udp 127.0.0.1) p6=$(port_of udp '[::1]') pt=$(port_of tcp 127.0.0.1)

denied=$("$nfsend" -p "$p4" -a 127.0.0.1 -n 2000 -s 21) || fail "nfsend v4 failed"
"$nfsend" -p "$pt" -a 127.0.0.1 -T -n 100 -s 22 >/dev/null 2>&1 || true # closed on it
allowed=$("$nfsend" -p "$p6" -a ::1 -n 3000 -s 23) || fail "nfsend v6 failed"
dm=$(messages_of "$denied")
read -r ar ap ab < <(totals_of "$allowed")
echo "denied: $denied"
echo "allowed: $allowed"

# The counter line: denied datagrams and the TCP connection in the totals, and ::1's
# figures as an exporter of its own; 127.0.0.1 must not appear as an exporter.
line=$(wait_log "stats: .* records=$ar .*denied=$dm denied-connections=1 " 10)
echo "$line"
echo "$line" | grep -Eq "\| \[::1\]:[0-9]+/udp v10 datagrams=[1-9][0-9]* records=$ar bytes=[1-9]" ||
    fail "no per-exporter figures for ::1 in: $line"
echo "$line" | grep -q "127.0.0.1" && fail "a denied source shows as an exporter: $line"
echo "$line" | grep -q " exporters=1 " || fail "expected exactly one exporter: $line"

# Reload with 127.0.0.0/8 allowed: applied live, 127.0.0.1 now stored.
sed -i 's|^allow = .*|allow = 127.0.0.0/8|' "$conf"
kill -HUP "$pid"
wait_log "reload: applied collector.allow \(allow-list: 1 entries\)" >/dev/null
later=$("$nfsend" -p "$p4" -a 127.0.0.1 -n 1000 -s 24) || fail "nfsend v4 (2) failed"
read -r lr lp lb < <(totals_of "$later")
wait_log "stats: .* records=$((ar + lr)) " 10 >/dev/null
# ::1 is no longer allowed: its datagrams are counted as denied from now on.
again=$("$nfsend" -p "$p6" -a ::1 -n 500 -s 25) || fail "nfsend v6 (2) failed"
wait_log "stats: .* records=$((ar + lr)) .*denied=$((dm + $(messages_of "$again"))) " 10 >/dev/null
stop_flowlogd
check_store "$((ar + lr)) $((ap + lp)) $((ab + lb))"
