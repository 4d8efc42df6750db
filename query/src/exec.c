/* SPDX-License-Identifier: MIT */
/*
 * The streaming executor.
 *
 * A query runs in two phases. The record phase scans storage block by block, filters each
 * record exactly (plan.c), and applies the stages before any aggregation: `fields` picks the
 * columns, `limit` before a sort caps its input, `sort` collects records (a top-k heap when a
 * limit follows it, so `sort bytes desc | limit 10` holds 10 records, not all of them) and a
 * limit after it caps the output. Without a sort, records are formatted as they are read and
 * the scan stops as soon as a limit is met. The aggregation phase (`stats`, `top`,
 * `timechart`) groups records in a hash table and then runs the remaining stages (fields,
 * sort, limit) over the resulting table in memory.
 *
 * Output leaves in chunks of whole lines (qry_exec_next), so the caller can apply
 * back-pressure between chunks; every loop checks the time limit and the cancel flag at least
 * once per block or per few thousand rows, and memory used for sorting and grouping is
 * counted against the memory limit.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qry_int.h"

#define CHUNK_BYTES (64 * 1024)
#define MAX_COLS    64

enum phase { PH_SCAN, PH_EMIT_RECS, PH_EMIT_TABLE, PH_DONE };

struct srec {
    struct flow_rec r;
    uint64_t seq;
};

struct agg_state {
    uint64_t count; /* values seen (records for count()) */
    uint64_t sum;
    uint64_t min, max;
    uint64_t *dc; /* open-addressing set of value hashes (0 = empty slot) */
    size_t dc_n, dc_cap;
};

struct group {
    uint64_t hash;
    size_t klen;
    uint8_t *key;
    struct qry__val *vals; /* by-values (copies; text duplicated) */
    struct agg_state *st;
    uint64_t seq;
};

/* A hash-table slot: the hash beside the pointer, so a probe rarely touches a group. */
struct slot {
    uint64_t hash;
    struct group *g;
};

struct qry_exec {
    const struct qry *q;
    struct stor_snap *snap;
    enum qry_fmt fmt;
    struct qry_limits lim;
    const atomic_bool *cancel;
    struct qry__names nm;
    struct stor_iter *it;
    pcre2_match_data *md;
    char line[2048];
    struct qry__buf out;
    bool out_sent;
    enum phase phase;
    uint64_t rows, scanned, mem, seq;
    uint64_t t0_ms, deadline_ms;
    char errmsg[256];
    bool header_done;

    /* record phase */
    uint8_t cols[MAX_COLS];
    size_t ncols;
    char jkey[MAX_COLS][32]; /* ,"name": per column, for JSON rows */
    uint8_t jkeylen[MAX_COLS];
    uint64_t pre_limit, pre_count, post_limit;
    bool sorting, sort_desc;
    int sort_field;
    struct srec *recs;
    size_t nrecs, caprecs;
    size_t pos;

    /* aggregation */
    const struct qry__stage *agg;
    size_t agg_idx;
    struct slot *slots; /* open addressing on the key hash, at most half full */
    size_t nslots, ngroups;
    struct group **list; /* every group, in creation order */
    size_t nhashed, listcap;
    struct qry__arena arena;
    struct qry__arena sarena; /* the groups' states, packed: the per-record working set */
    /* Group keys of one or two small-domain fields (ports, protocol, action, ...) index this
     * array directly: no key building, hashing or comparing per record. */
    struct agg_state **direct; /* the group's states */
    /* Keys of small-domain fields too many for the direct array: the same slot number as a
     * packed key (exact, no key bytes to compare) in an open-addressing table. */
    bool packed;
    struct pslot {
        uint64_t key; /* slot number + 1; 0 = empty */
        struct agg_state *st;
    } * pslots;
    size_t npslots, npacked;
    uint32_t dom[2];

    /* table phase */
    size_t tcols;
    const char *tnames[MAX_COLS];
    int tfield[MAX_COLS];
    size_t tsrc[MAX_COLS]; /* projection: column of the full row */
    size_t tfull;          /* columns of a full row */
    struct qry__val *trows;
    size_t ntrows;
};

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

__attribute__((format(printf, 3, 4))) static int
ex_fail(struct qry_exec *ex, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ex->errmsg, sizeof(ex->errmsg), fmt, ap);
    va_end(ap);
    return rc;
}

static int
mem_add(struct qry_exec *ex, size_t n)
{
    ex->mem += n;
    if (ex->lim.mem_bytes != 0 && ex->mem > ex->lim.mem_bytes) {
        return ex_fail(ex, QRY_E_LIMIT,
                       "memory: the query needs more than %llu bytes to sort or group "
                       "(narrow it, or add a limit)",
                       (unsigned long long) ex->lim.mem_bytes);
    }
    return 0;
}

static int
check_time(struct qry_exec *ex)
{
    if (ex->cancel != NULL && atomic_load(ex->cancel)) {
        return ex_fail(ex, QRY_E_CANCELED, "canceled");
    }
    if (ex->deadline_ms != 0 && mono_ms() > ex->deadline_ms) {
        return ex_fail(ex, QRY_E_TIMEOUT, "the query ran longer than %llu ms",
                       (unsigned long long) ex->lim.time_ms);
    }
    return 0;
}

/* ---- values: comparison and hashing ---- */

static int
val_cmp(const struct qry__val *a, const struct qry__val *b)
{
    if (a->present != b->present) {
        return a->present ? 1 : -1;
    }
    if (!a->present) {
        return 0;
    }
    switch (a->kind) {
    case K_ADDR:
        return memcmp(a->addr, b->addr, 16);
    case K_TEXT:
        return strcmp(a->s, b->s);
    case K_FLOAT:
        return a->d < b->d ? -1 : a->d > b->d;
    default:
        return a->u < b->u ? -1 : a->u > b->u;
    }
}

static uint64_t
hash_bytes(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* A 64-bit identity of a present value for dc(): exact for numbers and IPv4. */
static uint64_t
val_id(const struct qry__val *v)
{
    switch (v->kind) {
    case K_ADDR:
        return hash_bytes(v->addr, 16, 0xcbf29ce484222325ull);
    case K_TEXT:
        return hash_bytes(v->s, strlen(v->s), 0xcbf29ce484222325ull);
    default:
        return mix(v->u + 0x9e3779b97f4a7c15ull);
    }
}

/* ---- output ---- */

static void
json_key(struct qry__buf *b, const char *name, bool first)
{
    if (!first) {
        qry__buf_put(b, ",", 1);
    }
    qry__buf_put(b, "\"", 1);
    qry__buf_puts(b, name);
    qry__buf_put(b, "\":", 2);
}

static void
line_begin(struct qry_exec *ex, size_t *start)
{
    *start = ex->out.len;
    if (ex->fmt == QRY_FMT_JSON) {
        qry__buf_put(&ex->out, "{", 1);
    }
}

/* End a row: no data line may begin with "OK " or "ERR " (DESIGN.md §7). */
static int
line_end(struct qry_exec *ex, size_t start)
{
    struct qry__buf *b = &ex->out;
    if (ex->fmt == QRY_FMT_JSON) {
        qry__buf_put(b, "}", 1);
    }
    qry__buf_put(b, "\n", 1);
    if (b->oom) {
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    const char *l = b->p + start;
    size_t n = b->len - start;
    if ((n >= 3 && memcmp(l, "OK ", 3) == 0) || (n >= 4 && memcmp(l, "ERR ", 4) == 0)) {
        char c = l[0];
        qry__buf_reserve(b, 3);
        if (b->oom) {
            return ex_fail(ex, -ENOMEM, "out of memory");
        }
        memmove(b->p + start + 4, b->p + start + 1, n - 1);
        b->p[start] = '\\';
        b->p[start + 1] = 'x';
        b->p[start + 2] = c == 'O' ? '4' : '4';
        b->p[start + 3] = c == 'O' ? 'f' : '5';
        b->len += 3;
    }
    ex->rows++;
    if (ex->lim.rows != 0 && ex->rows > ex->lim.rows) {
        return ex_fail(ex, QRY_E_LIMIT, "rows: more than %llu rows (add a limit)",
                       (unsigned long long) ex->lim.rows);
    }
    return 0;
}

static void
sep(struct qry_exec *ex, size_t i)
{
    if (i > 0 && ex->fmt != QRY_FMT_JSON) {
        qry__buf_put(&ex->out, ex->fmt == QRY_FMT_CSV ? "," : " ", 1);
    }
}

static int
header(struct qry_exec *ex, size_t n, const char *const *names)
{
    if (ex->header_done || ex->fmt != QRY_FMT_CSV) {
        ex->header_done = true;
        return 0;
    }
    ex->header_done = true;
    for (size_t i = 0; i < n; i++) {
        sep(ex, i);
        qry__fmt_str(&ex->out, QRY_FMT_CSV, names[i], strlen(names[i]));
    }
    qry__buf_put(&ex->out, "\n", 1);
    return 0;
}

static int
emit_rec(struct qry_exec *ex, const struct flow_rec *r)
{
    struct qry__val v;
    size_t start;
    if (!ex->header_done) {
        const char *names[MAX_COLS];
        for (size_t i = 0; i < ex->ncols; i++) {
            names[i] = qry__fields[ex->cols[i]].name;
        }
        header(ex, ex->ncols, names);
    }
    line_begin(ex, &start);
    for (size_t i = 0; i < ex->ncols; i++) {
        int f = ex->cols[i];
        sep(ex, i);
        if (ex->fmt == QRY_FMT_JSON) {
            qry__buf_put(&ex->out, ex->jkey[i] + (i == 0), ex->jkeylen[i] - (i == 0));
        }
        qry__rec_get(r, f, &ex->nm, &v);
        qry__fmt_val(&ex->out, ex->fmt, &v, f);
    }
    return line_end(ex, start);
}

/* ---- aggregation ---- */

static int
group_key(struct qry_exec *ex, const struct flow_rec *r, uint8_t *key, size_t cap, size_t *klen,
          struct qry__val *vals)
{
    const struct qry__stage *s = ex->agg;
    size_t off = 0, nv = 0;
    if (s->kind == S_TIMECHART) {
        uint64_t t = r->end_ms / s->span_ms * s->span_ms;
        memcpy(key, &t, 8);
        off = 8;
        vals[nv] = (struct qry__val){.kind = K_TIME, .present = true, .u = t};
        nv++;
    }
    for (size_t i = 0; i < s->ncols; i++) {
        struct qry__val *v = &vals[nv++];
        qry__rec_get(r, s->cols[i].field, &ex->nm, v);
        if (off + 2 + 16 > cap) {
            return -1;
        }
        key[off++] = v->present;
        if (!v->present) {
            continue;
        }
        if (v->kind == K_ADDR) {
            memcpy(key + off, v->addr, 16);
            off += 16;
        } else if (v->kind == K_TEXT) {
            size_t l = strlen(v->s) + 1;
            if (off + l > cap) {
                return -1;
            }
            memcpy(key + off, v->s, l);
            off += l;
        } else {
            memcpy(key + off, &v->u, 8);
            off += 8;
        }
    }
    *klen = off;
    return 0;
}

static size_t
group_nvals(const struct qry__stage *s)
{
    return s->ncols + (s->kind == S_TIMECHART ? 1 : 0);
}

static size_t
group_naggs(const struct qry__stage *s)
{
    return s->kind == S_TOP ? 1 : s->naggs; /* top: one state, see agg_rec */
}

static void
slot_put(struct slot *t, size_t n, struct group *g)
{
    size_t i = g->hash & (n - 1);
    while (t[i].g != NULL) {
        i = (i + 1) & (n - 1);
    }
    t[i].hash = g->hash;
    t[i].g = g;
}

static int
groups_grow(struct qry_exec *ex)
{
    size_t n = ex->nslots ? ex->nslots * 2 : 2048;
    struct slot *t = calloc(n, sizeof(*t));
    if (t == NULL) {
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ex->nslots; i++) {
        if (ex->slots[i].g != NULL) {
            slot_put(t, n, ex->slots[i].g);
        }
    }
    free(ex->slots);
    ex->slots = t;
    ex->nslots = n;
    return mem_add(ex, n * sizeof(*t) / 2);
}

static int
group_new(struct qry_exec *ex, const uint8_t *key, size_t klen, uint64_t h,
          const struct qry__val *vals, bool hashed, struct group **out)
{
    const struct qry__stage *s = ex->agg;
    size_t nv = group_nvals(s), na = group_naggs(s);
    struct group *g = qry__alloc(&ex->arena, sizeof(*g));
    int rc;
    if (g == NULL || (g->st = qry__alloc(&ex->sarena, na * sizeof(*g->st))) == NULL ||
        (g->key = qry__alloc(&ex->arena, klen)) == NULL ||
        (g->vals = qry__alloc(&ex->arena, nv * sizeof(*vals))) == NULL) {
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    memcpy(g->key, key, klen);
    g->klen = klen;
    g->hash = h;
    g->seq = ex->ngroups;
    for (size_t i = 0; i < nv; i++) {
        g->vals[i] = vals[i];
        if (vals[i].kind == K_TEXT && vals[i].present) {
            g->vals[i].s = qry__strndup(&ex->arena, vals[i].s, strlen(vals[i].s));
            if (g->vals[i].s == NULL) {
                return ex_fail(ex, -ENOMEM, "out of memory");
            }
        }
    }
    if ((rc = mem_add(ex, sizeof(*g) + klen + nv * sizeof(*vals) + na * sizeof(*g->st) + 64)) !=
        0) {
        return rc;
    }
    if (ex->ngroups == ex->listcap) {
        size_t cap = ex->listcap ? ex->listcap * 2 : 1024;
        struct group **l = realloc(ex->list, cap * sizeof(*l));
        if (l == NULL) {
            return ex_fail(ex, -ENOMEM, "out of memory");
        }
        ex->list = l;
        ex->listcap = cap;
    }
    ex->list[ex->ngroups++] = g;
    if (hashed) {
        if ((ex->nhashed + 1) * 2 > ex->nslots && (rc = groups_grow(ex)) != 0) {
            return rc;
        }
        slot_put(ex->slots, ex->nslots, g);
        ex->nhashed++;
    }
    *out = g;
    return 0;
}

static int
dc_add(struct qry_exec *ex, struct agg_state *st, uint64_t id)
{
    if (id == 0) {
        id = 1;
    }
    if (st->dc_n * 2 >= st->dc_cap) {
        size_t cap = st->dc_cap ? st->dc_cap * 2 : 16;
        uint64_t *set = calloc(cap, sizeof(*set));
        int rc;
        if (set == NULL) {
            return ex_fail(ex, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < st->dc_cap; i++) {
            if (st->dc[i] != 0) {
                size_t j = st->dc[i] & (cap - 1);
                while (set[j] != 0) {
                    j = (j + 1) & (cap - 1);
                }
                set[j] = st->dc[i];
            }
        }
        free(st->dc);
        st->dc = set;
        if ((rc = mem_add(ex, (cap - st->dc_cap) * sizeof(*set))) != 0) {
            st->dc_cap = cap;
            return rc;
        }
        st->dc_cap = cap;
    }
    size_t j = id & (st->dc_cap - 1);
    while (st->dc[j] != 0) {
        if (st->dc[j] == id) {
            return 0;
        }
        j = (j + 1) & (st->dc_cap - 1);
    }
    st->dc[j] = id;
    st->dc_n++;
    return 0;
}

static void
state_add(struct agg_state *st, const struct qry__val *v)
{
    if (!v->present) {
        return;
    }
    if (st->count == 0 || v->u < st->min) {
        st->min = v->u;
    }
    if (st->count == 0 || v->u > st->max) {
        st->max = v->u;
    }
    st->count++;
    st->sum += v->u;
}

/* The group of r through the hash table (created when new). */
static int
group_find(struct qry_exec *ex, const struct flow_rec *r, struct group **out)
{
    uint8_t key[1024];
    struct qry__val vals[40];
    size_t klen;
    if (group_key(ex, r, key, sizeof(key), &klen, vals) != 0) {
        return ex_fail(ex, QRY_E_LIMIT, "group key too long");
    }
    uint64_t h = mix(hash_bytes(key, klen, 0xcbf29ce484222325ull));
    for (size_t i = ex->nslots ? h & (ex->nslots - 1) : 0; ex->nslots != 0;
         i = (i + 1) & (ex->nslots - 1)) {
        struct group *g = ex->slots[i].g;
        if (g == NULL) {
            break;
        }
        if (ex->slots[i].hash == h && g->klen == klen && memcmp(g->key, key, klen) == 0) {
            *out = g;
            return 0;
        }
    }
    return group_new(ex, key, klen, h, vals, true, out);
}

/* A new group for a direct slot: never looked up by hash, so not hashed. */
static int
group_direct(struct qry_exec *ex, const struct flow_rec *r, struct group **out)
{
    uint8_t key[64];
    struct qry__val vals[4];
    size_t klen;
    if (group_key(ex, r, key, sizeof(key), &klen, vals) != 0) {
        return ex_fail(ex, QRY_E_LIMIT, "group key too long");
    }
    return group_new(ex, key, klen, 0, vals, false, out);
}

/* The slot of r in the direct array, or SIZE_MAX when a value is outside its domain. */
static size_t
direct_slot(const struct qry_exec *ex, const struct flow_rec *r)
{
    const struct qry__stage *s = ex->agg;
    size_t idx = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        struct qry__val v;
        qry__rec_get(r, s->cols[i].field, &ex->nm, &v);
        if (v.present && v.u >= ex->dom[i]) {
            return SIZE_MAX;
        }
        idx = idx * (ex->dom[i] + 1u) + (v.present ? (size_t) v.u + 1u : 0u);
    }
    return idx;
}

static void
pslot_put(struct pslot *t, size_t n, uint64_t key, struct agg_state *st)
{
    size_t i = mix(key) & (n - 1);
    while (t[i].key != 0) {
        i = (i + 1) & (n - 1);
    }
    t[i].key = key;
    t[i].st = st;
}

/* The states of r's group by its packed key (created when new). */
static int
packed_find(struct qry_exec *ex, const struct flow_rec *r, size_t slot, struct agg_state **out)
{
    uint64_t key = (uint64_t) slot + 1u;
    for (size_t i = ex->npslots ? mix(key) & (ex->npslots - 1) : 0; ex->npslots != 0;
         i = (i + 1) & (ex->npslots - 1)) {
        if (ex->pslots[i].key == key) {
            *out = ex->pslots[i].st;
            return 0;
        }
        if (ex->pslots[i].key == 0) {
            break;
        }
    }
    int rc;
    if ((ex->npacked + 1) * 2 > ex->npslots) {
        size_t n = ex->npslots ? ex->npslots * 2 : 2048;
        struct pslot *t = calloc(n, sizeof(*t));
        if (t == NULL) {
            return ex_fail(ex, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < ex->npslots; i++) {
            if (ex->pslots[i].key != 0) {
                pslot_put(t, n, ex->pslots[i].key, ex->pslots[i].st);
            }
        }
        free(ex->pslots);
        ex->pslots = t;
        ex->npslots = n;
        if ((rc = mem_add(ex, n * sizeof(*t) / 2)) != 0) {
            return rc;
        }
    }
    struct group *g;
    if ((rc = group_direct(ex, r, &g)) != 0) {
        return rc;
    }
    pslot_put(ex->pslots, ex->npslots, key, g->st);
    ex->npacked++;
    *out = g->st;
    return 0;
}

static int
agg_rec(struct qry_exec *ex, const struct flow_rec *r)
{
    const struct qry__stage *s = ex->agg;
    struct qry__val v;
    struct agg_state *st = NULL;
    int rc;
    size_t slot = ex->direct != NULL || ex->packed ? direct_slot(ex, r) : SIZE_MAX;
    if (slot != SIZE_MAX && ex->packed) {
        if ((rc = packed_find(ex, r, slot, &st)) != 0) {
            return rc;
        }
    } else if (slot != SIZE_MAX) {
        st = ex->direct[slot];
    }
    if (st == NULL) {
        struct group *g;
        if ((rc = slot != SIZE_MAX ? group_direct(ex, r, &g) : group_find(ex, r, &g)) != 0) {
            return rc;
        }
        st = g->st;
        if (slot != SIZE_MAX) {
            ex->direct[slot] = st;
        }
    }
    if (s->kind == S_TOP) {
        /* One state per group, to keep groups small: count = flows, sum = bytes and
         * max = packets (sums of the values present; missing counts as 0). */
        st->count++;
        qry__rec_get(r, F_PACKETS, &ex->nm, &v);
        st->max += v.u;
        qry__rec_get(r, F_BYTES, &ex->nm, &v);
        st->sum += v.u;
        return 0;
    }
    for (size_t i = 0; i < s->naggs; i++) {
        const struct qry__agg *a = &s->aggs[i];
        if (a->kind == A_COUNT) {
            st[i].count++;
            continue;
        }
        qry__rec_get(r, a->field, &ex->nm, &v);
        if (a->kind == A_DC) {
            if (v.present && (rc = dc_add(ex, &st[i], val_id(&v))) != 0) {
                return rc;
            }
            continue;
        }
        state_add(&st[i], &v);
    }
    return 0;
}

static struct qry__val
agg_value(const struct qry__agg *a, const struct agg_state *st)
{
    struct qry__val v = {.kind = K_NUM, .present = true};
    uint8_t fk = a->field >= 0 ? qry__fields[a->field].kind : K_NUM;
    switch (a->kind) {
    case A_COUNT:
        v.u = st->count;
        break;
    case A_DC:
        v.u = st->dc_n;
        break;
    case A_SUM:
        v.u = st->sum;
        v.present = st->count > 0;
        break;
    case A_AVG:
        v.kind = K_FLOAT;
        v.d = st->count ? (double) st->sum / (double) st->count : 0;
        v.present = st->count > 0;
        break;
    default:
        v.kind = fk == K_TIME ? K_TIME : K_NUM;
        v.u = a->kind == A_MIN ? st->min : st->max;
        v.present = st->count > 0;
        break;
    }
    return v;
}

/* ---- sorting (stable merge sort with a context: qsort has none, and executors run on
 * several threads at once) ---- */

typedef int cmp_fn(const void *a, const void *b, const void *ctx);

static void
msort(void **a, void **tmp, size_t n, cmp_fn *cmp, const void *ctx)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    msort(a, tmp, h, cmp, ctx);
    msort(a + h, tmp, n - h, cmp, ctx);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        tmp[k++] = cmp(a[j], a[i], ctx) < 0 ? a[j++] : a[i++];
    }
    while (i < h) {
        tmp[k++] = a[i++];
    }
    while (j < n) {
        tmp[k++] = a[j++];
    }
    memcpy(a, tmp, n * sizeof(*a));
}

static int
sort_ptrs(struct qry_exec *ex, void **a, size_t n, cmp_fn *cmp, const void *ctx)
{
    void **tmp = malloc((n ? n : 1) * sizeof(*tmp));
    if (tmp == NULL) {
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    msort(a, tmp, n, cmp, ctx);
    free(tmp);
    return 0;
}

/* ---- record sort: collect, or a top-k heap when a limit follows ---- */

/* < 0 when a is output before b. */
static int
srec_cmp(const void *pa, const void *pb, const void *ctx)
{
    const struct qry_exec *ex = ctx;
    const struct srec *a = pa, *b = pb;
    struct qry__val va, vb;
    qry__rec_get(&a->r, ex->sort_field, &ex->nm, &va);
    qry__rec_get(&b->r, ex->sort_field, &ex->nm, &vb);
    int c = val_cmp(&va, &vb);
    if (ex->sort_desc) {
        c = -c;
    }
    return c != 0 ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
heap_swap(struct srec *h, size_t i, size_t j)
{
    struct srec t = h[i];
    h[i] = h[j];
    h[j] = t;
}

/* Max-heap on output order: the root is the record that would be output last. */
static void
heap_down(struct qry_exec *ex, size_t i)
{
    struct srec *h = ex->recs;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ex->nrecs && srec_cmp(&h[l], &h[m], ex) > 0) {
            m = l;
        }
        if (r < ex->nrecs && srec_cmp(&h[r], &h[m], ex) > 0) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(h, i, m);
        i = m;
    }
}

static void
heap_up(struct qry_exec *ex, size_t i)
{
    struct srec *h = ex->recs;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (srec_cmp(&h[i], &h[p], ex) <= 0) {
            return;
        }
        heap_swap(h, i, p);
        i = p;
    }
}

static int
sort_add(struct qry_exec *ex, const struct flow_rec *r)
{
    struct srec s = {.r = *r, .seq = ex->seq++};
    bool heap = ex->post_limit != UINT64_MAX;
    if (heap && ex->nrecs == ex->post_limit) {
        if (ex->nrecs > 0 && srec_cmp(&s, &ex->recs[0], ex) < 0) {
            ex->recs[0] = s;
            heap_down(ex, 0);
        }
        return 0;
    }
    if (ex->nrecs == ex->caprecs) {
        size_t cap = ex->caprecs ? ex->caprecs * 2 : 256;
        if (heap && cap > ex->post_limit) {
            cap = (size_t) ex->post_limit;
        }
        int rc = mem_add(ex, (cap - ex->caprecs) * sizeof(struct srec));
        if (rc != 0) {
            return rc;
        }
        struct srec *n = realloc(ex->recs, cap * sizeof(*n));
        if (n == NULL) {
            return ex_fail(ex, -ENOMEM, "out of memory");
        }
        ex->recs = n;
        ex->caprecs = cap;
    }
    ex->recs[ex->nrecs++] = s;
    if (heap) {
        heap_up(ex, ex->nrecs - 1);
    }
    return 0;
}

static int
sort_finish(struct qry_exec *ex)
{
    void **p = malloc((ex->nrecs ? ex->nrecs : 1) * sizeof(*p));
    int rc;
    if (p == NULL) {
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ex->nrecs; i++) {
        p[i] = &ex->recs[i];
    }
    rc = sort_ptrs(ex, p, ex->nrecs, srec_cmp, ex);
    struct srec *sorted = rc == 0 ? malloc((ex->nrecs ? ex->nrecs : 1) * sizeof(*sorted)) : NULL;
    if (rc == 0 && sorted == NULL) {
        rc = ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < ex->nrecs; i++) {
        sorted[i] = *(struct srec *) p[i];
    }
    free(p);
    if (rc == 0) {
        free(ex->recs);
        ex->recs = sorted;
    }
    if (ex->nrecs > ex->post_limit) {
        ex->nrecs = (size_t) ex->post_limit;
    }
    ex->pos = 0;
    return rc;
}

/* ---- the table after aggregation ---- */

struct tcmp {
    size_t col;
    bool desc;
    size_t nkeys;
};

static int
trow_cmp(const void *pa, const void *pb, const void *ctx)
{
    const struct tcmp *t = ctx;
    const struct qry__val *a = pa, *b = pb;
    int c = t->col < SIZE_MAX ? val_cmp(&a[t->col], &b[t->col]) : 0;
    if (t->desc) {
        c = -c;
    }
    for (size_t i = 0; c == 0 && i < t->nkeys; i++) {
        c = val_cmp(&a[i], &b[i]);
    }
    return c;
}

static int
table_sort(struct qry_exec *ex, const struct tcmp *t)
{
    void **p = malloc((ex->ntrows ? ex->ntrows : 1) * sizeof(*p));
    struct qry__val *sorted = malloc((ex->ntrows ? ex->ntrows : 1) * ex->tfull * sizeof(*sorted));
    int rc = 0;
    if (p == NULL || sorted == NULL) {
        rc = ex_fail(ex, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ex->ntrows; i++) {
        p[i] = &ex->trows[i * ex->tfull];
    }
    if ((rc = sort_ptrs(ex, p, ex->ntrows, trow_cmp, t)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < ex->ntrows; i++) {
        memcpy(&sorted[i * ex->tfull], p[i], ex->tfull * sizeof(*sorted));
    }
    free(ex->trows);
    ex->trows = sorted;
    sorted = NULL;
out:
    free(sorted);
    free(p);
    return rc;
}

/* Keep only the n rows that sort first under t (in no particular order): a bounded heap. */
static int
table_select(struct qry_exec *ex, const struct tcmp *t, size_t n)
{
    if (n == 0 || ex->ntrows <= n) {
        return 0;
    }
    struct qry__val **h = malloc(n * sizeof(*h));
    struct qry__val *keep = malloc(n * ex->tfull * sizeof(*keep));
    size_t nh = 0;
    if (h == NULL || keep == NULL) {
        free(h);
        free(keep);
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < ex->ntrows; r++) {
        struct qry__val *row = &ex->trows[r * ex->tfull];
        size_t i;
        if (nh < n) {
            i = nh++;
            h[i] = row;
            while (i > 0 && trow_cmp(h[i], h[(i - 1) / 2], t) > 0) { /* max-heap: worst on top */
                struct qry__val *x = h[i];
                h[i] = h[(i - 1) / 2];
                h[(i - 1) / 2] = x;
                i = (i - 1) / 2;
            }
            continue;
        }
        if (trow_cmp(row, h[0], t) >= 0) {
            continue;
        }
        h[0] = row;
        for (i = 0;;) {
            size_t l = 2 * i + 1, rr = l + 1, m = i;
            if (l < nh && trow_cmp(h[l], h[m], t) > 0) {
                m = l;
            }
            if (rr < nh && trow_cmp(h[rr], h[m], t) > 0) {
                m = rr;
            }
            if (m == i) {
                break;
            }
            struct qry__val *x = h[i];
            h[i] = h[m];
            h[m] = x;
            i = m;
        }
    }
    for (size_t i = 0; i < nh; i++) {
        memcpy(&keep[i * ex->tfull], h[i], ex->tfull * sizeof(*keep));
    }
    free(h);
    free(ex->trows);
    ex->trows = keep;
    ex->ntrows = nh;
    return 0;
}

static void
table_columns(struct qry_exec *ex)
{
    const struct qry__stage *s = ex->agg;
    size_t n = 0;
    if (s->kind == S_TIMECHART) {
        ex->tnames[n] = "_time";
        ex->tfield[n++] = -1;
    }
    for (size_t i = 0; i < s->ncols; i++) {
        ex->tnames[n] = s->cols[i].name;
        ex->tfield[n++] = s->cols[i].field;
    }
    if (s->kind == S_TOP) {
        static const char *const m[3] = {"flows", "packets", "bytes"};
        for (int i = 0; i < 3; i++) {
            ex->tnames[n] = m[i];
            ex->tfield[n++] = -1;
        }
    } else {
        for (size_t i = 0; i < s->naggs; i++) {
            ex->tnames[n] = s->aggs[i].name;
            ex->tfield[n++] = -1;
        }
    }
    ex->tfull = ex->tcols = n;
    for (size_t i = 0; i < n; i++) {
        ex->tsrc[i] = i;
    }
}

static size_t
table_find(const struct qry_exec *ex, const char *name)
{
    for (size_t i = 0; i < ex->tfull; i++) {
        if (strcmp(ex->tnames[i], name) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* The remaining stages, in order, over the table. */
static int
table_stages(struct qry_exec *ex)
{
    int rc;
    for (size_t i = ex->agg_idx + 1; i < ex->q->nstages; i++) {
        const struct qry__stage *s = &ex->q->stages[i];
        if (s->kind == S_LIMIT && s->n < ex->ntrows) {
            ex->ntrows = (size_t) s->n;
        } else if (s->kind == S_SORT) {
            struct tcmp t = {.col = table_find(ex, s->cols[0].name), .desc = s->desc};
            if ((rc = table_sort(ex, &t)) != 0) {
                return rc;
            }
        } else if (s->kind == S_FIELDS) {
            for (size_t j = 0; j < s->ncols; j++) {
                ex->tsrc[j] = table_find(ex, s->cols[j].name);
            }
            ex->tcols = s->ncols;
        }
    }
    return 0;
}

static int
table_build(struct qry_exec *ex)
{
    const struct qry__stage *s = ex->agg;
    size_t nv = group_nvals(s), na = group_naggs(s);
    int rc;
    table_columns(ex);
    if (s->kind == S_STATS && s->ncols == 0 && ex->ngroups == 0) {
        /* stats without `by` answers one row even over no records (count 0) */
        struct group *g;
        if ((rc = group_new(ex, (const uint8_t *) "", 0, 0, NULL, true, &g)) != 0) {
            return rc;
        }
    }
    if ((rc = mem_add(ex, ex->ngroups * ex->tfull * sizeof(struct qry__val))) != 0) {
        return rc;
    }
    ex->trows = calloc(ex->ngroups ? ex->ngroups * ex->tfull : 1, sizeof(*ex->trows));
    if (ex->trows == NULL) {
        return ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < ex->ngroups; r++) {
        const struct group *g = ex->list[r];
        struct qry__val *row = &ex->trows[r * ex->tfull];
        memcpy(row, g->vals, nv * sizeof(*row));
        for (size_t i = 0; s->kind == S_TOP && i < 3; i++) {
            uint64_t u = i == 0 ? g->st->count : i == 1 ? g->st->max : g->st->sum;
            row[nv + i] = (struct qry__val){.kind = K_NUM, .present = true, .u = u};
        }
        for (size_t i = 0; s->kind != S_TOP && i < na; i++) {
            row[nv + i] = agg_value(&s->aggs[i], &g->st[i]);
        }
    }
    ex->ntrows = ex->ngroups;
    /* Default order: by the group columns; top: by its metric, largest first, then cut. */
    struct tcmp t = {.col = SIZE_MAX, .nkeys = nv};
    if (s->kind == S_TOP) {
        t.col = nv + s->top_by;
        t.desc = true;
        if ((rc = table_select(ex, &t, (size_t) s->n)) != 0) {
            return rc;
        }
    }
    if ((rc = table_sort(ex, &t)) != 0) {
        return rc;
    }
    if (s->kind == S_TOP && ex->ntrows > s->n) {
        ex->ntrows = (size_t) s->n;
    }
    ex->pos = 0;
    return table_stages(ex);
}

static int
emit_trow(struct qry_exec *ex, const struct qry__val *row)
{
    size_t start;
    if (!ex->header_done) {
        const char *names[MAX_COLS];
        for (size_t j = 0; j < ex->tcols; j++) {
            names[j] = ex->tnames[ex->tsrc[j]];
        }
        header(ex, ex->tcols, names);
    }
    line_begin(ex, &start);
    for (size_t j = 0; j < ex->tcols; j++) {
        size_t c = ex->tsrc[j];
        sep(ex, j);
        if (ex->fmt == QRY_FMT_JSON) {
            json_key(&ex->out, ex->tnames[c], j == 0);
        }
        qry__fmt_val(&ex->out, ex->fmt, &row[c], ex->tfield[c]);
    }
    return line_end(ex, start);
}

/* ---- the scan ---- */

/* A record that passed the filter and the limit before any sort. */
static int
rec_out(struct qry_exec *ex, const struct flow_rec *r)
{
    if (ex->sorting) {
        return sort_add(ex, r);
    }
    if (ex->agg != NULL) {
        return agg_rec(ex, r);
    }
    return emit_rec(ex, r);
}

/* Record stages before the aggregation: columns, limits and the one sort. */
static void
record_plan(struct qry_exec *ex)
{
    const struct qry *q = ex->q;
    memcpy(ex->cols, qry__default_cols, qry__ndefault_cols);
    ex->ncols = qry__ndefault_cols;
    ex->pre_limit = ex->post_limit = UINT64_MAX;
    for (size_t i = 0; i < q->nstages; i++) {
        const struct qry__stage *s = &q->stages[i];
        if (s->kind == S_STATS || s->kind == S_TOP || s->kind == S_TIMECHART) {
            ex->agg = s;
            ex->agg_idx = i;
            break;
        }
        if (s->kind == S_FIELDS) {
            ex->ncols = 0;
            for (size_t j = 0; j < s->ncols && j < MAX_COLS; j++) {
                ex->cols[ex->ncols++] = (uint8_t) s->cols[j].field;
            }
        } else if (s->kind == S_SORT) {
            ex->sorting = true;
            ex->sort_field = s->cols[0].field;
            ex->sort_desc = s->desc;
        } else if (s->kind == S_LIMIT) {
            uint64_t *l = ex->sorting ? &ex->post_limit : &ex->pre_limit;
            if (s->n < *l) {
                *l = s->n;
            }
        }
    }
    if (!ex->sorting && ex->agg == NULL) {
        ex->post_limit = ex->pre_limit;
    }
    for (size_t i = 0; i < ex->ncols; i++) {
        int n =
            snprintf(ex->jkey[i], sizeof(ex->jkey[i]), ",\"%s\":", qry__fields[ex->cols[i]].name);
        ex->jkeylen[i] = (uint8_t) n;
    }
}

/* Values a field can take, for direct group indexing; 0 when too many. */
static uint32_t
field_domain(int f)
{
    switch (f) {
    case F_SRCPORT:
    case F_DSTPORT:
    case F_TCPFLAGS:
        return 65536;
    case F_PROTOCOL:
    case F_TOS:
    case F_VERSION:
        return 256;
    case F_ACTION:
    case F_LOGSTATUS:
    case F_DIRECTION:
        return 3;
    default:
        return 0;
    }
}

static int
direct_setup(struct qry_exec *ex)
{
    const struct qry__stage *s = ex->agg;
    if (s == NULL || s->kind == S_TIMECHART || s->ncols == 0 || s->ncols > 2) {
        return 0;
    }
    size_t slots = 1;
    for (size_t i = 0; i < s->ncols; i++) {
        ex->dom[i] = field_domain(s->cols[i].field);
        if (ex->dom[i] == 0) {
            return 0;
        }
        slots *= ex->dom[i] + 1u; /* + missing */
    }
    if (slots > (1u << 20)) {
        ex->packed = true; /* at most 65537^2 slots: fits the key */
        return 0;
    }
    int rc = mem_add(ex, slots * sizeof(*ex->direct));
    if (rc != 0) {
        return rc;
    }
    ex->direct = calloc(slots, sizeof(*ex->direct));
    return ex->direct != NULL ? 0 : -ENOMEM;
}

static int
scan_done(struct qry_exec *ex)
{
    int rc = 0;
    if (ex->sorting) {
        if ((rc = sort_finish(ex)) != 0) {
            return rc;
        }
        if (ex->agg == NULL) {
            ex->phase = PH_EMIT_RECS;
            return 0;
        }
        for (size_t i = 0; i < ex->nrecs && rc == 0; i++) {
            rc = agg_rec(ex, &ex->recs[i].r);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (ex->agg != NULL) {
        ex->phase = PH_EMIT_TABLE;
        return table_build(ex);
    }
    ex->phase = PH_DONE;
    return 0;
}

static int
scan_block(struct qry_exec *ex, const struct flow_rec *recs, size_t n)
{
    int rc;
    for (size_t i = 0; i < n; i++) {
        ex->scanned++;
        /* storage picks windows and blocks by the range; the records are checked here */
        if (recs[i].end_ms < ex->q->from_ms || recs[i].end_ms >= ex->q->to_ms) {
            continue;
        }
        int m =
            qry__match(ex->q, ex->q->expr, &recs[i], &ex->nm, ex->md, ex->line, sizeof(ex->line));
        if (m < 0) {
            return ex_fail(ex, QRY_E_REGEX, "a regex reached its match limit");
        }
        if (m == 0) {
            continue;
        }
        if (ex->pre_count >= ex->pre_limit) {
            return 1;
        }
        ex->pre_count++;
        if ((rc = rec_out(ex, &recs[i])) != 0) {
            return rc;
        }
    }
    return ex->pre_count >= ex->pre_limit ? 1 : 0;
}

static int
step_scan(struct qry_exec *ex)
{
    const struct flow_rec *recs;
    size_t n;
    int rc = stor_iter_next(ex->it, &recs, &n);
    if (rc < 0) {
        return ex_fail(ex, rc, "storage: %s", stor_strerror(rc));
    }
    if (rc == 0) {
        return scan_done(ex); /* the end of the scan */
    }
    rc = scan_block(ex, recs, n);
    if (rc < 0) {
        return rc;
    }
    return rc == 1 ? scan_done(ex) : 0; /* 1: the limit is met, stop reading */
}

int
qry_exec_next(struct qry_exec *ex, uint32_t slice_ms, const char **data, size_t *len)
{
    uint64_t start = mono_ms();
    int rc = 0;
    if (ex->out_sent) {
        ex->out.len = 0;
        ex->out_sent = false;
    }
    while (ex->phase != PH_DONE && ex->out.len < CHUNK_BYTES) {
        if ((rc = check_time(ex)) != 0) {
            return rc;
        }
        if (ex->phase == PH_SCAN) {
            rc = step_scan(ex);
        } else if (ex->phase == PH_EMIT_RECS) {
            for (size_t k = 0; rc == 0 && k < 1024 && ex->pos < ex->nrecs; k++) {
                rc = emit_rec(ex, &ex->recs[ex->pos++].r);
            }
            ex->phase = ex->pos < ex->nrecs ? PH_EMIT_RECS : PH_DONE;
        } else {
            for (size_t k = 0; rc == 0 && k < 1024 && ex->pos < ex->ntrows; k++) {
                rc = emit_trow(ex, &ex->trows[ex->pos++ * ex->tfull]);
            }
            ex->phase = ex->pos < ex->ntrows ? PH_EMIT_TABLE : PH_DONE;
        }
        if (rc != 0) {
            return rc;
        }
        if (slice_ms != 0 && mono_ms() - start >= slice_ms) {
            break;
        }
    }
    if (ex->phase == PH_DONE && ex->out.len == 0) {
        return 0;
    }
    *data = ex->out.p != NULL ? ex->out.p : "";
    *len = ex->out.len;
    ex->out_sent = true;
    return 1;
}

int
qry_exec_open(struct qry_exec **out, struct stor_env *env, const struct qry *q,
              struct stor_snap *snap, enum qry_fmt fmt, const struct qry_limits *lim,
              const atomic_bool *cancel)
{
    struct qry_exec *ex = calloc(1, sizeof(*ex));
    int rc;
    if (ex == NULL) {
        return -ENOMEM;
    }
    ex->q = q;
    ex->snap = snap;
    ex->fmt = fmt;
    ex->lim = lim != NULL ? *lim : (struct qry_limits){0};
    ex->cancel = cancel;
    ex->t0_ms = mono_ms();
    ex->deadline_ms = ex->lim.time_ms ? ex->t0_ms + ex->lim.time_ms : 0;
    record_plan(ex);
    if ((rc = direct_setup(ex)) != 0) {
        goto fail;
    }
    if ((rc = qry__names_load(&ex->nm, env)) != 0) {
        goto fail;
    }
    if ((ex->md = pcre2_match_data_create(1, NULL)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = stor_iter_open(snap, &q->scan, &ex->it)) != 0) {
        goto fail;
    }
    *out = ex;
    return 0;
fail:
    qry_exec_close(ex);
    return rc;
}

void
qry_exec_counts(const struct qry_exec *ex, uint64_t *rows, uint64_t *scanned)
{
    *rows = ex->rows;
    *scanned = ex->scanned;
}

const char *
qry_exec_errmsg(const struct qry_exec *ex)
{
    return ex->errmsg;
}

void
qry_exec_close(struct qry_exec *ex)
{
    if (ex == NULL) {
        return;
    }
    for (size_t k = 0; k < ex->ngroups; k++) {
        for (size_t i = 0; i < group_naggs(ex->agg); i++) {
            free(ex->list[k]->st[i].dc);
        }
    }
    free(ex->slots);
    free(ex->pslots);
    free(ex->direct);
    free(ex->list);
    qry__arena_free(&ex->arena);
    qry__arena_free(&ex->sarena);
    free(ex->trows);
    free(ex->recs);
    qry__buf_free(&ex->out);
    pcre2_match_data_free(ex->md);
    stor_iter_close(ex->it);
    free(ex);
}

/* ---- compile ---- */

const char *
qry_strerror(int err)
{
    switch (err) {
    case QRY_E_PARSE:
        return "bad query";
    case QRY_E_LIMIT:
        return "a query limit was reached";
    case QRY_E_TIMEOUT:
        return "the query took too long";
    case QRY_E_CANCELED:
        return "the query was canceled";
    case QRY_E_REGEX:
        return "a regex reached its match limit";
    case QRY_E_AGAIN:
        return "not now";
    default:
        if (err <= -1100 && err > -1200) {
            return stor_strerror(err);
        }
        return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

int
qry_compile(struct qry **out, const char *text, size_t len, uint64_t now_ms, struct qry_error *err)
{
    struct qry *q = calloc(1, sizeof(*q));
    int rc;
    err->col = 0;
    err->limited = false;
    err->msg[0] = '\0';
    if (q == NULL) {
        return -ENOMEM;
    }
    if ((q->text = qry__strndup(&q->arena, text, len)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = qry__parse(q, q->text, len, now_ms, err)) != 0 || (rc = qry__plan(q, err)) != 0) {
        goto fail;
    }
    *out = q;
    return 0;
fail:
    qry_free(q);
    return rc;
}

void
qry_free(struct qry *q)
{
    if (q == NULL) {
        return;
    }
    for (struct qry__node *n = q->regexes; n != NULL; n = n->next_re) {
        pcre2_code_free(n->re);
    }
    pcre2_match_context_free(q->mctx);
    qry__arena_free(&q->arena);
    free(q);
}
