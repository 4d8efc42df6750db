/* SPDX-License-Identifier: MIT */
/*
 * Projection (stor.h "Projection", storage/src/block.c): a sealed block decoded with a set of
 * columns gives, for every record, exactly the full decode's value of each projected field
 * and of the fields always decoded (presence, flow log, window, start and end), for random
 * records and random column sets, with constant and varying columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "block.h"

#define N 3000

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A random record; every column varies unless konst, when most columns are constant. */
static void
rnd_rec(struct flow_rec *r, bool konst)
{
    uint64_t m = konst ? 1 : UINT64_MAX;
    memset(r, 0, sizeof(*r));
    r->present = (uint32_t) (rnd() & 0x1FFFF) | 0x7F;
    for (int i = 0; i < 16; i++) {
        r->srcaddr[i] = (uint8_t) (rnd() & m);
        r->dstaddr[i] = (uint8_t) (rnd() & m);
    }
    flow_addr_set_v4(r->exporter, (const uint8_t[4]){127, 0, 0, (uint8_t) (1 + (rnd() & m & 3))});
    r->start_ms = 1763800000000ull + rnd() % 600000;
    r->end_ms = r->start_ms + rnd() % 120000;
    r->packets = rnd() & m & 0xFFFF;
    r->bytes = rnd() & m & 0xFFFFFF;
    r->srcport = (uint16_t) (rnd() & m);
    r->dstport = (uint16_t) (rnd() & m);
    r->protocol = (uint8_t) (rnd() & m);
    r->tos = (uint8_t) (rnd() & m);
    r->tcp_flags = (uint16_t) (rnd() & m & 0x3F);
    r->inport = (uint32_t) (rnd() & m & 0xFF);
    r->outport = (uint32_t) (rnd() & m & 0xFF);
    r->sampling = (uint32_t) (rnd() & m & 7);
    r->rtt_us = (uint32_t) (rnd() & m & 0xFFFF);
    r->version = (rnd() & 1) ? 10 : 9;
    r->direction = (uint8_t) (rnd() % 3);
    r->action = (uint8_t) (rnd() % 2);
    r->flowlog = (uint16_t) (rnd() & 1);
    r->window = 1763800200;
    strcpy(r->instance_id, (rnd() & m & 1) ? "sag-1" : "i-0123");
    r->raw_len = (uint8_t) (rnd() & m & 15);
    memset(r->raw, 0x7e, r->raw_len);
}

#define EQ(bit, field)                                                                             \
    do {                                                                                           \
        if ((cols & (bit)) != 0) {                                                                 \
            assert_memory_equal(&a->field, &b->field, sizeof(a->field));                           \
        }                                                                                          \
    } while (0)

/* The projected fields of b equal the full decode a's. */
static void
same_projected(const struct flow_rec *a, const struct flow_rec *b, uint64_t cols)
{
    assert_int_equal(a->present, b->present);
    assert_int_equal(a->flowlog, b->flowlog);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->start_ms, b->start_ms);
    assert_int_equal(a->end_ms, b->end_ms);
    EQ(STOR_COL_SRCADDR, srcaddr);
    EQ(STOR_COL_DSTADDR, dstaddr);
    EQ(STOR_COL_EXPORTER, exporter);
    EQ(STOR_COL_INSTANCE, instance_id);
    EQ(STOR_COL_SNID, snid);
    EQ(STOR_COL_ACCOUNT, account_id);
    EQ(STOR_COL_RAW, raw_len);
    EQ(STOR_COL_RAW, raw);
    EQ(STOR_COL_VERSION, version);
    EQ(STOR_COL_FLAGS, flags);
    EQ(STOR_COL_DIRECTION, direction);
    EQ(STOR_COL_ACTION, action);
    EQ(STOR_COL_LOGSTATUS, log_status);
    EQ(STOR_COL_PROTOCOL, protocol);
    EQ(STOR_COL_TOS, tos);
    EQ(STOR_COL_TCPFLAGS, tcp_flags);
    EQ(STOR_COL_SRCPORT, srcport);
    EQ(STOR_COL_DSTPORT, dstport);
    EQ(STOR_COL_EXPPORT, exporter_port);
    EQ(STOR_COL_DOMAIN, domain);
    EQ(STOR_COL_INPORT, inport);
    EQ(STOR_COL_OUTPORT, outport);
    EQ(STOR_COL_SAMPLING, sampling);
    EQ(STOR_COL_RTT, rtt_us);
    EQ(STOR_COL_SKIPPED, skipped);
    EQ(STOR_COL_PACKETS, packets);
    EQ(STOR_COL_BYTES, bytes);
}

static void
check_block(bool konst)
{
    struct flow_rec *recs = calloc(N, sizeof(*recs)), *full = calloc(N, sizeof(*full)),
                    *proj = calloc(N, sizeof(*proj));
    struct stor_buf b = {0};
    struct stor_sum sum;
    size_t n;
    assert_true(recs != NULL && full != NULL && proj != NULL);
    for (size_t i = 0; i < N; i++) {
        rnd_rec(&recs[i], konst && i % 7 != 0);
    }
    assert_int_equal(stor__block_encode(recs, N, &b, &sum), 0);
    assert_int_equal(stor__block_decode(b.p, b.len, full, N, &n), 0);
    assert_int_equal(n, N);
    for (int t = 0; t < 64; t++) {
        /* One column alone, then random sets, then every column (0). */
        uint64_t cols = t < 26 ? 1ull << t : t < 63 ? rnd() & ((1ull << 26) - 1) : 0;
        memset(proj, 0xA5, N * sizeof(*proj));
        assert_int_equal(stor__block_decode_cols(b.p, b.len, proj, N, &n, cols), 0);
        assert_int_equal(n, N);
        for (size_t i = 0; i < N; i++) {
            same_projected(&full[i], &proj[i], cols != 0 ? cols : UINT64_MAX);
        }
    }
    stor__buf_free(&b);
    free(recs);
    free(full);
    free(proj);
}

static void
test_projection(void **state)
{
    (void) state;
    rng_state = 12;
    check_block(false);
    check_block(true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
