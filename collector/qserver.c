/* SPDX-License-Identifier: MIT */
/*
 * The query server: libuv TCP (and unix socket) listeners driving query/ sessions
 * (docs/protocol.md). The protocol itself is query/session.c; this file owns the sockets.
 *
 * Threads: requests that touch the store (QUERY, EXPLAIN, WINDOWS, FLOWLOG) run one session
 * step at a time on libuv's threadpool (uv_queue_work) over a read snapshot, so a long query
 * never blocks ingest on the loop thread; the rest (PING, STATS, EXPORTERS, ...) run inline
 * on the loop thread, which is also where the collector's counters live.
 *
 * Back-pressure: a step's output is collected in the client's buffer; once that buffer plus
 * what is queued in the socket reaches HIGH_BYTES, the session's out callback says "not
 * now", the step ends, and the next step is queued only when the socket has drained. So a
 * slow reader holds the server at about HIGH_BYTES, and a query never runs ahead of it.
 * Input is read only while the client's input buffer has room (pipelined requests wait).
 *
 * A client that hangs up cancels its running query (the executor polls the flag between
 * blocks); its memory is freed once the step in flight has returned. Beyond max_clients,
 * a new connection is told `ERR BUSY` and closed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "coll.h"
#include "qry.h"

#define HIGH_BYTES (256 * 1024)
#define IN_CAP     (2 * QRY_LINE_MAX + 2)
#define READ_MIN   (16 * 1024) /* read only with at least this much room */
/* A client whose socket takes nothing for this long is closed: its query holds a read
 * snapshot (and so old pages of the store) while it waits. */
#define STALL_MS 60000u

struct client;

struct coll_qserver {
    uv_loop_t *loop;
    struct stor_env *stor;
    struct coll_qserver_cfg cfg;
    const struct coll_stats_src *stats;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } lis[2];
    bool lis_open[2];
    int nopen; /* handles not yet closed: listeners and clients */
    bool stopping;
    char name[80];
    struct client *clients;
    unsigned nclients;
    uint64_t accepted, refused, requests, stalled;
    uv_timer_t timer; /* looks for stalled clients once a second */
};

struct client {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    struct coll_qserver *srv;
    struct client *next, **pprev;
    struct qry_session *sess;
    uv_work_t work;
    bool working;
    int step_rc;
    char *acc; /* output collected by the current step */
    size_t acc_len, acc_cap;
    /* Read by out_fn on the worker thread while the loop thread's callbacks change them. */
    atomic_size_t inflight; /* bytes handed to uv_write, not yet written */
    atomic_bool gone;       /* the client hung up or a write failed */
    uint64_t progress_ms;   /* last time a write completed (or the first one started) */
    char *in;               /* bytes read, not yet taken by the session */
    size_t in_len;
    bool reading, closing, close_after_write;
};

struct wreq {
    uv_write_t req;
    struct client *c;
    size_t len;
    char *buf;
};

static void pump(struct client *c);
static void set_reading(struct client *c, bool on);

static void
srv_release(struct coll_qserver *s)
{
    if (--s->nopen == 0 && s->stopping) {
        free(s);
    }
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
    srv_release(s);
}

static void
client_close(struct client *c)
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
        c->srv->nclients--;
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
    if (c->acc_len > 0 && c->acc_len + c->inflight + len > HIGH_BYTES) {
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

static void
on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *) req;
    struct client *c = w->c;
    c->inflight -= w->len;
    c->progress_ms = uv_now(c->srv->loop);
    free(w->buf);
    free(w);
    if (status < 0) {
        c->gone = true;
        client_close(c);
        return;
    }
    if (c->close_after_write && c->inflight == 0) {
        client_close(c);
        return;
    }
    pump(c);
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
        client_close(c);
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
        client_close(c);
    }
}

/* ---- input ---- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct client *c = h->data;
    (void) suggested;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned) (IN_CAP - c->in_len));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = st->data;
    (void) buf;
    if (nread < 0) {
        /* EOF or error: the client is gone; a running query is canceled. */
        c->gone = true;
        client_close(c);
        return;
    }
    c->in_len += (size_t) nread;
    if (IN_CAP - c->in_len < READ_MIN) {
        set_reading(c, false); /* also while a step runs: pump resumes reading */
    }
    pump(c);
}

static void
set_reading(struct client *c, bool on)
{
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
    c->step_rc = qry_session_step(c->sess);
}

/* After a step: hand its output to the socket; true when the caller should step again. */
static bool
after_step(struct client *c)
{
    flush_acc(c);
    if (c->closing) {
        return false;
    }
    if (c->step_rc == QRY_STEP_CLOSE) {
        set_reading(c, false);
        c->close_after_write = true;
        if (c->inflight == 0) {
            client_close(c);
        }
        return false;
    }
    if (c->step_rc == QRY_STEP_MORE || c->in_len > 0) {
        return true;
    }
    if (c->step_rc == QRY_STEP_IDLE) {
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
    if (c->closing) {
        c->closing = false; /* client_close deferred the close to here */
        client_close(c);
        return;
    }
    if (after_step(c)) {
        pump(c);
    }
}

/* Step the session until it waits (input, the socket, or a step on the threadpool). A loop,
 * not recursion: a client may pipeline thousands of light requests. */
static void
pump(struct client *c)
{
    do {
        if (c->working || c->closing || c->close_after_write) {
            return;
        }
        if (c->inflight >= HIGH_BYTES) {
            return; /* on_written comes back */
        }
        if (c->in_len > 0) {
            size_t took = qry_session_feed(c->sess, c->in, c->in_len);
            memmove(c->in, c->in + took, c->in_len - took);
            c->in_len -= took;
        }
        set_reading(c, IN_CAP - c->in_len >= READ_MIN);
        if (qry_session_heavy(c->sess)) {
            c->working = true;
            c->srv->requests++;
            if (uv_queue_work(c->srv->loop, &c->work, work_cb, after_work_cb) != 0) {
                c->working = false;
                c->gone = true;
                client_close(c);
            }
            return;
        }
        c->step_rc = qry_session_step(c->sess);
    } while (after_step(c));
}

/* ---- STATS and EXPORTERS, on the loop thread ---- */

struct rowctx {
    qry_row_fn *row;
    void *arg;
};

static int
kv(struct rowctx *r, const char *name, uint64_t v)
{
    static const char *const names[2] = {"name", "value"};
    char val[24];
    const char *vals[2] = {name, val};
    snprintf(val, sizeof(val), "%" PRIu64, v);
    return r->row(r->arg, 2, names, vals);
}

static int
exporter_row(void *arg, const struct coll_exporter *e)
{
    static const char *const names[] = {"exporter",    "version",  "first-seen", "last-seen",
                                        "datagrams",   "octets",   "records",    "errors",
                                        "no-template", "seq-gaps", "seq-missed", "templates"};
    struct rowctx *r = arg;
    char v[12][64];
    const char *vals[12];
    coll_exporter_name(e, v[0], sizeof(v[0]));
    snprintf(v[1], 64, "%u", e->version);
    snprintf(v[2], 64, "%" PRIu64, e->first_ms / 1000u);
    snprintf(v[3], 64, "%" PRIu64, e->last_ms / 1000u);
    snprintf(v[4], 64, "%" PRIu64, e->datagrams);
    snprintf(v[5], 64, "%" PRIu64, e->octets);
    snprintf(v[6], 64, "%" PRIu64, e->records);
    snprintf(v[7], 64, "%" PRIu64, e->errors);
    snprintf(v[8], 64, "%" PRIu64, e->no_template);
    snprintf(v[9], 64, "%" PRIu64, e->seq_gaps);
    snprintf(v[10], 64, "%" PRIu64, e->seq_missed);
    snprintf(v[11], 64, "%u", e->templates);
    for (int i = 0; i < 12; i++) {
        vals[i] = v[i];
    }
    return r->row(r->arg, 12, names, vals);
}

static int
info_fn(void *arg, const char *what, qry_row_fn *row, void *row_arg)
{
    struct coll_qserver *s = arg;
    struct rowctx r = {row, row_arg};
    if (strcmp(what, "exporters") == 0) {
        return s->stats != NULL ? coll_stats_each_exporter(s->stats, exporter_row, &r) : 0;
    }
    struct stor_stats st;
    int rc = 0;
    if (s->stats != NULL) {
        struct coll_totals t;
        coll_stats_totals(s->stats, &t);
        const struct {
            const char *n;
            uint64_t v;
        } c[] = {{"datagrams", t.datagrams},
                 {"octets", t.octets},
                 {"records", t.records},
                 {"records-dropped", t.records_dropped},
                 {"denied-datagrams", t.denied_datagrams},
                 {"denied-connections", t.denied_connections},
                 {"socket-drops", t.socket_drops},
                 {"decode-errors", t.decode_errors},
                 {"seq-missed", t.seq_missed},
                 {"templates", t.templates},
                 {"exporters", t.exporters.tracked},
                 {"untracked-datagrams", t.exporters.untracked_datagrams}};
        for (size_t i = 0; rc == 0 && i < sizeof(c) / sizeof(c[0]); i++) {
            rc = kv(&r, c[i].n, c[i].v);
        }
        /* The decode errors by reason, as the counter line gives them. */
        for (int k = 0; rc == 0 && k < DEC_R_COUNT; k++) {
            char name[64];
            snprintf(name, sizeof(name), "decode-errors-%s", dec_reason_name(k));
            rc = kv(&r, name, t.err[k]);
        }
    }
    if (rc != 0) {
        return rc;
    }
    stor_stats_get(s->stor, &st);
    const struct {
        const char *n;
        uint64_t v;
    } d[] = {{"store-records-in", st.records_in},
             {"store-records-stored", st.records_stored},
             {"store-records-dropped", st.records_dropped},
             {"store-unrouted", st.records_unrouted},
             {"store-late", st.late},
             {"store-time-skew", st.time_skew},
             {"store-commits", st.commits},
             {"store-seals", st.seals},
             {"store-nodata", st.nodata},
             {"store-skipdata", st.skipdata},
             {"store-full-errors", st.full_errors},
             {"store-bytes", st.bytes},
             {"store-partitions-dropped", st.partitions_dropped},
             {"query-clients", s->nclients},
             {"query-connections", s->accepted},
             {"query-refused", s->refused},
             {"query-stalled", s->stalled},
             {"query-store-requests", s->requests}};
    for (size_t i = 0; rc == 0 && i < sizeof(d) / sizeof(d[0]); i++) {
        rc = kv(&r, d[i].n, d[i].v);
    }
    return rc;
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
        client_close(c);
    }
}

static void
on_connection(uv_stream_t *lis, int status)
{
    struct coll_qserver *s = lis->data;
    bool unix_sock = lis->type == UV_NAMED_PIPE;
    if (status < 0 || s->stopping) {
        return;
    }
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->srv = s;
    c->work.data = c;
    if (unix_sock) {
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    } else {
        uv_tcp_init(s->loop, &c->h.tcp);
    }
    c->h.handle.data = c;
    s->nopen++;
    if (uv_accept(lis, &c->h.stream) != 0) {
        c->closing = true;
        uv_close(&c->h.handle, on_client_closed);
        return;
    }
    if (!unix_sock) {
        uv_tcp_nodelay(&c->h.tcp, 1);
    }
    struct qry_session_cfg cfg = {.stor = s->stor,
                                  .token = s->cfg.token,
                                  .admin_token = s->cfg.admin_token,
                                  .limits = {.time_ms = s->cfg.time_limit_ms,
                                             .mem_bytes = s->cfg.memory_limit,
                                             .rows = s->cfg.row_limit},
                                  .info = info_fn,
                                  .info_arg = s};
    c->in = malloc(IN_CAP);
    if (c->in == NULL || qry_session_create(&c->sess, &cfg, out_fn, c) != 0) {
        c->closing = true;
        uv_close(&c->h.handle, on_client_closed);
        return;
    }
    if (s->nclients >= s->cfg.max_clients) {
        s->refused++;
        refuse(c);
        return;
    }
    s->accepted++;
    s->nclients++;
    c->next = s->clients;
    if (c->next != NULL) {
        c->next->pprev = &c->next;
    }
    c->pprev = &s->clients;
    s->clients = c;
    set_reading(c, true);
}

static bool
is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

/* "ADDR:PORT" or "[V6]:PORT" into addr. */
static int
parse_addr(const char *spec, struct sockaddr_storage *addr)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t) (colon - spec) >= sizeof(host)) {
        return -EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535) {
        return -EINVAL;
    }
    memcpy(host, spec, (size_t) (colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
        return uv_ip6_addr(host, (int) port, (struct sockaddr_in6 *) addr) == 0 ? 0 : -EINVAL;
    }
    return uv_ip4_addr(host, (int) port, (struct sockaddr_in *) addr) == 0 ? 0 : -EINVAL;
}

static void
on_timer(uv_timer_t *t)
{
    struct coll_qserver *s = t->data;
    uint64_t now = uv_now(s->loop);
    struct client *c = s->clients, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (c->inflight > 0 && now - c->progress_ms > STALL_MS) {
            s->stalled++;
            c->gone = true;
            client_close(c);
        }
    }
}

static void
on_lis_closed(uv_handle_t *h)
{
    srv_release(h->data);
}

static int
listen_tcp(struct coll_qserver *s, char *msg, size_t msglen)
{
    struct sockaddr_storage addr;
    int rc;
    memset(&addr, 0, sizeof(addr));
    if (parse_addr(s->cfg.tcp, &addr) != 0) {
        snprintf(msg, msglen, "query address '%s': expected ADDR:PORT or [V6]:PORT", s->cfg.tcp);
        return -EINVAL;
    }
    if (!is_loopback((struct sockaddr *) &addr) && s->cfg.token[0] == '\0') {
        snprintf(msg, msglen,
                 "query address %s is not loopback: set a token (query.token) to serve it",
                 s->cfg.tcp);
        return -EPERM;
    }
    uv_tcp_init(s->loop, &s->lis[0].tcp);
    s->lis[0].handle.data = s;
    s->lis_open[0] = true;
    s->nopen++;
    if ((rc = uv_tcp_bind(&s->lis[0].tcp, (struct sockaddr *) &addr, 0)) != 0 ||
        (rc = uv_listen(&s->lis[0].stream, 64, on_connection)) != 0) {
        snprintf(msg, msglen, "query %s: %s", s->cfg.tcp, uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(&s->lis[0].tcp, (struct sockaddr *) &got, &len);
    coll_sockaddr_name((const struct sockaddr *) &got, s->name, sizeof(s->name));
    return 0;
}

static int
listen_unix(struct coll_qserver *s, char *msg, size_t msglen)
{
    int rc;
    uv_pipe_init(s->loop, &s->lis[1].pipe, 0);
    s->lis[1].handle.data = s;
    s->lis_open[1] = true;
    s->nopen++;
    unlink(s->cfg.unix_path); /* a socket left by a previous run */
    if ((rc = uv_pipe_bind(&s->lis[1].pipe, s->cfg.unix_path)) != 0 ||
        (rc = uv_listen(&s->lis[1].stream, 64, on_connection)) != 0) {
        snprintf(msg, msglen, "query socket %s: %s", s->cfg.unix_path, uv_strerror(rc));
        return rc;
    }
    return 0;
}

int
coll_qserver_start(uv_loop_t *loop, struct stor_env *stor, const struct coll_qserver_cfg *cfg,
                   const struct coll_stats_src *stats, struct coll_qserver **out, char *msg,
                   size_t msglen)
{
    struct coll_qserver *s = calloc(1, sizeof(*s));
    int rc = 0;
    if (s == NULL) {
        return -ENOMEM;
    }
    /* A client that goes away while we write must cost an EPIPE on that socket, not the
     * process (SIGPIPE's default action). Nothing else in flowlogd relies on SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    s->loop = loop;
    s->stor = stor;
    s->cfg = *cfg;
    s->stats = stats;
    if (s->cfg.max_clients == 0) {
        s->cfg.max_clients = 64;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->nopen++;
    uv_timer_start(&s->timer, on_timer, 1000, 1000);
    if (s->cfg.tcp[0] != '\0' && (rc = listen_tcp(s, msg, msglen)) != 0) {
        goto fail;
    }
    if (s->cfg.unix_path[0] != '\0' && (rc = listen_unix(s, msg, msglen)) != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    coll_qserver_stop(s);
    return rc;
}

void
coll_qserver_name(const struct coll_qserver *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", s->name);
}

void
coll_qserver_stop(struct coll_qserver *s)
{
    if (s == NULL || s->stopping) {
        return;
    }
    s->stopping = true;
    s->nopen++; /* held until the end of this function */
    uv_close((uv_handle_t *) &s->timer, on_lis_closed);
    for (int i = 0; i < 2; i++) {
        if (s->lis_open[i]) {
            uv_close(&s->lis[i].handle, on_lis_closed);
        }
    }
    if (s->lis_open[1]) {
        unlink(s->cfg.unix_path);
    }
    while (s->clients != NULL) {
        client_close(s->clients);
    }
    srv_release(s);
}
