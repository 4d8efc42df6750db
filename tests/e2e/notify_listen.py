#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A service manager's notification socket, as systemd binds it for a Type=notify unit: a unix
# datagram socket at PATH; every message received is appended to OUT as one line (newlines as
# '|'). Stops after SECONDS (a test never waits on it forever).
#   notify_listen.py PATH OUT SECONDS
import socket
import sys
import time

path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
end = time.monotonic() + secs
with open(out, "a", buffering=1) as f:
    f.write("bound\n")
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            m = s.recv(4096)
        except socket.timeout:
            break
        f.write(m.decode(errors="replace").replace("\n", "|") + "\n")
