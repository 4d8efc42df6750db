/* SPDX-License-Identifier: MIT */
/*
 * Grouping records for `stats`, `top` and `timechart` (exec_int.h). Three strategies; the
 * first two are kept because they pay (docs/query.md, "Grouping strategies": 1M records,
 * Release, medians, against the hashed path alone):
 *
 *   direct  one or two small-domain `by` fields (ports, protocol, tos, action, ...) with at
 *           most 2^20 combinations index an array of group states: no key, hash or compare
 *           per record (`by dstport` 119 against 251 ms, `top 10 dstport` 96 against 210)
 *   packed  two small-domain fields with more combinations: the same slot number as an exact
 *           64-bit key in an open-addressing table (`by dstport, protocol` 176 against 285)
 *   hashed  anything else: the packed `by` values as key bytes, XXH3 with a seed drawn per
 *           executor, so no one who chooses the values can aim them at one run of slots
 *
 * A group's states live packed in their own arena (the per-record working set); memory is
 * counted against the query's limit.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "exec_int.h"

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

/* A 64-bit identity of a present value for dc(): exact for numbers (mix is a bijection);
 * addresses and text by their seeded hash. */
static uint64_t
val_id(const struct qry__val *v, uint64_t seed)
{
    switch (v->kind) {
    case K_ADDR:
        return XXH3_64bits_withSeed(v->addr, 16, seed);
    case K_TEXT:
        return XXH3_64bits_withSeed(v->s, strlen(v->s), seed);
    default:
        return mix(v->u + 0x9e3779b97f4a7c15ull);
    }
}

int
qry__group_key(struct qry_exec *ex, const struct flow_rec *r, uint8_t *key, size_t cap, size_t *klen,
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

size_t
qry__group_nvals(const struct qry__stage *s)
{
    return s->ncols + (s->kind == S_TIMECHART ? 1 : 0);
}

size_t
qry__group_naggs(const struct qry__stage *s)
{
    return s->kind == S_TOP ? 1 : s->naggs; /* top: one state, see qry__group_rec */
}

static void
slot_put(struct qry__slot *t, size_t n, struct qry__group *g)
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
    struct qry__slot *t = calloc(n, sizeof(*t));
    if (t == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ex->nslots; i++) {
        if (ex->slots[i].g != NULL) {
            slot_put(t, n, ex->slots[i].g);
        }
    }
    free(ex->slots);
    ex->slots = t;
    ex->nslots = n;
    return qry__ex_mem(ex, n * sizeof(*t) / 2);
}

int
qry__group_new(struct qry_exec *ex, const uint8_t *key, size_t klen, uint64_t h,
               const struct qry__val *vals, bool hashed, struct qry__group **out)
{
    const struct qry__stage *s = ex->agg;
    size_t nv = qry__group_nvals(s), na = qry__group_naggs(s);
    struct qry__group *g = qry__alloc(&ex->arena, sizeof(*g));
    int rc;
    if (g == NULL || (g->st = qry__alloc(&ex->sarena, na * sizeof(*g->st))) == NULL ||
        (g->key = qry__alloc(&ex->arena, klen)) == NULL ||
        (g->vals = qry__alloc(&ex->arena, nv * sizeof(*vals))) == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
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
                return qry__ex_fail(ex, -ENOMEM, "out of memory");
            }
        }
    }
    if ((rc = qry__ex_mem(ex, sizeof(*g) + klen + nv * sizeof(*vals) + na * sizeof(*g->st) + 64)) !=
        0) {
        return rc;
    }
    if (ex->ngroups == ex->listcap) {
        size_t cap = ex->listcap ? ex->listcap * 2 : 1024;
        struct qry__group **l = realloc(ex->list, cap * sizeof(*l));
        if (l == NULL) {
            return qry__ex_fail(ex, -ENOMEM, "out of memory");
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
dc_add(struct qry_exec *ex, struct qry__agg_state *st, uint64_t id)
{
    if (id == 0) {
        id = 1;
    }
    if (st->dc_n * 2 >= st->dc_cap) {
        size_t cap = st->dc_cap ? st->dc_cap * 2 : 16;
        uint64_t *set = calloc(cap, sizeof(*set));
        int rc;
        if (set == NULL) {
            return qry__ex_fail(ex, -ENOMEM, "out of memory");
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
        if ((rc = qry__ex_mem(ex, (cap - st->dc_cap) * sizeof(*set))) != 0) {
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
state_add(struct qry__agg_state *st, const struct qry__val *v)
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
group_find(struct qry_exec *ex, const struct flow_rec *r, struct qry__group **out)
{
    uint8_t key[1024];
    struct qry__val vals[40];
    size_t klen;
    if (qry__group_key(ex, r, key, sizeof(key), &klen, vals) != 0) {
        return qry__ex_fail(ex, QRY_E_LIMIT, "group key too long");
    }
    uint64_t h = XXH3_64bits_withSeed(key, klen, ex->seed);
    for (size_t i = ex->nslots ? h & (ex->nslots - 1) : 0; ex->nslots != 0;
         i = (i + 1) & (ex->nslots - 1)) {
        struct qry__group *g = ex->slots[i].g;
        if (g == NULL) {
            break;
        }
        if (ex->slots[i].hash == h && g->klen == klen && memcmp(g->key, key, klen) == 0) {
            *out = g;
            return 0;
        }
    }
    return qry__group_new(ex, key, klen, h, vals, true, out);
}

/* A new group for a direct slot: never looked up by hash, so not hashed. */
static int
group_direct(struct qry_exec *ex, const struct flow_rec *r, struct qry__group **out)
{
    uint8_t key[64];
    struct qry__val vals[4];
    size_t klen;
    if (qry__group_key(ex, r, key, sizeof(key), &klen, vals) != 0) {
        return qry__ex_fail(ex, QRY_E_LIMIT, "group key too long");
    }
    return qry__group_new(ex, key, klen, 0, vals, false, out);
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

/* The home slot of a packed key: mix is a bijection, and the seed keeps its low bits
 * unpredictable to whoever chose the values. */
static size_t
pslot_home(const struct qry_exec *ex, uint64_t key, size_t n)
{
    return (size_t) mix(key ^ ex->seed) & (n - 1);
}

static void
pslot_put(const struct qry_exec *ex, struct pslot *t, size_t n, uint64_t key,
          struct qry__agg_state *st)
{
    size_t i = pslot_home(ex, key, n);
    while (t[i].key != 0) {
        i = (i + 1) & (n - 1);
    }
    t[i].key = key;
    t[i].st = st;
}

/* The states of r's group by its packed key (created when new). */
static int
packed_find(struct qry_exec *ex, const struct flow_rec *r, size_t slot, struct qry__agg_state **out)
{
    uint64_t key = (uint64_t) slot + 1u;
    for (size_t i = ex->npslots ? pslot_home(ex, key, ex->npslots) : 0; ex->npslots != 0;
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
            return qry__ex_fail(ex, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < ex->npslots; i++) {
            if (ex->pslots[i].key != 0) {
                pslot_put(ex, t, n, ex->pslots[i].key, ex->pslots[i].st);
            }
        }
        free(ex->pslots);
        ex->pslots = t;
        ex->npslots = n;
        if ((rc = qry__ex_mem(ex, n * sizeof(*t) / 2)) != 0) {
            return rc;
        }
    }
    struct qry__group *g;
    if ((rc = group_direct(ex, r, &g)) != 0) {
        return rc;
    }
    pslot_put(ex, ex->pslots, ex->npslots, key, g->st);
    ex->npacked++;
    *out = g->st;
    return 0;
}

int
qry__group_rec(struct qry_exec *ex, const struct flow_rec *r)
{
    const struct qry__stage *s = ex->agg;
    struct qry__val v;
    struct qry__agg_state *st = NULL;
    int rc;
    if (ex->addr_top) {
        return qry__group_addr_rec(ex, r);
    }
    size_t slot = ex->direct != NULL || ex->packed ? direct_slot(ex, r) : SIZE_MAX;
    if (slot != SIZE_MAX && ex->packed) {
        if ((rc = packed_find(ex, r, slot, &st)) != 0) {
            return rc;
        }
    } else if (slot != SIZE_MAX) {
        st = ex->direct[slot];
    }
    if (st == NULL) {
        struct qry__group *g;
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
            if (v.present && (rc = dc_add(ex, &st[i], val_id(&v, ex->seed))) != 0) {
                return rc;
            }
            continue;
        }
        state_add(&st[i], &v);
    }
    return 0;
}

struct qry__val
qry__agg_value(const struct qry__agg *a, const struct qry__agg_state *st)
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

int
qry__group_setup(struct qry_exec *ex)
{
    const struct qry__stage *s = ex->agg;
    if (s != NULL && s->kind == S_TOP && (s->ncols == 1 || s->ncols == 2)) {
        bool addr = true;
        for (size_t i = 0; i < s->ncols; i++) {
            addr = addr && s->cols[i].field >= 0 && qry__fields[s->cols[i].field].kind == K_ADDR;
        }
        if (addr) {
            ex->addr_top = true; /* group_addr.c */
            return 0;
        }
    }
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
    int rc = qry__ex_mem(ex, slots * sizeof(*ex->direct));
    if (rc != 0) {
        return rc;
    }
    ex->direct = calloc(slots, sizeof(*ex->direct));
    return ex->direct != NULL ? 0 : -ENOMEM;
}

void
qry__group_free(struct qry_exec *ex)
{
    for (size_t k = 0; k < ex->ngroups; k++) {
        for (size_t i = 0; i < qry__group_naggs(ex->agg); i++) {
            free(ex->list[k]->st[i].dc);
        }
    }
    free(ex->slots);
    free(ex->aslots);
    free(ex->pslots);
    free(ex->direct);
    free(ex->list);
    qry__arena_free(&ex->arena);
    qry__arena_free(&ex->sarena);
}
