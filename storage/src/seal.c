/* SPDX-License-Identifier: MIT */
/*
 * Sealing capture windows (DESIGN.md §4): when (the writer thread schedules: the first half
 * of this file) and how (the sealer thread, so that ingest never waits for it: the second
 * half).
 *
 * A window is due when every exporter that sent records to it, and is not silent (heard from
 * within silent_s of wall clock), has an export clock past start + W + grace:
 *
 *   due = for all live contributors c: clock(c) >= start + W + grace
 *
 * Exporter clocks are the export times of message headers (stor_batch.msgs), so a replayed
 * or clock-skewed exporter seals on its own time; silent exporters stop holding windows open;
 * a window nobody contributed a clock to seals on wall-clock time.
 *
 * The writer hands over a job once the window's waiting rows are committed; the runs
 * numbered below job->max_run are the window's data (records arriving later are late and get
 * runs of their own). Three steps:
 *
 *   1. a read transaction decodes those runs into the sealer's scratch and aggregates them
 *      (unless the flow log is raw);
 *   2. without any transaction: NODATA rows for known instances that sent nothing, SKIPDATA
 *      rows where sequence numbers showed loss, a sort by source address, destination address,
 *      ports, protocol and start (so block summaries have tight ranges), and the encoding of
 *      every block and summary;
 *   3. one short write transaction puts the blocks and summaries, deletes the runs it read
 *      and updates the window record (read-modify-write: the writer may have added late runs
 *      meanwhile) to sealed.
 *
 * A crash before step 3 commits leaves the runs; after it, only the sealed form.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flow_bytes.h"
#include "rollup.h"
#include "writer_int.h"

/* The sealer keeps its aggregation scratch between seals up to this many rows; a bigger one
 * (an unusually big window) is given back once no job is queued. */
#define SEAL_SCRATCH_KEEP (1u << 18)

/* Encoded sealed blocks and their summaries, made outside any transaction. */
struct sealed {
    size_t n;
    struct stor_buf *blk;
    uint8_t (*sum)[STOR_SUM_BYTES];
    uint64_t bytes;
    struct stor__rollup_buf rollup; /* the rows' totals by dimension (rollup.c) */
};

static void
sealed_free(struct sealed *z)
{
    for (size_t i = 0; i < z->n; i++) {
        stor__buf_free(&z->blk[i]);
    }
    free(z->blk);
    free(z->sum);
    stor__rollup_buf_free(&z->rollup);
    memset(z, 0, sizeof(*z));
}

/* Encode rows (in `order`) as columnar blocks of `per` rows with their summaries. */
static int
encode_blocks(const struct flow_rec *recs, const uint32_t *order, size_t n, size_t per,
              struct sealed *z)
{
    size_t nb = (n + per - 1) / per;
    struct flow_rec *chunk = malloc(per * sizeof(*chunk));
    z->blk = calloc(nb ? nb : 1, sizeof(*z->blk));
    z->sum = calloc(nb ? nb : 1, sizeof(*z->sum));
    if (chunk == NULL || z->blk == NULL || z->sum == NULL) {
        free(chunk);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += per) {
        size_t k = n - off < per ? n - off : per;
        for (size_t i = 0; i < k; i++) {
            chunk[i] = recs[order[off + i]];
        }
        struct stor_sum sum;
        if ((rc = stor__block_encode(chunk, k, &z->blk[z->n], &sum)) == 0) {
            stor__sum_write(&sum, z->sum[z->n]);
            z->bytes += z->blk[z->n].len;
            z->n++;
        }
    }
    free(chunk);
    return rc;
}

/* Sort key of a sealed row: source address, destination address, ports, protocol, start.
 * Integers compare faster than memcmp over 384-byte records, and only keys move. */
struct skey {
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    uint64_t rest; /* srcport 16 | dstport 16 | protocol 8 */
    uint64_t start;
    uint32_t idx;
};

static uint64_t
be64(const uint8_t *p)
{
    return flow_get_be(p, 8);
}

static int
cmp_skey(const void *pa, const void *pb)
{
    const struct skey *a = pa, *b = pb;
    if (a->src_hi != b->src_hi) {
        return a->src_hi < b->src_hi ? -1 : 1;
    }
    if (a->src_lo != b->src_lo) {
        return a->src_lo < b->src_lo ? -1 : 1;
    }
    if (a->dst_hi != b->dst_hi) {
        return a->dst_hi < b->dst_hi ? -1 : 1;
    }
    if (a->dst_lo != b->dst_lo) {
        return a->dst_lo < b->dst_lo ? -1 : 1;
    }
    if (a->rest != b->rest) {
        return a->rest < b->rest ? -1 : 1;
    }
    return (a->start > b->start) - (a->start < b->start);
}

/* The indexes of agg's rows in sealing order (caller frees), or NULL. */
static uint32_t *
sorted_order(const struct stor_agg *agg)
{
    struct skey *k = malloc((agg->n ? agg->n : 1) * sizeof(*k));
    uint32_t *order = malloc((agg->n ? agg->n : 1) * sizeof(*order));
    if (k == NULL || order == NULL) {
        free(k);
        free(order);
        return NULL;
    }
    for (size_t i = 0; i < agg->n; i++) {
        const struct flow_rec *r = &agg->recs[i];
        k[i].src_hi = be64(r->srcaddr);
        k[i].src_lo = be64(r->srcaddr + 8);
        k[i].dst_hi = be64(r->dstaddr);
        k[i].dst_lo = be64(r->dstaddr + 8);
        k[i].rest = (uint64_t) r->srcport << 24 | (uint64_t) r->dstport << 8 | r->protocol;
        k[i].start = r->start_ms;
        k[i].idx = (uint32_t) i;
    }
    qsort(k, agg->n, sizeof(*k), cmp_skey);
    for (size_t i = 0; i < agg->n; i++) {
        order[i] = k[i].idx;
    }
    free(k);
    return order;
}

static int
cmp_inst_id(const void *pa, const void *pb)
{
    const struct stor_inst *a = pa, *b = pb;
    return strncmp(a->id, b->id, FLOW_ID_MAX);
}

static int
cmp_id_inst(const void *key, const void *elem)
{
    return strncmp(key, ((const struct stor_inst *) elem)->id, FLOW_ID_MAX);
}

/*
 * A row of a window left open by an earlier run (job->relearn): its instance sent data, so it
 * gets no NODATA row. The writer's seen marks went with that run; the job's instances are
 * sorted by id for this (stor__seal_job), and ids are unique among them (wins.c).
 */
static void
inst_relearn(const struct stor_seal_job *job, const struct flow_rec *r)
{
    if (r->instance_id[0] == '\0') { /* only instances with an id get NODATA rows */
        return;
    }
    struct stor_inst *s = bsearch(r->instance_id, job->inst, job->ninst, sizeof(*job->inst),
                                  cmp_id_inst);
    if (s != NULL) {
        s->seen = true;
    }
}

/* Decode one run into agg, through the scratch buffer *tmp (grown as needed); *n its rows. */
static int
run_add(const struct stor_seal_job *job, const MDB_val *v, struct stor_agg *agg,
        struct flow_rec **tmp, size_t *tmp_cap, size_t *n)
{
    long cnt = stor__block_count(v->mv_data, v->mv_size);
    if (cnt < 0) {
        return (int) cnt;
    }
    if ((size_t) cnt > *tmp_cap) {
        struct flow_rec *t = realloc(*tmp, (size_t) cnt * sizeof(*t));
        if (t == NULL) {
            return -ENOMEM;
        }
        *tmp = t;
        *tmp_cap = (size_t) cnt;
    }
    int rc = stor__block_decode(v->mv_data, v->mv_size, *tmp, *tmp_cap, n);
    for (size_t i = 0; i < *n && rc == 0; i++) {
        if (job->relearn) {
            inst_relearn(job, &(*tmp)[i]);
        }
        rc = stor__agg_add(agg, &(*tmp)[i]);
    }
    return rc;
}

/*
 * Step 1: decode the window's runs from run `first` (below max_run) into agg, stopping after
 * the run that reaches `budget` rows; *end is the first run not read. Counts rows and bytes.
 */
static int
read_runs(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job, uint32_t first,
          uint64_t budget, struct stor_agg *agg, uint32_t *end, uint64_t *rows, uint64_t *bytes)
{
    MDB_cursor *cur;
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    struct flow_rec *tmp = NULL;
    size_t tmp_cap = 0;
    int rc;

    *end = job->max_run;
    stor__key_item(key, job->flowlog, job->start_s, first);
    if ((rc = mdb_cursor_open(txn, p->runs, &cur)) != 0) {
        return stor__err(rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint16_t fl;
        uint32_t start, run;
        stor__key_parse(k.mv_data, k.mv_size, &fl, &start, &run);
        if (fl != job->flowlog || start != job->start_s || run >= job->max_run) {
            break;
        }
        if (*rows >= budget) {
            *end = run; /* the rest is the next segment's */
            break;
        }
        size_t n = 0;
        if ((rc = run_add(job, &v, agg, &tmp, &tmp_cap, &n)) != 0) {
            goto close_cur;
        }
        *rows += n;
        *bytes += v.mv_size;
    }
    rc = rc == MDB_NOTFOUND ? 0 : stor__err(rc);
close_cur:
    mdb_cursor_close(cur);
    free(tmp);
    return rc;
}

static int
status_row(struct stor_agg *agg, const struct stor_seal_job *job, const struct stor_inst *s,
           uint8_t status)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    r.flowlog = job->flowlog;
    r.window = job->start_s;
    r.log_status = status;
    r.start_ms = (uint64_t) job->start_s * 1000u;
    r.end_ms = ((uint64_t) job->start_s + job->window_s) * 1000u - 1u;
    memcpy(r.exporter, s->exporter, 16);
    r.domain = s->domain;
    if (s->id[0] != '\0') {
        memcpy(r.instance_id, s->id, FLOW_ID_MAX);
        r.present |= FLOW_HAS_INSTANCE;
    }
    if (status == FLOW_LS_SKIPDATA) {
        r.skipped = (uint32_t) (s->missed > UINT32_MAX ? UINT32_MAX : s->missed);
    }
    return stor__agg_add(agg, &r);
}

/*
 * NODATA for every known instance (the window's list starts with the flow log's configured
 * and previously seen instance ids) that sent nothing; SKIPDATA where loss was seen.
 */
static int
status_rows(struct stor_agg *agg, struct stor_seal_job *job)
{
    int rc = 0;

    for (size_t j = 0; j < job->ninst && rc == 0; j++) {
        const struct stor_inst *s = &job->inst[j];
        if (!s->seen && s->id[0] != '\0') {
            rc = status_row(agg, job, s, FLOW_LS_NODATA);
            job->nodata++;
        }
        if (rc == 0 && s->missed > 0) {
            rc = status_row(agg, job, s, FLOW_LS_SKIPDATA);
            job->skipdata++;
        }
    }
    return rc;
}

/* What one segment of a seal covers. */
struct segment {
    uint32_t first_run, end_run; /* runs [first, end) were read */
    uint32_t first_block;        /* its blocks are numbered from here */
    uint64_t rows_read, bytes_read, rows_out;
    bool last; /* the window is sealed with it */
};

/* Step 3: delete the runs the segment read. */
static int
runs_delete(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job,
            const struct segment *g)
{
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    MDB_cursor *cur;
    int rc;

    if ((rc = mdb_cursor_open(txn, p->runs, &cur)) != 0) {
        return stor__err(rc);
    }
    stor__key_item(key, job->flowlog, job->start_s, g->first_run);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint16_t fl;
        uint32_t start, run;
        stor__key_parse(k.mv_data, k.mv_size, &fl, &start, &run);
        if (fl != job->flowlog || start != job->start_s || run >= g->end_run) {
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc != 0 && rc != MDB_NOTFOUND ? stor__err(rc) : 0;
}

/* Step 3: the window record, read-modify-write (the writer may have added late runs since
 * step 1). */
static int
win_sealed(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job,
           const struct sealed *z, const struct segment *g)
{
    struct stor_win w = {.window_s = job->window_s};
    uint8_t wk[STOR_KEY_WIN], wv[STOR_WIN_BYTES];
    MDB_val wkey = {STOR_KEY_WIN, wk}, wval;
    int rc;

    stor__key_win(wk, job->flowlog, job->start_s);
    if ((rc = mdb_get(txn, p->windows, &wkey, &wval)) == 0) {
        if ((rc = stor__win_read(wval.mv_data, wval.mv_size, &w)) != 0) {
            return rc;
        }
    } else if (rc != MDB_NOTFOUND) {
        return stor__err(rc);
    }
    w.sealed = g->last || job->reseal; /* a reseal's window stays sealed throughout */
    w.blocks = g->first_block + (uint32_t) z->n;
    w.rows = w.rows - (g->rows_read < w.rows ? g->rows_read : w.rows) + g->rows_out;
    w.bytes = w.bytes - (g->bytes_read < w.bytes ? g->bytes_read : w.bytes) + z->bytes;
    stor__win_write(&w, wv);
    wval.mv_size = STOR_WIN_BYTES;
    wval.mv_data = wv;
    return stor__err(mdb_put(txn, p->windows, &wkey, &wval, 0));
}

/* Step 3, inside the write transaction: blocks and summaries, runs, window record. */
static int
write_sealed(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job,
             const struct sealed *z, const struct segment *g)
{
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key};
    int rc;

    for (size_t i = 0; i < z->n; i++) {
        stor__key_item(key, job->flowlog, job->start_s, g->first_block + (uint32_t) i);
        MDB_val bv = {z->blk[i].len, z->blk[i].p}, sv = {STOR_SUM_BYTES, z->sum[i]};
        if ((rc = mdb_put(txn, p->blocks, &k, &bv, 0)) != 0 ||
            (rc = mdb_put(txn, p->sums, &k, &sv, 0)) != 0) {
            return stor__err(rc);
        }
    }
    if ((rc = stor__rollup_put(txn, p, job->flowlog, job->start_s, g->first_block,
                               (uint32_t) z->n, &z->rollup)) != 0 ||
        (rc = runs_delete(txn, p, job, g)) != 0 ||
        (rc = stor__outbox_put(txn, p, job, g->first_block, (uint32_t) z->n, g->rows_out)) != 0) {
        return rc;
    }
    return win_sealed(txn, p, job, z, g);
}

/* The blocks a window already has (from segments of an earlier, interrupted seal). */
static int
blocks_had(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job, uint32_t *n)
{
    uint8_t wk[STOR_KEY_WIN];
    MDB_val key = {STOR_KEY_WIN, wk}, val;
    struct stor_win w = {0};
    stor__key_win(wk, job->flowlog, job->start_s);
    int rc = mdb_get(txn, p->windows, &key, &val);
    if (rc == MDB_NOTFOUND) {
        *n = 0;
        return 0;
    }
    if (rc != 0) {
        return stor__err(rc);
    }
    rc = stor__win_read(val.mv_data, val.mv_size, &w);
    *n = w.blocks;
    return rc;
}

/* Steps 1 and 2 for one segment: read, aggregate, sort, encode. */
static int
segment_build(struct stor_env *env, struct stor_part *p, struct stor_seal_job *job,
              struct stor_agg *agg, struct segment *g, struct sealed *z)
{
    MDB_txn *txn;
    int rc;

    stor__agg_clear(agg);
    agg->aggregate = job->aggregate;
    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) == 0) {
        rc = g->first_run == 0 ? blocks_had(txn, p, job, &g->first_block) : 0;
        if (rc == 0) {
            rc = read_runs(txn, p, job, g->first_run, env->cfg.seal_rows, agg, &g->end_run,
                           &g->rows_read, &g->bytes_read);
        }
        mdb_txn_abort(txn);
    } else {
        rc = stor__err(rc);
    }
    g->last = g->end_run >= job->max_run;
    if (rc == 0 && g->last) {
        rc = status_rows(agg, job);
    }
    if (rc != 0) {
        return rc;
    }
    uint32_t *order = sorted_order(agg);
    rc = order == NULL ? -ENOMEM
                       : encode_blocks(agg->recs, order, agg->n, env->cfg.block_records, z);
    free(order);
    rc = rc == 0 ? stor__rollup_build(agg->recs, agg->n, &z->rollup) : rc;
    g->rows_out = agg->n;
    return rc;
}

/* Step 3 for one segment (a full map is a full partition: maps never grow). */
static int
segment_write(struct stor_part *p, const struct stor_seal_job *job, const struct sealed *z,
              const struct segment *g)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(p->mdb, NULL, 0, &txn);

    if (rc != 0) {
        return stor__err(rc);
    }
    if ((rc = write_sealed(txn, p, job, z, g)) == 0) {
        return stor__err(mdb_txn_commit(txn));
    }
    mdb_txn_abort(txn);
    return rc;
}

/*
 * Seal a window in segments of at most seal_rows rows each, so memory stays bounded however
 * big the window; rows are aggregated and sorted within a segment (a window under seal_rows,
 * the usual case, is one segment). Each segment commits on its own: after a crash the window
 * is still open, with the blocks of its committed segments and the runs of the rest, and is
 * sealed again from there.
 */
int
stor__seal_job(struct stor_env *env, struct stor_seal_job *job, struct stor_agg *agg)
{
    struct stor_part *p;
    struct segment g = {0};
    int rc = stor__part_acquire(env, stor__part_start(env, job->start_s), true, &p);
    if (rc != 0) {
        return rc;
    }
    if (job->relearn) {
        qsort(job->inst, job->ninst, sizeof(*job->inst), cmp_inst_id);
    }
    while (rc == 0) {
        struct sealed z = {0};
        rc = segment_build(env, p, job, agg, &g, &z);
        if (rc == 0) {
            rc = segment_write(p, job, &z, &g);
        }
        uint32_t next_block = g.first_block + (uint32_t) z.n;
        sealed_free(&z);
        job->rows += g.rows_out;
        if (rc != 0 || g.last) {
            break;
        }
        g = (struct segment){.first_run = g.end_run, .first_block = next_block};
    }
    if (rc == 0) {
        pthread_mutex_lock(&env->lock); /* maintenance reads it under the lock */
        p->compact_checked = false;     /* the runs' pages are free now: worth a look */
        pthread_mutex_unlock(&env->lock);
    }
    stor__part_release(env, p);
    return rc;
}

/* ---- scheduling: the writer thread ---- */

static bool
due(const struct stor_env *env, const struct w_ingest *in, const struct w_win *win,
    uint64_t now_ms)
{
    uint64_t close_ms = ((uint64_t) win->rec.start_s + win->rec.window_s + env->cfg.grace_s) * 1000u;
    uint64_t silent_ms = (uint64_t) env->cfg.silent_s * 1000u;

    if (win->ncontrib == 0) {
        return now_ms >= close_ms; /* no exporter to ask: wall clock */
    }
    for (size_t i = 0; i < win->ncontrib; i++) {
        const struct w_clock *c = &in->clocks[win->contrib[i]];
        if (c->heard_ms + silent_ms <= now_ms) {
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

static struct stor_seal_job *
job_make(const struct stor_writer *w, const struct w_win *win)
{
    struct stor_seal_job *job = calloc(1, sizeof(*job));
    const struct stor_flowlog *def = stor__ingest_def(w, win->rec.flowlog);
    /* A reseal merges late runs only: the window's status rows were written by its seal. */
    size_t ninst = win->rec.sealed ? 0 : win->ninst;

    if (job == NULL) {
        return NULL;
    }
    job->inst = malloc((ninst ? ninst : 1) * sizeof(*job->inst));
    if (job->inst == NULL) {
        free(job);
        return NULL;
    }
    if (ninst > 0) {
        memcpy(job->inst, win->inst, ninst * sizeof(*job->inst));
    }
    job->ninst = ninst;
    job->flowlog = win->rec.flowlog;
    job->start_s = win->rec.start_s;
    job->window_s = win->rec.window_s;
    job->aggregate = def == NULL || def->aggregate; /* a deleted flow log: default behaviour */
    job->max_run = win->rec.next_run;
    job->reseal = win->rec.sealed;
    job->late_rows = win->rec.sealed ? win->late_rows : 0;
    job->relearn = win->relearn && !win->rec.sealed;
    return job;
}

/* Queue a job for the sealer, unless maintenance holds its partition (then: next pass). */
static bool
job_queue(struct stor_env *env, struct stor_writer *w, struct stor_seal_job *job)
{
    pthread_mutex_lock(&w->mu);
    uint32_t part = stor__part_start(env, job->start_s);
    bool held = w->sh.maint_claimed && w->sh.maint_part == part;
    if (!held) {
        stor__busy_publish(env, w); /* the window's partition is busy before the sealer sees it */
        struct stor_seal_job **tail = &w->sh.jobs;
        while (*tail != NULL) {
            tail = &(*tail)->next;
        }
        *tail = job;
        w->sh.jobs_out++;
        pthread_cond_signal(&w->seal_wake);
    }
    pthread_mutex_unlock(&w->mu);
    return !held;
}

/* Retention dropped the window's partition: nothing to seal (and no partition to create). */
static bool
below_floor(const struct stor_env *env, const struct stor_writer *w, const struct w_win *win)
{
    return stor__part_start(env, win->rec.start_s) <
           atomic_load_explicit(&w->sh.floor_s, memory_order_relaxed);
}

/* Hand every due window (its rows committed) to the sealer; forget sealed windows whose late
 * rows are committed (late records load them again). */
/* A sealed window's late runs are due for a reseal (W_RESEAL_*). */
static bool
reseal_due(const struct w_win *win, uint64_t now_ms, bool force)
{
    if (win->late_rows == 0) {
        return false;
    }
    return force || win->late_rows >= W_RESEAL_ROWS ||
           win->late_last_ms + W_RESEAL_IDLE_MS <= now_ms ||
           win->late_first_ms + W_RESEAL_AGE_MS <= now_ms;
}

/* Forget window i: its partition was dropped, or it is sealed with nothing late left. */
static void
win_forget(struct w_ingest *in, size_t i)
{
    in->late_pending -= in->wins[i]->late_rows;
    stor__win_drop(in, i);
}

/*
 * Hand every due window (its rows committed) to the sealer, and every sealed window whose
 * late runs are due for a reseal; forget sealed windows with nothing late left (late records
 * load them again).
 */
void
stor__seal_schedule(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool force)
{
    struct w_ingest *in = &w->in;
    for (size_t i = 0; i < in->nwins;) {
        struct w_win *win = in->wins[i];
        bool gone = below_floor(env, w, win);
        if (win->sealing || win->waiting.n > 0 || win->committing.n > 0) {
            i++;
            continue;
        }
        if (gone || (win->rec.sealed && win->late_rows == 0)) {
            win_forget(in, i);
            continue;
        }
        bool go = win->rec.sealed ? reseal_due(win, now_ms, force)
                                  : force || due(env, in, win, now_ms);
        struct stor_seal_job *job = go ? job_make(w, win) : NULL;
        if (job != NULL && !job_queue(env, w, job)) {
            free(job->inst);
            free(job);
            job = NULL;
        }
        if (job != NULL) {
            win->sealing = true;
            win->rec.sealed = true; /* what arrives now is late: runs at or after max_run */
        }
        i++; /* without a job: tried again next pass */
    }
}

/* Take the sealer's finished jobs: count them, forget sealed windows, reopen failed ones. */
static void
job_collected(struct stor_writer *w, const struct stor_seal_job *job)
{
    struct w_ingest *in = &w->in;
    struct w_win *win = stor__win_find(in, job->flowlog, job->start_s);
    if (win != NULL) {
        win->sealing = false;
        if (job->rc != 0 && !job->reseal) {
            win->rec.sealed = false; /* its runs are intact: sealed again later, late ones too */
            in->late_pending -= win->late_rows;
            win->late_rows = 0;
            win->late_first_ms = 0;
        } else if (job->rc == 0 && job->reseal) {
            win->late_rows -= job->late_rows; /* late rows may have come meanwhile */
            in->late_pending -= job->late_rows;
            win->late_first_ms = win->late_rows > 0 ? win->late_last_ms : 0;
        }
        if (job->rc == 0 && win->waiting.n == 0 && win->committing.n == 0 &&
            win->late_rows == 0) {
            win_forget(in, win->idx);
        }
    }
    if (job->rc == 0) {
        in->counts.seals += !job->reseal;
        in->counts.reseals += job->reseal;
        in->counts.nodata += job->nodata;
        in->counts.skipdata += job->skipdata;
    }
}

int
stor__seal_collect(struct stor_writer *w)
{
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    struct stor_seal_job *done = w->sh.finished;
    w->sh.finished = NULL;
    pthread_mutex_unlock(&w->mu);
    while (done != NULL) {
        struct stor_seal_job *job = done;
        done = job->next;
        job_collected(w, job);
        rc = rc != 0 ? rc : job->rc;
        pthread_mutex_lock(&w->mu);
        w->sh.jobs_out--;
        pthread_mutex_unlock(&w->mu);
        free(job->inst);
        free(job);
    }
    return rc;
}

/* Wait until the sealer has finished every job handed to it (stor_seal_due, shutdown). */
int
stor__seal_drain(struct stor_writer *w)
{
    int rc = 0;
    for (;;) {
        int r = stor__seal_collect(w);
        rc = rc != 0 ? rc : r;
        pthread_mutex_lock(&w->mu);
        bool none_out = w->sh.jobs_out == 0;
        if (!none_out && w->sh.finished == NULL) {
            pthread_cond_wait(&w->done, &w->mu);
        }
        pthread_mutex_unlock(&w->mu);
        if (none_out) {
            return rc;
        }
    }
}

/* Free the jobs left queued or finished at shutdown (their windows are sealed after the
 * next open). */
void
stor__seal_jobs_free(struct stor_writer *w)
{
    struct stor_seal_job *lists[2] = {w->sh.finished, w->sh.jobs};
    for (size_t l = 0; l < 2; l++) {
        while (lists[l] != NULL) {
            struct stor_seal_job *j = lists[l];
            lists[l] = j->next;
            free(j->inst);
            free(j);
        }
    }
    w->sh.finished = w->sh.jobs = NULL;
}

/* ---- the sealer thread ---- */

void *
stor__sealer_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;
    struct stor_agg scratch; /* kept from seal to seal so its memory is touched once */

    stor__agg_init(&scratch, true);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->sh.jobs == NULL && !w->sh.sealer_stop) {
            pthread_cond_wait(&w->seal_wake, &w->mu);
        }
        struct stor_seal_job *job = w->sh.jobs;
        if (job == NULL) {
            break; /* stopping, nothing queued */
        }
        w->sh.jobs = job->next;
        bool stopping = w->sh.sealer_stop;
        pthread_mutex_unlock(&w->mu);
        job->rc = stopping ? STOR_E_CLOSED : stor__seal_job(env, job, &scratch);
        pthread_mutex_lock(&w->mu);
        bool more = w->sh.jobs != NULL;
        pthread_mutex_unlock(&w->mu);
        if (scratch.cap > SEAL_SCRATCH_KEEP && !more) {
            stor__agg_free(&scratch); /* an unusually big window: give the memory back */
            stor__agg_init(&scratch, true);
        }
        pthread_mutex_lock(&w->mu);
        job->next = w->sh.finished;
        w->sh.finished = job;
        pthread_cond_signal(&w->wake);
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
    stor__agg_free(&scratch);
    return NULL;
}
