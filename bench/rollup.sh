#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/rollup.sh: window rollups against the scan (issue 12). bench_rollup builds a store of
# a week of flows (N records, 50,000 source hosts, 4 exporters) through storage's API, seals
# it, and times each dashboard query server-side with rollups on and off (median of RUNS),
# printing both and the ratio; it fails when the two answers differ.
#
#   BUILD=build-rel N=3000000 RUNS=5 bench/rollup.sh
#
# No network: everything runs in this process on a temporary store.
set -eu

BUILD=${BUILD:-build}
BIN=$BUILD/bench/bench_rollup
N=${N:-3000000}
RUNS=${RUNS:-5}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-rollup-sh.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

[ -x "$BIN" ] || { echo "no $BIN: build first (cmake --build $BUILD --target bench_rollup)" >&2; exit 1; }
echo "== window rollups vs scan: $N records, $RUNS runs"
"$BIN" -n "$N" -r "$RUNS" -d "$TMP"
