#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.daemon_mode: without -f, flowlogd detaches once it has started (the command returns 0
# after printing its listeners), writes its pid file, keeps ingesting in the background,
# stops on SIGTERM within 5 s and removes the pid file. A daemon that cannot start makes the
# command fail, with the reason on its standard error.
#
#   daemon_mode.sh FLOWLOGD NFSEND STORDUMP
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"

conf=$tmp/flowlogd.conf
cat >"$conf" <<CONF
[collector]
data_dir = $tmp/store
listen = udp:127.0.0.1:0
pid_file = $tmp/flowlogd.pid
CONF

# A start-up failure (the data directory is a file) reaches the caller: status 1.
: >"$tmp/notadir"
status=0
timeout 10 "$flowlogd" -w "" -q "" -c "$conf" -d "$tmp/notadir" >"$tmp/fail.out" 2>"$tmp/fail.err" ||
    status=$?
[ "$status" = 1 ] || fail "daemon start on a bad store: status $status, expected 1"
grep -q "store $tmp/notadir" "$tmp/fail.err" || fail "no reason given: $(cat "$tmp/fail.err")"
[ -e "$tmp/flowlogd.pid" ] && fail "pid file left by a failed start"
echo "ok: failed start reported: $(head -n 1 "$tmp/fail.err")"

# The real start: returns at once, 0, with the listener printed.
timeout 10 "$flowlogd" -w "" -q "" -c "$conf" >"$tmp/flowlogd.out" 2>"$tmp/flowlogd.err" ||
    fail "daemon start failed: $(cat "$tmp/flowlogd.err")"
[ -s "$tmp/flowlogd.pid" ] || fail "no pid file"
pid=$(cat "$tmp/flowlogd.pid")
kill -0 "$pid" 2>/dev/null || fail "pid file names no live process"
# Detached: its own session, not a session leader (so it can never get a terminal).
read -r sid < <(ps -o sid= -p "$pid")
[ "$sid" != "$pid" ] || fail "the daemon is a session leader"
[ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] || fail "the daemon stayed in our session"
[ "$(readlink "/proc/$pid/cwd")" = / ] || fail "the daemon did not change to /"
port=$(port_of udp 127.0.0.1)
line=$("$nfsend" -p "$port" -a 127.0.0.1 -n 1500 -s 41) || fail "nfsend failed"
sleep 0.5
kill -TERM "$pid"
for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "daemon still running 5 s after SIGTERM"
pid=
[ -e "$tmp/flowlogd.pid" ] && fail "pid file not removed at exit"
check_store "$(totals_of "$line")"
