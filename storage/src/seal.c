/* SPDX-License-Identifier: MIT */
/*
 * Sealing a capture window, in one write transaction on its partition: read every run,
 * aggregate them (unless the flow log is raw), add NODATA rows for known instances that sent
 * nothing and SKIPDATA rows for instances whose sequence numbers showed loss (DESIGN.md §4),
 * sort by source address, destination address and ports (so block summaries have tight
 * ranges), write the blocks and their summaries, delete the runs and mark the window sealed.
 * A crash before the commit leaves the runs as they were; after it, only the sealed form.
 *
 * Also stor__put_blocks, which writes sealed rows as columnar blocks with their summaries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stor_int.h"

int
stor__put_blocks(struct stor_env *env, MDB_txn *txn, MDB_dbi dbi, MDB_dbi sums, uint16_t flowlog,
                 uint32_t window, uint32_t first, const struct flow_rec *recs,
                 const uint32_t *order, size_t n, uint32_t *blocks, uint64_t *bytes)
{
    struct stor_buf buf = {0};
    struct stor_sum sum;
    uint8_t key[STOR_KEY_ITEM], sumv[STOR_SUM_BYTES];
    size_t per = env->cfg.block_records;
    struct flow_rec *chunk = NULL;
    int rc = 0;

    if (order != NULL && (chunk = malloc(per * sizeof(*chunk))) == NULL) {
        return -ENOMEM;
    }
    for (size_t off = 0; off < n && rc == 0; off += per) {
        size_t k = n - off < per ? n - off : per;
        const struct flow_rec *src = recs + off;
        if (order != NULL) {
            for (size_t i = 0; i < k; i++) {
                chunk[i] = recs[order[off + i]];
            }
            src = chunk;
        }
        buf.len = 0;
        rc = stor__block_encode(src, k, &buf, &sum);
        if (rc != 0) {
            break;
        }
        stor__key_item(key, flowlog, window, first + *blocks);
        MDB_val mk = {STOR_KEY_ITEM, key}, mv = {buf.len, buf.p};
        if ((rc = mdb_put(txn, dbi, &mk, &mv, 0)) != 0) {
            rc = stor__err(rc);
            break;
        }
        stor__sum_write(&sum, sumv);
        MDB_val sv = {STOR_SUM_BYTES, sumv};
        if ((rc = mdb_put(txn, sums, &mk, &sv, 0)) != 0) {
            rc = stor__err(rc);
            break;
        }
        *bytes += buf.len;
        (*blocks)++;
    }
    stor__buf_free(&buf);
    free(chunk);
    return rc;
}

/* Sort key of a sealed row: source address, destination address, ports, protocol, start.
 * Integers compare faster than memcmp over 384-byte records, and only keys move. */
struct skey {
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    uint64_t rest; /* srcport 16 | dstport 16 | protocol 8, then the index */
    uint64_t start;
    uint32_t idx;
};

static uint64_t
be64(const uint8_t *p)
{
    return stor__get_be(p, 8);
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

/* Read and delete every run of the window, adding its records to agg. */
static int
take_runs(MDB_txn *txn, struct stor_part *p, const struct stor_win *win, struct stor_agg *agg)
{
    MDB_cursor *cur;
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    struct flow_rec *tmp = NULL;
    size_t tmp_cap = 0;
    int rc;

    stor__key_item(key, win->flowlog, win->start_s, 0);
    if ((rc = mdb_cursor_open(txn, p->runs, &cur)) != 0) {
        return stor__err(rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint16_t fl;
        uint32_t start;
        stor__key_parse(k.mv_data, k.mv_size, &fl, &start, NULL);
        if (fl != win->flowlog || start != win->start_s) {
            break;
        }
        long cnt = stor__block_count(v.mv_data, v.mv_size);
        if (cnt < 0) {
            rc = (int) cnt;
            goto out;
        }
        if ((size_t) cnt > tmp_cap) {
            struct flow_rec *t = realloc(tmp, (size_t) cnt * sizeof(*t));
            if (t == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            tmp = t;
            tmp_cap = (size_t) cnt;
        }
        size_t n;
        if ((rc = stor__block_decode(v.mv_data, v.mv_size, tmp, tmp_cap, &n)) != 0) {
            goto out;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = stor__agg_add(agg, &tmp[i]);
        }
        if (rc != 0 || (rc = mdb_cursor_del(cur, 0)) != 0) {
            rc = rc < 0 ? rc : stor__err(rc);
            goto out;
        }
    }
    rc = rc == MDB_NOTFOUND ? 0 : stor__err(rc);
out:
    mdb_cursor_close(cur);
    free(tmp);
    return rc;
}

static int
status_row(struct stor_agg *agg, const struct stor_win *win, const struct stor_inst *s,
           uint8_t status)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    r.flowlog = win->flowlog;
    r.window = win->start_s;
    r.log_status = status;
    r.start_ms = (uint64_t) win->start_s * 1000u;
    r.end_ms = ((uint64_t) win->start_s + win->window_s) * 1000u - 1u;
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
status_rows(struct stor_agg *agg, const struct stor_win *win, uint32_t *nodata, uint32_t *skipdata)
{
    int rc = 0;

    for (size_t j = 0; j < win->ninst && rc == 0; j++) {
        const struct stor_inst *s = &win->inst[j];
        if (!s->seen && s->id[0] != '\0') {
            rc = status_row(agg, win, s, FLOW_LS_NODATA);
            (*nodata)++;
        }
        if (rc == 0 && s->missed > 0) {
            rc = status_row(agg, win, s, FLOW_LS_SKIPDATA);
            (*skipdata)++;
        }
    }
    return rc;
}

/* agg is the writer's scratch, reused from seal to seal so its memory is touched once. */
static int
seal_txn(struct stor_env *env, struct stor_part *p, struct stor_win *win,
         const struct stor_flowlog *def, struct stor_agg *scratch, struct stor_win *out)
{
    MDB_txn *txn;
    struct stor_agg *agg = scratch;
    int rc;

    stor__agg_clear(agg);
    agg->aggregate = def->aggregate;
    *out = *win;
    out->seal_nodata = out->seal_skipdata = 0;
    if ((rc = mdb_txn_begin(p->mdb, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    if ((rc = take_runs(txn, p, win, agg)) != 0 ||
        (rc = status_rows(agg, win, &out->seal_nodata, &out->seal_skipdata)) != 0) {
        goto abort;
    }
    uint32_t *order = sorted_order(agg);
    if (order == NULL) {
        rc = -ENOMEM;
        goto abort;
    }
    out->blocks = 0;
    out->bytes = 0;
    rc = agg->n == 0 ? 0
                     : stor__put_blocks(env, txn, p->blocks, p->sums, win->flowlog, win->start_s, 0,
                                        agg->recs, order, agg->n, &out->blocks, &out->bytes);
    free(order);
    if (rc != 0) {
        goto abort;
    }
    out->sealed = true;
    out->rows = agg->n;
    uint8_t k[STOR_KEY_WIN], v[STOR_WIN_BYTES];
    MDB_val key = {STOR_KEY_WIN, k}, val = {STOR_WIN_BYTES, v};
    stor__key_win(k, win->flowlog, win->start_s);
    stor__win_write(out, v);
    if ((rc = mdb_put(txn, p->windows, &key, &val, 0)) != 0) {
        rc = stor__err(rc);
        goto abort;
    }
    return stor__err(mdb_txn_commit(txn));
abort:
    mdb_txn_abort(txn);
    return rc;
}

int
stor__seal(struct stor_env *env, struct stor_win *win, const struct stor_flowlog *def,
           struct stor_agg *scratch)
{
    struct stor_part *p;
    struct stor_win done;
    int rc = stor__part_get(env, stor__part_start(env, win->start_s), true, &p);

    if (rc != 0) {
        return rc;
    }
    for (;;) {
        pthread_rwlock_rdlock(&p->grow);
        rc = seal_txn(env, p, win, def, scratch, &done);
        pthread_rwlock_unlock(&p->grow);
        /* A full map grows and the seal runs again; growth stops at map_max_bytes. */
        if (rc != STOR_E_FULL || stor__part_grow(p, env->cfg.map_max_bytes) != 0) {
            break;
        }
    }
    if (rc == 0) {
        p->compact_checked = false; /* the runs' pages are free now: worth a look */
        win->sealed = true;
        win->blocks = done.blocks;
        win->rows = done.rows;
        win->bytes = done.bytes;
        win->seal_nodata = done.seal_nodata;
        win->seal_skipdata = done.seal_skipdata;
    }
    return rc;
}
