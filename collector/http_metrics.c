/* SPDX-License-Identifier: MIT */
/*
 * /metrics: every STATS counter in the Prometheus text exposition format (version 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/), named by its conventions
 * (flowlog_ prefix, snake case, _total on counters, _seconds on times).
 *
 * Where the numbers come from: the store's counters through stor_stats_each (which gives
 * their kind and help), the collector's and the query server's through the same info hook
 * the line protocol's STATS and EXPORTERS use (so a counter added there shows up here), and
 * the HTTP server's own. Pure formatting: no I/O, no clock; unit-tested in tests/web.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define NAME_MAX_LEN 128
#define STATS_ROWS_MAX                                                                             \
    512 /* STATS rows kept (the collector gives about 60): more are a host bug, dropped */

/* ---- the growing text buffer ---- */

void
coll_http_buf_put(struct coll_http_buf *b, const char *data, size_t len)
{
    if (b->failed) {
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 4096;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void
coll_http_buf_printf(struct coll_http_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t) n < sizeof(small)) {
        coll_http_buf_put(b, small, (size_t) n);
        return;
    }
    char *big = malloc((size_t) n + 1);
    if (big == NULL) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);
    coll_http_buf_put(b, big, (size_t) n);
    free(big);
}

void
coll_http_buf_free(struct coll_http_buf *b)
{
    free(b->p);
    *b = (struct coll_http_buf){0};
}

/* ---- names ---- */

/* "decode-errors" -> "flowlog_decode_errors"; characters outside [a-zA-Z0-9_] become '_'. */
static void
metric_name(char *out, size_t len, const char *prefix, const char *name)
{
    int n = snprintf(out, len, "%s", prefix);
    size_t i = n > 0 ? (size_t) n : 0;
    for (const char *s = name; *s != '\0' && i + 1 < len; s++, i++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[i] = ok ? c : '_';
    }
    out[i < len ? i : len - 1] = '\0';
}

/* A label value with \, " and newline escaped. */
static void
put_label(struct coll_http_buf *b, const char *v)
{
    for (const char *s = v; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            coll_http_buf_put(b, "\\", 1);
            coll_http_buf_put(b, s, 1);
        } else if (*s == '\n') {
            coll_http_buf_put(b, "\\n", 2);
        } else {
            coll_http_buf_put(b, s, 1);
        }
    }
}

static void
family(struct coll_http_buf *b, const char *name, bool counter, const char *help)
{
    coll_http_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                         counter ? "counter" : "gauge");
}

/* ---- the store ---- */

/* One sample: a name ending in -ms is in seconds (Prometheus' base unit). */
static void
sample(struct coll_http_buf *b, const char *prefix, const char *name, uint64_t value,
       bool counter, const char *help)
{
    char m[NAME_MAX_LEN];
    size_t len = strlen(name);
    bool ms = len > 3 && strcmp(name + len - 3, "-ms") == 0;
    char base[NAME_MAX_LEN];
    snprintf(base, sizeof(base), "%.*s", (int) (ms ? len - 3 : len), name);
    metric_name(m, sizeof(m), prefix, base);
    if (ms) {
        strncat(m, "_seconds", sizeof(m) - strlen(m) - 1);
    }
    if (counter) {
        strncat(m, "_total", sizeof(m) - strlen(m) - 1);
    }
    family(b, m, counter, help);
    if (ms) {
        coll_http_buf_printf(b, "%s %" PRIu64 ".%03u\n", m, value / 1000u,
                             (unsigned) (value % 1000u));
    } else {
        coll_http_buf_printf(b, "%s %" PRIu64 "\n", m, value);
    }
}

static int
store_metric(void *arg, const char *name, uint64_t value, enum stor_stat_kind kind,
             const char *help)
{
    bool counter = kind == STOR_STAT_COUNTER;
    if (strcmp(name, "store-records-stored") == 0) {
        sample(arg, "flowlog_", "records-stored", value, counter, help);
    } else {
        sample(arg, "flowlog_", name, value, counter, help);
    }
    return 0;
}

/* ---- STATS rows ---- */

struct stat_row {
    char name[NAME_MAX_LEN];
    uint64_t value;
};

struct stats_acc {
    struct stat_row *rows;
    size_t n;
};

static bool
parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *v = x;
    return true;
}

static int
stats_row(void *arg, size_t n, const char *const *names, const char *const *values)
{
    struct stats_acc *a = arg;
    const char *name = NULL, *value = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "name") == 0) {
            name = values[i];
        } else if (strcmp(names[i], "value") == 0) {
            value = values[i];
        }
    }
    uint64_t v;
    /* The store's rows come from stor_stats_each directly, with their kind and help. */
    if (name == NULL || value == NULL || strncmp(name, "store-", 6) == 0 ||
        !parse_u64(value, &v) || a->n == STATS_ROWS_MAX) {
        return 0;
    }
    snprintf(a->rows[a->n].name, NAME_MAX_LEN, "%s", name);
    a->rows[a->n++].value = v;
    return 0;
}

static bool
stats_gauge(const char *name)
{
    static const char *const gauges[] = {"exporters", "query-clients", "tcp-sessions",
                                         "decoder-memory-bytes",
                                         /* sink.c's gauges */
                                         "clickhouse-outbox-windows", "clickhouse-outbox-rows",
                                         "clickhouse-outbox-oldest-s", "clickhouse-failing"};
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        if (strcmp(name, gauges[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void
stats_emit(struct coll_http_buf *b, const struct stats_acc *a)
{
    static const char reason[] = "decode-errors-";
    bool reasons_done = false;
    for (size_t i = 0; i < a->n; i++) {
        const char *name = a->rows[i].name;
        char help[NAME_MAX_LEN + 32];
        if (strncmp(name, reason, sizeof(reason) - 1) == 0) {
            if (reasons_done) {
                continue;
            }
            /* One family with a reason label, all its samples together. */
            family(b, "flowlog_decode_errors_by_reason_total", true,
                   "decode errors by the decoder's reason (STATS decode-errors-REASON)");
            for (size_t j = i; j < a->n; j++) {
                if (strncmp(a->rows[j].name, reason, sizeof(reason) - 1) == 0) {
                    coll_http_buf_printf(b, "flowlog_decode_errors_by_reason_total{reason=\"");
                    put_label(b, a->rows[j].name + sizeof(reason) - 1);
                    coll_http_buf_printf(b, "\"} %" PRIu64 "\n", a->rows[j].value);
                }
            }
            reasons_done = true;
            continue;
        }
        bool counter = !stats_gauge(name);
        snprintf(help, sizeof(help), "STATS %s (docs/protocol.md)", name);
        sample(b, "flowlog_", strcmp(name, "records") == 0 ? "records-received" : name,
               a->rows[i].value, counter, help);
    }
}

/* ---- EXPORTERS rows: one series per exporter, bounded ---- */

#define EX_COLS_MAX 16
#define EX_VAL_MAX  64

struct ex_acc {
    size_t ncols;
    char cols[EX_COLS_MAX][NAME_MAX_LEN];
    char (*vals)[EX_COLS_MAX][EX_VAL_MAX]; /* COLL_HTTP_METRICS_EXPORTERS_MAX rows */
    size_t n;
    uint64_t omitted;
};

static int
exporter_row(void *arg, size_t n, const char *const *names, const char *const *values)
{
    struct ex_acc *a = arg;
    if (a->n == COLL_HTTP_METRICS_EXPORTERS_MAX) {
        a->omitted++;
        return 0;
    }
    if (a->n == 0) {
        a->ncols = n < EX_COLS_MAX ? n : EX_COLS_MAX;
        for (size_t i = 0; i < a->ncols; i++) {
            snprintf(a->cols[i], NAME_MAX_LEN, "%s", names[i]);
        }
    }
    for (size_t i = 0; i < a->ncols && i < n; i++) {
        snprintf(a->vals[a->n][i], EX_VAL_MAX, "%s", values[i]);
    }
    a->n++;
    return 0;
}

/* Which column names the exporter, and how a column becomes a metric. */
static void
ex_column(const char *col, char *m, size_t len, bool *counter)
{
    bool seconds = strcmp(col, "first-seen") == 0 || strcmp(col, "last-seen") == 0;
    *counter = !seconds && strcmp(col, "templates") != 0 && strcmp(col, "version") != 0;
    metric_name(m, len, "flowlog_exporter_", col);
    if (seconds) {
        strncat(m, "_seconds", len - strlen(m) - 1);
    }
    if (*counter) {
        strncat(m, "_total", len - strlen(m) - 1);
    }
}

static void
ex_emit(struct coll_http_buf *b, const struct ex_acc *a)
{
    size_t key = a->ncols;
    for (size_t c = 0; c < a->ncols; c++) {
        if (strcmp(a->cols[c], "exporter") == 0) {
            key = c;
        }
    }
    for (size_t c = 0; key < a->ncols && c < a->ncols; c++) {
        char m[NAME_MAX_LEN + 16], help[NAME_MAX_LEN + 48];
        bool counter;
        uint64_t v;
        if (c == key || !parse_u64(a->vals[0][c], &v)) {
            continue; /* the key, and columns that are not numbers */
        }
        ex_column(a->cols[c], m, sizeof(m), &counter);
        snprintf(help, sizeof(help), "EXPORTERS column %s, per exporter", a->cols[c]);
        family(b, m, counter, help);
        for (size_t r = 0; r < a->n; r++) {
            if (parse_u64(a->vals[r][c], &v)) {
                coll_http_buf_printf(b, "%s{exporter=\"", m);
                put_label(b, a->vals[r][key]);
                coll_http_buf_printf(b, "\"} %" PRIu64 "\n", v);
            }
        }
    }
}

/* ---- HTTP's own ---- */

static void
http_emit(struct coll_http_buf *b, const struct coll_http_stats *hs, uint64_t omitted)
{
    const struct {
        const char *name;
        const atomic_uint_fast64_t *v;
        bool counter;
        const char *help;
    } c[] = {
        {"flowlog_http_connections_total", &hs->connections, true, "HTTP connections accepted"},
        {"flowlog_http_clients", &hs->clients, false, "HTTP connections open now"},
        {"flowlog_http_refused_total", &hs->refused, true,
         "HTTP connections closed at accept: max_connections reached"},
        {"flowlog_http_requests_total", &hs->requests, true, "HTTP requests answered"},
        {"flowlog_http_host_refused_total", &hs->host_refused, true,
         "HTTP requests refused for their Host header (421)"},
        {"flowlog_http_auth_failures_total", &hs->auth_failures, true,
         "HTTP requests without a valid token (401)"},
        {"flowlog_http_denied_total", &hs->denied, true,
         "HTTP requests refused: admin token needed or a cross-site POST (403)"},
        {"flowlog_http_header_too_large_total", &hs->header_too_large, true,
         "HTTP requests whose headers exceeded header_max (431)"},
        {"flowlog_http_body_too_large_total", &hs->body_too_large, true,
         "HTTP requests whose body exceeded body_max (413)"},
        {"flowlog_http_canceled_total", &hs->canceled, true,
         "HTTP queries canceled because the client hung up"},
        {"flowlog_http_timeouts_total", &hs->timeouts, true,
         "HTTP requests ended by idle_timeout: the client stalled inside a request"},
        {"flowlog_http_metrics_truncated_total", &hs->metrics_truncated, true,
         "/metrics answers that left exporters out"},
        {"flowlog_http_tail_clients", &hs->tail_clients, false, "live tails open now"},
        {"flowlog_http_tail_refused_total", &hs->tail_refused, true,
         "live tails refused: HTTP_TAIL_CLIENTS were open"},
        {"flowlog_http_tail_dropped_total", &hs->tail_dropped, true,
         "committed runs a live tail could not give its client (it fell behind)"},
        {"flowlog_http_chart_limited_total", &hs->chart_limited, true,
         "format=chart answers refused: too many series or buckets"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        family(b, c[i].name, c[i].counter, c[i].help);
        coll_http_buf_printf(b, "%s %" PRIu64 "\n", c[i].name, (uint64_t) atomic_load(c[i].v));
    }
    family(b, "flowlog_http_metrics_exporters_omitted", false,
           "exporters left out of this answer (more than the series bound)");
    coll_http_buf_printf(b, "flowlog_http_metrics_exporters_omitted %" PRIu64 "\n", omitted);
}

int
coll_http_metrics(struct coll_http_buf *b, const struct stor_stats *st, qry_info_fn *info,
                  void *info_arg, const struct coll_http_stats *hs, bool *truncated)
{
    struct stats_acc sa = {.rows = calloc(STATS_ROWS_MAX, sizeof(*sa.rows))};
    struct ex_acc *ea = calloc(1, sizeof(*ea));
    int rc = 0;

    *truncated = false;
    if (sa.rows == NULL || ea == NULL ||
        (ea->vals = calloc(COLL_HTTP_METRICS_EXPORTERS_MAX, sizeof(*ea->vals))) == NULL) {
        rc = -ENOMEM;
        goto free_acc;
    }
    if (info != NULL) {
        if ((rc = info(info_arg, "stats", stats_row, &sa)) != 0 ||
            (rc = info(info_arg, "exporters", exporter_row, ea)) != 0) {
            goto free_acc;
        }
    }
    stats_emit(b, &sa);
    stor_stats_each(st, store_metric, b);
    ex_emit(b, ea);
    http_emit(b, hs, ea->omitted);
    *truncated = ea->omitted > 0;
    rc = b->failed ? -ENOMEM : 0;
free_acc:
    if (ea != NULL) {
        free(ea->vals);
    }
    free(ea);
    free(sa.rows);
    return rc;
}
