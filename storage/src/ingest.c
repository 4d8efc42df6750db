/* SPDX-License-Identifier: MIT */
/*
 * Ingest, on the writer thread only (struct w_ingest): each record of a batch is routed to
 * the flow logs that capture it and appended to the waiting rows of its capture window
 * (end time floor W); message notes advance their exporter's clock and put sequence loss on
 * the window's instance (SKIPDATA at sealing). Windows, exporter clocks and instances live
 * here until the window is sealed (seal.c decides when; commit.c writes the rows).
 *
 * Nothing here waits on another thread: windows are read from their partition (a read
 * transaction) only when first seen, and the only lock taken is mu, briefly, to publish
 * the partitions the writer holds windows in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writer_int.h"

/* ---- flow-log definitions ---- */

const struct stor_flowlog *
stor__ingest_def(const struct stor_writer *w, uint16_t id)
{
    static struct stor_flowlog builtin;
    if (id == 0) {
        if (builtin.window_s == 0) {
            stor_flowlog_default(&builtin, "default");
        }
        return &builtin;
    }
    for (size_t i = 0; i < w->in.ndefs; i++) {
        if (w->in.defs[i].id == id) {
            return &w->in.defs[i];
        }
    }
    return NULL;
}

static void
defs_refresh(struct stor_env *env, struct w_ingest *in)
{
    pthread_mutex_lock(&env->lock);
    if (env->defs_gen != in->defs_gen) {
        struct stor_flowlog *d = malloc((env->ndefs ? env->ndefs : 1) * sizeof(*d));
        if (d != NULL) {
            if (env->ndefs > 0) { /* env->defs is NULL with no flow log: memcpy wants non-NULL */
                memcpy(d, env->defs, env->ndefs * sizeof(*d));
            }
            free(in->defs);
            in->defs = d;
            in->ndefs = env->ndefs;
            in->defs_gen = env->defs_gen;
        }
    }
    pthread_mutex_unlock(&env->lock);
}

static void
label(struct flow_rec *r, const struct stor_flowlog *def)
{
    if (!(r->present & FLOW_HAS_ACCOUNT) && def->account_id[0] != '\0') {
        memcpy(r->account_id, def->account_id, FLOW_ID_MAX);
        r->present |= FLOW_HAS_ACCOUNT;
    }
    if (!(r->present & FLOW_HAS_INSTANCE) && def->instance_id[0] != '\0') {
        memcpy(r->instance_id, def->instance_id, FLOW_ID_MAX);
        r->present |= FLOW_HAS_INSTANCE;
    }
}

/* ---- records and message notes ---- */

/* The end time is too far from the receive time to be a clock: see stor_cfg.time_past_s. */
static bool
implausible(const struct stor_cfg *cfg, uint64_t end_ms, uint64_t recv_ms)
{
    uint64_t past_ms = (uint64_t) cfg->time_past_s * 1000u;
    uint64_t future_ms = (uint64_t) cfg->time_future_s * 1000u;
    return (past_ms != 0 && recv_ms > past_ms && end_ms < recv_ms - past_ms) ||
           (future_ms != 0 && end_ms > recv_ms + future_ms);
}

/* Put the record at its receive time, keeping its duration when that is a plausible one. */
static void
retime(struct flow_rec *r, uint64_t recv_ms)
{
    uint64_t dur = r->end_ms >= r->start_ms ? r->end_ms - r->start_ms : 0;
    r->end_ms = recv_ms;
    r->start_ms = dur <= 86400000u ? recv_ms - dur : recv_ms;
    r->flags |= FLOW_F_TIME_SKEW;
}

/* The exporter of the records being ingested, looked up once per change of exporter. */
struct clock_cache {
    uint16_t clock;
    const struct flow_rec *of;
};

static void
clock_touch(struct w_ingest *in, struct clock_cache *cc, const struct flow_rec *r,
            uint64_t recv_ms)
{
    if (cc->of != NULL && memcmp(cc->of->exporter, r->exporter, 16) == 0 &&
        cc->of->exporter_port == r->exporter_port) {
        return;
    }
    cc->clock = stor__clock_get(in, r->exporter, r->exporter_port);
    cc->of = r;
    if (cc->clock != UINT16_MAX) {
        in->clocks[cc->clock].heard_ms = recv_ms; /* heard from, header or not */
    }
}

/*
 * A window in a partition that retention has dropped, or would drop at once (its end is
 * retention_s before the receive time): its records are refused, so they never recreate a
 * dropped partition (or one the next pass deletes with them).
 */
bool
stor__ingest_expired(const struct stor_env *env, const struct stor_writer *w,
                     uint32_t win_start_s, uint64_t recv_ms)
{
    uint32_t part = stor__part_start(env, win_start_s);
    if (part < atomic_load_explicit(&w->sh.floor_s, memory_order_relaxed)) {
        return true;
    }
    uint64_t end_ms = ((uint64_t) part + env->cfg.partition_s) * 1000u;
    return env->cfg.retention_s != 0 && end_ms + (uint64_t) env->cfg.retention_s * 1000u <= recv_ms;
}

/* Append one record (or its copy for one of several flow logs) to its window. */
static void
add_to_window(struct stor_env *env, struct w_ingest *in, struct flow_rec *r,
              const struct stor_flowlog *def, uint16_t id, uint16_t clock, uint64_t recv_ms)
{
    uint32_t end_s = (uint32_t) (r->end_ms / 1000u);
    uint32_t start = end_s - end_s % def->window_s;
    if (stor__ingest_expired(env, env->w, start, recv_ms)) {
        in->counts.expired++;
        return;
    }
    struct w_win *win = stor__win_get(env, in, id, start, def);
    if (win == NULL || in->pending >= W_PENDING_MAX) {
        in->counts.records_dropped++;
        return;
    }
    r->flowlog = id;
    r->window = win->rec.start_s;
    label(r, def);
    if (stor__rows_add(&win->waiting, r) != 0) {
        in->counts.records_dropped++;
        return;
    }
    in->pending++;
    if (win->rec.sealed) {
        win->waiting_late++;
        in->counts.late++;
        win->late_first_ms = win->late_first_ms != 0 ? win->late_first_ms : recv_ms;
        win->late_last_ms = recv_ms;
    }
    stor__win_contrib_add(in, win, clock);
    size_t had = win->ninst;
    struct stor_inst *s = stor__win_inst(in, win, r->instance_id, r->exporter, r->domain);
    if (s != NULL) {
        s->seen = true;
    }
    if (win->ninst > had && r->instance_id[0] != '\0') {
        stor__known_add(in, win->rec.flowlog, r->instance_id);
    }
}

/* Retime a record whose exporter already has W_FANOUT_MAX other open windows (the windows
 * of the record's first flow log count). */
static void
fanout_bound(struct stor_env *env, struct w_ingest *in, struct flow_rec *r, uint16_t clock,
             uint64_t recv_ms)
{
    const struct stor_flowlog *def = stor__ingest_def(env->w, in->route[0]);
    if (clock == UINT16_MAX || def == NULL) {
        return;
    }
    uint32_t end_s = (uint32_t) (r->end_ms / 1000u), recv_s = (uint32_t) (recv_ms / 1000u);
    uint32_t start = end_s - end_s % def->window_s;
    if (start == recv_s - recv_s % def->window_s) {
        return; /* the receive time's window: always open to every exporter */
    }
    if (!stor__clock_fanout_ok(in, &in->clocks[clock], in->route[0], start)) {
        retime(r, recv_ms);
        in->counts.fanout_retimed++;
    }
}

static void
ingest_one(struct stor_env *env, struct w_ingest *in, struct flow_rec *r, struct clock_cache *cc,
           uint64_t recv_ms)
{
    if (implausible(&env->cfg, r->end_ms, recv_ms)) {
        retime(r, recv_ms);
        in->counts.time_skew++;
    }
    size_t n = stor__route(in->defs, in->ndefs, r, in->route, in->route_cap);
    if (n == 0) {
        in->counts.records_unrouted++;
        return;
    }
    clock_touch(in, cc, r, recv_ms);
    fanout_bound(env, in, r, cc->clock, recv_ms);
    for (size_t i = 0; i < n; i++) {
        const struct stor_flowlog *def = stor__ingest_def(env->w, in->route[i]);
        if (def == NULL) {
            continue;
        }
        /* The batch is the writer's now: one flow log (the usual case) labels in place. */
        struct flow_rec copy, *one = r;
        if (n > 1) {
            copy = *r;
            one = &copy;
        }
        add_to_window(env, in, one, def, in->route[i], cc->clock, recv_ms);
    }
    in->counts.records_in++;
}

/* Sequence loss reported by a message: on the instance of each window it routes to. */
static void
msg_missed(struct stor_env *env, struct w_ingest *in, const struct stor_msg *m, uint64_t t_ms,
           uint64_t recv_ms, uint16_t clock)
{
    struct flow_rec probe;
    memset(&probe, 0, offsetof(struct flow_rec, instance_id));
    memcpy(probe.exporter, m->exporter, 16);
    probe.exporter_port = m->exporter_port;
    probe.domain = m->domain;
    snprintf(probe.instance_id, FLOW_ID_MAX, "%s", m->instance_id);
    probe.snid[0] = probe.account_id[0] = '\0';
    size_t n = stor__route(in->defs, in->ndefs, &probe, in->route, in->route_cap);
    for (size_t j = 0; j < n; j++) {
        const struct stor_flowlog *def = stor__ingest_def(env->w, in->route[j]);
        uint32_t t = (uint32_t) (t_ms / 1000u);
        uint32_t start = def != NULL ? t - t % def->window_s : 0;
        bool gone = def == NULL || stor__ingest_expired(env, env->w, start, recv_ms);
        struct w_win *win = gone ? NULL : stor__win_get(env, in, in->route[j], start, def);
        struct stor_inst *s = win ? stor__win_inst(in, win, m->instance_id, m->exporter, m->domain) : NULL;
        if (s != NULL) {
            s->missed += m->missed;
        }
        if (win != NULL) {
            stor__win_contrib_add(in, win, clock);
        }
    }
}

/* Message notes: advance exporter clocks; put sequence loss on its window (SKIPDATA). */
static void
ingest_msgs(struct stor_env *env, struct w_ingest *in, const struct stor_batch *b)
{
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct stor_msg *m = &b->msgs[i];
        uint16_t c = stor__clock_get(in, m->exporter, m->exporter_port);
        /* An implausible export time neither moves the exporter's clock nor opens a window. */
        uint64_t export_ms = implausible(&env->cfg, m->export_ms, b->recv_ms) ? 0 : m->export_ms;
        if (c != UINT16_MAX) {
            stor__clock_advance(&env->cfg, in, &in->clocks[c], export_ms, b->recv_ms);
            in->clocks[c].heard_ms = b->recv_ms;
        }
        if (m->missed != 0) {
            msg_missed(env, in, m, export_ms != 0 ? export_ms : b->recv_ms, b->recv_ms, c);
        }
    }
}

/* Size the routing array for every definition: a record may go to all of them. Allocated at
 * start for max_flowlogs; grown only if a store holds more definitions than that. */
static void
route_size(struct w_ingest *in, size_t want)
{
    want = want > 0 ? want : 1;
    if (want <= in->route_cap) {
        return;
    }
    uint16_t *a = realloc(in->route, want * sizeof(*a));
    if (a != NULL) {
        in->route = a;
        in->route_cap = want;
    }
}

void
stor__ingest(struct stor_env *env, struct stor_writer *w, struct stor_batch *b)
{
    struct clock_cache cc = {UINT16_MAX, NULL};

    defs_refresh(env, &w->in);
    route_size(&w->in, w->in.ndefs);
    ingest_msgs(env, &w->in, b);
    for (size_t i = 0; i < b->n; i++) {
        ingest_one(env, &w->in, &b->recs[i], &cc, b->recv_ms);
    }
}

/* ---- start, publish, stop ---- */

/* Rows in the runs of window (fl, start): for a sealed window, its late rows. */
static uint64_t
run_rows(MDB_txn *txn, struct stor_part *p, uint16_t fl, uint32_t start)
{
    MDB_cursor *cur;
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    uint64_t rows = 0;

    if (mdb_cursor_open(txn, p->runs, &cur) != 0) {
        return 0;
    }
    stor__key_item(key, fl, start, 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint16_t f;
        uint32_t s, run;
        stor__key_parse(k.mv_data, k.mv_size, &f, &s, &run);
        long n = f == fl && s == start ? stor__block_count(v.mv_data, v.mv_size) : -1;
        if (n < 0) {
            break;
        }
        rows += (uint64_t) n;
    }
    mdb_cursor_close(cur);
    return rows;
}

/* A window of an earlier run into the writer's table: an open one to be sealed, a sealed one
 * with late runs to be resealed at once. */
static void
load_window(struct stor_env *env, struct stor_writer *w, MDB_txn *txn, struct stor_part *p,
            const MDB_val *k, const MDB_val *v)
{
    struct stor_win tmp = {0};
    uint16_t fl;
    uint32_t start;
    stor__key_parse(k->mv_data, k->mv_size, &fl, &start, NULL);
    if (stor__win_read(v->mv_data, v->mv_size, &tmp) != 0) {
        return;
    }
    uint64_t late = tmp.sealed ? run_rows(txn, p, fl, start) : 0;
    if (tmp.sealed && late == 0) {
        return;
    }
    const struct stor_flowlog *def = stor__ingest_def(w, fl);
    struct stor_flowlog any;
    if (def == NULL) {
        stor_flowlog_default(&any, "deleted");
        any.window_s = tmp.window_s;
        def = &any;
    }
    struct w_win *win = stor__win_get(env, &w->in, fl, start, def);
    if (win != NULL && !tmp.sealed) {
        win->relearn = true; /* its instances' seen marks were the earlier run's (seal.c) */
    }
    if (win != NULL && late > 0) {
        win->late_rows = late;
        win->late_first_ms = win->late_last_ms = 1; /* waited long enough */
        w->in.late_pending += late;
    }
}

/* The windows of one partition left by an earlier run, into the writer's table. */
static void
load_open_part(struct stor_env *env, struct stor_writer *w, struct stor_part *p)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;

    if (mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn) != 0) {
        return;
    }
    if (mdb_cursor_open(txn, p->windows, &cur) == 0) {
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            load_window(env, w, txn, p, &k, &v);
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
}

/* Windows left open by an earlier run of the store, so that they get sealed. */
void
stor__ingest_load_open(struct stor_env *env, struct stor_writer *w)
{
    defs_refresh(env, &w->in);
    size_t most = env->cfg.max_flowlogs;
    route_size(&w->in, most > w->in.ndefs ? most : w->in.ndefs);
    pthread_mutex_lock(&env->lock);
    size_t n = env->nparts;
    uint32_t *starts = malloc((n ? n : 1) * sizeof(*starts));
    for (size_t i = 0; starts != NULL && i < n; i++) {
        starts[i] = env->parts[i]->start_s;
    }
    pthread_mutex_unlock(&env->lock);
    for (size_t i = 0; starts != NULL && i < n; i++) {
        struct stor_part *p;
        if (stor__part_acquire(env, starts[i], false, &p) == 0) {
            load_open_part(env, w, p);
            stor__part_release(env, p);
        }
    }
    free(starts);
}

/* Copy the writer's counters and gauges to the atomics stor_stats_get reads (jobs_out is
 * changed only by the writer thread, so it reads it here without mu). */
void
stor__ingest_publish(struct stor_writer *w)
{
    const struct stor_stats *c = &w->in.counts;
    struct w_pub *p = &w->pub;
#define PUT(f) atomic_store_explicit(&p->f, c->f, memory_order_relaxed)
    PUT(records_in);
    PUT(records_stored);
    PUT(records_unrouted);
    PUT(records_dropped);
    PUT(late);
    PUT(time_skew);
    PUT(commits);
    PUT(seals);
    PUT(nodata);
    PUT(skipdata);
    PUT(full_errors);
    PUT(last_error);
    PUT(last_commit_ms);
    PUT(expired);
    PUT(fanout_retimed);
    PUT(clocks_evicted);
    PUT(clock_clamped);
    PUT(clocks_full);
    PUT(reseals);
    PUT(clock_resets);
#undef PUT
    atomic_store_explicit(&p->pending_records, w->in.pending, memory_order_relaxed);
    atomic_store_explicit(&p->seal_backlog, w->sh.jobs_out, memory_order_relaxed);
    atomic_store_explicit(&p->open_windows, w->in.nwins, memory_order_relaxed);
    atomic_store_explicit(&p->late_pending, w->in.late_pending, memory_order_relaxed);
    atomic_store_explicit(&p->commit_failing, c->last_error != 0, memory_order_relaxed);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return (x > y) - (x < y);
}

/* Sort busy[0..n) and drop repeats; the new count. */
static size_t
sort_unique(uint32_t *busy, size_t n)
{
    size_t k = 0;
    qsort(busy, n, sizeof(busy[0]), cmp_u32);
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || busy[k - 1] != busy[i]) {
            busy[k++] = busy[i];
        }
    }
    return k;
}

/* Publish the partitions the writer has windows in (caller holds mu; see w_shared.busy). */
void
stor__busy_publish(struct stor_env *env, struct stor_writer *w)
{
    size_t n = 0;
    bool over = false;
    for (size_t i = 0; i < w->in.nwins && !over; i++) {
        uint32_t s = stor__part_start(env, w->in.wins[i]->rec.start_s);
        if (n > 0 && w->sh.busy[n - 1] == s) {
            continue; /* the usual run of windows in one partition */
        }
        if (n == W_BUSY_MAX) {
            n = sort_unique(w->sh.busy, n);
            over = n == W_BUSY_MAX;
        }
        if (!over) {
            w->sh.busy[n++] = s;
        }
    }
    w->sh.nbusy = sort_unique(w->sh.busy, n);
    w->sh.busy_overflow = over;
}

void
stor__ingest_free(struct stor_writer *w)
{
    stor__wins_free(&w->in);
    stor__clocks_free(&w->in);
    free(w->in.defs);
    free(w->in.route);
}
