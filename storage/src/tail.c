/* SPDX-License-Identifier: MIT */
/*
 * The commit sequence, for live tails (the HTTP API's /api/v1/tail). Every run the committer
 * has committed gets the next number of a sequence. While some tail wants them
 * (stor_tail_want), the committer also copies each run's row block into a ring of
 * STOR_TAIL_BYTES bytes indexed by a ring of STOR_TAIL_RUNS entries; a tail keeps the number
 * it wants next, copies that run's block out and decodes it on its own thread. The runs are
 * kept in memory, not read back from the partition, because a window that is due is sealed
 * (its runs merged into blocks) right after the commit that completes it.
 *
 * The committer never waits for a tail: it only try-locks the ring. When a tail holds the lock
 * (for one block's copy), when no tail wants runs, or when a block exceeds
 * STOR_TAIL_BLOCK_MAX bytes, the run gets its number and is not kept; a tail that asks for it
 * counts it as missed, as it does runs the ring no longer holds.
 *
 * The sequence starts at the wall clock in microseconds when the store opens, so numbers a
 * client saw before a restart are below those after it (unless the clock stepped back):
 * resuming with an old number misses what the old process held, and says so, but never gives
 * a row twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "flow_clock.h"
#include "stor_int.h"
#include "block.h"

struct tail_ent {
    uint64_t seq; /* the run's number + 1; 0: never written */
    uint64_t pos; /* where its block starts, counted in bytes ever written */
    size_t len;
};

struct stor_tail {
    uint64_t first;        /* the first number of this process */
    _Atomic uint64_t next; /* the number the next committed run gets (committer writes) */
    atomic_int wanted;     /* tails that want runs kept */
    pthread_mutex_t mu;    /* the rings below; the committer only try-locks it */
    uint8_t *bytes;        /* STOR_TAIL_BYTES, allocated when first wanted */
    uint64_t wpos;         /* bytes ever written (the ring's end) */
    struct tail_ent e[STOR_TAIL_RUNS];
};

int
stor__tail_init(struct stor_env *env)
{
    env->tail = calloc(1, sizeof(*env->tail));
    if (env->tail == NULL) {
        return -ENOMEM;
    }
    env->tail->first = flow_wall_ms() * 1000u;
    atomic_init(&env->tail->next, env->tail->first);
    pthread_mutex_init(&env->tail->mu, NULL);
    return 0;
}

void
stor__tail_free(struct stor_env *env)
{
    if (env->tail == NULL) {
        return;
    }
    pthread_mutex_destroy(&env->tail->mu);
    free(env->tail->bytes);
    free(env->tail);
    env->tail = NULL;
}

int
stor_tail_want(struct stor_env *env, bool on)
{
    struct stor_tail *t = env->tail;
    int rc = 0;

    pthread_mutex_lock(&t->mu);
    if (on && t->bytes == NULL && (t->bytes = malloc(STOR_TAIL_BYTES)) == NULL) {
        rc = -ENOMEM;
    } else {
        atomic_fetch_add(&t->wanted, on ? 1 : -1);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* Copy block c of rs into the ring as run s (under mu). */
static void
keep(struct stor_tail *t, const struct stor_rows *rs, size_t c, uint64_t s)
{
    size_t len = stor__rows_block_len(rs, c);
    if (len > STOR_TAIL_BLOCK_MAX) {
        return;
    }
    if (t->wpos % STOR_TAIL_BYTES + len > STOR_TAIL_BYTES) {
        t->wpos += STOR_TAIL_BYTES - t->wpos % STOR_TAIL_BYTES; /* blocks never wrap */
    }
    stor__rows_block_write(rs, c, t->bytes + t->wpos % STOR_TAIL_BYTES);
    struct tail_ent *e = &t->e[s % STOR_TAIL_RUNS];
    e->seq = s + 1;
    e->pos = t->wpos;
    e->len = len;
    t->wpos += len;
}

void
stor__tail_publish(struct stor_env *env, const struct stor_rows *rs)
{
    struct stor_tail *t = env->tail;
    uint64_t s = atomic_load_explicit(&t->next, memory_order_relaxed);
    bool kept = atomic_load(&t->wanted) > 0 && pthread_mutex_trylock(&t->mu) == 0;

    for (size_t c = 0; c < rs->ncut; c++) {
        if (kept && t->bytes != NULL) {
            keep(t, rs, c, s + c);
        }
    }
    atomic_store_explicit(&t->next, s + rs->ncut, memory_order_release);
    if (kept) {
        pthread_mutex_unlock(&t->mu);
    }
}

uint64_t
stor_tail_head(struct stor_env *env)
{
    return atomic_load_explicit(&env->tail->next, memory_order_acquire);
}

/* Is run s in the ring, its bytes not yet overwritten? (under mu) */
static const struct tail_ent *
held(const struct stor_tail *t, uint64_t s)
{
    const struct tail_ent *e = &t->e[s % STOR_TAIL_RUNS];
    if (t->bytes == NULL || e->seq != s + 1 || e->pos + STOR_TAIL_BYTES < t->wpos) {
        return NULL;
    }
    return e;
}

int
stor_tail_next(struct stor_env *env, uint64_t from, struct stor_tail_run *out, uint8_t *buf,
               uint64_t *missed)
{
    struct stor_tail *t = env->tail;
    uint64_t head = stor_tail_head(env);
    int got = 0;

    *missed = 0;
    if (from < t->first) {
        from = t->first; /* before this process: how many is not known */
    }
    pthread_mutex_lock(&t->mu);
    for (uint64_t s = from; s < head && got == 0; s++) {
        const struct tail_ent *e = held(t, s);
        if (e == NULL) {
            (*missed)++;
            continue;
        }
        memcpy(buf, t->bytes + e->pos % STOR_TAIL_BYTES, e->len);
        out->seq = s;
        out->len = e->len;
        got = 1;
    }
    pthread_mutex_unlock(&t->mu);
    if (got == 0) {
        out->seq = from > head ? from : head;
    }
    return got;
}

int
stor_tail_decode(const uint8_t *buf, size_t len, struct flow_rec *recs, size_t cap, size_t *n)
{
    long cnt = stor__rows_count(buf, len);
    *n = 0;
    if (cnt < 0) {
        return (int) cnt;
    }
    if ((size_t) cnt > cap) {
        *n = (size_t) cnt;
        return STOR_E_LIMIT;
    }
    return stor__rows_decode(buf, len, recs, cap, n);
}
