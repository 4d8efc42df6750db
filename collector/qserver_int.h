/* SPDX-License-Identifier: MIT */
/*
 * The query server's parts, private to qserver.c (listeners, budgets, timeouts), qclient.c
 * (one client: socket I/O driving a query/ session) and qinfo.c (STATS, EXPORTERS and the
 * exporter admin verb, answered from the ingest loop's counters through xcall.c). Everything
 * here belongs to the query plane's loop thread, except what the comments say a threadpool
 * step reads.
 */
#ifndef FLOWLOG_QSERVER_INT_H
#define FLOWLOG_QSERVER_INT_H

#include <stdatomic.h>
#include <sys/types.h>

#include "coll.h"
#include "qry.h"

#define QS_HIGH_BYTES (256 * 1024)
#define QS_IN_CAP     (2 * QRY_LINE_MAX + 2)
#define QS_READ_MIN   (16 * 1024) /* read only with at least this much room */
/* A client whose socket takes nothing for this long is closed: its query holds a read
 * snapshot (and so old pages of the store) while it waits. */
#define QS_STALL_MS 60000u
/* Light requests answered for one client before the others get a turn (a pipelined burst of
 * PINGs cannot hold the loop). */
#define QS_LIGHT_BURST 64
/* Bytes of a request line kept to recognise AUTH (verb, blanks, a token of up to
 * COLL_SPEC_MAX characters). */
#define QS_HEAD_MAX (COLL_SPEC_MAX + 16)
#define QS_TICK_MS  1000u /* the timeout checks */
/* STATS and EXPORTERS reuse what they copied from the ingest loop for this long. */
#define QS_INGEST_FRESH_MS 100u

enum { QS_TCP = 0, QS_UNIX = 1 };

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
    int kind; /* QS_TCP or QS_UNIX: whose budget it counts in */
    char *acc; /* output collected by the current step */
    size_t acc_len, acc_cap;
    /* Read by out_fn on the worker thread while the loop thread's callbacks change them. */
    atomic_size_t inflight; /* bytes handed to uv_write, not yet written */
    atomic_bool gone;       /* the client hung up or a write failed */
    uint64_t progress_ms;   /* last time a write completed (or the first one started) */
    uint64_t active_ms;     /* last complete request line or write completed: idle timeout */
    uint64_t line_ms;       /* last complete request line, or the connection */
    uint64_t opened_ms;
    char *in; /* bytes read; in[in_off .. in_len) not yet taken by the session */
    size_t in_off, in_len;
    char head[QS_HEAD_MAX]; /* the start of the line being read */
    size_t head_len;
    bool partial; /* bytes of a line without its newline yet */
    bool authed;  /* no token, or AUTH with a right one seen */
    bool eof;     /* the client half-closed: answer what it sent, then close */
    bool yielded; /* its burst ran out: the idle handle pumps it again */
    bool reading, closing, close_after_write;
};

struct coll_qserver {
    uv_loop_t *loop;
    struct stor_env *stor;
    struct coll_qserver_cfg cfg;
    struct coll_qserver_ingest in;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } lis[2];
    bool lis_open[2];
    bool unix_bound; /* the socket file is ours to remove at stop */
    dev_t unix_dev;
    ino_t unix_ino;
    int nopen; /* handles not yet closed: listeners, timers and clients */
    bool stopping;
    char name[80];
    struct client *clients;
    unsigned nclients[2]; /* by kind */
    struct coll_qserver_stats st;
    uv_timer_t timer; /* timeouts, once a second */
    uint64_t tick_ms; /* when it last ran */
    uv_idle_t idle;   /* pumps clients whose burst ran out */
    bool idle_on;
    struct coll_lograte auth_rl;
    /* What STATS and EXPORTERS last copied from the ingest loop (qinfo.c). */
    struct coll_totals totals;
    uint64_t totals_ms;
    bool totals_ok;
    struct coll_exporter *ex;
    size_t ex_n;
    uint64_t ex_ms;
    bool ex_ok;
};

/* qclient.c */
void qclient_accept(struct coll_qserver *s, uv_stream_t *lis, int kind);
void qclient_close(struct client *c);
void qclient_pump(struct client *c);
/* Close c if one of its timeouts has passed (now: uv_now of the loop). */
void qclient_check(struct client *c, uint64_t now);

/* qserver.c */
void qserver_release(struct coll_qserver *s);
void qserver_yielded(struct coll_qserver *s);

/* qinfo.c: the session's info hook (STATS, EXPORTERS, "forget ADDR PORT|*"). */
int qinfo_fn(void *arg, const char *what, qry_row_fn *row, void *row_arg);
/* HEALTH (health.c): a row per check, the overall state first. */
int coll_health_rows(struct coll_qserver *s, qry_row_fn *row, void *row_arg);

#endif
