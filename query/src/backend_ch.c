/* SPDX-License-Identifier: MIT */
/*
 * BACKEND clickhouse's executor (backend_int.h): the query as one SELECT (sql_stage.c) sent
 * with libcurl's multi interface, driven in slices by qry__chexec_next on the session's
 * thread, and ClickHouse's TabSeparated answer (https://clickhouse.com/docs/en/interfaces/
 * formats#tabseparated: \N for NULL, \t \n \\ escapes) turned back into values and formatted
 * by fmt.c as the local executor formats its rows. Query limits go to ClickHouse as URL
 * settings (qry__sql_settings); the rows limit is also counted here. An answer that is
 * not 200 is an error whose first line is the server's message. ClickHouse buffers the first
 * megabyte of an answer before it sends the status, so an error after that point arrives
 * inside a 200 body: the row parser then sees a line with the wrong number of cells and
 * fails the query with that line as the message.
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend_int.h"
#include "flow_clock.h"

/* The connection must be up within this long, or the query fails (-EIO). */
#define QRY_CH_CONNECT_MS 5000u
/* Beyond the query's own time limit, the transfer gets this long before curl ends it. */
#define QRY_CH_GRACE_MS 5000u

struct qry__chexec {
    struct qry__sql sql;
    enum qry_fmt fmt;
    const atomic_bool *cancel;
    uint64_t row_limit;
    CURL *easy;
    CURLM *multi;
    struct qry__buf url, in, out;
    size_t in_off;
    bool paused, done, header_done;
    int explain; /* 1: the EXPLAIN lines are due; 2: given */
    CURLcode result;
    uint64_t rows;
    char err[512];
};

static size_t
take(char *p, size_t size, size_t n, void *arg)
{
    struct qry__chexec *x = arg;
    if (x->in.len - x->in_off >= QRY_CH_INBUF_MAX) {
        x->paused = true;
        return CURL_WRITEFUNC_PAUSE; /* the same bytes come again after the unpause */
    }
    if (x->in_off > 0) {
        /* Rows taken so far go: the buffer holds at most the unread part and one callback. */
        memmove(x->in.p, x->in.p + x->in_off, x->in.len - x->in_off);
        x->in.len -= x->in_off;
        x->in_off = 0;
    }
    qry__buf_put(&x->in, p, size * n);
    return x->in.oom ? 0 : size * n;
}

static int
fail(struct qry__chexec *x, int rc, const char *msg, size_t n)
{
    snprintf(x->err, sizeof(x->err), "clickhouse: %.*s", (int) n, msg);
    return rc;
}

/* Server errors by their "Code: N" (ErrorCodes.cpp): time and size limits are ours. */
static int
server_error(struct qry__chexec *x, const char *body, size_t n)
{
    const char *nl = memchr(body, '\n', n);
    size_t len = nl != NULL ? (size_t) (nl - body) : n;
    int code = 0, rc = -EIO;
    if (sscanf(body, "Code: %d", &code) == 1) {
        rc = code == 159                                                ? QRY_E_TIMEOUT
             : code == 158 || code == 396 || code == 241 || code == 307 ? QRY_E_LIMIT
                                                                        : -EIO;
    }
    return fail(x, rc, body, len);
}

static int
url_build(struct qry__chexec *x, const struct qry_ch_cfg *cfg, const struct qry_limits *lim)
{
    const char *u = cfg->url;
    size_t n = strlen(u);
    qry__buf_put(&x->url, u, n);
    qry__buf_puts(&x->url, memchr(u, '?', n) != NULL ? "&" : "?");
    qry__buf_printf(&x->url, "database=%s", cfg->database);
    if (lim != NULL) {
        struct qry__buf s = {0};
        qry__sql_settings(lim, &s);
        if (s.len > 0) {
            qry__buf_put(&x->url, "&", 1);
            qry__buf_put(&x->url, s.p, s.len);
        }
        x->url.oom |= s.oom;
        qry__buf_free(&s);
    }
    qry__buf_put(&x->url, "", 1);
    return x->url.oom ? -ENOMEM : 0;
}

static int
curl_start(struct qry__chexec *x, const struct qry_ch_cfg *cfg, const struct qry_limits *lim)
{
    x->easy = curl_easy_init();
    x->multi = curl_multi_init();
    if (x->easy == NULL || x->multi == NULL) {
        return -ENOMEM;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url.p);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->sql.text.p);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long) x->sql.text.len);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, take);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) QRY_CH_CONNECT_MS);
    if (lim != NULL && lim->time_ms > 0) {
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long) (lim->time_ms + QRY_CH_GRACE_MS));
    }
    if (cfg->user != NULL && cfg->user[0] != '\0') {
        curl_easy_setopt(x->easy, CURLOPT_USERNAME, cfg->user);
        curl_easy_setopt(x->easy, CURLOPT_PASSWORD, cfg->password != NULL ? cfg->password : "");
    }
    return curl_multi_add_handle(x->multi, x->easy) == CURLM_OK ? 0 : -ENOMEM;
}

int
qry__chexec_open(struct qry__chexec **out, const struct qry_ch_cfg *cfg, const struct qry *q,
                 enum qry_fmt fmt, const struct qry_limits *lim, const atomic_bool *cancel,
                 bool explain, struct qry_error *err)
{
    struct qry__chexec *x = calloc(1, sizeof(*x));
    int rc;
    if (x == NULL) {
        return -ENOMEM;
    }
    x->fmt = fmt;
    x->cancel = cancel;
    x->row_limit = lim != NULL ? lim->rows : 0;
    if ((rc = qry__sql_build(q, cfg->database, &x->sql, err)) != 0) {
        goto close;
    }
    if (explain) {
        x->explain = 1;
        x->rows = 2;
        qry__buf_printf(&x->out, "backend clickhouse\nsql %s\n", x->sql.text.p);
        rc = x->out.oom ? -ENOMEM : 0;
        goto done;
    }
    qry__buf_puts(&x->sql.text, " FORMAT TabSeparated");
    qry__buf_put(&x->sql.text, "", 1);
    x->sql.text.len--;
    if (x->sql.text.oom || (rc = url_build(x, cfg, lim)) != 0 ||
        (rc = curl_start(x, cfg, lim)) != 0) {
        rc = rc != 0 ? rc : -ENOMEM;
        goto close;
    }
done:
    if (rc == 0) {
        *out = x;
        return 0;
    }
close:
    qry__chexec_close(x);
    return rc;
}

/* Undo TabSeparated's escapes in place; returns the new length. */
static size_t
unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[++i];
            c = e == 't'   ? '\t'
                : e == 'n' ? '\n'
                : e == 'r' ? '\r'
                : e == '0' ? '\0'
                : e == 'b' ? '\b'
                : e == 'f' ? '\f'
                           : e;
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return o;
}

static void
hex16(const char *s, uint8_t a[16])
{
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        sscanf(s + 2 * i, "%2x", &v);
        a[i] = (uint8_t) v;
    }
}

/* The value of column k from its cell (NUL-terminated, unescaped unless NULL). */
static void
cell_val(const struct qry__sql *s, size_t k, char *c, struct qry__val *v)
{
    int f = s->fields[k];
    memset(v, 0, sizeof(*v));
    v->present = strcmp(c, "\\N") != 0;
    v->kind = s->aggs[k] == A_AVG + 1 ? K_FLOAT : f >= 0 ? qry__fields[f].kind : K_NUM;
    if (!v->present) {
        return;
    }
    size_t n = unescape(c, strlen(c));
    switch (v->kind) {
    case K_FLOAT:
        v->d = strtod(c, NULL);
        break;
    case K_ADDR:
        if (n == 32) {
            hex16(c, v->addr);
        }
        break;
    case K_TEXT:
        v->s = c;
        break;
    default:
        v->u = strtoull(c, NULL, 10);
        break;
    }
}

static void
header(struct qry__chexec *x)
{
    const struct qry__sql *s = &x->sql;
    x->header_done = true;
    if (x->fmt != QRY_FMT_CSV) {
        return;
    }
    for (size_t i = 0; i < s->nproj; i++) {
        qry__buf_puts(&x->out, i > 0 ? "," : "");
        const char *name = s->names[s->proj[i]];
        qry__fmt_str(&x->out, QRY_FMT_CSV, name, strlen(name));
    }
    qry__buf_put(&x->out, "\n", 1);
}

/* A text row must not pass for a status line (out.c's rule): its first byte as \xHH. */
static void
guard_status(struct qry__buf *b, size_t start)
{
    const char *l = b->p + start;
    size_t n = b->len - start;
    if ((n >= 3 && memcmp(l, "OK ", 3) == 0) || (n >= 4 && memcmp(l, "ERR ", 4) == 0)) {
        char c = l[0];
        qry__buf_reserve(b, 3);
        if (b->oom) {
            return;
        }
        memmove(b->p + start + 4, b->p + start + 1, n - 1);
        memcpy(b->p + start, c == 'O' ? "\\x4f" : "\\x45", 4);
        b->len += 3;
    }
}

/* One answer line (without its '\n', NUL-terminated) as an output row. */
static int
emit(struct qry__chexec *x, char *line, size_t n)
{
    const struct qry__sql *s = &x->sql;
    char *cells[QRY_SQL_COLS_MAX];
    size_t nc = 0;
    for (char *p = line, *t; nc < s->ncols; p = t + 1) {
        cells[nc++] = p;
        if ((t = strchr(p, '\t')) == NULL) {
            break;
        }
        *t = '\0';
    }
    if (nc != s->ncols) {
        return server_error(x, line, n); /* an error inside a 200 answer */
    }
    if (!x->header_done) {
        header(x);
    }
    size_t start = x->out.len;
    qry__buf_puts(&x->out, x->fmt == QRY_FMT_JSON ? "{" : "");
    for (size_t i = 0; i < s->nproj; i++) {
        size_t k = s->proj[i];
        struct qry__val v;
        cell_val(s, k, cells[k], &v);
        if (x->fmt == QRY_FMT_JSON) {
            qry__buf_puts(&x->out, i > 0 ? "," : "");
            qry__fmt_str(&x->out, QRY_FMT_JSON, s->names[k], strlen(s->names[k]));
            qry__buf_put(&x->out, ":", 1);
        } else if (i > 0) {
            qry__buf_put(&x->out, x->fmt == QRY_FMT_CSV ? "," : " ", 1);
        }
        qry__fmt_val(&x->out, x->fmt, &v, s->fields[k]);
    }
    qry__buf_puts(&x->out, x->fmt == QRY_FMT_JSON ? "}\n" : "\n");
    guard_status(&x->out, start);
    if (x->out.oom) {
        return fail(x, -ENOMEM, "out of memory", 13);
    }
    x->rows++;
    if (x->row_limit != 0 && x->rows > x->row_limit) {
        snprintf(x->err, sizeof(x->err), "rows: more than %llu rows (add a limit)",
                 (unsigned long long) x->row_limit);
        return QRY_E_LIMIT;
    }
    return 0;
}

/* Rows from the complete lines received, until a chunk is full. 0 or the failure. */
static int
drain(struct qry__chexec *x)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        return 0; /* no answer yet, or an error body: read at the end */
    }
    while (x->out.len < QRY_CH_CHUNK && x->in_off < x->in.len) {
        char *l = x->in.p + x->in_off;
        char *nl = memchr(l, '\n', x->in.len - x->in_off);
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        x->in_off += (size_t) (nl - l) + 1;
        int rc = emit(x, l, (size_t) (nl - l));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The request ended: 0 when the answer was whole and 200, else the failure. */
static int
finish(struct qry__chexec *x)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (x->result == CURLE_OPERATION_TIMEDOUT) {
        return fail(x, QRY_E_TIMEOUT, "no complete answer in time", 26);
    }
    if (x->result != CURLE_OK) {
        const char *m = curl_easy_strerror(x->result);
        return fail(x, -EIO, m, strlen(m));
    }
    if (status != 200) {
        return server_error(x, x->in.p + x->in_off, x->in.len - x->in_off);
    }
    if (x->in_off < x->in.len) {
        return fail(x, -EIO, "the answer ends inside a row", 28);
    }
    return 0;
}

/* Let curl move bytes for at most wait_ms. */
static void
pump(struct qry__chexec *x, uint32_t wait_ms)
{
    int running = 0, left = 0;
    CURLMsg *m;
    if (x->paused && x->in.len - x->in_off < QRY_CH_INBUF_MAX) {
        x->paused = false;
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
    curl_multi_perform(x->multi, &running);
    while ((m = curl_multi_info_read(x->multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE) {
            x->done = true;
            x->result = m->data.result;
        }
    }
    if (!x->done && running > 0 && wait_ms > 0) {
        curl_multi_poll(x->multi, NULL, 0, (int) wait_ms, NULL);
    }
}

int
qry__chexec_next(struct qry__chexec *x, uint32_t slice_ms, const char **data, size_t *len)
{
    uint64_t t0 = flow_mono_ms();
    int rc = 0;
    if (x->explain > 0) {
        *data = x->out.p;
        *len = x->out.len;
        return x->explain++ == 1 ? 1 : 0;
    }
    x->out.len = 0;
    for (;;) {
        if (x->cancel != NULL && atomic_load(x->cancel)) {
            return fail(x, QRY_E_CANCELED, "the client went away", 20);
        }
        if ((rc = drain(x)) != 0) {
            return rc;
        }
        uint64_t spent = flow_mono_ms() - t0;
        if (x->out.len >= QRY_CH_CHUNK || (x->out.len > 0 && (x->done || spent >= slice_ms))) {
            break;
        }
        if (x->done) {
            return finish(x);
        }
        if (spent >= slice_ms && slice_ms > 0) {
            break; /* nothing yet: yield an empty chunk */
        }
        pump(x, slice_ms > spent ? (uint32_t) (slice_ms - spent) : 50);
    }
    *data = x->out.p;
    *len = x->out.len;
    return 1;
}

uint64_t
qry__chexec_rows(const struct qry__chexec *x)
{
    return x->rows;
}

const char *
qry__chexec_errmsg(const struct qry__chexec *x)
{
    return x->err;
}

const char *
qry__chexec_sql(const struct qry__chexec *x)
{
    return x->sql.text.p;
}

void
qry__chexec_close(struct qry__chexec *x)
{
    if (x == NULL) {
        return;
    }
    if (x->multi != NULL && x->easy != NULL) {
        curl_multi_remove_handle(x->multi, x->easy); /* aborts a request still running */
    }
    curl_easy_cleanup(x->easy);
    curl_multi_cleanup(x->multi);
    qry__sql_free(&x->sql);
    qry__buf_free(&x->url);
    qry__buf_free(&x->in);
    qry__buf_free(&x->out);
    free(x);
}
