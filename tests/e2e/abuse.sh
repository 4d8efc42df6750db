#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.abuse: a minute of mixed abuse, then a clean stream that must be stored exactly.
#
#   abuse.sh FLOWLOGD NFSEND STORDUMP DGRAMFUZZ FLOWLOG
#   environment: FLOWLOG_ABUSE_S (seconds of abuse, default 60), FLOWLOG_ABUSE_NEST (depth
#                of the nested queries, default 32000: a 64 KiB line), FLOWLOG_FUZZ_RATE (garbage datagrams
#                per second, default 2000)
#
# At the same time, for FLOWLOG_ABUSE_S seconds:
#   - dgramfuzz sends garbage and mutated v5/v9/IPFIX datagrams from 127.0.0.1;
#   - a template flood: 256 UDP exporters on 127.0.0.3 (one socket each) send IPFIX template
#     sets of 64 templates with 32 fields, new ids every round;
#   - 64 hostile query clients, reconnecting whenever flowlogd closes them: 12 send deeply
#     nested queries, 12 are slowloris (a byte a second, never a newline), 12 authenticate
#     and ask for everything without ever reading, 12 brute-force AUTH, 16 pipeline floods
#     of PING;
#   - 4 stalled readers that ask for everything and read one byte a second;
#   - 64 IPFIX/TCP sessions that send half a message and stall.
# Meanwhile STATS must answer on the unix socket (its own client budget). Afterwards
# flowlogd must still run, answer on TCP, and store exactly what nfsend sends from
# 127.0.0.2 (stordump -e 127.0.0.2); SIGTERM must stop it cleanly.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 dgramfuzz=$4 flowlog=$5
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
secs=${FLOWLOG_ABUSE_S:-60}
nest=${FLOWLOG_ABUSE_NEST:-32000}
rate=${FLOWLOG_FUZZ_RATE:-2000}
token=abuse-e2e-token-0123456789

cat >"$tmp/a.conf" <<EOF
[collector]
max_tcp_sessions = 128
tcp_idle_timeout = 20s
[query]
token = $token
unix = $tmp/q.sock
line_timeout = 5s
auth_timeout = 5s
idle_timeout = 20s
EOF
start_with -c "$tmp/a.conf" -l udp:127.0.0.1:0 -l tcp:127.0.0.1:0

# Some data to query, so that the hostile queries have work to do.
"$nfsend" -p "$port" -a 127.0.0.1 -b 127.0.0.4 -n 20000 -r 2000 -s 5 >/dev/null ||
    fail "nfsend (background data) failed"

cat >"$tmp/clients.py" <<'EOF'
import os, select, socket, sys, time
qport, tport, secs, nest = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
token = os.environ["TOKEN"].encode()
end = time.time() + secs
roles = ["nest"] * 12 + ["slow"] * 12 + ["noread"] * 12 + ["brute"] * 12 + ["ping"] * 16 + \
        ["stall"] * 4 + ["tcp"] * 64
nested = b"QUERY " + b"(" * nest + b"srcport = 1" + b")" * nest + b"\n"
ping = b"PING\n" * 20000
tcp_half = bytes.fromhex("000a0400") + bytes(500)  # an IPFIX header promising 1024 bytes
conns = {}  # fd -> [role, socket, next_action_time, counter]

def connect(role):
    try:
        port = tport if role == "tcp" else qport
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.setblocking(False)
    except OSError:
        return
    c = [role, s, time.time(), 0]
    conns[s.fileno()] = c
    first = {"noread": b"AUTH " + token + b"\n" + b"QUERY *\n" * 50,
             "stall": b"AUTH " + token + b"\nQUERY *\n",
             "nest": b"AUTH " + token + b"\n", "tcp": tcp_half}.get(role, b"")
    send(c, first)

def send(c, data):
    try:
        c[1].send(data)
    except BlockingIOError:
        pass
    except OSError:
        drop(c)

def drop(c):
    conns.pop(c[1].fileno(), None)
    try:
        c[1].close()
    except OSError:
        pass

for r in roles:
    connect(r)
reconnects = 0
while time.time() < end:
    now = time.time()
    for c in list(conns.values()):
        if c[2] > now:
            continue
        role = c[0]
        if role == "nest":
            send(c, nested); c[2] = now + 0.5
        elif role == "slow":
            send(c, b"Q"); c[2] = now + 1.0
        elif role == "brute":
            c[3] += 1; send(c, b"AUTH wrong-%d\n" % c[3]); c[2] = now + 0.05
        elif role == "ping":
            send(c, ping); c[2] = now + 0.2
        else:
            c[2] = now + 1.0
    readers = [c[1] for c in conns.values() if c[0] not in ("noread", "tcp")]
    r, _, _ = select.select(readers, [], [], 0.05)
    for s in r:
        c = conns.get(s.fileno())
        if c is None:
            continue
        try:
            got = s.recv(1 if c[0] == "stall" else 65536)
        except BlockingIOError:
            continue
        except OSError:
            got = b""
        if not got:
            drop(c)
    # The ones flowlogd closed come back (the hostile keep trying).
    alive = {}
    for c in conns.values():
        alive[c[0]] = alive.get(c[0], 0) + 1
    for role in set(roles):
        for _ in range(roles.count(role) - alive.get(role, 0)):
            reconnects += 1
            connect(role)
print("reconnects", reconnects)
EOF

cat >"$tmp/tmplflood.py" <<'EOF'
import socket, struct, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
socks = []
for _ in range(256):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    socks.append(s)
end, rnd, sent = time.time() + secs, 0, 0
while time.time() < end:
    for i, s in enumerate(socks):
        recs = b""
        for t in range(64):
            tid = 256 + (rnd * 64 + t) % 60000
            recs += struct.pack("!HH", tid, 32)
            for f in range(32):
                recs += struct.pack("!HH", 1 + f, 4)
        tset = struct.pack("!HH", 2, 4 + len(recs)) + recs
        msg = struct.pack("!HHIII", 10, 16 + len(tset), int(time.time()), rnd, i) + tset
        s.sendto(msg, ("127.0.0.1", port))
        sent += 1
    rnd += 1
    time.sleep(0.2)
print("template messages", sent)
EOF

TOKEN=$token python3 "$tmp/clients.py" "$qport" "$tport" "$secs" "$nest" >"$tmp/clients.out" 2>&1 &
clients=$!
python3 "$tmp/tmplflood.py" "$port" "$secs" >"$tmp/tmpl.out" 2>&1 &
flood=$!
"$dgramfuzz" -p "$port" -a 127.0.0.1 -b 127.0.0.1 -s 77 -d "$secs" -r "$rate" \
    -k valid,bitflip,truncate,hdrlen,setlen,tmplid,count,body,random,randver,splice \
    >"$tmp/fuzz.out" 2>&1 &
fuzz=$!

# STATS answers on the unix socket throughout.
t0=$(date +%s)
checks=0
while [ $(($(date +%s) - t0)) -lt "$secs" ]; do
    kill -0 "$pid" 2>/dev/null || fail "flowlogd died under abuse"
    "$flowlog" -s "$tmp/q.sock" --token "$token" stats >"$tmp/stats" 2>&1 ||
        fail "STATS on the unix socket failed under abuse: $(cat "$tmp/stats")"
    checks=$((checks + 1))
    sleep 5
done
wait "$clients" || fail "the hostile clients' helper failed: $(cat "$tmp/clients.out")"
wait "$flood" || fail "the template flood failed: $(cat "$tmp/tmpl.out")"
wait "$fuzz" || fail "dgramfuzz failed: $(cat "$tmp/fuzz.out")"
kill -0 "$pid" 2>/dev/null || fail "flowlogd died under abuse"
echo "abuse for ${secs}s: $(cat "$tmp/clients.out"), $(cat "$tmp/tmpl.out"), dgramfuzz: $(cat "$tmp/fuzz.out")"
echo "ok: flowlogd stayed up; STATS answered on the unix socket $checks times"

"$flowlog" -s "127.0.0.1:$qport" --token "$token" stats >"$tmp/stats" ||
    fail "STATS over TCP after the abuse: $(cat "$tmp/stats")"
for n in query-auth-failures query-line-timeouts query-auth-timeouts tcp-sessions-idle-closed \
    decode-errors templates; do
    grep "^$n " "$tmp/stats" || true
done

# A clean stream afterwards is stored exactly, once flowlogd has caught up with the abuse (a
# sanitizer build may still be working through its queue: records sent into a full queue are
# dropped, counted, by design).
for _ in $(seq 600); do
    q=$("$flowlog" -s "127.0.0.1:$qport" --token "$token" stats |
        awk '$1 == "store-queue-batches" || $1 == "store-pending-records" { s += $2 } END { print s + 0 }')
    [ "$q" = 0 ] && break
    sleep 0.1
done
"$nfsend" -p "$port" -a 127.0.0.1 -b 127.0.0.2 -n 10000 -r 200 -s 9 >"$tmp/clean" ||
    fail "nfsend (clean stream) failed"
sleep 1
stop_flowlogd
got=$("$stordump" -e 127.0.0.2 "$tmp/store") || fail "stordump failed"
want=$(totals_of "$(cat "$tmp/clean")")
[ "$(totals_of "$got")" = "$want" ] || fail "clean stream: sent $want, stored: $got"
echo "ok: the clean stream after the abuse is stored exactly ($want records packets bytes)"
