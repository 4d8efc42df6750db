/* SPDX-License-Identifier: MIT */
/*
 * Aggregation within a window (storage/src/agg.c, code review M6): a merge copies every
 * optional field whose presence bit the merged record brings (RTT, sampling, snid, account),
 * ORs the flags (FLOW_F_TIME_SKEW survives), and the key tells apart records of different
 * exporter ports, versions and sampling rates. It lives with the query tests because the
 * query engineer owns agg.c; it uses storage's private header.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agg.h"

static void
base(struct flow_rec *r)
{
    static const uint8_t s[4] = {10, 0, 0, 1}, d[4] = {10, 0, 0, 2}, e[4] = {127, 0, 0, 1};
    memset(r, 0, sizeof(*r));
    flow_addr_set_v4(r->srcaddr, s);
    flow_addr_set_v4(r->dstaddr, d);
    flow_addr_set_v4(r->exporter, e);
    r->exporter_port = 2055;
    r->version = 10;
    r->srcport = 1234;
    r->dstport = 443;
    r->protocol = 6;
    r->packets = 2;
    r->bytes = 100;
    r->start_ms = 1000;
    r->end_ms = 2000;
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
}

/* Aggregate a then b; returns the number of records left (the first in *out). */
static size_t
merge2(const struct flow_rec *a, const struct flow_rec *b, struct flow_rec *out)
{
    struct stor_agg g;
    stor__agg_init(&g, true);
    assert_int_equal(stor__agg_add(&g, a), 0);
    assert_int_equal(stor__agg_add(&g, b), 0);
    size_t n = g.n;
    *out = g.recs[0];
    stor__agg_free(&g);
    return n;
}

static void
test_sums(void **state)
{
    (void) state;
    struct flow_rec a, b, m;
    base(&a);
    base(&b);
    b.start_ms = 500;
    b.end_ms = 3000;
    b.tcp_flags = 0x12;
    a.tcp_flags = 0x01;
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_int_equal(m.packets, 4);
    assert_int_equal(m.bytes, 200);
    assert_int_equal(m.start_ms, 500);
    assert_int_equal(m.end_ms, 3000);
    assert_int_equal(m.tcp_flags, 0x13);
}

/* A field the first record lacks and the second carries arrives with its value. */
static void
test_new_fields(void **state)
{
    (void) state;
    struct flow_rec a, b, m;

    base(&a);
    base(&b);
    b.present |= FLOW_HAS_RTT;
    b.rtt_us = 4321;
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_true(m.present & FLOW_HAS_RTT);
    assert_int_equal(m.rtt_us, 4321);

    base(&b);
    b.present |= FLOW_HAS_ACCOUNT;
    snprintf(b.account_id, sizeof(b.account_id), "acct-7");
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_true(m.present & FLOW_HAS_ACCOUNT);
    assert_string_equal(m.account_id, "acct-7");

    base(&b);
    b.present |= FLOW_HAS_SNID;
    snprintf(b.snid, sizeof(b.snid), "snid-3");
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_true(m.present & FLOW_HAS_SNID);
    assert_string_equal(m.snid, "snid-3");

    /* Sampling is part of the key: an unsampled record (0) and one that says "1 in 1" are
     * the same rate, and the merged record says it. */
    base(&b);
    b.present |= FLOW_HAS_SAMPLING;
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_true(m.present & FLOW_HAS_SAMPLING);
    assert_int_equal(m.sampling, 0);

    /* A field both carry keeps the first record's value. */
    base(&a);
    a.present |= FLOW_HAS_RTT;
    a.rtt_us = 10;
    base(&b);
    b.present |= FLOW_HAS_RTT;
    b.rtt_us = 20;
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_int_equal(m.rtt_us, 10);
}

static void
test_flags(void **state)
{
    (void) state;
    struct flow_rec a, b, m;
    base(&a);
    base(&b);
    b.flags = FLOW_F_TIME_SKEW;
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_int_equal(m.flags & FLOW_F_TIME_SKEW, FLOW_F_TIME_SKEW);
    a.flags = FLOW_F_TIME_GUESS;
    assert_int_equal(merge2(&a, &b, &m), 1);
    assert_int_equal(m.flags, FLOW_F_TIME_SKEW | FLOW_F_TIME_GUESS);
}

/* Records of two exporters on one host, or of different sampling, never merge. */
static void
test_key(void **state)
{
    (void) state;
    struct flow_rec a, b, m;
    base(&a);
    base(&b);
    b.exporter_port = 9995;
    assert_int_equal(merge2(&a, &b, &m), 2);
    base(&b);
    b.version = 5;
    assert_int_equal(merge2(&a, &b, &m), 2);
    base(&b);
    b.present |= FLOW_HAS_SAMPLING;
    b.sampling = 100;
    assert_int_equal(merge2(&a, &b, &m), 2);
    base(&b);
    b.domain = 1;
    assert_int_equal(merge2(&a, &b, &m), 2);
}

/* Many keys: every record lands once, merged with its twin (the table grows several times). */
static void
test_many(void **state)
{
    (void) state;
    struct stor_agg g;
    struct flow_rec r;
    stor__agg_init(&g, true);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < 50000; i++) {
            base(&r);
            r.srcport = (uint16_t) i;
            r.inport = i >> 16;
            assert_int_equal(stor__agg_add(&g, &r), 0);
        }
    }
    assert_int_equal(g.n, 50000);
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.recs[i].packets, 4);
    }
    stor__agg_free(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums),  cmocka_unit_test(test_new_fields),
        cmocka_unit_test(test_flags), cmocka_unit_test(test_key),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
