/* SPDX-License-Identifier: MIT */
/*
 * Storage internals shared by its source files. Private to storage/ and its tests; the only
 * header outside storage/src that may not see LMDB is stor.h, so lmdb.h is included here.
 */
#ifndef FLOWLOG_STOR_INT_H
#define FLOWLOG_STOR_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "stor.h"

#define STOR_FORMAT_VERSION 1u

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
    int refs; /* snapshots holding the partition open, under stor_env.lock */
    bool doomed; /* retention dropped it: unlink when refs reaches 0 */
};

struct stor_env {
    struct stor_cfg cfg;
    char *dir;
    MDB_env *cat;
    MDB_dbi meta;      /* text key -> blob */
    MDB_dbi flowlogs;  /* id u16 -> flow-log definition */
    pthread_mutex_t lock; /* partitions list and flow-log definitions */
    struct stor_part **parts; /* sorted by start_s */
    size_t nparts;
    size_t parts_cap;
    struct stor_flowlog *defs; /* a copy of the catalog's definitions */
    size_t ndefs;
    uint32_t defs_gen;         /* bumped on every change, so the writer re-reads */
    struct stor_stats stats;
};

/* env.c */
int stor__err(int rc); /* MDB_* and errno -> our band / -errno */
int stor__part_get(struct stor_env *env, uint32_t start_s, bool create, struct stor_part **out);
void stor__part_ref(struct stor_env *env, struct stor_part *p);
void stor__part_unref(struct stor_env *env, struct stor_part *p);
int stor__part_grow(struct stor_part *p, uint64_t max_bytes);
uint32_t stor__part_start(const struct stor_env *env, uint32_t t_s);
void stor__msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
