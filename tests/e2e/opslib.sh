# SPDX-License-Identifier: MIT
# Helpers for the operational e2e tests (config file, allow-list, reload, daemon mode),
# sourced after lib.sh: start flowlogd with a config file and extra arguments, read the
# ports it bound, and wait for a line in its log.

# start_conf CONF [ARGS...]: flowlogd -f -w "" -q 127.0.0.1:0 -c CONF ARGS... (no fixed ports);
# stdout/stderr in $tmp; sets $pid.
# Waits until it printed a 'listening' line for every listener it was given.
start_conf() {
    local conf=$1 want
    shift
    "$flowlogd" -f -w "" -q 127.0.0.1:0 -c "$conf" "$@" >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
    pid=$!
    local nl=0
    for a in "$@"; do
        [ "$a" = -l ] && nl=$((nl + 1))
    done
    # -l replaces the file's listeners.
    if [ "$nl" -gt 0 ]; then
        want=$nl
    else
        want=$(grep -c '^listen *=' "$conf" || true)
    fi
    for _ in $(seq 50); do
        [ "$(grep -c '^listening ' "$tmp/flowlogd.out")" -ge "$want" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
        sleep 0.1
    done
    fail "flowlogd did not print $want 'listening' lines within 5 s"
}

# port_of PROTO ADDR: the port flowlogd printed for that listener ("[::1]" for IPv6).
port_of() {
    local line
    line=$(grep -F "listening $1 $2:" "$tmp/flowlogd.out" | head -n 1)
    [ -n "$line" ] || fail "no 'listening $1 $2:PORT' line"
    echo "${line##*:}"
}

# wait_log PATTERN [SECONDS]: wait until flowlogd's stderr has a line matching the extended
# regular expression; prints the last such line.
wait_log() {
    local pat=$1 secs=${2:-5}
    for _ in $(seq $((secs * 10))); do
        if grep -Eq -- "$pat" "$tmp/flowlogd.err"; then
            grep -E -- "$pat" "$tmp/flowlogd.err" | tail -n 1
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "flowlogd exited while waiting for: $pat"
        sleep 0.1
    done
    fail "no log line matching '$pat' within $secs s"
}

# messages_of LINE: the messages=M figure of nfsend's line.
messages_of() {
    echo "$1" | sed -n 's/^.*messages=\([0-9]*\).*$/\1/p'
}
