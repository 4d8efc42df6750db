#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.store_full: when commits start failing (here: a store map of 1 MiB that cannot grow,
# so the store has no space), flowlogd says so in a warning line naming the error, once,
# not only in counters.
#
#   store_full.sh FLOWLOGD NFSEND
set -euo pipefail
flowlogd=$1 nfsend=$2
. "$(dirname "$0")/lib.sh"

printf '[store]\nmap_size = 1M\nmap_max = 1M\n' >"$tmp/f.conf"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
"$nfsend" -p "$port" -n 100000 -r 0 -s 3 >/dev/null || fail "nfsend failed"
for _ in $(seq 100); do
    grep -Eq "store: commits are failing: [a-z]" "$tmp/flowlogd.err" && break
    sleep 0.1
done
grep -Eq "store: commits are failing: [a-z]" "$tmp/flowlogd.err" ||
    fail "no warning line while commits fail for lack of space"
[ "$(grep -c "store: commits are failing" "$tmp/flowlogd.err")" = 1 ] ||
    fail "the warning repeats: $(grep -c "store: commits are failing" "$tmp/flowlogd.err") lines"
echo "ok: failing commits logged once, naming the error"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 1 ] || fail "flowlogd exited $status after a failed final commit (want 1)"
