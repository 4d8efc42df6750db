/* SPDX-License-Identifier: MIT */
/*
 * Storage: flow logs, capture windows and flow records in LMDB (DESIGN.md §4-§6).
 *
 * Owns LMDB completely: no LMDB name appears outside storage/src. A store is a directory:
 *   catalog.mdb   format version, flow-log definitions, exporter state, the window catalog
 *   p-<start>.mdb one LMDB environment per time partition (stor_cfg.partition_s), so that
 *                 retention drops a whole partition by deleting its file
 * docs/storage.md has the key layout and value formats.
 *
 * Writing: one writer thread owned by the store. Callers hand it batches through a bounded
 * queue (stor_batch_get / stor_batch_submit) and never wait on a commit or a seal: when the
 * queue is full the caller is told so at once and counts the drop.
 *
 * Reading: snapshots (stor_snap_begin) iterate a time range window by window, block by
 * block, skipping blocks whose summaries rule out the pushed-down conditions.
 *
 * Errors: 0 or negative; -errno for system errors, STOR_E_* (band -1100...-1199) for ours.
 * Thread safety: every function may be called from any thread, except that a batch and a
 * snapshot/iterator belong to one thread at a time.
 */
#ifndef FLOWLOG_STOR_H
#define FLOWLOG_STOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "flow_cidr.h"

struct stor_env;

enum stor_err {
    STOR_E_FULL = -1100,     /* the disk (or the map's limit) is full; data is buffered */
    STOR_E_VERSION = -1102,  /* the store has an unknown format version */
    STOR_E_CORRUPT = -1103,  /* a value failed its checks */
    STOR_E_EXISTS = -1104,   /* a flow log of that name exists */
    STOR_E_NOTFOUND = -1105, /* no such flow log (or key) */
    STOR_E_LIMIT = -1106,    /* a limit (flow logs, instances) would be broken; msg says which */
    STOR_E_INVAL = -1107,    /* an argument is out of range; msg says which */
    STOR_E_CLOSED = -1108,   /* the store is closing */
    STOR_E_LMDB = -1109,     /* another LMDB error (logged text via stor_strerror) */
    STOR_E_IO = -1110,       /* a write failed or came up short (often a full disk); retried */
    STOR_E_LOCKED = -1111,   /* another process (or open) holds the store; msg names its pid */
    STOR_E_DISK = -1112,     /* the disk reported an I/O error with space left: failing, not
                                full; retrying will not help */
};

const char *stor_strerror(int err);

struct stor_cfg {
    const char *dir;        /* created if missing */
    uint32_t partition_s;   /* span of one partition file; a multiple of 600. 3600 */
    uint64_t map_max_bytes; /* every partition's map, fixed at open: address space, not disk
                               (a partition above it is full: STOR_E_FULL). 64 GiB, at most
                               4 TiB */
    uint32_t max_open_parts; /* partition environments kept open; the least recently used one
                                nobody holds is closed beyond it (store-partitions-closed). 64 */
    bool accept_empty_catalog; /* open although catalog.mdb is missing or empty while partition
                                  files exist (their flow-log definitions are then lost) */
    /* Called with one line of text naming a damaged file or block the store set aside
     * (quarantined partition, corrupt block): for the host's log. May be called from any of
     * the store's threads and from stor_open; it must not call into the store. NULL: none. */
    void (*notice)(void *arg, const char *text);
    void *notice_arg;
    uint32_t commit_ms;     /* longest a received record waits for its commit. 1000 */
    uint32_t grace_s;       /* a window seals W + grace after its start. 120 */
    uint32_t silent_s;      /* an exporter unheard for this long no longer holds windows
                               open (wall-clock fallback). 60 */
    uint32_t retention_s;   /* drop partitions older than this; 0 = keep. 0 */
    uint64_t max_bytes;     /* drop oldest partitions above this total; 0 = no cap. 0 */
    uint32_t queue_batches; /* batches in flight to the writer. 64 */
    uint32_t batch_records; /* records per batch. 4096 */
    uint32_t max_flowlogs;  /* like the cloud APIs' quota. 10 */
    uint32_t block_records; /* records per sealed block. 4096 */
    uint32_t seal_rows;     /* rows a seal holds in memory at once; bigger windows are sealed
                               in segments, aggregated within each. 1048576 */
    /* A record whose end lies more than time_past_s before, or time_future_s after, the time
     * it was received is retimed to its receive time (FLOW_F_TIME_SKEW; docs/storage.md):
     * a broken clock or a mangled datagram must not spread a store over thousands of
     * partitions. 0 = no bound (the default: replays and tests keep their times; flowlogd
     * sets 30 days and 1 day). */
    uint32_t time_past_s;
    uint32_t time_future_s;
    bool outbox; /* every seal adds an outbox key for the ClickHouse sink (stor_outbox_*).
                    false; flowlogd sets it when [clickhouse] url is set */
};

void stor_cfg_default(struct stor_cfg *cfg);

/* Open (creating if needed) and start the writer. *out owned by caller: stor_close(). */
int stor_open(struct stor_env **out, const struct stor_cfg *cfg, char *msg, size_t msglen);
/* Stop taking batches, write and commit everything queued, seal nothing, stop. NULL ok.
 * (The writer's side, stor__writer_stop, reports rows still failing to commit.) */
void stor_close(struct stor_env *env);

/* ---- flow logs ---- */

enum stor_traffic {
    STOR_TRAFFIC_ALL = 0,
    STOR_TRAFFIC_ACCEPT = 1,
    STOR_TRAFFIC_REJECT = 2,
};

#define STOR_NAME_MAX  64
#define STOR_DESC_MAX  256
#define STOR_LABEL_MAX 64
#define STOR_MATCH_MAX 16

struct stor_flowlog {
    char name[STOR_NAME_MAX];
    char description[STOR_DESC_MAX];
    uint16_t id;       /* assigned by create; stays with the name */
    uint32_t window_s; /* 60 or 600 */
    uint8_t traffic;   /* enum stor_traffic */
    bool aggregate;    /* false = raw mode: one stored record per received record */
    bool active;
    /* What it captures: an empty list matches everything. */
    uint8_t nexporters;
    struct flow_cidr exporters[STOR_MATCH_MAX];
    uint8_t ndomains;
    uint32_t domains[STOR_MATCH_MAX];
    uint8_t ninstances;
    char instances[STOR_MATCH_MAX][FLOW_ID_MAX];
    /* Labels stamped on its records where the exporter did not send them. */
    char account_id[FLOW_ID_MAX];
    char instance_id[FLOW_ID_MAX];
    char region[STOR_LABEL_MAX];
    char vpc_id[STOR_LABEL_MAX];
    char eni_id[STOR_LABEL_MAX];
    uint64_t created_ms;
};

/* Fill a definition with defaults (600 s, all traffic, aggregation on, active). */
void stor_flowlog_default(struct stor_flowlog *fl, const char *name);
/*
 * Create, modify (by name; id and created_ms are kept), start/stop, delete (purge: also drop
 * its records). Refusals say why in msg: STOR_E_EXISTS, STOR_E_NOTFOUND, STOR_E_LIMIT (at most
 * max_flowlogs; an instance id belongs to at most one active flow log), STOR_E_INVAL.
 * With no flow log defined, the built-in "default" (id 0) captures everything.
 */
int stor_flowlog_create(struct stor_env *env, struct stor_flowlog *fl, char *msg, size_t msglen);
int stor_flowlog_modify(struct stor_env *env, const struct stor_flowlog *fl, char *msg,
                        size_t msglen);
int stor_flowlog_set_active(struct stor_env *env, const char *name, bool active, char *msg,
                            size_t msglen);
int stor_flowlog_delete(struct stor_env *env, const char *name, bool purge, char *msg,
                        size_t msglen);
int stor_flowlog_get(struct stor_env *env, const char *name, struct stor_flowlog *out);
typedef int stor_flowlog_fn(void *arg, const struct stor_flowlog *fl);
int stor_flowlog_each(struct stor_env *env, stor_flowlog_fn *fn, void *arg);

/* ---- ingest ---- */

/* What the decoder said about one message, for window clocks and SKIPDATA. */
struct stor_msg {
    uint8_t exporter[16];
    uint16_t exporter_port;
    uint32_t domain;
    uint64_t export_ms;
    uint32_t missed;               /* records the sequence numbers show lost just before it */
    char instance_id[FLOW_ID_MAX]; /* "" when the exporter sends no identity */
};

/*
 * A batch: records and message notes from the collector, in arrival order. Owned by the
 * store; get one, fill recs[0..n) (n <= cap) and msgs[0..nmsgs), then submit. recv_ms is the
 * wall clock when the batch was filled.
 */
struct stor_batch {
    struct flow_rec *recs;
    size_t n;
    size_t cap;
    struct stor_msg *msgs;
    size_t nmsgs;
    size_t msgs_cap;
    uint64_t recv_ms;
};

/* A free batch, or NULL when all are queued (the caller counts its records as dropped). */
struct stor_batch *stor_batch_get(struct stor_env *env);
/* Hand a batch to the writer. Never blocks. The batch is the store's again after this. */
void stor_batch_submit(struct stor_env *env, struct stor_batch *b);
/* Give back an unused batch. */
void stor_batch_put(struct stor_env *env, struct stor_batch *b);
/* Block until everything submitted so far is committed (tests, shutdown, benchmarks).
 * 0, or the error of a commit begun after the call; a seal's failure is not a commit's. */
int stor_sync(struct stor_env *env);
/* Seal every window that can be sealed as of wall clock now_ms (tests; the writer does it).
 * 0, or the error of its commit or of one of its seals. */
int stor_seal_due(struct stor_env *env, uint64_t now_ms, bool force_all);

/* Hot backup (backup.c): a consistent copy of the catalog and every partition into dir (an
 * absolute path; created, or empty), while ingest goes on; backup.done is written last.
 * Any thread but the writer's; blocks for the copy. STOR_E_EXISTS when dir is not empty or
 * another backup writes there, STOR_E_INVAL for a relative path; msg says why. */
struct stor_backup_info {
    uint32_t partitions; /* partition files copied */
    uint64_t bytes;      /* bytes written (compacted copies) */
    uint64_t ms;         /* how long it took */
};
int stor_backup(struct stor_env *env, const char *dir, struct stor_backup_info *info, char *msg,
                size_t msglen);

/* Change retention and the size cap of a running store (SIGHUP): maintenance reads them under
 * the store's lock on its next pass (within W_MAINT_PERIOD_MS). 0 = keep / no cap. */
void stor_set_retention(struct stor_env *env, uint32_t retention_s, uint64_t max_bytes);

/* Persisted blobs of other modules (the decoder's template snapshot). */
int stor_meta_put(struct stor_env *env, const char *key, const void *val, size_t len);
/* *val is malloc'ed, owned by the caller. STOR_E_NOTFOUND when absent. */
int stor_meta_get(struct stor_env *env, const char *key, void **val, size_t *len);

struct stor_stats {
    uint64_t records_in;       /* records the writer took */
    uint64_t records_stored;   /* rows written (after aggregation) in open runs */
    uint64_t batches_dropped;  /* stor_batch_get found none free (counted by callers' calls) */
    uint64_t records_unrouted; /* matched no active flow log */
    uint64_t records_dropped;  /* not stored: memory for pending records exhausted (disk full) */
    uint64_t late;             /* records for windows already sealed */
    uint64_t time_skew;        /* records retimed to their receive time (stor_cfg.time_past_s) */
    uint64_t commits;
    uint64_t seals;
    uint64_t nodata;
    uint64_t skipdata;
    uint64_t full_errors; /* commits refused for lack of space */
    int last_error;       /* the last commit's result: 0, or why it failed (stor_strerror) */
    uint64_t partitions_dropped;
    uint64_t compactions;    /* settled partitions rewritten without their free pages */
    uint64_t bytes; /* size of the store's files (as of the last maintenance pass) */
    uint64_t last_commit_ms;
    /* Gauges of the writer, as of its last commit or tick (at most commit_ms old). */
    uint64_t pending_records; /* taken and not yet committed (held in memory) */
    uint64_t queue_batches;   /* batches submitted and not yet taken by the writer */
    uint64_t seal_backlog;    /* windows handed to the sealer and not yet sealed */
    uint64_t open_windows;    /* capture windows in the writer's memory */
    uint64_t commit_last_ms;  /* duration of the last commit (all its partitions) */
    uint64_t commit_max_ms;   /* the longest commit since start */
    uint64_t commit_failing;  /* 1 while commits fail (last_error), else 0 */
    /* Counters of refusals and bounds reached. */
    uint64_t expired;        /* records older than retention: refused (stor_cfg.retention_s) */
    uint64_t fanout_retimed; /* records retimed: their exporter had too many open windows */
    uint64_t clocks_evicted; /* exporter clocks forgotten: unheard an hour, holding no window */
    uint64_t late_pending;   /* late rows in runs of sealed windows, waiting for a reseal */
    uint64_t reseals;        /* sealed windows whose late runs were merged into blocks */
    uint64_t clocks_full;    /* exporters untracked: 65534 clocks at once (they hold no window
                                open; their windows seal on the others' clocks) */
    uint64_t clock_resets;   /* exporter clocks set back: headers an hour behind, 3 in a row */
    uint64_t clock_clamped;  /* export times ahead of receive time or of the exporter's clock
                                by more than the writer lets one message move it */
    /* The store's environments (env.c, part.c; read without a lock). */
    uint64_t partitions_quarantined; /* damaged partition files moved aside as *.bad */
    uint64_t blocks_corrupt;         /* blocks a scan skipped because they failed checks */
    uint64_t open_envs;              /* partition environments open now (max_open_parts) */
    uint64_t partitions;             /* partitions in the store */
    uint64_t partitions_closed;      /* cold partitions closed to stay within max_open_parts */
    uint64_t meta_full;              /* stor_meta_put refused with STOR_E_FULL */
    uint64_t rollups_skipped;        /* seal segments stored without a rollup (too many
                                        groups: STOR_ROLLUP_GROUPS_MAX) */
};
void stor_stats_get(struct stor_env *env, struct stor_stats *out);

/*
 * The stats by name, for STATS and metrics: fn is called once per field of *st in a fixed
 * order with its protocol name ("store-records-in"), value, kind and a one-line help text
 * (static strings). Stops at and returns fn's first non-zero result. A field added to
 * struct stor_stats is added to the table in stats.c, and every consumer shows it.
 */
enum stor_stat_kind {
    STOR_STAT_COUNTER, /* only grows while the process runs */
    STOR_STAT_GAUGE,   /* a level: may go down */
};
typedef int stor_stat_fn(void *arg, const char *name, uint64_t value, enum stor_stat_kind kind,
                         const char *help);
int stor_stats_each(const struct stor_stats *st, stor_stat_fn *fn, void *arg);

/* ---- reading ---- */

/* Fields a condition can name (the record's fields, DESIGN.md §3). */
enum stor_field {
    STOR_F_SRCADDR,
    STOR_F_DSTADDR,
    STOR_F_SRCPORT,
    STOR_F_DSTPORT,
    STOR_F_PROTOCOL,
    STOR_F_PACKETS,
    STOR_F_BYTES,
    STOR_F_START,
    STOR_F_END,
    STOR_F_ACTION,
    STOR_F_LOG_STATUS,
    STOR_F_INSTANCE,
    STOR_F_ACCOUNT,
    STOR_F_EXPORTER,
    STOR_F_TCPFLAGS,
    STOR_F_TOS,
    STOR_F_INPORT,
    STOR_F_OUTPORT,
    STOR_F_COUNT
};

/*
 * One pushed-down condition. Numbers: lo <= value <= hi. Addresses: value within the CIDR.
 * Text (instance, account): equality. A conjunct is an OR of conditions, on one field
 * (`srcport in (22, 3389)`) or on several (`srcport = 22 or dstport = 22`); a scan is an AND
 * of conjuncts. Storage uses them only to skip
 * blocks: rows of blocks it returns may still fail them, so the caller filters exactly.
 */
struct stor_cond {
    uint8_t field; /* enum stor_field */
    uint64_t lo;
    uint64_t hi;
    struct flow_cidr cidr;
    char text[FLOW_ID_MAX];
};

struct stor_conj {
    uint8_t n;
    struct stor_cond any[STOR_MATCH_MAX];
};

struct stor_scan {
    uint64_t from_ms; /* record end time range [from, to); 0, UINT64_MAX for all */
    uint64_t to_ms;
    int32_t flowlog; /* -1 = every flow log */
    uint8_t nconj;
    const struct stor_conj *conj;
};

struct stor_scan_stats {
    uint64_t windows;
    uint64_t blocks;         /* blocks looked at */
    uint64_t blocks_skipped; /* ruled out by summaries or indexes */
    uint64_t records;        /* records handed out */
    uint64_t blocks_corrupt; /* blocks skipped because they failed their checks (the answer
                                lacks their records; also counted in store-blocks-corrupt) */
};

struct stor_snap;
struct stor_iter;

/*
 * A read view of the partitions that exist when it begins. Each partition is read in one
 * LMDB read transaction, begun when a scan first reaches it, so one partition is consistent
 * in itself, but two partitions may be seen at different commits. A snapshot never delays a
 * commit (maps do not grow). Owned by the caller: stor_snap_end().
 */
int stor_snap_begin(struct stor_env *env, struct stor_snap **out);
void stor_snap_end(struct stor_snap *snap);

/*
 * Iterate records of a scan, a block at a time: *recs valid until the next call or
 * stor_iter_close(). Returns 1 with a block, 0 at the end, negative on error. Records carry
 * window (start of their capture window, seconds), flowlog id and log_status in
 * flow_rec fields set by storage (see flow.h).
 */
int stor_iter_open(struct stor_snap *snap, const struct stor_scan *scan, struct stor_iter **out);
int stor_iter_next(struct stor_iter *it, const struct flow_rec **recs, size_t *n);
void stor_iter_stats(const struct stor_iter *it, struct stor_scan_stats *out);
void stor_iter_close(struct stor_iter *it);

/*
 * Projection (stor_iter_project, docs/storage.md "Projection"): a sealed block decodes only
 * the columns named here; every other field of the records it returns holds 0 (or the
 * block's constant for that column), except that without STOR_COL_INSTANCE, _SNID, _ACCOUNT
 * and _RAW the identity strings and raw[] are not written at all (unspecified). Presence
 * bits, flow log, window and the start and end times are always decoded. Open and late runs
 * (row format) decode every column; a caller must read only the fields it asked for.
 */
#define STOR_COL_SRCADDR   (1ull << 0)
#define STOR_COL_DSTADDR   (1ull << 1)
#define STOR_COL_EXPORTER  (1ull << 2) /* the exporter's address */
#define STOR_COL_INSTANCE  (1ull << 3)
#define STOR_COL_SNID      (1ull << 4)
#define STOR_COL_ACCOUNT   (1ull << 5)
#define STOR_COL_RAW       (1ull << 6) /* raw_len and raw[] */
#define STOR_COL_VERSION   (1ull << 7)
#define STOR_COL_FLAGS     (1ull << 8)
#define STOR_COL_DIRECTION (1ull << 9)
#define STOR_COL_ACTION    (1ull << 10)
#define STOR_COL_LOGSTATUS (1ull << 11)
#define STOR_COL_PROTOCOL  (1ull << 12)
#define STOR_COL_TOS       (1ull << 13)
#define STOR_COL_TCPFLAGS  (1ull << 14)
#define STOR_COL_SRCPORT   (1ull << 15)
#define STOR_COL_DSTPORT   (1ull << 16)
#define STOR_COL_EXPPORT   (1ull << 17)
#define STOR_COL_DOMAIN    (1ull << 18)
#define STOR_COL_INPORT    (1ull << 19)
#define STOR_COL_OUTPORT   (1ull << 20)
#define STOR_COL_SAMPLING  (1ull << 21)
#define STOR_COL_RTT       (1ull << 22)
#define STOR_COL_SKIPPED   (1ull << 23)
#define STOR_COL_PACKETS   (1ull << 24)
#define STOR_COL_BYTES     (1ull << 25)
/* Decode only the columns cols (STOR_COL_* bits; 0, the default, = every column) from the
 * next block on. */
void stor_iter_project(struct stor_iter *it, uint64_t cols);
/*
 * What a scan would read, without decoding anything (EXPLAIN): windows visited, blocks and
 * run items looked at, blocks its summaries skip, and records left to decode (blocks kept
 * plus runs). 0 or a negative error.
 */
int stor_scan_plan(struct stor_snap *snap, const struct stor_scan *scan,
                   struct stor_scan_stats *out);

/* One capture window, as WINDOWS shows it. */
struct stor_window_info {
    uint16_t flowlog;
    uint32_t start_s;
    uint32_t window_s;
    bool sealed;
    uint64_t records;
    uint64_t late;
    uint32_t blocks;
    uint64_t bytes;
};
typedef int stor_window_fn(void *arg, const struct stor_window_info *w);
int stor_windows_each(struct stor_snap *snap, uint64_t from_ms, uint64_t to_ms, stor_window_fn *fn,
                      void *arg);

/* ---- live tail: runs as they are committed (tail.c) ---- */

/*
 * While a tail wants them, the committer keeps the last STOR_TAIL_RUNS runs (at most
 * STOR_TAIL_BYTES of row blocks, each at most STOR_TAIL_BLOCK_MAX) in memory; a run not kept
 * (no tail wanted it, a tail held the ring at that moment, or it fell out) is missed, and
 * stor_tail_next says how many were.
 */
#define STOR_TAIL_RUNS      4096
#define STOR_TAIL_BYTES     (16u << 20)
#define STOR_TAIL_BLOCK_MAX (1u << 20)
struct stor_tail_run {
    uint64_t seq; /* its number in the commit sequence */
    size_t len;   /* bytes of its row block */
};
/* A tail begins (on: true) or ends. -ENOMEM when the ring cannot be had. Any thread. */
int stor_tail_want(struct stor_env *env, bool on);
/* The number the next committed run will get: a new tail starts there. Any thread. */
uint64_t stor_tail_head(struct stor_env *env);
/*
 * The first kept run numbered `from` or after: 1, *out, and its row block copied into buf
 * (STOR_TAIL_BLOCK_MAX bytes); 0 when none is committed yet (out->seq is then the number
 * to ask for next). *missed counts the runs from
 * `from` that are not kept. Any thread; the committer never waits for it.
 */
int stor_tail_next(struct stor_env *env, uint64_t from, struct stor_tail_run *out, uint8_t *buf,
                   uint64_t *missed);
/* A run's records into recs (cap of them): 0 and *n, STOR_E_LIMIT when it has more than cap
 * (*n says how many), STOR_E_CORRUPT. */
int stor_tail_decode(const uint8_t *buf, size_t len, struct flow_rec *recs, size_t cap, size_t *n);

/* ---- window rollups (rollup.c, docs/storage.md "Rollups") ---- */

/* Groups a seal segment's rollup may hold; a segment with more gets none (its window is
 * then answered by the scan) and store-rollups-skipped counts it. */
#define STOR_ROLLUP_GROUPS_MAX 16384
/* The presence bits a rollup row keeps (the other dimensions are always present). */
#define STOR_ROLLUP_HAS (FLOW_HAS_PROTOCOL | FLOW_HAS_DIRECTION | FLOW_HAS_INSTANCE)

/* One rollup row: the totals of a window's rows that share every dimension value. A field
 * whose presence bit is clear is 0 ("" for the instance id). */
struct stor_rollup_row {
    uint32_t present; /* bits of STOR_ROLLUP_HAS */
    uint8_t protocol;
    uint8_t direction;
    uint8_t action;
    uint8_t log_status;
    uint8_t exporter[16];
    char instance_id[FLOW_ID_MAX];
    uint64_t records;
    /* [0] packets, [1] bytes: rows where it is present, their sum, min and max */
    uint64_t n[2], sum[2], min[2], max[2];
};

/*
 * The rollup of window (flowlog, start_s), read in one read transaction of its own: 1 with
 * *rows (owned by the caller: free()) and *n when it answers for the window exactly (sealed,
 * no runs left, every sealed block covered by a rollup), 0 when it does not (the caller scans
 * the window), negative on error.
 */
int stor_rollup_get(struct stor_env *env, uint16_t flowlog, uint32_t start_s,
                    struct stor_rollup_row **rows, size_t *n);
/* Seal segments stored without a rollup (over STOR_ROLLUP_GROUPS_MAX), since the start. */
uint64_t stor_rollup_skipped(void);
/* ---- the ClickHouse outbox (outbox.c, docs/scale-out.md) ---- */

/* One seal still owed to ClickHouse: blocks [first_block, end_block) of a sealed window. Each
 * seal segment and each reseal of late records is an item of its own; its blocks are
 * immutable. */
struct stor_outbox_item {
    uint32_t part_s;   /* the partition that holds it */
    uint16_t flowlog;
    uint32_t start_s;  /* window start */
    uint32_t window_s; /* window length */
    uint32_t first_block;
    uint32_t end_block; /* exclusive */
    uint64_t rows;
    uint64_t sealed_ms; /* wall clock of the seal */
};
/* Called with each item; a non-zero return stops the walk and is returned. fn must not call
 * into the store (collect, then act). */
typedef int stor_outbox_fn(void *arg, const struct stor_outbox_item *it);
/* Every item, oldest partition first, then (flow log, window, first block). Any thread. */
int stor_outbox_each(struct stor_env *env, stor_outbox_fn *fn, void *arg);
/* The records of an item's blocks, block by block in stored order (recs valid during the
 * call). STOR_E_NOTFOUND when retention dropped its partition. Any thread. */
typedef int stor_outbox_rec_fn(void *arg, const struct flow_rec *recs, size_t n);
int stor_outbox_read(struct stor_env *env, const struct stor_outbox_item *it,
                     stor_outbox_rec_fn *fn, void *arg);
/* Remove a shipped item (one small write transaction). 0 also when already gone. */
int stor_outbox_done(struct stor_env *env, const struct stor_outbox_item *it);
/* Items (and their rows) that retention dropped before they were shipped. */
void stor_outbox_dropped(struct stor_env *env, uint64_t *items, uint64_t *rows);

#endif
