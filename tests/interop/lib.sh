# SPDX-License-Identifier: MIT
# Shared by the interop scripts of the collector (sourced after setting flowlogd, stordump and
# udptee): the e2e helpers (tests/e2e/lib.sh: $tmp, start_flowlogd, stop_flowlogd, fail), nfcapd
# started and stopped on loopback, udptee in front of both collectors, and the comparison of what
# the two stored. tests/interop/README.md says what is compared and why.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# need_peers BIN...: exit 77 (skip) unless every peer program is installed.
need_peers() {
    local b
    for b in "$@"; do
        command -v "$b" >/dev/null 2>&1 || { echo "SKIP: $b is not installed"; exit 77; }
    done
}

. "$here/../e2e/lib.sh"

bg_pids=
interop_cleanup() {
    local p
    for p in $bg_pids; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    cleanup
}
trap interop_cleanup EXIT

eval "e2e_$(declare -f fail)"
fail() {
    local f
    for f in "$tmp"/nfcapd-*.log "$tmp"/udptee.err; do
        if [ -s "$f" ]; then
            echo "--- $(basename "$f"):" >&2
            tail -n 20 "$f" >&2
        fi
    done
    e2e_fail "$@"
}

# udp_queue PORT: "QUEUE DROPS" of the UDP socket bound to 127.0.0.1:PORT (queue in bytes,
# decimal), from /proc/net/udp; nothing when there is no such socket.
udp_queue() {
    local hexport q
    hexport=$(printf '0100007F:%04X' "$1")
    q=$(awk -v a="$hexport" '$2 == a { split($5, q, ":"); print q[2], $NF; exit }' \
        /proc/net/udp 2>/dev/null || true)
    [ -n "$q" ] && echo "$((16#${q%% *})) ${q##* }"
}

# drained PORT NAME: wait (up to 10 s) until the socket on PORT has no queued datagram, and
# fail if the kernel dropped any there: the collectors would then not have seen the same input.
drained() {
    local port=$1 name=$2 queue=1 drops=0
    if [ ! -r /proc/net/udp ]; then
        sleep 1
        return 0
    fi
    for _ in $(seq 100); do
        read -r queue drops < <(udp_queue "$port"; echo) || true
        [ "${queue:-0}" = 0 ] && break
        sleep 0.1
    done
    [ "${queue:-0}" = 0 ] || fail "$name left $queue bytes unread on its socket for 10 s"
    [ "${drops:-0}" = 0 ] || fail "the kernel dropped $drops datagrams on $name's socket"
}

# start_nfcapd NAME: nfcapd on 127.0.0.1 and a free port (tried at random: nfcapd cannot pick
# one), writing to $tmp/nfcapd-NAME; sets nfcapd_pid and nfcapd_port.
start_nfcapd() {
    local name=$1 dir=$tmp/nfcapd-$1 log=$tmp/nfcapd-$1.log p
    mkdir -p "$dir"
    for _ in $(seq 10); do
        p=$((20000 + RANDOM % 40000))
        [ -n "$(udp_queue "$p")" ] && continue
        nfcapd -w "$dir" -p "$p" -b 127.0.0.1 -t 3600 >"$log" 2>&1 &
        nfcapd_pid=$!
        bg_pids="$bg_pids $nfcapd_pid"
        for _ in $(seq 50); do
            kill -0 "$nfcapd_pid" 2>/dev/null || break
            if grep -q '^Startup nfcapd' "$log" && [ -n "$(udp_queue "$p")" ]; then
                nfcapd_port=$p
                return 0
            fi
            sleep 0.1
        done
        kill -KILL "$nfcapd_pid" 2>/dev/null || true
        wait "$nfcapd_pid" 2>/dev/null || true
    done
    fail "nfcapd $name did not start (see its log)"
}

# stop_nfcapd PID: SIGTERM, so it writes and closes its file; it must exit within 10 s.
stop_nfcapd() {
    kill -TERM "$1"
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && fail "nfcapd still running 10 s after SIGTERM"
    wait "$1" 2>/dev/null || true
}

# start_tee PORT...: udptee to 127.0.0.1:PORT for each port; sets tee_pid and tee_port.
start_tee() {
    local args=() p
    for p in "$@"; do
        args+=(-o "127.0.0.1:$p")
    done
    : >"$tmp/udptee.out" # exists before the sed below reads it (set -e would end the test)
    "$udptee" "${args[@]}" >>"$tmp/udptee.out" 2>"$tmp/udptee.err" &
    tee_pid=$!
    bg_pids="$bg_pids $tee_pid"
    for _ in $(seq 50); do
        tee_port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/udptee.out")
        [ -n "$tee_port" ] && return 0
        kill -0 "$tee_pid" 2>/dev/null || fail "udptee exited before listening"
        sleep 0.1
    done
    fail "no 'listening udp' line from udptee within 5 s"
}

# stop_tee: wait until it has forwarded everything, SIGTERM; prints its "forwarded" line.
stop_tee() {
    drained "$tee_port" udptee
    kill -TERM "$tee_pid"
    wait "$tee_pid" || fail "udptee failed"
    grep '^forwarded ' "$tmp/udptee.out"
}

# Flow lists, one line per stored flow: "proto src dst sport dport packets bytes window", the
# window being floor(end / 600 s) (flowlogd's default capture window). ICMP: nfdump shows the
# destination port as TYPE.CODE; flowlogd keeps TYPE * 256 + CODE, as v5/v9/IPFIX carry it.
nfcapd_flows() {
    nfdump -R "$1" -q -N -6 -o 'fmt:%pr|%sa|%da|%sp|%dp|%pkt|%byt|%ter' |
        awk -F'|' '{
            for (i = 1; i <= NF; i++) { gsub(/ /, "", $i) }
            if ($5 ~ /\./) { split($5, t, "."); $5 = t[1] * 256 + t[2] }
            printf "%s %s %s %s %s %s %s %d\n", $1, $2, $3, $4, $5, $6, $7, int($8 / 600)
        }'
}

# flowlogd_flows DIR: the same list from the store (rows with log-status OK only).
flowlogd_flows() {
    "$stordump" -s "$1" | awk '/^v=/ && !/ log=/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        for (k in f) { if (f[k] == "-") f[k] = 0 }
        printf "%s %s %s %s %s %s %s %d\n", f["proto"], f["src"], f["dst"], f["sport"],
            f["dport"], f["pkts"], f["bytes"], int(f["end"] / 600000)
    }'
}

# totals FILE: "flows packets bytes" of a flow list.
totals() {
    awk '{ n++; p += $6; b += $7 } END { printf "%d %.0f %.0f\n", n, p, b }' "$1"
}

# per_key FILE: packets and bytes summed per 5-tuple, sorted. ICMP and ICMPv6 flows are keyed
# without ports: nfcapd 1.7.1 ignores icmpTypeCodeIPv6 (139) in NetFlow v9 and stores 0.0
# where flowlogd stores the type and code (README.md).
per_key() {
    awk '{ if ($1 == 1 || $1 == 58) { $4 = "-"; $5 = "-" }
           k = $1 " " $2 " " $3 " " $4 " " $5; p[k] += $6; b[k] += $7 }
         END { for (k in p) printf "%s %.0f %.0f\n", k, p[k], b[k] }' "$1" | sort
}

# compare NFCAPD_DIR STORE_DIR LABEL: the flow, packet and byte totals of both must be equal,
# and so must the packets and bytes summed per 5-tuple. flowlogd merges records with the same
# key in one capture window, nfcapd never does: when nfcapd's list holds such repeats (same
# 5-tuple, same window), flowlogd may store fewer flows, and the check says so.
compare() {
    local nf=$tmp/$3.nfcapd fl=$tmp/$3.flowlogd repeats want got
    nfcapd_flows "$1" >"$nf" || fail "$3: nfdump failed"
    flowlogd_flows "$2" >"$fl" || fail "$3: stordump failed"
    want=$(totals "$nf")
    got=$(totals "$fl")
    [ "${want%% *}" != 0 ] || fail "$3: nfcapd stored no flow: nothing was compared"
    repeats=$(awk '{ k = $1 " " $2 " " $3 " " $4 " " $5 " " $8; if (k in s) r++; s[k] = 1 }
                   END { print r + 0 }' "$nf")
    per_key "$nf" >"$nf.keys"
    per_key "$fl" >"$fl.keys"
    if ! diff -u "$nf.keys" "$fl.keys" >"$tmp/$3.diff"; then
        echo "$3: per 5-tuple (proto src dst sport dport packets bytes), nfcapd -, flowlogd +:" >&2
        head -n 20 "$tmp/$3.diff" >&2
        fail "$3: nfcapd stored $want, flowlogd $got (flows packets bytes)"
    fi
    if [ "$want" = "$got" ]; then
        echo "ok: $3: nfcapd and flowlogd both stored $want (flows packets bytes)"
    elif [ "$repeats" != 0 ] && [ "${want#* }" = "${got#* }" ] &&
        [ "${got%% *}" -ge $((${want%% *} - repeats)) ] && [ "${got%% *}" -lt "${want%% *}" ]; then
        echo "ok: $3: nfcapd $want, flowlogd $got (flows packets bytes): flowlogd merged" \
            "records of $repeats repeated keys within a capture window"
    else
        fail "$3: nfcapd stored $want, flowlogd $got (flows packets bytes)"
    fi
}

# pair_run LABEL FEEDER...: flowlogd and nfcapd behind one udptee; run FEEDER (a command or
# function, with $tee_port set), let everything drain, stop all three and compare the stores.
# flowlogd's store is left in $tmp/store-LABEL, nfcapd's files in $tmp/nfcapd-LABEL.
pair_run() {
    local label=$1 ncpid ncport
    shift
    start_flowlogd udp
    start_nfcapd "$label"
    ncpid=$nfcapd_pid ncport=$nfcapd_port
    start_tee "$port" "$ncport"
    "$@" || fail "$label: the exporter failed: $*"
    stop_tee
    drained "$port" flowlogd
    drained "$ncport" nfcapd
    stop_flowlogd
    stop_nfcapd "$ncpid"
    mv "$tmp/store" "$tmp/store-$label"
    compare "$tmp/nfcapd-$label" "$tmp/store-$label" "$label"
}
