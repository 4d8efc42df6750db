# SPDX-License-Identifier: MIT
# Shared by tests/clickhouse/*.sh: a temp dir, private servers (server.sh), cleanup, and q()
# to run one query on a shard over HTTP. Sourced, not run.
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER="$HERE/server.sh"
command -v clickhouse-server >/dev/null 2>&1 || { echo "clickhouse-server not installed"; exit 77; }
T=$(mktemp -d)
cleanup() {
    "$SERVER" stop "$T" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/s*/log/server.err.log; do
        [ -f "$f" ] && tail -n 5 "$f" >&2
    done
    exit 1
}
# q SHARD SQL: the answer of one query on shard SHARD (1-based), TabSeparated.
q() {
    curl -sf "http://127.0.0.1:$("$SERVER" http "$T" "$1")/" --data-binary "$2" ||
        fail "query on shard $1 failed: $2"
}
url() {
    echo "http://127.0.0.1:$("$SERVER" http "$T" "$1")/"
}
