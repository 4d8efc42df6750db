/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/tail?q=QUERY: Server-Sent Events of the records that match QUERY's filter as
 * they are committed (docs/http.md). The stream reads storage's commit sequence
 * (stor_tail_next/stor_tail_read) in the connection's own thread, so neither ingest nor a
 * commit ever waits for a tail.
 *
 * Each record is one event, `id: SEQ-ROW` (the run's place in the commit sequence and the
 * row's in the run) and `data:` its FORMAT json row. A client that reconnects with
 * Last-Event-ID gets the rows after that one, none twice. Rows the tail cannot give (it fell
 * more than STOR_TAIL_RUNS runs behind, a run was sealed before it was read, or a run has
 * more than HTTP_TAIL_ROWS records) are reported by an `event: dropped` whose data says how
 * many runs and rows. While idle, the tail polls the client's socket, so a hang-up ends it
 * within TAIL_POLL_MS; a comment line every HTTP_TAIL_BEAT_MS of silence keeps proxies from
 * timing the stream out.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define TAIL_POLL_MS 100 /* how often an idle tail looks for new runs */

struct tail_job {
    struct coll_http *h;
    struct qry_tail *filter;
    uint64_t next;         /* the sequence number of the next run to read */
    int64_t skip;          /* rows of run `next` already sent (Last-Event-ID), -1: none */
    uint64_t idle_ms;      /* silence since the last bytes sent */
    struct flow_rec *recs; /* HTTP_TAIL_ROWS of them */
    uint8_t *block;        /* STOR_TAIL_BLOCK_MAX bytes: the run being read */
    bool wants;            /* stor_tail_want(true) succeeded */
    int fd;                /* the client's socket, polled for a hang-up while idle */
    struct coll_http_buf out;
    size_t out_off;
};

/* Wait ms for the client to hang up: true when it has. */
static bool
hung_up(int fd, unsigned ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, fd >= 0 ? 1 : 0, (int) ms) > 0 &&
           (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void
dropped(struct tail_job *j, uint64_t runs, uint64_t rows)
{
    coll_http_buf_printf(&j->out,
                         "event: dropped\ndata: {\"runs\":%" PRIu64 ",\"rows\":%" PRIu64 "}\n\n",
                         runs, rows);
    atomic_fetch_add(&j->h->st.tail_dropped, runs);
}

/* The matching rows of run r, as events. */
static int
run_events(struct tail_job *j, const struct stor_tail_run *r)
{
    size_t n = 0;
    int rc = stor_tail_decode(j->block, r->len, j->recs, HTTP_TAIL_ROWS, &n);
    if (rc == STOR_E_LIMIT) {
        dropped(j, 1, n);
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        const char *json;
        size_t len;
        if ((int64_t) i <= j->skip) {
            continue;
        }
        int m = qry_tail_row(j->filter, &j->recs[i], &json, &len);
        if (m < 0) {
            return m;
        }
        if (m > 0) {
            coll_http_buf_printf(&j->out, "id: %" PRIu64 "-%zu\ndata: ", r->seq, i);
            coll_http_buf_put(&j->out, json, len);
            coll_http_buf_put(&j->out, "\n\n", 2);
        }
    }
    return 0;
}

/* Read what the commit sequence has after j->next into j->out. <0 on an error. */
static int
tail_fill(struct tail_job *j)
{
    struct stor_tail_run r;
    uint64_t missed;
    int got;

    while (j->out.len == 0 &&
           (got = stor_tail_next(j->h->host.stor, j->next, &r, j->block, &missed)) >= 0) {
        if (missed > 0) {
            dropped(j, missed, 0);
            j->skip = -1;
        }
        if (got == 0) {
            j->next = r.seq;
            break;
        }
        if (r.seq != j->next) {
            j->skip = -1;
        }
        int rc = run_events(j, &r);
        if (rc != 0) {
            return rc;
        }
        j->next = r.seq + 1;
        j->skip = -1;
    }
    return j->out.failed ? -ENOMEM : 0;
}

static ssize_t
tail_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct tail_job *j = cls;
    (void) pos;
    while (j->out_off == j->out.len) {
        j->out.len = j->out_off = 0;
        if (atomic_load(&j->h->tail_stopping) || tail_fill(j) != 0) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (j->out.len > 0) {
            break;
        }
        if (j->idle_ms >= HTTP_TAIL_BEAT_MS) {
            coll_http_buf_put(&j->out, ": beat\n\n", 8);
            break;
        }
        if (hung_up(j->fd, TAIL_POLL_MS)) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        j->idle_ms += TAIL_POLL_MS;
    }
    j->idle_ms = 0;
    size_t n = j->out.len - j->out_off < max ? j->out.len - j->out_off : max;
    memcpy(buf, j->out.p + j->out_off, n);
    j->out_off += n;
    return (ssize_t) n;
}

static void
tail_free(void *cls)
{
    struct tail_job *j = cls;
    atomic_fetch_sub(&j->h->st.tail_clients, 1);
    if (j->wants) {
        stor_tail_want(j->h->host.stor, false);
    }
    qry_tail_close(j->filter);
    free(j->block);
    coll_http_buf_free(&j->out);
    free(j->recs);
    free(j);
}

/* Last-Event-ID "SEQ-ROW": resume after that row. */
static void
resume_at(struct tail_job *j, const char *last)
{
    uint64_t seq;
    long long row;
    char end;
    if (last != NULL && sscanf(last, "%" SCNu64 "-%lld%c", &seq, &row, &end) == 2 && row >= 0) {
        j->next = seq;
        j->skip = row;
    }
}

/* A PARSE error with its column, as /api/v1/query gives it. */
static enum MHD_Result
parse_error(struct MHD_Connection *conn, const struct qry_error *err)
{
    struct coll_http_buf b = {0};
    coll_http_buf_printf(&b, "{\"status\":\"ERR\",\"code\":\"PARSE\",\"message\":");
    http_json_str(&b, err->msg, strlen(err->msg));
    coll_http_buf_printf(&b, ",\"col\":%d}\n", err->col);
    struct MHD_Response *r =
        b.failed ? NULL : MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        coll_http_buf_free(&b);
        return MHD_NO;
    }
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST, r);
    MHD_destroy_response(r);
    return ret;
}

/* A job for q, counted in tail_clients; NULL with *ret set when it cannot be had. */
static struct tail_job *
job_new(struct coll_http *h, struct MHD_Connection *conn, const char *q, enum MHD_Result *ret)
{
    struct qry_error err;
    if (atomic_fetch_add(&h->st.tail_clients, 1) >= HTTP_TAIL_CLIENTS) {
        atomic_fetch_sub(&h->st.tail_clients, 1);
        atomic_fetch_add(&h->st.tail_refused, 1);
        *ret = http_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "LIMIT",
                          "too many live tails (HTTP_TAIL_CLIENTS)");
        return NULL;
    }
    struct tail_job *j = calloc(1, sizeof(*j));
    int rc = j == NULL ? -ENOMEM : qry_tail_open(&j->filter, h->host.stor, q, strlen(q), &err);
    if (rc == 0 && ((j->recs = malloc(HTTP_TAIL_ROWS * sizeof(*j->recs))) == NULL ||
                    (j->block = malloc(STOR_TAIL_BLOCK_MAX)) == NULL)) {
        rc = -ENOMEM;
    }
    if (rc == 0 && (rc = stor_tail_want(h->host.stor, true)) == 0) {
        j->wants = true;
    }
    if (rc != 0) {
        *ret = rc == QRY_E_PARSE ? parse_error(conn, &err) : MHD_NO;
        if (j != NULL) {
            j->h = h;
            tail_free(j);
        } else {
            atomic_fetch_sub(&h->st.tail_clients, 1);
        }
        return NULL;
    }
    j->h = h;
    j->next = stor_tail_head(h->host.stor);
    j->skip = -1;
    return j;
}

enum MHD_Result
http_tail(struct coll_http *h, struct MHD_Connection *conn)
{
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "q");
    enum MHD_Result ret = MHD_NO;
    struct tail_job *j = job_new(h, conn, q != NULL ? q : "", &ret);
    if (j == NULL) {
        return ret;
    }
    resume_at(j, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID"));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->fd = ci != NULL ? ci->connect_fd : -1;
    coll_http_buf_printf(&j->out, "retry: 2000\n: tail from %" PRIu64 "\n\n", j->next);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, tail_read, j, tail_free);
    if (r == NULL) {
        tail_free(j);
        return MHD_NO;
    }
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
