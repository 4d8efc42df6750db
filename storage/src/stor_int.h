/* SPDX-License-Identifier: MIT */
/*
 * Storage internals shared by its source files. Private to storage/ and its tests; the only
 * header outside storage/src that may not see LMDB is stor.h, so lmdb.h is included here.
 */
#ifndef FLOWLOG_STOR_INT_H
#define FLOWLOG_STOR_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "agg.h"
#include "flow_bytes.h"
#include "block.h"
#include "stor.h"

#define STOR_FORMAT_VERSION 2u /* 2: row blocks v3 (rows.c) */

/*
 * One partition: an LMDB environment holding the windows that start in [start_s, +span).
 * Its map is sized once (stor_cfg.map_max_bytes; only address space: without MDB_WRITEMAP
 * the file grows as pages are written), so no map ever grows under a reader.
 *
 * Every field after the databases is under stor_env.lock. `busy` marks disk I/O on the
 * partition that runs outside the lock (creating, reopening, closing a cold environment,
 * compacting, renaming a dropped one's files): whoever finds it set waits on stor_env.cond,
 * and only for this partition.
 */
struct stor_part {
    uint32_t start_s;
    MDB_env *mdb;       /* NULL while closed (cold, LRU) or not yet created */
    MDB_dbi windows;    /* (flowlog u16, window u32) -> window record */
    MDB_dbi runs;       /* (flowlog, window, run u32) -> block of an open (or late) run */
    MDB_dbi blocks;     /* (flowlog, window, block u32) -> sealed block */
    MDB_dbi sums;       /* (flowlog, window, block u32) -> block summary */
    MDB_dbi rollups;    /* (flowlog, window, first block u32) -> rollup (rollup.c) */
    MDB_dbi outbox;     /* (flowlog, window, first block u32) -> unshipped seal (outbox.c) */
    bool outbox_on;     /* stor_cfg.outbox: seals add outbox keys */
    uint64_t map_bytes; /* fixed at open */
    int refs;             /* snapshots, purges and stor__part_acquire holders: keep it listed */
    int users;            /* of those, the ones with a transaction on it: keep it open */
    bool doomed;          /* retention dropped it: its files go when refs reaches 0 */
    bool compact_checked; /* settled and compacted (or found compact): not looked at again */
    bool busy;            /* I/O on it outside stor_env.lock; wait on stor_env.cond */
    bool dead;            /* files renamed to p-<start>.mdb.dead.<gen>: the live name is free */
    uint32_t gen;         /* generation: unique per partition object, names its dead files */
    uint64_t used_tick;   /* last use, for closing the least recently used */
    uint64_t file_bytes;  /* file size when last looked at (stats) */
};

/* Window record value (partition "windows" DB), big-endian:
 *   offset size  field
 *   0      1     layout version (1)
 *   1      1     state: 0 open, 1 sealed
 *   2      4     window length, seconds
 *   6      4     next run number
 *   10     4     sealed blocks
 *   14     8     rows stored (runs before sealing; final rows after)
 *   22     8     late records (arrived after sealing)
 *   30     8     bytes of stored values
 *   38     8     records received                                         (46 bytes) */
#define STOR_WIN_BYTES 46

#define STOR_INST_MAX 4096 /* instances a window remembers (NODATA, SKIPDATA) */

struct stor_inst {
    char id[FLOW_ID_MAX];
    uint8_t exporter[16];
    uint32_t domain;
    bool seen;       /* sent records in this window */
    uint64_t missed; /* sequence loss attributed to this window */
};

/* A capture window's record (win.c reads and writes it; the writer's in-memory state around
 * it is struct w_win in writer_int.h). */
struct stor_win {
    uint16_t flowlog;
    uint32_t start_s;
    uint32_t window_s;
    bool sealed;
    uint32_t next_run;
    uint32_t blocks;
    uint64_t rows;
    uint64_t late;
    uint64_t bytes;
    uint64_t received;
};

struct stor_writer;

/* The store's own counters, read without a lock (stor__env_stats_fill). */
struct stor_env_counters {
    _Atomic uint64_t quarantined;    /* damaged partition files renamed to *.bad */
    _Atomic uint64_t blocks_corrupt; /* blocks or summaries a scan skipped: failed checks */
    _Atomic uint64_t open_envs;      /* partition environments open now */
    _Atomic uint64_t partitions;     /* partitions known (open or closed cold) */
    _Atomic uint64_t part_closes;    /* cold partitions closed to stay within max_open_parts */
    _Atomic uint64_t bytes;          /* the store's files, as last looked at */
    _Atomic uint64_t meta_full;      /* stor_meta_put refused: over STOR_META_MAX or map full */
    _Atomic uint64_t outbox_dropped;      /* outbox keys lost to retention before shipping */
    _Atomic uint64_t outbox_dropped_rows; /* their rows */
};

struct stor_env {
    struct stor_cfg cfg;
    char *dir;
    int lock_fd; /* flock'ed store.lock: one process per store */
    MDB_env *cat;
    MDB_dbi meta;             /* text key -> blob */
    MDB_dbi flowlogs;         /* id u16 -> flow-log definition */
    pthread_mutex_t lock;     /* partitions list and flow-log definitions; never held over I/O */
    pthread_cond_t cond;      /* a partition's busy mark was cleared */
    struct stor_part **parts; /* sorted by start_s */
    size_t nparts;
    size_t parts_cap;
    uint32_t gen_next;         /* the next partition generation */
    uint64_t use_tick;         /* LRU clock */
    struct stor_flowlog *defs; /* a copy of the catalog's definitions */
    size_t ndefs;
    uint32_t defs_gen;       /* bumped on every change, so the writer re-reads */
    pthread_mutex_t admin;   /* serialises flow-log changes (check, allocate, put, reload) */
    struct stor_stats stats; /* under lock */
    struct stor_env_counters ctr;
    struct stor_writer *w;
    struct stor_tail *tail; /* the commit sequence for live tails (tail.c) */
};

/* tail.c: the commit sequence. The committer publishes a window's committing rows (its
 * runs, one per block) once their transaction has committed. */
struct stor_rows;
int stor__tail_init(struct stor_env *env);
void stor__tail_free(struct stor_env *env);
void stor__tail_publish(struct stor_env *env, const struct stor_rows *rs);

/* env.c */
int stor__err(int rc); /* MDB_* and errno -> our band / -errno */
/* A write's error: as stor__err, with EIO told apart (STOR_E_IO: short write, disk filling;
 * STOR_E_DISK: the device failed). For the writer's commits too. */
int stor__err_env(const struct stor_env *env, int rc);
#define STOR_FULL_SLACK_BYTES (64u << 20) /* free space below which an EIO counts as full */
uint32_t stor__part_start(const struct stor_env *env, uint32_t t_s);
void stor__msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Tell the host (stor_cfg.notice) about a damaged file or block; any thread. */
void stor__notice(struct stor_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* fsync path: a file's data and size, or (dir) a directory's entries, so that names created
 * or renamed in it survive a power loss. 0 or -errno. */
int stor__path_sync(const char *path, bool dir);
/* Create or open the LMDB environment at path (a file, MDB_NOSUBDIR) with its lock file's
 * blocks reserved first, so that a full disk is an error, never SIGBUS. */
int stor__mdb_open(MDB_env **out, const char *path, uint64_t map_bytes, unsigned maxdbs);
/* Fill the store's own fields of st from values read without a lock. */
void stor__env_stats_fill(struct stor_env *env, struct stor_stats *st);

/* part.c: partitions */
#define STOR_META_MAX (256u << 20) /* largest stor_meta_put blob */
/*
 * The partition starting at start_s (created when create), or STOR_E_NOTFOUND: referenced and
 * its environment open until stor__part_release().
 */
int stor__part_acquire(struct stor_env *env, uint32_t start_s, bool create, struct stor_part **out);
void stor__part_release(struct stor_env *env, struct stor_part *p);
void stor__part_ref(struct stor_env *env, struct stor_part *p);
void stor__part_unref(struct stor_env *env, struct stor_part *p);
/* Open a referenced partition's environment if it was closed cold (waits while it is busy)
 * and keep it open until stor__part_unuse. */
int stor__part_use(struct stor_env *env, struct stor_part *p);
void stor__part_unuse(struct stor_env *env, struct stor_part *p);
int stor__part_compact(struct stor_env *env, struct stor_part *p);
/* Flush a partition's last commit (meta page included) to disk: for the writer to call when
 * the partition stops being the current one. 0, STOR_E_NOTFOUND or an error. */
int stor__part_sync(struct stor_env *env, uint32_t start_s);
/* A file may end this many pages short of its meta page's last page and still be sound. */
#define STOR_TAIL_SLACK_PAGES 16
/* 0 when e's file holds the pages its meta page can reach (a short tail is filled with zero
 * pages), STOR_E_CORRUPT when it is truncated. */
int stor__env_size_check(MDB_env *e);
/* At open: find p-*.mdb files, check each, quarantine the damaged, remove leftovers. */
int stor__parts_scan(struct stor_env *env);
void stor__parts_close(struct stor_env *env);

/* win.c: window records */
void stor__win_write(const struct stor_win *w, uint8_t out[STOR_WIN_BYTES]);
int stor__win_read(const uint8_t *p, size_t len, struct stor_win *w);

/* write.c / seal.c (writer_int.h has the rest) */
int stor__writer_start(struct stor_env *env);
/* Stop the writer's threads after committing what was taken; 0, or the error of the last
 * commit when rows were still failing (they are freed, and counted as dropped). */
int stor__writer_stop(struct stor_env *env);
/* A window handed from the writer to the sealer thread (seal.c). */
struct stor_seal_job {
    uint16_t flowlog;
    uint32_t start_s;
    uint32_t window_s;
    bool aggregate;
    uint32_t max_run;       /* runs below this are the window's data */
    bool reseal;            /* a sealed window's late runs, merged into blocks of their own */
    uint64_t late_rows;     /* late rows the reseal covers (counted by the writer) */
    bool relearn;           /* left open by an earlier run: mark instances seen from its rows */
    struct stor_inst *inst; /* the window's instances, owned by the job */
    size_t ninst;
    int rc; /* results */
    uint32_t nodata;
    uint32_t skipdata;
    uint64_t rows;
    struct stor_seal_job *next;
};
/* Seal one window; agg is the sealer's scratch. 0 or an error (the runs stay as they were). */
int stor__seal_job(struct stor_env *env, struct stor_seal_job *job, struct stor_agg *agg);

/* outbox.c: the seal's outbox key (no-op unless p->outbox_on or nblocks is 0), inside the
 * seal's write transaction; and the count of a partition retention is dropping (p referenced). */
int stor__outbox_put(MDB_txn *txn, struct stor_part *p, const struct stor_seal_job *job,
                     uint32_t first_block, uint32_t nblocks, uint64_t rows);
void stor__outbox_dropping(struct stor_env *env, struct stor_part *p);

/* keys.c: big-endian keys, so LMDB's byte order is time order. */
#define STOR_KEY_WIN  6  /* flowlog u16, window u32 */
#define STOR_KEY_ITEM 10 /* flowlog u16, window u32, item u32 */
void stor__key_win(uint8_t k[STOR_KEY_WIN], uint16_t flowlog, uint32_t window);
void stor__key_item(uint8_t k[STOR_KEY_ITEM], uint16_t flowlog, uint32_t window, uint32_t item);
void stor__key_parse(const uint8_t *k, size_t len, uint16_t *flowlog, uint32_t *window,
                     uint32_t *item);
/* flowlog.c */
int stor__flowlogs_load(struct stor_env *env);
/* The flow logs (ids) a record belongs to; returns how many (0: none active matched). */
size_t stor__route(const struct stor_flowlog *defs, size_t ndefs, const struct flow_rec *r,
                   uint16_t *ids, size_t cap);

#endif
