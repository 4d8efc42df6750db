/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API's answers (docs/http.md): each request runs in its own query/ session, the
 * same code as the line protocol's (one grammar, one executor), fed request lines such as
 * `FORMAT json` and `QUERY ...`. The session's answer is read line by line: data lines become
 * ndjson, JSON or CSV output and the status line (`OK n rows m scanned t ms` or `ERR CODE
 * message`) becomes the status object. So ndjson rows are QUERY's FORMAT json rows by
 * construction.
 *
 * Streaming and back-pressure: the session runs in libmicrohttpd's content reader callback,
 * on the connection's own thread, one step at a time; its output callback says "not now"
 * (QRY_E_AGAIN) once OUT_HIGH bytes wait, so a query runs only as fast as the client reads.
 * The HTTP status is decided before the first byte: the session runs until it has a data
 * line or its status, and an error before any data is answered 4xx/5xx with the status
 * object alone. A client that hangs up cancels its query: the watcher thread (http.c) polls
 * each streaming job's socket and raises the session's cancel flag.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_chart.h"
#include "http_int.h"

#define OUT_HIGH    (256 * 1024) /* bytes waiting for the client before the session pauses */
#define READER_BLK  (32 * 1024)  /* libmicrohttpd's buffer for a streamed answer */
#define SLICE_MS    50u
#define WATCH_MS    100 /* how often the watcher polls the sockets of running queries */
#define COLUMNS_MAX 256 /* columns of a row kept for format=json's "columns" */

struct api_job {
    struct coll_http *h;
    struct qry_session *sess;
    enum api_mode mode;
    unsigned skip;             /* status lines of preliminary requests still to come */
    struct coll_http_buf line; /* the session's output not yet cut into lines */
    struct coll_http_buf out;  /* formatted, not yet given to the client */
    size_t out_off;
    bool started; /* a data line came: the answer's head is written */
    bool done;    /* the status line came */
    bool failed;  /* the status was ERR */
    bool stream_error; /* an error after data in CSV: cut the stream */
    char ecode[32];
    struct http_chart *chart; /* API_CHART: the rows collected */
    int chart_rc;             /* the first row it refused */
    /* The watcher's: under h->w.mu. */
    bool canceled; /* the watcher raised the cancel flag */
    int fd; /* the client's socket (libmicrohttpd's); -1 when not watched */
    struct api_job *next, **pprev;
};

/* ---- JSON helpers ---- */

void
http_json_str(struct coll_http_buf *b, const char *s, size_t len)
{
    coll_http_buf_put(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            coll_http_buf_put(b, "\\", 1);
            coll_http_buf_put(b, &s[i], 1);
        } else if (c < 0x20) {
            coll_http_buf_printf(b, "\\u%04x", c);
        } else {
            coll_http_buf_put(b, &s[i], 1);
        }
    }
    coll_http_buf_put(b, "\"", 1);
}

/* The keys of a flat JSON object as written by the query formatter, as a JSON array of the
 * same string tokens (no unescaping needed). */
static void
json_keys(struct coll_http_buf *b, const char *s, size_t len)
{
    size_t i = 0, n = 0;
    int depth = 0;
    bool want_key = true;
    coll_http_buf_put(b, "[", 1);
    while (i < len && n < COLUMNS_MAX) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && s[j] != '"') {
                j += s[j] == '\\' ? 2 : 1;
            }
            if (depth == 1 && want_key) {
                coll_http_buf_put(b, ",", n++ > 0 ? 1 : 0);
                coll_http_buf_put(b, s + i, j + 1 <= len ? j + 1 - i : len - i);
                want_key = false;
            }
            i = j + 1;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            want_key = true;
        }
        i++;
    }
    coll_http_buf_put(b, "]", 1);
}

/* ---- the session's answer, line by line ---- */

static unsigned
http_code(const char *ecode)
{
    static const struct {
        const char *code;
        unsigned http;
    } map[] = {{"DENIED", MHD_HTTP_FORBIDDEN},
               {"AUTH", MHD_HTTP_UNAUTHORIZED},
               {"NOTFOUND", MHD_HTTP_NOT_FOUND},
               {"EXISTS", MHD_HTTP_CONFLICT},
               {"BUSY", MHD_HTTP_SERVICE_UNAVAILABLE},
               {"UNAVAILABLE", MHD_HTTP_SERVICE_UNAVAILABLE},
               {"TIMEOUT", MHD_HTTP_GATEWAY_TIMEOUT},
               {"NOMEM", MHD_HTTP_INTERNAL_SERVER_ERROR},
               {"STORE", MHD_HTTP_INTERNAL_SERVER_ERROR},
               {"INTERNAL", MHD_HTTP_INTERNAL_SERVER_ERROR}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(ecode, map[i].code) == 0) {
            return map[i].http;
        }
    }
    return MHD_HTTP_BAD_REQUEST; /* PARSE, ARGS, VERB, TOOLONG, LIMIT, REGEX */
}

/* "ERR CODE message" -> {"status":"ERR","code":"CODE","message":"...","col":N}. */
static void
status_err(struct api_job *j, struct coll_http_buf *b, const char *s, size_t len)
{
    const char *p = s + 4, *end = s + len;
    const char *sp = memchr(p, ' ', (size_t) (end - p));
    const char *msg = sp != NULL ? sp + 1 : end;
    size_t clen = (size_t) ((sp != NULL ? sp : end) - p);
    int col = 0;
    snprintf(j->ecode, sizeof(j->ecode), "%.*s", (int) clen, p);
    if (strcmp(j->ecode, "PARSE") == 0 && end - msg > 4 && memcmp(msg, "col ", 4) == 0) {
        char *after;
        long c = strtol(msg + 4, &after, 10);
        if (after < end && *after == ':' && c > 0 && c < 1000000) {
            col = (int) c;
            msg = after + 1 < end && after[1] == ' ' ? after + 2 : after + 1;
        }
    }
    coll_http_buf_printf(b, "{\"status\":\"ERR\",\"code\":");
    http_json_str(b, j->ecode, strlen(j->ecode));
    coll_http_buf_printf(b, ",\"message\":");
    http_json_str(b, msg, (size_t) (end - msg));
    if (col > 0) {
        coll_http_buf_printf(b, ",\"col\":%d", col);
    }
    coll_http_buf_put(b, "}", 1);
}

/* "OK n rows m scanned t ms" -> {"status":"OK","rows":n,...}; another OK keeps its text. */
static void
status_ok(struct coll_http_buf *b, const char *s, size_t len)
{
    char tmp[256];
    unsigned long long rows, scanned, ms;
    snprintf(tmp, sizeof(tmp), "%.*s", (int) (len < 255 ? len : 255), s);
    if (sscanf(tmp, "OK %llu rows %llu scanned %llu ms", &rows, &scanned, &ms) == 3) {
        coll_http_buf_printf(b, "{\"status\":\"OK\",\"rows\":%llu,\"scanned\":%llu,\"ms\":%llu}",
                             rows, scanned, ms);
        return;
    }
    coll_http_buf_printf(b, "{\"status\":\"OK\",\"message\":");
    http_json_str(b, len > 3 ? s + 3 : "", len > 3 ? len - 3 : 0);
    coll_http_buf_put(b, "}", 1);
}

/* The head of the answer, before its first row. */
static void
begin(struct api_job *j, const char *first, size_t len)
{
    j->started = true;
    if (j->mode == API_JSON) {
        coll_http_buf_printf(&j->out, "{\"columns\":");
        if (first != NULL) {
            json_keys(&j->out, first, len);
        } else {
            coll_http_buf_put(&j->out, "[]", 2);
        }
        coll_http_buf_printf(&j->out, ",\"rows\":[");
    } else if (j->mode == API_LINES) {
        coll_http_buf_printf(&j->out, "{\"lines\":[");
    }
}

static void
data_line(struct api_job *j, const char *s, size_t len)
{
    bool first = !j->started;
    if (j->mode == API_CHART) {
        int rc = j->chart_rc == 0 ? http_chart_row(j->chart, s, len) : 0;
        j->chart_rc = j->chart_rc != 0 ? j->chart_rc : rc;
        return; /* laid out at the status line */
    }
    if (first) {
        begin(j, s, len);
    }
    switch (j->mode) {
    case API_NDJSON:
    case API_CSV:
        coll_http_buf_put(&j->out, s, len);
        coll_http_buf_put(&j->out, "\n", 1);
        break;
    case API_JSON:
        coll_http_buf_put(&j->out, ",", first ? 0 : 1);
        coll_http_buf_put(&j->out, s, len);
        break;
    default:
        coll_http_buf_put(&j->out, ",", first ? 0 : 1);
        http_json_str(&j->out, s, len);
        break;
    }
}

/* The chart's document, or an error if a bound was reached or the rows were not a timechart's. */
static void
chart_done(struct api_job *j, const struct coll_http_buf *st)
{
    int rc = j->chart_rc != 0 ? j->chart_rc : http_chart_emit(&j->out, j->chart, st->p, st->len);
    if (rc == 0) {
        j->started = true;
        return;
    }
    j->failed = true;
    j->out.len = j->out_off = 0;
    const char *e = rc == -EINVAL ? "ERR ARGS format=chart needs a timechart query"
                    : rc == -E2BIG ? "ERR LIMIT the chart has too many series or buckets"
                                   : "ERR NOMEM out of memory";
    struct coll_http_buf eb = {0};
    status_err(j, &eb, e, strlen(e));
    coll_http_buf_put(&j->out, eb.p, eb.len);
    coll_http_buf_free(&eb);
    if (rc == -E2BIG) {
        atomic_fetch_add(&j->h->st.chart_limited, 1);
    }
}

static void
status_line(struct api_job *j, const char *s, size_t len)
{
    struct coll_http_buf st = {0};
    j->done = true;
    j->failed = len >= 4 && memcmp(s, "ERR ", 4) == 0;
    if (j->failed) {
        status_err(j, &st, s, len);
    } else {
        status_ok(&st, s, len);
    }
    if (j->mode == API_CHART && !j->failed) {
        chart_done(j, &st);
        coll_http_buf_free(&st);
        return;
    }
    if (!j->started && j->failed) {
        coll_http_buf_put(&j->out, st.p, st.len); /* the error alone: HTTP 4xx/5xx */
        coll_http_buf_put(&j->out, "\n", j->mode == API_NDJSON ? 1 : 0);
    } else if (j->mode == API_CSV) {
        j->stream_error = j->failed;
    } else if (j->mode == API_NDJSON) {
        coll_http_buf_put(&j->out, st.p, st.len);
        coll_http_buf_put(&j->out, "\n", 1);
    } else {
        if (!j->started) {
            begin(j, NULL, 0);
        }
        coll_http_buf_printf(&j->out, "],\"status\":");
        coll_http_buf_put(&j->out, st.p, st.len);
        coll_http_buf_put(&j->out, "}\n", 2);
    }
    coll_http_buf_free(&st);
}

static void
one_line(struct api_job *j, const char *s, size_t len)
{
    bool ok = (len >= 3 && memcmp(s, "OK ", 3) == 0) || (len == 2 && memcmp(s, "OK", 2) == 0);
    bool err = len >= 4 && memcmp(s, "ERR ", 4) == 0;
    if (j->done) {
        return;
    }
    if (j->skip > 0 && ok) {
        j->skip--;
        return;
    }
    if (ok || err) {
        status_line(j, s, len);
        return;
    }
    data_line(j, s, len);
}

/*
 * ndjson and CSV pass data lines through as they are: once the answer has started, whole runs
 * of lines are copied at once, and only the last complete line of a chunk can be the status
 * line (a response ends with it). Returns how many bytes of data were taken.
 */
static size_t
pass_through(struct api_job *j, const char *data, size_t len)
{
    if ((j->mode != API_NDJSON && j->mode != API_CSV) || !j->started || j->done ||
        j->line.len > 0 || len == 0) {
        return 0;
    }
    const char *nl = memrchr(data, '\n', len);
    if (nl == NULL || nl == data) {
        return 0;
    }
    const char *prev = memrchr(data, '\n', (size_t) (nl - data));
    size_t bulk = prev != NULL ? (size_t) (prev - data) + 1 : 0;
    coll_http_buf_put(&j->out, data, bulk);
    return bulk;
}

/* The session's output callback. */
static int
job_out(void *arg, const char *data, size_t len)
{
    struct api_job *j = arg;
    if (j->out.len - j->out_off >= OUT_HIGH) {
        return QRY_E_AGAIN;
    }
    size_t took = pass_through(j, data, len);
    coll_http_buf_put(&j->line, data + took, len - took);
    if (j->line.failed || j->out.failed) {
        return -ENOMEM;
    }
    const char *p = j->line.p, *end = j->line.p + j->line.len, *nl;
    while (p < end && (nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        one_line(j, p, (size_t) (nl - p));
        p = nl + 1;
    }
    size_t start = (size_t) (p - j->line.p);
    memmove(j->line.p, p, j->line.len - start);
    j->line.len -= start;
    return 0;
}

/* ---- stepping ---- */

/* Run the session until it has output for the client or has answered. */
static void
step_until_output(struct api_job *j)
{
    while (j->out.len == j->out_off && !j->done) {
        int st = qry_session_step(j->sess);
        if (j->out.failed) {
            st = QRY_STEP_CLOSE;
        }
        if (st == QRY_STEP_CLOSE || (st == QRY_STEP_IDLE && !j->done)) {
            static const char nomem[] = "ERR INTERNAL the session stopped without an answer";
            one_line(j, nomem, sizeof(nomem) - 1);
            j->done = true;
        }
    }
}

static ssize_t
job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_job *j = cls;
    (void) pos;
    step_until_output(j);
    size_t avail = j->out.len - j->out_off;
    if (avail == 0) {
        return j->stream_error ? MHD_CONTENT_READER_END_WITH_ERROR
                               : MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = avail < max ? avail : max;
    memcpy(buf, j->out.p + j->out_off, n);
    j->out_off += n;
    if (j->out_off == j->out.len) {
        j->out_off = j->out.len = 0;
    }
    return (ssize_t) n;
}

/* ---- the hang-up watcher ---- */

/*
 * Watch the client's socket. The job lives inside its connection: libmicrohttpd destroys the
 * response (job_free, which unlinks the job) before it closes the socket, so fd is this
 * connection's while the job is listed. (A dup would survive even that, but ThreadSanitizer
 * cannot follow descriptors that libuv and libmicrohttpd open and close without its
 * interceptors, and reports a dup of a reused number as a race.)
 */
static void
watch_add(struct coll_http *h, struct api_job *j, int fd)
{
    if (fd < 0) {
        return; /* not watched: a hang-up is then seen at the next write */
    }
    pthread_mutex_lock(&h->w.mu);
    j->fd = fd;
    j->next = h->w.jobs;
    if (j->next != NULL) {
        j->next->pprev = &j->next;
    }
    j->pprev = &h->w.jobs;
    h->w.jobs = j;
    pthread_mutex_unlock(&h->w.mu);
}

/* Under w.mu. */
static void
watch_unlink(struct api_job *j)
{
    if (j->fd < 0) {
        return;
    }
    *j->pprev = j->next;
    if (j->next != NULL) {
        j->next->pprev = j->pprev;
    }
    j->fd = -1; /* libmicrohttpd's: not ours to close */
}

/* One look at every watched socket (under w.mu, without waiting). */
static void
watch_once(struct coll_http *h, struct pollfd *pfd, size_t cap)
{
    size_t n = 0;
    for (struct api_job *j = h->w.jobs; j != NULL && n < cap; j = j->next) {
        pfd[n++] = (struct pollfd){.fd = j->fd, .events = POLLRDHUP};
    }
    if (n == 0 || poll(pfd, n, 0) <= 0) {
        return;
    }
    size_t i = 0;
    for (struct api_job *j = h->w.jobs, *next; j != NULL && i < n; j = next, i++) {
        next = j->next;
        if ((pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
            qry_session_cancel(j->sess);
            j->canceled = true;
            watch_unlink(j);
        }
    }
}

static void *
watch_main(void *arg)
{
    struct coll_http *h = arg;
    size_t cap = h->cfg.max_connections + 8u;
    struct pollfd *pfd = calloc(cap, sizeof(*pfd));
    pthread_mutex_lock(&h->w.mu);
    while (!h->w.stopping && pfd != NULL) {
        struct timespec ts;
        watch_once(h, pfd, cap);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&h->w.cv, &h->w.mu, &ts);
    }
    pthread_mutex_unlock(&h->w.mu);
    free(pfd);
    return NULL;
}

int
http_watch_start(struct coll_http *h)
{
    int rc = pthread_create(&h->w.thread, NULL, watch_main, h);
    h->w.started = rc == 0;
    return -rc;
}

void
http_watch_stop(struct coll_http *h)
{
    if (!h->w.started) {
        return;
    }
    pthread_mutex_lock(&h->w.mu);
    h->w.stopping = true;
    pthread_cond_signal(&h->w.cv);
    pthread_mutex_unlock(&h->w.mu);
    pthread_join(h->w.thread, NULL);
    h->w.started = false;
}

void
http_cancel_all(struct coll_http *h)
{
    pthread_mutex_lock(&h->w.mu);
    for (struct api_job *j = h->w.jobs; j != NULL; j = j->next) {
        qry_session_cancel(j->sess);
    }
    pthread_mutex_unlock(&h->w.mu);
}

/* ---- a job ---- */

static void
job_free(void *cls)
{
    struct api_job *j = cls;
    pthread_mutex_lock(&j->h->w.mu);
    watch_unlink(j);
    bool canceled = j->canceled;
    pthread_mutex_unlock(&j->h->w.mu);
    /* Canceled by the watcher, or ended unanswered because a write to the client failed. */
    if (canceled || !j->done) {
        atomic_fetch_add(&j->h->st.canceled, 1);
    }
    qry_session_destroy(j->sess);
    if (j->chart != NULL) {
        http_chart_free(j->chart);
        free(j->chart);
    }
    coll_http_buf_free(&j->line);
    coll_http_buf_free(&j->out);
    free(j);
}

static int
job_create(struct api_job **out, struct coll_http *h, enum api_mode mode, unsigned skip,
           bool clickhouse)
{
    struct api_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return -ENOMEM;
    }
    j->h = h;
    j->mode = mode;
    j->skip = skip;
    j->fd = -1;
    /* No tokens in the session: http.c checked them, and builds the request lines itself. */
    struct qry_session_cfg cfg = {.stor = h->host.stor,
                                  .limits = h->host.limits,
                                  .info = h->host.info != NULL ? http_locked_info : NULL,
                                  .info_arg = h,
                                  .slice_ms = SLICE_MS,
                                  .clickhouse = h->host.clickhouse,
                                  .backend_clickhouse = clickhouse};
    int rc = qry_session_create(&j->sess, &cfg, job_out, j);
    if (rc != 0) {
        free(j);
        return rc;
    }
    *out = j;
    return 0;
}

/*
 * Feed the request lines (a query longer than QRY_LINE_MAX is answered TOOLONG by the
 * session). When its input is full, a step makes room; a step that neither takes input nor
 * has more to do (its output waits for the client) ends the feeding: what the session holds
 * is answered as the client reads.
 */
static void
job_feed(struct api_job *j, const char *lines)
{
    size_t len = strlen(lines), off = 0;
    while (off < len && !j->done) {
        size_t took = qry_session_feed(j->sess, lines + off, len - off);
        off += took;
        if (off < len && qry_session_step(j->sess) != QRY_STEP_MORE && took == 0) {
            break;
        }
    }
}

static const char *
content_type(enum api_mode mode)
{
    switch (mode) {
    case API_NDJSON:
        return "application/x-ndjson";
    case API_CSV:
        return "text/csv; charset=utf-8";
    default:
        return "application/json";
    }
}

enum MHD_Result
http_api_run(struct coll_http *h, struct MHD_Connection *conn, enum api_mode mode,
             const char *lines, unsigned skip, uint32_t span_s)
{
    struct api_job *j;
    /* backend=local|clickhouse (BACKEND on the line protocol); absent: [query] backend. */
    const char *be = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "backend");
    bool ch = h->host.backend_clickhouse;
    if (be != NULL && strcmp(be, "local") != 0 && strcmp(be, "clickhouse") != 0) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS", "backend= is local or clickhouse");
    }
    if (be != NULL) {
        ch = strcmp(be, "clickhouse") == 0;
    }
    if (ch && h->host.clickhouse.url == NULL) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "UNAVAILABLE",
                          "no ClickHouse configured ([clickhouse] url)");
    }
    if (job_create(&j, h, mode, skip, ch) != 0 ||
        (mode == API_CHART && (j->chart = calloc(1, sizeof(*j->chart))) == NULL)) {
        return http_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "NOMEM", "out of memory");
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (j->chart != NULL) {
        j->chart->span_s = span_s;
    }
    watch_add(h, j, ci != NULL ? ci->connect_fd : -1);
    job_feed(j, lines);
    step_until_output(j); /* the HTTP status depends on what comes first */
    unsigned code = j->failed && !j->started ? http_code(j->ecode) : MHD_HTTP_OK;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READER_BLK, job_read, j, job_free);
    if (r == NULL) {
        job_free(j);
        return MHD_NO;
    }
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            j->failed && !j->started ? "application/json"
                                                     : content_type(mode));
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- plain answers ---- */

void
http_add_common(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

enum MHD_Result
http_error(struct MHD_Connection *conn, unsigned code, const char *ecode, const char *message)
{
    struct coll_http_buf b = {0};
    coll_http_buf_printf(&b, "{\"status\":\"ERR\",\"code\":");
    http_json_str(&b, ecode, strlen(ecode));
    coll_http_buf_printf(&b, ",\"message\":");
    http_json_str(&b, message, strlen(message));
    coll_http_buf_printf(&b, "}\n");
    if (b.failed) {
        coll_http_buf_free(&b);
        return MHD_NO;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        coll_http_buf_free(&b);
        return MHD_NO;
    }
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (code == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"flowlog\"");
    }
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}
