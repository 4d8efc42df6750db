#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the decoder fuzz target for a while on a scratch copy of the seed corpus (CI).
#
#   tests/fuzz/smoke.sh [SECONDS] [FUZZ_BINARY]
#   tests/fuzz/smoke.sh BUILD_DIR [SECONDS]      (as scripts/test.sh calls it)
#
# SECONDS defaults to 60; the binary to BUILD_DIR/tests/fuzz/fuzz_decoder, BUILD_DIR to
# build-fuzz (configure with CC=clang cmake -B build-fuzz -DFUZZ=ON). The checked-in corpus
# is never written to: new inputs stay in the scratch folder. Exits non-zero on a finding
# (crash, leak, timeout, OOM or broken invariant); the reproducer and the log are then kept
# in the printed folder, to be minimised (-minimize_crash=1) into tests/fuzz/regress/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 1 ] && [ -d "$1" ]; then
    bin=$1/tests/fuzz/fuzz_decoder
    secs=${2:-60}
else
    secs=${1:-60}
    bin=${2:-$here/../../build-fuzz/tests/fuzz/fuzz_decoder}
fi

# FUZZ_TARGET=query runs the query target (fuzz_query, corpus/query and regress/query, no
# dictionary) instead, with inputs up to a whole request line (QRY_LINE_MAX, 64 KiB): deep
# nesting needs long inputs (code review C1).
target=${FUZZ_TARGET:-decoder}
dict="-dict=$here/fuzz_decoder.dict"
max_len=8192
if [ "$target" != decoder ]; then
    bin=$(dirname "$bin")/fuzz_$target
    dict=
    max_len=65536
fi

[ -x "$bin" ] || { echo "smoke.sh: $bin not built (needs clang and -DFUZZ=ON)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")
mkdir "$work/corpus"
if [ "$target" = decoder ]; then
    cp "$here"/corpus/decoder/* "$here"/regress/* "$work/corpus/" 2>/dev/null || true
else
    cp "$here"/corpus/"$target"/* "$here"/regress/"$target"/* "$work/corpus/" 2>/dev/null || true
fi
rm -f "$work/corpus"/*.md

rc=0
"$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    $dict -print_final_stats=1 -artifact_prefix="$work/" \
    "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
    tail -n 60 "$work/fuzz.log" >&2
    echo "smoke.sh: FINDING (exit $rc); reproducer and log in $work" >&2
    exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' "$work/fuzz.log" || true
rm -rf "$work"
echo "smoke.sh: clean for ${secs}s"
