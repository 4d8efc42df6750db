/* SPDX-License-Identifier: MIT */
/*
 * chs: the ClickHouse sink's building blocks (issue 14, docs/scale-out.md).
 *
 * - RowBinary encoding of flow records into the `flows_local` layout (the schema contract in
 *   docs/scale-out.md): byte-identical output for identical input, so a retried batch is the
 *   same block to ReplicatedMergeTree's deduplication.
 * - The schema: CREATE ... IF NOT EXISTS of the database, flows_local, flows (Distributed),
 *   flows_hourly with flows_hourly_mv, schema_version; the version recorded and migrated.
 * - HTTP requests to one shard with libcurl (blocking: call it from the sink's own thread,
 *   never from the ingest loop), and shipping one batch exactly once.
 * - Retention by whole partitions (ALTER TABLE ... DROP PARTITION).
 *
 * It keeps no globals. It leaves the outbox (which windows still have to go where) to storage
 * and the thread that drives shipping to the collector.
 */
#ifndef FLOWLOG_CHS_H
#define FLOWLOG_CHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/* The sink's error band: -1500 ... -1549. System errors pass as -errno. */
enum chs_err {
    CHS_E_HTTP = -1500,    /* the server answered with a status other than 200 */
    CHS_E_CONNECT = -1501, /* no answer: connection refused, timed out or cut */
    CHS_E_REPLY = -1502,   /* a reply that does not parse (for example a count) */
    CHS_E_SCHEMA = -1503,  /* the server's schema_version is newer than this build knows */
    CHS_E_LIMIT = -1504,   /* a batch larger than CHS_BATCH_ROWS_MAX */
    CHS_E_ARG = -1505,     /* a name or URL this module refuses (quotes, too long) */
};

const char *chs_strerror(int err);

/* libcurl's global setup and teardown: call chs_init() once before any thread uses chs_exec
 * (curl_global_init is not thread-safe) and chs_fini() at exit. chs_init returns 0 or -ENOMEM. */
int chs_init(void);
void chs_fini(void);

#define CHS_SCHEMA_VERSION     1u      /* the layout this build creates (docs/scale-out.md) */
#define CHS_BATCH_ROWS_DEFAULT 100000u /* [clickhouse] batch_rows default */
/* Never more rows in one INSERT: a cut-off body of 1.5 M rows committed its first 1,048,576
 * rows on 18.16, so a batch must stay below max_insert_block_size (1,048,576). */
#define CHS_BATCH_ROWS_MAX 500000u
#define CHS_NAME_MAX       64u    /* database and flow log names, without the NUL */
#define CHS_REPLY_MAX      65536u /* bytes of a reply kept (the rest is dropped, counted) */

/* A growable byte buffer; the caller owns it and frees it with chs_buf_free(). */
struct chs_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

void chs_buf_free(struct chs_buf *b);

/* What a row carries beyond the record: the same for every row of a batch. */
struct chs_rowctx {
    const char *flowlog; /* the records' flow log name */
    uint32_t window_s;   /* capture window length, seconds */
    uint64_t batch_id;   /* the outbox batch that carries the rows */
};

/*
 * Append one record as a RowBinary row of flows_local, in the column order of the schema
 * contract (docs/scale-out.md has the byte table). Returns 0 or -ENOMEM (the buffer then
 * holds what it held before).
 */
int chs_rowbin_append(struct chs_buf *b, const struct flow_rec *r, const struct chs_rowctx *c);

/* The bytes of one row without its four strings' lengths and bytes. */
#define CHS_ROW_FIXED 141u

/* One shard: where it is and how to log in. The strings are the caller's, valid while used. */
struct chs_shard {
    const char *url;      /* e.g. http://127.0.0.1:8123/ */
    const char *user;     /* NULL or "" = default */
    const char *password; /* NULL or "" = none */
    long timeout_ms;      /* whole request; 0 = 30 s */
};

/*
 * Run one statement on a shard: `sql` goes in the URL's query parameter, `body` (may be NULL)
 * is POSTed after it (the data of an INSERT ... FORMAT RowBinary). The reply's first
 * CHS_REPLY_MAX bytes go to *reply when it is not NULL (the caller frees it).
 * Returns 0, CHS_E_HTTP (reply holds the server's message), CHS_E_CONNECT or -ENOMEM.
 */
int chs_exec(const struct chs_shard *s, const char *sql, const void *body, size_t len,
             struct chs_buf *reply);

/* Run a query whose answer is one unsigned number (SELECT count() ...). */
int chs_query_u64(const struct chs_shard *s, const char *sql, uint64_t *out);

/* What the schema needs to know of the deployment. */
struct chs_schema_cfg {
    const char *database; /* "flowlog" by default; letters, digits and _ only */
    const char *cluster;  /* remote_servers cluster of the Distributed table ("flowlog") */
    bool replicated;      /* ReplicatedMergeTree (needs ZooKeeper and {shard}/{replica}) */
};

/*
 * Create what is missing on one shard (database, flows_local, flows_hourly, flows_hourly_mv,
 * flows, schema_version) and migrate an older recorded version to CHS_SCHEMA_VERSION.
 * *from gets the version found before (0 for an empty database). Safe to run again and from
 * several collectors at once (every statement is IF NOT EXISTS, the version row is written
 * only when it changes). Returns 0, CHS_E_SCHEMA when the shard's version is newer, or an
 * error of chs_exec.
 */
int chs_schema_ensure(const struct chs_shard *s, const struct chs_schema_cfg *c, uint32_t *from);

/*
 * Ship one batch to one shard, exactly once across calls. `rows` is its RowBinary
 * (chs_rowbin_append with this batch_id), `n` its row count (at most CHS_BATCH_ROWS_MAX).
 * One attempt per call; the caller retries a failure later (with backoff) with `maybe_sent`
 * set, as it must after a restart for a batch the outbox still lists.
 * - replicated: the INSERT is simply repeated; ReplicatedMergeTree drops a byte-identical
 *   block it already has.
 * - plain MergeTree: with maybe_sent the shard is first asked `SELECT count() FROM flows_local
 *   WHERE batch_id = ...`: n means it is in (return 0, *sent false), 0 means send it, anything
 *   else is a torn batch that a resend would double: CHS_E_REPLY, for the caller to log.
 * Returns 0 when the batch is in (*sent = true when this call inserted it), CHS_E_LIMIT,
 * CHS_E_ARG, or an error of chs_exec.
 */
int chs_ship(const struct chs_shard *s, const char *database, bool replicated, bool maybe_sent,
             uint64_t batch_id, const struct chs_buf *rows, uint64_t n, bool *sent);

/* The shard of a record: a stable hash of (flow log, window, srcaddr) modulo nshards, so all
 * collectors agree and a window's rows spread over the shards. */
unsigned chs_shard_of(const struct flow_rec *r, unsigned nshards);

/* Drop the whole partitions (days) older than `keep_days` days before `now_s` from
 * flows_local and flows_hourly on one shard; *dropped gets how many partitions went. */
int chs_retention(const struct chs_shard *s, const char *database, uint32_t keep_days,
                  uint64_t now_s, unsigned *dropped);

/* ---- batches of one window per shard (batch.c), for the sink and flowlog-chexport ---- */

#define CHS_SHARDS_MAX 64u /* shards one collector ships to ([clickhouse] url lines) */

/* The id of a window's chunk-th batch for a shard: deterministic, so a rebuilt batch has the
 * id it had. The live sink's ids have the top bit clear, flowlog-chexport's set. */
typedef uint64_t chs_batch_id_fn(void *arg, unsigned shard, uint32_t chunk);

/*
 * Set shards, nshards, database, replicated, batch_rows (1 ... CHS_BATCH_ROWS_MAX), id_fn and
 * id_arg; zero the rest; free with chs_batcher_free. Per window: chs_batcher_begin, one
 * chs_batcher_add per record in the store's order (a shard's batch is shipped when it reaches
 * batch_rows), chs_batcher_end (ships the rest). Every batch goes with chs_ship(maybe_sent):
 * one a shard holds already is skipped, so running a window again adds nothing twice. A
 * failure returns the error of chs_ship with failed_shard set; the window is then to be run
 * again from its beginning.
 */
struct chs_batcher {
    const struct chs_shard *shards;
    unsigned nshards;
    const char *database;
    bool replicated;
    uint32_t batch_rows;
    chs_batch_id_fn *id_fn;
    void *id_arg;
    /* state of the current window */
    struct chs_rowctx ctx;
    struct chs_buf buf[CHS_SHARDS_MAX];
    uint64_t rows[CHS_SHARDS_MAX];
    uint32_t chunk[CHS_SHARDS_MAX];
    uint64_t cur_id[CHS_SHARDS_MAX];
    int failed_shard; /* the shard of the last failure, or -1 */
    /* counters, never reset */
    uint64_t records;   /* records added */
    uint64_t batches;   /* batches that are in (sent or found there) */
    uint64_t sent;      /* batches this process inserted */
    uint64_t skipped;   /* batches found in already */
    uint64_t rows_sent; /* rows of the batches inserted */
};

void chs_batcher_begin(struct chs_batcher *b, const char *flowlog, uint32_t window_s);
int chs_batcher_add(struct chs_batcher *b, const struct flow_rec *r);
int chs_batcher_end(struct chs_batcher *b);
void chs_batcher_free(struct chs_batcher *b);

#endif
