/* SPDX-License-Identifier: MIT */
/*
 * The ClickHouse outbox (storage/src/outbox.c): every seal adds an item in its own write
 * transaction, the item's blocks read back as the sealed records, a late record's reseal adds
 * an item of its own, a shipped item goes, items survive a reopen, nothing is written without
 * stor_cfg.outbox, and retention dropping unshipped items counts them and says so.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor.h"

struct fx {
    char dir[64];
    struct stor_env *env;
    struct stor_cfg cfg;
    char msg[256];
};

static char notice[512];

static void
on_notice(void *arg, const char *text)
{
    (void) arg;
    if (strstr(text, "outbox") != NULL) {
        snprintf(notice, sizeof(notice), "%s", text);
    }
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-ob-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.map_max_bytes = 64u << 20;
    f->cfg.block_records = 16;
    f->cfg.commit_ms = 50;
    f->cfg.notice = on_notice;
    f->cfg.outbox = true;
    notice[0] = '\0';
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
reopen(struct fx *f)
{
    stor_close(f->env);
    f->env = NULL;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
}

static uint64_t
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static struct flow_rec
mk(uint32_t i, uint64_t end_ms)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, 0, (uint8_t) (i >> 8), (uint8_t) i};
    uint8_t b[4] = {172, 16, 0, 1};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    r.srcport = (uint16_t) (1000 + i);
    r.dstport = 443;
    r.protocol = 6;
    r.packets = 1 + i;
    r.bytes = 100 * (1 + i);
    r.start_ms = end_ms - 1000;
    r.end_ms = end_ms;
    r.version = 10;
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    return r;
}

static void
submit(struct stor_env *env, const struct flow_rec *recs, size_t n)
{
    struct stor_batch *b = stor_batch_get(env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    memcpy(b->recs, recs, n * sizeof(*recs));
    b->n = n;
    b->nmsgs = 0;
    stor_batch_submit(env, b);
    assert_int_equal(stor_sync(env), 0);
}

#define ITEMS_MAX 64

struct list {
    struct stor_outbox_item it[ITEMS_MAX];
    size_t n;
    uint64_t rows;
};

static int
on_item(void *arg, const struct stor_outbox_item *it)
{
    struct list *l = arg;
    assert_true(l->n < ITEMS_MAX);
    l->it[l->n++] = *it;
    l->rows += it->rows;
    return 0;
}

static struct list
list_all(struct stor_env *env)
{
    struct list l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(stor_outbox_each(env, on_item, &l), 0);
    return l;
}

struct sum {
    uint64_t rows;
    uint64_t packets;
};

static int
on_recs(void *arg, const struct flow_rec *recs, size_t n)
{
    struct sum *s = arg;
    for (size_t i = 0; i < n; i++) {
        s->rows++;
        s->packets += recs[i].packets;
    }
    return 0;
}

/* 40 records in two windows of the last hour: (sum of 1..40) packets. */
static uint32_t
fill(struct stor_env *env, uint64_t base_ms)
{
    struct flow_rec r[40];
    for (uint32_t i = 0; i < 40; i++) {
        r[i] = mk(i, base_ms + (i < 25 ? 1000 : 601000));
    }
    submit(env, r, 40);
    return 40;
}

static void
test_seal_adds_items(void **state)
{
    struct fx *f = *state;
    uint64_t now_s = wall_now() / 1000u, hour = now_s - now_s % 3600 - 3600;
    fill(f->env, hour * 1000u);
    assert_int_equal(list_all(f->env).n, 0); /* nothing sealed yet */
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);

    struct list l = list_all(f->env);
    assert_int_equal(l.n, 2); /* one per window */
    assert_int_equal(l.rows, 40);
    assert_true(l.it[0].start_s < l.it[1].start_s);
    struct sum s = {0, 0};
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.it[i].first_block, 0);
        assert_true(l.it[i].end_block >= 1);
        assert_int_equal(stor_outbox_read(f->env, &l.it[i], on_recs, &s), 0);
    }
    assert_int_equal(s.rows, 40);
    assert_int_equal(s.packets, 40 * 41 / 2);
    assert_int_equal(l.it[0].end_block, 2); /* 25 records at 16 a block */

    reopen(f); /* the outbox is durable */
    l = list_all(f->env);
    assert_int_equal(l.n, 2);
    assert_int_equal(stor_outbox_done(f->env, &l.it[0]), 0);
    assert_int_equal(stor_outbox_done(f->env, &l.it[0]), 0); /* gone already: fine */
    struct list m = list_all(f->env);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.it[0].start_s, l.it[1].start_s);
}

static void
test_late_record_reseal(void **state)
{
    struct fx *f = *state;
    uint64_t now_s = wall_now() / 1000u, hour = now_s - now_s % 3600 - 3600;
    fill(f->env, hour * 1000u);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    struct list l = list_all(f->env);
    assert_int_equal(l.n, 2);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(stor_outbox_done(f->env, &l.it[i]), 0); /* shipped */
    }

    struct flow_rec late = mk(99, hour * 1000u + 2000);
    submit(f->env, &late, 1);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    l = list_all(f->env);
    assert_int_equal(l.n, 1); /* only the late run is owed */
    assert_int_equal(l.it[0].rows, 1);
    assert_int_equal(l.it[0].start_s, hour);
    assert_true(l.it[0].first_block >= 2); /* after the window's first seal */
    struct sum s = {0, 0};
    assert_int_equal(stor_outbox_read(f->env, &l.it[0], on_recs, &s), 0);
    assert_int_equal(s.rows, 1);
    assert_int_equal(s.packets, 100);
}

static void
test_off_without_cfg(void **state)
{
    struct fx *f = *state;
    f->cfg.outbox = false;
    reopen(f);
    uint64_t now_s = wall_now() / 1000u, hour = now_s - now_s % 3600 - 3600;
    fill(f->env, hour * 1000u);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    assert_int_equal(list_all(f->env).n, 0);
}

static void
test_retention_counts_dropped(void **state)
{
    struct fx *f = *state;
    f->cfg.retention_s = 3600;
    reopen(f);
    uint64_t now_s = wall_now() / 1000u;
    uint64_t hour = now_s - now_s % 3600, old = hour - 3600;
    fill(f->env, old * 1000u);
    struct flow_rec r = mk(50, hour * 1000u + 5); /* keeps a newer partition */
    submit(f->env, &r, 1);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    assert_int_equal(list_all(f->env).rows, 41);
    uint64_t items = 9, rows = 9;
    stor_outbox_dropped(f->env, &items, &rows);
    assert_int_equal(items, 0);

    /* An hour later the old partition goes with its two unshipped items. */
    assert_int_equal(stor_seal_due(f->env, (hour + 3600) * 1000u + 1, false), 0);
    stor_outbox_dropped(f->env, &items, &rows);
    assert_int_equal(items, 2);
    assert_int_equal(rows, 40);
    assert_non_null(strstr(notice, "clickhouse-outbox-dropped"));
    struct list l = list_all(f->env);
    assert_int_equal(l.rows, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seal_adds_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_record_reseal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_off_without_cfg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_counts_dropped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
