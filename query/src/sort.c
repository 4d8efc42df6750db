/* SPDX-License-Identifier: MIT */
/*
 * Sorting for the executor (exec_int.h): a stable merge sort with a context (qsort has none,
 * and executors run on several threads at once), and the record sort, which collects records
 * or, when a limit follows it, keeps only that many in a top-k heap.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_int.h"

int
qry__val_cmp(const struct qry__val *a, const struct qry__val *b)
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

static void
msort(void **a, void **tmp, size_t n, qry__cmp_fn *cmp, const void *ctx)
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

int
qry__sort_ptrs(struct qry_exec *ex, void **a, size_t n, qry__cmp_fn *cmp, const void *ctx)
{
    void **tmp = malloc((n ? n : 1) * sizeof(*tmp));
    if (tmp == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
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
    const struct qry__srec *a = pa, *b = pb;
    struct qry__val va, vb;
    qry__rec_get(&a->r, ex->sort_field, &ex->nm, &va);
    qry__rec_get(&b->r, ex->sort_field, &ex->nm, &vb);
    int c = qry__val_cmp(&va, &vb);
    if (ex->sort_desc) {
        c = -c;
    }
    return c != 0 ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
heap_swap(struct qry__srec *h, size_t i, size_t j)
{
    struct qry__srec t = h[i];
    h[i] = h[j];
    h[j] = t;
}

/* Max-heap on output order: the root is the record that would be output last. */
static void
heap_down(struct qry_exec *ex, size_t i)
{
    struct qry__srec *h = ex->recs;
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
    struct qry__srec *h = ex->recs;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (srec_cmp(&h[i], &h[p], ex) <= 0) {
            return;
        }
        heap_swap(h, i, p);
        i = p;
    }
}

int
qry__sort_add(struct qry_exec *ex, const struct flow_rec *r)
{
    struct qry__srec s = {.r = *r, .seq = ex->seq++};
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
        int rc = qry__ex_mem(ex, (cap - ex->caprecs) * sizeof(struct qry__srec));
        if (rc != 0) {
            return rc;
        }
        struct qry__srec *n = realloc(ex->recs, cap * sizeof(*n));
        if (n == NULL) {
            return qry__ex_fail(ex, -ENOMEM, "out of memory");
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

int
qry__sort_finish(struct qry_exec *ex)
{
    void **p = malloc((ex->nrecs ? ex->nrecs : 1) * sizeof(*p));
    int rc;
    if (p == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ex->nrecs; i++) {
        p[i] = &ex->recs[i];
    }
    rc = qry__sort_ptrs(ex, p, ex->nrecs, srec_cmp, ex);
    struct qry__srec *sorted =
        rc == 0 ? malloc((ex->nrecs ? ex->nrecs : 1) * sizeof(*sorted)) : NULL;
    if (rc == 0 && sorted == NULL) {
        rc = qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < ex->nrecs; i++) {
        sorted[i] = *(struct qry__srec *) p[i];
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
