/* SPDX-License-Identifier: MIT */
/*
 * The writer's front door: the batch pool, the FIFO of submitted batches, and the requests
 * callers make of the writer (stor_sync, stor_seal_due), with stor_stats_get. Everything here
 * is state under stor_writer.mu (struct w_shared), which no thread holds across I/O, so the
 * receive path never waits on storage. stor_stats_get takes no lock at all: it reads the
 * counters' atomics (struct w_pub).
 */
#include <errno.h>
#include <stdlib.h>

#include "flow_clock.h"
#include "writer_int.h"

struct stor_batch *
stor_batch_get(struct stor_env *env)
{
    struct stor_writer *w = env->w;
    struct stor_batch *b = NULL;

    pthread_mutex_lock(&w->mu);
    if (w->sh.nfree > 0 && !w->sh.stop) {
        b = w->sh.free_list[--w->sh.nfree];
    }
    pthread_mutex_unlock(&w->mu);
    if (b == NULL) {
        atomic_fetch_add_explicit(&w->pub.batches_dropped, 1, memory_order_relaxed);
        return NULL;
    }
    b->n = 0;
    b->nmsgs = 0;
    b->recv_ms = 0;
    return b;
}

void
stor_batch_put(struct stor_env *env, struct stor_batch *b)
{
    struct stor_writer *w = env->w;
    pthread_mutex_lock(&w->mu);
    w->sh.free_list[w->sh.nfree++] = b;
    pthread_mutex_unlock(&w->mu);
}

void
stor_batch_submit(struct stor_env *env, struct stor_batch *b)
{
    struct stor_writer *w = env->w;
    if (b->recv_ms == 0) {
        b->recv_ms = flow_wall_ms();
    }
    pthread_mutex_lock(&w->mu);
    /* The ring holds every batch of the pool, so there is always room. */
    w->sh.queue[(w->sh.qhead + w->sh.qlen) % w->sh.qcap] = b;
    w->sh.qlen++;
    w->sh.submitted++;
    atomic_store_explicit(&w->pub.queue_batches, w->sh.qlen, memory_order_relaxed);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

/* The oldest submitted batch, or NULL when the queue is empty (the writer thread). */
struct stor_batch *
stor__queue_take(struct stor_writer *w)
{
    struct stor_batch *b = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->sh.qlen > 0) {
        b = w->sh.queue[w->sh.qhead];
        w->sh.qhead = (w->sh.qhead + 1) % w->sh.qcap;
        w->sh.qlen--;
        atomic_store_explicit(&w->pub.queue_batches, w->sh.qlen, memory_order_relaxed);
    }
    pthread_mutex_unlock(&w->mu);
    return b;
}

/* A taken batch is ingested: back to the pool, and counted for stor_sync. */
void
stor__queue_done(struct stor_writer *w, struct stor_batch *b)
{
    pthread_mutex_lock(&w->mu);
    w->sh.free_list[w->sh.nfree++] = b;
    w->sh.taken++;
    pthread_mutex_unlock(&w->mu);
}

int
stor__queue_init(struct stor_writer *w, const struct stor_cfg *cfg)
{
    size_t n = cfg->queue_batches;

    w->sh.qcap = n;
    w->sh.pool = calloc(n, sizeof(*w->sh.pool));
    w->sh.free_list = calloc(n, sizeof(*w->sh.free_list));
    w->sh.queue = calloc(n, sizeof(*w->sh.queue));
    if (w->sh.pool == NULL || w->sh.free_list == NULL || w->sh.queue == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct stor_batch *b = &w->sh.pool[i];
        b->cap = cfg->batch_records;
        b->msgs_cap = cfg->batch_records;
        b->recs = malloc(b->cap * sizeof(*b->recs));
        b->msgs = malloc(b->msgs_cap * sizeof(*b->msgs));
        if (b->recs == NULL || b->msgs == NULL) {
            return -ENOMEM;
        }
        w->sh.free_list[w->sh.nfree++] = b;
    }
    return 0;
}

void
stor__queue_free(struct stor_writer *w)
{
    if (w->sh.pool != NULL) {
        for (size_t i = 0; i < w->sh.qcap; i++) {
            free(w->sh.pool[i].recs);
            free(w->sh.pool[i].msgs);
        }
    }
    free(w->sh.pool);
    free(w->sh.free_list);
    free(w->sh.queue);
}

/*
 * Wait until every batch submitted before the call is committed. Returns 0, or the error of
 * a commit begun after the call (STOR_E_FULL: the data stays queued in memory and is
 * retried every commit_ms; call again to wait for that).
 */
int
stor_sync(struct stor_env *env)
{
    struct stor_writer *w = env->w;
    pthread_mutex_lock(&w->mu);
    /* Commits land in the order they begin: once more than `start` have landed, one that
     * began after this call has. */
    uint64_t want = w->sh.submitted, start = w->sh.commits_begun;
    w->sh.sync_waiters++;
    pthread_cond_signal(&w->wake);
    while (w->sh.synced < want && !w->sh.stop &&
           !(w->sh.commits_landed > start && w->sh.last_rc != 0)) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    w->sh.sync_waiters--;
    int rc = w->sh.synced >= want ? 0 : (w->sh.last_rc != 0 ? w->sh.last_rc : STOR_E_CLOSED);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Ask the writer to seal what is due as of now_ms, wait for it, then for a maintenance pass
 * (retention and compaction) as of the same time. */
int
stor_seal_due(struct stor_env *env, uint64_t now_ms, bool force_all)
{
    struct stor_writer *w = env->w;
    int rc = stor_sync(env);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    uint64_t ticket = w->sh.seal_done + 1;
    w->sh.seal_req = true;
    w->sh.seal_force = force_all;
    w->sh.seal_now_ms = now_ms;
    pthread_cond_signal(&w->wake);
    while (w->sh.seal_done < ticket) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    rc = w->sh.seal_rc;
    pthread_mutex_unlock(&w->mu);
    int mrc = stor__maint_pass_wait(w, now_ms);
    return rc != 0 ? rc : mrc;
}

void
stor_stats_get(struct stor_env *env, struct stor_stats *out)
{
    struct w_pub *p = &env->w->pub;
#define LOAD(f) atomic_load_explicit(&p->f, memory_order_relaxed)
    *out = (struct stor_stats){
        .records_in = LOAD(records_in),
        .records_stored = LOAD(records_stored),
        .batches_dropped = LOAD(batches_dropped),
        .records_unrouted = LOAD(records_unrouted),
        .records_dropped = LOAD(records_dropped),
        .late = LOAD(late),
        .time_skew = LOAD(time_skew),
        .commits = LOAD(commits),
        .seals = LOAD(seals),
        .nodata = LOAD(nodata),
        .skipdata = LOAD(skipdata),
        .full_errors = LOAD(full_errors),
        .last_error = LOAD(last_error),
        .partitions_dropped = LOAD(partitions_dropped),
        .compactions = LOAD(compactions),
        .bytes = LOAD(bytes),
        .last_commit_ms = LOAD(last_commit_ms),
        .pending_records = LOAD(pending_records),
        .queue_batches = LOAD(queue_batches),
        .seal_backlog = LOAD(seal_backlog),
        .open_windows = LOAD(open_windows),
        .commit_last_ms = LOAD(commit_last_ms),
        .commit_max_ms = LOAD(commit_max_ms),
        .commit_failing = LOAD(commit_failing),
        .expired = LOAD(expired),
        .fanout_retimed = LOAD(fanout_retimed),
        .clocks_evicted = LOAD(clocks_evicted),
        .clock_clamped = LOAD(clock_clamped),
        .clocks_full = LOAD(clocks_full),
        .late_pending = LOAD(late_pending),
        .reseals = LOAD(reseals),
        .clock_resets = LOAD(clock_resets),
    };
#undef LOAD
    stor__env_stats_fill(env, out);
}
