/* SPDX-License-Identifier: MIT */
/*
 * One query client on the query plane's loop: socket input fed to its query/ session, the
 * session's output written back, heavy steps (QUERY, EXPLAIN, WINDOWS, FLOWLOG) on libuv's
 * threadpool over a read snapshot, light ones (PING, AUTH, STATS, ...) on the loop thread.
 *
 * Back-pressure: a step's output is collected in the client's buffer; once that buffer plus
 * what is queued in the socket reaches QS_HIGH_BYTES, the session's out callback says "not
 * now", the step ends, and the next step is queued only when the socket has drained. So a
 * slow reader holds the server at about QS_HIGH_BYTES, and a query never runs ahead of it.
 * Input is read only while the client's input buffer has room (pipelined requests wait), and
 * at most QS_LIGHT_BURST light requests are answered before other clients get a turn.
 *
 * Request lines are also watched here, for the timeouts (qclient_check) and to count wrong
 * AUTH tokens; the session decides what a line means. A client that hangs up cancels its
 * running query (the executor polls the flag between blocks); its memory is freed once the
 * step in flight has returned. One that half-closes (shutdown(SHUT_WR)) gets its answers
 * first.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qserver_int.h"
#include "events.h"

static void set_reading(struct client *c, bool on);

/* Bytes read and not yet taken by the session. */
static size_t
pending(const struct client *c)
{
    return c->in_len - c->in_off;
}

static void
on_client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    struct coll_qserver *s = c->srv;
    qry_session_destroy(c->sess);
    free(c->acc);
    free(c->in);
    free(c);
    qserver_release(s);
}

void
qclient_close(struct client *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (c->sess != NULL) {
        qry_session_cancel(c->sess);
    }
    if (c->pprev != NULL) {
        *c->pprev = c->next;
        if (c->next != NULL) {
            c->next->pprev = c->pprev;
        }
        c->pprev = NULL;
        c->srv->nclients[c->kind]--;
    }
    if (c->working) {
        return; /* after_work closes it */
    }
    uv_close(&c->h.handle, on_client_closed);
}

/* ---- output ---- */

static int
out_fn(void *arg, const char *data, size_t len)
{
    struct client *c = arg;
    if (c->gone) {
        return -EPIPE;
    }
    if (c->acc_len > 0 && c->acc_len + c->inflight + len > QS_HIGH_BYTES) {
        return QRY_E_AGAIN;
    }
    if (c->acc_len + len > c->acc_cap) {
        size_t cap = c->acc_cap ? c->acc_cap : 16384;
        while (cap < c->acc_len + len) {
            cap *= 2;
        }
        char *p = realloc(c->acc, cap);
        if (p == NULL) {
            return -ENOMEM;
        }
        c->acc = p;
        c->acc_cap = cap;
    }
    memcpy(c->acc + c->acc_len, data, len);
    c->acc_len += len;
    return 0;
}

struct wreq {
    uv_write_t req;
    struct client *c;
    size_t len;
    char *buf;
};

static void
on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *) req;
    struct client *c = w->c;
    c->inflight -= w->len;
    c->progress_ms = c->active_ms = uv_now(c->srv->loop);
    free(w->buf);
    free(w);
    if (status < 0) {
        c->gone = true;
        qclient_close(c);
        return;
    }
    if (c->close_after_write && c->inflight == 0) {
        qclient_close(c);
        return;
    }
    qclient_pump(c);
}

/* Hand what the last step produced to the socket (the buffer goes with the write). */
static void
flush_acc(struct client *c)
{
    if (c->acc_len == 0 || c->closing) {
        return;
    }
    struct wreq *w = malloc(sizeof(*w));
    if (w == NULL) {
        c->gone = true;
        qclient_close(c);
        return;
    }
    w->c = c;
    w->len = c->acc_len;
    w->buf = c->acc;
    c->acc = NULL;
    c->acc_len = c->acc_cap = 0;
    uv_buf_t b = uv_buf_init(w->buf, (unsigned) w->len);
    if (c->inflight == 0) {
        c->progress_ms = uv_now(c->srv->loop);
    }
    c->inflight += w->len;
    if (uv_write(&w->req, &c->h.stream, &b, 1, on_written) != 0) {
        c->inflight -= w->len;
        free(w->buf);
        free(w);
        c->gone = true;
        qclient_close(c);
    }
}

/* Close once everything written has gone (QUIT, ERR BUSY, a half-closed client answered). */
static void
close_when_written(struct client *c)
{
    set_reading(c, false);
    c->close_after_write = true;
    if (c->inflight == 0) {
        qclient_close(c);
    }
}

/* ---- input ---- */

/* A complete request line's head: AUTH with a wrong token is counted and logged. */
static void
line_done(struct client *c)
{
    struct coll_qserver *s = c->srv;
    const char *p = c->head, *end = c->head + c->head_len;
    c->line_ms = c->active_ms = uv_now(s->loop);
    if (end > p && end[-1] == '\r') {
        end--;
    }
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if (end - p < 4 || strncasecmp(p, "AUTH", 4) != 0 ||
        (end - p > 4 && p[4] != ' ' && p[4] != '\t')) {
        return;
    }
    for (p += 4; p < end && (*p == ' ' || *p == '\t');) {
        p++;
    }
    size_t n = (size_t) (end - p);
    const char *tok = s->cfg.token, *adm = s->cfg.admin_token;
    bool ok = (tok[0] != '\0' && n == strlen(tok) && memcmp(p, tok, n) == 0) ||
              (adm[0] != '\0' && n == strlen(adm) && memcmp(p, adm, n) == 0);
    if (ok || (tok[0] == '\0' && adm[0] == '\0')) {
        c->authed = true;
        return;
    }
    s->st.auth_failures++;
    coll_log_rl(&s->auth_rl, COLL_LOG_WARNING, "query: AUTH with a wrong token (%" PRIu64
                " so far; query-auth-failures)", s->st.auth_failures);
}

/* Watch the bytes just read for line ends (they are the session's to interpret). */
static void
scan_lines(struct client *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            line_done(c);
            c->head_len = 0;
            c->partial = false;
            continue;
        }
        c->partial = true;
        if (c->head_len < sizeof(c->head)) {
            c->head[c->head_len++] = p[i];
        }
    }
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct client *c = h->data;
    (void) suggested;
    if (c->in_off > 0) {
        /* Compacted once per read, not once per request taken (a pipelined burst). */
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned) (QS_IN_CAP - c->in_len));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = st->data;
    (void) buf;
    if (nread == UV_EOF) {
        /* Half-closed, or gone: answer what it sent; a write error will tell which. */
        c->eof = true;
        set_reading(c, false);
        qclient_pump(c);
        return;
    }
    if (nread < 0) {
        c->gone = true; /* a running query is canceled */
        qclient_close(c);
        return;
    }
    scan_lines(c, c->in + c->in_len, (size_t) nread);
    c->in_len += (size_t) nread;
    if (QS_IN_CAP - pending(c) < QS_READ_MIN) {
        set_reading(c, false); /* also while a step runs: pump resumes reading */
    }
    qclient_pump(c);
}

static void
set_reading(struct client *c, bool on)
{
    if (on && (c->eof || c->close_after_write)) {
        return;
    }
    if (on && !c->reading) {
        c->reading = uv_read_start(&c->h.stream, on_alloc, on_read) == 0;
    } else if (!on && c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
}

/* ---- stepping ---- */

static void
work_cb(uv_work_t *w)
{
    struct client *c = w->data;
    coll_thread_background();
    c->step_rc = qry_session_step(c->sess);
}

/* After a step: true when the caller should step again. Output is handed to the socket
 * when the stepping stops (one write for a burst of light answers). */
static bool
after_step(struct client *c)
{
    if (c->closing) {
        return false;
    }
    if (c->step_rc == QRY_STEP_CLOSE) {
        flush_acc(c);
        close_when_written(c);
        return false;
    }
    if (c->step_rc == QRY_STEP_MORE || pending(c) > 0) {
        return true;
    }
    if (c->step_rc == QRY_STEP_IDLE) {
        if (c->eof) {
            flush_acc(c);
            close_when_written(c); /* everything it sent is answered */
            return false;
        }
        set_reading(c, true);
    }
    return false; /* QRY_STEP_BLOCKED: on_written pumps once the socket drains */
}

static void
after_work_cb(uv_work_t *w, int status)
{
    struct client *c = w->data;
    (void) status;
    c->working = false;
    c->active_ms = uv_now(c->srv->loop);
    if (c->closing) {
        c->closing = false; /* qclient_close deferred the close to here */
        qclient_close(c);
        return;
    }
    flush_acc(c);
    if (after_step(c)) {
        qclient_pump(c);
    }
}

/* Queue the next (heavy) step on the threadpool; false when it could not be queued. */
static bool
queue_step(struct client *c)
{
    c->working = true;
    c->srv->st.requests++;
    if (uv_queue_work(c->srv->loop, &c->work, work_cb, after_work_cb) != 0) {
        c->working = false;
        c->gone = true;
        qclient_close(c);
        return false;
    }
    return true;
}

/* Step the session until it waits (input, the socket, a step on the threadpool) or its burst
 * of light requests is used up. A loop, not recursion. */
static void
pump_steps(struct client *c)
{
    int light = 0;
    do {
        if (c->working || c->closing || c->close_after_write) {
            return;
        }
        if (c->inflight >= QS_HIGH_BYTES) {
            return; /* on_written comes back */
        }
        if (++light > QS_LIGHT_BURST) {
            c->yielded = true;
            c->srv->st.yields++;
            qserver_yielded(c->srv);
            return;
        }
        if (pending(c) > 0) {
            c->in_off += qry_session_feed(c->sess, c->in + c->in_off, pending(c));
            if (c->in_off == c->in_len) {
                c->in_off = c->in_len = 0;
            }
        }
        set_reading(c, QS_IN_CAP - pending(c) >= QS_READ_MIN);
        if (qry_session_heavy(c->sess)) {
            flush_acc(c); /* the worker's out_fn fills c->acc from now on */
            queue_step(c);
            return;
        }
        c->step_rc = qry_session_step(c->sess);
    } while (after_step(c));
}

void
qclient_pump(struct client *c)
{
    pump_steps(c);
    if (!c->working) {
        flush_acc(c);
    }
}

/* ---- timeouts ---- */

void
qclient_check(struct client *c, uint64_t now)
{
    const struct coll_qserver_cfg *cfg = &c->srv->cfg;
    struct coll_qserver_stats *st = &c->srv->st;
    uint64_t *why = NULL;
    if (c->inflight > 0 && now - c->progress_ms > QS_STALL_MS) {
        why = &st->stalled;
    } else if (!c->authed && now - c->opened_ms > cfg->auth_timeout_s * 1000ull) {
        why = &st->auth_timeouts;
    } else if (c->partial && now - c->line_ms > cfg->line_timeout_s * 1000ull) {
        why = &st->line_timeouts;
    } else if (!c->working && c->inflight == 0 &&
               now - c->active_ms > cfg->idle_timeout_s * 1000ull) {
        why = &st->idle_closed;
    }
    if (why != NULL) {
        (*why)++;
        c->gone = true;
        qclient_close(c);
    }
}

/* ---- accepting ---- */

static void
refuse(struct client *c)
{
    static const char busy[] = "ERR BUSY too many clients\n";
    char *m = malloc(sizeof(busy) - 1);
    if (m != NULL) {
        memcpy(m, busy, sizeof(busy) - 1);
        c->acc = m;
        c->acc_len = c->acc_cap = sizeof(busy) - 1;
    }
    c->close_after_write = true;
    flush_acc(c);
    if (c->inflight == 0) {
        qclient_close(c);
    }
}

static struct client *
client_new(struct coll_qserver *s, int kind)
{
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->srv = s;
    c->kind = kind;
    c->work.data = c;
    if (kind == QS_UNIX) {
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    } else {
        uv_tcp_init(s->loop, &c->h.tcp);
    }
    c->h.handle.data = c;
    c->opened_ms = c->line_ms = c->active_ms = uv_now(s->loop);
    c->authed = s->cfg.token[0] == '\0';
    s->nopen++;
    return c;
}

/* Accepted, and the store keeps its file descriptors? */
static bool
accepted(struct coll_qserver *s, uv_stream_t *lis, struct client *c)
{
    uv_os_fd_t fd;
    if (uv_accept(lis, &c->h.stream) != 0) {
        return false;
    }
    if (uv_fileno(&c->h.handle, &fd) == 0 && coll_fd_scarce(fd)) {
        s->st.fd_refused++;
        return false;
    }
    return true;
}

static void
link_client(struct coll_qserver *s, struct client *c)
{
    s->st.accepted++;
    s->nclients[c->kind]++;
    c->next = s->clients;
    if (c->next != NULL) {
        c->next->pprev = &c->next;
    }
    c->pprev = &s->clients;
    s->clients = c;
}

void
qclient_accept(struct coll_qserver *s, uv_stream_t *lis, int kind)
{
    struct client *c = client_new(s, kind);
    if (c == NULL) {
        return;
    }
    struct qry_session_cfg cfg = {.stor = s->stor,
                                  .token = s->cfg.token,
                                  .admin_token = s->cfg.admin_token,
                                  .limits = {.time_ms = s->cfg.time_limit_ms,
                                             .mem_bytes = s->cfg.memory_limit,
                                             .rows = s->cfg.row_limit},
                                  .info = qinfo_fn,
                                  .info_arg = s,
                                  .slow_ms = s->cfg.slow_ms,
                                  .slow = coll_events_slow_query};
    coll_chq_session(&s->cfg.chq, &cfg); /* BACKEND clickhouse (config_chquery.c) */
    if (!accepted(s, lis, c) || (c->in = malloc(QS_IN_CAP)) == NULL ||
        qry_session_create(&c->sess, &cfg, out_fn, c) != 0) {
        c->closing = true;
        uv_close(&c->h.handle, on_client_closed);
        return;
    }
    if (kind == QS_TCP) {
        uv_tcp_nodelay(&c->h.tcp, 1);
    }
    uint32_t budget = kind == QS_UNIX ? s->cfg.unix_max_clients : s->cfg.max_clients;
    if (s->nclients[kind] >= budget) {
        s->st.refused++;
        refuse(c);
        return;
    }
    link_client(s, c);
    set_reading(c, true);
}
