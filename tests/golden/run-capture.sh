#!/bin/sh
# SPDX-License-Identifier: MIT
# Golden test over one third-party capture: decdump's records must equal the tshark-derived
# .expect file (as sorted line multisets). Exit 77 (ctest: skipped) when the captures folder
# is absent, as on a machine without ../shared.
#   run-capture.sh DECDUMP CAPTURES_DIR REL_PATH PORTS EXPECT
set -u
decdump=$1 dir=$2 rel=$3 ports=$4 expect=$5
if [ ! -f "$dir/$rel" ]; then
    echo "skip: $dir/$rel not present"
    exit 77
fi
args=""
for p in $(echo "$ports" | tr ',' ' '); do
    args="$args -p $p"
done
# Where we decode deliberately differently from tshark, a reviewed <name>.flowlog.expect
# stands beside the tshark one (captures/OVERRIDES.md says why, file by file).
alt=${expect%.expect}.flowlog.expect
[ -f "$alt" ] && expect=$alt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$decdump" -s $args "$dir/$rel" >"$tmp/got" || exit 1
LC_ALL=C sort "$tmp/got" >"$tmp/got.sorted"
LC_ALL=C sort "$expect" >"$tmp/want.sorted"
if ! diff -u "$tmp/want.sorted" "$tmp/got.sorted" >"$tmp/diff"; then
    echo "golden mismatch for $rel (- $(basename "$expect"), + flowlog):"
    head -40 "$tmp/diff"
    exit 1
fi
echo "ok: $rel, $(wc -l <"$tmp/got") records"
