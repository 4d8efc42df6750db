#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.backup: BACKUP / `flowlog backup DIR` against a live flowlogd (storage/src/backup.c).
# nfsend runs while a first backup is taken (under load): it must finish and open cleanly.
# nfsend then pauses after N records; once the store holds all N (records-in = N, nothing
# pending or queued), a second backup must hold exactly N records (stordump), and a second
# flowlogd started on that copy (-d COPY) opens it and counts N too. A backup into a
# non-empty directory is ERR EXISTS, a relative one ERR ARGS, a reader's ERR DENIED.
#
#   backup.sh FLOWLOGD NFSEND FLOWLOG STORDUMP
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3 stordump=$4
. "$(dirname "$0")/lib.sh"

token=reader-token-0123456789
admin=admin-token-0123456789
half=15000
printf '[query]\ntoken = %s\nadmin_token = %s\n' "$token" "$admin" >"$tmp/f.conf"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
q() {
    "$flowlog" -s "127.0.0.1:$qport" --token "$1" "${@:2}"
}
"$nfsend" -p "$port" -a 127.0.0.1 -n $((2 * half)) -r 200 -s 7 -P "$half" -W "$tmp/go" \
    >"$tmp/nfsend.out" &
sender=$!
trap 'kill "$sender" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 100); do
    [ "$(stat_of store-records-in --token "$token")" -gt 1000 ] && break
    sleep 0.1
done

# 1. Under load.
out=$(q "$admin" backup "$tmp/b1" 2>&1) || fail "backup under load failed: $out"
echo "$out" | grep -q "^backup $tmp/b1 [0-9]* partitions" || fail "backup answered: $out"
[ -s "$tmp/b1/backup.done" ] && [ ! -e "$tmp/b1/backup.partial" ] || fail "no backup.done in b1"
[ -s "$tmp/b1/catalog.mdb" ] || fail "no catalog in b1"
dump1=$("$stordump" "$tmp/b1") || fail "stordump cannot read the backup taken under load"
r1=$(totals_of "$dump1" | cut -d' ' -f1)
[ -n "$r1" ] && [ "$r1" -gt 0 ] && [ "$r1" -le "$half" ] || fail "the backup under load holds $dump1"
echo "ok: backup under load: $out; $dump1"

# 2. Pinned: all of the first half stored, nothing pending.
for _ in $(seq 300); do
    if [ "$(stat_of store-records-in --token "$token")" = "$half" ] &&
        [ "$(stat_of store-pending-records --token "$token")" = 0 ] &&
        [ "$(stat_of store-queue-batches --token "$token")" = 0 ]; then
        break
    fi
    sleep 0.1
done
[ "$(stat_of store-records-in --token "$token")" = "$half" ] || fail "the store did not take $half records"
out=$(q "$admin" backup "$tmp/b2" 2>&1) || fail "pinned backup failed: $out"
dump2=$("$stordump" "$tmp/b2") || fail "stordump cannot read the pinned backup"
[ "$(totals_of "$dump2" | cut -d' ' -f1)" = "$half" ] ||
    fail "the pinned backup holds $dump2, not $half records"
echo "ok: pinned backup holds $half records: $dump2"
touch "$tmp/go"

# 3. Refusals: the same directory again, a relative one, a reader.
set +e
out=$(q "$admin" backup "$tmp/b2" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && echo "$out" | grep -q "ERR EXISTS" || fail "backup into b2 again: rc=$rc $out"
set +e
out=$(q "$admin" backup b3 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && echo "$out" | grep -q "ERR ARGS" || fail "a relative directory: rc=$rc $out"
set +e
out=$(q "$token" backup "$tmp/b4" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && echo "$out" | grep -q "ERR DENIED" || fail "a reader's backup: rc=$rc $out"
[ ! -e "$tmp/b4" ] || fail "a reader's backup created $tmp/b4"
echo "ok: refused: a non-empty directory, a relative one, a reader"

wait "$sender" || fail "nfsend failed"
sent=$(totals_of "$(cat "$tmp/nfsend.out")")
stop_flowlogd
check_store "$sent"

# 4. A second flowlogd on the pinned copy opens it and serves its records.
mv "$tmp/store" "$tmp/store.orig"
mv "$tmp/b2" "$tmp/store"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
n=$(q "$token" query '* | stats count' | tail -n 1)
[ "$n" = "$half" ] || fail "flowlogd on the copy counts '$n' records, not $half: $(q "$token" query '* | stats count')"
stop_flowlogd
echo "ok: flowlogd opens the copy and counts $half records"
