/* SPDX-License-Identifier: MIT */
/*
 * Calls into the ingest loop from another thread (the query plane): the caller queues a
 * request, wakes the ingest loop with uv_async_send and waits on a condition variable, with
 * a deadline, until the loop has run the function. The decoder context, the exporter table
 * and the listeners' counters belong to the ingest loop; this is how the query plane reads
 * or changes them without a lock the ingest loop would have to take.
 *
 * The ingest loop never waits here: it only takes the mutex for a moment to unlink a request
 * and again to mark it done. A caller whose deadline passes before the loop took its request
 * takes it back (-ETIMEDOUT); one whose request is already running waits for its end, which
 * is short (the functions copy counters or forget an exporter). After coll_xcall_shut every
 * queued and later call fails with -ECANCELED, so shutting down cannot deadlock with a caller.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "coll.h"

enum req_state { REQ_QUEUED, REQ_RUNNING, REQ_DONE };

struct req {
    coll_xcall_fn *fn;
    void *arg;
    int rc;
    enum req_state state;
    struct req *next;
};

struct coll_xcall {
    uv_async_t async; /* ingest loop */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    struct req *head, **tail;
    bool shut;
};

/* The next queued request, marked running, or NULL. */
static struct req *
take(struct coll_xcall *x)
{
    pthread_mutex_lock(&x->mu);
    struct req *r = x->head;
    if (r != NULL) {
        x->head = r->next;
        if (x->head == NULL) {
            x->tail = &x->head;
        }
        r->state = REQ_RUNNING;
    }
    pthread_mutex_unlock(&x->mu);
    return r;
}

static void
on_async(uv_async_t *a)
{
    struct coll_xcall *x = a->data;
    struct req *r;
    while ((r = take(x)) != NULL) {
        int rc = r->fn(r->arg);
        pthread_mutex_lock(&x->mu);
        r->rc = rc;
        r->state = REQ_DONE;
        pthread_cond_broadcast(&x->cond);
        pthread_mutex_unlock(&x->mu);
    }
}

int
coll_xcall_open(uv_loop_t *loop, struct coll_xcall **out)
{
    struct coll_xcall *x = calloc(1, sizeof(*x));
    pthread_condattr_t ca;
    int rc;

    if (x == NULL) {
        return -ENOMEM;
    }
    if ((rc = uv_async_init(loop, &x->async, on_async)) != 0) {
        free(x);
        return rc;
    }
    x->async.data = x;
    x->tail = &x->head;
    pthread_mutex_init(&x->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = x;
    return 0;
}

/* Remove r from the queue (the mutex held); false when it is not there. */
static bool
unlink_req(struct coll_xcall *x, struct req *r)
{
    for (struct req **pp = &x->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            if (*pp == NULL) {
                x->tail = pp;
            }
            return true;
        }
    }
    return false;
}

int
coll_xcall_run(struct coll_xcall *x, coll_xcall_fn *fn, void *arg, uint32_t timeout_ms)
{
    struct req r = {.fn = fn, .arg = arg, .state = REQ_QUEUED};
    struct timespec dl;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t) (timeout_ms / 1000u);
    dl.tv_nsec += (long) (timeout_ms % 1000u) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&x->mu);
    if (x->shut) {
        pthread_mutex_unlock(&x->mu);
        return -ECANCELED;
    }
    *x->tail = &r;
    x->tail = &r.next;
    uv_async_send(&x->async);
    while (r.state != REQ_DONE && rc != ETIMEDOUT && !(x->shut && r.state == REQ_QUEUED)) {
        rc = pthread_cond_timedwait(&x->cond, &x->mu, &dl);
    }
    /* Taken back while still queued (deadline or shutdown); a running one is waited for. */
    if (r.state == REQ_QUEUED && unlink_req(x, &r)) {
        r.rc = x->shut ? -ECANCELED : -ETIMEDOUT;
    }
    while (r.state == REQ_RUNNING) {
        pthread_cond_wait(&x->cond, &x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return r.rc;
}

void
coll_xcall_shut(struct coll_xcall *x)
{
    if (x == NULL) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    x->shut = true;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->mu);
}

static void
on_closed(uv_handle_t *h)
{
    struct coll_xcall *x = h->data;
    pthread_cond_destroy(&x->cond);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

void
coll_xcall_close(struct coll_xcall *x)
{
    if (x == NULL) {
        return;
    }
    coll_xcall_shut(x);
    uv_close((uv_handle_t *) &x->async, on_closed);
}
