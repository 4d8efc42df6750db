/* SPDX-License-Identifier: MIT */
/*
 * `top N` by one or two address fields (srcaddr, dstaddr, exporter): a compact group table
 * (docs/query.md "Grouping strategies"). Each group is its 16-byte addresses, their presence
 * and its three sums (flows, packets, bytes) in one open-addressing slot, keyed by XXH3 of
 * the addresses with the executor's seed: 64 bytes a group instead of a general group's few
 * hundred, and no key building, allocation or pointer chase per record. After the scan a
 * bounded heap keeps the N largest (ties by address, as the table orders them), and only
 * those N become groups of the general kind for the table (table.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "exec_int.h"

struct qry__aslot {
    uint8_t addr[32];      /* the first field's address, then the second's (zeros with one) */
    uint8_t used, present; /* present: bit 0 the first field, bit 1 the second */
    uint64_t flows, packets, bytes;
};

static size_t
aslot_home(const struct qry_exec *ex, const uint8_t a[32], uint8_t present, size_t n)
{
    return (size_t) XXH3_64bits_withSeed(a, 32, ex->seed ^ present) & (n - 1);
}

static int
atab_grow(struct qry_exec *ex)
{
    size_t n = ex->naslots ? ex->naslots * 2 : 4096;
    struct qry__aslot *t = calloc(n, sizeof(*t));
    if (t == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ex->naslots; i++) {
        const struct qry__aslot *o = &ex->aslots[i];
        if (!o->used) {
            continue;
        }
        size_t j = aslot_home(ex, o->addr, o->present, n);
        while (t[j].used) {
            j = (j + 1) & (n - 1);
        }
        t[j] = *o;
    }
    free(ex->aslots);
    ex->aslots = t;
    ex->naslots = n;
    return qry__ex_mem(ex, n * sizeof(*t) / 2); /* the growth from n / 2 slots */
}

int
qry__group_addr_rec(struct qry_exec *ex, const struct flow_rec *r)
{
    struct qry__val a, v;
    uint8_t key[32] = {0}, present = 0;
    int rc;
    if ((ex->naddr + 1) * 2 > ex->naslots && (rc = atab_grow(ex)) != 0) {
        return rc;
    }
    for (size_t c = 0; c < ex->agg->ncols; c++) {
        qry__rec_get(r, ex->agg->cols[c].field, &ex->nm, &a); /* zeros when missing */
        memcpy(key + 16 * c, a.addr, 16);
        present |= (uint8_t) (a.present ? 1u << c : 0u);
    }
    size_t mask = ex->naslots - 1, i = aslot_home(ex, key, present, ex->naslots);
    struct qry__aslot *s = &ex->aslots[i];
    while (s->used && (s->present != present || memcmp(s->addr, key, 32) != 0)) {
        i = (i + 1) & mask;
        s = &ex->aslots[i];
    }
    if (!s->used) {
        s->used = 1;
        s->present = present;
        memcpy(s->addr, key, 32);
        ex->naddr++;
    }
    s->flows++;
    qry__rec_get(r, F_PACKETS, &ex->nm, &v);
    s->packets += v.u;
    qry__rec_get(r, F_BYTES, &ex->nm, &v);
    s->bytes += v.u;
    return 0;
}

/* The table's order for top: its metric, largest first, then each address (missing first). */
static int
aslot_cmp(const struct qry_exec *ex, const struct qry__aslot *a, const struct qry__aslot *b)
{
    unsigned by = ex->agg->top_by;
    uint64_t x = by == 0 ? a->flows : by == 1 ? a->packets : a->bytes;
    uint64_t y = by == 0 ? b->flows : by == 1 ? b->packets : b->bytes;
    if (x != y) {
        return x > y ? -1 : 1;
    }
    for (unsigned c = 0; c < 2; c++) {
        unsigned pa = a->present >> c & 1u, pb = b->present >> c & 1u;
        if (pa != pb) {
            return pa ? 1 : -1;
        }
        int k = memcmp(a->addr + 16 * c, b->addr + 16 * c, 16);
        if (k != 0) {
            return k;
        }
    }
    return 0;
}

/* Sift h[i] down a heap of n whose top is the entry that sorts last. */
static void
heap_down(const struct qry_exec *ex, const struct qry__aslot **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && aslot_cmp(ex, h[l], h[m]) > 0) {
            m = l;
        }
        if (r < n && aslot_cmp(ex, h[r], h[m]) > 0) {
            m = r;
        }
        if (m == i) {
            return;
        }
        const struct qry__aslot *x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

/* A general group for one kept slot: its addresses as the by-values, its sums as the state. */
static int
aslot_group(struct qry_exec *ex, const struct qry__aslot *s)
{
    struct qry__val v[2];
    struct qry__group *g;
    uint8_t key[33];
    for (unsigned c = 0; c < 2; c++) {
        v[c] = (struct qry__val){.kind = K_ADDR, .present = (s->present >> c & 1u) != 0};
        memcpy(v[c].addr, s->addr + 16 * c, 16);
    }
    key[0] = s->present;
    memcpy(key + 1, s->addr, 32);
    int rc = qry__group_new(ex, key, sizeof(key), 0, v, false, &g);
    if (rc == 0) {
        g->st->count = s->flows;
        g->st->max = s->packets;
        g->st->sum = s->bytes;
    }
    return rc;
}

int
qry__group_addr_finish(struct qry_exec *ex)
{
    size_t cap = ex->agg->n < ex->naddr ? (size_t) ex->agg->n : ex->naddr, nh = 0;
    const struct qry__aslot **h = malloc((cap ? cap : 1) * sizeof(*h));
    int rc = 0;
    if (h == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ex->naslots && cap > 0; i++) {
        const struct qry__aslot *s = &ex->aslots[i];
        if (!s->used) {
            continue;
        }
        if (nh < cap) {
            h[nh++] = s;
            for (size_t j = nh - 1; j > 0 && aslot_cmp(ex, h[j], h[(j - 1) / 2]) > 0;
                 j = (j - 1) / 2) {
                const struct qry__aslot *x = h[j];
                h[j] = h[(j - 1) / 2];
                h[(j - 1) / 2] = x;
            }
        } else if (aslot_cmp(ex, s, h[0]) < 0) {
            h[0] = s;
            heap_down(ex, h, nh, 0);
        }
    }
    for (size_t i = 0; i < nh && rc == 0; i++) {
        rc = aslot_group(ex, h[i]);
    }
    free(h);
    return rc;
}
