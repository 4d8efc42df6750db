/* SPDX-License-Identifier: MIT */
/*
 * The query plane: apart from the ingest loop (main.c, listen.c, pipeline.c), so that nothing
 * a query client does, and no store call that can wait on disk I/O or on the store's locks,
 * runs where datagrams are received. Two threads:
 *
 * - the query loop: a libuv loop of its own serving the query server (qserver.c), whose
 *   heavy steps run on libuv's threadpool (used by nothing else) at nice COLL_QUERY_NICE;
 * - the control thread: once a second stor_stats_get and a warning line when commits start
 *   failing (naming the error) and when they recover, the counter line every log_interval,
 *   and the decoder's template snapshots, serialised by the ingest loop when templates
 *   changed and written to the store here (a catalog transaction and an fsync); a failed
 *   write is logged (rate-limited) and counted. It waits on a condition variable, never on a
 *   client, and runs at the normal priority, so the warnings come in time on a busy host.
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
#include <time.h>
#include <unistd.h>

#include "coll.h"

#define TICK_MS        1000u
#define INGEST_WAIT_MS 2000u /* for the counter line's totals */

/* A template snapshot waiting to be written (under mu). */
struct tmpl_slot {
    void *buf;
    size_t len;
};

struct coll_qplane {
    struct coll_qplane_cfg cfg;
    /* The query loop's. */
    uv_loop_t loop;
    pthread_t loop_thread;
    struct coll_qserver *qs; /* NULL: no query server */
    uv_async_t wake;         /* stop */
    bool closing;
    /* Shared, under mu (cond wakes the control thread). */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    struct tmpl_slot pending;
    bool stop;
    struct coll_qserver_cfg next_query; /* a reload's [query] limits */
    bool next_query_set;
    atomic_uint_least32_t log_interval_s;
    atomic_uint_least64_t tmpl_saved, tmpl_failed;
    /* The control thread's. */
    pthread_t ctl_thread;
    struct coll_lograte save_rl;
    uint64_t logged_ms;
    int commit_error; /* last_error seen on the previous tick */
    uint64_t failing_since_ms;
};

/* ---- template snapshots ---- */

static void
write_snapshot(struct coll_qplane *qp, struct tmpl_slot *snap)
{
    int rc = stor_meta_put(qp->cfg.stor, "templates", snap->buf, snap->len);
    if (rc == 0) {
        qp->tmpl_saved++;
    } else {
        qp->tmpl_failed++;
        coll_log_rl(&qp->save_rl, COLL_LOG_ERR,
                    "template snapshot (%zu bytes) not saved: %s; a restart would forget "
                    "templates learned since the last save",
                    snap->len, stor_strerror(rc));
    }
    free(snap->buf);
    snap->buf = NULL;
}

void
coll_qplane_save_templates(struct coll_qplane *qp, void *buf, size_t len)
{
    pthread_mutex_lock(&qp->mu);
    free(qp->pending.buf); /* a newer snapshot replaces it */
    qp->pending.buf = buf;
    qp->pending.len = len;
    pthread_cond_signal(&qp->cond);
    pthread_mutex_unlock(&qp->mu);
}

void
coll_qplane_tmpl_counts(struct coll_qplane *qp, uint64_t *saved, uint64_t *failed)
{
    *saved = qp->tmpl_saved;
    *failed = qp->tmpl_failed;
}

/* ---- the control thread: commits, the counter line, snapshots ---- */

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

static void
tick(struct coll_qplane *qp)
{
    struct stor_stats st;
    uint64_t now = flow_mono_ms();
    uint32_t every = qp->log_interval_s;
    stor_stats_get(qp->cfg.stor, &st);
    watch_commits(qp, &st, now);
    if (every != 0 && now - qp->logged_ms >= every * 1000ull) {
        log_counters(qp, &st);
        qp->logged_ms = now;
    }
}

/* Wait until the tick is due at `due` (CLOCK_MONOTONIC ms), a snapshot comes or the plane
 * stops; take the snapshot. Returns false to stop. */
static bool
ctl_wait(struct coll_qplane *qp, uint64_t due, struct tmpl_slot *snap)
{
    struct timespec dl = {.tv_sec = (time_t) (due / 1000u),
                          .tv_nsec = (long) (due % 1000u) * 1000000L};
    pthread_mutex_lock(&qp->mu);
    while (!qp->stop && qp->pending.buf == NULL && flow_mono_ms() < due) {
        pthread_cond_timedwait(&qp->cond, &qp->mu, &dl);
    }
    bool go = !qp->stop;
    *snap = qp->pending;
    qp->pending.buf = NULL;
    pthread_mutex_unlock(&qp->mu);
    return go;
}

static void *
ctl_main(void *arg)
{
    struct coll_qplane *qp = arg;
    uint64_t due = flow_mono_ms() + TICK_MS;
    struct tmpl_slot snap;
    while (ctl_wait(qp, due, &snap)) {
        if (snap.buf != NULL) {
            write_snapshot(qp, &snap);
        }
        if (flow_mono_ms() >= due) {
            tick(qp);
            due = flow_mono_ms() + TICK_MS;
        }
    }
    free(snap.buf); /* at exit the pipeline saves the last templates itself */
    return NULL;
}

/* ---- the query loop ---- */

static void
on_wake(uv_async_t *a)
{
    struct coll_qplane *qp = a->data;
    struct coll_qserver_cfg q;
    bool stop, reload;
    if (qp->closing) {
        return;
    }
    pthread_mutex_lock(&qp->mu);
    stop = qp->stop;
    reload = qp->next_query_set;
    if (reload) {
        q = qp->next_query;
    }
    qp->next_query_set = false;
    pthread_mutex_unlock(&qp->mu);
    if (reload && qp->qs != NULL) {
        coll_qserver_set_limits(qp->qs, &q);
    }
    if (!stop) {
        return;
    }
    qp->closing = true;
    coll_qserver_stop(qp->qs);
    qp->qs = NULL;
    uv_close((uv_handle_t *) &qp->wake, NULL);
}

static void *
loop_main(void *arg)
{
    struct coll_qplane *qp = arg;
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

/* Stop the control thread (started) and close what start made. */
static void
unwind(struct coll_qplane *qp, bool ctl_started)
{
    pthread_mutex_lock(&qp->mu);
    qp->stop = true;
    pthread_cond_signal(&qp->cond);
    pthread_mutex_unlock(&qp->mu);
    if (ctl_started) {
        pthread_join(qp->ctl_thread, NULL);
    }
    on_wake(&qp->wake);
    uv_run(&qp->loop, UV_RUN_DEFAULT);
    uv_loop_close(&qp->loop);
    pthread_cond_destroy(&qp->cond);
    pthread_mutex_destroy(&qp->mu);
    free(qp->pending.buf);
    free(qp);
}

int
coll_qplane_start(const struct coll_qplane_cfg *cfg, struct coll_qplane **out, char *msg,
                  size_t msglen)
{
    struct coll_qplane *qp = calloc(1, sizeof(*qp));
    pthread_condattr_t ca;
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
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&qp->cond, &ca);
    pthread_condattr_destroy(&ca);
    uv_async_init(&qp->loop, &qp->wake, on_wake);
    qp->wake.data = qp;
    /* Handles are made here, before the thread runs the loop (pthread_create orders it). */
    if ((rc = serve(qp, msg, msglen)) != 0) {
        unwind(qp, false);
        return rc;
    }
    if ((rc = -pthread_create(&qp->ctl_thread, NULL, ctl_main, qp)) != 0) {
        unwind(qp, false);
        return rc;
    }
    if ((rc = -pthread_create(&qp->loop_thread, NULL, loop_main, qp)) != 0) {
        unwind(qp, true);
        return rc;
    }
    *out = qp;
    return 0;
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
coll_qplane_set_query(struct coll_qplane *qp, const struct coll_qserver_cfg *q)
{
    pthread_mutex_lock(&qp->mu);
    qp->next_query = *q;
    qp->next_query_set = true;
    pthread_mutex_unlock(&qp->mu);
    uv_async_send(&qp->wake);
}

void
coll_qplane_stop(struct coll_qplane *qp)
{
    if (qp == NULL) {
        return;
    }
    pthread_mutex_lock(&qp->mu);
    qp->stop = true;
    pthread_cond_signal(&qp->cond);
    pthread_mutex_unlock(&qp->mu);
    pthread_join(qp->ctl_thread, NULL);
    uv_async_send(&qp->wake);
    pthread_join(qp->loop_thread, NULL);
    uv_loop_close(&qp->loop);
    free(qp->pending.buf);
    pthread_cond_destroy(&qp->cond);
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
