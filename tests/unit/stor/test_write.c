/* SPDX-License-Identifier: MIT */
/*
 * The write path end to end through the public API: batches, windows, aggregation, sealing
 * on exporter clocks and by the silent fallback, late records, NODATA and SKIPDATA, raw mode,
 * persistence across reopen, retention, and scans with pushed-down conditions compared with
 * a brute-force filter over every record.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-w-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.block_records = 64;   /* several blocks per window */
    f->cfg.commit_ms = 50;
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

static struct flow_rec
mk(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint64_t end_ms, uint64_t pkts)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, (uint8_t) (src >> 16), (uint8_t) (src >> 8), (uint8_t) src};
    uint8_t b[4] = {172, 16, (uint8_t) (dst >> 8), (uint8_t) dst};
    uint8_t e[4] = {192, 0, 2, 1};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    flow_addr_set_v4(r.exporter, e);
    r.exporter_port = 4739;
    r.srcport = sport;
    r.dstport = dport;
    r.protocol = 6;
    r.packets = pkts;
    r.bytes = pkts * 100;
    r.tcp_flags = 0x02;
    r.start_ms = end_ms - 1000;
    r.end_ms = end_ms;
    r.version = 10;
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS;
    return r;
}

static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (*s >> 33);
}

/* Submit records (and one message note with export time export_ms, missed) in one batch. */
static void
submit(struct fx *f, const struct flow_rec *recs, size_t n, uint64_t export_ms, uint32_t missed,
       const char *instance)
{
    struct stor_batch *b = stor_batch_get(f->env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    if (n > 0) {
        memcpy(b->recs, recs, n * sizeof(*recs));
    }
    b->n = n;
    if (export_ms != 0) {
        struct stor_msg *m = &b->msgs[0];
        memset(m, 0, sizeof(*m));
        uint8_t e[4] = {192, 0, 2, 1};
        flow_addr_set_v4(m->exporter, e);
        m->exporter_port = 4739;
        m->export_ms = export_ms;
        m->missed = missed;
        snprintf(m->instance_id, FLOW_ID_MAX, "%s", instance ? instance : "");
        b->nmsgs = 1;
    }
    stor_batch_submit(f->env, b);
    assert_int_equal(stor_sync(f->env), 0);
}

struct totals {
    size_t rows;
    uint64_t packets;
    uint64_t bytes;
    size_t nodata;
    size_t skipdata;
    uint32_t skipped;
    uint64_t min_start;
    uint64_t max_end;
};

static struct totals
scan(struct fx *f, const struct stor_scan *sc, struct stor_scan_stats *st)
{
    struct totals t = {.min_start = UINT64_MAX};
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    int rc;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, sc, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            bool ok = true;
            for (size_t c = 0; c < sc->nconj && ok; c++) {
                ok = stor__rec_matches(&recs[i], &sc->conj[c]);
            }
            ok = ok && recs[i].end_ms >= sc->from_ms && recs[i].end_ms < sc->to_ms;
            if (!ok) {
                continue;
            }
            t.rows++;
            t.packets += recs[i].packets;
            t.bytes += recs[i].bytes;
            t.nodata += recs[i].log_status == FLOW_LS_NODATA;
            t.skipdata += recs[i].log_status == FLOW_LS_SKIPDATA;
            t.skipped += recs[i].skipped;
            t.min_start = recs[i].start_ms < t.min_start ? recs[i].start_ms : t.min_start;
            t.max_end = recs[i].end_ms > t.max_end ? recs[i].end_ms : t.max_end;
        }
    }
    assert_int_equal(rc, 0);
    if (st != NULL) {
        stor_iter_stats(it, st);
    }
    stor_iter_close(it);
    stor_snap_end(snap);
    return t;
}

static uint64_t
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static const struct stor_scan ALL = {0, UINT64_MAX, -1, 0, NULL};

struct winfo {
    size_t n;
    struct stor_window_info w[16];
};

static int
collect_window(void *arg, const struct stor_window_info *w)
{
    struct winfo *wi = arg;
    if (wi->n < 16) {
        wi->w[wi->n++] = *w;
    }
    return 0;
}

static struct winfo
windows(struct fx *f)
{
    struct winfo wi = {0};
    struct stor_snap *snap;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_windows_each(snap, 0, UINT64_MAX, collect_window, &wi), 0);
    stor_snap_end(snap);
    return wi;
}

static void
test_aggregate_and_seal(void **state)
{
    struct fx *f = *state;
    uint64_t t = (uint64_t) (T0 + 100) * 1000u;
    struct flow_rec r[3] = {mk(1, 1, 1000, 80, t, 2), mk(1, 1, 1000, 80, t + 5000, 3),
                            mk(2, 1, 1000, 80, t, 7)};
    r[1].tcp_flags = 0x10;
    submit(f, r, 2, t, 0, NULL);
    submit(f, r + 2, 1, t + 5000, 0, NULL);

    /* Open window: readable; rows pre-aggregated per commit, totals exact. */
    struct totals a = scan(f, &ALL, NULL);
    assert_int_equal(a.packets, 12);
    assert_int_equal(a.bytes, 1200);
    struct winfo wi = windows(f);
    assert_int_equal(wi.n, 1);
    assert_int_equal(wi.w[0].start_s, T0);
    assert_int_equal(wi.w[0].window_s, 600);
    assert_false(wi.w[0].sealed);

    /* The exporter's clock has not passed start + 600 + 120: not due. */
    assert_int_equal(stor_seal_due(f->env, t + 10000, false), 0);
    assert_false(windows(f).w[0].sealed);
    /* Its clock passes the close: sealed, one row per key. */
    submit(f, NULL, 0, (uint64_t) (T0 + 721) * 1000u, 0, NULL);
    assert_int_equal(stor_seal_due(f->env, t + 10000, false), 0);
    wi = windows(f);
    assert_true(wi.w[0].sealed);
    assert_int_equal(wi.w[0].records, 2);
    a = scan(f, &ALL, NULL);
    assert_int_equal(a.rows, 2);
    assert_int_equal(a.packets, 12);
    assert_int_equal(a.min_start, t - 1000);
    assert_int_equal(a.max_end, t + 5000);

    /* A late record is stored and counted, never dropped. */
    submit(f, r, 1, (uint64_t) (T0 + 722) * 1000u, 0, NULL);
    a = scan(f, &ALL, NULL);
    assert_int_equal(a.packets, 14);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.seals, 1);
    reopen(f);
    assert_int_equal(scan(f, &ALL, NULL).packets, 14);
    assert_int_equal(windows(f).w[0].late, 1);
}

static void
test_silent_exporter_fallback(void **state)
{
    struct fx *f = *state;
    uint64_t t = (uint64_t) (T0 + 10) * 1000u;
    struct flow_rec r = mk(3, 3, 5, 6, t, 1);
    struct stor_batch *b = stor_batch_get(f->env);
    b->recs[0] = r;
    b->n = 1;
    b->nmsgs = 1;
    memset(&b->msgs[0], 0, sizeof(b->msgs[0]));
    memcpy(b->msgs[0].exporter, r.exporter, 16);
    b->msgs[0].exporter_port = 4739;
    b->msgs[0].export_ms = t;
    b->recv_ms = wall_now(); /* heard from now; its export clock is a year behind */
    stor_batch_submit(f->env, b);
    assert_int_equal(stor_sync(f->env), 0);
    /* Alive with a clock behind the close: held open. Silent for 60 s: sealed anyway. */
    assert_int_equal(stor_seal_due(f->env, b->recv_ms + 59000, false), 0);
    assert_false(windows(f).w[0].sealed);
    assert_int_equal(stor_seal_due(f->env, b->recv_ms + 61000, false), 0);
    struct winfo wi = windows(f);
    assert_int_equal(wi.n, 1);
    assert_true(wi.w[0].sealed);
}

static void
test_nodata_skipdata_raw(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog fl;
    stor_flowlog_default(&fl, "gw");
    fl.window_s = 60;
    fl.aggregate = false;
    fl.ninstances = 2;
    snprintf(fl.instances[0], FLOW_ID_MAX, "sag-a");
    snprintf(fl.instances[1], FLOW_ID_MAX, "sag-b");
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);

    uint64_t t = (uint64_t) (T0 + 30) * 1000u;
    struct flow_rec r[2] = {mk(1, 1, 1, 1, t, 1), mk(1, 1, 1, 1, t, 1)};
    for (int i = 0; i < 2; i++) {
        snprintf(r[i].instance_id, FLOW_ID_MAX, "sag-a");
        r[i].present |= FLOW_HAS_INSTANCE;
    }
    submit(f, r, 2, t, 5, "sag-a");
    submit(f, NULL, 0, (uint64_t) (T0 + 60 + 121) * 1000u, 0, "sag-a");
    assert_int_equal(stor_seal_due(f->env, t, false), 0);

    struct winfo wi = windows(f);
    assert_int_equal(wi.n, 1);
    assert_int_equal(wi.w[0].window_s, 60);
    assert_true(wi.w[0].sealed);
    struct totals a = scan(f, &ALL, NULL);
    assert_int_equal(a.rows, 4); /* raw: 2 records, + NODATA sag-b, + SKIPDATA sag-a */
    assert_int_equal(a.nodata, 1);
    assert_int_equal(a.skipdata, 1);
    assert_int_equal(a.skipped, 5);
    assert_int_equal(a.packets, 2);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.nodata, 1);
    assert_int_equal(st.skipdata, 1);
}

static void
test_nodata_for_learnt_instance(void **state)
{
    struct fx *f = *state;
    uint64_t t1 = (uint64_t) (T0 + 30) * 1000u, t2 = t1 + 600000;
    struct flow_rec a = mk(1, 1, 1, 1, t1, 1), b = mk(2, 2, 2, 2, t2, 1);
    snprintf(a.instance_id, FLOW_ID_MAX, "sag-x");
    snprintf(b.instance_id, FLOW_ID_MAX, "sag-y");
    a.present |= FLOW_HAS_INSTANCE;
    b.present |= FLOW_HAS_INSTANCE;
    submit(f, &a, 1, t1, 0, NULL); /* the default flow log learns sag-x */
    submit(f, &b, 1, t2, 0, NULL); /* the next window hears only from sag-y */
    assert_int_equal(stor_seal_due(f->env, 0, true), 0);
    struct stor_scan sc = {(uint64_t) (T0 + 600) * 1000u, (uint64_t) (T0 + 1200) * 1000u, -1, 0,
                           NULL};
    struct totals second = scan(f, &sc, NULL);
    assert_int_equal(second.rows, 2);
    assert_int_equal(second.nodata, 1);
    sc.from_ms = (uint64_t) T0 * 1000u;
    sc.to_ms = (uint64_t) (T0 + 600) * 1000u;
    assert_int_equal(scan(f, &sc, NULL).nodata, 0); /* sag-y was not known yet */
}

static void
test_seal_in_segments(void **state)
{
    struct fx *f = *state;
    f->cfg.seal_rows = 300; /* a window of 2000 rows seals in 7 segments */
    f->cfg.batch_records = 100;
    reopen(f);
    uint64_t seed = 5, pk = 0;
    struct flow_rec r[100];
    for (int b = 0; b < 20; b++) {
        for (size_t i = 0; i < 100; i++) {
            r[i] = mk(rnd(&seed), rnd(&seed), (uint16_t) (b * 100 + i), 80,
                      (uint64_t) (T0 + 1 + rnd(&seed) % 590) * 1000u, 1 + rnd(&seed) % 5);
            pk += r[i].packets;
        }
        submit(f, r, 100, (uint64_t) T0 * 1000u, 0, NULL); /* one run per batch */
    }
    assert_int_equal(stor_seal_due(f->env, 0, true), 0);
    struct winfo wi = windows(f);
    assert_true(wi.w[0].sealed);
    assert_int_equal(wi.w[0].records, 2000);
    assert_int_equal(wi.w[0].blocks, 6 * 5 + 4); /* 6 x 300 rows in 5 blocks of 64, + 200 */
    struct totals a = scan(f, &ALL, NULL);
    assert_int_equal(a.rows, 2000);
    assert_int_equal(a.packets, pk);
}

static void
test_open_window_survives_restart(void **state)
{
    struct fx *f = *state;
    uint64_t t = (uint64_t) (T0 + 1300) * 1000u;
    struct flow_rec r = mk(9, 9, 9, 9, t, 4);
    submit(f, &r, 1, t, 0, NULL);
    reopen(f); /* the writer finds the open window again and can seal it */
    assert_false(windows(f).w[0].sealed);
    assert_int_equal(stor_seal_due(f->env, 0, true), 0);
    assert_true(windows(f).w[0].sealed);
    assert_int_equal(scan(f, &ALL, NULL).packets, 4);
}

static void
test_pushdown_matches_brute_force(void **state)
{
    struct fx *f = *state;
    uint64_t seed = 7;
    enum { N = 3000 };
    static struct flow_rec all[N];
    for (size_t i = 0; i < N; i++) {
        uint64_t end = (uint64_t) (T0 + rnd(&seed) % 3000) * 1000u + rnd(&seed) % 1000;
        all[i] = mk(rnd(&seed) % 200, rnd(&seed) % 50, (uint16_t) (1024 + rnd(&seed) % 30),
                    (uint16_t) (rnd(&seed) % 4 == 0 ? 22 : 443), end, 1 + rnd(&seed) % 20);
        all[i].protocol = rnd(&seed) % 5 == 0 ? 17 : 6;
        all[i].action = rnd(&seed) % 7 == 0 ? FLOW_ACT_REJECT : FLOW_ACT_ACCEPT;
        all[i].tcp_flags = (uint16_t) (rnd(&seed) & 0x3f);
        snprintf(all[i].instance_id, FLOW_ID_MAX, "sag-%u", rnd(&seed) % 9);
        all[i].present |= FLOW_HAS_INSTANCE;
    }
    for (size_t off = 0; off < N; off += 1000) {
        submit(f, all + off, 1000, (uint64_t) T0 * 1000u, 0, NULL); /* holds windows open */
    }
    assert_int_equal(stor_seal_due(f->env, 0, true), 0);
    struct totals everything = scan(f, &ALL, NULL);
    uint64_t pk = 0;
    for (size_t i = 0; i < N; i++) {
        pk += all[i].packets;
    }
    assert_int_equal(everything.packets, pk);

    for (int q = 0; q < 200; q++) {
        struct stor_conj conj[2];
        memset(conj, 0, sizeof(conj));
        struct stor_scan sc = {0, UINT64_MAX, -1, 0, conj};
        int kind = q % 9;
        struct stor_cond *c = &conj[0].any[0];
        conj[0].n = 1;
        if (kind == 0) { /* a source host */
            c->field = STOR_F_SRCADDR;
            uint32_t h = rnd(&seed) % 220;
            uint8_t a[4] = {10, 0, (uint8_t) (h >> 8), (uint8_t) h};
            flow_addr_set_v4(c->cidr.addr, a);
            c->cidr.plen = 128;
        } else if (kind == 1) { /* a destination /24 */
            c->field = STOR_F_DSTADDR;
            uint8_t a[4] = {172, 16, 0, 0};
            flow_addr_set_v4(c->cidr.addr, a);
            c->cidr.plen = 120;
        } else if (kind == 2) { /* port in (22, x) and protocol */
            c->field = STOR_F_DSTPORT;
            c->lo = c->hi = 22;
            conj[0].n = 2;
            conj[0].any[1].field = STOR_F_DSTPORT;
            conj[0].any[1].lo = conj[0].any[1].hi = rnd(&seed) % 2000;
            conj[1].n = 1;
            conj[1].any[0].field = STOR_F_PROTOCOL;
            conj[1].any[0].lo = conj[1].any[0].hi = 17;
            sc.nconj = 1;
        } else if (kind == 3) { /* bytes range */
            c->field = STOR_F_BYTES;
            c->lo = 100u * (rnd(&seed) % 20);
            c->hi = c->lo + 300;
        } else if (kind == 5) { /* an instance */
            c->field = STOR_F_INSTANCE;
            snprintf(c->text, FLOW_ID_MAX, "sag-%u", rnd(&seed) % 10);
        } else if (kind == 6) { /* the exporter, or another one */
            c->field = STOR_F_EXPORTER;
            uint8_t e[4] = {192, 0, 2, (uint8_t) (1 + rnd(&seed) % 2)};
            flow_addr_set_v4(c->cidr.addr, e);
            c->cidr.plen = 128;
        } else if (kind == 7) { /* packets and start ranges */
            c->field = STOR_F_PACKETS;
            c->lo = rnd(&seed) % 20;
            c->hi = c->lo + 2;
            conj[1].n = 1;
            conj[1].any[0].field = STOR_F_START;
            conj[1].any[0].lo = (uint64_t) (T0 + rnd(&seed) % 3000) * 1000u;
            conj[1].any[0].hi = conj[1].any[0].lo + 400000;
        } else if (kind == 8) { /* tcp flags */
            c->field = STOR_F_TCPFLAGS;
            c->lo = c->hi = rnd(&seed) & 0x3f;
        } else { /* action plus a time range */
            c->field = STOR_F_ACTION;
            c->lo = c->hi = FLOW_ACT_REJECT;
            sc.from_ms = (uint64_t) (T0 + rnd(&seed) % 3000) * 1000u;
            sc.to_ms = sc.from_ms + 700000;
        }
        sc.nconj = (uint8_t) (kind == 2 || kind == 7 ? 2 : 1);
        struct stor_scan_stats st;
        struct totals got = scan(f, &sc, &st);
        struct totals want = {0};
        for (size_t i = 0; i < N; i++) {
            bool ok = all[i].end_ms >= sc.from_ms && all[i].end_ms < sc.to_ms;
            for (size_t j = 0; j < sc.nconj && ok; j++) {
                ok = stor__rec_matches(&all[i], &conj[j]);
            }
            if (ok) {
                want.packets += all[i].packets;
                want.bytes += all[i].bytes;
            }
        }
        if (got.packets != want.packets || got.bytes != want.bytes) {
            fail_msg("query %d (kind %d): got %llu packets, brute force %llu", q, kind,
                     (unsigned long long) got.packets, (unsigned long long) want.packets);
        }
        if (kind == 0) {
            if (st.blocks_skipped * 2 <= st.blocks) {
                fail_msg("host query skipped %llu of %llu blocks",
                         (unsigned long long) st.blocks_skipped, (unsigned long long) st.blocks);
            }
        }
    }
}

static void
test_retention_by_age(void **state)
{
    struct fx *f = *state;
    f->cfg.retention_s = 3600;
    reopen(f);
    uint64_t now_s = wall_now() / 1000u;
    uint32_t hour = (uint32_t) (now_s - now_s % 3600);
    uint32_t old = hour - 3600; /* the previous partition: it ends at `hour` */
    uint64_t t = (uint64_t) (old + 100) * 1000u;
    struct flow_rec r[2] = {mk(1, 1, 1, 1, t, 1), mk(1, 1, 1, 1, t + 3600000, 1)};
    submit(f, r, 2, 0, 0, NULL);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    assert_int_equal(f->env->nparts, 2);
    /* An hour after the old partition ended it is dropped, file and all. */
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (hour + 3600) * 1000u + 1, false), 0);
    assert_int_equal(f->env->nparts, 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", f->dir, old);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(scan(f, &ALL, NULL).rows, 1);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.partitions_dropped, 1);
}

static void
test_retention_by_size(void **state)
{
    struct fx *f = *state;
    f->cfg.max_bytes = 1; /* every partition but the newest is over the cap */
    reopen(f);
    uint64_t now_s = wall_now() / 1000u;
    uint32_t hour = (uint32_t) (now_s - now_s % 3600);
    struct flow_rec r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = mk(1, 1, 1, (uint16_t) i, ((uint64_t) hour - 3600u * (uint64_t) (2 - i) + 5) * 1000u,
                  1);
    }
    submit(f, r, 3, 0, 0, NULL);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    /* The seal's retention pass drops the two older partitions, keeps the newest. */
    assert_int_equal(stor_seal_due(f->env, wall_now(), false), 0);
    assert_int_equal(f->env->nparts, 1);
    assert_int_equal(f->env->parts[0]->start_s, hour);
    struct totals a = scan(f, &ALL, NULL);
    assert_int_equal(a.rows, 1);
}

static uint64_t
file_size(const char *dir, uint32_t start)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", dir, start);
    return stat(path, &st) == 0 ? (uint64_t) st.st_size : 0;
}

static void
test_settled_partition_compacted(void **state)
{
    struct fx *f = *state;
    f->cfg.block_records = 4096;
    reopen(f);
    uint64_t seed = 11;
    static struct flow_rec r[4000];
    for (int b = 0; b < 10; b++) {
        for (size_t i = 0; i < 4000; i++) {
            r[i] = mk(rnd(&seed), rnd(&seed), (uint16_t) rnd(&seed), (uint16_t) rnd(&seed),
                      (uint64_t) (T0 + 1 + rnd(&seed) % 590) * 1000u, 1 + rnd(&seed) % 9);
        }
        submit(f, r, 4000, (uint64_t) T0 * 1000u, 0, NULL); /* one run per batch */
    }
    uint64_t before_pk = scan(f, &ALL, NULL).packets;
    /* Sealing frees the runs' pages; T0 settled long ago, so the same pass compacts it. */
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.compactions, 1);
    struct winfo wi = windows(f);
    assert_true(wi.w[0].sealed);
    uint64_t file = file_size(f->dir, T0), values = wi.w[0].bytes;
    /* What is left is the sealed blocks, their summaries and LMDB's pages around them. */
    uint64_t sums = (uint64_t) wi.w[0].blocks * STOR_SUM_BYTES;
    if (file > (values + sums) * 3 / 2 + 64 * 1024) {
        fail_msg("partition file %llu B for %llu B of blocks and %llu B of summaries",
                 (unsigned long long) file, (unsigned long long) values, (unsigned long long) sums);
    }
    assert_int_equal(scan(f, &ALL, NULL).packets, before_pk);
    reopen(f);
    assert_int_equal(scan(f, &ALL, NULL).packets, before_pk);
}

/*
 * A full disk, simulated with the file-size limit (EFBIG): commits fail with STOR_E_FULL,
 * ingest keeps taking batches, nothing is lost, and when space returns everything commits.
 * Runs in a child process so the limit does not touch the test runner.
 */
static void
test_full_disk_recovers(void **state)
{
    struct fx *f = *state;
    stor_close(f->env); /* the child opens its own: a writer thread does not survive fork */
    f->env = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)) != 0) {
            _exit(9);
        }
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        struct rlimit small = {1u << 20, rl.rlim_max};
        uint64_t t = (uint64_t) (T0 + 100) * 1000u;
        static struct flow_rec r[1000];
        setrlimit(RLIMIT_FSIZE, &small);
        uint64_t seed = 3, sent = 0;
        int full = 0;
        for (int b = 0; b < 400 && full < 3; b++) {
            for (size_t i = 0; i < 1000; i++) {
                r[i] = mk(rnd(&seed), rnd(&seed), (uint16_t) rnd(&seed), (uint16_t) i, t, 1);
            }
            struct stor_batch *bt = stor_batch_get(f->env);
            if (bt == NULL) {
                _exit(10);
            }
            memcpy(bt->recs, r, sizeof(r));
            bt->n = 1000;
            stor_batch_submit(f->env, bt);
            sent += 1000;
            int rc = stor_sync(f->env);
            if (rc == STOR_E_FULL || rc == STOR_E_IO) { /* a short write says EIO */
                full++;
            } else if (rc != 0) {
                fprintf(stderr, "stor_sync: %s\n", stor_strerror(rc));
                _exit(11);
            }
        }
        struct stor_stats st;
        stor_stats_get(f->env, &st);
        if (full == 0 || st.full_errors == 0 ||
            (st.last_error != STOR_E_FULL && st.last_error != STOR_E_IO)) {
            _exit(12); /* never filled up: the limit did not bite */
        }
        if (st.commit_failing != 1 || st.pending_records == 0) {
            _exit(16); /* the operator's gauges say it */
        }
        setrlimit(RLIMIT_FSIZE, &rl); /* space returns */
        if (stor_sync(f->env) != 0) {
            _exit(13);
        }
        stor_stats_get(f->env, &st);
        if (st.records_in != sent || st.records_dropped != 0 || st.records_stored != sent ||
            st.last_error != 0 || st.commit_failing != 0 || st.pending_records != 0) {
            _exit(14);
        }
        struct totals a = scan(f, &ALL, NULL);
        stor_close(f->env);
        _exit(a.rows == sent ? 0 : 15);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Records and message notes whose times are implausibly far from their receive time are
 * stored at the receive time, flagged and counted, and open no partition of their own. */
static void
test_implausible_times_retimed(void **state)
{
    struct fx *f = *state;
    stor_close(f->env);
    f->cfg.time_past_s = 3600;
    f->cfg.time_future_s = 3600;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
    uint64_t now = wall_now();
    struct flow_rec r[4] = {
        mk(1, 1, 1000, 80, now - 60000, 1),           /* plausible: kept as it is */
        mk(2, 1, 1000, 80, now - 40 * 86400000ull, 2), /* a clock 40 days behind */
        mk(3, 1, 1000, 80, now + 3 * 86400000ull, 3),  /* 3 days ahead */
        mk(4, 1, 1000, 80, UINT64_MAX - 5, 4),         /* a mangled datagram's time */
    };
    r[3].start_ms = 3; /* and no duration to speak of */
    /* A note with a far-future export time and sequence loss: no window there either. */
    submit(f, r, 4, now + 900 * 86400000ull, 5, NULL);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.time_skew, 3);
    uint64_t after = wall_now();

    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n, rows = 0;
    int rc;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &ALL, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            const struct flow_rec *g = &recs[i];
            if (g->log_status != FLOW_LS_OK) {
                continue;
            }
            rows++;
            if (g->packets == 1) {
                assert_int_equal(g->end_ms, now - 60000);
                assert_false(g->flags & FLOW_F_TIME_SKEW);
                continue;
            }
            assert_true(g->flags & FLOW_F_TIME_SKEW);
            assert_true(g->end_ms >= now && g->end_ms <= after);
            /* The duration is kept when it is one (1 s here); not for garbage. */
            assert_int_equal(g->end_ms - g->start_ms, g->packets == 4 ? 0 : 1000);
        }
    }
    assert_int_equal(rc, 0);
    stor_iter_close(it);
    stor_snap_end(snap);
    assert_int_equal(rows, 4);
    struct winfo wi = windows(f);
    for (size_t i = 0; i < wi.n; i++) {
        assert_true((uint64_t) wi.w[i].start_s * 1000u + 3600000u >= now);
        assert_true((uint64_t) wi.w[i].start_s * 1000u <= after);
    }
    /* One or two partitions (the minute before may be in the previous hour), not four. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test $(ls '%s' | grep -c '^p-.*\\.mdb$') -le 2", f->dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_aggregate_and_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_exporter_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodata_skipdata_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodata_for_learnt_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_in_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_window_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pushdown_matches_brute_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settled_partition_compacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_implausible_times_retimed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
