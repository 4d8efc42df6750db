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

/* ---- exporter clocks ---- */

static uint16_t
clock_index(struct w_ingest *in, const uint8_t addr[16], uint16_t port)
{
    for (size_t i = 0; i < in->nclocks; i++) {
        if (in->clocks[i].port == port && memcmp(in->clocks[i].addr, addr, 16) == 0) {
            return (uint16_t) i;
        }
    }
    if (in->nclocks == in->clocks_cap) {
        size_t cap = in->clocks_cap ? in->clocks_cap * 2 : 16;
        if (cap > UINT16_MAX) {
            return UINT16_MAX; /* untracked: it does not hold windows open */
        }
        struct w_clock *c = realloc(in->clocks, cap * sizeof(*c));
        if (c == NULL) {
            return UINT16_MAX;
        }
        in->clocks = c;
        in->clocks_cap = cap;
    }
    struct w_clock *c = &in->clocks[in->nclocks];
    memset(c, 0, sizeof(*c));
    memcpy(c->addr, addr, 16);
    c->port = port;
    return (uint16_t) in->nclocks++;
}

/* ---- windows and instances ---- */

static void
win_free(struct w_win *win)
{
    stor__rows_free(&win->waiting);
    stor__rows_free(&win->committing);
    free(win->inst);
    free(win);
}

/* Load a window's record from its partition, if both exist: a partition is created only by
 * a commit (commit.c), never by reading. */
static int
win_load(struct stor_env *env, struct w_win *win)
{
    struct stor_part *p;
    MDB_txn *txn;
    uint8_t k[STOR_KEY_WIN];
    MDB_val key = {STOR_KEY_WIN, k}, val;
    int rc = stor__part_get(env, stor__part_start(env, win->rec.start_s), false, &p);

    if (rc == STOR_E_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    stor__key_win(k, win->rec.flowlog, win->rec.start_s);
    pthread_rwlock_rdlock(&p->grow);
    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) == 0) {
        rc = mdb_get(txn, p->windows, &key, &val);
        if (rc == 0) {
            rc = stor__win_read(val.mv_data, val.mv_size, &win->rec);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        } else {
            rc = stor__err(rc);
        }
        mdb_txn_abort(txn);
    } else {
        rc = stor__err(rc);
    }
    pthread_rwlock_unlock(&p->grow);
    return rc;
}

static bool
inst_is(const struct stor_inst *s, const char *id, const uint8_t exporter[16], uint32_t domain)
{
    /* Identified by instance-id; without one, by exporter and domain. */
    return s->id[0] == id[0] && (id[0] == '\0' || strcmp(s->id, id) == 0) &&
           (id[0] != '\0' || (s->domain == domain && memcmp(s->exporter, exporter, 16) == 0));
}

static struct stor_inst *
inst_get(struct w_win *win, const char *id, const uint8_t exporter[16], uint32_t domain)
{
    if (win->last_inst < win->ninst && inst_is(&win->inst[win->last_inst], id, exporter, domain)) {
        return &win->inst[win->last_inst];
    }
    for (size_t i = 0; i < win->ninst; i++) {
        if (inst_is(&win->inst[i], id, exporter, domain)) {
            win->last_inst = i;
            return &win->inst[i];
        }
    }
    if (win->ninst >= STOR_INST_MAX) {
        return NULL;
    }
    struct stor_inst *a = realloc(win->inst, (win->ninst + 1) * sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    win->inst = a;
    struct stor_inst *s = &a[win->ninst++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    memcpy(s->exporter, exporter, 16);
    s->domain = domain;
    return s;
}

/* Remember an instance id a flow log has seen, so later windows can report NODATA for it. */
static void
known_add(struct w_ingest *in, uint16_t flowlog, const char *id)
{
    for (size_t i = 0; i < in->nknown; i++) {
        if (in->known[i].flowlog == flowlog && strcmp(in->known[i].id, id) == 0) {
            return;
        }
    }
    if (in->nknown >= STOR_INST_MAX) {
        return;
    }
    if (in->nknown == in->known_cap) {
        size_t cap = in->known_cap ? in->known_cap * 2 : 16;
        struct w_known *k = realloc(in->known, cap * sizeof(*k));
        if (k == NULL) {
            return;
        }
        in->known = k;
        in->known_cap = cap;
    }
    in->known[in->nknown].flowlog = flowlog;
    snprintf(in->known[in->nknown].id, FLOW_ID_MAX, "%s", id);
    in->nknown++;
}

/* A new window starts with every instance its flow log knows, none seen yet. */
static void
win_add_known(struct w_ingest *in, struct w_win *win, const struct stor_flowlog *def)
{
    static const uint8_t none[16];
    for (int i = 0; i < def->ninstances; i++) {
        inst_get(win, def->instances[i], none, 0);
    }
    for (size_t i = 0; i < in->nknown; i++) {
        if (in->known[i].flowlog == win->rec.flowlog) {
            inst_get(win, in->known[i].id, none, 0);
        }
    }
}

static struct w_win *
win_get(struct stor_env *env, struct w_ingest *in, uint16_t flowlog, uint32_t start,
        const struct stor_flowlog *def)
{
    struct w_win *win = in->last_win;
    if (win != NULL && win->rec.flowlog == flowlog && win->rec.start_s == start) {
        return win;
    }
    for (size_t i = 0; i < in->nwins; i++) {
        if (in->wins[i]->rec.flowlog == flowlog && in->wins[i]->rec.start_s == start) {
            return in->last_win = in->wins[i];
        }
    }
    if (in->nwins == in->wins_cap) {
        size_t cap = in->wins_cap ? in->wins_cap * 2 : 16;
        struct w_win **a = realloc(in->wins, cap * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        in->wins = a;
        in->wins_cap = cap;
    }
    win = calloc(1, sizeof(*win));
    if (win == NULL) {
        return NULL;
    }
    win->rec.flowlog = flowlog;
    win->rec.start_s = start;
    win->rec.window_s = def->window_s;
    win->waiting.per = env->cfg.block_records;
    win->committing.per = env->cfg.block_records;
    win_add_known(in, win, def);
    if (win_load(env, win) != 0) {
        win_free(win);
        return NULL;
    }
    in->wins[in->nwins++] = win;
    return in->last_win = win;
}

void
stor__ingest_drop_win(struct stor_writer *w, size_t i)
{
    struct w_ingest *in = &w->in;
    if (in->last_win == in->wins[i]) {
        in->last_win = NULL;
    }
    win_free(in->wins[i]);
    in->wins[i] = in->wins[--in->nwins];
}

static void
contrib_add(struct w_win *win, uint16_t clock)
{
    for (uint16_t i = 0; i < win->ncontrib; i++) {
        if (win->contrib[i] == clock) {
            return;
        }
    }
    if (win->ncontrib < sizeof(win->contrib) / sizeof(win->contrib[0]) && clock != UINT16_MAX) {
        win->contrib[win->ncontrib++] = clock;
    }
}

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
    cc->clock = clock_index(in, r->exporter, r->exporter_port);
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
    struct w_win *win = win_get(env, in, id, start, def);
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
    }
    contrib_add(win, clock);
    size_t had = win->ninst;
    struct stor_inst *s = inst_get(win, r->instance_id, r->exporter, r->domain);
    if (s != NULL) {
        s->seen = true;
    }
    if (win->ninst > had && r->instance_id[0] != '\0') {
        known_add(in, win->rec.flowlog, r->instance_id);
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
        struct w_win *win = gone ? NULL : win_get(env, in, in->route[j], start, def);
        struct stor_inst *s = win ? inst_get(win, m->instance_id, m->exporter, m->domain) : NULL;
        if (s != NULL) {
            s->missed += m->missed;
        }
        if (win != NULL) {
            contrib_add(win, clock);
        }
    }
}

/*
 * Move an exporter's clock to a header's export time, within bounds (W_CLOCK_SKEW_MS): never
 * past the receive time plus a small skew, and never by more than one window and its grace
 * in one message. A clamped header is counted (store-clock-clamped); the clock still moves
 * as far as the bounds let it, so a real jump (replay, an exporter back from an outage) is
 * caught up in a few messages.
 */
static void
clock_advance(const struct stor_cfg *cfg, struct w_ingest *in, struct w_clock *c,
              uint64_t export_ms, uint64_t recv_ms)
{
    uint64_t t = export_ms;
    uint64_t step_ms = (600u + (uint64_t) cfg->grace_s) * 1000u;
    if (t > recv_ms + W_CLOCK_SKEW_MS) {
        t = recv_ms + W_CLOCK_SKEW_MS;
    }
    if (c->clock_ms != 0 && t > c->clock_ms + step_ms) {
        t = c->clock_ms + step_ms;
    }
    in->counts.clock_clamped += t != export_ms;
    if (t > c->clock_ms) {
        c->clock_ms = t;
    }
}

/* Message notes: advance exporter clocks; put sequence loss on its window (SKIPDATA). */
static void
ingest_msgs(struct stor_env *env, struct w_ingest *in, const struct stor_batch *b)
{
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct stor_msg *m = &b->msgs[i];
        uint16_t c = clock_index(in, m->exporter, m->exporter_port);
        /* An implausible export time neither moves the exporter's clock nor opens a window. */
        uint64_t export_ms = implausible(&env->cfg, m->export_ms, b->recv_ms) ? 0 : m->export_ms;
        if (c != UINT16_MAX) {
            clock_advance(&env->cfg, in, &in->clocks[c], export_ms, b->recv_ms);
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

/* The open windows of one partition (an earlier run's), into the writer's table. */
static void
load_open_part(struct stor_env *env, struct stor_writer *w, struct stor_part *p)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;

    pthread_rwlock_rdlock(&p->grow); /* no map growth while the txn is open */
    if (mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn) != 0) {
        pthread_rwlock_unlock(&p->grow);
        return;
    }
    if (mdb_cursor_open(txn, p->windows, &cur) == 0) {
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            struct stor_win tmp = {0};
            uint16_t fl;
            uint32_t start;
            stor__key_parse(k.mv_data, k.mv_size, &fl, &start, NULL);
            if (stor__win_read(v.mv_data, v.mv_size, &tmp) != 0 || tmp.sealed) {
                continue;
            }
            const struct stor_flowlog *def = stor__ingest_def(w, fl);
            struct stor_flowlog any;
            if (def == NULL) {
                stor_flowlog_default(&any, "deleted");
                any.window_s = tmp.window_s;
                def = &any;
            }
            win_get(env, &w->in, fl, start, def);
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&p->grow);
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
        if (stor__part_get(env, starts[i], false, &p) == 0) {
            load_open_part(env, w, p);
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
#undef PUT
    atomic_store_explicit(&p->pending_records, w->in.pending, memory_order_relaxed);
    atomic_store_explicit(&p->seal_backlog, w->sh.jobs_out, memory_order_relaxed);
    atomic_store_explicit(&p->open_windows, w->in.nwins, memory_order_relaxed);
    atomic_store_explicit(&p->commit_failing, c->last_error != 0, memory_order_relaxed);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return (x > y) - (x < y);
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
            continue;
        }
        over = n == W_BUSY_MAX;
        if (!over) {
            w->sh.busy[n++] = s;
        }
    }
    qsort(w->sh.busy, n, sizeof(w->sh.busy[0]), cmp_u32);
    w->sh.nbusy = n;
    w->sh.busy_overflow = over;
}

void
stor__ingest_free(struct stor_writer *w)
{
    struct w_ingest *in = &w->in;
    for (size_t i = 0; i < in->nwins; i++) {
        win_free(in->wins[i]);
    }
    free(in->wins);
    free(in->known);
    free(in->clocks);
    free(in->defs);
    free(in->route);
}
