/* SPDX-License-Identifier: MIT */
/*
 * Window rollups (docs/storage.md "Rollups"): when a seal segment is written, the totals of
 * its rows by the dimensions a dashboard charts (protocol, direction, action, log-status,
 * exporter, instance-id; the flow log and window are the key's) go into the partition's
 * `rollups` database in the same write transaction, under the key of the segment's first
 * block. A reseal adds blocks after the window's blocks and so a rollup of its own: the
 * rollups of a window add up to its rows exactly when their block ranges cover its blocks.
 * Reading checks that, and that no run is left, else the window is the scan's. What to do
 * with the rows (a query) is query/src/rollup.c's.
 *
 * Value (big-endian):
 *   offset size  field
 *   0      1     magic 0x52 ('R')
 *   1      1     layout version (1)
 *   2      4     blocks covered (from the key's block on)
 *   6      4     groups g
 *   10     136·g groups:
 *     0    4     presence bits (of STOR_ROLLUP_HAS)
 *     4    1     protocol; 5 direction; 6 action; 7 log-status
 *     8    16    exporter
 *     24   40    instance id, NUL-padded
 *     64   8     records
 *     72   32    packets: rows present, sum, min, max
 *     104  32    bytes: rows present, sum, min, max
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "rollup.h"

#define RU_MAGIC   0x52
#define RU_VERSION 1
#define RU_HEAD    10
#define RU_GROUP   136

static _Atomic uint64_t skipped;

uint64_t
stor_rollup_skipped(void)
{
    return atomic_load_explicit(&skipped, memory_order_relaxed);
}

/* The dimension values of r as a rollup row with no totals. */
static void
row_dims(const struct flow_rec *r, struct stor_rollup_row *d)
{
    memset(d, 0, sizeof(*d));
    d->present = r->present & STOR_ROLLUP_HAS;
    d->protocol = (d->present & FLOW_HAS_PROTOCOL) ? r->protocol : 0;
    d->direction = (d->present & FLOW_HAS_DIRECTION) ? r->direction : 0;
    d->action = r->action;
    d->log_status = r->log_status;
    memcpy(d->exporter, r->exporter, 16);
    if (d->present & FLOW_HAS_INSTANCE) {
        memcpy(d->instance_id, r->instance_id, FLOW_ID_MAX);
        d->instance_id[FLOW_ID_MAX - 1] = '\0';
        size_t l = strlen(d->instance_id);
        memset(d->instance_id + l, 0, FLOW_ID_MAX - l);
    }
}

/* The dimension part of a row (everything before records) compares as bytes. */
#define DIMS_BYTES offsetof(struct stor_rollup_row, records)

static void
metric_add(struct stor_rollup_row *g, int i, bool present, uint64_t v)
{
    if (!present) {
        return;
    }
    if (g->n[i] == 0 || v < g->min[i]) {
        g->min[i] = v;
    }
    if (g->n[i] == 0 || v > g->max[i]) {
        g->max[i] = v;
    }
    g->n[i]++;
    g->sum[i] += v;
}

struct ru_table {
    uint32_t *slot; /* group index + 1; 0 = empty */
    size_t nslots;
    struct stor_rollup_row *g;
    size_t n;
};

/* The group of dims d in t (created when new); NULL past STOR_ROLLUP_GROUPS_MAX. */
static struct stor_rollup_row *
table_find(struct ru_table *t, const struct stor_rollup_row *d)
{
    uint64_t h = XXH3_64bits(d, DIMS_BYTES);
    for (size_t i = h & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1)) {
        if (t->slot[i] == 0) {
            if (t->n == STOR_ROLLUP_GROUPS_MAX) {
                return NULL;
            }
            t->g[t->n] = *d;
            t->slot[i] = (uint32_t) ++t->n;
            return &t->g[t->n - 1];
        }
        struct stor_rollup_row *g = &t->g[t->slot[i] - 1];
        if (memcmp(g, d, DIMS_BYTES) == 0) {
            return g;
        }
    }
}

static void
group_write(uint8_t *o, const struct stor_rollup_row *g)
{
    flow_put_be(o, g->present, 4);
    o[4] = g->protocol;
    o[5] = g->direction;
    o[6] = g->action;
    o[7] = g->log_status;
    memcpy(o + 8, g->exporter, 16);
    memcpy(o + 24, g->instance_id, FLOW_ID_MAX);
    flow_put_be(o + 64, g->records, 8);
    for (int i = 0; i < 2; i++) {
        uint8_t *m = o + 72 + 32 * i;
        flow_put_be(m, g->n[i], 8);
        flow_put_be(m + 8, g->sum[i], 8);
        flow_put_be(m + 16, g->min[i], 8);
        flow_put_be(m + 24, g->max[i], 8);
    }
}

static void
group_read(const uint8_t *o, struct stor_rollup_row *g)
{
    memset(g, 0, sizeof(*g));
    g->present = (uint32_t) flow_get_be(o, 4) & STOR_ROLLUP_HAS;
    g->protocol = o[4];
    g->direction = o[5];
    g->action = o[6];
    g->log_status = o[7];
    memcpy(g->exporter, o + 8, 16);
    memcpy(g->instance_id, o + 24, FLOW_ID_MAX);
    g->instance_id[FLOW_ID_MAX - 1] = '\0';
    g->records = flow_get_be(o + 64, 8);
    for (int i = 0; i < 2; i++) {
        const uint8_t *m = o + 72 + 32 * i;
        g->n[i] = flow_get_be(m, 8);
        g->sum[i] = flow_get_be(m + 8, 8);
        g->min[i] = flow_get_be(m + 16, 8);
        g->max[i] = flow_get_be(m + 24, 8);
    }
}

/* Encode t's groups (blocks covered are written by stor__rollup_put). */
static int
table_encode(const struct ru_table *t, struct stor__rollup_buf *b)
{
    b->len = RU_HEAD + t->n * RU_GROUP;
    if ((b->p = malloc(b->len)) == NULL) {
        return -ENOMEM;
    }
    b->p[0] = RU_MAGIC;
    b->p[1] = RU_VERSION;
    flow_put_be(b->p + 2, 0, 4);
    flow_put_be(b->p + 6, t->n, 4);
    for (size_t i = 0; i < t->n; i++) {
        group_write(b->p + RU_HEAD + i * RU_GROUP, &t->g[i]);
    }
    return 0;
}

int
stor__rollup_build(const struct flow_rec *recs, size_t n, struct stor__rollup_buf *b)
{
    size_t cap = n < STOR_ROLLUP_GROUPS_MAX ? n + 1 : STOR_ROLLUP_GROUPS_MAX;
    struct ru_table t = {.n = 0};
    int rc = 0;

    b->p = NULL;
    b->len = 0;
    for (t.nslots = 16; t.nslots < cap * 2; t.nslots *= 2) {
    }
    t.slot = calloc(t.nslots, sizeof(*t.slot));
    t.g = malloc(cap * sizeof(*t.g));
    if (t.slot == NULL || t.g == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct stor_rollup_row d;
        row_dims(&recs[i], &d);
        struct stor_rollup_row *g = table_find(&t, &d);
        if (g == NULL) {
            atomic_fetch_add_explicit(&skipped, 1, memory_order_relaxed);
            goto out; /* no rollup: the window is answered by the scan */
        }
        g->records++;
        metric_add(g, 0, (recs[i].present & FLOW_HAS_PACKETS) != 0, recs[i].packets);
        metric_add(g, 1, (recs[i].present & FLOW_HAS_BYTES) != 0, recs[i].bytes);
    }
    rc = table_encode(&t, b);
out:
    free(t.slot);
    free(t.g);
    return rc;
}

int
stor__rollup_put(MDB_txn *txn, struct stor_part *p, uint16_t flowlog, uint32_t start_s,
                 uint32_t first_block, uint32_t nblocks, const struct stor__rollup_buf *b)
{
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v = {b->len, b->p};

    if (b->p == NULL) {
        return 0;
    }
    flow_put_be(b->p + 2, nblocks, 4);
    stor__key_item(key, flowlog, start_s, first_block);
    return stor__err(mdb_put(txn, p->rollups, &k, &v, 0));
}

void
stor__rollup_buf_free(struct stor__rollup_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
}

/* ---- reading ---- */

/* Does the window have runs (open or late rows the rollups do not hold)? */
static int
runs_left(MDB_txn *txn, struct stor_part *p, uint16_t flowlog, uint32_t start_s)
{
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    MDB_cursor *cur;
    int rc;

    stor__key_item(key, flowlog, start_s, 0);
    if ((rc = mdb_cursor_open(txn, p->runs, &cur)) != 0) {
        return stor__err(rc);
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return stor__err(rc);
    }
    uint16_t fl;
    uint32_t st, run;
    stor__key_parse(k.mv_data, k.mv_size, &fl, &st, &run);
    return fl == flowlog && st == start_s ? 1 : 0;
}

/* Append the groups of one rollup value to *rows; *covered advances by its blocks. 0 when
 * it does not continue the blocks covered so far (a gap: no answer), 1 when added. */
static int
value_add(const MDB_val *v, uint32_t first_block, uint32_t *covered, struct stor_rollup_row **rows,
          size_t *n)
{
    const uint8_t *b = v->mv_data;
    if (v->mv_size < RU_HEAD || b[0] != RU_MAGIC || b[1] != RU_VERSION) {
        return STOR_E_CORRUPT;
    }
    uint32_t nblocks = (uint32_t) flow_get_be(b + 2, 4);
    size_t g = (size_t) flow_get_be(b + 6, 4);
    if (g > STOR_ROLLUP_GROUPS_MAX || v->mv_size != RU_HEAD + g * RU_GROUP) {
        return STOR_E_CORRUPT;
    }
    if (first_block != *covered) {
        return 0;
    }
    struct stor_rollup_row *r = realloc(*rows, (*n + g + 1) * sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    *rows = r;
    for (size_t i = 0; i < g; i++) {
        group_read(b + RU_HEAD + i * RU_GROUP, &r[(*n)++]);
    }
    *covered += nblocks;
    return 1;
}

/* Every rollup of the window, in block order; 1 when they cover `blocks` blocks exactly. */
static int
rollups_read(MDB_txn *txn, struct stor_part *p, uint16_t flowlog, uint32_t start_s, uint32_t blocks,
             struct stor_rollup_row **rows, size_t *n)
{
    uint8_t key[STOR_KEY_ITEM];
    MDB_val k = {STOR_KEY_ITEM, key}, v;
    MDB_cursor *cur;
    uint32_t covered = 0;
    int rc;

    stor__key_item(key, flowlog, start_s, 0);
    if ((rc = mdb_cursor_open(txn, p->rollups, &cur)) != 0) {
        return stor__err(rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint16_t fl;
        uint32_t st, first;
        stor__key_parse(k.mv_data, k.mv_size, &fl, &st, &first);
        if (fl != flowlog || st != start_s) {
            break;
        }
        if ((rc = value_add(&v, first, &covered, rows, n)) != 1) {
            goto close_cur; /* 0: a gap (rows of a seal without rollup); or an error */
        }
    }
    rc = rc == 0 || rc == MDB_NOTFOUND ? (covered == blocks ? 1 : 0) : stor__err(rc);
close_cur:
    mdb_cursor_close(cur);
    return rc;
}

/* The window's record and rollups in txn: 1 answered, 0 not, negative on error. */
static int
window_rollup(MDB_txn *txn, struct stor_part *p, uint16_t flowlog, uint32_t start_s,
              struct stor_rollup_row **rows, size_t *n)
{
    uint8_t wk[STOR_KEY_WIN];
    MDB_val key = {STOR_KEY_WIN, wk}, val;
    struct stor_win w = {0};
    int rc;

    stor__key_win(wk, flowlog, start_s);
    if ((rc = mdb_get(txn, p->windows, &key, &val)) != 0) {
        return rc == MDB_NOTFOUND ? 0 : stor__err(rc);
    }
    if ((rc = stor__win_read(val.mv_data, val.mv_size, &w)) != 0) {
        return rc;
    }
    if (!w.sealed) {
        return 0;
    }
    if ((rc = runs_left(txn, p, flowlog, start_s)) != 0) {
        return rc < 0 ? rc : 0;
    }
    return rollups_read(txn, p, flowlog, start_s, w.blocks, rows, n);
}

int
stor_rollup_get(struct stor_env *env, uint16_t flowlog, uint32_t start_s,
                struct stor_rollup_row **rows, size_t *n)
{
    struct stor_part *p;
    MDB_txn *txn;
    int rc = stor__part_acquire(env, stor__part_start(env, start_s), false, &p);

    *rows = NULL;
    *n = 0;
    if (rc != 0) {
        return rc == STOR_E_NOTFOUND ? 0 : rc;
    }
    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) != 0) {
        rc = stor__err(rc);
        goto release;
    }
    rc = window_rollup(txn, p, flowlog, start_s, rows, n);
    mdb_txn_abort(txn);
release:
    stor__part_release(env, p);
    if (rc != 1) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}
