/* SPDX-License-Identifier: MIT */
/*
 * The table after grouping (exec_int.h): one row per group (by-values, then aggregates), in
 * the default order of the group columns (top: its metric, largest first, cut to N with a
 * bounded heap), then the stages that follow the aggregation (sort, limit, fields) in order.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_int.h"

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
    int c = t->col < SIZE_MAX ? qry__val_cmp(&a[t->col], &b[t->col]) : 0;
    if (t->desc) {
        c = -c;
    }
    for (size_t i = 0; c == 0 && i < t->nkeys; i++) {
        c = qry__val_cmp(&a[i], &b[i]);
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
        rc = qry__ex_fail(ex, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ex->ntrows; i++) {
        p[i] = &ex->trows[i * ex->tfull];
    }
    if ((rc = qry__sort_ptrs(ex, p, ex->ntrows, trow_cmp, t)) != 0) {
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
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
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

int
qry__table_build(struct qry_exec *ex)
{
    const struct qry__stage *s = ex->agg;
    size_t nv = qry__group_nvals(s), na = qry__group_naggs(s);
    int rc;
    if (ex->addr_top && (rc = qry__group_addr_finish(ex)) != 0) {
        return rc;
    }
    table_columns(ex);
    if (s->kind == S_STATS && s->ncols == 0 && ex->ngroups == 0) {
        /* stats without `by` answers one row even over no records (count 0) */
        struct qry__group *g;
        if ((rc = qry__group_new(ex, (const uint8_t *) "", 0, 0, NULL, true, &g)) != 0) {
            return rc;
        }
    }
    if ((rc = qry__ex_mem(ex, ex->ngroups * ex->tfull * sizeof(struct qry__val))) != 0) {
        return rc;
    }
    ex->trows = calloc(ex->ngroups ? ex->ngroups * ex->tfull : 1, sizeof(*ex->trows));
    if (ex->trows == NULL) {
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < ex->ngroups; r++) {
        const struct qry__group *g = ex->list[r];
        struct qry__val *row = &ex->trows[r * ex->tfull];
        memcpy(row, g->vals, nv * sizeof(*row));
        for (size_t i = 0; s->kind == S_TOP && i < 3; i++) {
            uint64_t u = i == 0 ? g->st->count : i == 1 ? g->st->max : g->st->sum;
            row[nv + i] = (struct qry__val){.kind = K_NUM, .present = true, .u = u};
        }
        for (size_t i = 0; s->kind != S_TOP && i < na; i++) {
            row[nv + i] = qry__agg_value(&s->aggs[i], &g->st[i]);
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
