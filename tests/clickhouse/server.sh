#!/bin/sh
# SPDX-License-Identifier: MIT
# Start, stop and restart private ClickHouse servers for tests and benches: each in its own
# directory under DIR, on free loopback ports, never the system service (which tests must not
# rely on). The servers form one cluster named "flowlog" (one shard per server, one replica
# each) in every server's remote_servers, so a Distributed table over it works on any of them.
#
#   server.sh start DIR N     start N servers (shards 1..N); prints "shard http tcp" per line
#                             and writes the same lines to DIR/ports
#   server.sh stop DIR [I]    stop every server, or shard I only (SIGTERM, then waits)
#   server.sh restart DIR I   start shard I again on the same ports and data
#   server.sh http DIR I      print shard I's HTTP port
#
# Readiness is polled on /ping (about a second on an idle machine; we allow 60 s for a loaded
# one). Running as root works: 18.16 does not refuse it (checked in CI, which runs as root).
# Exit status 77 when clickhouse-server is not installed, so ctest can count the test skipped.
set -eu
CH=${CLICKHOUSE_SERVER:-$(command -v clickhouse-server || true)}
[ -n "$CH" ] || { echo "server.sh: clickhouse-server is not installed" >&2; exit 77; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

write_config() { # dir shard http tcp inter
    d=$1
    mkdir -p "$d/data/tmp" "$d/data/user_files" "$d/log"
    {
        echo '<?xml version="1.0"?><yandex>'
        echo "<logger><level>warning</level><log>$d/log/server.log</log>"
        echo "<errorlog>$d/log/server.err.log</errorlog><console>0</console></logger>"
        echo "<http_port>$3</http_port><tcp_port>$4</tcp_port>"
        echo "<interserver_http_port>$5</interserver_http_port>"
        echo '<interserver_http_host>127.0.0.1</interserver_http_host>'
        echo '<listen_host>127.0.0.1</listen_host>'
        echo "<path>$d/data/</path><tmp_path>$d/data/tmp/</tmp_path>"
        echo "<user_files_path>$d/data/user_files/</user_files_path>"
        echo "<format_schema_path>$d/data/format_schemas/</format_schema_path>"
        echo '<users_config>/etc/clickhouse-server/users.xml</users_config>'
        echo '<default_profile>default</default_profile><default_database>default</default_database>'
        echo '<timezone>UTC</timezone><mark_cache_size>67108864</mark_cache_size>'
        echo '<uncompressed_cache_size>67108864</uncompressed_cache_size>'
        echo '<max_concurrent_queries>100</max_concurrent_queries>'
        echo "<macros><shard>$2</shard><replica>r$2</replica></macros>"
        echo '<remote_servers><flowlog>'
        cat "$DIR/cluster.xml"
        echo '</flowlog></remote_servers></yandex>'
    } >"$d/config.xml"
}

launch() { # shard
    d=$DIR/s$1
    http=$(awk -v s="$1" '$1 == s { print $2 }' "$DIR/ports")
    "$CH" --config-file="$d/config.xml" --pid-file="$d/pid" >"$d/log/stdout" 2>&1 &
    echo $! >"$d/pid.sh"
    i=0
    until curl -sf "http://127.0.0.1:$http/ping" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 "$(cat "$d/pid.sh")" 2>/dev/null; then
            echo "server.sh: shard $1 did not start; log:" >&2
            tail -n 20 "$d/log/server.err.log" "$d/log/stdout" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}

stop_one() { # shard
    f=$DIR/s$1/pid.sh
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || { sed -n '6,11p' "$0" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
case $cmd in
start)
    n=${3:-1}
    : >"$DIR/ports"
    : >"$DIR/cluster.xml"
    s=1
    while [ $s -le "$n" ]; do
        http=$(free_port); tcp=$(free_port); inter=$(free_port)
        echo "$s $http $tcp $inter" >>"$DIR/ports"
        echo "<shard><replica><host>127.0.0.1</host><port>$tcp</port></replica></shard>" \
            >>"$DIR/cluster.xml"
        s=$((s + 1))
    done
    while read -r s http tcp inter; do
        write_config "$DIR/s$s" "$s" "$http" "$tcp" "$inter"
    done <"$DIR/ports"
    s=1
    while [ $s -le "$n" ]; do
        launch $s
        s=$((s + 1))
    done
    awk '{ print $1, $2, $3 }' "$DIR/ports"
    ;;
stop)
    if [ -n "${3:-}" ]; then
        stop_one "$3"
    else
        while read -r s _; do stop_one "$s"; done <"$DIR/ports"
    fi
    ;;
restart)
    launch "$3"
    ;;
http)
    awk -v s="$3" '$1 == s { print $2 }' "$DIR/ports"
    ;;
*)
    sed -n '6,11p' "$0" >&2
    exit 2
    ;;
esac
