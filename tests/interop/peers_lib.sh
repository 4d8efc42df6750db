# SPDX-License-Identifier: MIT
# Shared by the peers_*.sh interop scripts (issue 7), sourced after setting flowlogd, stordump
# and udptee: everything in lib.sh (flowlogd, nfcapd and udptee on 127.0.0.1, pair_run and the
# store comparison), plus pmacct's collector nfacctd with its memory plugin, the merged traffic
# capture and a free-port picker for peers that cannot bind port 0. README.md says what each
# script compares.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# need_captures DIR: exit 77 unless the shared traffic captures are there.
need_captures() {
    [ -d "$1/traffic" ] || { echo "SKIP: no captures at $1"; exit 77; }
}

# merged_traffic DIR: every traffic capture merged in time order into $tmp/traffic.pcap.
merged_traffic() {
    need_peers mergecap
    mergecap -F pcap -w "$tmp/traffic.pcap" "$1"/traffic/*.pcap || fail "mergecap failed"
}

# nfcapd_rcvbuf BYTES: from here on, lib.sh's start_nfcapd runs nfcapd with -B BYTES (a
# receive buffer that holds a burst), through a wrapper first on PATH that execs the real one,
# so that the pid lib.sh keeps is nfcapd's own.
nfcapd_rcvbuf() {
    local real
    real=$(command -v nfcapd)
    mkdir -p "$tmp/bin"
    printf '#!/bin/sh\nexec %s -B %s "$@"\n' "$real" "$1" >"$tmp/bin/nfcapd"
    chmod +x "$tmp/bin/nfcapd"
    PATH=$tmp/bin:$PATH
}

# free_udp_port: a random port with no UDP socket on 127.0.0.1 (there is a race with other
# tests, so the caller still checks that its peer bound it).
free_udp_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        [ -z "$(udp_queue "$p")" ] && { echo "$p"; return 0; }
    done
    fail "no free UDP port found"
}

# pmacct's daemons fork their plugins, which outlive a core killed with SIGKILL: on the way
# out, each is asked to stop (SIGINT), then it and its children are killed by pid.
pmacct_pids=
kill_pmacct() {
    local kids
    kids=$(pgrep -P "$1" 2>/dev/null || true)
    kill -INT "$1" 2>/dev/null || true
    for _ in $(seq 20); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL "$1" $kids 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
peers_cleanup() {
    local p
    for p in $pmacct_pids; do
        kill_pmacct "$p"
    done
    interop_cleanup
}
trap peers_cleanup EXIT

# start_nfacctd NAME: nfacctd (pmacct's NetFlow/IPFIX collector) on 127.0.0.1 with the memory
# plugin, aggregating by 5-tuple; sets nfacctd_pid, nfacctd_port and nfacctd_pipe (the
# plugin's unix socket for `pmacct -p`). nfacctd takes no port 0, so random free ports are tried.
start_nfacctd() {
    local name=$1 conf=$tmp/nfacctd-$1.conf log=$tmp/nfacctd-$1.log p
    nfacctd_pipe=$tmp/nfacctd-$name.pipe
    for _ in $(seq 10); do
        p=$(free_udp_port)
        cat >"$conf" <<EOF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $p
plugins: memory
imt_path: $nfacctd_pipe
aggregate: src_host, dst_host, src_port, dst_port, proto
EOF
        nfacctd -f "$conf" >"$log" 2>&1 &
        nfacctd_pid=$!
        pmacct_pids="$pmacct_pids $nfacctd_pid"
        for _ in $(seq 50); do
            kill -0 "$nfacctd_pid" 2>/dev/null || break
            if [ -n "$(udp_queue "$p")" ] && [ -S "$nfacctd_pipe" ] &&
                pmacct -p "$nfacctd_pipe" -s >/dev/null 2>&1; then
                nfacctd_port=$p
                return 0
            fi
            sleep 0.1
        done
        kill_pmacct "$nfacctd_pid"
    done
    fail "nfacctd $name did not start (see its log)"
}

# stop_pmacct PID NAME: pmacct's daemons stop on SIGINT (1.7.7's nfacctd ignores SIGTERM while
# it waits for data); it must exit within 10 s.
stop_pmacct() {
    kill -INT "$1" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && fail "$2 still running 10 s after SIGINT"
    wait "$1" 2>/dev/null || true
}

# pmacct_keys PIPE: what the memory plugin holds, as per_key (lib.sh) prints it: "proto src
# dst sport dport packets bytes" per 5-tuple, ICMP without ports, sorted. pmacct names the
# protocols (tcp, ipv6-icmp); /etc/protocols gives their numbers back.
pmacct_keys() {
    pmacct -p "$1" -s -O csv | awk -F, '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        {
            pr = $col["PROTOCOL"]
            if (pr !~ /^[0-9]+$/) {
                if (!(pr in num)) {
                    cmd = "getent protocols " pr; num[pr] = pr
                    if ((cmd | getline l) > 0) { split(l, f, " "); num[pr] = f[2] }
                    close(cmd)
                }
                pr = num[pr]
            }
            sp = $col["SRC_PORT"]; dp = $col["DST_PORT"]
            if (pr == 1 || pr == 58) { sp = "-"; dp = "-" }
            k = pr " " $col["SRC_IP"] " " $col["DST_IP"] " " sp " " dp
            p[k] += $col["PACKETS"]; b[k] += $col["BYTES"]
        }
        END { for (k in p) printf "%s %.0f %.0f\n", k, p[k], b[k] }' | sort
}

# key_totals FILE: "keys packets bytes" of a per_key / pmacct_keys list.
key_totals() {
    awk '{ n++; p += $6; b += $7 } END { printf "%d %.0f %.0f\n", n, p, b }' "$1"
}
