#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.repeat: the repeater ([repeat] to, -R) sends every message flowlogd accepts to each
# destination, unchanged, and a dead destination loses only its own copies.
#
#   repeat.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
#
# flowlogd listens on UDP and on TCP and repeats to a real nfcapd and to a loopback port with
# nothing on it. nfsend sends NetFlow v9 over UDP and IPFIX over TCP (forwarded as datagrams).
# Checks: STATS repeat-sent for nfcapd equals the messages flowlogd decoded, and nfcapd
# stored every record, packet and byte sent; for the dead port sent + dropped + errors equals
# them too, with errors > 0 (ICMP port unreachable); flowlogd's own store holds everything.
# Skipped (77) without nfcapd and nfdump.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/lib.sh"
command -v nfcapd >/dev/null && command -v nfdump >/dev/null || {
    echo "skip: needs nfcapd and nfdump"
    exit 77
}

udp_listed() {
    awk -v p=":$(printf '%04X' "$1")" '$2 ~ p"$" { print; exit }' /proc/net/udp 2>/dev/null || true
}

# nfcapd on 127.0.0.1 and a free port (tried at random: nfcapd cannot pick one).
nc_pid=
start_nfcapd() {
    local p
    mkdir -p "$tmp/nfcapd"
    for _ in $(seq 10); do
        p=$((20000 + RANDOM % 40000))
        [ -n "$(udp_listed "$p")" ] && continue
        nfcapd -w "$tmp/nfcapd" -p "$p" -b 127.0.0.1 -t 3600 -B 8388608 >"$tmp/nfcapd.log" 2>&1 &
        nc_pid=$!
        for _ in $(seq 50); do
            kill -0 "$nc_pid" 2>/dev/null || break
            if grep -q '^Startup nfcapd' "$tmp/nfcapd.log" && [ -n "$(udp_listed "$p")" ]; then
                nc_port=$p
                return 0
            fi
            sleep 0.1
        done
        kill -KILL "$nc_pid" 2>/dev/null || true
        wait "$nc_pid" 2>/dev/null || true
    done
    fail "nfcapd did not start"
}
stop_all_nfcapd() {
    if [ -n "$nc_pid" ]; then
        kill -TERM "$nc_pid" 2>/dev/null || true
        wait "$nc_pid" 2>/dev/null || true
        nc_pid=
    fi
}
trap 'stop_all_nfcapd; cleanup' EXIT

start_nfcapd
# A port nothing listens on: bound by no one (checked), so loopback answers ICMP unreachable.
dead=
for _ in $(seq 20); do
    d=$((20000 + RANDOM % 40000))
    [ "$d" != "$nc_port" ] && [ -z "$(udp_listed "$d")" ] && { dead=$d; break; }
done
[ -n "$dead" ] || fail "no free port for the dead destination"

cat >"$tmp/flowlogd.conf" <<EOC
[repeat]
to = 127.0.0.1:$nc_port, 127.0.0.1:$dead
EOC
start_with -c "$tmp/flowlogd.conf" -l udp:127.0.0.1:0 -l tcp:127.0.0.1:0 -w ""

line=$("$nfsend" -p "$port" -a 127.0.0.1 -v 9 -n 4000 -r 4000 -s 31) || fail "nfsend v9 failed"
read -r r1 p1 b1 < <(totals_of "$line")
line=$("$nfsend" -T -p "$tport" -n 3000 -r 0 -s 32) || fail "nfsend over TCP failed"
read -r r2 p2 b2 < <(totals_of "$line")
want="$((r1 + r2)) $((p1 + p2)) $((b1 + b2))"

# Wait until flowlogd has decoded every record (its queue on the socket is read).
for _ in $(seq 100); do
    [ "$(stat_of records)" = "$((r1 + r2))" ] && break
    sleep 0.1
done
msgs=$(stat_of datagrams)
nc_sent=$(stat_of "repeat-sent-127.0.0.1:$nc_port")
nc_drop=$(stat_of "repeat-dropped-127.0.0.1:$nc_port")
nc_err=$(stat_of "repeat-errors-127.0.0.1:$nc_port")
dd_sent=$(stat_of "repeat-sent-127.0.0.1:$dead")
dd_drop=$(stat_of "repeat-dropped-127.0.0.1:$dead")
dd_err=$(stat_of "repeat-errors-127.0.0.1:$dead")
echo "messages $msgs; nfcapd sent=$nc_sent dropped=$nc_drop errors=$nc_err;" \
    "dead sent=$dd_sent dropped=$dd_drop errors=$dd_err"
[ -n "$msgs" ] && [ "$msgs" -gt 0 ] || fail "no datagrams counted"
[ "$nc_sent" = "$msgs" ] && [ "$nc_drop" = 0 ] && [ "$nc_err" = 0 ] ||
    fail "nfcapd's copies: sent $nc_sent of $msgs"
[ "$((dd_sent + dd_drop + dd_err))" = "$msgs" ] || fail "dead port: totals do not add up to $msgs"
[ "$dd_err" -gt 0 ] || fail "dead port: no send errors counted"
grep -q "repeat: 127.0.0.1:$dead" "$tmp/flowlogd.err" || fail "no log line for the dead port"

stop_flowlogd
check_store "$want"
# nfcapd read every copy (its socket queue is empty), then writes its file at SIGTERM.
for _ in $(seq 100); do
    q=$(udp_listed "$nc_port" | awk '{ split($5, q, ":"); print q[2] }')
    [ "$((16#${q:-0}))" = 0 ] && break
    sleep 0.1
done
stop_all_nfcapd
got=$(nfdump -R "$tmp/nfcapd" -q -N -o 'fmt:%pkt %byt' |
    awk '{ r++; p += $1; b += $2 } END { printf "%d %.0f %.0f\n", r, p, b }')
[ "$got" = "$want" ] || fail "nfcapd stored $got (records packets bytes), sent $want"
echo "ok: flowlogd and nfcapd both hold $want; the dead port cost only its own copies"
