/* SPDX-License-Identifier: MIT */
/*
 * bench/block: block encode / decode speed (records per second, one core, median of rounds)
 * and size (bytes per record) for
 *   - realistic synthetic flows: 50k hosts in 10.20/16, Zipf-ish peers and destination ports,
 *     a 600 s window, three exporters, a small identity set, mostly IPv4, and
 *   - the records decoded from the third-party captures (tests/golden/captures/LIST), when
 *     present.
 * It also prints the summary's Bloom false-positive rate for absent hosts of the /16, and
 * projected decodes (only the columns `stats sum(bytes)` and `top 10 dstaddr by bytes` read)
 * against the full decode of the same rounds.
 *
 *   bench_block [-r ROUNDS] [-n RECORDS] [-b BLOCK_RECORDS] [-q] [-c CAPTURES_DIR LIST]
 *     -q  skip the Bloom false-positive measurement
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block.h"
#include "dec.h"
#include "pcapwalk.h"

#include "benchutil.h"

static const uint16_t ports[] = {443, 80, 53, 22, 123, 8080, 3389, 25, 993, 5432, 3306, 6443};

static void
synth(struct flow_rec *r, size_t i, size_t n, const uint8_t ext[][4], size_t next)
{
    static const uint64_t t0 = 1763800200000ull;
    memset(r, 0, sizeof(*r));
    r->present = 0x7FF | FLOW_HAS_INSTANCE | FLOW_HAS_ACCOUNT | FLOW_HAS_SAMPLING;
    size_t h = zipfish(50000);
    uint8_t src[4] = {10, 20, (uint8_t) (h >> 8), (uint8_t) h};
    flow_addr_set_v4(r->srcaddr, src);
    if (rnd() % 4 == 0) {
        size_t d = zipfish(50000);
        uint8_t dst[4] = {10, 20, (uint8_t) (d >> 8), (uint8_t) d};
        flow_addr_set_v4(r->dstaddr, dst);
    } else {
        flow_addr_set_v4(r->dstaddr, ext[zipfish(next)]);
    }
    if (rnd() % 50 == 0) {
        static const uint8_t p6[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x14};
        memcpy(r->srcaddr, p6, 8);
        memcpy(r->dstaddr, p6, 8);
        r->srcaddr[15] = (uint8_t) rnd();
        r->dstaddr[14] = (uint8_t) rnd();
    }
    uint8_t ex[4] = {192, 0, 2, (uint8_t) (1 + rnd() % 3)};
    flow_addr_set_v4(r->exporter, ex);
    r->exporter_port = 50000;
    uint64_t end = t0 + (uint64_t) ((double) i / (double) n * 600000.0) + rnd() % 2000;
    double dur = unif();
    r->end_ms = end;
    r->start_ms = end - (uint64_t) (dur * dur * dur * 60000.0);
    uint64_t u = rnd() % 100;
    r->protocol = u < 80 ? 6 : u < 98 ? 17 : 1;
    r->srcport = (uint16_t) (32768 + rnd() % 28000);
    r->dstport = rnd() % 10 == 0 ? (uint16_t) (1024 + rnd() % 60000)
                                 : ports[zipfish(sizeof(ports) / sizeof(ports[0]))];
    if (r->protocol == 1) {
        r->srcport = 0;
        r->dstport = 0x0800;
    }
    r->packets = 1 + (uint64_t) exp(unif() * unif() * 12.0);
    r->bytes = r->packets * (40 + rnd() % 1460);
    r->tcp_flags = r->protocol == 6 ? (rnd() % 3 ? 0x1b : 0x02) : 0;
    r->tos = rnd() % 20 == 0 ? 0x2e << 2 : 0;
    r->inport = 1 + (uint32_t) (rnd() % 4);
    r->outport = 5 + (uint32_t) (rnd() % 2);
    r->direction = 1 + (uint8_t) (rnd() % 2);
    r->action = rnd() % 20 == 0;
    r->sampling = 1;
    r->version = 10;
    r->window = 1763800200;
    static const char *inst[] = {"sag-bj-01", "sag-bj-02", "sag-sh-01", "sag-gz-07"};
    strcpy(r->instance_id, inst[ex[3] - 1 + (rnd() % 8 == 0)]);
    strcpy(r->account_id, ex[3] == 3 ? "1234567890" : "9876543210");
}

struct set {
    const char *name;
    struct flow_rec *recs;
    size_t n;
};

/* Records per second decoding every block with the projection cols. */
static double
decode_cols(struct stor_buf *bufs, size_t nb, size_t blk, size_t n, struct flow_rec *out,
            uint64_t cols, uint64_t *sink)
{
    double t = now_s();
    for (size_t b = 0; b < nb; b++) {
        size_t got;
        if (stor__block_decode_cols(bufs[b].p, bufs[b].len, out, blk, &got, cols) != 0) {
            fprintf(stderr, "decode failed\n");
            exit(1);
        }
        *sink += out[got - 1].bytes;
    }
    return (double) n / (now_s() - t);
}

static void
run_set(const struct set *s, size_t blk, int rounds)
{
    size_t nb = (s->n + blk - 1) / blk;
    struct stor_buf *bufs = calloc(nb, sizeof(*bufs));
    struct flow_rec *out = malloc(blk * sizeof(*out));
    struct stor_sum sum;
    double enc[16], dec[16], dec_sum[16], dec_top[16];
    size_t bytes = 0;
    uint64_t sink = 0;

    for (int r = 0; r < rounds; r++) {
        double t = now_s();
        for (size_t b = 0; b < nb; b++) {
            bufs[b].len = 0;
            size_t n = s->n - b * blk < blk ? s->n - b * blk : blk;
            if (stor__block_encode(s->recs + b * blk, n, &bufs[b], &sum) != 0) {
                fprintf(stderr, "encode failed\n");
                exit(1);
            }
        }
        enc[r] = (double) s->n / (now_s() - t);
        t = now_s();
        for (size_t b = 0; b < nb; b++) {
            size_t got;
            if (stor__block_decode(bufs[b].p, bufs[b].len, out, blk, &got) != 0) {
                fprintf(stderr, "decode failed\n");
                exit(1);
            }
            sink += out[got - 1].bytes;
        }
        dec[r] = (double) s->n / (now_s() - t);
        /* Projected decodes (stor.h "Projection"): what `stats sum(bytes)` and `top 10
         * dstaddr by bytes` read, against the full decode of the same round. */
        dec_sum[r] = decode_cols(bufs, nb, blk, s->n, out, STOR_COL_BYTES, &sink);
        dec_top[r] = decode_cols(bufs, nb, blk, s->n, out,
                                 STOR_COL_DSTADDR | STOR_COL_PACKETS | STOR_COL_BYTES, &sink);
    }
    for (size_t b = 0; b < nb; b++) {
        bytes += bufs[b].len;
        stor__buf_free(&bufs[b]);
    }
    qsort(enc, (size_t) rounds, sizeof(double), cmp_d);
    qsort(dec, (size_t) rounds, sizeof(double), cmp_d);
    qsort(dec_sum, (size_t) rounds, sizeof(double), cmp_d);
    qsort(dec_top, (size_t) rounds, sizeof(double), cmp_d);
    printf("%-10s %8zu records, %4zu-record blocks: %6.2f B/record (+%.2f summary), "
           "encode %5.2f M rec/s, decode %6.2f M rec/s (median of %d) [%llu]\n",
           s->name, s->n, blk, (double) bytes / (double) s->n,
           (double) (nb * STOR_SUM_BYTES) / (double) s->n, enc[rounds / 2] / 1e6,
           dec[rounds / 2] / 1e6, rounds, (unsigned long long) (sink & 1));
    printf("%-10s projected decode: bytes only %6.2f M rec/s (%.2fx full), dstaddr+packets+bytes "
           "%6.2f M rec/s (%.2fx full)\n",
           s->name, dec_sum[rounds / 2] / 1e6, dec_sum[rounds / 2] / dec[rounds / 2],
           dec_top[rounds / 2] / 1e6, dec_top[rounds / 2] / dec[rounds / 2]);
    free(bufs);
    free(out);
}

/* How often a host of 10.20/16 absent from a block still passes its summary. */
static void
bloom_fp(const struct set *s, size_t blk)
{
    struct stor_buf b = {0};
    struct stor_sum sum;
    size_t n = s->n < blk ? s->n : blk, asked = 0, passed = 0;
    stor__block_encode(s->recs, n, &b, &sum);
    for (int q = 0; q < 20000; q++) {
        struct stor_conj c = {.n = 1};
        c.any[0].field = STOR_F_SRCADDR;
        c.any[0].cidr.plen = 128;
        uint8_t a[4] = {10, 20, (uint8_t) rnd(), (uint8_t) rnd()};
        flow_addr_set_v4(c.any[0].cidr.addr, a);
        bool in = false;
        for (size_t i = 0; i < n && !in; i++) {
            in = stor__rec_matches(&s->recs[i], &c);
        }
        if (!in) {
            asked++;
            passed += stor__sum_may_match(&sum, &c, 1);
        }
    }
    printf("Bloom (%d bytes), %zu-record block: absent-host false positive rate %.3f\n",
           STOR_BLOOM_BYTES, n, (double) passed / (double) asked);
    stor__buf_free(&b);
}

struct cap {
    struct dec_ctx *dec;
    struct set *s;
    size_t cap;
    struct flow_rec buf[256];
};

static int
cap_flush(void *arg, struct flow_rec *recs, size_t n)
{
    struct cap *c = arg;
    if (n == 0) {
        return 0;
    }
    if (c->s->n + n > c->cap) {
        c->cap = (c->cap + n) * 2;
        c->s->recs = realloc(c->s->recs, c->cap * sizeof(*recs));
        if (c->s->recs == NULL) {
            return -1;
        }
    }
    memcpy(c->s->recs + c->s->n, recs, n * sizeof(*recs));
    c->s->n += n;
    return 0;
}

static int
cap_pkt(void *arg, const struct pcapwalk_pkt *pkt)
{
    struct cap *c = arg;
    struct dec_src src = {.port = pkt->sport, .transport = DEC_TR_FILE};
    memcpy(src.addr, pkt->src, 16);
    struct dec_sink out = {c->buf, 256, 0, cap_flush, c};
    dec_decode(c->dec, &src, pkt->data, pkt->len, pkt->ts_ms, &out, NULL);
    return cap_flush(c, out.recs, out.n);
}

static void
load_captures(struct set *s, const char *dir, const char *listpath)
{
    FILE *list = fopen(listpath, "r");
    char line[512], path[1024], err[256];
    struct cap c = {.s = s};
    if (list == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), list) != NULL) {
        char rel[400];
        unsigned port;
        if (sscanf(line, "%399s %u", rel, &port) != 2) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        uint16_t p = (uint16_t) port;
        dec_ctx_create(&c.dec, NULL);
        pcapwalk(path, &p, 1, cap_pkt, &c, err);
        dec_ctx_destroy(c.dec);
    }
    fclose(list);
}

int
main(int argc, char **argv)
{
    int rounds = 5;
    size_t n = 1u << 20, blk = 4096;
    const char *capdir = NULL, *list = NULL;
    bool fp = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = (size_t) atol(argv[++i]);
        } else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            blk = (size_t) atol(argv[++i]);
        } else if (strcmp(argv[i], "-q") == 0) {
            fp = false;
        } else if (strcmp(argv[i], "-c") == 0 && i + 2 < argc) {
            capdir = argv[++i];
            list = argv[++i];
        }
    }
    rounds = rounds < 1 ? 1 : rounds > 16 ? 16 : rounds;
    blk = blk < 1 ? 1 : blk > STOR_BLOCK_MAX ? STOR_BLOCK_MAX : blk;

    static uint8_t ext[5000][4];
    for (size_t i = 0; i < 5000; i++) {
        uint32_t a = (uint32_t) rnd();
        memcpy(ext[i], &a, 4);
    }
    struct set syn = {"synthetic", malloc(n * sizeof(struct flow_rec)), n};
    for (size_t i = 0; i < n; i++) {
        synth(&syn.recs[i], i, n, ext, 5000);
    }
    run_set(&syn, blk, rounds);
    if (fp) {
        bloom_fp(&syn, blk);
        bloom_fp(&syn, 512);
    }
    if (capdir != NULL) {
        struct set cap = {"captures", NULL, 0};
        load_captures(&cap, capdir, list);
        if (cap.n > 0) {
            run_set(&cap, blk, rounds);
        }
        free(cap.recs);
    }
    free(syn.recs);
    return 0;
}
