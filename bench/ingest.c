/* SPDX-License-Identifier: MIT */
/*
 * bench/ingest: the sender (and a CPU-time wrapper) for the collector ingest benchmark
 * (bench/ingest.sh runs it against nfcapd and flowlogd; docs/bench.md).
 *
 *   bench_ingest -p PORT [-a 127.0.0.1] [-r DGRAMS_PER_S] [-d SECONDS] [-n DGRAMS]
 *                [-k RECS_PER_DGRAM] [-b BURST] [-s SEED] [-H HOSTS]
 *   bench_ingest -x CPUFILE -- COMMAND [ARGS...]
 *
 * Sender. Before the clock starts, N datagrams (default RATE x SECONDS) are generated and
 * encoded as IPFIX with enc.h, K records each (default 24: the encoder gets room for more
 * and is flushed after every K records, so every datagram holds exactly K). The records are
 * deterministic for a seed: IPv4, 78% TCP, 20% UDP, 2% ICMP, every 5-tuple unique (the source
 * address and the destination's second octet hold the record's index), heavy-ish counters,
 * end times in the minute before the encoding started. The templates go into the first
 * message and are refreshed every 20 messages (the encoder's default), so a collector that
 * loses a template datagram recovers. Then the datagrams are sent in order to ADDR:PORT with
 * sendmmsg, BURST at a time (default 16), each burst due at t0 + i * BURST / RATE on
 * CLOCK_MONOTONIC (clock_nanosleep with an absolute deadline, 1 ns timer slack). A sender
 * that falls behind sends its bursts back to back until it is on time again. Only loopback
 * (127.0.0.0/8) is accepted as ADDR. One line goes to stdout:
 *
 *   sent dgrams=D flows=F bytes=B seconds=S dgram_rate=R flow_rate=FR target=T late_bursts=L
 *        max_lag_ms=M avg_dgram_bytes=A
 *
 * Wrapper. -x runs COMMAND as a child, passes SIGTERM, SIGINT and SIGHUP on to it, and when
 * it exits writes the child's resource usage (all its threads, from wait4) to CPUFILE:
 *
 *   pid=P user_s=U sys_s=S cpu_s=U+S maxrss_kb=K status=X
 *
 * and exits with the child's status. The child's pid also goes to CPUFILE.pid as soon as it
 * is started, so that a script can read /proc/PID/stat while it runs.
 */
#define _GNU_SOURCE /* sendmmsg, prctl */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enc.h"
#include "sendutil.h"
#include "flow.h"

#define MAX_DGRAMS (1u << 22) /* 4 M datagrams, ~5.6 GB: far more than a step needs */
#define MAX_BURST  1024u
#define MAX_K      48u
#define ENC_ROOM   8192u /* the encoder's message buffer: K records + templates always fit */

struct opts {
    uint16_t port;
    const char *addr;
    uint64_t rate;  /* datagrams per second */
    double seconds; /* used when n is 0 */
    uint64_t n;     /* datagrams */
    uint64_t k;     /* records per datagram */
    uint64_t burst; /* datagrams per sendmmsg */
    uint64_t seed;
    uint64_t hosts; /* -H: addresses drawn from this many hosts per side; 0 = unique */
};

/* The pre-encoded stream: datagram i is buf[off[i] .. off[i] + len[i]). */
struct stream {
    uint8_t *buf;
    size_t cap;
    size_t used;
    size_t *off;
    uint32_t *len;
    uint64_t n;
    uint64_t flows;
    bool in_flush; /* emit() is only expected from enc_flush */
    bool overflow; /* the encoder emitted a message by itself: fewer than K records in it */
};

static uint64_t
rnd_below(uint64_t *s, uint64_t n)
{
    return splitmix64(s) % n;
}

/* Record i: 10.i[23:0] -> 172.(16 + i[27:24]).x.y; unique 5-tuples for i < 2^28. With
 * hosts != 0, both addresses are one of `hosts` per side (i and the random part modulo it). */
static void
gen_rec(struct flow_rec *r, uint64_t *s, uint64_t i, uint64_t base_ms, uint64_t hosts)
{
    static const uint16_t services[] = {443, 80, 53, 123, 22, 8080, 3389, 25, 993, 5432};
    uint32_t d = (uint32_t) splitmix64(s);
    if (hosts != 0) {
        i %= hosts;
        d = (uint32_t) (d % hosts);
    }
    uint8_t a[4] = {10, (uint8_t) (i >> 16), (uint8_t) (i >> 8), (uint8_t) i};
    uint8_t b[4] = {172, (uint8_t) (16 + ((i >> 24) & 0x0f)), (uint8_t) (d >> 8), (uint8_t) d};
    uint64_t p = rnd_below(s, 100);

    memset(r, 0, sizeof(*r));
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS |
                 FLOW_HAS_TOS | FLOW_HAS_INPORT | FLOW_HAS_OUTPORT;
    flow_addr_set_v4(r->srcaddr, a);
    flow_addr_set_v4(r->dstaddr, b);
    if (p < 98) {
        r->protocol = p < 78 ? 6 : 17;
        r->tcp_flags = p < 78 ? (uint16_t) (0x02 | rnd_below(s, 0x40)) : 0;
        r->srcport = (uint16_t) (1024 + rnd_below(s, 64000));
        r->dstport = rnd_below(s, 10) < 8
                         ? services[rnd_below(s, sizeof(services) / sizeof(services[0]))]
                         : (uint16_t) (1024 + rnd_below(s, 64000));
    } else {
        r->protocol = 1;
        r->dstport = (uint16_t) (8u << 8); /* echo request */
    }
    uint64_t u = rnd_below(s, 1000);
    r->packets = 1 + (u * u * u) / 10000000u; /* 1 .. 100, mostly small */
    r->bytes = r->packets * (40 + rnd_below(s, 1461));
    r->tos = (uint8_t) (rnd_below(s, 4) << 3);
    r->inport = (uint32_t) (1 + rnd_below(s, 8));
    r->outport = (uint32_t) (1 + rnd_below(s, 8));
    if (rnd_below(s, 20) == 0) {
        r->action = FLOW_ACT_REJECT;
    }
    r->end_ms = base_ms - 60000u + rnd_below(s, 59000);
    r->start_ms = r->end_ms - rnd_below(s, 30000);
}

static int
keep(void *arg, const uint8_t *msg, size_t len)
{
    struct stream *st = arg;

    if (!st->in_flush) {
        st->overflow = true;
    }
    if (st->used + len > st->cap) {
        size_t cap = st->cap * 2 + len;
        uint8_t *nb = realloc(st->buf, cap);
        if (nb == NULL) {
            return -ENOMEM;
        }
        st->buf = nb;
        st->cap = cap;
    }
    memcpy(st->buf + st->used, msg, len);
    st->off[st->n] = st->used;
    st->len[st->n] = (uint32_t) len;
    st->used += len;
    st->n++;
    return 0;
}

/* Generate and encode n datagrams of k records each. */
static int
encode(struct stream *st, const struct opts *o)
{
    uint64_t base_ms = clock_ns(CLOCK_REALTIME) / 1000000u;
    struct enc_cfg cfg = {.version = 10,
                          .domain = 1,
                          .max_msg = ENC_ROOM,
                          .tmpl_refresh_ms = UINT32_MAX}; /* refresh every 20 messages */
    struct enc_ctx *enc;
    uint64_t s = o->seed, idx = 0;
    int rc = enc_create(&enc, &cfg);

    if (rc != 0) {
        fprintf(stderr, "bench_ingest: enc_create: %s\n", enc_strerror(rc));
        return rc;
    }
    st->cap = (size_t) o->n * (o->k * 60 + 64);
    st->buf = malloc(st->cap);
    st->off = malloc(o->n * sizeof(*st->off));
    st->len = malloc(o->n * sizeof(*st->len));
    if (st->buf == NULL || st->off == NULL || st->len == NULL) {
        fprintf(stderr, "bench_ingest: out of memory for %" PRIu64 " datagrams\n", o->n);
        enc_destroy(enc);
        return -ENOMEM;
    }
    for (uint64_t m = 0; m < o->n && rc == 0; m++) {
        for (uint64_t j = 0; j < o->k && rc == 0; j++) {
            struct flow_rec r;
            gen_rec(&r, &s, idx++, base_ms, o->hosts);
            rc = enc_add(enc, &r, base_ms, keep, st);
        }
        st->in_flush = true;
        if (rc == 0) {
            rc = enc_flush(enc, base_ms, keep, st);
        }
        st->in_flush = false;
    }
    if (rc == 0 && (st->overflow || st->n != o->n)) {
        fprintf(stderr, "bench_ingest: %" PRIu64 " records do not fit one message\n", o->k);
        rc = ENC_E_CONFIG;
    } else if (rc != 0) {
        fprintf(stderr, "bench_ingest: encoding: %s\n", enc_strerror(rc));
    }
    st->flows = enc_ctx_stats(enc)->records;
    enc_destroy(enc);
    return rc;
}

static int
open_dst(const struct opts *o)
{
    struct sockaddr_storage dst;
    socklen_t len;

    if (sendutil_loopback(o->addr, o->port, &dst, &len) != 0) {
        fprintf(stderr, "bench_ingest: refusing %s: only loopback (127.0.0.0/8, ::1) is allowed\n",
                o->addr);
        return -1;
    }
    int fd = socket(dst.ss_family, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &dst, len) != 0) {
        fprintf(stderr, "bench_ingest: socket: %s\n", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return fd;
}

static int
send_all(int fd, const struct stream *st, const struct opts *o)
{
    static struct mmsghdr mm[MAX_BURST];
    static struct iovec iov[MAX_BURST];
    uint64_t sent = 0, bytes = 0, late = 0, max_lag = 0, burst_i = 0;
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), t_end = t0;

    while (sent < st->n) {
        uint64_t due = t0 + burst_i * o->burst * 1000000000u / o->rate;
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (due > now) {
            struct timespec ts = {(time_t) (due / 1000000000u), (long) (due % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        } else if (now - due > 1000000u) { /* more than 1 ms behind */
            late++;
            max_lag = now - due > max_lag ? now - due : max_lag;
        }
        unsigned cnt = (unsigned) (st->n - sent < o->burst ? st->n - sent : o->burst);
        for (unsigned i = 0; i < cnt; i++) {
            iov[i].iov_base = st->buf + st->off[sent + i];
            iov[i].iov_len = st->len[sent + i];
            memset(&mm[i], 0, sizeof(mm[i]));
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        unsigned done = 0;
        while (done < cnt) {
            int r = sendmmsg(fd, mm + done, cnt - done, 0);
            if (r < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) {
                    continue;
                }
                if (errno == ECONNREFUSED) { /* no listener (yet/any more): keep the pace */
                    break;
                }
                fprintf(stderr, "bench_ingest: sendmmsg: %s\n", strerror(errno));
                return -1;
            }
            for (int i = 0; i < r; i++) {
                bytes += mm[done + (unsigned) i].msg_len;
            }
            done += (unsigned) r;
        }
        sent += cnt;
        burst_i++;
        t_end = clock_ns(CLOCK_MONOTONIC);
    }
    double secs = (double) (t_end - t0) / 1e9;
    double per = (double) st->flows / (double) st->n;
    printf("sent dgrams=%" PRIu64 " flows=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f"
           " dgram_rate=%.0f flow_rate=%.0f target=%" PRIu64 " late_bursts=%" PRIu64
           " max_lag_ms=%.1f avg_dgram_bytes=%.0f\n",
           sent, (uint64_t) ((double) sent * per + 0.5), bytes, secs, (double) sent / secs,
           (double) sent * per / secs, o->rate, late, (double) max_lag / 1e6,
           (double) bytes / (double) (sent ? sent : 1));
    return 0;
}

/* ---- -x: run a command and report its CPU time ---- */

static volatile pid_t child;

static void
forward(int sig)
{
    if (child > 0) {
        kill(child, sig);
    }
}

static int
wrap(const char *cpufile, char **argv)
{
    struct sigaction sa = {.sa_handler = forward};
    char pidfile[4096];
    int status = 0;
    struct rusage ru;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_ingest: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "bench_ingest: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    child = pid;
    snprintf(pidfile, sizeof(pidfile), "%s.pid", cpufile);
    FILE *pf = fopen(pidfile, "w");
    if (pf != NULL) {
        fprintf(pf, "%d\n", (int) pid);
        fclose(pf);
    }
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "bench_ingest: wait4: %s\n", strerror(errno));
            return 1;
        }
    }
    double u = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6;
    double s = (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
    FILE *f = fopen(cpufile, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_ingest: %s: %s\n", cpufile, strerror(errno));
        return 1;
    }
    fprintf(f, "pid=%d user_s=%.3f sys_s=%.3f cpu_s=%.3f maxrss_kb=%ld status=%d\n", (int) pid, u,
            s, u + s, ru.ru_maxrss,
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- command line ---- */

static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: bench_ingest -p PORT [-a 127.0.0.1] [-r DGRAMS_PER_S] [-d SECONDS] "
                    "[-n DGRAMS] [-k RECS_PER_DGRAM] [-b BURST] [-s SEED] [-H HOSTS]\n"
                    "       bench_ingest -x CPUFILE -- COMMAND [ARGS...]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct opts o = {
        .addr = "127.0.0.1", .rate = 100000, .seconds = 3.0, .k = 24, .burst = 16, .seed = 1};
    struct stream st = {0};
    const char *cpufile = NULL;
    uint64_t port = 0;
    int c;

    while ((c = getopt(argc, argv, "+p:a:r:d:n:k:b:s:x:H:")) != -1) {
        int bad = 0;
        char *end;
        switch (c) {
        case 'p':
            bad = parse_u64(optarg, 1, 65535, &port);
            break;
        case 'a':
            o.addr = optarg;
            break;
        case 'r':
            bad = parse_u64(optarg, 1, 100000000u, &o.rate);
            break;
        case 'd':
            o.seconds = strtod(optarg, &end);
            bad = *end != '\0' || !(o.seconds > 0 && o.seconds <= 600);
            break;
        case 'n':
            bad = parse_u64(optarg, 1, MAX_DGRAMS, &o.n);
            break;
        case 'k':
            bad = parse_u64(optarg, 1, MAX_K, &o.k);
            break;
        case 'b':
            bad = parse_u64(optarg, 1, MAX_BURST, &o.burst);
            break;
        case 's':
            bad = parse_u64(optarg, 0, UINT64_MAX, &o.seed);
            break;
        case 'x':
            cpufile = optarg;
            break;
        case 'H':
            bad = parse_u64(optarg, 1, 1u << 24, &o.hosts);
            break;
        default:
            usage();
        }
        if (bad) {
            fprintf(stderr, "bench_ingest: bad value for -%c: %s\n", c, optarg);
            usage();
        }
    }
    if (cpufile != NULL) {
        if (optind >= argc) {
            usage();
        }
        return wrap(cpufile, argv + optind);
    }
    if (optind != argc || port == 0) {
        usage();
    }
    o.port = (uint16_t) port;
    if (o.n == 0) {
        double n = (double) o.rate * o.seconds;
        if (n > MAX_DGRAMS) {
            fprintf(stderr, "bench_ingest: %.0f datagrams: at most %u\n", n, MAX_DGRAMS);
            return 2;
        }
        o.n = n < 1 ? 1 : (uint64_t) n;
    }
    int fd = open_dst(&o);
    if (fd < 0) {
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    int rc = encode(&st, &o);
    if (rc == 0) {
        rc = send_all(fd, &st, &o);
    }
    close(fd);
    free(st.buf);
    free(st.off);
    free(st.len);
    return rc == 0 ? 0 : 1;
}
