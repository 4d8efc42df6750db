/* SPDX-License-Identifier: MIT */
/*
 * The writer's ingest-side bounds and hardening, through the public API (and the writer's
 * private state where a count or a structure is the thing to check): routing to every
 * overlapping flow log, stats without the store's lock, the per-exporter bound on open
 * windows, exporter clocks that one message cannot push forward, records older than
 * retention, many exporters, and the commit latency gauges.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
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

#include "writer_int.h"

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
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-i-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
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

static uint64_t
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* A record from exporter 192.0.2.<exp>:4739 ending at end_ms. */
static struct flow_rec
mk(uint8_t exp, uint16_t sport, uint64_t end_ms)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {172, 16, 0, 1}, e[4] = {192, 0, 2, exp};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    flow_addr_set_v4(r.exporter, e);
    r.exporter_port = 4739;
    r.srcport = sport;
    r.dstport = 80;
    r.protocol = 6;
    r.packets = 1;
    r.bytes = 100;
    r.start_ms = end_ms - 1000;
    r.end_ms = end_ms;
    r.version = 10;
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    return r;
}

/* One batch: records, and a message note from exporter 192.0.2.<exp> when export_ms != 0.
 * recv_ms 0: the store stamps the wall clock. */
static void
submit_at(struct fx *f, const struct flow_rec *recs, size_t n, uint8_t exp, uint64_t export_ms,
          uint64_t recv_ms)
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
        uint8_t e[4] = {192, 0, 2, exp};
        flow_addr_set_v4(m->exporter, e);
        m->exporter_port = 4739;
        m->export_ms = export_ms;
        b->nmsgs = 1;
    }
    b->recv_ms = recv_ms;
    stor_batch_submit(f->env, b);
    assert_int_equal(stor_sync(f->env), 0);
}

static const struct stor_scan ALL = {0, UINT64_MAX, -1, 0, NULL};

/* Stored records with log status OK, and how many carry FLOW_F_TIME_SKEW. */
static size_t
count_rows(struct fx *f, size_t *skewed)
{
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n, rows = 0, sk = 0;
    int rc;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &ALL, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            rows += recs[i].log_status == FLOW_LS_OK;
            sk += recs[i].log_status == FLOW_LS_OK && (recs[i].flags & FLOW_F_TIME_SKEW);
        }
    }
    assert_int_equal(rc, 0);
    stor_iter_close(it);
    stor_snap_end(snap);
    if (skewed != NULL) {
        *skewed = sk;
    }
    return rows;
}

/* M5: a record that ten flow logs capture is stored in all ten (it was 8, the rest lost
 * uncounted). */
static void
test_route_to_ten_flowlogs(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->cfg.max_flowlogs, 10);
    for (int i = 0; i < 10; i++) {
        struct stor_flowlog fl;
        char name[16];
        snprintf(name, sizeof(name), "fl%d", i);
        stor_flowlog_default(&fl, name); /* empty match lists: every record */
        assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    }
    struct flow_rec r = mk(1, 1000, (uint64_t) (T0 + 100) * 1000u);
    submit_at(f, &r, 1, 0, 0, 0);
    assert_int_equal(count_rows(f, NULL), 10);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.records_in, 1);
    assert_int_equal(st.records_stored, 10);
    assert_int_equal(st.records_dropped, 0);
}

struct stats_call {
    struct stor_env *env;
    atomic_bool done;
};

static void *
stats_thread(void *arg)
{
    struct stats_call *c = arg;
    struct stor_stats st;
    stor_stats_get(c->env, &st);
    atomic_store(&c->done, true);
    return NULL;
}

/* M2: stor_stats_get (the loop thread's call) returns while the store's lock is held, as it
 * is across a partition's creation or a compaction copy. */
static void
test_stats_without_store_lock(void **state)
{
    struct fx *f = *state;
    struct stats_call c = {.env = f->env};
    pthread_t th;
    pthread_mutex_lock(&f->env->lock);
    assert_int_equal(pthread_create(&th, NULL, stats_thread, &c), 0);
    for (int i = 0; i < 400 && !atomic_load(&c.done); i++) {
        nanosleep(&(struct timespec){0, 5000000}, NULL); /* up to 2 s: generous under load */
    }
    bool returned = atomic_load(&c.done);
    pthread_mutex_unlock(&f->env->lock);
    pthread_join(th, NULL);
    assert_true(returned);
}

static bool
part_exists(struct fx *f, uint32_t start)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", f->dir, start);
    return access(path, F_OK) == 0;
}

/* M4: a record older than the retention horizon is refused and counted; it does not create
 * the partition that the next pass would delete. */
static void
test_expired_by_age(void **state)
{
    struct fx *f = *state;
    f->cfg.retention_s = 3600;
    reopen(f);
    uint64_t now_s = wall_now() / 1000u;
    uint32_t hour = (uint32_t) (now_s - now_s % 3600);
    uint32_t old = hour - 3 * 3600; /* ended two hours ago: past retention */
    struct flow_rec r[2] = {mk(1, 1000, (uint64_t) (old + 100) * 1000u),
                            mk(1, 1001, (now_s - 5) * 1000u)};
    submit_at(f, r, 2, 0, 0, 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.records_stored, 1);
    assert_false(part_exists(f, old));
    assert_int_equal(count_rows(f, NULL), 1);
}

/* M4: late data into a range that size retention dropped does not bring the partition back
 * (its files were unlinked by name, which deleted the new ones). */
static void
test_expired_below_dropped(void **state)
{
    struct fx *f = *state;
    f->cfg.max_bytes = 1; /* every partition but the newest is over the cap */
    reopen(f);
    uint64_t now_s = wall_now() / 1000u;
    uint32_t hour = (uint32_t) (now_s - now_s % 3600);
    struct flow_rec r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = mk(1, (uint16_t) i, ((uint64_t) hour - 3600u * (uint64_t) (2 - i) + 5) * 1000u);
    }
    submit_at(f, r, 3, 0, 0, 0);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    assert_int_equal(f->env->nparts, 1);
    struct flow_rec late = mk(1, 9, ((uint64_t) hour - 7200u + 60) * 1000u);
    submit_at(f, &late, 1, 0, 0, 0);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    assert_false(part_exists(f, hour - 7200u));
    assert_int_equal(f->env->nparts, 1);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.partitions_dropped, 2);
}

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

/* Whether the window starting at start_s is sealed (it must exist). */
static bool
sealed(struct fx *f, uint32_t start_s)
{
    struct winfo wi = {0};
    struct stor_snap *snap;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_windows_each(snap, 0, UINT64_MAX, collect_window, &wi), 0);
    stor_snap_end(snap);
    for (size_t i = 0; i < wi.n; i++) {
        if (wi.w[i].start_s == start_s) {
            return wi.w[i].sealed;
        }
    }
    fail_msg("no window at %u", start_s);
    return false;
}

/* M11, live: a header 23 h ahead of the receive time (plausible with time_future 1 day) does
 * not move the exporter's clock past its windows; normal headers follow and nothing is late. */
static void
test_clock_spoof_live(void **state)
{
    struct fx *f = *state;
    f->cfg.time_future_s = 86400;
    f->cfg.time_past_s = 30 * 86400;
    reopen(f);
    uint64_t now = wall_now();
    uint32_t win = (uint32_t) (now / 1000u - now / 1000u % 600u);
    struct flow_rec r = mk(1, 1000, now);
    submit_at(f, &r, 1, 1, now + 23 * 3600000ull, now);
    assert_int_equal(stor_seal_due(f->env, now, false), 0);
    assert_false(sealed(f, win));
    r.srcport = 1001;
    submit_at(f, &r, 1, 1, now + 10, now + 10);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.clock_clamped, 1);
}

/* M11, replay: one header far ahead of the others (both in the past) moves the clock one
 * window and its grace at most; the next window stays open for the headers that follow. */
static void
test_clock_spoof_replay(void **state)
{
    struct fx *f = *state;
    uint64_t now = wall_now();
    struct flow_rec r[2] = {mk(1, 1000, (uint64_t) (T0 + 90) * 1000u),
                            mk(1, 1001, (uint64_t) (T0 + 650) * 1000u)};
    submit_at(f, r, 2, 1, (uint64_t) (T0 + 100) * 1000u, now);
    submit_at(f, NULL, 0, 1, (uint64_t) (T0 + 20 * 3600) * 1000u, now);
    submit_at(f, NULL, 0, 1, (uint64_t) (T0 + 110) * 1000u, now);
    assert_int_equal(stor_seal_due(f->env, now, false), 0);
    assert_false(sealed(f, T0 + 600));
    r[1].srcport = 1002;
    submit_at(f, &r[1], 1, 1, (uint64_t) (T0 + 700) * 1000u, now);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.late, 0);
}

/* M9: with thousands of exporters (and as many windows), a lookup of an exporter's clock or
 * a window compares a bounded number of entries (the tables were linear scans), and clocks
 * unheard for longer than the idle bound are forgotten and counted. */
static void
test_many_exporters_flat(void **state)
{
    struct fx *f = *state;
    enum { N = 3000 };
    static struct flow_rec r[1];
    uint64_t now = wall_now();
    struct stor_writer *w = f->env->w;
    uint64_t lookups0 = 0, probes0 = 0;
    for (int e = 0; e < N; e++) {
        if (e == N - 100) {
            assert_int_equal(stor_sync(f->env), 0);
            lookups0 = w->in.lookups; /* the writer is idle: its counters hold still */
            probes0 = w->in.probes;
        }
        if (e % 32 == 31) {
            assert_int_equal(stor_sync(f->env), 0); /* the pool holds 64 batches */
        }
        r[0] = mk((uint8_t) (e % 250 + 1), 1000, (uint64_t) (T0 + 600u * (uint32_t) (e % 6)) * 1000u);
        r[0].exporter[14] = (uint8_t) (e / 250); /* 192.0.<e/250>.<e%250+1> */
        struct stor_batch *b = stor_batch_get(f->env);
        assert_non_null(b);
        b->recs[0] = r[0];
        b->n = 1;
        b->recv_ms = now;
        stor_batch_submit(f->env, b);
    }
    assert_int_equal(stor_sync(f->env), 0);
    double per = (double) (w->in.probes - probes0) / (double) (w->in.lookups - lookups0);
    if (per > 4.0) {
        fail_msg("%.1f entries compared per lookup with %d exporters", per, N);
    }
}

/* M9: exporter clocks unheard for over an hour that hold no window are forgotten and
 * counted, and their slots are reused (clocks never expired: each TCP reconnect added one). */
static void
test_idle_clocks_evicted(void **state)
{
    struct fx *f = *state;
    enum { N = 500 };
    uint64_t now = wall_now(), then = now - 2 * 3600000ull;
    for (int e = 0; e < N; e++) {
        struct flow_rec r = mk((uint8_t) (e % 250 + 1), 1000, (uint64_t) (T0 + 100) * 1000u);
        r.exporter_port = (uint16_t) (5000 + e); /* a reconnecting exporter: a new port each time */
        submit_at(f, &r, 1, 0, 0, then);
    }
    struct stor_writer *w = f->env->w;
    /* All silent: the window seals (on a writer tick, or here; records after a tick's seal
     * are late and resealed here too), and the clocks go. */
    assert_int_equal(stor_seal_due(f->env, now, true), 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.clocks_evicted, N);
    assert_int_equal(st.records_stored, N);
    size_t high = w->in.nclocks;
    for (int e = 0; e < N; e++) {
        struct flow_rec r = mk((uint8_t) (e % 250 + 1), 1000, now);
        submit_at(f, &r, 1, 0, 0, now);
    }
    assert_int_equal(stor_sync(f->env), 0);
    assert_true(w->in.nclocks <= (high > 250 ? high : 250)); /* freed slots taken again */
}

/* M10: one datagram whose 30 records lie in 30 different windows (5 partitions) opens at
 * most W_FANOUT_MAX (8) of them; the rest are retimed to the receive time, flagged, counted. */
static void
test_fanout_bounded(void **state)
{
    struct fx *f = *state;
    enum { N = 30 };
    struct flow_rec r[N];
    for (int i = 0; i < N; i++) {
        r[i] = mk(1, (uint16_t) (1000 + i), (uint64_t) (T0 + 600u * (uint32_t) i + 10) * 1000u);
    }
    submit_at(f, r, N, 0, 0, 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.records_stored, N);
    assert_int_equal(st.fanout_retimed, N - W_FANOUT_MAX);
    assert_int_equal(st.open_windows, W_FANOUT_MAX + 1); /* and the receive time's */
    size_t skewed;
    assert_int_equal(count_rows(f, &skewed), N);
    assert_int_equal(skewed, N - W_FANOUT_MAX);
    assert_true(f->env->nparts <= 3); /* T0's, the next hour's, the receive time's */
}

/* Run items of window (flowlog 0, start_s), straight from its partition. */
static size_t
runs_of(struct fx *f, uint32_t start_s)
{
    struct stor_part *p;
    MDB_txn *txn;
    MDB_cursor *cur;
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    size_t n = 0;
    assert_int_equal(stor__part_acquire(f->env, stor__part_start(f->env, start_s), false, &p), 0);
    assert_int_equal(mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, p->runs, &cur), 0);
    stor__key_item(key, 0, start_s, 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint16_t fl;
        uint32_t st, run;
        stor__key_parse(k.mv_data, k.mv_size, &fl, &st, &run);
        if (fl != 0 || st != start_s) {
            break;
        }
        n++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    stor__part_release(f->env, p);
    return n;
}

static uint64_t
packets(struct fx *f)
{
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    uint64_t pk = 0;
    int rc;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &ALL, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            pk += recs[i].packets;
        }
    }
    stor_iter_close(it);
    stor_snap_end(snap);
    return pk;
}

/* M12: late records into a sealed window are committed as runs, counted as pending, and
 * merged into blocks on the reseal schedule (they stayed runs forever); late runs left at
 * shutdown are resealed after the next open. */
static void
test_late_runs_resealed(void **state)
{
    struct fx *f = *state;
    struct flow_rec r[2] = {mk(1, 1000, (uint64_t) (T0 + 100) * 1000u),
                            mk(1, 1001, (uint64_t) (T0 + 200) * 1000u)};
    submit_at(f, r, 2, 0, 0, 0);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    assert_true(sealed(f, T0));
    for (int b = 0; b < 3; b++) { /* three commits: three late runs */
        r[0].srcport = r[1].srcport = (uint16_t) (2000 + b);
        submit_at(f, r, 2, 0, 0, 0);
    }
    assert_int_equal(runs_of(f, T0), 3);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.late, 6);
    assert_int_equal(st.late_pending, 6);
    uint64_t pk = packets(f);
    assert_int_equal(pk, 8);
    /* Not yet: the late records are fresh. */
    assert_int_equal(stor_seal_due(f->env, wall_now(), false), 0);
    assert_int_equal(runs_of(f, T0), 3);
    /* Idle for W_RESEAL_IDLE_MS: merged into blocks, same records. */
    assert_int_equal(stor_seal_due(f->env, wall_now() + W_RESEAL_IDLE_MS, false), 0);
    assert_int_equal(runs_of(f, T0), 0);
    assert_true(sealed(f, T0));
    assert_int_equal(packets(f), pk);
    stor_stats_get(f->env, &st);
    assert_int_equal(st.late_pending, 0);
    assert_int_equal(st.reseals, 1);
    assert_int_equal(st.open_windows, 0);
    /* Late runs at shutdown: resealed after the next open. */
    submit_at(f, r, 2, 0, 0, 0);
    assert_int_equal(runs_of(f, T0), 1);
    reopen(f);
    assert_int_equal(stor_seal_due(f->env, wall_now(), false), 0);
    assert_int_equal(runs_of(f, T0), 0);
    assert_int_equal(packets(f), pk + 2);
}

/* While maintenance holds a partition (a compaction copy), the writer keeps that partition's
 * rows in memory and commits nothing there; they are committed once it lets go, and neither
 * the writer nor the committer waited meanwhile (other partitions commit). */
static void
test_claimed_partition_rows_wait(void **state)
{
    struct fx *f = *state;
    /* The receive time's partition and the next one: neither settled, so the maintenance
     * thread itself claims neither while the test holds the claim. */
    uint64_t now = wall_now();
    uint32_t part = (uint32_t) (now / 1000u - now / 1000u % 3600u);
    struct flow_rec r = mk(1, 1000, now);
    submit_at(f, &r, 1, 0, 0, 0);
    assert_int_equal(stor_seal_due(f->env, now, true), 0); /* the partition is not busy now */
    struct stor_writer *w = f->env->w;
    pthread_mutex_lock(&w->mu);
    assert_false(w->sh.maint_claimed);
    w->sh.maint_claimed = true; /* as maint.c's claim() does */
    w->sh.maint_part = part;
    pthread_mutex_unlock(&w->mu);
    struct stor_batch *b = stor_batch_get(f->env);
    assert_non_null(b);
    b->recs[0] = mk(1, 1001, now);                   /* late, into the claimed partition */
    b->recs[1] = mk(1, 1002, now + 3600u * 1000u); /* the next partition */
    b->n = 2;
    stor_batch_submit(f->env, b);
    struct stor_stats st = {0};
    for (int i = 0; i < 400 && st.records_stored < 2; i++) { /* up to 2 s */
        nanosleep(&(struct timespec){0, 5000000}, NULL);
        stor_stats_get(f->env, &st);
    }
    assert_int_equal(st.records_stored, 2); /* the first record, and the next partition's */
    assert_int_equal(st.pending_records, 1);
    assert_int_equal(runs_of(f, (uint32_t) (now / 1000u - now / 1000u % 600u)), 0);
    pthread_mutex_lock(&w->mu);
    w->sh.maint_claimed = false; /* as release() does */
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(stor_sync(f->env), 0);
    assert_int_equal(runs_of(f, (uint32_t) (now / 1000u - now / 1000u % 600u)), 1);
    stor_stats_get(f->env, &st);
    assert_int_equal(st.records_stored, 3);
    assert_int_equal(st.pending_records, 0);
}

/* M11: an exporter whose clock is set back (a reboot) gets its clock back after a few
 * headers, so its new windows are not sealed at once (all its data was late for good); one
 * header far behind does not move it. */
static void
test_clock_set_back(void **state)
{
    struct fx *f = *state;
    uint64_t now = wall_now();
    uint32_t back = T0 - 86400; /* a day before: the exporter's clock after the reset */
    submit_at(f, NULL, 0, 1, (uint64_t) (T0 + 5000) * 1000u, now);
    submit_at(f, NULL, 0, 1, (uint64_t) (back + 50) * 1000u, now); /* one: ignored */
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.clock_resets, 0);
    submit_at(f, NULL, 0, 1, (uint64_t) (back + 60) * 1000u, now);
    struct flow_rec r = mk(1, 1000, (uint64_t) (back + 100) * 1000u);
    submit_at(f, &r, 1, 1, (uint64_t) (back + 70) * 1000u, now);
    assert_int_equal(stor_seal_due(f->env, now, false), 0);
    assert_false(sealed(f, back));
    stor_stats_get(f->env, &st);
    assert_int_equal(st.clock_resets, 1);
    assert_int_equal(st.late, 0);
}

static int
find_name(void *arg, const char *name, uint64_t value, enum stor_stat_kind kind, const char *help)
{
    (void) value;
    (void) kind;
    (void) help;
    return strcmp(name, (const char *) arg) == 0;
}

/* The operator's numbers: open windows, pending records, queue depth, seal backlog and commit
 * latency are fields of stor_stats and lines of stor_stats_each. */
static void
test_writer_gauges(void **state)
{
    struct fx *f = *state;
    struct flow_rec r[2] = {mk(1, 1000, (uint64_t) (T0 + 100) * 1000u),
                            mk(1, 1001, (uint64_t) (T0 + 700) * 1000u)};
    submit_at(f, r, 2, 0, 0, 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.open_windows, 2);
    assert_int_equal(st.pending_records, 0);
    assert_int_equal(st.queue_batches, 0);
    assert_int_equal(st.commit_failing, 0);
    assert_true(st.commits >= 1);
    assert_true(st.commit_max_ms >= st.commit_last_ms);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    stor_stats_get(f->env, &st);
    assert_int_equal(st.open_windows, 0);
    assert_int_equal(st.seal_backlog, 0);
    assert_int_equal(st.seals, 2);
    assert_true(st.bytes > 0); /* set by the maintenance pass (it was never written) */
    const char *names[] = {"store-pending-records", "store-queue-batches", "store-seal-backlog",
                           "store-open-windows",    "store-commit-last-ms", "store-commit-max-ms",
                           "store-commit-failing",  "store-expired",        "store-fanout-retimed",
                           "store-clocks-evicted"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (stor_stats_each(&st, find_name, (void *) names[i]) != 1) {
            fail_msg("%s is not listed", names[i]);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_route_to_ten_flowlogs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_without_store_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_gauges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_below_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_spoof_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_spoof_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_exporters_flat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_clocks_evicted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_runs_resealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claimed_partition_rows_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_set_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
