#!/bin/sh
# SPDX-License-Identifier: MIT
# clickhouse.query_diff: a clickhouse-server of its own (server.sh, one shard), the contract's
# tables, then query_diff (tests/clickhouse/query_diff.c) compares BACKEND clickhouse's SQL with
# the local engine over the same records. Skipped (77) when clickhouse-server is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
shift
command -v clickhouse-server >/dev/null 2>&1 || { echo "no clickhouse-server: skipped"; exit 77; }
tmp=$(mktemp -d /tmp/flowlog-chq.XXXXXX)
trap '"$here/server.sh" stop "$tmp/ch" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/ch"
"$here/server.sh" start "$tmp/ch" 1 >/dev/null || exit 1
ch_http=$("$here/server.sh" http "$tmp/ch" 1)
tr '\n' ' ' <"$here/query_schema.sql" | tr ';' '\n' | while read -r stmt; do
    [ -z "$stmt" ] && continue
    printf '%s' "$stmt" | curl -sS --fail-with-body --data-binary @- "http://127.0.0.1:$ch_http/" ||
        exit 1
done || exit 1
"$bin" "$ch_http" "$@"
