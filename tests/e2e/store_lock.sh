#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.store_lock: two flowlogd on one data directory (reliability review #2: both ran and
# lost about half the records without an error). The second must exit non-zero at once with
# a message naming the directory and the first one's pid, and the first keeps running.
#
#   store_lock.sh FLOWLOGD
set -euo pipefail
flowlogd=$1
. "$(dirname "$0")/lib.sh"

start_flowlogd udp
set +e
timeout 10 "$flowlogd" -f -w "" -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 \
    >"$tmp/second.out" 2>"$tmp/second.err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a second flowlogd on $tmp/store started (exit 0)"
[ "$rc" -ne 124 ] || fail "a second flowlogd on $tmp/store kept running"
grep -q "in use by another process (pid $pid" "$tmp/second.err" ||
    fail "the second flowlogd did not name the holder: $(cat "$tmp/second.err")"
grep -q "$tmp/store" "$tmp/second.err" || fail "the second flowlogd did not name the directory"
kill -0 "$pid" 2>/dev/null || fail "the first flowlogd died"
stop_flowlogd
echo "second flowlogd refused: $(head -n 1 "$tmp/second.err")"
