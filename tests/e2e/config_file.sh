#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# e2e.config_file: flowlogd takes its data directory and listeners from -c FILE, the command
# line overrides the file, a bad file is refused with FILE:LINE and the key in the message,
# and SIGHUP keeps the running config when the new one is bad, says which changes need a
# restart, and applies the ones that can change live.
#
#   config_file.sh FLOWLOGD NFSEND STORDUMP
set -euo pipefail
flowlogd=$1 nfsend=$2 stordump=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/opslib.sh"

# 1. Bad files: exit status 2 and FILE:LINE: section.key in the message, before any start.
bad=$tmp/bad.conf
check_bad() { # TEXT EXPECTED-MESSAGE-PART
    printf '%b' "$1" >"$bad"
    local status=0
    "$flowlogd" -f -w "" -c "$bad" -d "$tmp/nostore" >"$tmp/bad.out" 2>"$tmp/bad.err" || status=$?
    [ "$status" = 2 ] || fail "bad config ($1): exit status $status, expected 2"
    grep -qF -- "$bad:$2" "$tmp/bad.err" || fail "bad config ($1): got '$(cat "$tmp/bad.err")'"
    [ -e "$tmp/nostore" ] && fail "a bad config still created the store"
    echo "ok: refused: $(cat "$tmp/bad.err")"
}
check_bad '[collector]\n# comment\nlog_interval = 5 minutes\n' \
    "3: collector.log_interval: '5 minutes' is not a duration"
check_bad '[collector]\nallow = 10.0.0.0/8, 10.0.0.300\n' "2: collector.allow: '10.0.0.300'"
check_bad '[store]\nretention = 30d\nretension = 30d\n' "3: store.retension: unknown key"
check_bad '[decoder]\ntemplates_max = 0\n' "2: decoder.templates_max: 0 is out of range"
check_bad '[collector]\nlisten = udp:127.0.0.1\n' "2: collector.listen: listener udp:127.0.0.1: expected"
check_bad '[collector]\nlog_level info\n' "2: syntax error"

# -t checks a file without starting.
good=$tmp/good.conf
cat >"$good" <<CONF
# The file's listeners and data directory are used when the command line gives none.
[collector]
data_dir = $tmp/store
listen = udp:127.0.0.1:0
log_interval = 0
log_level = info
[store]
commit_interval = 200ms
retention = 30d
[decoder]
template_lifetime = 10m
CONF
"$flowlogd" -c "$good" -t | grep -qF "$good: OK" || fail "-t did not accept the good file"

# 2. The file is used: listener and data directory.
start_conf "$good"
port=$(port_of udp 127.0.0.1)
line=$("$nfsend" -p "$port" -a 127.0.0.1 -n 2000 -s 31) || fail "nfsend failed"
read -r r p b < <(totals_of "$line")

# 3. Reloads. A bad file is refused and the old config stays (the process keeps running).
cp "$good" "$tmp/good.bak"
printf '[collector]\nlog_interval = often\n' >>"$good"
kill -HUP "$pid"
wait_log "reload: $good:13: collector.log_interval: 'often' is not .*; keeping the running config" \
    >/dev/null
echo "ok: bad reload refused"
# Changes that cannot apply live are named and kept; live ones apply.
cp "$tmp/good.bak" "$good"
sed -i -e 's|^listen = .*|listen = udp:127.0.0.1:9|' -e 's|^retention = .*|retention = 7d|' \
    -e 's|^log_interval = 0|log_interval = 1s|' -e 's|^commit_interval = .*|commit_interval = 300ms|' \
    "$good"
kill -HUP "$pid"
wait_log "reload: collector.listen store.commit_interval changed: needs a restart" >/dev/null
wait_log "reload: applied collector.log_interval store.retention" >/dev/null
# The listener kept its port, and the new log interval is in force: a counter line comes.
more=$("$nfsend" -p "$port" -a 127.0.0.1 -n 500 -s 32) || fail "nfsend (2) failed"
read -r r2 p2 b2 < <(totals_of "$more")
wait_log "stats: .* records=$((r + r2)) " 5 >/dev/null
echo "ok: reload applied the log interval and kept the listener"
stop_flowlogd
check_store "$((r + r2)) $((p + p2)) $((b + b2))"

# 4. The command line overrides the file: -l replaces its listeners, -d its data directory.
: >"$tmp/flowlogd.err"
start_conf "$tmp/good.bak" -l tcp:127.0.0.1:0 -d "$tmp/store2"
grep -q '^listening udp ' "$tmp/flowlogd.out" && fail "-l did not replace the file's listeners"
tport=$(port_of tcp 127.0.0.1)
line=$("$nfsend" -p "$tport" -a 127.0.0.1 -T -n 300 -s 33) || fail "nfsend -T failed"
sleep 0.3
stop_flowlogd
[ -d "$tmp/store2" ] || fail "-d did not override data_dir"
got=$("$stordump" "$tmp/store2") || fail "stordump store2 failed"
[ "$(totals_of "$got")" = "$(totals_of "$line")" ] || fail "store2: sent $line, has $got"
echo "ok: -l and -d override the file"
