/* SPDX-License-Identifier: MIT */
/*
 * Late records for a sealed window the writer has already forgotten (no longer in memory),
 * in the same run and after a restart: they must be resealed into the window's blocks,
 * never sealed again as a fresh window. So the window keeps exactly one set of status rows
 * (NODATA, SKIPDATA), holds the late records exactly once, and its totals and its WINDOWS
 * record (records, late) equal what was submitted.
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

#include "stor_int.h"

#define T0 1763798400u /* a partition start (multiple of 3600) */

struct fx {
    char dir[64];
    struct stor_env *env;
    struct stor_cfg cfg;
    char msg[256];
};

static void
reopen(struct fx *f)
{
    stor_close(f->env);
    f->env = NULL;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-rs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.block_records = 64;
    f->cfg.commit_ms = 50;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);

    /* A raw flow log (every record is a row, so "exactly once" is countable) of 60 s
     * windows that knows two instances: sag-a sends, sag-b is idle (NODATA). */
    struct stor_flowlog fl;
    stor_flowlog_default(&fl, "gw");
    fl.window_s = 60;
    fl.aggregate = false;
    fl.ninstances = 2;
    snprintf(fl.instances[0], FLOW_ID_MAX, "sag-a");
    snprintf(fl.instances[1], FLOW_ID_MAX, "sag-b");
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
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

static struct flow_rec
mk(uint32_t src, uint64_t end_ms, uint64_t pkts)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, 0, (uint8_t) (src >> 8), (uint8_t) src};
    uint8_t b[4] = {172, 16, 0, 1};
    uint8_t e[4] = {192, 0, 2, 1};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    flow_addr_set_v4(r.exporter, e);
    r.exporter_port = 4739;
    r.srcport = (uint16_t) (1000 + src);
    r.dstport = 443;
    r.protocol = 6;
    r.packets = pkts;
    r.bytes = pkts * 100;
    r.start_ms = end_ms - 1000;
    r.end_ms = end_ms;
    r.version = 10;
    snprintf(r.instance_id, FLOW_ID_MAX, "sag-a");
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_INSTANCE;
    return r;
}

/* Submit records and one message note of sag-a (export time export_ms, missed) together. */
static void
submit(struct fx *f, const struct flow_rec *recs, size_t n, uint64_t export_ms, uint32_t missed)
{
    struct stor_batch *b = stor_batch_get(f->env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    if (n > 0) {
        memcpy(b->recs, recs, n * sizeof(*recs));
    }
    b->n = n;
    struct stor_msg *m = &b->msgs[0];
    memset(m, 0, sizeof(*m));
    uint8_t e[4] = {192, 0, 2, 1};
    flow_addr_set_v4(m->exporter, e);
    m->exporter_port = 4739;
    m->export_ms = export_ms;
    m->missed = missed;
    snprintf(m->instance_id, FLOW_ID_MAX, "sag-a");
    b->nmsgs = 1;
    stor_batch_submit(f->env, b);
    assert_int_equal(stor_sync(f->env), 0);
}

struct totals {
    size_t rows, data, nodata, skipdata;
    uint64_t packets, bytes, skipped;
};

static struct totals
scan(struct fx *f)
{
    static const struct stor_scan all = {0, UINT64_MAX, -1, 0, NULL};
    struct totals t = {0};
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    int rc;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &all, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            t.rows++;
            t.data += recs[i].log_status == FLOW_LS_OK;
            t.nodata += recs[i].log_status == FLOW_LS_NODATA;
            t.skipdata += recs[i].log_status == FLOW_LS_SKIPDATA;
            t.packets += recs[i].packets;
            t.bytes += recs[i].bytes;
            t.skipped += recs[i].skipped;
        }
    }
    assert_int_equal(rc, 0);
    stor_iter_close(it);
    stor_snap_end(snap);
    return t;
}

static int
one_window(void *arg, const struct stor_window_info *w)
{
    struct stor_window_info *out = arg;
    assert_int_equal(out->window_s, 0); /* the test stores one window */
    *out = *w;
    return 0;
}

static struct stor_window_info
window(struct fx *f)
{
    struct stor_window_info w = {0};
    struct stor_snap *snap;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_windows_each(snap, 0, UINT64_MAX, one_window, &w), 0);
    stor_snap_end(snap);
    return w;
}

/* Three records of sag-a with sequence loss in window T0; sealed and forgotten. */
static void
seal_first(struct fx *f)
{
    uint64_t t = (uint64_t) (T0 + 30) * 1000u;
    struct flow_rec r[3] = {mk(1, t, 2), mk(2, t, 3), mk(3, t, 4)};
    submit(f, r, 3, t, 5);
    submit(f, NULL, 0, (uint64_t) (T0 + 60 + 121) * 1000u, 0); /* the clock passes the close */
    assert_int_equal(stor_seal_due(f->env, t, false), 0);
    struct stor_window_info w = window(f);
    assert_true(w.sealed);
    assert_int_equal(w.records, 3 + 2); /* raw rows + NODATA sag-b + SKIPDATA sag-a */
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.seals, 1);
    assert_int_equal(st.nodata, 1);
    assert_int_equal(st.skipdata, 1);
}

/* Two late records for window T0, resealed; then the window holds everything once. */
static void
late_and_check(struct fx *f, uint64_t seals, uint64_t nodata)
{
    uint64_t t = (uint64_t) (T0 + 40) * 1000u;
    struct flow_rec r[2] = {mk(4, t, 10), mk(5, t, 20)};
    submit(f, r, 2, (uint64_t) (T0 + 300) * 1000u, 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.late, 2);
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 400) * 1000u, true), 0);

    struct totals a = scan(f);
    assert_int_equal(a.data, 5);
    assert_int_equal(a.nodata, 1);
    assert_int_equal(a.skipdata, 1);
    assert_int_equal(a.skipped, 5);
    assert_int_equal(a.rows, 7);
    assert_int_equal(a.packets, 2 + 3 + 4 + 10 + 20);
    assert_int_equal(a.bytes, 100 * (2 + 3 + 4 + 10 + 20));
    struct stor_window_info w = window(f);
    assert_true(w.sealed);
    assert_int_equal(w.start_s, T0);
    assert_int_equal(w.records, 7);
    assert_int_equal(w.late, 2);
    stor_stats_get(f->env, &st);
    assert_int_equal(st.seals, seals);   /* no second seal of the window */
    assert_int_equal(st.reseals, 1);     /* the late rows were resealed */
    assert_int_equal(st.nodata, nodata); /* no second NODATA row */
    assert_int_equal(st.late_pending, 0);
}

static void
test_late_for_forgotten_window(void **state)
{
    struct fx *f = *state;
    seal_first(f);
    late_and_check(f, 1, 1);
    reopen(f); /* and the same after a restart */
    struct totals a = scan(f);
    assert_int_equal(a.rows, 7);
    assert_int_equal(a.nodata, 1);
    assert_int_equal(window(f).records, 7);
}

static void
test_late_after_restart(void **state)
{
    struct fx *f = *state;
    seal_first(f);
    reopen(f); /* the window was sealed in a previous run: this writer never had it */
    late_and_check(f, 0, 0);
}

static uint64_t
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* Late rows waiting in runs when the store closes: resealed after the restart, once. */
static void
test_late_pending_across_restart(void **state)
{
    struct fx *f = *state;
    seal_first(f);
    uint64_t t = (uint64_t) (T0 + 40) * 1000u;
    struct flow_rec r[2] = {mk(4, t, 10), mk(5, t, 20)};
    submit(f, r, 2, (uint64_t) (T0 + 300) * 1000u, 0);
    reopen(f);
    struct stor_stats st;
    assert_int_equal(stor_seal_due(f->env, wall_now(), false), 0); /* due at once */
    struct totals a = scan(f);
    assert_int_equal(a.rows, 7);
    assert_int_equal(a.nodata, 1);
    assert_int_equal(a.skipdata, 1);
    assert_int_equal(a.packets, 39);
    struct stor_window_info w = window(f);
    assert_int_equal(w.records, 7);
    assert_int_equal(w.late, 2);
    stor_stats_get(f->env, &st);
    assert_int_equal(st.seals, 0);
    assert_int_equal(st.reseals, 1);
    assert_int_equal(st.nodata, 0);
    assert_int_equal(st.late_pending, 0);
}

/* Two rounds of late records on the writer's own schedule (60 s idle), the window forgotten
 * after each reseal. */
static void
test_late_twice_on_schedule(void **state)
{
    struct fx *f = *state;
    seal_first(f);
    for (uint32_t round = 0; round < 2; round++) {
        uint64_t t = (uint64_t) (T0 + 40 + round) * 1000u;
        struct flow_rec r = mk(10 + round, t, 100);
        submit(f, &r, 1, (uint64_t) (T0 + 300) * 1000u, 0);
        assert_int_equal(stor_seal_due(f->env, wall_now(), false), 0);
        struct stor_stats st;
        stor_stats_get(f->env, &st);
        assert_int_equal(st.reseals, round); /* idle for less than 60 s: waits */
        assert_int_equal(stor_seal_due(f->env, wall_now() + 61000, false), 0);
        stor_stats_get(f->env, &st);
        assert_int_equal(st.reseals, round + 1);
        assert_int_equal(st.seals, 1);
        assert_int_equal(st.nodata, 1);
        assert_int_equal(st.late_pending, 0);
    }
    struct totals a = scan(f);
    assert_int_equal(a.rows, 3 + 2 + 2);
    assert_int_equal(a.nodata, 1);
    assert_int_equal(a.skipdata, 1);
    assert_int_equal(a.packets, 2 + 3 + 4 + 200);
    struct stor_window_info w = window(f);
    assert_int_equal(w.records, 7);
    assert_int_equal(w.late, 2);
}

/* A window left open by an earlier run is sealed after the restart with NODATA only for the
 * instance that sent nothing (the writer learns again from the window's runs who did). */
static void
test_open_window_status_after_restart(void **state)
{
    struct fx *f = *state;
    uint64_t t = (uint64_t) (T0 + 30) * 1000u;
    struct flow_rec r[3] = {mk(1, t, 2), mk(2, t, 3), mk(3, t, 4)};
    submit(f, r, 3, t, 0);
    reopen(f);
    assert_false(window(f).sealed);
    assert_int_equal(stor_seal_due(f->env, 0, true), 0);
    struct totals a = scan(f);
    assert_int_equal(a.data, 3);
    assert_int_equal(a.nodata, 1); /* sag-b only: sag-a sent three records */
    assert_int_equal(a.rows, 4);
    struct stor_window_info w = window(f);
    assert_true(w.sealed);
    assert_int_equal(w.records, 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_late_for_forgotten_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_pending_across_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_twice_on_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_window_status_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
