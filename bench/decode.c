/* SPDX-License-Identifier: MIT */
/*
 * bench/decode: decoder throughput on one core, in records per second, for
 *   - IPFIX with a 13-field template (the shape of a typical router template), and
 *   - NetFlow v5 (30 records per datagram).
 * Messages are built here once (deterministic content), then decoded in a loop; each case
 * runs several rounds and the median is printed. The sink is a 1024-record buffer whose flush
 * touches each record, as a consumer would.
 *
 *   decode [-r ROUNDS] [-n RECORDS_PER_ROUND]
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dec.h"

#include "benchutil.h"

#define MSGS 64
#define SINK 1024

struct msg {
    uint8_t b[1500];
    size_t n;
};

static void
put(uint8_t *b, size_t *o, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        b[(*o)++] = (uint8_t) (v >> (8 * i));
    }
}

/* 13 fields: 8 12 7 11 4 6 5 10 14 2(8) 1(8) 152(8) 153(8) = 55 bytes a record. */
static const uint16_t ipfix_fields[13][2] = {{8, 4}, {12, 4},  {7, 2},  {11, 2}, {4, 1},
                                             {6, 1}, {5, 1},   {10, 4}, {14, 4}, {2, 8},
                                             {1, 8}, {152, 8}, {153, 8}};

static size_t
build_ipfix(struct msg *m, uint32_t seq, uint32_t *x, int with_tmpl)
{
    size_t o = 16, nrec = 0;
    if (with_tmpl) {
        put(m->b, &o, 2, 2);
        put(m->b, &o, 4 + 4 + 13 * 4, 2);
        put(m->b, &o, 256, 2);
        put(m->b, &o, 13, 2);
        for (int i = 0; i < 13; i++) {
            put(m->b, &o, ipfix_fields[i][0], 2);
            put(m->b, &o, ipfix_fields[i][1], 2);
        }
    }
    size_t set = o;
    o += 4;
    while (o + 55 <= 1400) {
        *x = *x * 1103515245u + 12345u;
        uint64_t t = 1763800000000ull + (*x % 600000u);
        put(m->b, &o, 0x0a000000u | (*x & 0xffffu), 4);
        put(m->b, &o, 0xc0a80000u | (*x >> 16 & 0xffu), 4);
        put(m->b, &o, 1024u + (*x & 0x3fffu), 2);
        put(m->b, &o, 443, 2);
        put(m->b, &o, 6, 1);
        put(m->b, &o, 0x1b, 1);
        put(m->b, &o, 0, 1);
        put(m->b, &o, 1, 4);
        put(m->b, &o, 2, 4);
        put(m->b, &o, 1 + (*x & 0xff), 8);
        put(m->b, &o, 64 + (*x & 0xffff), 8);
        put(m->b, &o, t, 8);
        put(m->b, &o, t + 1000, 8);
        nrec++;
    }
    size_t l = o - set;
    m->b[set] = 1;
    m->b[set + 1] = 0;
    m->b[set + 2] = (uint8_t) (l >> 8);
    m->b[set + 3] = (uint8_t) l;
    size_t h = 0;
    put(m->b, &h, 10, 2);
    put(m->b, &h, o, 2);
    put(m->b, &h, 1763800600, 4);
    put(m->b, &h, seq, 4);
    put(m->b, &h, 1, 4);
    m->n = o;
    return nrec;
}

static size_t
build_v5(struct msg *m, uint32_t seq, uint32_t *x)
{
    size_t o = 0;
    put(m->b, &o, 5, 2);
    put(m->b, &o, 30, 2);
    put(m->b, &o, 3600000, 4);
    put(m->b, &o, 1763800600, 4);
    put(m->b, &o, 0, 4);
    put(m->b, &o, seq, 4);
    put(m->b, &o, 0, 4);
    for (int i = 0; i < 30; i++) {
        *x = *x * 1103515245u + 12345u;
        put(m->b, &o, 0x0a000000u | (*x & 0xffffu), 4);
        put(m->b, &o, 0xc0a80000u | (*x >> 16 & 0xffu), 4);
        put(m->b, &o, 0, 4);
        put(m->b, &o, 1, 2);
        put(m->b, &o, 2, 2);
        put(m->b, &o, 1 + (*x & 0xff), 4);
        put(m->b, &o, 64 + (*x & 0xffff), 4);
        put(m->b, &o, 3500000, 4);
        put(m->b, &o, 3590000, 4);
        put(m->b, &o, 1024u + (*x & 0x3fffu), 2);
        put(m->b, &o, 443, 2);
        put(m->b, &o, 0x001b0600, 4); /* pad, flags, proto, tos */
        put(m->b, &o, 0, 8);
    }
    m->n = o;
    return 30;
}

static uint64_t sink_sum;

static int
consume(void *arg, struct flow_rec *recs, size_t n)
{
    (void) arg;
    for (size_t i = 0; i < n; i++) {
        sink_sum += recs[i].bytes;
    }
    return 0;
}

/* Decode the messages until `target` records; returns records per second. */
static double
run_once(struct msg *msgs, const size_t *nrec, uint64_t target, int v5)
{
    static struct flow_rec recs[SINK];
    struct dec_ctx *ctx;
    struct dec_src src = {.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1},
                          .port = 40000};
    struct dec_sink out = {recs, SINK, 0, consume, NULL};
    uint64_t done = 0;

    if (dec_ctx_create(&ctx, NULL) != 0) {
        exit(1);
    }
    dec_decode(ctx, &src, msgs[0].b, msgs[0].n, 0, &out, NULL); /* template */
    double t0 = now_s();
    for (size_t i = 1; done < target; i = i + 1 < MSGS ? i + 1 : 1) {
        dec_decode(ctx, &src, msgs[i].b, msgs[i].n, 0, &out, NULL);
        done += nrec[i];
    }
    consume(NULL, recs, out.n);
    double dt = now_s() - t0;
    const struct dec_stats *st = dec_ctx_stats(ctx);
    if (st->records < done || st->err[DEC_R_NO_TEMPLATE] != 0) {
        fprintf(stderr, "decode bench: decoder lost records (%" PRIu64 " < %" PRIu64 ")\n",
                st->records, done);
        exit(1);
    }
    dec_ctx_destroy(ctx);
    (void) v5;
    return (double) done / dt;
}

int
main(int argc, char **argv)
{
    static struct msg ipfix[MSGS], v5[MSGS];
    size_t n_ipfix[MSGS], n_v5[MSGS];
    int rounds = 5;
    uint64_t target = 20000000;
    uint32_t x = 42, seq_i = 0, seq_5 = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-r") == 0) {
            rounds = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "-n") == 0) {
            target = strtoull(argv[i + 1], NULL, 10);
        }
    }
    if (rounds < 1 || rounds > 99) {
        rounds = 5;
    }
    for (int i = 0; i < MSGS; i++) {
        n_ipfix[i] = build_ipfix(&ipfix[i], seq_i, &x, i == 0);
        seq_i += (uint32_t) n_ipfix[i];
        n_v5[i] = build_v5(&v5[i], seq_5, &x);
        seq_5 += 30;
    }
    printf("%-28s %14s %14s\n", "case", "median rec/s", "best rec/s");
    const char *names[2] = {"ipfix-13-fields", "netflow-v5"};
    for (int c = 0; c < 2; c++) {
        double r[99];
        for (int i = 0; i < rounds; i++) {
            r[i] = c == 0 ? run_once(ipfix, n_ipfix, target, 0) : run_once(v5, n_v5, target, 1);
        }
        qsort(r, (size_t) rounds, sizeof(r[0]), cmp_d);
        printf("%-28s %14.0f %14.0f\n", names[c], r[rounds / 2], r[rounds - 1]);
    }
    return sink_sum == 0;
}
