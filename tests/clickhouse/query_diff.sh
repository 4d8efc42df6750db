#!/bin/sh
# SPDX-License-Identifier: MIT
# clickhouse.query_diff: a clickhouse-server of its own, the contract's tables, then
# query_diff (tests/clickhouse/query_diff.c) compares BACKEND clickhouse's SQL with the local
# engine over the same records. Skipped (77) when clickhouse-server is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
shift
command -v clickhouse-server >/dev/null 2>&1 || { echo "no clickhouse-server: skipped"; exit 77; }
. "$here/query_server.sh"
tmp=$(mktemp -d /tmp/flowlog-chq.XXXXXX)
trap 'ch_stop; rm -rf "$tmp"' EXIT
ch_start "$tmp" || exit 1
tr '\n' ' ' <"$here/query_schema.sql" | tr ';' '\n' | while read -r stmt; do
    [ -z "$stmt" ] || ch_sql "$stmt" || exit 1
done || exit 1
"$bin" "$ch_http" "$@"
