#!/bin/sh
# SPDX-License-Identifier: MIT
# A throwaway clickhouse-server (Debian's 18.16.1) for the query push-down tests, sourced by
# them: ch_start DIR starts one with its data in DIR, on free loopback ports, and waits for
# /ping; it sets $ch_http (the HTTP port) and $ch_pid. ch_sql runs SQL over HTTP (body on
# stdin or $1); ch_stop ends the server. The tests create the contract's tables themselves
# (docs/scale-out-query.md; the cluster for the Distributed table is `flowlog`, one shard); chsink's tests/clickhouse/server.sh will replace this script.

# A free TCP port on 127.0.0.1 (the kernel's pick; the short window before clickhouse binds
# it is the usual one for servers that cannot report an ephemeral port).
ch_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ch_start() {
    ch_dir=$1
    mkdir -p "$ch_dir/data" "$ch_dir/tmp" "$ch_dir/files" "$ch_dir/log"
    ch_http=$(ch_free_port)
    ch_tcp=$(ch_free_port)
    cat >"$ch_dir/users.xml" <<XML
<yandex>
  <profiles><default/></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default/></quotas>
</yandex>
XML
    cat >"$ch_dir/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$ch_dir/log/server.log</log>
    <errorlog>$ch_dir/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$ch_http</http_port>
  <tcp_port>$ch_tcp</tcp_port>
  <path>$ch_dir/data/</path>
  <tmp_path>$ch_dir/tmp/</tmp_path>
  <user_files_path>$ch_dir/files/</user_files_path>
  <users_config>$ch_dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <remote_servers><flowlog><shard><replica><host>127.0.0.1</host><port>$ch_tcp</port>
    </replica></shard></flowlog></remote_servers>
</yandex>
XML
    clickhouse-server --config-file="$ch_dir/config.xml" >"$ch_dir/log/stdout" 2>&1 &
    ch_pid=$!
    i=0
    while [ $i -lt 300 ]; do
        if curl -sf "http://127.0.0.1:$ch_http/ping" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$ch_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "clickhouse-server did not start:" >&2
    tail -20 "$ch_dir/log/stdout" "$ch_dir/log/error.log" >&2 2>/dev/null
    return 1
}

# ch_sql [SQL]: the statement (or stdin) over HTTP; the answer on stdout, an error on stderr
# with status 1.
ch_sql() {
    if [ $# -gt 0 ]; then
        printf '%s' "$1" | ch_sql
        return
    fi
    curl -sS --fail-with-body --data-binary @- "http://127.0.0.1:$ch_http/"
}

ch_stop() {
    if [ -n "${ch_pid:-}" ]; then
        kill "$ch_pid" 2>/dev/null
        wait "$ch_pid" 2>/dev/null
        ch_pid=
    fi
}
