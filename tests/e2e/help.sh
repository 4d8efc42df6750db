#!/bin/bash
# SPDX-License-Identifier: MIT
# --help and the man pages name the same options: for flowlogd, flowprobe and flowlog, every
# option in `PROG --help` is a tag of the man page's OPTIONS section and every such tag is in
# --help (short and long forms alike). Also: --help exits 0 and writes to standard output,
# and a bad option exits 2 with the usage on standard error.
#
# usage: help.sh FLOWLOGD FLOWPROBE FLOWLOG MANDIR
set -u
flowlogd=$1 flowprobe=$2 flowlog=$3 mandir=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowlog-help.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bad=0

# Options named in a text: -x and --long-name, not parts of words (1-in-N, pcap-filter).
options() {
    grep -oE '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[^-]*//' | sort -u
}

# The tags (.TP/.TQ lines' next line) of the OPTIONS section of a man page, \- read as -.
man_options() {
    awk '/^\.SH /{ sect = $2 } sect == "OPTIONS" && tag { print; tag = 0; next }
         sect == "OPTIONS" && /^\.T[PQ]/ { tag = 1 }' "$1" | sed 's/\\-/-/g' | options
}

check() {
    local name=$1 prog=$2 page=$3
    if ! "$prog" --help >"$tmp/$name.help" 2>"$tmp/$name.err"; then
        echo "FAIL: $name --help exits non-zero" >&2
        bad=1
    fi
    if [ -s "$tmp/$name.err" ] || ! head -n 1 "$tmp/$name.help" | grep -q "^usage: $name "; then
        echo "FAIL: $name --help: expected 'usage: $name ...' on stdout and nothing on stderr" >&2
        bad=1
    fi
    "$prog" --no-such-option >/dev/null 2>"$tmp/$name.bad"
    local rc=$?
    if [ "$rc" != 2 ] || ! grep -q "^usage: $name " "$tmp/$name.bad"; then
        echo "FAIL: $name --no-such-option: exit $rc (want 2) and the usage on stderr" >&2
        bad=1
    fi
    options <"$tmp/$name.help" >"$tmp/$name.h"
    man_options "$page" >"$tmp/$name.m"
    if [ ! -s "$tmp/$name.h" ] || [ ! -s "$tmp/$name.m" ]; then
        echo "FAIL: $name: no options found in --help or in $page" >&2
        bad=1
        return
    fi
    local only_help only_man
    only_help=$(comm -23 "$tmp/$name.h" "$tmp/$name.m" | tr '\n' ' ')
    only_man=$(comm -13 "$tmp/$name.h" "$tmp/$name.m" | tr '\n' ' ')
    if [ -n "$only_help" ]; then
        echo "FAIL: $name: in --help but not in $page's OPTIONS: $only_help" >&2
        bad=1
    fi
    if [ -n "$only_man" ]; then
        echo "FAIL: $name: in $page's OPTIONS but not in --help: $only_man" >&2
        bad=1
    fi
    echo "$name: $(wc -l <"$tmp/$name.h") options agree: $(tr '\n' ' ' <"$tmp/$name.h")"
}

check flowlogd "$flowlogd" "$mandir/flowlogd.8"
check flowprobe "$flowprobe" "$mandir/flowprobe.8"
check flowlog "$flowlog" "$mandir/flowlog.1"
exit $bad
