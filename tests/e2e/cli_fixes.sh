#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CLI's small fixes (issue 16): describe lists the built-in "default" flow log (active
# while no flow log is defined, listed after one is); every answer the CLI prints ends with a
# newline, in each format; on a terminal, windows is a table with a header like the others.
#
#   cli_fixes.sh FLOWLOGD NFSEND FLOWLOG
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/lib.sh"

start_with -w "" -l udp:127.0.0.1:0
"$nfsend" -p "$port" -a 127.0.0.1 -v 10 -n 500 -r 5000 -s 3 >/dev/null
fl() { "$flowlog" -s "127.0.0.1:$qport" "$@"; }
for _ in $(seq 50); do
    [ "$(fl nfdump -I | awk '{ print $1 }')" = 500 ] && break
    sleep 0.2
done

out=$(fl describe)
echo "$out" | grep -q '^default 0 600 all on on ' || fail "describe without flow logs: $out"
fl -f json describe | grep -q '"name":"default","id":0,' || fail "JSON describe: no default"
fl describe default | grep -q '^default 0 ' || fail "describe default: not found"
fl create web window=60 >/dev/null
out=$(fl describe)
echo "$out" | grep -q '^default 0 600 all on off ' ||
    fail "describe with a flow log: default should be listed, inactive: $out"
echo "$out" | grep -q '^web 1 60 ' || fail "describe: web missing: $out"
echo "ok: describe lists the built-in default flow log"

# Every answer ends with a newline: the last byte of each output is \n (and it is not empty).
set -f # the commands are split on blanks, not globbed
for f in text json csv; do
    for cmd in "describe" "windows" "stats" "exporters" "help" "query * | limit 3" \
        "query * | stats count" "nfdump -I" "nfdump -s dstport -n 2"; do
        # shellcheck disable=SC2086
        fl -f "$f" $cmd >"$tmp/out" 2>/dev/null || fail "-f $f $cmd failed"
        [ -s "$tmp/out" ] || fail "-f $f $cmd printed nothing"
        [ "$(tail -c 1 "$tmp/out" | od -An -c | tr -d ' ')" = '\n' ] ||
            fail "-f $f $cmd: the output does not end with a newline"
    done
done
set +f
echo "ok: every output ends with a newline (text, json, csv)"

# On a terminal: a table with a header, for windows as for the others.
if command -v script >/dev/null 2>&1; then
    for cmd in windows describe exporters; do
        script -qec "$flowlog -s 127.0.0.1:$qport $cmd" /dev/null >"$tmp/tty" </dev/null ||
            fail "$cmd on a terminal failed"
        head -n 1 "$tmp/tty" | tr -d '\r' >"$tmp/head"
        case $cmd in
        windows) want='^flowlog +start +length +status +records' ;;
        describe) want='^name +id +window +traffic' ;;
        exporters) want='^exporter +version +first-seen' ;;
        esac
        grep -Eq "$want" "$tmp/head" || fail "$cmd on a terminal: no header: $(cat "$tmp/head")"
    done
    echo "ok: windows, describe and exporters on a terminal have a header"
else
    echo "note: no script(1): the terminal check was skipped"
fi
stop_flowlogd
