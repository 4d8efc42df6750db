/* SPDX-License-Identifier: MIT */
/*
 * Reading: snapshots and scans.
 *
 * A snapshot references every partition that exists when it begins (which keeps it open and
 * its files in place) and opens a read transaction on each the first time a scan reaches it.
 * Maps never grow (part.c), so no lock is held for the snapshot's life and any thread may end
 * it. A scan walks partitions in time order, the windows of each that overlap the time range
 * (and the flow log asked for), and in each window first the sealed blocks — skipping those
 * whose summary rules out a pushed-down condition or the time range — then the runs
 * (open-window data and late records), which have no summaries and are always decoded.
 *
 * A block, summary or window record that fails its checks fails only what it holds: the scan
 * skips it, counts it (stor_scan_stats.blocks_corrupt, store-blocks-corrupt), names it to the
 * host once per scan (stor_cfg.notice) and answers the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stor_int.h"

struct stor_snap {
    struct stor_env *env;
    size_t n;
    struct stor_part **parts;
    MDB_txn **txns; /* NULL until first used */
};

enum phase { PH_WINDOW, PH_BLOCKS, PH_RUNS };

struct stor_iter {
    struct stor_snap *snap;
    struct stor_scan scan;
    struct stor_conj *conj; /* the scan's conjuncts plus the time range */
    size_t nconj;
    uint64_t cols; /* the projection (stor_iter_project); 0 = every column */
    size_t part;
    enum phase phase;
    bool started;     /* the window cursor has been positioned in this partition */
    uint16_t flowlog; /* current window */
    uint32_t window;
    MDB_cursor *wcur;
    MDB_cursor *icur; /* sums (blocks phase) or runs (runs phase) */
    bool ipos;        /* icur positioned */
    struct flow_rec *recs;
    size_t cap;
    struct stor_scan_stats stats;
    bool told; /* the host heard of this scan's first corrupt block */
};

int
stor_snap_begin(struct stor_env *env, struct stor_snap **out)
{
    struct stor_snap *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->env = env;
    pthread_mutex_lock(&env->lock);
    size_t cap = env->nparts;
    s->parts = calloc(cap ? cap : 1, sizeof(*s->parts));
    s->txns = calloc(cap ? cap : 1, sizeof(*s->txns));
    for (size_t i = 0; s->parts != NULL && s->txns != NULL && i < cap; i++) {
        if (!env->parts[i]->doomed) { /* dropped by retention: no longer the store's data */
            s->parts[s->n] = env->parts[i];
            s->parts[s->n++]->refs++;
        }
    }
    pthread_mutex_unlock(&env->lock);
    if (s->parts == NULL || s->txns == NULL) {
        s->n = 0;
        stor_snap_end(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void
stor_snap_end(struct stor_snap *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->txns[i] != NULL) {
            mdb_txn_abort(s->txns[i]);
            stor__part_unuse(s->env, s->parts[i]);
        }
        stor__part_unref(s->env, s->parts[i]);
    }
    free(s->parts);
    free(s->txns);
    free(s);
}

static int
snap_txn(struct stor_snap *s, size_t i, MDB_txn **out)
{
    if (s->txns[i] == NULL) {
        /* Opens it again if it was closed cold; waits if it is being compacted. */
        int rc = stor__part_use(s->env, s->parts[i]);
        if (rc != 0) {
            return rc;
        }
        rc = mdb_txn_begin(s->parts[i]->mdb, NULL, MDB_RDONLY, &s->txns[i]);
        if (rc != 0) {
            s->txns[i] = NULL;
            stor__part_unuse(s->env, s->parts[i]);
            return stor__err(rc);
        }
    }
    *out = s->txns[i];
    return 0;
}

int
stor_iter_open(struct stor_snap *snap, const struct stor_scan *scan, struct stor_iter **out)
{
    struct stor_iter *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        return -ENOMEM;
    }
    it->snap = snap;
    it->scan = *scan;
    it->conj = calloc((size_t) scan->nconj + 1, sizeof(*it->conj));
    if (it->conj == NULL) {
        free(it);
        return -ENOMEM;
    }
    if (scan->nconj > 0) {
        memcpy(it->conj, scan->conj, scan->nconj * sizeof(*it->conj));
    }
    it->nconj = scan->nconj;
    if (scan->from_ms > 0 || scan->to_ms < UINT64_MAX) {
        struct stor_conj *t = &it->conj[it->nconj++];
        t->n = 1;
        t->any[0].field = STOR_F_END;
        t->any[0].lo = scan->from_ms;
        t->any[0].hi = scan->to_ms > 0 ? scan->to_ms - 1 : 0;
    }
    it->scan.conj = NULL;
    *out = it;
    return 0;
}

void
stor_iter_project(struct stor_iter *it, uint64_t cols)
{
    it->cols = cols;
}

void
stor_iter_close(struct stor_iter *it)
{
    if (it == NULL) {
        return;
    }
    if (it->wcur != NULL) {
        mdb_cursor_close(it->wcur);
    }
    if (it->icur != NULL) {
        mdb_cursor_close(it->icur);
    }
    free(it->recs);
    free(it->conj);
    free(it);
}

void
stor_iter_stats(const struct stor_iter *it, struct stor_scan_stats *out)
{
    *out = it->stats;
}

/* Count a damaged item the scan skips, and name the first one of the scan to the host. */
static void
skip_corrupt(struct stor_iter *it, const char *what)
{
    it->stats.blocks_corrupt++;
    atomic_fetch_add(&it->snap->env->ctr.blocks_corrupt, 1);
    if (!it->told) {
        it->told = true;
        stor__notice(it->snap->env,
                     "partition %s/p-%010u.mdb: %s of flow log %u, window %u failed its checks "
                     "and was skipped",
                     it->snap->env->dir, it->snap->parts[it->part]->start_s, what, it->flowlog,
                     it->window);
    }
}

static bool
window_wanted(const struct stor_iter *it, uint16_t fl, uint32_t start, uint32_t len)
{
    if (it->scan.flowlog >= 0 && fl != (uint16_t) it->scan.flowlog) {
        return false;
    }
    uint64_t lo = (uint64_t) start * 1000u, hi = ((uint64_t) start + len) * 1000u;
    return lo < it->scan.to_ms && hi > it->scan.from_ms;
}

static void
close_cursor(MDB_cursor **c)
{
    if (*c != NULL) {
        mdb_cursor_close(*c);
        *c = NULL;
    }
}

/* Move to the next wanted window; false at the end of every partition. */
static int
next_window(struct stor_iter *it)
{
    for (; it->part < it->snap->n; it->part++, it->started = false) {
        struct stor_part *p = it->snap->parts[it->part];
        uint64_t span = it->snap->env->cfg.partition_s;
        if ((uint64_t) p->start_s * 1000u >= it->scan.to_ms ||
            ((uint64_t) p->start_s + span) * 1000u + 600000u <= it->scan.from_ms) {
            close_cursor(&it->wcur);
            continue;
        }
        MDB_txn *txn;
        MDB_val k, v;
        int rc;
        if ((rc = snap_txn(it->snap, it->part, &txn)) != 0) {
            return rc;
        }
        if (!it->started) {
            close_cursor(&it->wcur);
            if ((rc = mdb_cursor_open(txn, p->windows, &it->wcur)) != 0) {
                return stor__err(rc);
            }
            rc = mdb_cursor_get(it->wcur, &k, &v, MDB_FIRST);
            it->started = true;
        } else {
            rc = mdb_cursor_get(it->wcur, &k, &v, MDB_NEXT);
        }
        for (; rc == 0; rc = mdb_cursor_get(it->wcur, &k, &v, MDB_NEXT)) {
            struct stor_win w = {0};
            uint16_t fl;
            uint32_t start;
            stor__key_parse(k.mv_data, k.mv_size, &fl, &start, NULL);
            if (stor__win_read(v.mv_data, v.mv_size, &w) != 0) {
                it->flowlog = fl;
                it->window = start;
                skip_corrupt(it, "a window record");
                continue;
            }
            if (window_wanted(it, fl, start, w.window_s)) {
                it->flowlog = fl;
                it->window = start;
                it->stats.windows++;
                return 1;
            }
        }
        if (rc != MDB_NOTFOUND) {
            return stor__err(rc);
        }
    }
    return 0;
}

static int
decode_into(struct stor_iter *it, const MDB_val *v, const struct flow_rec **recs, size_t *n)
{
    long cnt = stor__block_count(v->mv_data, v->mv_size);
    if (cnt < 0) {
        return (int) cnt;
    }
    if ((size_t) cnt > it->cap) {
        struct flow_rec *r = realloc(it->recs, (size_t) cnt * sizeof(*r));
        if (r == NULL) {
            return -ENOMEM;
        }
        it->recs = r;
        it->cap = (size_t) cnt;
    }
    int rc = stor__block_decode_cols(v->mv_data, v->mv_size, it->recs, it->cap, n, it->cols);
    if (rc == 0) {
        *recs = it->recs;
        it->stats.records += *n;
    }
    return rc;
}

/* Step icur over the items of the current window in dbi; 1 with (k, v), 0 when done. */
static int
next_item(struct stor_iter *it, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    uint8_t key[STOR_KEY_ITEM];
    int rc;

    if (!it->ipos) {
        MDB_txn *txn = it->snap->txns[it->part];
        close_cursor(&it->icur);
        if ((rc = mdb_cursor_open(txn, dbi, &it->icur)) != 0) {
            return stor__err(rc);
        }
        stor__key_item(key, it->flowlog, it->window, 0);
        k->mv_size = STOR_KEY_ITEM;
        k->mv_data = key;
        rc = mdb_cursor_get(it->icur, k, v, MDB_SET_RANGE);
        it->ipos = true;
    } else {
        rc = mdb_cursor_get(it->icur, k, v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return stor__err(rc);
    }
    uint16_t fl;
    uint32_t start;
    stor__key_parse(k->mv_data, k->mv_size, &fl, &start, NULL);
    return fl == it->flowlog && start == it->window ? 1 : 0;
}

/*
 * The next block summary of the window, counted, that the scan's conditions do not rule out:
 * 1 with *sum and its key in *k, 0 at the window's end, or an error. Damaged summaries are
 * skipped and counted, ruled-out blocks counted as skipped.
 */
static int
next_sum(struct stor_iter *it, struct stor_part *p, MDB_val *k, struct stor_sum *sum)
{
    MDB_val v;
    int rc;

    while ((rc = next_item(it, p->sums, k, &v)) == 1) {
        it->stats.blocks++;
        if (stor__sum_read(v.mv_data, v.mv_size, sum) != 0) {
            skip_corrupt(it, "a block summary");
        } else if (!stor__sum_may_match(sum, it->conj, it->nconj)) {
            it->stats.blocks_skipped++;
        } else {
            return 1;
        }
    }
    return rc;
}

/* The next sealed block of the window that its summary does not rule out. */
static int
next_block(struct stor_iter *it, const struct flow_rec **recs, size_t *n)
{
    struct stor_part *p = it->snap->parts[it->part];
    struct stor_sum sum;
    MDB_val k;
    int rc;

    while ((rc = next_sum(it, p, &k, &sum)) == 1) {
        MDB_val bv;
        if ((rc = mdb_get(it->snap->txns[it->part], p->blocks, &k, &bv)) != 0) {
            if (rc != MDB_NOTFOUND) {
                return stor__err(rc);
            }
            skip_corrupt(it, "a block (missing beside its summary)");
            continue;
        }
        if ((rc = decode_into(it, &bv, recs, n)) == STOR_E_CORRUPT) {
            skip_corrupt(it, "a sealed block");
            continue;
        }
        return rc == 0 ? 1 : rc;
    }
    return rc;
}

int
stor_iter_next(struct stor_iter *it, const struct flow_rec **recs, size_t *n)
{
    int rc;

    for (;;) {
        if (it->phase == PH_WINDOW) {
            if ((rc = next_window(it)) <= 0) {
                return rc;
            }
            it->phase = PH_BLOCKS;
            it->ipos = false;
        }
        if (it->phase == PH_BLOCKS) {
            if ((rc = next_block(it, recs, n)) != 0) {
                return rc;
            }
            it->phase = PH_RUNS;
            it->ipos = false;
        }
        MDB_val k, v;
        rc = next_item(it, it->snap->parts[it->part]->runs, &k, &v);
        if (rc == 1) {
            it->stats.blocks++;
            if ((rc = decode_into(it, &v, recs, n)) == STOR_E_CORRUPT) {
                skip_corrupt(it, "a run");
                continue;
            }
            return rc == 0 ? 1 : rc;
        }
        if (rc < 0) {
            return rc;
        }
        it->phase = PH_WINDOW;
    }
}

/* The windows of partition i that overlap [from_ms, to_ms), to fn. 0, fn's first non-zero
 * result, or a storage error (LMDB's codes translated). A damaged window record is skipped. */
static int
windows_part(struct stor_snap *snap, size_t i, uint64_t from_ms, uint64_t to_ms, stor_window_fn *fn,
             void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, mrc;

    if ((rc = snap_txn(snap, i, &txn)) != 0) {
        return rc;
    }
    if ((rc = mdb_cursor_open(txn, snap->parts[i]->windows, &cur)) != 0) {
        return stor__err(rc);
    }
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct stor_win w = {0};
        struct stor_window_info info;
        stor__key_parse(k.mv_data, k.mv_size, &info.flowlog, &info.start_s, NULL);
        if (stor__win_read(v.mv_data, v.mv_size, &w) != 0) {
            atomic_fetch_add(&snap->env->ctr.blocks_corrupt, 1);
            continue;
        }
        uint64_t lo = (uint64_t) info.start_s * 1000u;
        if (lo >= to_ms || lo + (uint64_t) w.window_s * 1000u <= from_ms) {
            continue;
        }
        info.window_s = w.window_s;
        info.sealed = w.sealed;
        info.records = w.rows;
        info.late = w.late;
        info.blocks = w.blocks;
        info.bytes = w.bytes;
        rc = fn(arg, &info);
    }
    mdb_cursor_close(cur);
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = stor__err(mrc);
    }
    return rc;
}

int
stor_windows_each(struct stor_snap *snap, uint64_t from_ms, uint64_t to_ms, stor_window_fn *fn,
                  void *arg)
{
    uint64_t span = snap->env->cfg.partition_s;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < snap->n; i++) {
        /* Only partitions whose windows can overlap the range are opened (a window starts
         * in its partition and lasts at most 600 s). */
        uint64_t lo = (uint64_t) snap->parts[i]->start_s * 1000u;
        if (lo < to_ms && lo + span * 1000u + 600000u > from_ms) {
            rc = windows_part(snap, i, from_ms, to_ms, fn, arg);
        }
    }
    return rc;
}

int
stor_scan_plan(struct stor_snap *snap, const struct stor_scan *scan, struct stor_scan_stats *out)
{
    struct stor_iter *it;
    MDB_val k, v;
    int rc = stor_iter_open(snap, scan, &it);

    if (rc != 0) {
        return rc;
    }
    while ((rc = next_window(it)) == 1) {
        struct stor_part *p = snap->parts[it->part];
        it->ipos = false;
        struct stor_sum sum;
        while ((rc = next_sum(it, p, &k, &sum)) == 1) {
            it->stats.records += sum.n;
        }
        if (rc < 0) {
            break;
        }
        it->ipos = false;
        while ((rc = next_item(it, p->runs, &k, &v)) == 1) {
            long cnt = stor__block_count(v.mv_data, v.mv_size);
            it->stats.blocks++;
            it->stats.records += cnt > 0 ? (uint64_t) cnt : 0;
        }
        if (rc < 0) {
            break;
        }
    }
    *out = it->stats;
    stor_iter_close(it);
    return rc;
}
