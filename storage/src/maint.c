/* SPDX-License-Identifier: MIT */
/*
 * Maintenance, on its own thread so that neither ingest nor commits wait for it: retention
 * (drop whole partitions by age or total size) and compaction (rewrite a settled partition
 * without its free pages; stor__part_compact in env.c does the copy). A pass runs every
 * W_MAINT_PERIOD_MS, and when stor_seal_due asks for one.
 *
 * Maintenance never touches a partition the writer has windows in (w_shared.busy). It claims
 * the one partition it works on under mu; while it holds the claim the writer hands neither
 * rows nor seal jobs for that partition to anyone (they wait in memory, counted as pending),
 * so no commit or seal overlaps a compaction or a drop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "flow_clock.h"
#include "writer_int.h"

#define MAINT_CAND_MAX 256 /* partitions looked at per pass, for compaction */
#define MAINT_DROP_MAX 64  /* partitions dropped per pass */

static bool
busy_has(const struct w_shared *sh, uint32_t part_start)
{
    if (sh->busy_overflow) {
        return true;
    }
    size_t lo = 0, hi = sh->nbusy;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sh->busy[mid] == part_start) {
            return true;
        }
        if (sh->busy[mid] < part_start) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* Claim partition part_start for maintenance: false when the writer has windows in it. */
static bool
claim(struct stor_writer *w, uint32_t part_start)
{
    pthread_mutex_lock(&w->mu);
    bool ok = !busy_has(&w->sh, part_start);
    if (ok) {
        w->sh.maint_claimed = true;
        w->sh.maint_part = part_start;
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static void
release(struct stor_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->sh.maint_claimed = false;
    pthread_cond_signal(&w->wake); /* rows held for the partition may go now */
    pthread_mutex_unlock(&w->mu);
}

static uint64_t
file_bytes(const struct stor_env *env, uint32_t start_s)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", env->dir, start_s);
    return stat(path, &st) == 0 ? (uint64_t) st.st_blocks * 512u : 0;
}

/*
 * Compact partitions that no longer receive normal writes (their last window sealed a grace
 * period ago) once their files are mostly free pages: one per pass.
 */
static void
compact_settled(struct stor_env *env, struct stor_writer *w, uint64_t now_ms)
{
    uint64_t settled_s = 600u + env->cfg.grace_s + env->cfg.silent_s;
    struct stor_part *cand[MAINT_CAND_MAX];
    size_t nc = 0;
    pthread_mutex_lock(&env->lock);
    for (size_t i = 0; i < env->nparts && nc < MAINT_CAND_MAX; i++) {
        struct stor_part *p = env->parts[i];
        uint64_t end_s = (uint64_t) p->start_s + env->cfg.partition_s;
        if (!p->doomed && !p->compact_checked && (end_s + settled_s) * 1000u <= now_ms) {
            cand[nc++] = p;
        }
    }
    pthread_mutex_unlock(&env->lock);
    for (size_t i = 0; i < nc; i++) {
        if (!claim(w, cand[i]->start_s)) {
            continue;
        }
        int rc = stor__part_compact(env, cand[i]);
        release(w);
        if (rc >= 0) {
            pthread_mutex_lock(&env->lock);
            cand[i]->compact_checked = rc == 1 || cand[i]->refs == 0;
            pthread_mutex_unlock(&env->lock);
        }
        if (rc == 1) {
            atomic_fetch_add_explicit(&w->pub.compactions, 1, memory_order_relaxed);
            stor__notice(env, "partition p-%010u.mdb compacted to %llu bytes", cand[i]->start_s,
                         (unsigned long long) cand[i]->file_bytes);
            break;
        }
    }
}

/* Why partition p goes (env->lock held): past retention by age (DROP_AGE), the store over
 * its size cap (DROP_SIZE), or not (DROP_NO). */
enum drop_why { DROP_NO, DROP_AGE, DROP_SIZE };

static enum drop_why
too_old_or_big(const struct stor_env *env, const struct stor_part *p, uint64_t total,
               uint64_t now_ms)
{
    uint64_t end_ms = ((uint64_t) p->start_s + env->cfg.partition_s) * 1000u;
    uint32_t ret_s = __atomic_load_n(&env->cfg.retention_s, __ATOMIC_RELAXED);
    uint64_t cap = __atomic_load_n(&env->cfg.max_bytes, __ATOMIC_RELAXED);
    if (ret_s != 0 && end_ms + (uint64_t) ret_s * 1000u <= now_ms) {
        return DROP_AGE;
    }
    return cap != 0 && total > cap ? DROP_SIZE : DROP_NO;
}

void
stor_set_retention(struct stor_env *env, uint32_t retention_s, uint64_t max_bytes)
{
    pthread_mutex_lock(&env->lock);
    __atomic_store_n(&env->cfg.retention_s, retention_s, __ATOMIC_RELAXED);
    __atomic_store_n(&env->cfg.max_bytes, max_bytes, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&env->lock);
}

/*
 * Raise retention's floor past a partition the writer has no window in (so nothing of it is
 * in memory): from then on records for it are refused. False when the writer is busy there.
 */
static bool
floor_raise(struct stor_env *env, struct stor_writer *w, uint32_t part_start)
{
    pthread_mutex_lock(&w->mu);
    bool ok = !busy_has(&w->sh, part_start);
    uint32_t end = part_start + env->cfg.partition_s;
    if (ok && atomic_load_explicit(&w->sh.floor_s, memory_order_relaxed) < end) {
        atomic_store_explicit(&w->sh.floor_s, end, memory_order_relaxed);
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* The partitions' starts and file sizes: the list copied under the store's lock, the files
 * looked at without it. *starts and *sizes (in env->parts' order) are the caller's to free. */
static size_t
part_sizes(struct stor_env *env, uint32_t **starts, uint64_t **sizes, uint64_t *total)
{
    pthread_mutex_lock(&env->lock);
    size_t n = env->nparts;
    *starts = malloc((n ? n : 1) * sizeof(**starts));
    *sizes = calloc(n ? n : 1, sizeof(**sizes));
    for (size_t i = 0; *starts != NULL && i < n; i++) {
        (*starts)[i] = env->parts[i]->doomed ? UINT32_MAX : env->parts[i]->start_s;
    }
    pthread_mutex_unlock(&env->lock);
    *total = 0;
    if (*starts == NULL || *sizes == NULL) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        (*sizes)[i] = (*starts)[i] == UINT32_MAX ? 0 : file_bytes(env, (*starts)[i]);
        *total += (*sizes)[i];
    }
    return n;
}

/* The size found for partition start s (0 when it is new since part_sizes). */
static uint64_t
size_of(const uint32_t *starts, const uint64_t *sizes, size_t n, uint32_t s)
{
    for (size_t i = 0; i < n; i++) {
        if (starts[i] == s) {
            return sizes[i];
        }
    }
    return 0;
}

/*
 * Drop whole partitions, oldest first: those that ended more than retention_s ago, then
 * while the store is above max_bytes; never the newest, and the pass stops at the first one
 * the writer has windows in, so that the dropped ones are always below one floor. A dropped
 * partition's file is deleted as soon as no snapshot reads it. Publishes the size of the
 * store's files (store-bytes); the files are looked at without the store's lock.
 */
static void
retention(struct stor_env *env, struct stor_writer *w, uint64_t now_ms)
{
    uint32_t *starts;
    uint64_t *sizes, total;
    size_t ns = part_sizes(env, &starts, &sizes, &total);
    struct stor_part *drop[MAINT_DROP_MAX];
    enum drop_why why[MAINT_DROP_MAX];
    uint64_t dropped_bytes[MAINT_DROP_MAX];
    size_t ndrop = 0;
    pthread_mutex_lock(&env->lock);
    for (size_t i = 0; i + 1 < env->nparts && ndrop < MAINT_DROP_MAX; i++) {
        struct stor_part *p = env->parts[i];
        if (p->doomed) {
            continue;
        }
        enum drop_why wy = too_old_or_big(env, p, total, now_ms);
        if (wy == DROP_NO || !floor_raise(env, w, p->start_s)) {
            break;
        }
        p->doomed = true;
        p->refs++; /* ours, dropped below: unref closes and unlinks when the last goes */
        why[ndrop] = wy;
        dropped_bytes[ndrop] = size_of(starts, sizes, ns, p->start_s);
        drop[ndrop++] = p;
        total -= dropped_bytes[ndrop - 1];
    }
    pthread_mutex_unlock(&env->lock);
    free(starts);
    free(sizes);
    atomic_store_explicit(&w->pub.bytes, total, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->pub.partitions_dropped, ndrop, memory_order_relaxed);
    for (size_t i = 0; i < ndrop; i++) {
        stor__notice(env, "partition p-%010u.mdb dropped (%llu bytes): %s", drop[i]->start_s,
                     (unsigned long long) dropped_bytes[i],
                     why[i] == DROP_AGE ? "older than retention" : "the store is over max_size");
        stor__outbox_dropping(env, drop[i]);
        stor__part_unref(env, drop[i]);
    }
}

static void
maint_pass(struct stor_env *env, struct stor_writer *w, uint64_t now_ms)
{
    compact_settled(env, w, now_ms);
    retention(env, w, now_ms);
}

void *
stor__maint_main(void *arg)
{
    struct stor_env *env = arg;
    struct stor_writer *w = env->w;

    w->mt.next_ms = flow_mono_ms() + W_MAINT_PERIOD_MS;
    pthread_mutex_lock(&w->mu);
    while (!w->sh.maint_stop) {
        bool asked = w->sh.maint_req > w->sh.maint_served;
        if (!asked && flow_mono_ms() < w->mt.next_ms) {
            stor__cond_wait_until(&w->maint_wake, &w->mu, w->mt.next_ms);
            continue;
        }
        uint64_t ticket = w->sh.maint_req;
        uint64_t now = asked ? w->sh.maint_now_ms : flow_wall_ms();
        pthread_mutex_unlock(&w->mu);
        maint_pass(env, w, now);
        w->mt.next_ms = flow_mono_ms() + W_MAINT_PERIOD_MS;
        pthread_mutex_lock(&w->mu);
        if (asked) {
            w->sh.maint_served = ticket;
            pthread_cond_broadcast(&w->done);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Ask for a pass as of wall clock now_ms and wait for it (stor_seal_due). */
int
stor__maint_pass_wait(struct stor_writer *w, uint64_t now_ms)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    uint64_t ticket = ++w->sh.maint_req;
    w->sh.maint_now_ms = now_ms;
    pthread_cond_signal(&w->maint_wake);
    while (w->sh.maint_served < ticket && !w->sh.maint_stop) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    rc = w->sh.maint_served >= ticket ? 0 : STOR_E_CLOSED;
    pthread_mutex_unlock(&w->mu);
    return rc;
}
