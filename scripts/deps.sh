#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what flowlog needs to build and test, from Debian's packages. Run as root.
# Skips apt entirely when everything is already there (so a developer's re-run is quick).
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
      libuv1-dev liblmdb-dev libpcre2-dev libpcap-dev libcmocka-dev libxxhash-dev libzstd-dev libinih-dev libedit-dev
      nfdump softflowd tshark pmacct fprobe libfixbuf-tools
      libmicrohttpd-dev prometheus chromium nodejs
      clickhouse-server clickhouse-client libcurl4-openssl-dev curl
      libsystemd-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# npm: Debian's package, unless the installed nodejs brings its own (NodeSource's does, and
# conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || missing="$missing npm"
# The console's third-party JS (uPlot) and its browser tests' driver (playwright-core), from
# the npm registry by web/package-lock.json, when web/node_modules is missing or older.
web_npm() {
    web=$(dirname "$0")/../web
    if [ ! -d "$web/node_modules" ] || [ "$web/package-lock.json" -nt "$web/node_modules" ]; then
        (cd "$web" && npm ci --no-audit --no-fund >/dev/null) && touch "$web/node_modules"
    fi
}
if [ -z "$missing" ]; then
    web_npm
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing (run as root, or install them)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
web_npm
