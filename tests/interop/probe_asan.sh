#!/bin/bash
# SPDX-License-Identifier: MIT
# Every capture in ../shared/captures (export captures, traffic, the malformed ones) runs
# through flowprobe -r in all three export versions and ends cleanly: exit 0, or 1 with
# flowprobe's own message when libpcap cannot read a damaged file to its end (as tcpdump
# does), and no sanitizer report (in an ASan/UBSan build dir this is the sanitizer check;
# elsewhere it still checks that no file crashes or stalls it).
# usage: probe_asan.sh FLOWPROBE PROBE_UDPCAP CAPTURES_DIR
set -eu
flowprobe=$1 udpcap=$2 captures=$3
. "$(dirname "$0")/probe_lib.sh"
[ -d "$captures" ] || { echo "SKIP: no captures at $captures"; exit 77; }
start_udpcap sink
n=0
while IFS= read -r -d '' f; do
    for v in 10 9 5; do
        status=0
        timeout 20 "$flowprobe" -r "$f" -c "127.0.0.1:$uc_port" -v $v --idle 5 --active 10 \
            --max-flows 16 --local-net 10.0.0.0/8 --instance-id i-1 \
            >"$tmp/out.log" 2>"$tmp/err.log" || status=$?
        if [ $status = 1 ] && ! grep -q "^flowprobe: " "$tmp/err.log"; then
            status=crash # exit 1 without flowprobe saying why: a sanitizer's
        fi
        if { [ $status != 0 ] && [ $status != 1 ]; } ||
            grep -qE "Sanitizer|runtime error" "$tmp/err.log"; then
            cat "$tmp/err.log" >&2
            fail "$f (-v $v): exit $status"
        fi
    done
    n=$((n + 1))
done < <(find "$captures" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) -print0)
[ $n -gt 0 ] || { echo "SKIP: no capture files in $captures"; exit 77; }
echo "ok: $n captures x 3 versions ran clean"
