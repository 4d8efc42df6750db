/* SPDX-License-Identifier: MIT */
/*
 * The query plane: a thread with its own libuv loop, apart from the ingest loop (main.c,
 * listen.c, pipeline.c), so that nothing a query client does, and no store call that can
 * wait on disk I/O or on the store's locks, runs where datagrams are received.
 *
 * What runs here:
 * - the query server (qserver.c), its heavy steps on libuv's threadpool;
 * - once a second: stor_stats_get, and a warning line when commits start failing (naming the
 *   error) and when they recover; the counter line every log_interval;
 * - the decoder's template snapshots, serialised by the ingest loop when templates changed
 *   and written to the store here with uv_queue_work (a catalog transaction and an fsync);
 *   a failed write is logged (rate-limited) and counted.
 *
 * What comes from the ingest loop (totals, exporters) is read through xcall.c, which runs a
 * function on the ingest loop and waits for it with a deadline.
 */
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coll.h"

#define TICK_MS         1000u
#define INGEST_WAIT_MS  2000u /* for the counter line's totals */
#define LOG_EXPORTERS   16    /* exporters shown in the counter line */

/* A template snapshot waiting to be written (under mu). */
struct tmpl_slot {
    void *buf;
    size_t len;
};

struct coll_qplane {
    uv_loop_t loop;
    pthread_t thread;
    struct coll_qplane_cfg cfg;
    struct coll_qserver *qs; /* NULL: no query server */
    uv_timer_t tick;
    uv_work_t tick_work; /* the tick's store and ingest calls, off this loop */
    bool tick_busy;
    uv_async_t wake; /* stop, or a template snapshot to write */
    /* Shared with other threads. */
    pthread_mutex_t mu;
    struct tmpl_slot pending;
    bool stop;
    atomic_uint_least32_t log_interval_s;
    atomic_uint_least64_t tmpl_saved, tmpl_failed;
    /* The query plane's own (the tick's fields: one tick work at a time). */
    uv_work_t work;
    struct tmpl_slot writing; /* buf != NULL while a write is on the threadpool */
    int write_rc;
    struct coll_lograte save_rl;
    uint64_t logged_ms;
    int commit_error; /* last_error seen on the previous tick */
    uint64_t failing_since_ms;
    bool closing;
};

/* ---- template snapshots ---- */

static void
write_cb(uv_work_t *w)
{
    struct coll_qplane *qp = w->data;
    coll_thread_background();
    qp->write_rc =
        stor_meta_put(qp->cfg.stor, "templates", qp->writing.buf, qp->writing.len);
}

static void start_write(struct coll_qplane *qp);

static void
after_write_cb(uv_work_t *w, int status)
{
    struct coll_qplane *qp = w->data;
    if (status == 0 && qp->write_rc == 0) {
        qp->tmpl_saved++;
    } else {
        qp->tmpl_failed++;
        coll_log_rl(&qp->save_rl, COLL_LOG_ERR,
                    "template snapshot (%zu bytes) not saved: %s; a restart would forget "
                    "templates learned since the last save",
                    qp->writing.len,
                    status != 0 ? uv_strerror(status) : stor_strerror(qp->write_rc));
    }
    free(qp->writing.buf);
    qp->writing.buf = NULL;
    start_write(qp);
}

/* Take the pending snapshot to the threadpool, unless a write is already there. */
static void
start_write(struct coll_qplane *qp)
{
    if (qp->writing.buf != NULL || qp->closing) {
        return;
    }
    pthread_mutex_lock(&qp->mu);
    qp->writing = qp->pending;
    qp->pending.buf = NULL;
    pthread_mutex_unlock(&qp->mu);
    if (qp->writing.buf == NULL) {
        return;
    }
    qp->work.data = qp;
    if (uv_queue_work(&qp->loop, &qp->work, write_cb, after_write_cb) != 0) {
        qp->tmpl_failed++;
        free(qp->writing.buf);
        qp->writing.buf = NULL;
    }
}

void
coll_qplane_save_templates(struct coll_qplane *qp, void *buf, size_t len)
{
    pthread_mutex_lock(&qp->mu);
    free(qp->pending.buf); /* a newer snapshot replaces it */
    qp->pending.buf = buf;
    qp->pending.len = len;
    pthread_mutex_unlock(&qp->mu);
    uv_async_send(&qp->wake);
}

void
coll_qplane_tmpl_counts(struct coll_qplane *qp, uint64_t *saved, uint64_t *failed)
{
    *saved = qp->tmpl_saved;
    *failed = qp->tmpl_failed;
}

/* ---- the tick: commits and the counter line ---- */

/* Warn when commits start failing and when they recover (the store keeps the records in
 * memory meanwhile, and drops them, counted, when that runs out). */
static void
watch_commits(struct coll_qplane *qp, const struct stor_stats *st, uint64_t now)
{
    if (st->last_error != 0 && qp->commit_error == 0) {
        qp->failing_since_ms = now;
        coll_log(COLL_LOG_WARNING,
                 "store: commits are failing: %s (store-full-errors %" PRIu64
                 "); records wait in memory and are dropped, counted, when it runs out",
                 stor_strerror(st->last_error), st->full_errors);
    } else if (st->last_error != 0 && st->last_error != qp->commit_error) {
        coll_log(COLL_LOG_WARNING, "store: commits still failing, now: %s",
                 stor_strerror(st->last_error));
    } else if (st->last_error == 0 && qp->commit_error != 0) {
        coll_log(COLL_LOG_WARNING,
                 "store: commits succeed again after %" PRIu64 " s of failures "
                 "(store-records-dropped %" PRIu64 ")",
                 (now - qp->failing_since_ms) / 1000u, st->records_dropped);
    }
    qp->commit_error = st->last_error;
}

/* Run on the ingest loop: the totals and the busiest exporters for the counter line. */
static int
gather(void *arg)
{
    struct coll_counter_snap *snap = arg;
    coll_stats_snap(snap->src, snap);
    return 0;
}

static void
log_counters(struct coll_qplane *qp, const struct stor_stats *st)
{
    struct coll_counter_snap *snap = calloc(1, sizeof(*snap));
    if (snap == NULL || qp->cfg.in.stats == NULL) {
        free(snap);
        return;
    }
    snap->src = qp->cfg.in.stats;
    if (coll_xcall_run(qp->cfg.in.ingest, gather, snap, INGEST_WAIT_MS) == 0) {
        coll_stats_log(snap, st);
    }
    free(snap);
}

/* On the threadpool: stor_stats_get can wait for the store's locks and the counter line for
 * the ingest loop, and neither may hold up the query clients on this loop. */
static void
tick_work_cb(uv_work_t *w)
{
    struct coll_qplane *qp = w->data;
    struct stor_stats st;
    uint64_t now = flow_mono_ms();
    uint32_t every = qp->log_interval_s;
    coll_thread_background();
    stor_stats_get(qp->cfg.stor, &st);
    watch_commits(qp, &st, now);
    if (every != 0 && now - qp->logged_ms >= every * 1000ull) {
        log_counters(qp, &st);
        qp->logged_ms = now;
    }
}

static void
after_tick_cb(uv_work_t *w, int status)
{
    struct coll_qplane *qp = w->data;
    (void) status;
    qp->tick_busy = false;
}

static void
on_tick(uv_timer_t *t)
{
    struct coll_qplane *qp = t->data;
    if (qp->tick_busy || qp->closing) {
        return;
    }
    qp->tick_work.data = qp;
    qp->tick_busy = uv_queue_work(&qp->loop, &qp->tick_work, tick_work_cb, after_tick_cb) == 0;
}

/* ---- the thread ---- */

static void
on_wake(uv_async_t *a)
{
    struct coll_qplane *qp = a->data;
    pthread_mutex_lock(&qp->mu);
    bool stop = qp->stop;
    pthread_mutex_unlock(&qp->mu);
    if (!stop) {
        start_write(qp);
        return;
    }
    if (qp->closing) {
        return;
    }
    qp->closing = true;
    coll_qserver_stop(qp->qs);
    qp->qs = NULL;
    uv_close((uv_handle_t *) &qp->tick, NULL);
    uv_close((uv_handle_t *) &qp->wake, NULL);
}

static void *
run(void *arg)
{
    struct coll_qplane *qp = arg;
    coll_thread_background();
    uv_run(&qp->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int
serve(struct coll_qplane *qp, char *msg, size_t msglen)
{
    if (qp->cfg.query.tcp[0] == '\0' && qp->cfg.query.unix_path[0] == '\0') {
        return 0;
    }
    return coll_qserver_start(&qp->loop, qp->cfg.stor, &qp->cfg.query, &qp->cfg.in, &qp->qs, msg,
                              msglen);
}

int
coll_qplane_start(const struct coll_qplane_cfg *cfg, struct coll_qplane **out, char *msg,
                  size_t msglen)
{
    struct coll_qplane *qp = calloc(1, sizeof(*qp));
    int rc;

    if (qp == NULL) {
        return -ENOMEM;
    }
    if ((rc = uv_loop_init(&qp->loop)) != 0) {
        free(qp);
        return rc;
    }
    qp->cfg = *cfg;
    qp->cfg.in.plane = qp;
    qp->log_interval_s = cfg->log_interval_s;
    qp->logged_ms = flow_mono_ms();
    pthread_mutex_init(&qp->mu, NULL);
    uv_timer_init(&qp->loop, &qp->tick);
    uv_async_init(&qp->loop, &qp->wake, on_wake);
    qp->tick.data = qp->wake.data = qp;
    uv_timer_start(&qp->tick, on_tick, TICK_MS, TICK_MS);
    /* Handles are made here, before the thread runs the loop (pthread_create orders it). */
    if ((rc = serve(qp, msg, msglen)) != 0 ||
        (rc = -pthread_create(&qp->thread, NULL, run, qp)) != 0) {
        goto unwind;
    }
    *out = qp;
    return 0;
unwind:
    qp->stop = true;
    on_wake(&qp->wake);
    uv_run(&qp->loop, UV_RUN_DEFAULT);
    uv_loop_close(&qp->loop);
    pthread_mutex_destroy(&qp->mu);
    free(qp);
    return rc;
}

void
coll_qplane_name(const struct coll_qplane *qp, char *buf, size_t len)
{
    if (qp->qs != NULL) {
        coll_qserver_name(qp->qs, buf, len);
    } else {
        snprintf(buf, len, "%s", "");
    }
}

void
coll_qplane_set_log_interval(struct coll_qplane *qp, uint32_t log_interval_s)
{
    qp->log_interval_s = log_interval_s;
}

void
coll_qplane_stop(struct coll_qplane *qp)
{
    if (qp == NULL) {
        return;
    }
    pthread_mutex_lock(&qp->mu);
    qp->stop = true;
    pthread_mutex_unlock(&qp->mu);
    uv_async_send(&qp->wake);
    pthread_join(qp->thread, NULL);
    uv_loop_close(&qp->loop);
    free(qp->pending.buf);
    pthread_mutex_destroy(&qp->mu);
    free(qp);
}

void
coll_thread_background(void)
{
    static _Thread_local bool done;
    if (!done) {
        /* Linux: a thread id is a process id for setpriority (only this thread changes). */
        (void) setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid), COLL_QUERY_NICE);
        done = true;
    }
}
