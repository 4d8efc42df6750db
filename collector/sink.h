/* SPDX-License-Identifier: MIT */
/*
 * The live ClickHouse sink (sink.c, docs/scale-out.md): a thread of its own that ships the
 * store's outbox (stor_outbox_*) to the [clickhouse] shards, exactly once, and its counters
 * for STATS, /metrics and HEALTH.
 */
#ifndef FLOWLOG_SINK_H
#define FLOWLOG_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_chquery.h"

struct stor_env;
struct coll_sink;

#define COLL_SINK_ITEMS_MAX   4096u  /* outbox items taken per pass (the rest on the next) */
#define COLL_SINK_BACKOFF_MIN 1000u  /* ms before the first retry after a failure */
#define COLL_SINK_BACKOFF_MAX 60000u /* ms between retries at most */
#define COLL_SINK_IDLE_MS     1000u  /* how often an empty outbox is looked at again */
#define COLL_SINK_ERROR_MAX   160u   /* characters of the last error kept */

/*
 * Start the sink on env when c names at least one shard (*out NULL otherwise, and 0). The
 * settings are copied. The thread never touches the ingest path: it reads the outbox and
 * sealed blocks through read transactions and deletes a shipped item in one small write
 * transaction. 0, -ENOMEM or a pthread error (negative). Call coll_sink_stop before
 * stor_close.
 */
int coll_sink_start(struct stor_env *env, const struct coll_chq_cfg *c, struct coll_sink **out);
/* Stop the thread (it finishes the request under way, at most one timeout) and free. NULL ok. */
void coll_sink_stop(struct coll_sink *s);

/* Called with each counter of the running sink (none when there is none). */
typedef int coll_sink_stat_fn(void *arg, const char *name, uint64_t value);
int coll_sink_stats_each(coll_sink_stat_fn *fn, void *arg);

/* The last error ("" when shipping works), for STATUS-like text. */
void coll_sink_last_error(char *buf, size_t len);

/* The outbox-lag health check: false when the oldest unshipped seal is older than
 * [health] outbox_lag_max; detail is one word. false for *checked when there is no sink. */
void coll_sink_health(bool *checked, bool *ok, char *detail, size_t len);

#endif
