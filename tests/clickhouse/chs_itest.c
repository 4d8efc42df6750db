/* SPDX-License-Identifier: MIT */
/*
 * Drives the chsink library against real ClickHouse servers for the scripts in this folder:
 *
 *   chs_itest schema DB URL...            ensure the schema on every shard; prints the
 *                                         version found before on each ("from 0" / "from 1")
 *   chs_itest ship DB FIRST LAST RETRY URL...
 *                                         ship batches FIRST..LAST of the known stream (each
 *                                         batch its own rows per shard); RETRY=1 says an
 *                                         earlier run may have sent them (maybe_sent). Prints
 *                                         "failed <batch> <shard> <error>" per failed batch and
 *                                         "sent N skipped M"; exits 1 when any failed.
 *   chs_itest totals FIRST LAST          prints "flows P B" of batches FIRST..LAST, what the
 *                                         stream holds, for the script to compare
 *   chs_itest retention DB DAYS URL...   drop partitions older than DAYS days; prints count
 *
 * The known stream: batch b has BATCH_RECS records; record i of batch b has packets
 * 1 + (b*7+i) % 13 and bytes 64 * packets + i % 100, and its window is spread over three
 * days, so partitions and the hourly rollup have several rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chs.h"

#define BATCH_RECS 3000u
#define DAY0       1764720000u /* 2025-12-03 00:00:00 UTC */

static void
make_rec(struct flow_rec *r, unsigned b, unsigned i)
{
    memset(r, 0, sizeof(*r));
    uint8_t s4[4] = {10, (uint8_t) b, (uint8_t) (i >> 8), (uint8_t) i};
    uint8_t d4[4] = {192, 0, 2, (uint8_t) (i % 7)};
    flow_addr_set_v4(r->srcaddr, s4);
    flow_addr_set_v4(r->dstaddr, d4);
    r->window = DAY0 + (b % 3) * 86400u + (i % 24) * 3600u;
    r->start_ms = (uint64_t) r->window * 1000u + i;
    r->end_ms = r->start_ms + 500;
    r->packets = 1 + (b * 7 + i) % 13;
    r->bytes = 64 * r->packets + i % 100;
    r->protocol = i % 2 ? 6 : 17;
    r->srcport = (uint16_t) (1024 + i);
    r->dstport = 443;
    r->version = 10;
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
}

/* Batch b's rows for shard `shard` of n: the records whose stable hash says so. */
static int
build(struct chs_buf *out, unsigned b, unsigned shard, unsigned nshards, uint64_t *rows)
{
    struct chs_rowctx c = {.flowlog = "default", .window_s = 60, .batch_id = 1000u + b};
    struct flow_rec r;

    *rows = 0;
    for (unsigned i = 0; i < BATCH_RECS; i++) {
        make_rec(&r, b, i);
        if (chs_shard_of(&r, nshards) != shard) {
            continue;
        }
        if (chs_rowbin_append(out, &r, &c) != 0) {
            return -1;
        }
        (*rows)++;
    }
    return 0;
}

static int
cmd_ship(const char *db, unsigned first, unsigned last, int retry, char **urls, unsigned n)
{
    unsigned sent = 0;
    unsigned skipped = 0;
    int failed = 0;

    for (unsigned b = first; b <= last; b++) {
        for (unsigned s = 0; s < n; s++) {
            struct chs_shard sh = {.url = urls[s], .timeout_ms = 10000};
            struct chs_buf rows = {0};
            uint64_t nrows = 0;
            bool did = false;
            int rc = build(&rows, b, s, n, &nrows);
            if (rc == 0) {
                rc = chs_ship(&sh, db, false, retry != 0, 1000u + b, &rows, nrows, &did);
            }
            if (rc != 0) {
                printf("failed %u %u %s\n", b, s + 1, chs_strerror(rc));
                failed = 1;
            } else {
                sent += did;
                skipped += !did;
            }
            chs_buf_free(&rows);
        }
    }
    printf("sent %u skipped %u\n", sent, skipped);
    return failed;
}

static int
cmd_schema(const char *db, char **urls, unsigned n)
{
    struct chs_schema_cfg c = {.database = db, .cluster = "flowlog", .replicated = false};
    int bad = 0;

    for (unsigned s = 0; s < n; s++) {
        struct chs_shard sh = {.url = urls[s], .timeout_ms = 10000};
        uint32_t from = 0;
        int rc = chs_schema_ensure(&sh, &c, &from);
        if (rc != 0) {
            printf("shard %u: %s\n", s + 1, chs_strerror(rc));
            bad = 1;
        } else {
            printf("from %u\n", from);
        }
    }
    return bad;
}

static int
cmd_totals(unsigned first, unsigned last)
{
    uint64_t flows = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    struct flow_rec r;

    for (unsigned b = first; b <= last; b++) {
        for (unsigned i = 0; i < BATCH_RECS; i++) {
            make_rec(&r, b, i);
            flows++;
            packets += r.packets;
            bytes += r.bytes;
        }
    }
    printf("%llu %llu %llu\n", (unsigned long long) flows, (unsigned long long) packets,
           (unsigned long long) bytes);
    return 0;
}

static int
cmd_retention(const char *db, unsigned days, char **urls, unsigned n)
{
    unsigned total = 0;
    /* "Now" is fixed at DAY0 + 2 days + 1 hour so the test does not depend on the clock. */
    uint64_t now = DAY0 + 2u * 86400u + 3600u;

    for (unsigned s = 0; s < n; s++) {
        struct chs_shard sh = {.url = urls[s], .timeout_ms = 10000};
        unsigned dropped = 0;
        int rc = chs_retention(&sh, db, days, now, &dropped);
        if (rc != 0) {
            printf("shard %u: %s\n", s + 1, chs_strerror(rc));
            return 1;
        }
        total += dropped;
    }
    printf("dropped %u\n", total);
    return 0;
}

int
main(int argc, char **argv)
{
    int rc = 2;

    if (chs_init() != 0) {
        return 1;
    }
    if (argc >= 4 && strcmp(argv[1], "schema") == 0) {
        rc = cmd_schema(argv[2], argv + 3, (unsigned) (argc - 3));
    } else if (argc >= 7 && strcmp(argv[1], "ship") == 0) {
        rc = cmd_ship(argv[2], (unsigned) atoi(argv[3]), (unsigned) atoi(argv[4]), atoi(argv[5]),
                      argv + 6, (unsigned) (argc - 6));
    } else if (argc == 4 && strcmp(argv[1], "totals") == 0) {
        rc = cmd_totals((unsigned) atoi(argv[2]), (unsigned) atoi(argv[3]));
    } else if (argc >= 5 && strcmp(argv[1], "retention") == 0) {
        rc = cmd_retention(argv[2], (unsigned) atoi(argv[3]), argv + 4, (unsigned) (argc - 4));
    } else {
        fprintf(stderr, "usage: see the header of tests/clickhouse/chs_itest.c\n");
    }
    chs_fini();
    return rc;
}
