/* SPDX-License-Identifier: MIT */
/*
 * dgramfuzz: send malformed NetFlow v5 / v9 / IPFIX datagrams at speed to a collector on the
 * loopback interface, to show that it stays up and keeps decoding the good traffic that
 * arrives at the same time (tests/e2e/mutated.sh). Deterministic: the same seed gives the
 * same datagrams in the same order.
 *
 *   dgramfuzz -p PORT [-a 127.0.0.1] [-b SRCADDR] [-s SEED] [-d SECONDS] [-r DGRAMS_PER_S]
 *             [-n MAX] [-k KIND,...]
 *     -p PORT  destination UDP port (required); -a ADDR destination (loopback only)
 *     -b SRC   send from this loopback address (default: the kernel's choice, 127.0.0.1)
 *     -s SEED  seed (default 1); -d SECONDS how long to send (default 3)
 *     -r RATE  datagrams per second (default 20000; 0 = as fast as possible)
 *     -n MAX   stop after MAX datagrams even if time is left (default: no limit)
 *     -k KINDS only these kinds of datagram (names below, comma-separated; default all), to
 *              tell which kind a collector has trouble with
 *
 * It first encodes a pool of small valid messages of each version with the export encoder
 * (enc.h; templates resent often, so the pool holds template sets as well as data sets), then
 * sends,
 * for each datagram, one of:
 *   valid     a pool message unchanged (keeps templates flowing, so that mutated data sets
 *             meet real templates and mutated templates meet real data)
 *   bitflip   1 to 16 random bits flipped
 *   truncate  cut at a random length (0 included)
 *   hdrlen    the header's length (IPFIX) or count (v5, v9) set to 0, 1, 65535, len +- 1, random
 *   setlen    one set's length set to 0..5, len + 1, 65535 or random
 *   tmplid    one set's id, or a template's id, set to 0, 1, 255, 256, 65535 or random
 *   count     a template's field count or a field length set to 0 or 65535, or v5 count 65535
 *   body      the header kept, everything after it random
 *   random    random bytes of random length (0..1500)
 *   randver   the same, but starting with version 5, 9 or 10, so they get past the version
 *             check and a v5 one decodes into records with arbitrary fields and times
 *   splice    the head of one message followed by the tail of another
 * The pool's records use 192.168.0.0/16 and fd01::/64 sources, which nfsend never uses, so a
 * mutated record that still decodes cannot merge with a record of another test exporter.
 * At the end one line goes to stdout:
 *   sent datagrams=N valid=V mutated=M random=R empty=E
 * where E counts the datagrams of length 0 among the others (a collector may not count those
 * as datagrams: libuv reports them like "nothing to read").
 */
#define _DEFAULT_SOURCE /* sockets, getopt, nanosleep */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "enc.h"
#include "flow.h"
#include "flow_bytes.h"
#include "sendutil.h"

#define POOL_MAX 384  /* valid messages kept */
#define MSG_MAX  9000 /* bytes of one datagram we build */
#define PER_VER  600  /* records encoded per version */
#define MAX_SETS 64
/*
 * Small messages (about 8 records): the point is many malformed datagrams per second, and the
 * records that still decode from them cost the collector's store far more than the datagrams.
 */
#define SMALL    ENC_MSG_MIN
#define SMALL_V5 (24 + 6 * 48)

enum kind {
    K_VALID,
    K_BITFLIP,
    K_TRUNC,
    K_HDRLEN,
    K_SETLEN,
    K_TMPLID,
    K_COUNT,
    K_BODY,
    K_RANDOM,
    K_RANDVER,
    K_SPLICE,
    K_KINDS
};

struct msg {
    uint8_t version;
    uint16_t len;
    uint8_t *bytes;
};

struct pool {
    struct msg m[POOL_MAX];
    size_t n;
};

static const char *const kind_names[K_KINDS] = {"valid",  "bitflip", "truncate", "hdrlen",
                                                "setlen", "tmplid",  "count",    "body",
                                                "random", "randver", "splice"};

struct fuzz {
    uint64_t s; /* generator state */
    uint8_t allowed[K_KINDS];
    unsigned nallowed;
    uint8_t buf[MSG_MAX];
    size_t len;
    uint64_t valid, mutated, random, empty;
};

static uint64_t
below(uint64_t *s, uint64_t n)
{
    return n == 0 ? 0 : splitmix64(s) % n;
}

static int
keep(void *arg, const uint8_t *msg, size_t len)
{
    struct pool *p = arg;

    if (p->n == POOL_MAX || len > MSG_MAX || len < 4) {
        return 0; /* pool full: the encoder's later messages are not needed */
    }
    uint8_t *copy = malloc(len);
    if (copy == NULL) {
        return -ENOMEM;
    }
    memcpy(copy, msg, len);
    p->m[p->n++] = (struct msg){(uint8_t) msg[1], (uint16_t) len, copy};
    return 0;
}

static void
gen_rec(struct flow_rec *r, uint64_t *s, uint64_t i, uint8_t version, uint64_t now_ms)
{
    bool v6 = version != 5 && below(s, 3) == 0;

    memset(r, 0, sizeof(*r));
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS;
    if (v6) {
        static const uint8_t src6[8] = {0xfd, 0x01, 0, 0, 0, 0, 0, 0};
        memcpy(r->srcaddr, src6, 8);
        r->dstaddr[0] = 0x20;
        r->dstaddr[1] = 0x01;
        for (int k = 8; k < 16; k++) {
            r->srcaddr[k] = (uint8_t) (i >> (8 * (15 - k)));
            r->dstaddr[k] = (uint8_t) splitmix64(s);
        }
    } else {
        uint8_t a[4] = {192, 168, (uint8_t) (i >> 8), (uint8_t) i};
        uint8_t b[4] = {198, 18, (uint8_t) below(s, 256), (uint8_t) below(s, 256)};
        flow_addr_set_v4(r->srcaddr, a);
        flow_addr_set_v4(r->dstaddr, b);
    }
    r->protocol = below(s, 2) == 0 ? 6 : 17;
    r->srcport = (uint16_t) (1024 + below(s, 60000));
    r->dstport = (uint16_t) (1 + below(s, 1023));
    r->tcp_flags = r->protocol == 6 ? 0x12 : 0;
    r->packets = 1 + below(s, 100);
    r->bytes = r->packets * (40 + below(s, 1400));
    r->end_ms = now_ms - below(s, 300000);
    r->start_ms = r->end_ms - below(s, 30000);
}

/* Encode PER_VER records of each version into the pool. */
static int
fill_pool(struct pool *p, uint64_t seed)
{
    static const uint8_t versions[] = {10, 9, 5};
    uint64_t now_ms = clock_ns(CLOCK_REALTIME) / 1000000u, s = seed ^ 0x5eed;

    for (size_t v = 0; v < sizeof(versions); v++) {
        struct enc_cfg cfg = {.version = versions[v],
                              .domain = (uint32_t) below(&s, 4),
                              .max_msg = (uint16_t) (versions[v] == 5 ? SMALL_V5 : SMALL),
                              .tmpl_refresh_msgs = 3,
                              .boot_ms = now_ms - 3600000u};
        struct enc_ctx *enc;
        int rc = enc_create(&enc, &cfg);
        if (rc != 0) {
            fprintf(stderr, "dgramfuzz: enc_create: %s\n", enc_strerror(rc));
            return rc;
        }
        for (uint64_t i = 0; i < PER_VER && rc == 0; i++) {
            struct flow_rec r;
            gen_rec(&r, &s, i, versions[v], now_ms);
            rc = enc_add(enc, &r, now_ms, keep, p);
        }
        if (rc == 0) {
            rc = enc_flush(enc, now_ms, keep, p);
        }
        enc_destroy(enc);
        if (rc != 0) {
            fprintf(stderr, "dgramfuzz: encoding: %s\n", enc_strerror(rc));
            return rc;
        }
    }
    return p->n == 0 ? -EINVAL : 0;
}

/* A value that is likely to hit an edge: 0, 1, 65535, near n, or random. */
static uint16_t
edge16(uint64_t *s, size_t n)
{
    static const uint16_t fixed[] = {0, 1, 2, 3, 4, 5, 255, 256, 0xFFFF, 0x8000};
    switch (below(s, 4)) {
    case 0:
        return fixed[below(s, sizeof(fixed) / sizeof(fixed[0]))];
    case 1:
        return (uint16_t) (n + 1);
    case 2:
        return (uint16_t) (n > 0 ? n - 1 : 0);
    default:
        return (uint16_t) splitmix64(s);
    }
}

/* Offsets of the sets (v9 flowsets) of the message in f->buf; v5 has none. */
static size_t
find_sets(const struct fuzz *f, uint8_t version, size_t off[MAX_SETS])
{
    size_t n = 0, at = version == 10 ? 16 : 20;

    if (version == 5) {
        return 0;
    }
    while (n < MAX_SETS && at + 4 <= f->len) {
        uint16_t len = (uint16_t) flow_get_be(f->buf + at + 2, 2);
        off[n++] = at;
        if (len < 4) {
            break;
        }
        at += len;
    }
    return n;
}

static bool
is_template_set(uint8_t version, uint16_t id)
{
    return version == 10 ? (id == 2 || id == 3) : (id == 0 || id == 1);
}

/* Mutate one set (setlen, tmplid, count); false when the message has no set. */
static bool
mutate_set(struct fuzz *f, uint8_t version, enum kind k)
{
    size_t off[MAX_SETS], n = find_sets(f, version, off);

    if (n == 0) {
        return false;
    }
    size_t at = off[below(&f->s, n)];
    uint16_t id = (uint16_t) flow_get_be(f->buf + at, 2),
             len = (uint16_t) flow_get_be(f->buf + at + 2, 2);
    if (k == K_SETLEN) {
        flow_put_be(f->buf + at + 2, edge16(&f->s, len), 2);
    } else if (k == K_TMPLID && is_template_set(version, id) && at + 6 <= f->len) {
        flow_put_be(f->buf + at + 4, edge16(&f->s, (uint16_t) flow_get_be(f->buf + at + 4, 2)), 2);
    } else if (k == K_TMPLID) {
        flow_put_be(f->buf + at, edge16(&f->s, id), 2);
    } else if (at + 8 <= f->len && is_template_set(version, id)) {
        /* count: the field count, or one field's length (fields start at set + 8). */
        size_t fld = at + 8 + 4 * below(&f->s, 8);
        if (below(&f->s, 2) == 0 || fld + 4 > f->len) {
            flow_put_be(f->buf + at + 6, below(&f->s, 2) == 0 ? 0xFFFF : 0, 2);
        } else {
            flow_put_be(f->buf + fld + 2, below(&f->s, 2) == 0 ? 0xFFFF : 0, 2);
        }
    } else {
        flow_put_be(f->buf + 2, 0xFFFF, 2); /* v9 header count / IPFIX length: huge */
    }
    return true;
}

/* Build the next datagram in f->buf / f->len. */
static void
next_dgram(struct fuzz *f, const struct pool *p)
{
    const struct msg *m = &p->m[below(&f->s, p->n)];
    enum kind k = (enum kind) f->allowed[below(&f->s, f->nallowed)];
    size_t hdr = m->version == 10 ? 16 : m->version == 9 ? 20 : 24;

    memcpy(f->buf, m->bytes, m->len);
    f->len = m->len;
    switch (k) {
    case K_VALID:
        f->valid++;
        return;
    case K_RANDOM:
    case K_RANDVER:
        f->len = below(&f->s, 1501);
        for (size_t i = 0; i < f->len; i++) {
            f->buf[i] = (uint8_t) splitmix64(&f->s);
        }
        if (f->len >= 2 && k == K_RANDVER) {
            static const uint8_t v[] = {5, 9, 10};
            flow_put_be(f->buf, v[below(&f->s, 3)], 2);
        }
        f->random++;
        return;
    case K_BITFLIP:
        for (uint64_t i = 1 + below(&f->s, 16); i > 0; i--) {
            f->buf[below(&f->s, f->len)] ^= (uint8_t) (1u << below(&f->s, 8));
        }
        break;
    case K_TRUNC:
        f->len = below(&f->s, f->len);
        break;
    case K_HDRLEN:
        flow_put_be(
            f->buf + 2,
            edge16(&f->s, m->version == 10 ? m->len : (uint16_t) flow_get_be(m->bytes + 2, 2)), 2);
        break;
    case K_SETLEN:
    case K_TMPLID:
    case K_COUNT:
        if (!mutate_set(f, m->version, k)) {
            flow_put_be(f->buf + 2, 0xFFFF, 2); /* v5: a count far beyond the records present */
        }
        break;
    case K_BODY:
        for (size_t i = hdr; i < f->len; i++) {
            f->buf[i] = (uint8_t) splitmix64(&f->s);
        }
        break;
    default: { /* K_SPLICE */
        const struct msg *o = &p->m[below(&f->s, p->n)];
        size_t head = below(&f->s, f->len + 1), from = below(&f->s, o->len + 1);
        size_t tail = o->len - from < MSG_MAX - head ? o->len - from : MSG_MAX - head;
        memcpy(f->buf + head, o->bytes + from, tail);
        f->len = head + tail;
        break;
    }
    }
    f->mutated++;
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

struct opts {
    uint64_t port, seed, secs, rate, max;
    const char *addr, *src;
    uint32_t kinds;
};

/* "bitflip,random" into a bit set of kinds; 0 when a name is unknown. */
static uint32_t
parse_kinds(const char *list)
{
    char buf[256];
    uint32_t set = 0;

    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < K_KINDS && strcmp(t, kind_names[k]) != 0) {
            k++;
        }
        if (k == K_KINDS) {
            return 0;
        }
        set |= 1u << k;
    }
    return set;
}

static void
usage(void)
{
    fprintf(stderr, "usage: dgramfuzz -p PORT [-a 127.0.0.1] [-b SRCADDR] [-s SEED] "
                    "[-d SECONDS] [-r DGRAMS_PER_S] [-n MAX] [-k KIND,...]\n"
                    "  kinds: valid bitflip truncate hdrlen setlen tmplid count body random "
                    "randver splice\n");
    exit(2);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    *o = (struct opts){.seed = 1,
                       .secs = 3,
                       .rate = 20000,
                       .max = UINT64_MAX,
                       .addr = "127.0.0.1",
                       .kinds = (1u << K_KINDS) - 1};
    while ((c = getopt(argc, argv, "p:a:b:s:d:r:n:k:")) != -1) {
        int bad = 0;
        switch (c) {
        case 'p':
            bad = parse_u64(optarg, 65535, &o->port) != 0 || o->port == 0;
            break;
        case 'a':
            o->addr = optarg;
            break;
        case 'b':
            o->src = optarg;
            break;
        case 's':
            bad = parse_u64(optarg, UINT64_MAX, &o->seed);
            break;
        case 'd':
            bad = parse_u64(optarg, 3600, &o->secs);
            break;
        case 'r':
            bad = parse_u64(optarg, 100000000u, &o->rate);
            break;
        case 'n':
            bad = parse_u64(optarg, UINT64_MAX, &o->max);
            break;
        case 'k':
            o->kinds = parse_kinds(optarg);
            bad = o->kinds == 0;
            break;
        default:
            usage();
        }
        if (bad) {
            fprintf(stderr, "dgramfuzz: bad value for -%c: %s\n", c, optarg);
            usage();
        }
    }
    if (optind != argc || o->port == 0) {
        usage();
    }
}

static int
open_socket(const struct opts *o, struct sockaddr_storage *dst, socklen_t *dstlen)
{
    struct sockaddr_storage src;
    socklen_t srclen;

    if (sendutil_loopback(o->addr, (uint16_t) o->port, dst, dstlen) != 0) {
        fprintf(stderr, "dgramfuzz: refusing %s: only loopback is allowed\n", o->addr);
        return -1;
    }
    int fd = socket(dst->ss_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        fprintf(stderr, "dgramfuzz: socket: %s\n", strerror(errno));
        return -1;
    }
    if (o->src != NULL &&
        (sendutil_loopback(o->src, 0, &src, &srclen) != 0 || src.ss_family != dst->ss_family ||
         bind(fd, (struct sockaddr *) &src, srclen) != 0)) {
        fprintf(stderr, "dgramfuzz: cannot send from %s\n", o->src);
        close(fd);
        return -1;
    }
    return fd;
}

/* Send until time or count runs out, pacing in steps of 64 datagrams. */
static int
send_all(int fd, const struct sockaddr_storage *dst, socklen_t dstlen, const struct opts *o,
         const struct pool *p, struct fuzz *f)
{
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), end = t0 + o->secs * 1000000000u, sent = 0;

    while (sent < o->max) {
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now >= end) {
            break;
        }
        if (o->rate != 0 && sent % 64 == 0) {
            uint64_t due = t0 + sent * 1000000000u / o->rate;
            if (due > now) {
                struct timespec ts = {(time_t) ((due - now) / 1000000000u),
                                      (long) ((due - now) % 1000000000u)};
                nanosleep(&ts, NULL);
            }
        }
        next_dgram(f, p);
        f->empty += f->len == 0;
        if (sendto(fd, f->buf, f->len, 0, (const struct sockaddr *) dst, dstlen) < 0 &&
            errno != ECONNREFUSED && errno != ENOBUFS) {
            fprintf(stderr, "dgramfuzz: sendto: %s\n", strerror(errno));
            return -1;
        }
        sent++;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o;
    struct pool p = {.n = 0};
    struct sockaddr_storage dst;
    socklen_t dstlen;
    int rc = 1;

    parse_opts(argc, argv, &o);
    struct fuzz *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return 1;
    }
    f->s = o.seed;
    for (int k = 0; k < K_KINDS; k++) {
        if (o.kinds & (1u << k)) {
            f->allowed[f->nallowed++] = (uint8_t) k;
        }
    }
    int fd = open_socket(&o, &dst, &dstlen);
    if (fd < 0) {
        goto free_fuzz;
    }
    if (fill_pool(&p, o.seed) != 0 || send_all(fd, &dst, dstlen, &o, &p, f) != 0) {
        goto close_fd;
    }
    printf("sent datagrams=%" PRIu64 " valid=%" PRIu64 " mutated=%" PRIu64 " random=%" PRIu64
           " empty=%" PRIu64 "\n",
           f->valid + f->mutated + f->random, f->valid, f->mutated, f->random, f->empty);
    rc = 0;
close_fd:
    close(fd);
    for (size_t i = 0; i < p.n; i++) {
        free(p.m[i].bytes);
    }
free_fuzz:
    free(f);
    return rc;
}
