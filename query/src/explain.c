/* SPDX-License-Identifier: MIT */
/*
 * EXPLAIN and WINDOWS as streams (code review M14): like the executor, a lister hands out its
 * output in chunks of whole lines (qry__lister_next), checks the cancel flag and the time
 * limit between slices, counts its rows against the rows limit, and holds at most one chunk
 * (CHUNK_BYTES) of output, so a session can apply back-pressure and a client that stops
 * reading holds no more than that.
 *
 * The windows of the range come from stor_windows_each, which walks every window table of
 * the snapshot from its first key and stops when the callback returns non-zero. A pass lists
 * at most SLICE_WINDOWS windows and stops; the next pass skips the windows already listed
 * (they come in the same order: the snapshot does not change). A pass therefore costs a walk
 * over the snapshot's window keys up to the resume point; storage could seek to it instead
 * (an API that takes the last key seen; see docs/query.md).
 *
 * EXPLAIN's scan estimate (stor_scan_plan reads every block summary in its range) runs one
 * PLAN_SLICE_MS of the range per call. Slices are aligned to PLAN_SLICE_MS, a multiple of
 * every window length (60 and 600 s), so each window lies in exactly one slice and the sums
 * equal one call over the whole range.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow_clock.h"
#include "qry_int.h"
#include "rollup.h"

#define CHUNK_BYTES   (64 * 1024)
#define SLICE_WINDOWS 1024u
#define PLAN_SLICE_MS (3600u * 1000u)
#define PASS_FULL     QRY_E_AGAIN /* a pass stopped at SLICE_WINDOWS (never returned) */

enum lphase { L_HEAD, L_WINDOWS, L_TOTAL, L_PLAN, L_DONE };

struct qry__lister {
    const struct qry *q; /* EXPLAIN; NULL for WINDOWS */
    struct stor_snap *snap;
    enum qry_fmt fmt;
    struct qry_limits lim;
    const atomic_bool *cancel;
    struct qry__names nm;
    uint64_t from_ms, to_ms;
    uint64_t deadline_ms;
    enum lphase phase;
    struct qry__buf out;
    bool out_sent, header;
    uint64_t rows;  /* window rows, against the rows limit */
    uint64_t lines; /* EXPLAIN's lines, all of them: its "OK n rows" */
    /* the windows: listed so far (the resume point), and per pass */
    uint64_t done, seen, listed;
    uint64_t windows, blocks, records;
    uint64_t lo_ms, hi_ms; /* the extent of the windows listed */
    /* the scan estimate, one slice of the range at a time */
    uint64_t plan_at, plan_end;
    struct stor_scan_stats plan;
    /* rollups: why the query's shape rules them out (NULL: it does not), and the windows
     * answered from them or scanned (storage is asked only when env is known) */
    struct stor_env *env;
    const char *ru_why;
    uint64_t ru_windows, ru_scanned;
    char errmsg[256];
};

__attribute__((format(printf, 3, 4))) static int
lfail(struct qry__lister *l, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof(l->errmsg), fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 2, 3))) static void
line(struct qry__lister *l, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0) {
        qry__buf_put(&l->out, buf, (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf) - 1);
        qry__buf_put(&l->out, "\n", 1);
        l->lines++;
    }
}

static const char *
stage_name(uint8_t k)
{
    static const char *const names[] = {"fields", "sort", "limit", "stats", "top", "timechart"};
    return k < 6 ? names[k] : "?";
}

/* EXPLAIN's first lines: range, filter, pushdown, stages. */
static void
explain_head(struct qry__lister *l)
{
    const struct qry *q = l->q;
    char a[32], b[32], text[1024] = "";
    if (q->has_range) {
        qry__time_text(q->from_ms, a);
        if (q->to_ms == UINT64_MAX) {
            snprintf(b, sizeof(b), "now");
        } else {
            qry__time_text(q->to_ms, b);
        }
        line(l, "range end in [%s, %s)", a, b);
    } else {
        line(l, "range all stored data");
    }
    qry__node_text(q->expr, text, sizeof(text));
    line(l, "filter %s", text);
    for (size_t i = 0; i < q->scan.nconj; i++) {
        char conds[1024] = "";
        for (size_t j = 0; j < q->conj[i].n; j++) {
            char c[256];
            qry__cond_text(&q->conj[i].any[j], c, sizeof(c));
            qry__cat(conds, sizeof(conds), j ? " or " : "");
            qry__cat(conds, sizeof(conds), c);
        }
        line(l, "pushdown %s", conds);
    }
    if (q->scan.nconj == 0) {
        line(l, "pushdown none (every block of the range is read)");
    }
    if (q->nregex > 0) {
        line(l, "regex %zu compiled, %s", q->nregex,
             q->nregex_jit == q->nregex ? "JIT" : "interpreted (no PCRE2 JIT here)");
    }
    for (size_t i = 0; i < q->nstages; i++) {
        const struct qry__stage *s = &q->stages[i];
        line(l, "stage %s%s", stage_name(s->kind),
             s->kind == S_SORT && i + 1 < q->nstages && q->stages[i + 1].kind == S_LIMIT
                 ? " (top-k heap)"
                 : "");
    }
    if (l->ru_why != NULL) {
        line(l, "rollup no (%s): the scan answers", l->ru_why);
    } else {
        line(l, "rollup yes: windows wholly in the range with an exact rollup answer from it, "
                "the others are scanned");
    }
}

/* How window w is answered: "rollup", or "scan (why)". */
static const char *
window_source(struct qry__lister *l, const struct stor_window_info *w, char *buf, size_t cap)
{
    const char *why = qry__rollup_window_why(l->q, w);
    struct stor_rollup_row *rows = NULL;
    size_t n = 0;
    if (why == NULL && l->env != NULL) {
        int rc = stor_rollup_get(l->env, w->flowlog, w->start_s, &rows, &n);
        free(rows);
        why = rc == 1   ? NULL
              : rc == 0 ? "no exact rollup: late rows, or sealed before rollups"
                        : stor_strerror(rc);
    } else if (why == NULL) {
        why = "storage not asked";
    }
    l->ru_windows += why == NULL;
    l->ru_scanned += why != NULL;
    snprintf(buf, cap, why == NULL ? "rollup" : "scan (%s)", why);
    return buf;
}

/* A WINDOWS row in the session's format. */
static void
window_row(struct qry__lister *l, const struct stor_window_info *w)
{
    static const char *const names[] = {"flowlog", "start", "length", "status",
                                        "records", "late",  "blocks", "bytes"};
    char v[8][64];
    const char *vals[8];
    const char *name = w->flowlog == 0 ? "default" : NULL;
    const struct qry__flname *e = qry__names_get(&l->nm, w->flowlog);
    if (e != NULL) {
        name = e->name;
    }
    if (name != NULL) {
        snprintf(v[0], sizeof(v[0]), "%s", name);
    } else {
        snprintf(v[0], sizeof(v[0]), "#%u", w->flowlog);
    }
    if (l->fmt == QRY_FMT_TEXT) {
        snprintf(v[1], sizeof(v[1]), "%u", w->start_s);
    } else {
        qry__time_text((uint64_t) w->start_s * 1000u, v[1]);
    }
    snprintf(v[2], sizeof(v[2]), "%u", w->window_s);
    snprintf(v[3], sizeof(v[3]), "%s", w->sealed ? "sealed" : "open");
    snprintf(v[4], sizeof(v[4]), "%llu", (unsigned long long) w->records);
    snprintf(v[5], sizeof(v[5]), "%llu", (unsigned long long) w->late);
    snprintf(v[6], sizeof(v[6]), "%u", w->blocks);
    snprintf(v[7], sizeof(v[7]), "%llu", (unsigned long long) w->bytes);
    for (int i = 0; i < 8; i++) {
        vals[i] = v[i];
    }
    qry__fmt_row(&l->out, l->fmt, &l->header, 8, names, vals);
}

static void
explain_window(struct qry__lister *l, const struct stor_window_info *w)
{
    char t[32], src[160] = "";
    qry__time_text((uint64_t) w->start_s * 1000u, t);
    if (l->ru_why == NULL) {
        qry__cat(src, sizeof(src), " answer=");
        window_source(l, w, src + 8, sizeof(src) - 8);
    }
    line(l, "window flowlog=%u start=%s length=%us %s records=%llu blocks=%u%s", w->flowlog, t,
         w->window_s, w->sealed ? "sealed" : "open", (unsigned long long) w->records, w->blocks,
         src);
}

/* stor_windows_each's callback: skip what earlier passes listed, list up to a slice. */
static int
list_window(void *arg, const struct stor_window_info *w)
{
    struct qry__lister *l = arg;
    if (l->seen++ < l->done) {
        return 0;
    }
    if (l->listed == SLICE_WINDOWS || l->out.len >= CHUNK_BYTES) {
        return PASS_FULL;
    }
    l->listed++;
    l->done++;
    l->windows++;
    l->blocks += w->blocks;
    l->records += w->records;
    uint64_t lo = (uint64_t) w->start_s * 1000u, hi = lo + (uint64_t) w->window_s * 1000u;
    l->lo_ms = lo < l->lo_ms ? lo : l->lo_ms;
    l->hi_ms = hi > l->hi_ms ? hi : l->hi_ms;
    if (l->q != NULL) {
        explain_window(l, w);
    } else {
        window_row(l, w);
    }
    if (l->lim.rows != 0 && ++l->rows > l->lim.rows) {
        return lfail(l, QRY_E_LIMIT, "rows: more than %llu rows (narrow the range)",
                     (unsigned long long) l->lim.rows);
    }
    return 0;
}

static int
step_windows(struct qry__lister *l)
{
    l->seen = l->listed = 0;
    int rc = stor_windows_each(l->snap, l->from_ms, l->to_ms, list_window, l);
    if (rc == PASS_FULL) {
        return 0;
    }
    if (rc != 0) {
        return l->errmsg[0] != '\0' ? rc : lfail(l, rc, "storage: %s", stor_strerror(rc));
    }
    l->phase = l->q != NULL ? L_TOTAL : L_DONE;
    return 0;
}

/* The part of the query's range that holds windows; the scan estimate covers it. */
static void
plan_range(struct qry__lister *l)
{
    l->plan_at = l->q->scan.from_ms > l->lo_ms ? l->q->scan.from_ms : l->lo_ms;
    l->plan_end = l->q->scan.to_ms < l->hi_ms ? l->q->scan.to_ms : l->hi_ms;
}

static int
step_plan(struct qry__lister *l)
{
    if (l->plan_at >= l->plan_end) {
        line(l,
             "scan windows=%llu blocks=%llu skipped=%llu records-to-read=%llu "
             "(sealed blocks kept by their summaries, plus open runs)",
             (unsigned long long) l->plan.windows, (unsigned long long) l->plan.blocks,
             (unsigned long long) l->plan.blocks_skipped, (unsigned long long) l->plan.records);
        l->phase = L_DONE;
        return 0;
    }
    struct stor_scan sc = l->q->scan;
    struct stor_scan_stats st;
    uint64_t next = (l->plan_at / PLAN_SLICE_MS + 1) * PLAN_SLICE_MS;
    sc.from_ms = l->plan_at;
    sc.to_ms = next < l->plan_end ? next : l->plan_end;
    int rc = stor_scan_plan(l->snap, &sc, &st);
    if (rc != 0) {
        return lfail(l, rc, "storage: %s", stor_strerror(rc));
    }
    l->plan.windows += st.windows;
    l->plan.blocks += st.blocks;
    l->plan.blocks_skipped += st.blocks_skipped;
    l->plan.records += st.records;
    l->plan_at = sc.to_ms;
    return 0;
}

static int
check_time(struct qry__lister *l)
{
    if (l->cancel != NULL && atomic_load(l->cancel)) {
        return lfail(l, QRY_E_CANCELED, "canceled");
    }
    if (l->deadline_ms != 0 && flow_mono_ms() > l->deadline_ms) {
        return lfail(l, QRY_E_TIMEOUT, "the request ran longer than %llu ms",
                     (unsigned long long) l->lim.time_ms);
    }
    return 0;
}

static int
step(struct qry__lister *l)
{
    switch (l->phase) {
    case L_HEAD:
        explain_head(l);
        l->phase = l->snap != NULL ? L_WINDOWS : L_TOTAL;
        return 0;
    case L_WINDOWS:
        return step_windows(l);
    case L_TOTAL:
        line(l, "total windows=%llu blocks=%llu records=%llu", (unsigned long long) l->windows,
             (unsigned long long) l->blocks, (unsigned long long) l->records);
        if (l->ru_why == NULL) {
            line(l, "rollup windows=%llu scanned=%llu", (unsigned long long) l->ru_windows,
                 (unsigned long long) l->ru_scanned);
        }
        plan_range(l);
        l->phase = l->snap != NULL ? L_PLAN : L_DONE;
        return 0;
    case L_PLAN:
        return step_plan(l);
    default:
        return 0;
    }
}

int
qry__lister_next(struct qry__lister *l, uint32_t slice_ms, const char **data, size_t *len)
{
    uint64_t start = flow_mono_ms();
    int rc;
    if (l->out_sent) {
        l->out.len = 0;
        l->out_sent = false;
    }
    while (l->phase != L_DONE && l->out.len < CHUNK_BYTES) {
        if ((rc = check_time(l)) != 0 || (rc = step(l)) != 0) {
            return rc;
        }
        if (l->out.oom) {
            return lfail(l, -ENOMEM, "out of memory");
        }
        if (slice_ms != 0 && flow_mono_ms() - start >= slice_ms) {
            break;
        }
    }
    if (l->phase == L_DONE && l->out.len == 0) {
        return 0;
    }
    *data = l->out.p != NULL ? l->out.p : "";
    *len = l->out.len;
    l->out_sent = true;
    return 1;
}

int
qry__lister_open(struct qry__lister **out, struct stor_env *env, const struct qry *q,
                 uint64_t from_ms, uint64_t to_ms, struct stor_snap *snap, enum qry_fmt fmt,
                 const struct qry_limits *lim, const atomic_bool *cancel)
{
    struct qry__lister *l = calloc(1, sizeof(*l));
    int rc;
    if (l == NULL) {
        return -ENOMEM;
    }
    l->q = q;
    l->snap = snap;
    l->fmt = fmt;
    l->lim = lim != NULL ? *lim : (struct qry_limits){0};
    l->cancel = cancel;
    l->from_ms = q != NULL ? q->from_ms : from_ms;
    l->to_ms = q != NULL ? q->to_ms : to_ms;
    l->deadline_ms = l->lim.time_ms != 0 ? flow_mono_ms() + l->lim.time_ms : 0;
    l->phase = q != NULL ? L_HEAD : L_WINDOWS;
    l->lo_ms = UINT64_MAX;
    l->env = env;
    l->ru_why = q != NULL ? qry__rollup_why(q) : NULL;
    if (q == NULL && (rc = qry__names_load(&l->nm, env)) != 0) {
        qry__lister_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

uint64_t
qry__lister_rows(const struct qry__lister *l)
{
    return l->q != NULL ? l->lines : l->rows;
}

const char *
qry__lister_errmsg(const struct qry__lister *l)
{
    return l->errmsg;
}

void
qry__lister_close(struct qry__lister *l)
{
    if (l == NULL) {
        return;
    }
    qry__buf_free(&l->out);
    qry__names_free(&l->nm);
    free(l);
}

int
qry_explain(const struct qry *q, struct stor_snap *snap, qry_line_fn *fn, void *arg)
{
    struct qry__lister *l;
    const char *d = NULL;
    size_t n = 0;
    int rc = qry__lister_open(&l, NULL, q, 0, 0, snap, QRY_FMT_TEXT, NULL, NULL);
    if (rc != 0) {
        return rc;
    }
    while (rc == 0 && (rc = qry__lister_next(l, 0, &d, &n)) == 1) {
        rc = 0;
        for (const char *p = d, *nl; rc == 0 && (nl = memchr(p, '\n', (size_t) (d + n - p)));
             p = nl + 1) {
            rc = fn(arg, p, (size_t) (nl - p));
        }
    }
    qry__lister_close(l);
    return rc;
}
