#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what flowlog needs to build and test, from Debian's packages. Run as root.
# Skips apt entirely when everything is already there (so a developer's re-run is quick).
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
      libuv1-dev liblmdb-dev libpcre2-dev libpcap-dev libcmocka-dev libxxhash-dev libzstd-dev libinih-dev libedit-dev
      nfdump softflowd tshark pmacct fprobe libfixbuf-tools"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing (run as root, or install them)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
