#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Send hand-made IPFIX template sets to 127.0.0.1:PORT (e2e.events_more):
#   ipfix_tmpl.py PORT change    template 256 with one field, then with two (a changed layout)
#   ipfix_tmpl.py PORT withdraw  template 257, then its withdrawal (field count 0)
#   ipfix_tmpl.py PORT sources N one template from each of N sockets (N exporters)
import socket
import struct
import sys
import time


def message(seq, records):
    body = b"".join(records)
    tset = struct.pack("!HH", 2, 4 + len(body)) + body
    return struct.pack("!HHIII", 10, 16 + len(tset), int(time.time()), seq, 1) + tset


def template(tid, fields):
    return struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", i, n) for i, n in fields)


def main():
    port, what = int(sys.argv[1]), sys.argv[2]
    if what == "sources":
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[3]))]
        for s in socks:
            s.sendto(message(0, [template(256, [(8, 4)])]), ("127.0.0.1", port))
            time.sleep(0.01)
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if what == "change":
        msgs = [[template(256, [(8, 4)])], [template(256, [(8, 4), (12, 4)])]]
    else:
        msgs = [[template(257, [(8, 4)])], [template(257, [])]]
    for seq, recs in enumerate(msgs):
        s.sendto(message(seq, recs), ("127.0.0.1", port))
        time.sleep(0.05)


main()
