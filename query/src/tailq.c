/* SPDX-License-Identifier: MIT */
/*
 * A live tail's filter (GET /api/v1/tail): a query's filter, and its `fields` stage if it has
 * one, applied to one committed record at a time, each matching record formatted as the row
 * `FORMAT json` gives for it (same keys, same values). The same grammar and the same matcher
 * as QUERY; a tail has no time range (it sees records as they are committed) and no other
 * stage (sort, limit and aggregations need the end of the data).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qry_int.h"

struct qry_tail {
    struct qry *q;
    struct qry__names nm;
    pcre2_match_data *md;
    uint8_t cols[F_NFIELDS];
    size_t ncols;
    struct qry__buf out;
    char line[2048];
};

/* The columns: the `fields` stage's, or the default ones; any other stage is refused. */
static int
tail_cols(struct qry_tail *t, struct qry_error *err)
{
    memcpy(t->cols, qry__default_cols, qry__ndefault_cols);
    t->ncols = qry__ndefault_cols;
    for (size_t i = 0; i < t->q->nstages; i++) {
        const struct qry__stage *s = &t->q->stages[i];
        if (s->kind != S_FIELDS) {
            err->col = s->col;
            snprintf(err->msg, sizeof(err->msg),
                     "a tail takes a filter and `fields` only (no sort, limit or aggregation)");
            return QRY_E_PARSE;
        }
        t->ncols = 0;
        for (size_t j = 0; j < s->ncols && j < F_NFIELDS; j++) {
            t->cols[t->ncols++] = (uint8_t) s->cols[j].field;
        }
    }
    return 0;
}

int
qry_tail_open(struct qry_tail **out, struct stor_env *env, const char *text, size_t len,
              struct qry_error *err)
{
    struct qry_tail *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL) {
        return -ENOMEM;
    }
    if ((rc = qry_compile(&t->q, text, len, 0, err)) != 0 || (rc = tail_cols(t, err)) != 0) {
        goto fail;
    }
    if ((rc = qry__names_load(&t->nm, env)) != 0) {
        goto fail;
    }
    if ((t->md = pcre2_match_data_create(1, NULL)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = t;
    return 0;
fail:
    qry_tail_close(t);
    return rc;
}

int
qry_tail_row(struct qry_tail *t, const struct flow_rec *r, const char **json, size_t *len)
{
    struct qry__val v;
    int m = qry__match(t->q, t->q->expr, r, &t->nm, t->md, t->line, sizeof(t->line));
    if (m <= 0) {
        return m;
    }
    t->out.len = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        int f = t->cols[i];
        qry__buf_printf(&t->out, "%s\"%s\":", i == 0 ? "{" : ",", qry__fields[f].name);
        qry__rec_get(r, f, &t->nm, &v);
        qry__fmt_val(&t->out, QRY_FMT_JSON, &v, f);
    }
    qry__buf_puts(&t->out, "}");
    if (t->out.oom) {
        return -ENOMEM;
    }
    *json = t->out.p;
    *len = t->out.len;
    return 1;
}

void
qry_tail_close(struct qry_tail *t)
{
    if (t == NULL) {
        return;
    }
    pcre2_match_data_free(t->md);
    qry__names_free(&t->nm);
    qry__buf_free(&t->out);
    qry_free(t->q);
    free(t);
}
