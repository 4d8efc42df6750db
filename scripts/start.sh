#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's first command: install dependencies, build, and run the main job.
# Today that is: start flowlogd on a fresh store (a temporary directory, or $DATA_DIR) with
# a UDP listener on loopback, replay flows into it with nfsend (IPFIX, NetFlow v9 and v5,
# loopback only), stop it, and show what the store holds. The query server, flowprobe and
# the top-talkers answer replace this as issues 5-7 land.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
dir=${DATA_DIR:-$(mktemp -d)}
out=$(mktemp)
./build/collector/flowlogd -f -d "$dir" -l udp:127.0.0.1:0 >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
port=""
for _ in $(seq 50); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "flowlogd did not start" >&2; exit 1; }
echo "flowlogd listening on 127.0.0.1:$port, store $dir"
for v in 10 9 5; do
    ./build/tests/nfsend -p "$port" -v "$v" -n 20000 -r 5000 -s "$v"
done
sleep 1
kill -TERM "$pid"
wait "$pid"
trap - EXIT
rm -f "$out"
echo "the store now holds:"
./build/tests/stordump "$dir"
