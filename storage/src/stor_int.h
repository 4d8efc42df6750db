/* SPDX-License-Identifier: MIT */
/*
 * Storage internals shared by its source files. Private to storage/ and its tests; the only
 * header outside storage/src that may not see LMDB is stor.h, so lmdb.h is included here.
 */
#ifndef FLOWLOG_STOR_INT_H
#define FLOWLOG_STOR_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "agg.h"
#include "block.h"
#include "stor.h"

#define STOR_FORMAT_VERSION 2u /* 2: row blocks v3 (rows.c) */

/* One partition: an LMDB environment holding the windows that start in [start_s, +span). */
struct stor_part {
    uint32_t start_s;
    MDB_env *mdb;
    MDB_dbi windows; /* (flowlog u16, window u32) -> window record */
    MDB_dbi runs;    /* (flowlog, window, run u32) -> block of an open (or late) run */
    MDB_dbi blocks;  /* (flowlog, window, block u32) -> sealed block */
    MDB_dbi sums;    /* (flowlog, window, block u32) -> block summary */
    uint64_t map_bytes;
    /* Readers hold it shared for the life of a read txn; growing the map takes it exclusive
     * (LMDB: no txn may be active in this process while mdb_env_set_mapsize runs). */
    pthread_rwlock_t grow;
    int refs;             /* snapshots holding the partition open, under stor_env.lock */
    bool doomed;          /* retention dropped it: unlink when refs reaches 0 */
    bool compact_checked; /* settled and compacted (or found compact): not looked at again */
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

struct stor_env {
    struct stor_cfg cfg;
    char *dir;
    MDB_env *cat;
    MDB_dbi meta;             /* text key -> blob */
    MDB_dbi flowlogs;         /* id u16 -> flow-log definition */
    pthread_mutex_t lock;     /* partitions list and flow-log definitions */
    struct stor_part **parts; /* sorted by start_s */
    size_t nparts;
    size_t parts_cap;
    struct stor_flowlog *defs; /* a copy of the catalog's definitions */
    size_t ndefs;
    uint32_t defs_gen;       /* bumped on every change, so the writer re-reads */
    struct stor_stats stats; /* under lock */
    struct stor_writer *w;
};

/* env.c */
int stor__err(int rc); /* MDB_* and errno -> our band / -errno */
int stor__part_get(struct stor_env *env, uint32_t start_s, bool create, struct stor_part **out);
void stor__part_ref(struct stor_env *env, struct stor_part *p);
void stor__part_unref(struct stor_env *env, struct stor_part *p);
int stor__part_grow(struct stor_part *p, uint64_t max_bytes);
int stor__part_compact(struct stor_env *env, struct stor_part *p);
uint32_t stor__part_start(const struct stor_env *env, uint32_t t_s);
void stor__msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/* keys.c: big-endian keys, so LMDB's byte order is time order. */
#define STOR_KEY_WIN  6  /* flowlog u16, window u32 */
#define STOR_KEY_ITEM 10 /* flowlog u16, window u32, item u32 */
void stor__key_win(uint8_t k[STOR_KEY_WIN], uint16_t flowlog, uint32_t window);
void stor__key_item(uint8_t k[STOR_KEY_ITEM], uint16_t flowlog, uint32_t window, uint32_t item);
void stor__key_parse(const uint8_t *k, size_t len, uint16_t *flowlog, uint32_t *window,
                     uint32_t *item);
void stor__put_be(uint8_t *p, uint64_t v, size_t n);
uint64_t stor__get_be(const uint8_t *p, size_t n);

/* flowlog.c */
int stor__flowlogs_load(struct stor_env *env);
/* The flow logs (ids) a record belongs to; returns how many (0: none active matched). */
size_t stor__route(const struct stor_flowlog *defs, size_t ndefs, const struct flow_rec *r,
                   uint16_t *ids, size_t cap);

#endif
