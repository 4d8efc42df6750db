/* SPDX-License-Identifier: MIT */
/*
 * The ClickHouse outbox (issue 14, docs/scale-out.md): what sealed data still has to be
 * shipped. Every seal segment (a window's first seal, each segment of a big window, and each
 * reseal of late records) adds one key to its partition's `outbox` database in the same write
 * transaction that writes its blocks, so a crash between seal and ship loses nothing: the
 * outbox says what is owed, and the blocks it names are immutable, so a batch rebuilt from them
 * after a restart is byte-identical. The sink (collector/sink.c) lists the keys in order,
 * reads the blocks through a read transaction and deletes a key once every shard holds it.
 * Retention bounds the outbox: a partition dropped with keys still in it is counted
 * (store outbox dropped windows and rows) and logged. Leaves shipping, batching and retries
 * to the sink; written only when stor_cfg.outbox is set ([clickhouse] url).
 *
 *   partition "outbox" DB
 *     key: 0 flowlog u16 | 2 window start u32 | 6 first block u32          (big-endian)
 *     value: offset size field
 *            0      4    end block (exclusive)
 *            4      4    window length, seconds
 *            8      8    rows in blocks [first, end)
 *            16     8    sealed at, wall-clock ms                           (24 bytes)
 */
#include <errno.h>
#include <stdlib.h>

#include <lmdb.h>

#include "block.h"
#include "flow_bytes.h"
#include "flow_clock.h"
#include "stor.h"
#include "stor_int.h"

#define OUTBOX_VAL_BYTES 24

int
stor__outbox_put(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job,
                 uint32_t first_block, uint32_t nblocks, uint64_t rows)
{
    uint8_t k[STOR_KEY_ITEM], v[OUTBOX_VAL_BYTES];
    MDB_val key = {STOR_KEY_ITEM, k}, val = {OUTBOX_VAL_BYTES, v};

    if (!p->outbox_on || nblocks == 0) {
        return 0;
    }
    stor__key_item(k, job->flowlog, job->start_s, first_block);
    flow_put_be(v, first_block + nblocks, 4);
    flow_put_be(v + 4, job->window_s, 4);
    flow_put_be(v + 8, rows, 8);
    flow_put_be(v + 16, flow_wall_ms(), 8);
    return stor__err(mdb_put(txn, p->outbox, &key, &val, 0));
}

static bool
item_parse(uint32_t part_s, const MDB_val *k, const MDB_val *v, struct stor_outbox_item *it)
{
    if (k->mv_size != STOR_KEY_ITEM || v->mv_size != OUTBOX_VAL_BYTES) {
        return false;
    }
    const uint8_t *p = v->mv_data;
    it->part_s = part_s;
    stor__key_parse(k->mv_data, k->mv_size, &it->flowlog, &it->start_s, &it->first_block);
    it->end_block = (uint32_t) flow_get_be(p, 4);
    it->window_s = (uint32_t) flow_get_be(p + 4, 4);
    it->rows = flow_get_be(p + 8, 8);
    it->sealed_ms = flow_get_be(p + 16, 8);
    return it->end_block > it->first_block;
}

/* The keys of partition p (open and in use), in key order, to fn. */
static int
each_in(struct stor_part *p, stor_outbox_fn *fn, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, mrc;

    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) != 0) {
        return stor__err(rc);
    }
    if ((rc = mdb_cursor_open(txn, p->outbox, &cur)) != 0) {
        mdb_txn_abort(txn);
        return stor__err(rc);
    }
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct stor_outbox_item it;
        if (item_parse(p->start_s, &k, &v, &it)) {
            rc = fn(arg, &it);
        }
    }
    if (rc == 0 && mrc != MDB_NOTFOUND && mrc != 0) {
        rc = stor__err(mrc);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

static int
each_part(struct stor_env *env, uint32_t start_s, stor_outbox_fn *fn, void *arg)
{
    struct stor_part *p;
    int rc = stor__part_acquire(env, start_s, false, &p);

    if (rc != 0) {
        return rc == STOR_E_NOTFOUND ? 0 : rc; /* dropped meanwhile */
    }
    rc = each_in(p, fn, arg);
    stor__part_release(env, p);
    return rc;
}

/* The starts of the live partitions, oldest first; *out is malloc'ed. */
static int
part_starts(struct stor_env *env, uint32_t **out, size_t *n)
{
    pthread_mutex_lock(&env->lock);
    uint32_t *s = malloc((env->nparts + 1) * sizeof(*s));
    size_t k = 0;
    for (size_t i = 0; s != NULL && i < env->nparts; i++) {
        if (!env->parts[i]->doomed) {
            s[k++] = env->parts[i]->start_s;
        }
    }
    pthread_mutex_unlock(&env->lock);
    *out = s;
    *n = k;
    return s == NULL ? -ENOMEM : 0;
}

int
stor_outbox_each(struct stor_env *env, stor_outbox_fn *fn, void *arg)
{
    uint32_t *starts;
    size_t n;
    int rc = part_starts(env, &starts, &n);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = each_part(env, starts[i], fn, arg);
    }
    free(starts);
    return rc;
}

/* Decode one block of the item and hand its records to fn. */
static int
read_block(MDB_txn *txn, struct stor_part *p, const struct stor_outbox_item *it, uint32_t b,
           struct flow_rec **buf, size_t *cap, stor_outbox_rec_fn *fn, void *arg)
{
    uint8_t k[STOR_KEY_ITEM];
    MDB_val key = {STOR_KEY_ITEM, k}, v;
    size_t n = 0;

    stor__key_item(k, it->flowlog, it->start_s, b);
    int rc = mdb_get(txn, p->blocks, &key, &v);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? STOR_E_CORRUPT : stor__err(rc);
    }
    long cnt = stor__block_count(v.mv_data, v.mv_size);
    if (cnt < 0) {
        return (int) cnt;
    }
    if ((size_t) cnt > *cap) {
        struct flow_rec *r = realloc(*buf, (size_t) cnt * sizeof(*r));
        if (r == NULL) {
            return -ENOMEM;
        }
        *buf = r;
        *cap = (size_t) cnt;
    }
    if ((rc = stor__block_decode(v.mv_data, v.mv_size, *buf, *cap, &n)) != 0) {
        return rc;
    }
    return fn(arg, *buf, n);
}

int
stor_outbox_read(struct stor_env *env, const struct stor_outbox_item *it, stor_outbox_rec_fn *fn,
                 void *arg)
{
    struct stor_part *p;
    struct flow_rec *buf = NULL;
    size_t cap = 0;
    MDB_txn *txn;
    int rc = stor__part_acquire(env, it->part_s, false, &p);

    if (rc != 0) {
        return rc;
    }
    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) != 0) {
        rc = stor__err(rc);
        goto release;
    }
    for (uint32_t b = it->first_block; rc == 0 && b < it->end_block; b++) {
        rc = read_block(txn, p, it, b, &buf, &cap, fn, arg);
    }
    mdb_txn_abort(txn);
    free(buf);
release:
    stor__part_release(env, p);
    return rc;
}

int
stor_outbox_done(struct stor_env *env, const struct stor_outbox_item *it)
{
    uint8_t k[STOR_KEY_ITEM];
    MDB_val key = {STOR_KEY_ITEM, k};
    struct stor_part *p;
    MDB_txn *txn;
    int rc = stor__part_acquire(env, it->part_s, false, &p);

    if (rc != 0) {
        return rc == STOR_E_NOTFOUND ? 0 : rc; /* dropped meanwhile: counted there */
    }
    stor__key_item(k, it->flowlog, it->start_s, it->first_block);
    if ((rc = mdb_txn_begin(p->mdb, NULL, 0, &txn)) != 0) {
        rc = stor__err(rc);
        goto release;
    }
    rc = mdb_del(txn, p->outbox, &key, NULL);
    if (rc == 0 || rc == MDB_NOTFOUND) {
        rc = stor__err(mdb_txn_commit(txn));
    } else {
        mdb_txn_abort(txn);
        rc = stor__err(rc);
    }
release:
    stor__part_release(env, p);
    return rc;
}

struct drop_count {
    uint64_t items;
    uint64_t rows;
};

static int
drop_one(void *arg, const struct stor_outbox_item *it)
{
    struct drop_count *d = arg;
    d->items++;
    d->rows += it->rows;
    return 0;
}

void
stor__outbox_dropping(struct stor_env *env, struct stor_part *p)
{
    struct drop_count d = {0, 0};

    if (!env->cfg.outbox || stor__part_use(env, p) != 0) {
        return;
    }
    int rc = each_in(p, drop_one, &d);
    stor__part_unuse(env, p);
    if (rc != 0 || d.items == 0) {
        return;
    }
    atomic_fetch_add(&env->ctr.outbox_dropped, d.items);
    atomic_fetch_add(&env->ctr.outbox_dropped_rows, d.rows);
    stor__notice(env,
                 "clickhouse-outbox-dropped: retention dropped partition %u with %llu unshipped "
                 "seal(s), %llu rows",
                 (unsigned) p->start_s, (unsigned long long) d.items, (unsigned long long) d.rows);
}

void
stor_outbox_dropped(struct stor_env *env, uint64_t *items, uint64_t *rows)
{
    *items = atomic_load(&env->ctr.outbox_dropped);
    *rows = atomic_load(&env->ctr.outbox_dropped_rows);
}
