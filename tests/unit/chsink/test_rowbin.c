/* SPDX-License-Identifier: MIT */
/*
 * RowBinary rows of flows_local: every column at its offset with its width, little-endian,
 * strings as LEB128 length and bytes; identical input gives identical bytes (block dedup);
 * names that may go into SQL; the shard choice is stable and spreads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chs.h"
#include "chs_int.h"

static uint64_t
le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--) {
        v = v << 8 | p[i - 1];
    }
    return v;
}

static void
fill(struct flow_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->window = 1764806400u + 3600u; /* 2025-12-04 01:00:00 UTC, day 20426 */
    r->start_ms = 0x0102030405060708ull;
    r->end_ms = 1764810000123ull;
    const uint8_t s4[4] = {10, 0, 0, 1};
    const uint8_t d4[4] = {192, 168, 1, 2};
    flow_addr_set_v4(r->srcaddr, s4);
    flow_addr_set_v4(r->dstaddr, d4);
    r->srcport = 0x1234;
    r->dstport = 443;
    r->protocol = 6;
    r->packets = 7;
    r->bytes = 0x1122334455ull;
    r->tcp_flags = 0x1b;
    r->tos = 8;
    r->inport = 3;
    r->outport = 0x01020304;
    r->direction = 2;
    r->action = 1;
    r->log_status = 2;
    r->skipped = 9;
    r->sampling = 100;
    r->rtt_us = 1500;
    r->version = 10;
    r->domain = 77;
    r->exporter[15] = 1;
    r->exporter_port = 2055;
    r->present = 0x1ffffu;
    r->flags = 4;
    strcpy(r->instance_id, "i-0abc");
    strcpy(r->account_id, "123456789012");
}

static void
test_row_layout(void **state)
{
    (void) state;
    struct flow_rec r;
    struct chs_buf b = {0};
    struct chs_rowctx c = {.flowlog = "edge", .window_s = 60, .batch_id = 0xdeadbeefull};

    fill(&r);
    assert_int_equal(chs_rowbin_append(&b, &r, &c), 0);
    assert_int_equal(b.len, CHS_ROW_FIXED + 4 + 4 + 6 + 0 + 12);
    const uint8_t *p = b.p;
    assert_int_equal(le(p, 2), 20426);        /* date */
    assert_int_equal(le(p + 2, 4), r.window); /* window */
    assert_int_equal(le(p + 6, 4), 60);       /* window_s */
    assert_int_equal(p[10], 4);               /* flowlog length */
    assert_memory_equal(p + 11, "edge", 4);
    p += 15;
    assert_true(le(p, 8) == r.start_ms);
    assert_true(le(p + 8, 8) == r.end_ms);
    assert_memory_equal(p + 16, r.srcaddr, 16);
    assert_memory_equal(p + 32, r.dstaddr, 16);
    assert_int_equal(le(p + 48, 2), 0x1234);
    assert_int_equal(le(p + 50, 2), 443);
    assert_int_equal(p[52], 6);
    assert_int_equal(le(p + 53, 8), 7);
    assert_true(le(p + 61, 8) == r.bytes);
    assert_int_equal(le(p + 69, 2), 0x1b);
    assert_int_equal(p[71], 8);
    assert_int_equal(le(p + 72, 4), 3);
    assert_int_equal(le(p + 76, 4), 0x01020304);
    assert_int_equal(p[80], 2);
    assert_int_equal(p[81], 1);
    assert_int_equal(p[82], 2);
    assert_int_equal(le(p + 83, 4), 9);
    assert_int_equal(le(p + 87, 4), 100);
    assert_int_equal(le(p + 91, 4), 1500);
    assert_int_equal(p[95], 10);
    assert_int_equal(le(p + 96, 4), 77);
    assert_memory_equal(p + 100, r.exporter, 16);
    assert_int_equal(le(p + 116, 2), 2055);
    assert_int_equal(le(p + 118, 4), 0x1ffff);
    assert_int_equal(p[122], 4);
    assert_int_equal(p[123], 6); /* instance_id */
    assert_memory_equal(p + 124, "i-0abc", 6);
    assert_int_equal(p[130], 0); /* snid: empty */
    assert_int_equal(p[131], 12);
    assert_memory_equal(p + 132, "123456789012", 12);
    assert_true(le(p + 144, 8) == 0xdeadbeefull);
    assert_int_equal(p + 152, b.p + b.len);
    chs_buf_free(&b);
}

static void
test_identical_batches(void **state)
{
    (void) state;
    struct flow_rec r;
    struct chs_buf a = {0};
    struct chs_buf b = {0};
    struct chs_rowctx c = {.flowlog = "default", .window_s = 60, .batch_id = 5};

    fill(&r);
    for (int i = 0; i < 1000; i++) {
        r.packets = (uint64_t) i;
        assert_int_equal(chs_rowbin_append(&a, &r, &c), 0);
    }
    for (int i = 0; i < 1000; i++) {
        r.packets = (uint64_t) i;
        assert_int_equal(chs_rowbin_append(&b, &r, &c), 0);
    }
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    chs_buf_free(&a);
    chs_buf_free(&b);
}

static void
test_long_strings_bounded(void **state)
{
    (void) state;
    struct flow_rec r;
    struct chs_buf b = {0};
    char name[200];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    struct chs_rowctx c = {.flowlog = name, .window_s = 60, .batch_id = 1};

    fill(&r);
    memset(r.snid, 'y', sizeof(r.snid)); /* no NUL: the reader must stop at FLOW_ID_MAX - 1 */
    assert_int_equal(chs_rowbin_append(&b, &r, &c), 0);
    assert_int_equal(b.p[10], CHS_NAME_MAX); /* flowlog cut at CHS_NAME_MAX (one-byte varint) */
    assert_int_equal(b.len, CHS_ROW_FIXED + 4 + CHS_NAME_MAX + 6 + (FLOW_ID_MAX - 1) + 12);
    chs_buf_free(&b);
}

static void
test_names(void **state)
{
    (void) state;
    assert_true(chs__name_ok("flowlog"));
    assert_true(chs__name_ok("_db_2"));
    assert_false(chs__name_ok(""));
    assert_false(chs__name_ok(NULL));
    assert_false(chs__name_ok("2db"));
    assert_false(chs__name_ok("db; DROP TABLE x"));
    assert_false(chs__name_ok("a'b"));
}

static void
test_shard_of(void **state)
{
    (void) state;
    struct flow_rec r;
    unsigned hits[3] = {0};

    fill(&r);
    assert_int_equal(chs_shard_of(&r, 1), 0);
    unsigned first = chs_shard_of(&r, 3);
    assert_int_equal(chs_shard_of(&r, 3), first);
    for (unsigned i = 0; i < 3000; i++) {
        r.srcaddr[15] = (uint8_t) i;
        r.srcaddr[14] = (uint8_t) (i >> 8);
        hits[chs_shard_of(&r, 3)]++;
    }
    for (int i = 0; i < 3; i++) {
        assert_in_range(hits[i], 800, 1200);
    }
}

/* Refusals that come before any request: no server is needed (the URL goes nowhere). */
static void
test_ship_refusals(void **state)
{
    (void) state;
    struct chs_shard sh = {.url = "http://127.0.0.1:1/", .timeout_ms = 100};
    struct chs_buf rows = {0};
    bool sent = true;

    assert_int_equal(
        chs_ship(&sh, "flowlog", false, false, 1, &rows, CHS_BATCH_ROWS_MAX + 1, &sent),
        CHS_E_LIMIT);
    assert_false(sent);
    assert_int_equal(chs_ship(&sh, "flow'log", false, false, 1, &rows, 1, &sent), CHS_E_ARG);
    unsigned dropped = 7;
    assert_int_equal(chs_retention(&sh, "x;y", 30, 0, &dropped), CHS_E_ARG);
    assert_int_equal(dropped, 0);
    struct chs_schema_cfg c = {.database = "fl", .cluster = "a b", .replicated = false};
    assert_int_equal(chs_schema_ensure(&sh, &c, NULL), CHS_E_ARG);
    assert_string_equal(chs_strerror(CHS_E_LIMIT), "batch larger than the row limit");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_layout),
        cmocka_unit_test(test_identical_batches),
        cmocka_unit_test(test_long_strings_bounded),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_shard_of),
        cmocka_unit_test(test_ship_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
