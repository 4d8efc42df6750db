/* SPDX-License-Identifier: MIT */
/*
 * Output rows of the executor (exec_int.h) in text, JSON or CSV: the CSV header once, JSON
 * keys per column, and the framing rule of the line protocol: no data line may begin with
 * "OK " or "ERR " (DESIGN.md §7), so such a line's first byte is written as \x4f or \x45.
 * Every row counts against the rows limit.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_int.h"

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
        return qry__ex_fail(ex, -ENOMEM, "out of memory");
    }
    const char *l = b->p + start;
    size_t n = b->len - start;
    if ((n >= 3 && memcmp(l, "OK ", 3) == 0) || (n >= 4 && memcmp(l, "ERR ", 4) == 0)) {
        char c = l[0];
        qry__buf_reserve(b, 3);
        if (b->oom) {
            return qry__ex_fail(ex, -ENOMEM, "out of memory");
        }
        memmove(b->p + start + 4, b->p + start + 1, n - 1);
        b->p[start] = '\\';
        b->p[start + 1] = 'x';
        b->p[start + 2] = '4';
        b->p[start + 3] = c == 'O' ? 'f' : '5';
        b->len += 3;
    }
    ex->rows++;
    if (ex->lim.rows != 0 && ex->rows > ex->lim.rows) {
        return qry__ex_fail(ex, QRY_E_LIMIT, "rows: more than %llu rows (add a limit)",
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

int
qry__emit_rec(struct qry_exec *ex, const struct flow_rec *r)
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

int
qry__emit_trow(struct qry_exec *ex, const struct qry__val *row)
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
