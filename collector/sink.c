/* SPDX-License-Identifier: MIT */
/*
 * The live ClickHouse sink (issue 14, docs/scale-out.md). One thread walks the store's outbox
 * in order (partition, flow log, window, first block), reads each item's sealed blocks and
 * ships them with chs_batcher (clickhouse/src/batch.c) to every shard, then deletes the item.
 * Batch ids are a hash of (flow log, window, first block, shard, chunk) with the top bit
 * clear, and every batch goes with chs_ship(maybe_sent): a batch a shard already holds (an
 * earlier attempt, before a crash or a failure on another shard) is skipped, so the outbox item
 * is the per-shard high-water mark and a restart resends nothing twice. A failure (a shard
 * down, an error) stops the pass; the item is retried with a backoff from 1 s to 60 s, and the
 * schema is ensured again first. Ingest never waits on this thread. The counters live in
 * one static `pub` (one sink per process, as repeat.c's `active`), so STATS, /metrics and
 * HEALTH read them from any thread, even while the sink stops.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "chs.h"
#include "coll.h"
#include "flow_clock.h"
#include "sink.h"
#include "stor.h"

struct sink_names {
    uint16_t id[1024];
    char name[1024][STOR_NAME_MAX];
    size_t n;
};

/* The sink thread's own state. */
struct sink_run {
    struct chs_batcher bat;
    const struct stor_outbox_item *cur; /* the item being shipped (batch ids) */
    struct stor_outbox_item *items;     /* COLL_SINK_ITEMS_MAX */
    size_t nitems;
    struct sink_names names;
    bool schema_ok;
    bool failing;
    uint32_t backoff_ms;
};

struct coll_sink {
    struct stor_env *env;
    struct coll_chq_cfg cfg; /* a copy */
    struct chs_shard shards[COLL_CH_SHARDS_MAX];
    pthread_t thr;
    pthread_mutex_t mu; /* stop */
    pthread_cond_t cv;
    bool stop;
    struct sink_run run;
};

/* What the sink publishes: written by its thread, read by any. */
static struct {
    _Atomic bool on;
    _Atomic uint32_t lag_max_s;
    _Atomic uint64_t pending_items, pending_rows, oldest_ms, dropped, dropped_rows;
    _Atomic uint64_t retries, batches, rows_shipped, batches_skipped, items_shipped;
    _Atomic uint64_t errors_now; /* 1 while failing */
    pthread_mutex_t mu;          /* last_error */
    char last_error[COLL_SINK_ERROR_MAX];
} pub = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
set_error(const char *text)
{
    pthread_mutex_lock(&pub.mu);
    snprintf(pub.last_error, sizeof(pub.last_error), "%s", text);
    pthread_mutex_unlock(&pub.mu);
}

/* Wait ms or until stopped; true when stopped. */
static bool
nap(struct coll_sink *s, uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000u;
    ts.tv_nsec += (long) (ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0) {
    }
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Asked to stop: a pass ends between two items. */
static bool
stopping(struct coll_sink *s)
{
    pthread_mutex_lock(&s->mu);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static uint64_t
batch_id(void *arg, unsigned shard, uint32_t chunk)
{
    const struct stor_outbox_item *it = ((struct sink_run *) arg)->cur;
    uint32_t key[5] = {it->flowlog, it->start_s, it->first_block, shard, chunk};
    return XXH3_64bits(key, sizeof(key)) & ~(1ull << 63);
}

static int
on_flowlog(void *arg, const struct stor_flowlog *fl)
{
    struct sink_names *n = arg;
    if (n->n < sizeof(n->id) / sizeof(n->id[0])) {
        n->id[n->n] = fl->id;
        snprintf(n->name[n->n++], STOR_NAME_MAX, "%s", fl->name);
    }
    return 0;
}

/* A flow log's name as flowlog-chexport writes it ("default" for 0, "" when deleted). */
static const char *
name_of(const struct sink_names *n, uint16_t id)
{
    for (size_t i = 0; i < n->n; i++) {
        if (n->id[i] == id) {
            return n->name[i];
        }
    }
    return id == 0 ? "default" : "";
}

struct walk {
    struct coll_sink *s;
    uint64_t items, rows, oldest_ms;
};

static int
on_item(void *arg, const struct stor_outbox_item *it)
{
    struct walk *w = arg;
    struct sink_run *r = &w->s->run;
    if (r->nitems < COLL_SINK_ITEMS_MAX) {
        r->items[r->nitems++] = *it;
    }
    w->items++;
    w->rows += it->rows;
    if (w->oldest_ms == 0 || it->sealed_ms < w->oldest_ms) {
        w->oldest_ms = it->sealed_ms;
    }
    return 0;
}

/* List the outbox (the first COLL_SINK_ITEMS_MAX items) and publish its gauges. */
static int
outbox_list(struct coll_sink *s)
{
    struct walk w = {s, 0, 0, 0};
    s->run.nitems = 0;
    int rc = stor_outbox_each(s->env, on_item, &w);
    if (rc == 0) {
        uint64_t d, dr;
        stor_outbox_dropped(s->env, &d, &dr);
        uint64_t was = atomic_load(&pub.dropped), was_rows = atomic_load(&pub.dropped_rows);
        if (d > was) {
            coll_log(COLL_LOG_WARNING,
                     "clickhouse-outbox-dropped: retention dropped %" PRIu64 " unshipped "
                     "seal(s), %" PRIu64 " rows, before ClickHouse took them",
                     d - was, dr - was_rows);
        }
        atomic_store(&pub.pending_items, w.items);
        atomic_store(&pub.pending_rows, w.rows);
        atomic_store(&pub.oldest_ms, w.oldest_ms);
        atomic_store(&pub.dropped, d);
        atomic_store(&pub.dropped_rows, dr);
    }
    return rc;
}

static int
on_recs(void *arg, const struct flow_rec *recs, size_t n)
{
    struct chs_batcher *b = arg;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = chs_batcher_add(b, &recs[i]);
    }
    return rc;
}

/* Ship one item to every shard; then it leaves the outbox. */
static int
ship_item(struct coll_sink *s, const struct stor_outbox_item *it, char *err, size_t errlen)
{
    struct sink_run *r = &s->run;
    uint64_t sent0 = r->bat.sent, skip0 = r->bat.skipped, rows0 = r->bat.rows_sent;

    r->cur = it;
    chs_batcher_begin(&r->bat, name_of(&r->names, it->flowlog), it->window_s);
    int rc = stor_outbox_read(s->env, it, on_recs, &r->bat);
    if (rc == 0) {
        rc = chs_batcher_end(&r->bat);
    }
    atomic_fetch_add(&pub.batches, r->bat.sent - sent0);
    atomic_fetch_add(&pub.batches_skipped, r->bat.skipped - skip0);
    atomic_fetch_add(&pub.rows_shipped, r->bat.rows_sent - rows0);
    if (rc == STOR_E_NOTFOUND) {
        return 0; /* retention dropped its partition meanwhile: counted there */
    }
    if (rc != 0) {
        const char *url = r->bat.failed_shard >= 0 ? s->shards[r->bat.failed_shard].url : "store";
        snprintf(err, errlen, "%s: window %" PRIu32 " of flow log %u: %s", url, it->start_s,
                 (unsigned) it->flowlog,
                 rc <= -1500 && rc > -1550 ? chs_strerror(rc) : stor_strerror(rc));
        return rc;
    }
    if ((rc = stor_outbox_done(s->env, it)) != 0) {
        snprintf(err, errlen, "outbox: %s", stor_strerror(rc));
        return rc;
    }
    atomic_fetch_add(&pub.items_shipped, 1);
    /* The gauges follow each item out, not only at the next listing. */
    atomic_fetch_sub(&pub.pending_items, 1);
    atomic_fetch_sub(&pub.pending_rows, it->rows);
    return 0;
}

static int
schema_ensure(struct coll_sink *s, char *err, size_t errlen)
{
    struct chs_schema_cfg c = {s->run.bat.database, "flowlog", s->cfg.replicated};
    for (size_t i = 0; i < s->cfg.nurls; i++) {
        int rc = chs_schema_ensure(&s->shards[i], &c, NULL);
        if (rc != 0) {
            snprintf(err, errlen, "%s: schema: %s", s->shards[i].url, chs_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* One pass: schema if needed, then the listed items in order until one fails. */
static int
pass(struct coll_sink *s, char *err, size_t errlen)
{
    struct sink_run *r = &s->run;
    int rc;

    r->names.n = 0;
    if ((rc = stor_flowlog_each(s->env, on_flowlog, &r->names)) != 0 ||
        (rc = outbox_list(s)) != 0) {
        snprintf(err, errlen, "store: %s", stor_strerror(rc));
        return rc;
    }
    if (r->nitems == 0) {
        return 0; /* nothing owed: the schema waits for the first item */
    }
    if (!r->schema_ok && (rc = schema_ensure(s, err, errlen)) != 0) {
        return rc;
    }
    r->schema_ok = true;
    for (size_t i = 0; i < r->nitems && !stopping(s); i++) {
        if ((rc = ship_item(s, &r->items[i], err, errlen)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* After a pass: log a change of state, pick how long to wait. */
static uint32_t
after_pass(struct coll_sink *s, int rc, const char *err)
{
    struct sink_run *r = &s->run;
    if (rc == 0) {
        if (r->failing) {
            coll_log(COLL_LOG_INFO, "clickhouse: recovered");
            set_error("");
        }
        r->failing = false;
        atomic_store(&pub.errors_now, 0);
        r->backoff_ms = COLL_SINK_BACKOFF_MIN;
        return r->nitems == COLL_SINK_ITEMS_MAX ? 0 : COLL_SINK_IDLE_MS;
    }
    atomic_fetch_add(&pub.retries, 1);
    if (!r->failing) {
        coll_log(COLL_LOG_WARNING, "clickhouse: %s (retrying, the outbox keeps what is owed)", err);
    }
    set_error(err);
    r->failing = true;
    atomic_store(&pub.errors_now, 1);
    r->schema_ok = false; /* a server that comes back may be a fresh one */
    uint32_t wait = r->backoff_ms;
    r->backoff_ms =
        r->backoff_ms * 2 > COLL_SINK_BACKOFF_MAX ? COLL_SINK_BACKOFF_MAX : r->backoff_ms * 2;
    return wait;
}

static void *
sink_main(void *arg)
{
    struct coll_sink *s = arg;
    char err[COLL_SINK_ERROR_MAX];
    uint32_t wait = 0;

    while (!nap(s, wait)) {
        err[0] = '\0';
        int rc = pass(s, err, sizeof(err));
        wait = after_pass(s, rc, err);
    }
    return NULL;
}

static void
sink_free(struct coll_sink *s)
{
    chs_batcher_free(&s->run.bat);
    free(s->run.items);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int
sink_init(struct coll_sink *s, struct stor_env *env, const struct coll_chq_cfg *c)
{
    pthread_condattr_t ca;

    s->env = env;
    s->cfg = *c;
    for (size_t i = 0; i < c->nurls; i++) {
        s->shards[i] = (struct chs_shard){s->cfg.urls[i], s->cfg.user, s->cfg.password, 30000};
    }
    s->run.bat = (struct chs_batcher){.shards = s->shards,
                                      .nshards = (unsigned) c->nurls,
                                      .database = s->cfg.database[0] ? s->cfg.database : "flowlog",
                                      .replicated = c->replicated,
                                      .batch_rows = c->batch_rows,
                                      .id_fn = batch_id,
                                      .id_arg = &s->run};
    s->run.backoff_ms = COLL_SINK_BACKOFF_MIN;
    s->run.items = malloc(COLL_SINK_ITEMS_MAX * sizeof(*s->run.items));
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    return s->run.items == NULL ? -ENOMEM : 0;
}

int
coll_sink_start(struct stor_env *env, const struct coll_chq_cfg *c, struct coll_sink **out)
{
    struct coll_sink *s;
    int rc;

    *out = NULL;
    if (c->nurls == 0) {
        return 0;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return -ENOMEM;
    }
    if ((rc = sink_init(s, env, c)) != 0 || (rc = chs_init()) != 0) {
        goto free_s;
    }
    if ((rc = pthread_create(&s->thr, NULL, sink_main, s)) != 0) {
        rc = -rc;
        goto fini;
    }
    atomic_store(&pub.lag_max_s, c->outbox_lag_max_s);
    atomic_store(&pub.on, true);
    coll_log(COLL_LOG_INFO, "clickhouse: sink to %zu shard(s), first %s", c->nurls, c->urls[0]);
    *out = s;
    return 0;
fini:
    chs_fini();
free_s:
    sink_free(s);
    return rc;
}

void
coll_sink_stop(struct coll_sink *s)
{
    if (s == NULL) {
        return;
    }
    atomic_store(&pub.on, false);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thr, NULL);
    chs_fini();
    sink_free(s);
}

/* Seconds since the oldest unshipped seal, now (the list is only as fresh as the last pass). */
static uint64_t
oldest_age_s(void)
{
    uint64_t t = atomic_load(&pub.oldest_ms), now = flow_wall_ms();
    return t != 0 && atomic_load(&pub.pending_items) != 0 && now > t ? (now - t) / 1000u : 0;
}

int
coll_sink_stats_each(coll_sink_stat_fn *fn, void *arg)
{
    const struct {
        const char *n;
        uint64_t v;
    } c[] = {{"clickhouse-outbox-windows", atomic_load(&pub.pending_items)},
             {"clickhouse-outbox-rows", atomic_load(&pub.pending_rows)},
             {"clickhouse-outbox-oldest-s", oldest_age_s()},
             {"clickhouse-outbox-dropped", atomic_load(&pub.dropped)},
             {"clickhouse-outbox-dropped-rows", atomic_load(&pub.dropped_rows)},
             {"clickhouse-outbox-shipped", atomic_load(&pub.items_shipped)},
             {"clickhouse-failing", atomic_load(&pub.errors_now)},
             {"clickhouse-retries", atomic_load(&pub.retries)},
             {"clickhouse-batches-shipped", atomic_load(&pub.batches)},
             {"clickhouse-batches-skipped", atomic_load(&pub.batches_skipped)},
             {"clickhouse-rows-shipped", atomic_load(&pub.rows_shipped)}};
    int rc = 0;
    if (!atomic_load(&pub.on)) {
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(c) / sizeof(c[0]); i++) {
        rc = fn(arg, c[i].n, c[i].v);
    }
    return rc;
}

void
coll_sink_health(bool *checked, bool *ok, char *detail, size_t len)
{
    uint32_t max_s = atomic_load(&pub.lag_max_s);
    uint64_t age = oldest_age_s();

    *checked = atomic_load(&pub.on) && max_s != 0;
    *ok = !*checked || age <= max_s;
    if (!*checked) {
        snprintf(detail, len, "not-checked");
        return;
    }
    snprintf(detail, len, "oldest=%" PRIu64 "s,pending=%" PRIu64 ",max=%" PRIu32 "s%s", age,
             atomic_load(&pub.pending_items), max_s,
             atomic_load(&pub.errors_now) != 0 ? ",failing" : "");
}

void
coll_sink_last_error(char *buf, size_t len)
{
    pthread_mutex_lock(&pub.mu);
    snprintf(buf, len, "%s", pub.last_error);
    pthread_mutex_unlock(&pub.mu);
}
