/* SPDX-License-Identifier: MIT */
/*
 * Commits: the committer thread writes the rows the writer hands over as "runs" (row blocks,
 * rows.c), one LMDB write transaction per partition, while the writer goes on taking
 * batches: a commit (its writev and fsync take 100+ ms under load) never stops ingest.
 *
 * The hand-over (struct w_commit): every commit_ms the writer moves each window's waiting
 * rows to its committing rows, lists the windows and sets commit_go under mu; from then on
 * the list, those rows and the windows' next_run are the committer's until it sets
 * commit_done. The writer then collects the result (counts, forgets the rows committed) and
 * does the work that must not overlap a commit (handing due windows to the sealer reads
 * next_run). One commit is in flight at a time. Rows of a failed commit stay in the list
 * and go first next time; new rows wait behind them.
 *
 * When a commit fails for lack of space the rows stay in memory (W_PENDING_MAX records;
 * beyond that ingest drops and counts) and the commit is retried every commit_ms, so ingest
 * resumes by itself when space returns.
 */
#include <errno.h>
#include <stdlib.h>

#include "flow_clock.h"
#include "writer_int.h"

/* ---- the committer thread ---- */

/*
 * Add this commit's runs to the window record: read-modify-write, since the sealer thread
 * rewrites the record of a window it seals (and the writer keeps adding late runs to it).
 */
static int
win_update(MDB_txn *txn, struct stor_part *p, const struct w_win *win, uint32_t next_run,
           uint64_t run_bytes)
{
    struct stor_win db = {.window_s = win->rec.window_s};
    uint8_t k[STOR_KEY_WIN], v[STOR_WIN_BYTES];
    MDB_val key = {STOR_KEY_WIN, k}, val;
    int rc;

    stor__key_win(k, win->rec.flowlog, win->rec.start_s);
    if ((rc = mdb_get(txn, p->windows, &key, &val)) == 0) {
        if ((rc = stor__win_read(val.mv_data, val.mv_size, &db)) != 0) {
            return rc;
        }
    } else if (rc != MDB_NOTFOUND) {
        return stor__err(rc);
    }
    db.next_run = next_run;
    db.rows += win->committing.n;
    db.received += win->committing.n;
    db.late += win->committing_late;
    db.bytes += run_bytes;
    stor__win_write(&db, v);
    val.mv_size = STOR_WIN_BYTES;
    val.mv_data = v;
    return stor__err(mdb_put(txn, p->windows, &key, &val, 0));
}

/* The window's committing rows as run blocks numbered from *next_run; adds their bytes. Each
 * block is written straight into the space LMDB reserves for it. */
static int
put_runs(MDB_txn *txn, struct stor_part *p, const struct w_win *win, uint32_t *next_run,
         uint64_t *bytes)
{
    uint8_t key[STOR_KEY_ITEM];

    for (size_t c = 0; c < win->committing.ncut; c++) {
        stor__key_item(key, win->rec.flowlog, win->rec.start_s, *next_run);
        MDB_val k = {STOR_KEY_ITEM, key}, v = {stor__rows_block_len(&win->committing, c), NULL};
        int rc = mdb_put(txn, p->runs, &k, &v, MDB_RESERVE);
        if (rc != 0) {
            return stor__err(rc);
        }
        stor__rows_block_write(&win->committing, c, v.mv_data);
        (*next_run)++;
        *bytes += v.mv_size;
    }
    return 0;
}

/* Write the committing rows of the listed windows in partition p; one transaction. */
static int
commit_part(struct stor_env *env, struct w_commit *cm, struct stor_part *p)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(p->mdb, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    for (size_t i = 0; i < cm->n && rc == 0; i++) {
        struct w_win *win = cm->wins[i];
        if (win->committing.n == 0 || stor__part_start(env, win->rec.start_s) != p->start_s) {
            continue;
        }
        uint32_t next_run = win->rec.next_run;
        uint64_t bytes = 0;
        rc = put_runs(txn, p, win, &next_run, &bytes);
        if (rc == 0) {
            rc = win_update(txn, p, win, next_run, bytes);
        }
        win->commit_next_run = next_run; /* applied by part_committed() */
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc < 0 ? rc : stor__err(rc);
    }
    return stor__err(mdb_txn_commit(txn));
}

/* Partition part_start committed: its windows' rows are stored. */
static void
part_committed(struct stor_env *env, struct w_commit *cm, uint32_t part_start)
{
    for (size_t i = 0; i < cm->n; i++) {
        struct w_win *win = cm->wins[i];
        if (win->committing.n == 0 || stor__part_start(env, win->rec.start_s) != part_start) {
            continue;
        }
        stor__tail_publish(env, &win->committing); /* live tails (tail.c) */
        win->rec.next_run = win->commit_next_run;
        cm->stored += win->committing.n;
        cm->late_stored += win->committing_late;
        win->late_rows += win->committing_late; /* a reseal's, once sealed (seal.c) */
        win->committing_late = 0;
        stor__rows_clear(&win->committing);
    }
}

/*
 * Partitions are NOMETASYNC: a commit's meta page reaches the disk with the next commit's
 * sync. When commits move on to a newer partition, the one before gets a full sync, so its
 * last commit is as durable as any other (code review M3).
 */
static void
current_moved(struct stor_env *env, struct w_commit *cm, uint32_t start)
{
    if (start <= cm->current_start) {
        return;
    }
    /* A failed sync keeps the older partition current: tried again after the next commit. */
    if (cm->current_start == 0 || stor__part_sync(env, cm->current_start) == 0) {
        cm->current_start = start;
    }
}

/* Commit every listed window, one transaction per partition. 0, or the first error (the
 * rows not committed stay, to be sent again). */
static int
commit_all(struct stor_env *env, struct w_commit *cm)
{
    int rc = 0;

    for (size_t i = 0; i < cm->n && rc == 0; i++) {
        struct w_win *win = cm->wins[i];
        if (win->committing.n == 0) {
            continue;
        }
        struct stor_part *p;
        uint32_t start = stor__part_start(env, win->rec.start_s);
        if ((rc = stor__part_acquire(env, start, true, &p)) != 0) {
            break;
        }
        rc = commit_part(env, cm, p); /* a full map is a full partition: maps never grow */
        stor__part_release(env, p);
        if (rc == 0) {
            part_committed(env, cm, start);
            cm->commits++;
            current_moved(env, cm, start);
        }
    }
    return rc;
}

/* The commit latency gauges: only the committer writes them. */
static void
latency_publish(struct w_pub *pub, uint64_t ms)
{
    atomic_store_explicit(&pub->commit_last_ms, ms, memory_order_relaxed);
    if (ms > atomic_load_explicit(&pub->commit_max_ms, memory_order_relaxed)) {
        atomic_store_explicit(&pub->commit_max_ms, ms, memory_order_relaxed);
    }
}

void *
stor__committer_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->sh.commit_go && !w->sh.committer_stop) {
            pthread_cond_wait(&w->commit_wake, &w->mu);
        }
        if (!w->sh.commit_go) {
            break;
        }
        w->sh.commit_go = false;
        pthread_mutex_unlock(&w->mu);
        w->cm.stored = 0;
        w->cm.late_stored = 0;
        w->cm.commits = 0;
        uint64_t t0 = flow_mono_ms();
        int rc = commit_all(env, &w->cm);
        latency_publish(&w->pub, flow_mono_ms() - t0);
        pthread_mutex_lock(&w->mu);
        w->cm.rc = rc;
        w->sh.commit_done = true;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- the writer's side ---- */

/* The window's partition is claimed by maintenance (caller holds mu): its rows wait. */
static bool
part_claimed(const struct stor_env *env, const struct stor_writer *w, const struct w_win *win)
{
    return w->sh.maint_claimed && w->sh.maint_part == stor__part_start(env, win->rec.start_s);
}

/* Forget a window's waiting rows: retention dropped its partition meanwhile. */
static void
rows_expire(struct stor_writer *w, struct w_win *win)
{
    w->in.pending -= win->waiting.n;
    w->in.counts.expired += win->waiting.n;
    win->waiting_late = 0;
    stor__rows_clear(&win->waiting);
}

/* List every window with waiting rows, moving them to its committing rows (caller holds
 * mu). False when there is nothing to commit. */
static bool
list_waiting(struct stor_env *env, struct stor_writer *w)
{
    struct w_commit *cm = &w->cm;
    cm->held = false;
    for (size_t i = 0; i < w->in.nwins; i++) {
        struct w_win *win = w->in.wins[i];
        if (win->waiting.n == 0) {
            continue;
        }
        if (part_claimed(env, w, win)) {
            cm->held = true; /* committed once maintenance lets the partition go */
            continue;
        }
        if (stor__part_start(env, win->rec.start_s) <
            atomic_load_explicit(&w->sh.floor_s, memory_order_relaxed)) {
            rows_expire(w, win); /* dropped since they arrived: never recreate it */
            continue;
        }
        if (cm->n == cm->cap) {
            size_t cap = cm->cap ? cm->cap * 2 : 16;
            struct w_win **a = realloc(cm->wins, cap * sizeof(*a));
            if (a == NULL) {
                break; /* the rest go with the next commit */
            }
            cm->wins = a;
            cm->cap = cap;
        }
        struct stor_rows t = win->committing; /* empty: swap to keep both buffers' memory */
        win->committing = win->waiting;
        win->waiting = t;
        win->committing_late = win->waiting_late;
        win->waiting_late = 0;
        cm->wins[cm->n++] = win;
    }
    return cm->n > 0;
}

/*
 * Hand the waiting rows of every window to the committer (or, after a failed commit, the
 * rows that failed: new rows wait behind them). Returns false when there is nothing to do.
 */
bool
stor__commit_handover(struct stor_env *env, struct stor_writer *w)
{
    bool first_try = w->cm.n == 0;

    pthread_mutex_lock(&w->mu);
    if (first_try && !list_waiting(env, w)) {
        pthread_mutex_unlock(&w->mu);
        return false;
    }
    if (first_try) {
        w->cm.taken = w->sh.taken; /* every batch taken so far is in these rows */
    }
    stor__busy_publish(env, w);
    w->sh.commits_begun++;
    w->sh.commit_done = false;
    w->sh.commit_go = true;
    w->in.committing = true;
    pthread_cond_signal(&w->commit_wake);
    pthread_mutex_unlock(&w->mu);
    return true;
}

/*
 * The commit handed over has finished (commit_done seen under mu): count it, forget the
 * rows that are stored and, when tick is set and it succeeded, do the scheduled work that
 * must not overlap a commit (hand due windows to the sealer, take its finished jobs).
 * Returns the commit's result.
 */
int
stor__commit_collect(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool tick)
{
    struct w_commit *cm = &w->cm;
    int rc = cm->rc;
    size_t keep = 0;

    w->in.pending -= cm->stored;
    w->in.late_pending += cm->late_stored;
    w->in.counts.records_stored += cm->stored;
    w->in.counts.commits += cm->commits;
    if (cm->commits > 0) {
        w->in.counts.last_commit_ms = flow_wall_ms();
    }
    for (size_t i = 0; i < cm->n; i++) {
        if (cm->wins[i]->committing.n > 0) {
            cm->wins[keep++] = cm->wins[i]; /* failed: sent again */
        }
    }
    cm->n = keep;
    w->in.counts.full_errors +=
        rc == STOR_E_FULL || rc == STOR_E_IO || rc == -ENOSPC || rc == -EDQUOT;
    w->in.counts.last_error = rc;
    w->in.committing = false;
    if (rc == 0 && tick) {
        stor__seal_schedule(env, w, now_ms, false);
        stor__seal_collect(w);
        stor__clocks_sweep(&w->in, now_ms);
    }
    stor__ingest_publish(w);
    pthread_mutex_lock(&w->mu);
    stor__busy_publish(env, w);
    w->sh.commits_landed++;
    w->sh.last_rc = rc;
    if (rc == 0 && !cm->held) {
        w->sh.synced = cm->taken;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Wait for the commit handed over, if any, and collect it (without the scheduled work). */
static int
commit_wait(struct stor_env *env, struct stor_writer *w)
{
    if (!w->in.committing) {
        return 0;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->sh.commit_done) {
        pthread_cond_wait(&w->wake, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return stor__commit_collect(env, w, 0, false);
}

/* Commit everything taken so far and wait for it (stor_seal_due, shutdown). */
int
stor__commit_sync(struct stor_env *env, struct stor_writer *w)
{
    int rc = commit_wait(env, w);
    if (rc == 0 && stor__commit_handover(env, w)) {
        rc = commit_wait(env, w);
    }
    return rc;
}
