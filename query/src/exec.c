/* SPDX-License-Identifier: MIT */
/*
 * The streaming executor: the phases of a query and its limits (exec_int.h maps the files).
 *
 * A query runs in two phases. The record phase scans storage block by block, filters each
 * record exactly (plan.c), and applies the stages before any aggregation: `fields` picks the
 * columns, `limit` before a sort caps its input, `sort` collects records (a top-k heap when a
 * limit follows it, so `sort bytes desc | limit 10` holds 10 records, not all of them; sort.c)
 * and a limit after it caps the output. Without a sort, records are formatted as they are
 * read (out.c) and the scan stops as soon as a limit is met. The aggregation phase (`stats`,
 * `top`, `timechart`) groups records (group.c) and then runs the remaining stages (fields,
 * sort, limit) over the resulting table in memory (table.c).
 *
 * Output leaves in chunks of whole lines (qry_exec_next), so the caller can apply
 * back-pressure between chunks; every loop checks the time limit and the cancel flag at least
 * once per block or per 1024 rows, and memory used for sorting and grouping is counted
 * against the memory limit.
 */
#define _DEFAULT_SOURCE /* getentropy */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "exec_int.h"
#include "rollup.h"
#include "flow_clock.h"

int
qry__ex_fail(struct qry_exec *ex, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ex->errmsg, sizeof(ex->errmsg), fmt, ap);
    va_end(ap);
    return rc;
}

int
qry__ex_mem(struct qry_exec *ex, size_t n)
{
    ex->mem += n;
    if (ex->lim.mem_bytes != 0 && ex->mem > ex->lim.mem_bytes) {
        return qry__ex_fail(ex, QRY_E_LIMIT,
                            "memory: the query needs more than %llu bytes to sort or group "
                            "(narrow it, or add a limit)",
                            (unsigned long long) ex->lim.mem_bytes);
    }
    return 0;
}

int
qry__ex_check_time(struct qry_exec *ex)
{
    if (ex->cancel != NULL && atomic_load(ex->cancel)) {
        return qry__ex_fail(ex, QRY_E_CANCELED, "canceled");
    }
    if (ex->deadline_ms != 0 && flow_mono_ms() > ex->deadline_ms) {
        return qry__ex_fail(ex, QRY_E_TIMEOUT, "the query ran longer than %llu ms",
                            (unsigned long long) ex->lim.time_ms);
    }
    return 0;
}

/* ---- the scan ---- */

/* A record that passed the filter and the limit before any sort. */
static int
rec_out(struct qry_exec *ex, const struct flow_rec *r)
{
    if (ex->sorting) {
        return qry__sort_add(ex, r);
    }
    if (ex->agg != NULL) {
        return qry__group_rec(ex, r);
    }
    return qry__emit_rec(ex, r);
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

static int
scan_done(struct qry_exec *ex)
{
    int rc = 0;
    if (ex->sorting) {
        if ((rc = qry__sort_finish(ex)) != 0) {
            return rc;
        }
        if (ex->agg == NULL) {
            ex->phase = PH_EMIT_RECS;
            return 0;
        }
        for (size_t i = 0; i < ex->nrecs && rc == 0; i++) {
            rc = qry__group_rec(ex, &ex->recs[i].r);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (ex->agg != NULL) {
        ex->phase = PH_EMIT_TABLE;
        return qry__table_build(ex);
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
            return qry__ex_fail(ex, QRY_E_REGEX, "a regex reached its match limit");
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
        return qry__ex_fail(ex, rc, "storage: %s", stor_strerror(rc));
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
    uint64_t start = flow_mono_ms();
    int rc = 0;
    if (ex->out_sent) {
        ex->out.len = 0;
        ex->out_sent = false;
    }
    while (ex->phase != PH_DONE && ex->out.len < CHUNK_BYTES) {
        if ((rc = qry__ex_check_time(ex)) != 0) {
            return rc;
        }
        if (ex->phase == PH_SCAN) {
            rc = step_scan(ex);
        } else if (ex->phase == PH_EMIT_RECS) {
            for (size_t k = 0; rc == 0 && k < 1024 && ex->pos < ex->nrecs; k++) {
                rc = qry__emit_rec(ex, &ex->recs[ex->pos++].r);
            }
            ex->phase = ex->pos < ex->nrecs ? PH_EMIT_RECS : PH_DONE;
        } else {
            for (size_t k = 0; rc == 0 && k < 1024 && ex->pos < ex->ntrows; k++) {
                rc = qry__emit_trow(ex, &ex->trows[ex->pos++ * ex->tfull]);
            }
            ex->phase = ex->pos < ex->ntrows ? PH_EMIT_TABLE : PH_DONE;
        }
        if (rc != 0) {
            return rc;
        }
        if (slice_ms != 0 && flow_mono_ms() - start >= slice_ms) {
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
    ex->t0_ms = flow_mono_ms();
    ex->deadline_ms = ex->lim.time_ms ? ex->t0_ms + ex->lim.time_ms : 0;
    if (getentropy(&ex->seed, sizeof(ex->seed)) != 0) {
        ex->seed = XXH3_64bits(&ex, sizeof(ex)) ^ ex->t0_ms; /* differs per run all the same */
    }
    record_plan(ex);
    if ((rc = qry__group_setup(ex)) != 0) {
        goto fail;
    }
    if ((rc = qry__names_load(&ex->nm, env)) != 0) {
        goto fail;
    }
    if ((ex->md = pcre2_match_data_create(1, NULL)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = qry__rollup_exec(ex, env)) < 0) {
        goto fail;
    }
    if (rc == 0) { /* no rollup answered: the scan, decoding only the columns q reads */
        if ((rc = stor_iter_open(snap, &q->scan, &ex->it)) != 0) {
            goto fail;
        }
        stor_iter_project(ex->it, qry__projection(q));
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
    qry__group_free(ex);
    qry__names_free(&ex->nm);
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
