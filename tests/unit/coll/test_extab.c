/* SPDX-License-Identifier: MIT */
/*
 * The per-exporter counter table (collector/exporters.c): keys (UDP address and port, TCP
 * address), counters, errors charged by difference (with a real decoder too), the cap and
 * the untracked totals, templates, and the counter log line.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coll.h"

static struct dec_src
src_v4(uint8_t last, uint16_t port, uint8_t transport)
{
    struct dec_src s = {.port = port, .transport = transport};
    s.addr[10] = s.addr[11] = 0xff;
    s.addr[12] = 192;
    s.addr[13] = 0;
    s.addr[14] = 2;
    s.addr[15] = last;
    return s;
}

static void
test_counts_and_keys(void **state)
{
    struct coll_extab *t;
    struct dec_stats ds = {0};
    struct dec_src a = src_v4(1, 2055, DEC_TR_UDP), a2 = src_v4(1, 2056, DEC_TR_UDP);
    struct dec_src b1 = src_v4(2, 40000, DEC_TR_TCP), b2 = src_v4(2, 40001, DEC_TR_TCP);
    struct dec_msg m = {.version = 10, .records = 5};
    (void) state;

    assert_int_equal(coll_extab_create(&t, 8), 0);
    coll_extab_note(t, &a, &m, 100, 1000, &ds);
    m.missed = 7;
    coll_extab_note(t, &a, &m, 50, 2000, &ds);
    m.missed = 0;
    coll_extab_note(t, &a2, &m, 10, 2500, &ds); /* another port: another UDP exporter */
    coll_extab_note(t, &b1, &m, 20, 3000, &ds);
    coll_extab_note(t, &b2, &m, 30, 4000, &ds); /* TCP reconnect: same exporter */

    const struct coll_exporter *e = coll_extab_find(t, &a);
    assert_non_null(e);
    assert_int_equal(e->datagrams, 2);
    assert_int_equal(e->octets, 150);
    assert_int_equal(e->records, 10);
    assert_int_equal(e->seq_gaps, 1);
    assert_int_equal(e->seq_missed, 7);
    assert_int_equal(e->first_ms, 1000);
    assert_int_equal(e->last_ms, 2000);
    assert_int_equal(e->version, 10);
    assert_int_equal(e->port, 2055);
    e = coll_extab_find(t, &b2);
    assert_non_null(e);
    assert_int_equal(e->datagrams, 2);
    assert_int_equal(e->octets, 50);
    assert_int_equal(e->port, 0);
    assert_int_equal(e->transport, DEC_TR_TCP);

    struct coll_extab_totals tot;
    coll_extab_totals(t, &tot);
    assert_int_equal(tot.tracked, 3);
    assert_int_equal(tot.untracked_datagrams, 0);
    coll_extab_destroy(t);
    coll_extab_destroy(NULL);
}

/* What the decoder's counters moved by goes to the message's exporter, and only to it. */
static void
test_errors_charged(void **state)
{
    struct coll_extab *t;
    struct dec_stats ds = {0};
    struct dec_src a = src_v4(1, 1, DEC_TR_UDP), b = src_v4(2, 1, DEC_TR_UDP);
    struct dec_msg m = {.version = 9};
    (void) state;

    ds.err[DEC_R_LENGTH] = 4; /* before the table: nobody's */
    assert_int_equal(coll_extab_create(&t, 8), 0);
    coll_extab_resync(t, &ds);
    ds.err[DEC_R_SET] += 2;
    ds.err[DEC_R_TEMPLATE] += 1;
    ds.pending_queued += 3;
    coll_extab_note(t, &a, &m, 10, 1, &ds);
    coll_extab_note(t, &b, &m, 10, 2, &ds);
    ds.err[DEC_R_NO_TEMPLATE] += 1; /* an expiry: nobody's */
    coll_extab_resync(t, &ds);
    ds.err[DEC_R_VERSION] += 1;
    m.version = 0;
    coll_extab_note(t, &b, &m, 10, 3, &ds);

    const struct coll_exporter *ea = coll_extab_find(t, &a), *eb = coll_extab_find(t, &b);
    assert_int_equal(ea->errors, 3);
    assert_int_equal(ea->err[DEC_R_SET], 2);
    assert_int_equal(ea->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(ea->err[DEC_R_LENGTH], 0);
    assert_int_equal(ea->no_template, 3);
    assert_int_equal(eb->errors, 1);
    assert_int_equal(eb->err[DEC_R_VERSION], 1);
    assert_int_equal(eb->err[DEC_R_NO_TEMPLATE], 0);
    assert_int_equal(eb->no_template, 0);
    assert_int_equal(eb->version, 9); /* a message that did not parse keeps the last version */
    assert_int_equal(eb->datagrams, 2);
    coll_extab_destroy(t);
}

/* The same with a real decoder: junk from one exporter is charged to it. */
static void
test_real_decoder(void **state)
{
    struct dec_ctx *dec;
    struct coll_extab *t;
    struct flow_rec recs[4];
    struct dec_sink sink = {.recs = recs, .cap = 4};
    struct dec_src good = src_v4(1, 9, DEC_TR_UDP), bad = src_v4(2, 9, DEC_TR_UDP);
    static const uint8_t junk_version[20] = {0x00, 0x06}; /* no NetFlow version 6 exists */
    static const uint8_t junk_short[3] = {0x00, 0x0a, 0x00};
    struct dec_msg m;
    (void) state;

    assert_int_equal(dec_ctx_create(&dec, NULL), 0);
    assert_int_equal(coll_extab_create(&t, 4), 0);
    coll_extab_resync(t, dec_ctx_stats(dec));
    dec_decode(dec, &bad, junk_version, sizeof(junk_version), 1000, &sink, &m);
    coll_extab_note(t, &bad, &m, sizeof(junk_version), 1000, dec_ctx_stats(dec));
    dec_decode(dec, &bad, junk_short, sizeof(junk_short), 1000, &sink, &m);
    coll_extab_note(t, &bad, &m, sizeof(junk_short), 1000, dec_ctx_stats(dec));
    /* An IPFIX header with no sets: a valid, empty message. */
    static const uint8_t empty_ipfix[16] = {0x00, 0x0a, 0x00, 0x10, 0x60, 0, 0, 0,
                                            0,    0,    0,    1,    0,    0, 0, 1};
    assert_int_equal(dec_decode(dec, &good, empty_ipfix, 16, 1000, &sink, &m), 0);
    coll_extab_note(t, &good, &m, 16, 1000, dec_ctx_stats(dec));

    const struct coll_exporter *eb = coll_extab_find(t, &bad), *eg = coll_extab_find(t, &good);
    assert_int_equal(eb->errors, 2);
    assert_int_equal(eb->err[DEC_R_VERSION], 1);
    assert_int_equal(eb->err[DEC_R_SHORT], 1);
    assert_int_equal(eg->errors, 0);
    assert_int_equal(eg->version, 10);
    coll_extab_destroy(t);
    dec_ctx_destroy(dec);
}

static void
test_cap(void **state)
{
    struct coll_extab *t;
    struct dec_stats ds = {0};
    struct dec_msg m = {.version = 5, .records = 2};
    (void) state;
    assert_int_equal(coll_extab_create(&t, 0), -EINVAL);
    assert_int_equal(coll_extab_create(&t, 3), 0);
    for (uint8_t i = 0; i < 10; i++) {
        struct dec_src s = src_v4(i, 7, DEC_TR_UDP);
        coll_extab_note(t, &s, &m, 100, i, &ds);
        coll_extab_note(t, &s, &m, 100, i, &ds);
    }
    struct coll_extab_totals tot;
    coll_extab_totals(t, &tot);
    assert_int_equal(tot.tracked, 3);
    assert_int_equal(tot.untracked_datagrams, 14);
    assert_int_equal(tot.untracked_octets, 1400);
    assert_int_equal(tot.untracked_records, 28);
    struct dec_src first = src_v4(0, 7, DEC_TR_UDP), late = src_v4(9, 7, DEC_TR_UDP);
    assert_non_null(coll_extab_find(t, &first));
    assert_null(coll_extab_find(t, &late));
    coll_extab_destroy(t);
}

/* Many exporters: every one is found again (the index probes past collisions). */
static void
test_many(void **state)
{
    struct coll_extab *t;
    struct dec_stats ds = {0};
    struct dec_msg m = {.version = 10, .records = 1};
    (void) state;
    assert_int_equal(coll_extab_create(&t, 5000), 0);
    for (uint32_t i = 0; i < 5000; i++) {
        struct dec_src s = src_v4((uint8_t) i, (uint16_t) (i / 256 + 1), DEC_TR_UDP);
        for (uint32_t k = 0; k <= i % 3; k++) {
            coll_extab_note(t, &s, &m, 1, i, &ds);
        }
    }
    for (uint32_t i = 0; i < 5000; i++) {
        struct dec_src s = src_v4((uint8_t) i, (uint16_t) (i / 256 + 1), DEC_TR_UDP);
        const struct coll_exporter *e = coll_extab_find(t, &s);
        assert_non_null(e);
        assert_int_equal(e->datagrams, i % 3 + 1);
    }
    coll_extab_destroy(t);
}

/* Forgetting an address (one port, or all) frees its rows: a full table takes new ones, the
 * others are still found and keep their order. */
static void
test_forget(void **state)
{
    struct coll_extab *t;
    struct dec_stats ds = {0};
    struct dec_msg m = {.version = 10, .records = 1};
    struct dec_src a1 = src_v4(1, 100, DEC_TR_UDP), a2 = src_v4(1, 200, DEC_TR_UDP);
    struct dec_src b = src_v4(2, 100, DEC_TR_UDP), c = src_v4(3, 100, DEC_TR_UDP);
    (void) state;
    assert_int_equal(coll_extab_create(&t, 3), 0);
    coll_extab_note(t, &a1, &m, 10, 1, &ds);
    coll_extab_note(t, &b, &m, 10, 2, &ds);
    coll_extab_note(t, &a2, &m, 10, 3, &ds);
    coll_extab_note(t, &c, &m, 10, 4, &ds); /* full: untracked */
    assert_null(coll_extab_find(t, &c));
    assert_int_equal(coll_extab_forget(t, a1.addr, 100), 1);
    assert_null(coll_extab_find(t, &a1));
    assert_non_null(coll_extab_find(t, &a2));
    assert_non_null(coll_extab_find(t, &b));
    coll_extab_note(t, &c, &m, 10, 5, &ds); /* room again */
    assert_non_null(coll_extab_find(t, &c));
    assert_int_equal(coll_extab_forget(t, a1.addr, -1), 1); /* a2 */
    assert_int_equal(coll_extab_forget(t, a1.addr, -1), 0);
    struct coll_extab_totals tot;
    coll_extab_totals(t, &tot);
    assert_int_equal(tot.tracked, 2);
    assert_int_equal(coll_extab_find(t, &b)->datagrams, 1);
    assert_int_equal(coll_extab_find(t, &c)->datagrams, 1);
    coll_extab_destroy(t);
}

static int
count_each(void *arg, const struct coll_exporter *e)
{
    (*(int *) arg)++;
    return e->port == 3 ? 42 : 0;
}

static void
test_each_and_templates(void **state)
{
    struct coll_extab *t;
    struct dec_stats ds = {0};
    struct dec_msg m = {.version = 10};
    struct dec_src a = src_v4(1, 1, DEC_TR_UDP), b = src_v4(1, 3, DEC_TR_UDP);
    struct dec_src tcp1 = src_v4(5, 100, DEC_TR_TCP), tcp2 = src_v4(5, 200, DEC_TR_TCP);
    int n = 0;
    (void) state;
    assert_int_equal(coll_extab_create(&t, 4), 0);
    coll_extab_note(t, &a, &m, 1, 1, &ds);
    coll_extab_note(t, &b, &m, 1, 1, &ds);
    coll_extab_note(t, &tcp1, &m, 1, 1, &ds);
    assert_int_equal(coll_extab_each(t, count_each, &n), 42); /* stops at b */
    assert_int_equal(n, 2);
    coll_extab_templates_add(t, &a, 4);
    coll_extab_templates_add(t, &tcp1, 2);
    coll_extab_templates_add(t, &tcp2, 3); /* two sessions of one TCP exporter add up */
    struct dec_src unknown = src_v4(9, 9, DEC_TR_UDP);
    coll_extab_templates_add(t, &unknown, 9);
    assert_int_equal(coll_extab_find(t, &a)->templates, 4);
    assert_int_equal(coll_extab_find(t, &tcp1)->templates, 5);
    coll_extab_templates_clear(t);
    assert_int_equal(coll_extab_find(t, &a)->templates, 0);
    struct coll_extab_totals tot;
    coll_extab_totals(t, &tot);
    assert_int_equal(tot.tracked, 3);
    coll_extab_destroy(t);
}

static void
test_line(void **state)
{
    struct coll_exporter e[3];
    const struct coll_exporter *ex[3] = {&e[0], &e[1], &e[2]};
    struct coll_totals tot = {.datagrams = 30, .records = 300, .denied_datagrams = 4};
    char line[2048];
    (void) state;
    memset(e, 0, sizeof(e));
    struct dec_src s0 = src_v4(1, 2055, DEC_TR_UDP);
    memcpy(e[0].addr, s0.addr, 16);
    e[0].port = 2055;
    e[0].version = 10;
    e[0].datagrams = 5;
    e[0].errors = 3;
    e[0].err[DEC_R_NO_TEMPLATE] = 2;
    e[0].err[DEC_R_LENGTH] = 1;
    e[0].last_ms = 10000;
    e[1].addr[15] = 1; /* ::1 */
    e[1].transport = DEC_TR_TCP;
    e[1].version = 10;
    e[1].datagrams = 20;
    e[1].templates = 2;
    e[1].last_ms = 12000;
    e[2] = e[0];
    e[2].datagrams = 1;
    tot.exporters.tracked = 3;
    coll_stats_line(&tot, NULL, ex, 3, 2, 15000, line, sizeof(line));
    assert_non_null(strstr(line, "stats: datagrams=30 records=300 "));
    assert_non_null(strstr(line, " denied=4 "));
    assert_non_null(strstr(line, " exporters=3 "));
    const char *p1 = strstr(line, "| [::1]/tcp v10 datagrams=20 "),
               *p0 = strstr(line, "| 192.0.2.1:2055/udp v10 datagrams=5 ");
    assert_non_null(p1);
    assert_non_null(p0);
    assert_true(p1 < p0); /* busiest first */
    assert_non_null(strstr(p0, "errors=3(length:1,no-template:2) "));
    assert_non_null(strstr(p0, "last-seen=5s"));
    assert_non_null(strstr(p1, "templates=2 "));
    assert_non_null(strstr(line, "| +1 more"));
    /* A short buffer is cut, never overrun. */
    char small[40];
    coll_stats_line(&tot, NULL, ex, 3, 2, 15000, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_keys),
        cmocka_unit_test(test_errors_charged),
        cmocka_unit_test(test_real_decoder),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_each_and_templates),
        cmocka_unit_test(test_line),
        cmocka_unit_test(test_forget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
