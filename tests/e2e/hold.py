# SPDX-License-Identifier: MIT
#
# Hold connections open against flowlogd (e2e.query_abuse, e2e.tcp_limits):
#
#   python3 hold.py PORT N SECONDS [idle|slow|HEX]
#
# N connections to 127.0.0.1:PORT; idle ones send nothing, slow ones a byte every 0.5 s and
# never a newline, HEX sends those bytes once. Prints "open" once all are connected, then,
# after SECONDS or once flowlogd closed them all, how many flowlogd closed.
import select
import socket
import sys
import time

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "idle"
data = bytes.fromhex(mode) if mode not in ("idle", "slow") else b""
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if data:
        s.sendall(data)
    s.setblocking(False)
    socks.append(s)
print("open", flush=True)
closed, end, last = set(), time.time() + secs, 0.0
while time.time() < end and len(closed) < n:
    if mode == "slow" and time.time() - last >= 0.5:
        last = time.time()
        for i, s in enumerate(socks):
            if i not in closed:
                try:
                    s.send(b"Q")
                except OSError:
                    closed.add(i)
    live = [s for i, s in enumerate(socks) if i not in closed]
    r, _, _ = select.select(live, [], [], 0.1)
    for s in r:
        try:
            got = s.recv(4096)
        except OSError:
            got = b""
        if not got:
            closed.add(socks.index(s))
print(len(closed), flush=True)
