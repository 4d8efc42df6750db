/* SPDX-License-Identifier: MIT */
/*
 * A compiled query's stages as one ClickHouse SELECT (docs/scale-out.md). The select
 * list is c0, c1, ... so that no alias shadows a column of the schema; struct qry__sql names
 * them. `sort` is stable in the local engine, so a sort after another becomes the new key
 * followed by the old ones; a sort after a limit, and an aggregation after a sorted limit,
 * wrap what came before in a subquery, whose ORDER BY and LIMIT then hold exactly. `top` is
 * an exact GROUP BY ... ORDER BY ... LIMIT (never topK). Missing values sort first ascending
 * and last descending, as sort.c's qry__val_cmp has them. What stays unspecified on both
 * sides is said in the docs: the order of ties and which rows a limit without a sort keeps.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "sql_int.h"

struct build {
    const struct qry *q;
    struct qry__sql *out;
    struct qry_error *err;
    struct qry__buf src;   /* "FROM ..." of the current level */
    struct qry__buf sel;   /* its select list; empty: "*" */
    struct qry__buf group; /* its GROUP BY list */
    struct qry__buf order; /* its ORDER BY list */
    bool limited;
    uint64_t limit;
    bool agg;                      /* an aggregation happened: columns are out->names */
    const struct qry__stage *cols; /* the last `fields` before an aggregation */
};

static int
refuse(struct build *b, int col, const char *msg)
{
    b->err->col = col;
    b->err->limited = false;
    snprintf(b->err->msg, sizeof(b->err->msg), "%s", msg);
    return QRY_E_PARSE;
}

static void
put_level(struct qry__buf *t, struct build *b)
{
    qry__buf_puts(t, "SELECT ");
    if (b->sel.len == 0) {
        qry__buf_puts(t, "*");
    }
    qry__buf_put(t, b->sel.p, b->sel.len);
    qry__buf_puts(t, " ");
    qry__buf_put(t, b->src.p, b->src.len);
    if (b->group.len > 0) {
        qry__buf_puts(t, " GROUP BY ");
        qry__buf_put(t, b->group.p, b->group.len);
    }
    if (b->order.len > 0) {
        qry__buf_puts(t, " ORDER BY ");
        qry__buf_put(t, b->order.p, b->order.len);
    }
    if (b->limited) {
        qry__buf_printf(t, " LIMIT %llu", (unsigned long long) b->limit);
    }
}

/* The current level becomes the source of a new one that selects all of it. */
static void
wrap(struct build *b)
{
    struct qry__buf t = {0};
    qry__buf_puts(&t, "FROM (");
    put_level(&t, b);
    qry__buf_puts(&t, ")");
    t.oom |= b->src.oom | b->sel.oom | b->group.oom | b->order.oom;
    qry__buf_free(&b->src);
    b->src = t;
    b->sel.len = b->group.len = b->order.len = 0;
    b->limited = false;
}

static int
add_col(struct build *b, const char *name, int field, uint8_t agg)
{
    struct qry__sql *o = b->out;
    if (o->ncols >= QRY_SQL_COLS_MAX) {
        return refuse(b, 1, "too many output columns for ClickHouse");
    }
    if (o->ncols > 0) {
        qry__buf_puts(&b->sel, ", ");
    }
    o->names[o->ncols] = name;
    o->fields[o->ncols] = field;
    o->aggs[o->ncols] = agg;
    o->proj[o->nproj++] = (uint8_t) o->ncols;
    o->ncols++;
    return 0;
}

static void
put_key(struct qry__buf *order, const char *expr, size_t n, bool desc)
{
    struct qry__buf t = {0};
    qry__buf_put(&t, expr, n);
    qry__buf_puts(&t, desc ? " DESC NULLS LAST" : " ASC NULLS FIRST");
    if (order->len > 0) {
        qry__buf_puts(&t, ", ");
        qry__buf_put(&t, order->p, order->len);
    }
    t.oom |= order->oom;
    qry__buf_free(order);
    *order = t;
}

/* A by-field as column c<n> of the select list, also grouped by. */
static int
add_by(struct build *b, const struct qry__colref *c)
{
    size_t i = b->out->ncols;
    int rc = add_col(b, c->name, c->field, 0);
    if (rc == 0 && qry__sql_field(&b->sel, c->field) < 0) {
        rc = refuse(b, c->col,
                    "a flow-log label (region, vpc-id, eni-id) is not stored in "
                    "ClickHouse; use BACKEND local");
    }
    qry__buf_printf(&b->sel, " AS c%zu", i);
    qry__buf_printf(&b->group, "%sc%zu", b->group.len > 0 ? ", " : "", i);
    return rc;
}

/* One aggregate over the values present; sum, avg, min and max are NULL (shown '-') when
 * there are none, as in group.c. */
static int
add_agg(struct build *b, const struct qry__agg *a, int col)
{
    static const char *const fn[] = {"count", "sumIf", "avgIf", "minIf", "maxIf", "uniqExactIf"};
    size_t i = b->out->ncols;
    int rc = add_col(b, a->name, a->kind == A_MIN || a->kind == A_MAX ? a->field : -1,
                     (uint8_t) (a->kind + 1));
    if (rc < 0 || a->kind == A_COUNT) {
        qry__buf_printf(&b->sel, "count() AS c%zu", i);
        return rc;
    }
    const char *c = qry__sql_col(a->field);
    if (c == NULL) {
        return refuse(b, col,
                      "a flow-log label (region, vpc-id, eni-id) is not stored in "
                      "ClickHouse; use BACKEND local");
    }
    struct qry__buf p = {0};
    qry__sql_present(&p, a->field);
    qry__buf_put(&p, "", 1);
    if (a->kind == A_DC) {
        qry__buf_printf(&b->sel, "uniqExactIf(%s, %s) AS c%zu", c, p.p, i);
    } else {
        qry__buf_printf(&b->sel, "if(countIf(%s) = 0, NULL, %s(%s, %s)) AS c%zu", p.p, fn[a->kind],
                        c, p.p, i);
    }
    b->sel.oom |= p.oom;
    qry__buf_free(&p);
    return 0;
}

static int
stage_stats(struct build *b, const struct qry__stage *s)
{
    int rc = 0;
    for (size_t i = 0; i < s->ncols && rc == 0; i++) {
        rc = add_by(b, &s->cols[i]);
    }
    for (size_t i = 0; i < s->naggs && rc == 0; i++) {
        rc = add_agg(b, &s->aggs[i], s->col);
    }
    for (size_t i = s->ncols; i > 0; i--) {
        char k[32];
        snprintf(k, sizeof(k), "c%zu", i - 1);
        put_key(&b->order, k, strlen(k), false);
    }
    return rc;
}

static int
stage_top(struct build *b, const struct qry__stage *s)
{
    static const char *const names[] = {"flows", "packets", "bytes"};
    int rc = 0;
    for (size_t i = 0; i < s->ncols && rc == 0; i++) {
        rc = add_by(b, &s->cols[i]);
    }
    size_t first = b->out->ncols;
    for (int m = 0; m < 3 && rc == 0; m++) {
        rc = add_col(b, names[m], -1, A_SUM + 1);
        if (m == 0) {
            qry__buf_printf(&b->sel, "count() AS c%zu", first);
        } else {
            int f = m == 1 ? F_PACKETS : F_BYTES;
            struct qry__buf p = {0};
            qry__sql_present(&p, f);
            qry__buf_printf(&b->sel, "sumIf(%s, %.*s) AS c%zu", qry__sql_col(f), (int) p.len, p.p,
                            first + (size_t) m);
            qry__buf_free(&p);
        }
    }
    /* Ties break by the fields, ascending (group.c). */
    for (size_t i = s->ncols; i > 0; i--) {
        char k[32];
        snprintf(k, sizeof(k), "c%zu", i - 1);
        put_key(&b->order, k, strlen(k), false);
    }
    char k[32];
    snprintf(k, sizeof(k), "c%zu", first + s->top_by);
    put_key(&b->order, k, strlen(k), true);
    b->limited = true;
    b->limit = s->n;
    return rc;
}

static int
stage_timechart(struct build *b, const struct qry__stage *s)
{
    int rc = add_col(b, "_time", F_END, 0);
    qry__buf_printf(&b->sel, "intDiv(end_ms, %llu) * %llu AS c0", (unsigned long long) s->span_ms,
                    (unsigned long long) s->span_ms);
    qry__buf_puts(&b->group, "c0");
    for (size_t i = 0; i < s->ncols && rc == 0; i++) {
        rc = add_by(b, &s->cols[i]);
    }
    for (size_t i = 0; i < s->naggs && rc == 0; i++) {
        rc = add_agg(b, &s->aggs[i], s->col);
    }
    for (size_t i = s->ncols + 1; i > 0; i--) {
        char k[32];
        snprintf(k, sizeof(k), "c%zu", i - 1);
        put_key(&b->order, k, strlen(k), false);
    }
    return rc;
}

/* A column of the aggregated table by its output name (docs/query.md, COL). */
static int
out_col(const struct qry__sql *o, const char *name)
{
    for (size_t i = 0; i < o->ncols; i++) {
        if (strcasecmp(o->names[i], name) == 0 ||
            (strcasecmp(name, "count()") == 0 && strcmp(o->names[i], "count") == 0)) {
            return (int) i;
        }
    }
    return -1;
}

static int
stage_sort(struct build *b, const struct qry__stage *s)
{
    struct qry__buf k = {0};
    int rc = 0;
    if (b->limited) {
        wrap(b);
    }
    if (b->agg) {
        int i = out_col(b->out, s->cols[0].name);
        if (i < 0) {
            rc = refuse(b, s->cols[0].col, "sort names no column of the table");
        }
        qry__buf_printf(&k, "c%d", i);
    } else if (qry__sql_field(&k, s->cols[0].field) < 0) {
        rc = refuse(b, s->cols[0].col,
                    "a flow-log label (region, vpc-id, eni-id) is not "
                    "stored in ClickHouse; use BACKEND local");
    }
    put_key(&b->order, k.p, k.len, s->desc);
    b->order.oom |= k.oom;
    qry__buf_free(&k);
    return rc;
}

static int
stage_fields(struct build *b, const struct qry__stage *s)
{
    if (!b->agg) {
        b->cols = s;
        return 0;
    }
    b->out->nproj = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        int c = out_col(b->out, s->cols[i].name);
        if (c < 0) {
            return refuse(b, s->cols[i].col, "fields names no column of the table");
        }
        b->out->proj[b->out->nproj++] = (uint8_t) c;
    }
    return 0;
}

static int
stage(struct build *b, const struct qry__stage *s)
{
    switch (s->kind) {
    case S_FIELDS:
        return stage_fields(b, s);
    case S_SORT:
        return stage_sort(b, s);
    case S_LIMIT:
        b->limit = b->limited && b->limit < s->n ? b->limit : s->n;
        b->limited = true;
        return 0;
    default:
        break;
    }
    /* An aggregation: what a sorted limit kept is its input; an order alone is not. */
    if (b->limited) {
        wrap(b);
    }
    b->order.len = 0;
    b->agg = true;
    return s->kind == S_STATS ? stage_stats(b, s)
           : s->kind == S_TOP ? stage_top(b, s)
                              : stage_timechart(b, s);
}

/* Without an aggregation, the select list is the record fields shown. */
static int
project(struct build *b)
{
    size_t n = b->cols != NULL ? b->cols->ncols : qry__ndefault_cols;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int f = b->cols != NULL ? b->cols->cols[i].field : qry__default_cols[i];
        rc = add_col(b, qry__fields[f].name, f, 0);
        if (rc == 0 && qry__sql_field(&b->sel, f) < 0) {
            rc = refuse(b, b->cols->cols[i].col,
                        "a flow-log label (region, vpc-id, eni-id) "
                        "is not stored in ClickHouse; use BACKEND local");
        }
        qry__buf_printf(&b->sel, " AS c%zu", i);
    }
    return rc;
}

static bool
db_ok(const char *db)
{
    size_t n = strlen(db);
    for (size_t i = 0; i < n; i++) {
        char c = db[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return n > 0 && n <= 64;
}

int
qry__sql_build(const struct qry *q, const char *db, struct qry__sql *out, struct qry_error *err)
{
    struct build b = {.q = q, .out = out, .err = err};
    int rc;
    memset(out, 0, sizeof(*out));
    if (!db_ok(db)) {
        return -EINVAL;
    }
    qry__buf_printf(&b.src, "FROM %s.flows WHERE ", db);
    rc = qry__sql_where(&b.src, q, err);
    for (size_t i = 0; i < q->nstages && rc == 0; i++) {
        rc = stage(&b, &q->stages[i]);
    }
    if (rc == 0 && !b.agg) {
        rc = project(&b);
    }
    if (rc == 0) {
        put_level(&out->text, &b);
        qry__buf_put(&out->text, "", 1);
        out->text.len--;
        rc = out->text.oom || b.src.oom || b.sel.oom || b.order.oom || b.group.oom ? -ENOMEM : 0;
    }
    qry__buf_free(&b.src);
    qry__buf_free(&b.sel);
    qry__buf_free(&b.group);
    qry__buf_free(&b.order);
    return rc;
}

void
qry__sql_free(struct qry__sql *s)
{
    if (s != NULL) {
        qry__buf_free(&s->text);
    }
}

void
qry__sql_settings(const struct qry_limits *lim, struct qry__buf *out)
{
    const char *sep = out->len > 0 ? "&" : "";
    if (lim->time_ms > 0) {
        /* Whole seconds, rounded up: ClickHouse 18.16 takes no fraction. */
        qry__buf_printf(out, "%smax_execution_time=%llu", sep,
                        (unsigned long long) ((lim->time_ms + 999) / 1000));
        sep = "&";
    }
    if (lim->rows > 0) {
        qry__buf_printf(out, "%smax_result_rows=%llu&result_overflow_mode=throw", sep,
                        (unsigned long long) lim->rows);
        sep = "&";
    }
    if (lim->mem_bytes > 0) {
        qry__buf_printf(out, "%smax_memory_usage=%llu", sep, (unsigned long long) lim->mem_bytes);
    }
}
