#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.exporters_forget: EXPORTERS FORGET through the CLI against a real flowlogd. Two IPFIX
# exporters (127.0.0.1 and 127.0.0.2) are listed; a reader may not forget one (ERR DENIED);
# an admin forgets 127.0.0.1, which leaves EXPORTERS while 127.0.0.2 stays; forgetting it
# again is ERR NOTFOUND, and a prefix instead of an address is ERR ARGS.
#
#   exporters_forget.sh FLOWLOGD NFSEND FLOWLOG
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"

token=reader-token-0123456789
admin=admin-token-0123456789
printf '[query]\ntoken = %s\nadmin_token = %s\n' "$token" "$admin" >"$tmp/f.conf"
start_with -c "$tmp/f.conf" -l udp:127.0.0.1:0
q() {
    "$flowlog" -s "127.0.0.1:$qport" --token "$1" "${@:2}"
}
"$nfsend" -p "$port" -a 127.0.0.1 -n 200 -r 500 -s 41 >/dev/null
"$nfsend" -p "$port" -b 127.0.0.2 -n 200 -r 500 -s 42 >/dev/null ||
    fail "nfsend from 127.0.0.2 failed"
for _ in $(seq 50); do
    [ "$(q "$token" exporters | grep -c '^127\.0\.0\.')" -ge 2 ] && break
    sleep 0.1
done
q "$token" exporters | grep -q '^127\.0\.0\.1:' || fail "127.0.0.1 not listed: $(q "$token" exporters)"

set +e
out=$(q "$token" exporters forget 127.0.0.1 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && echo "$out" | grep -q "DENIED" || fail "a reader forgot an exporter: rc=$rc $out"

out=$(q "$admin" exporters forget 127.0.0.1) || fail "forget failed: $out"
echo "$out" | grep -q '127\.0\.0\.1' || fail "forget answered no row: $out"
list=$(q "$token" exporters)
if echo "$list" | grep -q '^127\.0\.0\.1:'; then
    fail "127.0.0.1 still listed after forget: $list"
fi
echo "$list" | grep -q '^127\.0\.0\.2:' || fail "127.0.0.2 was forgotten too: $list"

set +e
out=$(q "$admin" exporters forget 127.0.0.1 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && echo "$out" | grep -q "NOTFOUND" || fail "forgetting twice: rc=$rc $out"
set +e
out=$(q "$admin" exporters forget 10.0.0.0/8 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && echo "$out" | grep -q "ERR ARGS" || fail "a prefix was taken: rc=$rc $out"
echo "ok: EXPORTERS FORGET needs the admin token, forgets one exporter, keeps the others"
stop_flowlogd
