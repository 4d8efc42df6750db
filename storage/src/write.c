/* SPDX-License-Identifier: MIT */
/*
 * The writer thread's loop, and the start and stop of the store's four threads (writer,
 * committer, sealer, maintenance; docs/threads.md has the map).
 *
 * Callers take a batch from a fixed pool (stor_batch_get: never blocks; NULL when all are in
 * flight, and the caller counts the drop), fill it and submit it to a FIFO (queue.c). The
 * writer routes each record to its flow logs and capture windows and appends it to the
 * window's waiting rows (ingest.c); every commit_ms it hands them to the committer thread
 * (commit.c) and goes on taking batches. After each commit it collects the result and hands
 * due windows to the sealer thread (seal.c). Retention and compaction run on the maintenance
 * thread (maint.c). Aggregation happens once, when the window is sealed.
 *
 * Intervals are on the monotonic clock (an NTP step moves neither commits nor passes);
 * record and window times are wall-clock times.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow_clock.h"
#include "writer_int.h"

int
stor__cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc != 0) {
        return -rc;
    }
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0) {
        rc = pthread_cond_init(c, &a);
    }
    pthread_condattr_destroy(&a);
    return -rc;
}

/* Wait on c (made by stor__cond_init_mono) until signalled or CLOCK_MONOTONIC mono_ms. */
void
stor__cond_wait_until(pthread_cond_t *c, pthread_mutex_t *mu, uint64_t mono_ms)
{
    struct timespec ts = {(time_t) (mono_ms / 1000u), (long) (mono_ms % 1000u) * 1000000L};
    pthread_cond_timedwait(c, mu, &ts);
}

/* Take queued batches until the queue is empty or a commit is due (so that under sustained
 * load commits still happen every commit_ms). */
static void
take_batches(struct stor_env *env, struct stor_writer *w)
{
    for (unsigned k = 1;; k++) {
        struct stor_batch *b = stor__queue_take(w);
        if (b == NULL) {
            return;
        }
        stor__ingest(env, w, b);
        stor__queue_done(w, b);
        if (k % 8 == 0 &&
            (flow_mono_ms() >= w->in.commit_at_ms || w->in.pending >= W_PENDING_MAX / 2)) {
            return;
        }
    }
}

/* Sleep until there is work: batches, a request, a finished commit, or the next commit due
 * (while a commit is in flight, the committer's signal ends the wait instead). Holds mu. */
static void
writer_wait(struct stor_writer *w)
{
    struct w_shared *sh = &w->sh;
    bool finished = w->in.committing && sh->commit_done;
    /* A sync waiter needs a commit only while something it waits for is uncommitted. */
    bool sync_work = sh->sync_waiters > 0 && sh->last_rc == 0 && !w->cm.held &&
                     sh->synced < sh->submitted && !w->in.committing;
    if (sh->qlen > 0 || sh->stop || sh->seal_req || finished || sync_work) {
        return;
    }
    if (w->in.committing) {
        pthread_cond_wait(&w->wake, &w->mu);
        return;
    }
    stor__cond_wait_until(&w->wake, &w->mu, w->in.commit_at_ms);
}

/* Nothing taken is uncommitted (all committed, or dropped and counted): sync waiters go. */
static void
sync_release(struct stor_writer *w)
{
    pthread_mutex_lock(&w->mu);
    if (!w->in.committing && w->in.pending == 0 && w->sh.synced < w->sh.taken) {
        w->sh.synced = w->sh.taken;
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
}

/* stor_seal_due and shutdown: commit everything taken, wait, and seal as asked. */
static void
serve_request(struct stor_env *env, struct stor_writer *w, bool seal_req, bool force,
              uint64_t seal_now)
{
    int rc = stor__commit_sync(env, w);
    /* Forced, twice: a window a tick had already handed to the sealer may come back with
     * late rows that arrived during its seal, to be resealed. */
    for (int round = 0; rc == 0 && seal_req && round < (force ? 2 : 1); round++) {
        stor__seal_schedule(env, w, seal_now, force);
        rc = stor__seal_drain(w); /* stor_seal_due waits for its seals */
    }
    if (seal_req) {
        stor__clocks_sweep(&w->in, seal_now);
        stor__ingest_publish(w);
    }
    pthread_mutex_lock(&w->mu);
    stor__busy_publish(env, w);
    if (seal_req) {
        w->sh.seal_rc = rc;
        w->sh.seal_req = false;
        w->sh.seal_done++;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
}

/* What the loop saw under mu. */
struct turn {
    bool stop, seal_req, force, sync_req, failing, finished;
    uint64_t seal_now;
};

/* A commit is due: hand the rows over, or with nothing to commit still schedule seals. */
static void
commit_tick(struct stor_env *env, struct stor_writer *w, const struct turn *t, uint64_t now_ms)
{
    uint64_t mono = flow_mono_ms();
    bool due_now = mono >= w->in.commit_at_ms;
    /* After a failed commit (full disk) retry once per commit_ms, not in a loop. */
    bool want = due_now || (!t->failing && (t->sync_req || w->in.pending >= W_PENDING_MAX / 2));
    if (!want || w->in.committing) {
        return;
    }
    if (!stor__commit_handover(env, w) && due_now) {
        stor__seal_schedule(env, w, now_ms, false); /* nothing to commit: seals come due */
        stor__seal_collect(w);
        stor__clocks_sweep(&w->in, now_ms);
        stor__ingest_publish(w);
        pthread_mutex_lock(&w->mu);
        stor__busy_publish(env, w);
        pthread_mutex_unlock(&w->mu);
    }
    w->in.commit_at_ms = mono + env->cfg.commit_ms;
}

static void *
writer_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;

    stor__ingest_load_open(env, w);
    w->in.commit_at_ms = flow_mono_ms() + env->cfg.commit_ms;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        writer_wait(w);
        struct turn t = {
            .stop = w->sh.stop,
            .seal_req = w->sh.seal_req,
            .force = w->sh.seal_force,
            .sync_req = w->sh.sync_waiters > 0 && w->sh.synced < w->sh.submitted,
            .failing = w->sh.last_rc != 0 || w->cm.held,
            .finished = w->in.committing && w->sh.commit_done,
            .seal_now = w->sh.seal_now_ms,
        };
        pthread_mutex_unlock(&w->mu);

        take_batches(env, w);
        uint64_t now = flow_wall_ms();
        if (t.finished) {
            stor__commit_collect(env, w, now, true);
        }
        if (t.seal_req || t.stop) {
            serve_request(env, w, t.seal_req, t.force, t.seal_now);
            w->in.commit_at_ms = flow_mono_ms() + env->cfg.commit_ms;
        } else {
            commit_tick(env, w, &t, now);
        }
        sync_release(w);
        pthread_mutex_lock(&w->mu);
        bool quit = t.stop && w->sh.qlen == 0 && !w->in.committing;
        pthread_mutex_unlock(&w->mu);
        if (quit) {
            return NULL;
        }
    }
}

/* ---- start and stop ---- */

static void
thread_stop(struct stor_writer *w, pthread_t th, bool *flag, pthread_cond_t *wake)
{
    pthread_mutex_lock(&w->mu);
    *flag = true;
    pthread_cond_broadcast(wake);
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    pthread_join(th, NULL);
}

static void
writer_free(struct stor_writer *w)
{
    stor__queue_free(w);
    stor__ingest_free(w);
    free(w->cm.wins);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->seal_wake);
    pthread_cond_destroy(&w->commit_wake);
    pthread_cond_destroy(&w->maint_wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static int
writer_sync_init(struct stor_writer *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->done, NULL);
    pthread_cond_init(&w->seal_wake, NULL);
    pthread_cond_init(&w->commit_wake, NULL);
    int rc = stor__cond_init_mono(&w->wake);
    return rc != 0 ? rc : stor__cond_init_mono(&w->maint_wake);
}

static int
threads_start(struct stor_env *env, struct stor_writer *w)
{
    if (pthread_create(&w->sealer, NULL, stor__sealer_main, env) != 0) {
        return -ENOMEM;
    }
    if (pthread_create(&w->committer, NULL, stor__committer_main, env) != 0) {
        goto stop_sealer;
    }
    if (pthread_create(&w->maint, NULL, stor__maint_main, env) != 0) {
        goto stop_committer;
    }
    if (pthread_create(&w->writer, NULL, writer_main, env) != 0) {
        goto stop_maint;
    }
    return 0;
stop_maint:
    thread_stop(w, w->maint, &w->sh.maint_stop, &w->maint_wake);
stop_committer:
    thread_stop(w, w->committer, &w->sh.committer_stop, &w->commit_wake);
stop_sealer:
    thread_stop(w, w->sealer, &w->sh.sealer_stop, &w->seal_wake);
    return -ENOMEM;
}

int
stor__writer_start(struct stor_env *env)
{
    struct stor_writer *w = calloc(1, sizeof(*w));
    int rc;

    if (w == NULL) {
        return -ENOMEM;
    }
    if ((rc = writer_sync_init(w)) != 0 || (rc = stor__queue_init(w, &env->cfg)) != 0) {
        goto free_w;
    }
    w->in.seed = stor__windex_seed();
    env->w = w;
    if ((rc = threads_start(env, w)) != 0) {
        goto no_env;
    }
    return 0;
no_env:
    env->w = NULL;
free_w:
    writer_free(w);
    return rc;
}

int
stor__writer_stop(struct stor_env *env)
{
    struct stor_writer *w = env->w;
    if (w == NULL) {
        return 0;
    }
    /* Maintenance first: it finishes the partition it is on and lets go of it, so the
     * writer's last commit holds nothing back. */
    thread_stop(w, w->maint, &w->sh.maint_stop, &w->maint_wake);
    thread_stop(w, w->writer, &w->sh.stop, &w->wake); /* it waited for its last commit */
    thread_stop(w, w->committer, &w->sh.committer_stop, &w->commit_wake);
    /* The sealer finishes the job it is on; queued ones are dropped (sealed after reopen). */
    thread_stop(w, w->sealer, &w->sh.sealer_stop, &w->seal_wake);
    stor__seal_jobs_free(w);
    int rc = w->in.pending > 0 ? w->sh.last_rc : 0;
    env->w = NULL;
    writer_free(w);
    return rc;
}
