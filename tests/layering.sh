#!/bin/sh
# SPDX-License-Identifier: MIT
# The decoder and the encoder are pure: no libuv, LMDB, PCRE2, stdio, sockets or clock in
# decoder/ or encoder/.
# Storage owns LMDB: no LMDB name outside storage/src (and storage's own unit tests).
set -u
root=${1:-.}
bad=0
if grep -rnE 'uv\.h|lmdb\.h|pcre2\.h|stdio\.h|sys/socket\.h|[^_a-z]time\(|clock_gettime\(' \
        "$root/decoder/src" "$root/decoder/include" "$root/encoder/src" "$root/encoder/include"; then
    echo "layering: the decoder and encoder must not do I/O, read the clock or use libuv/LMDB/PCRE2" >&2
    bad=1
fi
if grep -rln 'MDB_\|mdb_' "$root" --include='*.c' --include='*.h' \
        | grep -v "^$root/storage/src/" | grep -v "^$root/tests/unit/stor/" \
        | grep -v "/build" | grep -v "^$root/out/" ; then
    echo "layering: LMDB names outside storage/src" >&2
    bad=1
fi
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
