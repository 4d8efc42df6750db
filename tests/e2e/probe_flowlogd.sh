#!/bin/bash
# SPDX-License-Identifier: MIT
# flowprobe -> flowlogd end to end: two traffic captures exported by flowprobe, one over UDP
# (IPFIX) and one over IPFIX/TCP, each with its own gateway identity, local network and
# interface index. The stored records, read back through the query server, must carry the
# identity (instance-id, snid, account-id), direction in/out, inport/outport and the TCP
# handshake RTT that tshark measures from the same capture (SYN to the client's first ACK).
# usage: probe_flowlogd.sh FLOWLOGD FLOWPROBE CAPTURES_DIR
set -eu
flowlogd=$1 flowprobe=$2 captures=$3
. "$(dirname "$0")/lib.sh"
[ -d "$captures/traffic" ] || { echo "SKIP: no captures at $captures"; exit 77; }
command -v tshark >/dev/null || { echo "SKIP: tshark is not installed"; exit 77; }

mkdir -p "$tmp/store"
"$flowlogd" -f -w "" -d "$tmp/store" -l udp:127.0.0.1:0 -l tcp:127.0.0.1:0 -q 127.0.0.1:0 \
    >"$tmp/flowlogd.out" 2>"$tmp/flowlogd.err" &
pid=$!
for _ in $(seq 50); do
    grep -q '^listening query' "$tmp/flowlogd.out" && break
    kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
    sleep 0.1
done
port_of() { sed -n "s/^listening $1 127\\.0\\.0\\.1:\\([0-9][0-9]*\\)\$/\\1/p" "$tmp/flowlogd.out"; }
uport=$(port_of udp) tport=$(port_of tcp) qport=$(port_of query)
[ -n "$uport" ] && [ -n "$tport" ] && [ -n "$qport" ] || fail "no listening lines"

# rtt_us PCAP: SYN to the client's first plain ACK after the SYN+ACK, in µs, as tshark sees it.
rtt_us() {
    tshark -r "$1" -Y tcp -T fields -e frame.time_epoch -e ip.src -e tcp.flags 2>/dev/null |
        awk '$3 == "0x0002" { t0 = $1; c = $2; s = 0 }
             $3 == "0x0012" && $2 != c { s = 1 }
             $3 == "0x0010" && $2 == c && s == 1 && !done { printf "%.0f\n", ($1 - t0) * 1e6; done = 1 }'
}
ssh_rtt=$(rtt_us "$captures/traffic/ssh.pcap")
dns_rtt=$(rtt_us "$captures/traffic/dns_tcp.pcap")
[ -n "$ssh_rtt" ] && [ -n "$dns_rtt" ] || fail "tshark found no handshake"

"$flowprobe" -r "$captures/traffic/ssh.pcap" -c "127.0.0.1:$uport" --instance-id sag-ssh \
    --snid SN-0001 --account-id 1234567 --local-net 202.108.87.0/24 --ifindex '*=3' \
    2>"$tmp/probe1.log" || fail "flowprobe (udp) exited with $?"
"$flowprobe" -r "$captures/traffic/dns_tcp.pcap" -c "127.0.0.1:$tport/tcp" \
    --instance-id sag-dns --snid SN-0002 --account-id 7654321 --local-net 192.168.1.0/24 \
    --ifindex '*=9' 2>"$tmp/probe2.log" || fail "flowprobe (tcp) exited with $?"
grep -q "export-failures=0 " "$tmp/probe2.log" || fail "TCP export failed: $(cat "$tmp/probe2.log")"

# query LINE: the rows the query server returns (up to its OK line).
query() {
    exec 3<>"/dev/tcp/127.0.0.1/$qport"
    printf '%s\n' "$1" >&3
    local line
    while IFS= read -r -t 10 line <&3; do
        case $line in OK*) break ;; ERR*) fail "query: $line" ;; *) echo "$line" ;; esac
    done
    exec 3>&-
}
q='QUERY * | fields instance-id, snid, account-id, srcaddr, srcport, direction, inport, outport, rtt, packets'
want=$(sort <<EOW
sag-dns SN-0002 7654321 209.87.249.18 53 in 9 0 $dns_rtt 5
sag-ssh SN-0001 1234567 223.132.53.222 22 in 3 0 $ssh_rtt 24
sag-dns SN-0002 7654321 192.168.1.11 33779 out 0 9 $dns_rtt 6
sag-ssh SN-0001 1234567 202.108.87.165 62146 out 0 3 $ssh_rtt 30
EOW
)
got=
for _ in $(seq 30); do
    got=$(query "$q" | sort)
    [ "$got" = "$want" ] && break
    sleep 0.2
done
[ "$got" = "$want" ] || fail "stored records:
$got
want:
$want"
echo "ok: identity, direction, interfaces and rtt ($ssh_rtt, $dns_rtt µs) stored as sent (UDP and TCP)"
stop_flowlogd
