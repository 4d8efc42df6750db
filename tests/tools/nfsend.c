/* SPDX-License-Identifier: MIT */
/*
 * nfsend: generate deterministic pseudo-random flow records, encode them as NetFlow v5,
 * NetFlow v9 or IPFIX with the export encoder (enc.h) and send the messages over UDP to a
 * collector on the loopback interface. The end-to-end tests use it to feed flowlogd.
 *
 *   nfsend -p PORT [-a 127.0.0.1|::1] [-v 10|9|5] [-n N] [-r MSGS_PER_S] [-s SEED]
 *          [-t START_UNIX_S] [-b SRCADDR]
 *     -p PORT  destination UDP port (required)
 *     -a ADDR  destination address; only loopback (127.0.0.0/8 or ::1) is accepted, so that a
 *              test can never spray flows at a real network. Default 127.0.0.1
 *     -v VER   export version: 10 (IPFIX, default), 9 or 5 (IPv4 records only)
 *     -n N     records to send (default 1000, at most 2^24)
 *     -r RATE  messages per second, paced with nanosleep; 0 = as fast as possible. 20000
 *     -s SEED  seed of the generator (default 1): the same seed gives the same records
 *     -t START record end times fall in [START, START + 600 s); default now - 600
 *     -b SRC   send from this loopback address (e.g. 127.0.0.2), so that a test can tell
 *              this exporter from another one sending to the same collector
 *
 * Records mix IPv4 and IPv6 (v9 and IPFIX), TCP, UDP and ICMP. Their 5-tuples are unique
 * within a run: the source address is built from the record's index. Across runs with
 * different seeds the destination address and ports are random, so collisions are
 * vanishingly rare. At the end one line goes to stdout:
 *   sent records=N packets=P bytes=B messages=M
 * where packets and bytes are the sums of the records' counters and M counts datagrams.
 * It leaves sequence checks, decoding and storage to the collector under test.
 */
#define _DEFAULT_SOURCE /* sockets, getopt, nanosleep, clock_gettime */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "enc.h"
#include "sendutil.h"
#include "flow.h"

#define SPAN_MS  600000u    /* end times fall within 10 minutes after START */
#define MAX_RECS (1u << 24) /* the source address holds the index in 24 bits */

struct opts {
    uint16_t port;
    const char *addr;
    uint8_t version;
    uint64_t n;
    uint64_t rate;
    uint64_t seed;
    uint64_t start_ms;
    bool tcp;
    bool split;
    bool no_refresh;
    uint64_t pause_after;
    const char *resume_file;
    const char *bind_addr;
};

struct totals {
    uint64_t records;
    uint64_t packets;
    uint64_t bytes;
};

struct sender {
    int fd;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    uint64_t rate;
    uint64_t sent; /* messages sent */
    uint64_t t0_ns;
    bool failed; /* sendto failed (and said so) */
    bool tcp;    /* a stream (IPFIX over TCP, RFC 7011 §10.4) */
    bool split;  /* TCP: one byte per write, so messages arrive cut at every byte */
};

static uint64_t
rnd_below(uint64_t *s, uint64_t n)
{
    return splitmix64(s) % n;
}

/* Addresses: the source holds the index i (10.i/8, fd00::/64 + i), the destination is random. */
static void
gen_addrs(struct flow_rec *r, uint64_t *s, uint64_t i, bool v6)
{
    if (v6) {
        static const uint8_t src6[8] = {0xfd, 0, 0, 0, 0, 0, 0, 0};
        static const uint8_t dst6[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0};
        uint64_t d = splitmix64(s);
        memcpy(r->srcaddr, src6, 8);
        memcpy(r->dstaddr, dst6, 8);
        for (int k = 0; k < 8; k++) {
            r->srcaddr[15 - k] = (uint8_t) (i >> (8 * k));
            r->dstaddr[15 - k] = (uint8_t) (d >> (8 * k));
        }
        return;
    }
    uint32_t d = (uint32_t) splitmix64(s);
    uint8_t a[4] = {10, (uint8_t) (i >> 16), (uint8_t) (i >> 8), (uint8_t) i};
    uint8_t b[4] = {172, (uint8_t) (16 | ((d >> 16) & 0x0f)), (uint8_t) (d >> 8), (uint8_t) d};
    flow_addr_set_v4(r->srcaddr, a);
    flow_addr_set_v4(r->dstaddr, b);
}

/* Protocol and ports; ICMP carries type << 8 | code in dstport, as the decoder gives it. */
static void
gen_ports(struct flow_rec *r, uint64_t *s, bool v6)
{
    static const uint16_t services[] = {22, 53, 80, 123, 443, 3389, 5432, 8080};
    uint64_t p = rnd_below(s, 10);

    if (p < 6) {
        r->protocol = 6;
        r->tcp_flags = (uint16_t) (0x02 | rnd_below(s, 0x100));
    } else if (p < 9) {
        r->protocol = 17;
    } else {
        r->protocol = v6 ? 58 : 1;
        r->srcport = 0;
        r->dstport = v6 ? (uint16_t) (128u << 8) : (uint16_t) (8u << 8);
        return;
    }
    r->srcport = (uint16_t) (1024 + rnd_below(s, 64000));
    if (rnd_below(s, 2) == 0) {
        r->dstport = services[rnd_below(s, sizeof(services) / sizeof(services[0]))];
    } else {
        r->dstport = (uint16_t) (1024 + rnd_below(s, 64000));
    }
}

static void
gen_rec(struct flow_rec *r, uint64_t *s, uint64_t i, const struct opts *o)
{
    bool v6 = o->version != 5 && rnd_below(s, 3) == 0;

    memset(r, 0, sizeof(*r));
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS |
                 FLOW_HAS_TOS | FLOW_HAS_INPORT | FLOW_HAS_OUTPORT;
    gen_addrs(r, s, i, v6);
    gen_ports(r, s, v6);
    r->packets = 1 + rnd_below(s, 1000);
    r->bytes = r->packets * (40 + rnd_below(s, 1461));
    r->tos = (uint8_t) (rnd_below(s, 4) << 3);
    r->inport = (uint32_t) (1 + rnd_below(s, 16));
    r->outport = (uint32_t) (1 + rnd_below(s, 16));
    if (o->version != 5 && rnd_below(s, 10) == 0) {
        r->action = FLOW_ACT_REJECT;
    }
    r->end_ms = o->start_ms + rnd_below(s, SPAN_MS);
    r->start_ms = r->end_ms - rnd_below(s, 60000);
}

/* Wait until message number sent is due at the configured rate. */
static void
pace(struct sender *snd)
{
    if (snd->rate == 0) {
        return;
    }
    uint64_t due = snd->t0_ns + snd->sent * 1000000000u / snd->rate;
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (due > now) {
        uint64_t d = due - now;
        struct timespec ts = {(time_t) (d / 1000000000u), (long) (d % 1000000000u)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

static int
emit(void *arg, const uint8_t *msg, size_t len)
{
    struct sender *snd = arg;

    pace(snd);
    if (snd->tcp) {
        size_t step = snd->split ? 1 : len;
        for (size_t off = 0; off < len;) {
            ssize_t w = write(snd->fd, msg + off, len - off < step ? len - off : step);
            if (w < 0 && errno != EINTR) {
                int err = errno;
                fprintf(stderr, "nfsend: write: %s\n", strerror(err));
                snd->failed = true;
                return -err;
            }
            off += w > 0 ? (size_t) w : 0;
        }
        snd->sent++;
        return 0;
    }
    if (sendto(snd->fd, msg, len, 0, (const struct sockaddr *) &snd->dst, snd->dstlen) < 0) {
        int err = errno;
        fprintf(stderr, "nfsend: sendto: %s\n", strerror(err));
        snd->failed = true;
        return -err;
    }
    snd->sent++;
    return 0;
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: nfsend -p PORT [-a 127.0.0.1|::1] [-v 10|9|5] [-n N] "
                    "[-r MSGS_PER_S] [-s SEED] [-t START_UNIX_S] [-b SRCADDR]\n"
                    "              [-T [-S]] [-R] [-P N -W FILE]\n"
                    "  -T  IPFIX over TCP; -S one byte per write\n"
                    "  -R  no template refresh (templates go out once, at the start)\n"
                    "  -P N -W FILE  after N records, wait until FILE exists, then go on\n");
    exit(2);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
    uint64_t v, port = 0, start_s = clock_ns(CLOCK_REALTIME) / 1000000000u - SPAN_MS / 1000;
    int c;

    *o = (struct opts){.addr = "127.0.0.1", .version = 10, .n = 1000, .rate = 20000, .seed = 1};
    while ((c = getopt(argc, argv, "p:a:v:n:r:s:t:TSRP:W:b:")) != -1) {
        int bad = 0;
        switch (c) {
        case 'p':
            bad = parse_u64(optarg, 65535, &port) != 0 || port == 0;
            break;
        case 'a':
            o->addr = optarg;
            break;
        case 'v':
            bad = parse_u64(optarg, 10, &v) != 0 || (v != 5 && v != 9 && v != 10);
            o->version = (uint8_t) v;
            break;
        case 'n':
            bad = parse_u64(optarg, MAX_RECS, &o->n);
            break;
        case 'r':
            bad = parse_u64(optarg, 1000000000u, &o->rate);
            break;
        case 's':
            bad = parse_u64(optarg, UINT64_MAX, &o->seed);
            break;
        case 't':
            bad = parse_u64(optarg, UINT32_MAX, &start_s);
            break;
        case 'T':
            o->tcp = true;
            break;
        case 'S':
            o->split = true;
            break;
        case 'R':
            o->no_refresh = true;
            break;
        case 'P':
            bad = parse_u64(optarg, MAX_RECS, &o->pause_after);
            break;
        case 'W':
            o->resume_file = optarg;
            break;
        case 'b':
            o->bind_addr = optarg;
            break;
        default:
            usage();
        }
        if (bad) {
            fprintf(stderr, "nfsend: bad value for -%c: %s\n", c, optarg);
            usage();
        }
    }
    if (optind != argc || port == 0 || (o->tcp && o->version != 10) ||
        ((o->pause_after != 0) != (o->resume_file != NULL))) {
        usage();
    }
    o->port = (uint16_t) port;
    o->start_ms = start_s * 1000u;
}

/* Poll for a file (the test's signal to go on), for up to 60 s. */
static void
wait_for(const char *path)
{
    for (int i = 0; i < 1200 && access(path, F_OK) != 0; i++) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
}

/* Generate, encode and send; the sums of what was sent go to *sum. */
static int
run(const struct opts *o, struct sender *snd, struct totals *sum)
{
    uint64_t now_ms = clock_ns(CLOCK_REALTIME) / 1000000u;
    /* v5/v9 carry times as sysUpTime: an exporter up for an hour, records within days. */
    struct enc_cfg cfg = {.version = o->version, .boot_ms = now_ms - 3600000u};
    if (o->no_refresh || o->tcp) {
        cfg.tmpl_refresh_msgs = UINT32_MAX; /* templates once: a restarted collector must */
        cfg.tmpl_refresh_ms = UINT32_MAX;   /* remember them (or TCP keeps them anyway) */
    }
    struct enc_ctx *enc;
    uint64_t s = o->seed;
    int rc = enc_create(&enc, &cfg);

    if (rc != 0) {
        fprintf(stderr, "nfsend: enc_create: %s\n", enc_strerror(rc));
        return rc;
    }
    snd->t0_ns = clock_ns(CLOCK_MONOTONIC);
    for (uint64_t i = 0; i < o->n && rc == 0; i++) {
        struct flow_rec r;
        gen_rec(&r, &s, i, o);
        rc = enc_add(enc, &r, clock_ns(CLOCK_REALTIME) / 1000000u, emit, snd);
        if (rc == 0) {
            sum->packets += r.packets;
            sum->bytes += r.bytes;
            sum->records++;
        }
        if (rc == 0 && o->pause_after != 0 && i + 1 == o->pause_after) {
            rc = enc_flush(enc, clock_ns(CLOCK_REALTIME) / 1000000u, emit, snd);
            wait_for(o->resume_file);
        }
    }
    if (rc == 0) {
        rc = enc_flush(enc, clock_ns(CLOCK_REALTIME) / 1000000u, emit, snd);
    }
    if (rc != 0 && !snd->failed) {
        fprintf(stderr, "nfsend: encoding: %s\n", enc_strerror(rc));
    }
    enc_destroy(enc);
    return rc;
}

/* Bind the socket to a loopback source address of the destination's family (any port). */
static int
bind_source(int fd, const char *addr, sa_family_t family)
{
    struct sockaddr_storage src;
    socklen_t len;

    if (sendutil_loopback(addr, 0, &src, &len) != 0 || src.ss_family != family) {
        fprintf(stderr, "nfsend: -b %s: not a loopback address of the destination's family\n",
                addr);
        return -1;
    }
    if (bind(fd, (const struct sockaddr *) &src, len) != 0) {
        fprintf(stderr, "nfsend: bind %s: %s\n", addr, strerror(errno));
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o;
    struct sender snd = {.fd = -1};
    struct totals sum = {0};

    parse_opts(argc, argv, &o);
    snd.rate = o.rate;
    if (sendutil_loopback(o.addr, o.port, &snd.dst, &snd.dstlen) != 0) {
        fprintf(stderr, "nfsend: refusing %s: only loopback (127.0.0.0/8, ::1) is allowed\n",
                o.addr);
        return 2;
    }
    snd.tcp = o.tcp;
    snd.split = o.split;
    snd.fd = socket(snd.dst.ss_family, o.tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (snd.fd < 0) {
        fprintf(stderr, "nfsend: socket: %s\n", strerror(errno));
        return 1;
    }
    if (o.bind_addr != NULL && bind_source(snd.fd, o.bind_addr, snd.dst.ss_family) != 0) {
        close(snd.fd);
        return 1;
    }
    if (o.tcp) {
        int one = 1;
        setsockopt(snd.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(snd.fd, (const struct sockaddr *) &snd.dst, snd.dstlen) != 0) {
            fprintf(stderr, "nfsend: connect: %s\n", strerror(errno));
            close(snd.fd);
            return 1;
        }
    }
    int rc = run(&o, &snd, &sum);
    close(snd.fd);
    if (rc != 0) {
        return 1;
    }
    printf("sent records=%" PRIu64 " packets=%" PRIu64 " bytes=%" PRIu64 " messages=%" PRIu64 "\n",
           sum.records, sum.packets, sum.bytes, snd.sent);
    return 0;
}
