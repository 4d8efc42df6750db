/* SPDX-License-Identifier: MIT */
/*
 * Rate-limited operational events: one token bucket per kind (COLL_EVENT_BURST tokens, one
 * back every COLL_EVENT_REFILL_MS on the monotonic clock), so an exporter churn or a flood of
 * untracked sources costs a few lines a minute, never a line per datagram. What a bucket
 * turned away is counted and named on the next line of that kind. Callers: main.c (the
 * exporter table's notices); any thread (one mutex).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "coll.h"
#include "events.h"

struct bucket {
    uint64_t tokens_ms; /* tokens as time: COLL_EVENT_REFILL_MS each, capped at the burst */
    uint64_t last_ms;
    unsigned long long suppressed; /* since the last line of this kind */
    unsigned long long suppressed_total;
    int started;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct bucket buckets[COLL_EV_KINDS];

/* Take a token (1) or not (0); *held gets the suppressed count to report and is reset. */
static int
take(struct bucket *b, uint64_t now, unsigned long long *held)
{
    const uint64_t cap = (uint64_t) COLL_EVENT_BURST * COLL_EVENT_REFILL_MS;
    if (!b->started) {
        b->started = 1;
        b->tokens_ms = cap;
        b->last_ms = now;
    }
    b->tokens_ms += now - b->last_ms;
    if (b->tokens_ms > cap) {
        b->tokens_ms = cap;
    }
    b->last_ms = now;
    if (b->tokens_ms < COLL_EVENT_REFILL_MS) {
        b->suppressed++;
        b->suppressed_total++;
        return 0;
    }
    b->tokens_ms -= COLL_EVENT_REFILL_MS;
    *held = b->suppressed;
    b->suppressed = 0;
    return 1;
}

void
coll_event(enum coll_event_kind kind, const char *fmt, ...)
{
    char line[400];
    unsigned long long held = 0;
    va_list ap;

    pthread_mutex_lock(&mu);
    int go = take(&buckets[kind], flow_mono_ms(), &held);
    pthread_mutex_unlock(&mu);
    if (!go) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (held != 0) {
        coll_log(COLL_LOG_NOTICE, "event: %s (%llu more of this kind suppressed)", line, held);
    } else {
        coll_log(COLL_LOG_NOTICE, "event: %s", line);
    }
}

unsigned long long
coll_event_suppressed(enum coll_event_kind kind)
{
    pthread_mutex_lock(&mu);
    unsigned long long n = buckets[kind].suppressed_total;
    pthread_mutex_unlock(&mu);
    return n;
}
