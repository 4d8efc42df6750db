#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's first command: install dependencies, build, and run the main job.
# Today the decoder is what exists, so the main job decodes the NetFlow/IPFIX captures in
# ../shared/captures (when present) and prints their flow records and decoder counters.
# The collector, store, query server and probe replace this as they land (issues 3-7).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
caps=${CAPTURES_DIR:-../shared/captures}
if [ -d "$caps" ]; then
    for f in "$caps"/wrapped-logstash/ls-ipfix-mikrotik.pcap \
             "$caps"/wrapped-logstash/ls-v9-cisco-asr1001x.pcap \
             "$caps"/native/akvorado/nfv5.pcap; do
        [ -f "$f" ] || continue
        echo "== $f"
        ./build/tests/decdump -s "$f" | head -5
    done
else
    echo "no captures at $caps; decode your own with: ./build/tests/decdump FILE.pcap"
fi
