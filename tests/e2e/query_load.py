# SPDX-License-Identifier: MIT
#
# Query load for e2e.query_load and bench/query_load.sh: HEAVY clients loop over heavy
# queries (a regex over everything, top 10 by destination, a distinct count by port, a
# timechart), reading every answer; STALLED clients ask for everything and never read.
# Runs for SECONDS, then prints "answers=N errors=E" (errors: answers that were not OK; a
# time or memory limit is an answer too).
#
#   python3 query_load.py PORT SECONDS [HEAVY=16] [STALLED=4]
import socket
import sys
import threading
import time

port, secs = int(sys.argv[1]), float(sys.argv[2])
heavy = int(sys.argv[3]) if len(sys.argv) > 3 else 16
stalled = int(sys.argv[4]) if len(sys.argv) > 4 else 4
QUERIES = [
    b"QUERY /(?i)tcp/ | stats count\n",
    b"QUERY * | top 10 dstaddr\n",
    b"QUERY * | stats dc(srcaddr) by dstport\n",
    b"QUERY * | timechart 1m sum(bytes) by protocol\n",
]
end = time.time() + secs
lock = threading.Lock()
count = {"answers": 0, "errors": 0}


def loop(i):
    n = i
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=max(5.0, secs))
            f = s.makefile("rb")
            while time.time() < end:
                s.sendall(QUERIES[n % len(QUERIES)])
                n += 1
                while True:
                    line = f.readline()
                    if not line:
                        raise OSError("closed")
                    if line.startswith(b"OK") or line.startswith(b"ERR "):
                        with lock:
                            count["answers"] += 1
                            count["errors"] += 0 if line.startswith(b"OK") else 1
                        break
            s.close()
        except OSError:
            time.sleep(0.2)


def never_read():
    socks = []
    for _ in range(stalled):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"QUERY *\n" * 4)
            socks.append(s)
        except OSError:
            pass
    while time.time() < end:
        time.sleep(0.2)
    for s in socks:
        s.close()


threads = [threading.Thread(target=loop, args=(i,)) for i in range(heavy)]
threads.append(threading.Thread(target=never_read))
for t in threads:
    t.start()
for t in threads:
    t.join()
print("answers=%d errors=%d" % (count["answers"], count["errors"]))
