#!/bin/sh
# SPDX-License-Identifier: MIT
# Golden test over one of our own cases: decdump -v of <case>.hex must equal <case>.expect,
# line for line and in order (cases test ordering too: parked sets, withdrawals).
#   run-case.sh DECDUMP CASE_PATH_WITHOUT_SUFFIX
set -u
decdump=$1 case=$2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$decdump" -v "$case.hex" >"$tmp" || exit 1
if ! diff -u "$case.expect" "$tmp"; then
    echo "golden case mismatch: $(basename "$case") (- expected, + flowlog)"
    exit 1
fi
echo "ok: $(basename "$case"), $(wc -l <"$tmp") records"
