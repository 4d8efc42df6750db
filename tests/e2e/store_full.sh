#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.store_full: when commits start failing (a store map of 1 MiB that cannot grow, and, as
# root, a tmpfs that fills and empties again), flowlogd says so in a warning line naming the
# error, once, and again when commits succeed again; not only in counters.
#
#   store_full.sh FLOWLOGD NFSEND
set -euo pipefail
flowlogd=$1 nfsend=$2
. "$(dirname "$0")/lib.sh"

printf '[store]\nmap_max = 1M\n' >"$tmp/f.conf"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
"$nfsend" -p "$port" -n 100000 -r 0 -s 3 >/dev/null || fail "nfsend failed"
for _ in $(seq 200); do
    grep -Eq "store: commits are failing: [A-Za-z]" "$tmp/flowlogd.err" && break
    sleep 0.1
done
grep -Eq "store: commits are failing: [A-Za-z]" "$tmp/flowlogd.err" ||
    fail "no warning line while commits fail for lack of space"
[ "$(grep -c "store: commits are failing" "$tmp/flowlogd.err")" = 1 ] ||
    fail "the warning repeats: $(grep -c "store: commits are failing" "$tmp/flowlogd.err") lines"
echo "ok: failing commits logged once, naming the error"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 1 ] || fail "flowlogd exited $status after a failed final commit (want 1)"

# A disk that fills and empties again (a tmpfs, when this may mount one: root): the warning
# when commits fail with no space, and another when they succeed again.
mnt=$tmp/mnt
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=24m tmpfs "$mnt" 2>/dev/null; then
    echo "skip: cannot mount a tmpfs here (not root); the recovery line is not checked"
    exit 0
fi
# flowlogd goes first: the tmpfs cannot be unmounted while it holds files there.
unmount() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
    fi
    umount "$mnt" 2>/dev/null || true
    cleanup
}
trap unmount EXIT
: >"$tmp/flowlogd.err"
"$flowlogd" -f -d "$mnt/store" -l udp:127.0.0.1:0 -q "" -w "" >"$tmp/flowlogd.out" \
    2>>"$tmp/flowlogd.err" &
pid=$!
port=
for _ in $(seq 50); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "flowlogd (store on a tmpfs) did not start"
# Fill the disk to the last block once flowlogd holds its files: then the first commit that
# needs one more page fails, however few records reach the store (a loaded machine drops
# datagrams at the socket, and a filler of fixed size left room for what arrived).
dd if=/dev/zero of="$mnt/filler" bs=64k status=none 2>/dev/null || true
"$nfsend" -p "$port" -n 60000 -r 2000 -s 4 >"$tmp/sent" || fail "nfsend failed"
for _ in $(seq 200); do
    grep -Eq "store: commits are failing: [A-Za-z]" "$tmp/flowlogd.err" && break
    sleep 0.1
done
grep -Eq "store: commits are failing: [A-Za-z]" "$tmp/flowlogd.err" ||
    fail "no warning line when the disk filled"
rm -f "$mnt/filler"
for _ in $(seq 300); do
    grep -q "store: commits succeed again" "$tmp/flowlogd.err" && break
    sleep 0.1
done
grep -q "store: commits succeed again" "$tmp/flowlogd.err" ||
    fail "no line saying commits succeed again once space returned"
echo "ok: $(grep -E 'store: commits (are failing|succeed again)' "$tmp/flowlogd.err" | tr '\n' ' ')"
stop_flowlogd
