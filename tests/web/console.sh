#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# web.console: the console in headless chromium (tests/web/console.test.mjs, node --test)
# against flowlogd fed 21000 records by nfsend in three bursts over the last three hours.
#
#   console.sh FLOWLOGD NFSEND FLOWLOG
#
# Skips (77) only when chromium cannot start, or node or web/node_modules (npm ci) is
# missing; it says which.
set -euo pipefail
flowlogd=$1 nfsend=$2 flowlog=$3
. "$(dirname "$0")/../e2e/lib.sh"
web=$(cd "$(dirname "$0")/../../web" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}

command -v node >/dev/null || { echo "SKIP: node not found (scripts/deps.sh installs nodejs)"; exit 77; }
[ -d "$web/node_modules/playwright-core" ] ||
    { echo "SKIP: $web/node_modules/playwright-core missing: run npm ci in $web"; exit 77; }
[ -x "$chromium" ] || { echo "SKIP: $chromium not found (scripts/deps.sh installs chromium)"; exit 77; }
cat >"$tmp/launch.cjs" <<'JS'
const { chromium } = require(process.argv[2]);
chromium.launch({ executablePath: process.argv[3], args: ['--no-sandbox'] })
  .then((b) => b.close())
  .catch((e) => { console.error(e.message.split('\n')[0]); process.exit(1); });
JS
if ! node "$tmp/launch.cjs" "$web/node_modules/playwright-core" "$chromium" 2>"$tmp/launch.err"; then
    echo "SKIP: chromium cannot start: $(cat "$tmp/launch.err")"
    exit 77
fi

mkdir -p "$tmp/store"
: >"$tmp/flowlogd.out"
"$flowlogd" -f -d "$tmp/store" -l udp:127.0.0.1:0 -q 127.0.0.1:0 -w 127.0.0.1:0 \
    >"$tmp/flowlogd.out" 2>>"$tmp/flowlogd.err" &
pid=$!
for _ in $(seq 100); do
    port=$(sed -n 's/^listening udp 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    qport=$(sed -n 's/^listening query 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    wport=$(sed -n 's/^listening http 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/flowlogd.out")
    [ -n "$port" ] && [ -n "$qport" ] && [ -n "$wport" ] && break
    kill -0 "$pid" 2>/dev/null || fail "flowlogd exited before listening"
    sleep 0.1
done
[ -n "$wport" ] || fail "flowlogd printed no listening lines"
# Three 10-minute bursts, 3 h, 1.5 h and 30 min ago: several chart buckets, and gaps.
now=$(date +%s)
for ago in 10800 5400 1800; do
    "$nfsend" -p "$port" -n 7000 -s "$ago" -t $((now - ago)) -r 20000 >/dev/null ||
        fail "nfsend failed"
done
for _ in $(seq 100); do
    n=$("$flowlog" -s "127.0.0.1:$qport" -f json query '* | stats count' | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
    [ "$n" = 21000 ] && break
    sleep 0.2
done
[ "$n" = 21000 ] || fail "21000 records not stored ($n)"

FLOWLOG_URL="http://127.0.0.1:$wport/" FLOWLOG_Q="127.0.0.1:$qport" FLOWLOG_CLI="$flowlog" \
    FLOWLOG_NFSEND="$nfsend" FLOWLOG_UDP="$port" \
    CHROMIUM="$chromium" WEB_DIR="$web" node --test "$(dirname "$0")/console.test.mjs" ||
    fail "browser tests"
stop_flowlogd
