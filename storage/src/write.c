/* SPDX-License-Identifier: MIT */
/*
 * The writer: one thread that owns every write to the partitions.
 *
 * Callers take a batch from a fixed pool (stor_batch_get: never blocks; NULL when all are in
 * flight, and the caller counts the drop), fill it and submit it to a FIFO. The writer routes
 * each record to its flow logs and capture windows and appends it to the window's pending
 * rows; every commit_ms it hands the pending rows to the committer thread, which writes them
 * as "runs" (row blocks, rows.c) in one LMDB transaction per partition while the writer goes
 * on taking batches: a commit (its writev and fsync take 100+ ms under load) never stops
 * ingest. One commit is in flight at a time; the writer lands it (counts, seals, retention)
 * before it hands off the next. Aggregation happens once, when the window is sealed. Windows
 * are then sealed when due (seal.c):
 *
 *   due  = every exporter that sent records to the window, and is not silent (heard from
 *          within silent_s of wall clock), has an export clock past start + W + grace.
 *
 * Exporter clocks are the export times of message headers (stor_batch.msgs), so a replayed
 * or clock-skewed exporter seals on its own time; silent exporters stop holding windows open.
 *
 * When a commit fails for lack of space the pending rows stay in memory (bounded by
 * PENDING_MAX records; beyond that records are dropped and counted) and the commit is retried
 * on every tick, so ingest resumes by itself when space returns. MDB_MAP_FULL grows the map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "stor_int.h"

#define PENDING_MAX (4u << 20) /* records held in memory across failed commits */

struct stor_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* to the writer: work or a request */
    pthread_cond_t done; /* from the writer: a request finished */
    struct stor_batch *pool;
    struct stor_batch **free_list;
    size_t nfree;
    struct stor_batch **queue; /* ring of submitted batches */
    size_t qhead, qlen, qcap;
    bool stop;
    uint64_t submitted; /* batches submitted */
    uint64_t batches_dropped; /* stor_batch_get found none free */
    uint64_t taken;     /* batches the writer took from the queue */
    uint64_t synced;    /* `taken` as of the last successful commit */
    uint64_t begun;     /* commits begun */
    uint64_t attempts;  /* commits finished (in the order begun) */
    unsigned sync_waiters;
    bool seal_req;
    bool seal_force;
    uint64_t seal_now_ms;
    uint64_t seal_done; /* requests served */
    int last_rc; /* the last commit's result: commits only (seal failures are retried) */
    int seal_rc; /* the last stor_seal_due's result: its commit's, or its seals' */
    /* Writer-thread state below: touched only by the writer. */
    struct stor_flowlog *defs;
    size_t ndefs;
    uint32_t defs_gen;
    struct stor_win **wins;
    size_t nwins, wins_cap;
    struct stor_win *last_win;
    struct stor_exporter_clock *clocks;
    size_t nclocks, clocks_cap;
    size_t pending;       /* records in all windows' pending rows */
    struct stor_stats ws; /* counted here, published to env->stats under env->lock */
    pthread_t sealer;
    pthread_cond_t seal_wake;       /* to the sealer: a job, or stop */
    struct stor_seal_job *jobs;     /* queued for the sealer */
    struct stor_seal_job *finished; /* done by the sealer, for the writer to collect */
    size_t jobs_out;                /* handed over and not yet collected */
    bool sealer_stop;
    struct stor_known *known; /* instance ids each flow log has seen (for NODATA) */
    size_t nknown, known_cap;
    uint64_t last_commit_ms;
    /* The committer thread and the commit in flight. w->flight and the windows' flight rows
     * are the committer's from launch (commit_go) until it sets flight_done; the writer lands
     * the result. Windows whose commit failed stay in the list and are sent again. */
    pthread_t committer;
    pthread_cond_t commit_wake; /* to the committer: a commit to write, or stop */
    bool commit_go;
    bool committer_stop;
    bool flight_on;   /* launched and not landed (writer) */
    bool flight_done; /* the committer finished it (under mu) */
    struct stor_win **flight;
    size_t nflight, flight_cap;
    uint64_t flight_taken; /* w->taken when the rows were handed off */
    /* Results, written by the committer before flight_done. */
    int flight_rc;
    uint64_t flight_stored;
    uint64_t flight_commits;
};

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* ---- batches ---- */

struct stor_batch *
stor_batch_get(struct stor_env *env)
{
    struct stor_writer *w = env->w;
    struct stor_batch *b = NULL;

    /* Only w->mu, which nobody holds across I/O: the receive path never waits on storage
     * (env->lock is held while a partition is created). */
    pthread_mutex_lock(&w->mu);
    if (w->nfree > 0 && !w->stop) {
        b = w->free_list[--w->nfree];
    } else {
        w->batches_dropped++;
    }
    pthread_mutex_unlock(&w->mu);
    if (b == NULL) {
        return NULL;
    }
    b->n = 0;
    b->nmsgs = 0;
    b->recv_ms = 0;
    return b;
}

void
stor_batch_put(struct stor_env *env, struct stor_batch *b)
{
    struct stor_writer *w = env->w;
    pthread_mutex_lock(&w->mu);
    w->free_list[w->nfree++] = b;
    pthread_mutex_unlock(&w->mu);
}

void
stor_batch_submit(struct stor_env *env, struct stor_batch *b)
{
    struct stor_writer *w = env->w;
    if (b->recv_ms == 0) {
        b->recv_ms = wall_ms();
    }
    pthread_mutex_lock(&w->mu);
    /* The ring holds every batch of the pool, so there is always room. */
    w->queue[(w->qhead + w->qlen) % w->qcap] = b;
    w->qlen++;
    w->submitted++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

/* ---- exporter clocks and windows ---- */

static uint16_t
clock_index(struct stor_writer *w, const uint8_t addr[16], uint16_t port)
{
    for (size_t i = 0; i < w->nclocks; i++) {
        if (w->clocks[i].port == port && memcmp(w->clocks[i].addr, addr, 16) == 0) {
            return (uint16_t) i;
        }
    }
    if (w->nclocks == w->clocks_cap) {
        size_t cap = w->clocks_cap ? w->clocks_cap * 2 : 16;
        if (cap > UINT16_MAX) {
            return UINT16_MAX; /* untracked: it does not hold windows open */
        }
        struct stor_exporter_clock *c = realloc(w->clocks, cap * sizeof(*c));
        if (c == NULL) {
            return UINT16_MAX;
        }
        w->clocks = c;
        w->clocks_cap = cap;
    }
    struct stor_exporter_clock *c = &w->clocks[w->nclocks];
    memset(c, 0, sizeof(*c));
    memcpy(c->addr, addr, 16);
    c->port = port;
    return (uint16_t) w->nclocks++;
}

static void
win_free(struct stor_win *win)
{
    stor__rows_free(&win->pend);
    stor__rows_free(&win->flight);
    free(win->inst);
    free(win);
}

/* Load a window's record from its partition, if it has one. */
static int
win_load(struct stor_env *env, struct stor_win *win)
{
    struct stor_part *p;
    MDB_txn *txn;
    uint8_t k[STOR_KEY_WIN];
    MDB_val key = {STOR_KEY_WIN, k}, val;
    int rc = stor__part_get(env, stor__part_start(env, win->start_s), true, &p);

    if (rc != 0) {
        return rc;
    }
    stor__key_win(k, win->flowlog, win->start_s);
    pthread_rwlock_rdlock(&p->grow);
    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) == 0) {
        rc = mdb_get(txn, p->windows, &key, &val);
        if (rc == 0) {
            rc = stor__win_read(val.mv_data, val.mv_size, win);
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

static struct stor_inst *inst_get(struct stor_win *win, const char *id, const uint8_t exporter[16],
                                  uint32_t domain);

/* Remember an instance id a flow log has seen, so later windows can report NODATA for it. */
static void
known_add(struct stor_writer *w, uint16_t flowlog, const char *id)
{
    for (size_t i = 0; i < w->nknown; i++) {
        if (w->known[i].flowlog == flowlog && strcmp(w->known[i].id, id) == 0) {
            return;
        }
    }
    if (w->nknown >= STOR_INST_MAX) {
        return;
    }
    if (w->nknown == w->known_cap) {
        size_t cap = w->known_cap ? w->known_cap * 2 : 16;
        struct stor_known *k = realloc(w->known, cap * sizeof(*k));
        if (k == NULL) {
            return;
        }
        w->known = k;
        w->known_cap = cap;
    }
    w->known[w->nknown].flowlog = flowlog;
    snprintf(w->known[w->nknown].id, FLOW_ID_MAX, "%s", id);
    w->nknown++;
}

/* A new window starts with every instance its flow log knows, none seen yet. */
static void
win_known(struct stor_writer *w, struct stor_win *win, const struct stor_flowlog *def)
{
    static const uint8_t none[16];
    for (int i = 0; i < def->ninstances; i++) {
        inst_get(win, def->instances[i], none, 0);
    }
    for (size_t i = 0; i < w->nknown; i++) {
        if (w->known[i].flowlog == win->flowlog) {
            inst_get(win, w->known[i].id, none, 0);
        }
    }
}

static struct stor_win *
win_get(struct stor_env *env, struct stor_writer *w, uint16_t flowlog, uint32_t start,
        const struct stor_flowlog *def)
{
    struct stor_win *win = w->last_win;
    if (win != NULL && win->flowlog == flowlog && win->start_s == start) {
        return win;
    }
    for (size_t i = 0; i < w->nwins; i++) {
        if (w->wins[i]->flowlog == flowlog && w->wins[i]->start_s == start) {
            return w->last_win = w->wins[i];
        }
    }
    if (w->nwins == w->wins_cap) {
        size_t cap = w->wins_cap ? w->wins_cap * 2 : 16;
        struct stor_win **a = realloc(w->wins, cap * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        w->wins = a;
        w->wins_cap = cap;
    }
    win = calloc(1, sizeof(*win));
    if (win == NULL) {
        return NULL;
    }
    win->flowlog = flowlog;
    win->start_s = start;
    win->window_s = def->window_s;
    win->pend.per = env->cfg.block_records;
    win->flight.per = env->cfg.block_records;
    win_known(w, win, def);
    if (win_load(env, win) != 0) {
        win_free(win);
        return NULL;
    }
    w->wins[w->nwins++] = win;
    return w->last_win = win;
}

static void
win_drop(struct stor_writer *w, size_t i)
{
    if (w->last_win == w->wins[i]) {
        w->last_win = NULL;
    }
    win_free(w->wins[i]);
    w->wins[i] = w->wins[--w->nwins];
}

static bool
inst_is(const struct stor_inst *s, const char *id, const uint8_t exporter[16], uint32_t domain)
{
    /* Identified by instance-id; without one, by exporter and domain. */
    return s->id[0] == id[0] && (id[0] == '\0' || strcmp(s->id, id) == 0) &&
           (id[0] != '\0' || (s->domain == domain && memcmp(s->exporter, exporter, 16) == 0));
}

static struct stor_inst *
inst_get(struct stor_win *win, const char *id, const uint8_t exporter[16], uint32_t domain)
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

/* ---- ingest ---- */

static const struct stor_flowlog *
def_of(const struct stor_writer *w, uint16_t id)
{
    static struct stor_flowlog builtin;
    if (id == 0) {
        if (builtin.window_s == 0) {
            stor_flowlog_default(&builtin, "default");
        }
        return &builtin;
    }
    for (size_t i = 0; i < w->ndefs; i++) {
        if (w->defs[i].id == id) {
            return &w->defs[i];
        }
    }
    return NULL;
}

static void
defs_refresh(struct stor_env *env, struct stor_writer *w)
{
    pthread_mutex_lock(&env->lock);
    if (env->defs_gen != w->defs_gen) {
        struct stor_flowlog *d = malloc((env->ndefs ? env->ndefs : 1) * sizeof(*d));
        if (d != NULL) {
            if (env->ndefs > 0) { /* env->defs is NULL with no flow log: memcpy wants non-NULL */
                memcpy(d, env->defs, env->ndefs * sizeof(*d));
            }
            free(w->defs);
            w->defs = d;
            w->ndefs = env->ndefs;
            w->defs_gen = env->defs_gen;
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

static void
contrib_add(struct stor_win *win, uint16_t clock)
{
    for (uint16_t i = 0; i < win->ncontrib; i++) {
        if (win->contrib[i] == clock) {
            return;
        }
    }
    if (win->ncontrib < STOR_CONTRIB_MAX && clock != UINT16_MAX) {
        win->contrib[win->ncontrib++] = clock;
    }
}

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

static void
ingest_one(struct stor_env *env, struct stor_writer *w, struct flow_rec *in, uint16_t *clock_cache,
           const struct flow_rec **clock_of, uint64_t recv_ms)
{
    uint16_t ids[8];

    if (implausible(&env->cfg, in->end_ms, recv_ms)) {
        retime(in, recv_ms);
        w->ws.time_skew++;
    }
    size_t n = stor__route(w->defs, w->ndefs, in, ids, 8);
    if (n == 0) {
        w->ws.records_unrouted++;
        return;
    }
    if (*clock_of == NULL || memcmp((*clock_of)->exporter, in->exporter, 16) != 0 ||
        (*clock_of)->exporter_port != in->exporter_port) {
        *clock_cache = clock_index(w, in->exporter, in->exporter_port);
        *clock_of = in;
        if (*clock_cache != UINT16_MAX) {
            w->clocks[*clock_cache].wall_ms = recv_ms; /* heard from, header or not */
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct stor_flowlog *def = def_of(w, ids[i]);
        if (def == NULL) {
            continue;
        }
        uint32_t end_s = (uint32_t) (in->end_ms / 1000u);
        struct stor_win *win = win_get(env, w, ids[i], end_s - end_s % def->window_s, def);
        if (win == NULL || w->pending >= PENDING_MAX) {
            w->ws.records_dropped++;
            continue;
        }
        /* The batch is the writer's now: one flow log (the usual case) labels in place. */
        struct flow_rec copy, *r = in;
        if (n > 1) {
            copy = *in;
            r = &copy;
        }
        r->flowlog = ids[i];
        r->window = win->start_s;
        label(r, def);
        if (stor__rows_add(&win->pend, r) != 0) {
            w->ws.records_dropped++;
            continue;
        }
        w->pending++;
        if (win->sealed) {
            win->pend_late++;
            w->ws.late++;
        }
        contrib_add(win, *clock_cache);
        size_t had = win->ninst;
        struct stor_inst *s = inst_get(win, r->instance_id, r->exporter, r->domain);
        if (s != NULL) {
            s->seen = true;
        }
        if (win->ninst > had && r->instance_id[0] != '\0') {
            known_add(w, win->flowlog, r->instance_id);
        }
    }
    w->ws.records_in++;
}

/* Message notes: advance exporter clocks; put sequence loss on its window (SKIPDATA). */
static void
ingest_msgs(struct stor_env *env, struct stor_writer *w, const struct stor_batch *b)
{
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct stor_msg *m = &b->msgs[i];
        uint16_t c = clock_index(w, m->exporter, m->exporter_port);
        /* An implausible export time neither moves the exporter's clock nor opens a window. */
        uint64_t export_ms = implausible(&env->cfg, m->export_ms, b->recv_ms) ? 0 : m->export_ms;
        if (c != UINT16_MAX) {
            if (export_ms > w->clocks[c].clock_ms) {
                w->clocks[c].clock_ms = export_ms;
            }
            w->clocks[c].wall_ms = b->recv_ms;
        }
        if (m->missed == 0) {
            continue;
        }
        struct flow_rec probe;
        memset(&probe, 0, offsetof(struct flow_rec, instance_id));
        memcpy(probe.exporter, m->exporter, 16);
        probe.exporter_port = m->exporter_port;
        probe.domain = m->domain;
        snprintf(probe.instance_id, FLOW_ID_MAX, "%s", m->instance_id);
        probe.snid[0] = probe.account_id[0] = '\0';
        uint16_t ids[8];
        size_t n = stor__route(w->defs, w->ndefs, &probe, ids, 8);
        for (size_t j = 0; j < n; j++) {
            const struct stor_flowlog *def = def_of(w, ids[j]);
            uint32_t t = (uint32_t) ((export_ms != 0 ? export_ms : b->recv_ms) / 1000u);
            struct stor_win *win = def ? win_get(env, w, ids[j], t - t % def->window_s, def) : NULL;
            struct stor_inst *s =
                win ? inst_get(win, m->instance_id, m->exporter, m->domain) : NULL;
            if (s != NULL) {
                s->missed += m->missed;
            }
            if (win != NULL) {
                contrib_add(win, c);
            }
        }
    }
}

static void
ingest(struct stor_env *env, struct stor_writer *w, struct stor_batch *b)
{
    uint16_t clock = UINT16_MAX;
    const struct flow_rec *clock_of = NULL;

    defs_refresh(env, w);
    ingest_msgs(env, w, b);
    for (size_t i = 0; i < b->n; i++) {
        ingest_one(env, w, &b->recs[i], &clock, &clock_of, b->recv_ms);
    }
}

/* ---- commit (the committer thread) ---- */

/*
 * Add this commit's runs to the window record: read-modify-write, since the sealer thread
 * rewrites the record of a window it seals (and the writer keeps adding late runs to it).
 */
static int
win_update(MDB_txn *txn, struct stor_part *p, const struct stor_win *win, uint32_t next_run,
           uint64_t run_bytes)
{
    struct stor_win db = {.window_s = win->window_s};
    uint8_t k[STOR_KEY_WIN], v[STOR_WIN_BYTES];
    MDB_val key = {STOR_KEY_WIN, k}, val;
    int rc;

    stor__key_win(k, win->flowlog, win->start_s);
    if ((rc = mdb_get(txn, p->windows, &key, &val)) == 0) {
        if ((rc = stor__win_read(val.mv_data, val.mv_size, &db)) != 0) {
            return rc;
        }
    } else if (rc != MDB_NOTFOUND) {
        return stor__err(rc);
    }
    db.next_run = next_run;
    db.rows += win->flight.n;
    db.received += win->flight.n;
    db.late += win->flight_late;
    db.bytes += run_bytes;
    stor__win_write(&db, v);
    val.mv_size = STOR_WIN_BYTES;
    val.mv_data = v;
    return stor__err(mdb_put(txn, p->windows, &key, &val, 0));
}

/* The window's rows in flight as run blocks numbered from *next_run; adds their bytes. Each
 * block is written straight into the space LMDB reserves for it. */
static int
put_runs(MDB_txn *txn, struct stor_part *p, const struct stor_win *win, uint32_t *next_run,
         uint64_t *bytes)
{
    uint8_t key[STOR_KEY_ITEM];

    for (size_t c = 0; c < win->flight.ncut; c++) {
        stor__key_item(key, win->flowlog, win->start_s, *next_run);
        MDB_val k = {STOR_KEY_ITEM, key}, v = {stor__rows_block_len(&win->flight, c), NULL};
        int rc = mdb_put(txn, p->runs, &k, &v, MDB_RESERVE);
        if (rc != 0) {
            return stor__err(rc);
        }
        stor__rows_block_write(&win->flight, c, v.mv_data);
        (*next_run)++;
        *bytes += v.mv_size;
    }
    return 0;
}

/* Write the rows in flight of the windows in partition p; one transaction. */
static int
commit_part(struct stor_env *env, struct stor_writer *w, struct stor_part *p)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(p->mdb, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    for (size_t i = 0; i < w->nflight && rc == 0; i++) {
        struct stor_win *win = w->flight[i];
        if (win->flight.n == 0 || stor__part_start(env, win->start_s) != p->start_s) {
            continue;
        }
        uint32_t next_run = win->next_run;
        uint64_t bytes = 0;
        rc = put_runs(txn, p, win, &next_run, &bytes);
        if (rc == 0) {
            rc = win_update(txn, p, win, next_run, bytes);
        }
        win->commit_next_run = next_run; /* applied by commit_done() */
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc < 0 ? rc : stor__err(rc);
    }
    return stor__err(mdb_txn_commit(txn));
}

/* Partition p committed: its windows' rows are stored. */
static void
commit_done(struct stor_env *env, struct stor_writer *w, uint32_t part_start)
{
    for (size_t i = 0; i < w->nflight; i++) {
        struct stor_win *win = w->flight[i];
        if (win->flight.n == 0 || stor__part_start(env, win->start_s) != part_start) {
            continue;
        }
        win->next_run = win->commit_next_run;
        w->flight_stored += win->flight.n;
        win->flight_late = 0;
        stor__rows_clear(&win->flight);
    }
}

/* Commit every window in flight, one transaction per partition. 0, or the first error (the
 * rows not committed stay in flight, to be sent again). */
static int
commit_flight(struct stor_env *env, struct stor_writer *w)
{
    int rc = 0;

    for (size_t i = 0; i < w->nflight && rc == 0; i++) {
        struct stor_win *win = w->flight[i];
        if (win->flight.n == 0) {
            continue;
        }
        struct stor_part *p;
        if ((rc = stor__part_get(env, stor__part_start(env, win->start_s), true, &p)) != 0) {
            break;
        }
        pthread_rwlock_rdlock(&p->grow);
        rc = commit_part(env, w, p);
        pthread_rwlock_unlock(&p->grow);
        if (rc == STOR_E_FULL && stor__part_grow(p, env->cfg.map_max_bytes) == 0) {
            rc = 0; /* the map was full, not the disk: retry this one */
            i--;
            continue;
        }
        if (rc == 0) {
            commit_done(env, w, p->start_s);
            w->flight_commits++;
        }
    }
    return rc;
}

static void *
committer_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->commit_go && !w->committer_stop) {
            pthread_cond_wait(&w->commit_wake, &w->mu);
        }
        if (!w->commit_go) {
            break;
        }
        w->commit_go = false;
        pthread_mutex_unlock(&w->mu);
        w->flight_stored = 0;
        w->flight_commits = 0;
        int rc = commit_flight(env, w);
        pthread_mutex_lock(&w->mu);
        w->flight_rc = rc;
        w->flight_done = true;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- commit (the writer's side) ---- */

/* Copy the writer's counters to env->stats, where stor_stats_get reads them. */
static void
publish(struct stor_env *env, struct stor_writer *w)
{
    pthread_mutex_lock(&env->lock);
    uint64_t drops = env->stats.partitions_dropped; /* counted by retention, under env->lock */
    env->stats = w->ws;
    env->stats.partitions_dropped = drops;
    pthread_mutex_unlock(&env->lock);
}

/*
 * Hand the pending rows of every window to the committer (or, after a failed commit, the
 * rows that failed: new rows wait behind them). Returns false when there is nothing to do.
 */
static bool
launch(struct stor_writer *w)
{
    bool fresh = w->nflight == 0;

    if (fresh) {
        for (size_t i = 0; i < w->nwins; i++) {
            struct stor_win *win = w->wins[i];
            if (win->pend.n == 0) {
                continue;
            }
            if (w->nflight == w->flight_cap) {
                size_t cap = w->flight_cap ? w->flight_cap * 2 : 16;
                struct stor_win **a = realloc(w->flight, cap * sizeof(*a));
                if (a == NULL) {
                    break; /* the rest go with the next commit */
                }
                w->flight = a;
                w->flight_cap = cap;
            }
            struct stor_rows t = win->flight; /* empty: swap to keep both buffers' memory */
            win->flight = win->pend;
            win->pend = t;
            win->flight_late = win->pend_late;
            win->pend_late = 0;
            w->flight[w->nflight++] = win;
        }
        if (w->nflight == 0) {
            return false;
        }
    }
    pthread_mutex_lock(&w->mu);
    if (fresh) {
        w->flight_taken = w->taken; /* every batch taken so far is in these rows */
    }
    w->begun++;
    w->flight_on = true;
    w->flight_done = false;
    w->commit_go = true;
    pthread_cond_signal(&w->commit_wake);
    pthread_mutex_unlock(&w->mu);
    return true;
}
static void seal_due(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool force);
static int seal_collect(struct stor_writer *w);
static void retention(struct stor_env *env, struct stor_writer *w, uint64_t now_ms);

/*
 * Between commits: hand due windows to the sealer, take its finished jobs, retention. A seal
 * that failed left its window's runs as they were and reopened it (seal_collect), so it is
 * sealed again on a later pass: its error is not a commit's, and stor_sync does not see it.
 */
static void
periodic(struct stor_env *env, struct stor_writer *w, uint64_t now_ms)
{
    seal_due(env, w, now_ms, false);
    seal_collect(w);
    retention(env, w, now_ms);
}

/*
 * The commit in flight has finished (flight_done seen under mu): count it, forget the windows
 * whose rows are stored, and do the periodic work that must not overlap a commit (handing
 * due windows to the sealer reads next_run; retention and compaction drop and copy
 * partitions). Returns the commit's result.
 */
static int
land(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool seal)
{
    int rc = w->flight_rc;
    size_t keep = 0;

    w->pending -= w->flight_stored;
    w->ws.records_stored += w->flight_stored;
    w->ws.commits += w->flight_commits;
    if (w->flight_commits > 0) {
        w->ws.last_commit_ms = wall_ms();
    }
    for (size_t i = 0; i < w->nflight; i++) {
        if (w->flight[i]->flight.n > 0) {
            w->flight[keep++] = w->flight[i]; /* failed: sent again */
        }
    }
    w->nflight = keep;
    w->ws.full_errors += rc == STOR_E_FULL || rc == STOR_E_IO;
    w->ws.last_error = rc;
    if (rc == 0 && seal) {
        periodic(env, w, now_ms);
    }
    publish(env, w);
    pthread_mutex_lock(&w->mu);
    w->flight_on = false;
    w->attempts++;
    w->last_rc = rc;
    if (w->flight_rc == 0) {
        w->synced = w->flight_taken;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Wait for the commit in flight, if any, and land it (without the periodic work). */
static int
flight_wait(struct stor_env *env, struct stor_writer *w)
{
    if (!w->flight_on) {
        return 0;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->flight_done) {
        pthread_cond_wait(&w->wake, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return land(env, w, 0, false);
}

/* Commit everything taken so far and wait for it (stor_seal_due, shutdown). */
static int
commit_sync(struct stor_env *env, struct stor_writer *w)
{
    int rc = flight_wait(env, w);
    if (rc == 0 && launch(w)) {
        rc = flight_wait(env, w);
    }
    return rc;
}


/* ---- sealing ---- */

static bool
due(const struct stor_env *env, const struct stor_writer *w, const struct stor_win *win,
    uint64_t now_ms)
{
    uint64_t close_ms = ((uint64_t) win->start_s + win->window_s + env->cfg.grace_s) * 1000u;
    uint64_t silent_ms = (uint64_t) env->cfg.silent_s * 1000u;

    if (win->ncontrib == 0) {
        return now_ms >= close_ms; /* no exporter to ask: wall clock */
    }
    for (uint16_t i = 0; i < win->ncontrib; i++) {
        const struct stor_exporter_clock *c = &w->clocks[win->contrib[i]];
        if (c->wall_ms + silent_ms <= now_ms) {
            continue; /* fell silent: it no longer holds the window open */
        }
        /* An exporter that sends no header times is taken at wall-clock time. */
        uint64_t clock = c->clock_ms != 0 ? c->clock_ms : now_ms;
        if (clock < close_ms) {
            return false;
        }
    }
    return true;
}

/* ---- the sealer thread ---- */

static void *
sealer_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;
    struct stor_agg scratch; /* kept from seal to seal so its memory is touched once */

    stor__agg_init(&scratch, true);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->jobs == NULL && !w->sealer_stop) {
            pthread_cond_wait(&w->seal_wake, &w->mu);
        }
        struct stor_seal_job *job = w->jobs;
        if (job == NULL) {
            break; /* stopping, nothing queued */
        }
        w->jobs = job->next;
        bool stopping = w->sealer_stop;
        pthread_mutex_unlock(&w->mu);
        job->rc = stopping ? STOR_E_CLOSED : stor__seal_job(env, job, &scratch);
        if (scratch.cap > PENDING_MAX) {
            stor__agg_free(&scratch); /* an unusually big window: give the memory back */
            stor__agg_init(&scratch, true);
        }
        pthread_mutex_lock(&w->mu);
        job->next = w->finished;
        w->finished = job;
        pthread_cond_signal(&w->wake);
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
    stor__agg_free(&scratch);
    return NULL;
}

static struct stor_seal_job *
job_make(const struct stor_writer *w, const struct stor_win *win)
{
    struct stor_seal_job *job = calloc(1, sizeof(*job));
    const struct stor_flowlog *def = def_of(w, win->flowlog);

    if (job == NULL) {
        return NULL;
    }
    job->inst = malloc((win->ninst ? win->ninst : 1) * sizeof(*job->inst));
    if (job->inst == NULL) {
        free(job);
        return NULL;
    }
    if (win->ninst > 0) {
        memcpy(job->inst, win->inst, win->ninst * sizeof(*job->inst));
    }
    job->ninst = win->ninst;
    job->flowlog = win->flowlog;
    job->start_s = win->start_s;
    job->window_s = win->window_s;
    job->aggregate = def == NULL || def->aggregate; /* a deleted flow log: default behaviour */
    job->max_run = win->next_run;
    return job;
}

/* Hand every due window (its pending rows committed) to the sealer. */
static void
seal_due(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool force)
{
    for (size_t i = 0; i < w->nwins;) {
        struct stor_win *win = w->wins[i];
        if (win->sealing || win->pend.n > 0 || win->flight.n > 0 ||
            !(force || win->sealed || due(env, w, win, now_ms))) {
            i++;
            continue;
        }
        if (win->sealed) {
            win_drop(w, i); /* late rows committed: late records load it again */
            continue;
        }
        struct stor_seal_job *job = job_make(w, win);
        if (job == NULL) {
            i++;
            continue; /* tried again next pass */
        }
        win->sealing = true;
        win->sealed = true; /* what arrives now is late: runs at or after max_run */
        pthread_mutex_lock(&w->mu);
        struct stor_seal_job **tail = &w->jobs;
        while (*tail != NULL) {
            tail = &(*tail)->next;
        }
        *tail = job;
        w->jobs_out++;
        pthread_cond_signal(&w->seal_wake);
        pthread_mutex_unlock(&w->mu);
        i++;
    }
}

/* Take the sealer's finished jobs: count them, forget sealed windows, reopen failed ones. */
static int
seal_collect(struct stor_writer *w)
{
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    struct stor_seal_job *done = w->finished;
    w->finished = NULL;
    pthread_mutex_unlock(&w->mu);
    while (done != NULL) {
        struct stor_seal_job *job = done;
        done = job->next;
        for (size_t i = 0; i < w->nwins; i++) {
            struct stor_win *win = w->wins[i];
            if (win->flowlog != job->flowlog || win->start_s != job->start_s) {
                continue;
            }
            win->sealing = false;
            if (job->rc != 0) {
                win->sealed = false; /* its runs are intact: sealed again later */
            } else if (win->pend.n == 0 && win->flight.n == 0) {
                win_drop(w, i);
            }
            break;
        }
        if (job->rc == 0) {
            w->ws.seals++;
            w->ws.nodata += job->nodata;
            w->ws.skipdata += job->skipdata;
        } else if (rc == 0) {
            rc = job->rc;
        }
        pthread_mutex_lock(&w->mu);
        w->jobs_out--;
        pthread_mutex_unlock(&w->mu);
        free(job->inst);
        free(job);
    }
    return rc;
}

/* Wait until the sealer has finished every job handed to it (stor_seal_due, shutdown). */
static int
seal_drain(struct stor_writer *w)
{
    int rc = 0;
    for (;;) {
        int r = seal_collect(w);
        rc = rc != 0 ? rc : r;
        pthread_mutex_lock(&w->mu);
        bool idle = w->jobs_out == 0;
        if (!idle && w->finished == NULL) {
            pthread_cond_wait(&w->done, &w->mu);
        }
        pthread_mutex_unlock(&w->mu);
        if (idle) {
            return rc;
        }
    }
}

/* Windows left open by an earlier run of the store, so that they get sealed. */
static void
load_open_windows(struct stor_env *env, struct stor_writer *w)
{
    pthread_mutex_lock(&env->lock);
    size_t n = env->nparts;
    uint32_t *starts = malloc((n ? n : 1) * sizeof(*starts));
    for (size_t i = 0; starts != NULL && i < n; i++) {
        starts[i] = env->parts[i]->start_s;
    }
    pthread_mutex_unlock(&env->lock);
    for (size_t i = 0; starts != NULL && i < n; i++) {
        struct stor_part *p;
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        if (stor__part_get(env, starts[i], false, &p) != 0) {
            continue;
        }
        pthread_rwlock_rdlock(&p->grow); /* no map growth while the txn is open */
        if (mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn) != 0) {
            pthread_rwlock_unlock(&p->grow);
            continue;
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
                const struct stor_flowlog *def = def_of(w, fl);
                struct stor_flowlog any;
                if (def == NULL) {
                    stor_flowlog_default(&any, "deleted");
                    any.window_s = tmp.window_s;
                    def = &any;
                }
                win_get(env, w, fl, start, def);
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&p->grow);
    }
    free(starts);
}

/* ---- retention ---- */

static bool
has_open_windows(const struct stor_env *env, const struct stor_writer *w, uint32_t part_start)
{
    for (size_t i = 0; i < w->nwins; i++) {
        if (stor__part_start(env, w->wins[i]->start_s) == part_start) {
            return true;
        }
    }
    return false;
}

static uint64_t
file_bytes(const struct stor_env *env, uint32_t start_s)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", env->dir, start_s);
    return stat(path, &st) == 0 ? (uint64_t) st.st_blocks * 512u : 0;
}

/*
 * Drop whole partitions: those that ended more than retention_s ago, then the oldest while
 * the store is above max_bytes (never the newest, nor one the writer still has windows in).
 * A dropped partition's file is deleted as soon as no snapshot reads it.
 */
/*
 * Compact partitions that no longer receive normal writes (their last window sealed a grace
 * period ago) once their files are mostly free pages: one per pass, to bound the pause.
 */
static void
compact_old(struct stor_env *env, struct stor_writer *w, uint64_t now_ms)
{
    uint64_t settle_s = 600u + env->cfg.grace_s + env->cfg.silent_s;
    pthread_mutex_lock(&env->lock);
    size_t n = env->nparts;
    struct stor_part *cand[256];
    size_t nc = 0;
    for (size_t i = 0; i < n && nc < 256; i++) {
        struct stor_part *p = env->parts[i];
        uint64_t end_s = (uint64_t) p->start_s + env->cfg.partition_s;
        if (!p->doomed && !p->compact_checked && (end_s + settle_s) * 1000u <= now_ms) {
            cand[nc++] = p;
        }
    }
    pthread_mutex_unlock(&env->lock);
    for (size_t i = 0; i < nc; i++) {
        if (has_open_windows(env, w, cand[i]->start_s)) {
            continue;
        }
        int rc = stor__part_compact(env, cand[i]);
        if (rc >= 0) {
            pthread_mutex_lock(&env->lock);
            cand[i]->compact_checked = rc == 1 || cand[i]->refs == 0;
            pthread_mutex_unlock(&env->lock);
        }
        if (rc == 1) {
            w->ws.compactions++;
            break;
        }
    }
}

static void
retention(struct stor_env *env, struct stor_writer *w, uint64_t now_ms)
{
    compact_old(env, w, now_ms);
    if (env->cfg.retention_s == 0 && env->cfg.max_bytes == 0) {
        return;
    }
    pthread_mutex_lock(&env->lock);
    size_t n = env->nparts;
    uint64_t total = 0;
    uint64_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
    for (size_t i = 0; sizes != NULL && i < n; i++) {
        sizes[i] = env->parts[i]->doomed ? 0 : file_bytes(env, env->parts[i]->start_s);
        total += sizes[i];
    }
    struct stor_part *drop[64];
    size_t ndrop = 0;
    for (size_t i = 0; sizes != NULL && i + 1 < n && ndrop < 64; i++) {
        struct stor_part *p = env->parts[i];
        uint64_t end_ms = ((uint64_t) p->start_s + env->cfg.partition_s) * 1000u;
        bool old =
            env->cfg.retention_s != 0 && end_ms + (uint64_t) env->cfg.retention_s * 1000u <= now_ms;
        bool big = env->cfg.max_bytes != 0 && total > env->cfg.max_bytes;
        if (p->doomed || !(old || big) || has_open_windows(env, w, p->start_s)) {
            continue;
        }
        p->doomed = true;
        p->refs++; /* ours, dropped below: unref closes and unlinks when the last goes */
        drop[ndrop++] = p;
        total -= sizes[i];
    }
    env->stats.partitions_dropped += ndrop;
    pthread_mutex_unlock(&env->lock);
    free(sizes);
    for (size_t i = 0; i < ndrop; i++) {
        stor__part_unref(env, drop[i]);
    }
}

/* ---- the thread ---- */

/* Take queued batches until the queue is empty or a commit is due (so that under sustained
 * load commits still happen every commit_ms). */
static void
take_batches(struct stor_env *env, struct stor_writer *w)
{
    for (unsigned k = 1;; k++) {
        pthread_mutex_lock(&w->mu);
        if (w->qlen == 0) {
            pthread_mutex_unlock(&w->mu);
            return;
        }
        struct stor_batch *b = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qlen--;
        pthread_mutex_unlock(&w->mu);
        ingest(env, w, b);
        pthread_mutex_lock(&w->mu);
        w->free_list[w->nfree++] = b;
        w->taken++;
        pthread_mutex_unlock(&w->mu);
        if (k % 8 == 0 && (wall_ms() - w->last_commit_ms >= env->cfg.commit_ms ||
                           w->pending >= PENDING_MAX / 2)) {
            return;
        }
    }
}

/* Sleep until there is work: batches, a request, a landed commit, or the next commit due
 * (while a commit is in flight, the committer's signal ends the wait instead). */
static void
idle(struct stor_env *env, struct stor_writer *w)
{
    bool landed = w->flight_on && w->flight_done;
    /* A sync waiter needs a commit only while something it waits for is uncommitted. */
    bool sync_work =
        w->sync_waiters > 0 && w->last_rc == 0 && w->synced < w->submitted && !w->flight_on;
    if (w->qlen > 0 || w->stop || w->seal_req || landed || sync_work) {
        return;
    }
    if (w->flight_on) {
        pthread_cond_wait(&w->wake, &w->mu);
        return;
    }
    uint64_t at = w->last_commit_ms + env->cfg.commit_ms;
    struct timespec ts = {(time_t) (at / 1000u), (long) (at % 1000u) * 1000000L};
    pthread_cond_timedwait(&w->wake, &w->mu, &ts);
}

/* Nothing taken is uncommitted (all committed, or dropped and counted): sync waiters go. */
static void
settle(struct stor_writer *w)
{
    pthread_mutex_lock(&w->mu);
    if (!w->flight_on && w->pending == 0 && w->synced < w->taken) {
        w->synced = w->taken;
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
}

/* stor_seal_due and shutdown: commit everything taken, wait, and seal as asked. */
static void
serve_sync(struct stor_env *env, struct stor_writer *w, bool seal_req, bool force,
           uint64_t seal_now)
{
    int rc = commit_sync(env, w);
    if (rc == 0 && seal_req) {
        seal_due(env, w, seal_now, force);
        rc = seal_drain(w); /* stor_seal_due waits for its seals */
        retention(env, w, seal_now);
        publish(env, w);
    }
    pthread_mutex_lock(&w->mu);
    if (seal_req) {
        w->seal_rc = rc;
        w->seal_req = false;
        w->seal_done++;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
}

static void *
writer_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;

    defs_refresh(env, w);
    load_open_windows(env, w);
    w->last_commit_ms = wall_ms();
    for (;;) {
        pthread_mutex_lock(&w->mu);
        idle(env, w);
        bool stop = w->stop, seal_req = w->seal_req, force = w->seal_force;
        bool sync_req = w->sync_waiters > 0 && w->synced < w->submitted;
        bool failing = w->last_rc != 0;
        bool landed = w->flight_on && w->flight_done;
        uint64_t seal_now = w->seal_now_ms;
        pthread_mutex_unlock(&w->mu);

        take_batches(env, w);
        uint64_t now = wall_ms();
        if (landed) {
            land(env, w, now, true);
        }
        if (seal_req || stop) {
            serve_sync(env, w, seal_req, force, seal_now);
            w->last_commit_ms = now;
        } else {
            bool due_now = now - w->last_commit_ms >= env->cfg.commit_ms;
            /* After a failed commit (full disk) retry once per commit_ms, not in a loop. */
            bool want = due_now || (!failing && (sync_req || w->pending >= PENDING_MAX / 2));
            if (want && !w->flight_on) {
                if (!launch(w) && due_now) {
                    periodic(env, w, now); /* nothing to commit: seals still come due */
                    publish(env, w);
                }
                w->last_commit_ms = now;
            }
        }
        settle(w);
        pthread_mutex_lock(&w->mu);
        bool quit = stop && w->qlen == 0 && !w->flight_on;
        pthread_mutex_unlock(&w->mu);
        if (quit) {
            return NULL;
        }
    }
}

/*
 * Wait until every batch submitted before the call is committed. Returns 0, or the error of
 * a commit begun after the call (STOR_E_FULL: the data stays queued in memory and is
 * retried every commit_ms; call again to wait for that).
 */
int
stor_sync(struct stor_env *env)
{
    struct stor_writer *w = env->w;
    pthread_mutex_lock(&w->mu);
    /* Commits finish in the order they begin: once more than `start` have finished, one
     * that began after this call has. */
    uint64_t want = w->submitted, start = w->begun;
    w->sync_waiters++;
    pthread_cond_signal(&w->wake);
    while (w->synced < want && !w->stop && !(w->attempts > start && w->last_rc != 0)) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    w->sync_waiters--;
    int rc = w->synced >= want ? 0 : (w->last_rc != 0 ? w->last_rc : STOR_E_CLOSED);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int
stor_seal_due(struct stor_env *env, uint64_t now_ms, bool force_all)
{
    struct stor_writer *w = env->w;
    int rc = stor_sync(env);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    uint64_t ticket = w->seal_done + 1;
    w->seal_req = true;
    w->seal_force = force_all;
    w->seal_now_ms = now_ms;
    pthread_cond_signal(&w->wake);
    while (w->seal_done < ticket) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    rc = w->seal_rc;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void
stor_stats_get(struct stor_env *env, struct stor_stats *out)
{
    pthread_mutex_lock(&env->lock);
    *out = env->stats;
    pthread_mutex_unlock(&env->lock);
    pthread_mutex_lock(&env->w->mu);
    out->batches_dropped = env->w->batches_dropped;
    pthread_mutex_unlock(&env->w->mu);
    stor__env_stats_fill(env, out);
}

static void
committer_join(struct stor_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->committer_stop = true;
    pthread_cond_signal(&w->commit_wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->committer, NULL);
}

static void
sealer_join(struct stor_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->sealer_stop = true;
    pthread_cond_signal(&w->seal_wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->sealer, NULL);
}

static void
writer_free(struct stor_writer *w)
{
    if (w->pool != NULL) {
        for (size_t i = 0; i < w->qcap; i++) {
            free(w->pool[i].recs);
            free(w->pool[i].msgs);
        }
    }
    for (size_t i = 0; i < w->nwins; i++) {
        win_free(w->wins[i]);
    }
    free(w->wins);
    free(w->flight);
    free(w->known);
    free(w->clocks);
    free(w->defs);
    free(w->pool);
    free(w->free_list);
    free(w->queue);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->seal_wake);
    pthread_cond_destroy(&w->commit_wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int
stor__writer_start(struct stor_env *env)
{
    struct stor_writer *w = calloc(1, sizeof(*w));
    size_t n = env->cfg.queue_batches;

    if (w == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
    pthread_cond_init(&w->seal_wake, NULL);
    pthread_cond_init(&w->commit_wake, NULL);
    w->qcap = n;
    w->pool = calloc(n, sizeof(*w->pool));
    w->free_list = calloc(n, sizeof(*w->free_list));
    w->queue = calloc(n, sizeof(*w->queue));
    if (w->pool == NULL || w->free_list == NULL || w->queue == NULL) {
        goto free_w;
    }
    for (size_t i = 0; i < n; i++) {
        struct stor_batch *b = &w->pool[i];
        b->cap = env->cfg.batch_records;
        b->msgs_cap = env->cfg.batch_records;
        b->recs = malloc(b->cap * sizeof(*b->recs));
        b->msgs = malloc(b->msgs_cap * sizeof(*b->msgs));
        if (b->recs == NULL || b->msgs == NULL) {
            goto free_w;
        }
        w->free_list[w->nfree++] = b;
    }
    env->w = w;
    if (pthread_create(&w->sealer, NULL, sealer_main, env) != 0) {
        goto no_env;
    }
    if (pthread_create(&w->committer, NULL, committer_main, env) != 0) {
        goto stop_sealer;
    }
    if (pthread_create(&w->thread, NULL, writer_main, env) != 0) {
        goto stop_committer;
    }
    return 0;
stop_committer:
    committer_join(w);
stop_sealer:
    sealer_join(w);
no_env:
    env->w = NULL;
free_w:
    writer_free(w);
    return -ENOMEM;
}

void
stor__writer_stop(struct stor_env *env)
{
    struct stor_writer *w = env->w;
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* it waited for its last commit */
    committer_join(w);
    /* The sealer finishes the job it is on; queued ones are dropped (sealed after reopen). */
    sealer_join(w);
    while (w->finished != NULL || w->jobs != NULL) {
        struct stor_seal_job *j = w->finished != NULL ? w->finished : w->jobs;
        if (j == w->finished) {
            w->finished = j->next;
        } else {
            w->jobs = j->next;
        }
        free(j->inst);
        free(j);
    }
    env->w = NULL;
    writer_free(w);
}
