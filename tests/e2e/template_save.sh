#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.template_save: templates are saved while flowlogd runs (by the query plane, off the
# ingest loop), once per change, so that even a killed flowlogd (SIGKILL: no save at exit)
# decodes a stream's data sets after a restart.
#
#   template_save.sh FLOWLOGD NFSEND STORDUMP FLOWLOG
#
# One nfsend (one source port, templates sent once, never refreshed) sends half its records;
# with template_save_interval = 1s, STATS must show one snapshot saved, and still one three
# intervals later (nothing changed); flowlogd is killed, started again on the same port, and
# the second half, data sets only, must decode: the store holds every record.
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3 flowlog=$4
. "$(dirname "$0")/lib.sh"

printf '[collector]\ntemplate_save_interval = 1s\n' >"$tmp/t.conf"
# start_t PORT: flowlogd on udp 127.0.0.1:PORT (0 = any) with the config; sets pid, port, qport.
start_t() {
    start_with -c "$tmp/t.conf" -l "udp:127.0.0.1:$1"
}
saved() {
    stat_of templates-saved
}

start_t 0
first=$port
"$nfsend" -R -P 2000 -W "$tmp/go" -p "$port" -n 4000 -r 2000 -s 31 >"$tmp/sent" &
sender=$!
sleep 2.5 # 2000 records at 2000 messages/s are out well within this; then the sender waits
n=$(saved)
[ "$n" = 1 ] || fail "templates-saved $n after the templates came (want 1)"
sleep 3
n=$(saved)
[ "$n" = 1 ] || fail "templates-saved $n three intervals later without a change (want 1)"
echo "ok: one snapshot saved while running, none while nothing changed"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
start_t "$first"
touch "$tmp/go"
wait "$sender" || fail "nfsend failed"
sleep 1
stop_flowlogd
read -r r p b < <(totals_of "$(cat "$tmp/sent")")
check_store "$r $p $b"
