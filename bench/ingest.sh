#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/ingest.sh: flowlogd against nfcapd on the same IPFIX stream (issue 4, "Speed").
#
# For each rate (datagrams/s of K = 24 records) and each collector: start the collector with a
# fresh directory, send RATE x SECS datagrams with bench_ingest (pre-encoded, deterministic,
# paced, 127.0.0.1 only), wait until its socket is drained, stop it with SIGTERM (both commit
# on SIGTERM), count what it stored (nfdump -R DIR -I; stordump DIR) and take its CPU time
# (user + system of all its threads, from wait4 in `bench_ingest -x`, so the final commit is
# included). Prints a table per collector and a summary: the highest rate stored with zero
# loss (below the first lossy step), flows stored per CPU-second, and flowlogd/nfcapd.
#
#   BUILD=build-rel RATES="50000 100000 200000 300000" SECS=3 REPEAT=3 bench/ingest.sh
#
# The default rates are issue 15's table: 1.2, 2.4, 4.8 and 7.2 M flows/s.
#
# nfcapd runs as `nfcapd -w DIR -p PORT -b 127.0.0.1 -B 8388608 -t 3600`; flowlogd as
# `flowlogd -f -d DIR -l udp:127.0.0.1:0 -q "" -w ""` (no query or HTTP port; its receive
# buffer is 8 MB too). With REPEAT > 1
# each step runs REPEAT times (collectors interleaved) and the tables show medians. Needs
# nfcapd and nfdump (Debian: apt-get install nfdump). Only 127.0.0.1 is ever sent to.
set -eu

BUILD=${BUILD:-build}
RATES=${RATES:-"50000 100000 200000 300000"}
SECS=${SECS:-3}
REPEAT=${REPEAT:-1}
K=24
PORT=${PORT:-$((20000 + $$ % 20000))}
SEND=$BUILD/bench/bench_ingest
FLOWLOGD=$BUILD/collector/flowlogd
STORDUMP=$BUILD/tests/stordump
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-ingest-sh.XXXXXX")
WPID=
HZ=$(getconf CLK_TCK)

cleanup() {
    if [ -n "$WPID" ]; then
        kill -TERM "$WPID" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for b in "$SEND" "$FLOWLOGD" "$STORDUMP"; do
    [ -x "$b" ] || { echo "no $b: build first (cmake --build $BUILD)" >&2; exit 1; }
done
command -v nfcapd >/dev/null && command -v nfdump >/dev/null ||
    { echo "nfcapd/nfdump missing: apt-get install nfdump" >&2; exit 1; }

# udp_sock PORT: "rx_queue_bytes drops" of the 127.0.0.1:PORT socket (/proc/net/udp).
udp_sock() {
    awk -v p="$(printf '%04X' "$1")" '
        function hex(s,   v, i) { v = 0; for (i = 1; i <= length(s); i++)
            v = v * 16 + index("0123456789ABCDEF", toupper(substr(s, i, 1))) - 1; return v }
        $2 == "0100007F:" p { split($5, q, ":"); printf "%d %d\n", hex(q[2]), $NF; found = 1 }
        END { if (!found) print "0 0" }' /proc/net/udp
}

# proc_cpu PID: utime + stime of the whole process so far, in seconds.
proc_cpu() {
    awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" \
        2>/dev/null || echo 0
}

# wait_drained PORT: until the socket's receive queue is empty (at most 20 s).
wait_drained() {
    i=0
    while [ $i -lt 200 ]; do
        set -- "$1" $(udp_sock "$1")
        [ "$2" -eq 0 ] && break
        sleep 0.1
        i=$((i + 1))
    done
    sleep 0.5 # the datagrams just taken off the socket: decode and hand over
}

# run_one NAME RATE TRY: one step; appends "rate sent stored kdrops cpu_run cpu_total" to
# $TMP/NAME.res
run_one() {
    name=$1 rate=$2 d="$TMP/$1-$2-$3"
    mkdir "$d" "$d/nf"
    if [ "$name" = nfcapd ]; then
        port=$PORT
        "$SEND" -x "$d/cpu" -- nfcapd -w "$d/nf" -p "$port" -b 127.0.0.1 -B 8388608 -t 3600 \
            >"$d/log" 2>&1 &
        WPID=$!
        i=0
        until grep -q 'Startup' "$d/log" 2>/dev/null || [ $i -ge 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    else
        "$SEND" -x "$d/cpu" -- "$FLOWLOGD" -f -d "$d/store" -l udp:127.0.0.1:0 -q "" -w "" \
            >"$d/out" 2>"$d/log" &
        WPID=$!
        i=0
        until grep -q '^listening udp' "$d/out" 2>/dev/null || [ $i -ge 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        port=$(sed -n 's/^listening udp 127\.0\.0\.1://p' "$d/out")
    fi
    [ -n "$port" ] || { echo "$name did not start:" >&2; cat "$d/log" >&2; exit 1; }
    "$SEND" -p "$port" -r "$rate" -d "$SECS" -k "$K" >"$d/sent"
    wait_drained "$port"
    kdrops=$(udp_sock "$port" | cut -d' ' -f2)
    cpu_run=$(proc_cpu "$(cat "$d/cpu.pid")")
    kill -TERM "$WPID"
    wait "$WPID" || true
    WPID=
    sent=$(sed -n 's/.* flows=\([0-9]*\) .*/\1/p' "$d/sent")
    srate=$(sed -n 's/.* dgram_rate=\([0-9]*\) .*/\1/p' "$d/sent")
    cpu=$(sed -n 's/.* cpu_s=\([0-9.]*\) .*/\1/p' "$d/cpu")
    if [ "$name" = nfcapd ]; then
        stored=$(nfdump -R "$d/nf" -I | sed -n 's/^Flows: //p')
    else
        stored=$("$STORDUMP" "$d/store" | sed -n 's/^records=\([0-9]*\) .*/\1/p')
        sed -n 's/^flowlogd: stats: datagrams/  flowlogd: datagrams/p' "$d/log" | tail -1 >&2
    fi
    echo "$name rate=$rate sent_rate=$srate sent=$sent stored=$stored socket_drops=$kdrops" \
        "cpu_run=$cpu_run cpu=$cpu" >&2
    echo "$rate $sent ${stored:-0} $kdrops $cpu_run $cpu $srate" >>"$TMP/$name.res"
    rm -rf "$d"
}

echo "== $(nfcapd -V 2>&1 | head -1); flowlogd $FLOWLOGD; $K records/datagram, ${SECS}s/step," \
    "rates $RATES, $REPEAT run(s) each" >&2
for rate in $RATES; do
    t=1
    while [ $t -le "$REPEAT" ]; do
        run_one nfcapd "$rate" "$t"
        run_one flowlogd "$rate" "$t"
        t=$((t + 1))
    done
done

# Medians per rate; then the zero-loss rate and flows/CPU-s. Columns of $TMP/NAME.res:
# rate sent stored socket_drops cpu_run cpu sent_rate.
report() {
    sort -n -k1,1 "$TMP/$1.res" | awk -v name="$1" -v k=$K '
    function med(s,   a, n, t, i, j) {
        n = split(s, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { r = $1; if (!(r in seen)) { seen[r] = 1; order[++nr] = r }
      loss = $2 > 0 ? 100 * ($2 - $3) / $2 : 100
      L[r] = L[r] " " loss; S[r] = S[r] " " $3; D[r] = D[r] " " $4; C[r] = C[r] " " $6
      F[r] = F[r] " " ($6 > 0 ? $3 / $6 : 0); SR[r] = SR[r] " " $7 * k; N[r] = $2 }
    END {
      printf "\n%s\n%12s %12s %12s %12s %8s %10s %8s %14s\n", name, "flows/s", "sent-fl/s",
          "sent", "stored", "loss-%", "sock-drop", "cpu-s", "flows/cpu-s"
      best = 0; lossy = 0
      for (i = 1; i <= nr; i++) {
        r = order[i]; l = med(L[r])
        printf "%12d %12d %12d %12d %8.2f %10d %8.2f %14.0f\n", r * k, med(SR[r]), N[r],
            med(S[r]), l, med(D[r]), med(C[r]), med(F[r])
        if (l == 0 && !lossy) best = r; else lossy = 1
        fpc[r] = med(F[r])
      }
      printf "RESULT %s zero_loss_dgram_rate=%d", name, best
      for (i = 1; i <= nr; i++) printf " fpc_%d=%.0f", order[i], fpc[order[i]]
      printf "\n"
    }'
}
report nfcapd | tee "$TMP/nfcapd.rep"
report flowlogd | tee "$TMP/flowlogd.rep"

NB=$(sed -n 's/^RESULT nfcapd zero_loss_dgram_rate=\([0-9]*\).*/\1/p' "$TMP/nfcapd.rep")
FB=$(sed -n 's/^RESULT flowlogd zero_loss_dgram_rate=\([0-9]*\).*/\1/p' "$TMP/flowlogd.rep")
# The highest common zero-loss rate; if a collector lost at every rate, its lowest rate.
COMMON=$(echo "$NB $FB" | awk '{ print ($1 < $2 ? $1 : $2) }')
[ "$COMMON" -gt 0 ] || COMMON=$(echo $RATES | awk '{ print $1 }')
fpc() { tr ' ' '\n' <"$TMP/$1.rep" | sed -n "s/^fpc_$COMMON=//p"; }
NF=$(fpc nfcapd)
FF=$(fpc flowlogd)
echo
echo "summary ($K records/datagram; zero loss = every step up to it stored every flow)"
printf '%-10s %22s %26s\n' "" "zero-loss flows/s" "flows/cpu-s at $((COMMON * K))/s"
printf '%-10s %22d %26d\n' nfcapd $((NB * K)) "$NF"
printf '%-10s %22d %26d\n' flowlogd $((FB * K)) "$FF"
printf '%-10s %22s %26s\n' ratio \
    "$(echo "$FB $NB" | awk '{ printf($2 > 0 ? "%.2f" : "n/a", $1 / ($2 > 0 ? $2 : 1)) }')" \
    "$(echo "$FF $NF" | awk '{ printf($2 > 0 ? "%.2f" : "n/a", $1 / ($2 > 0 ? $2 : 1)) }')"
