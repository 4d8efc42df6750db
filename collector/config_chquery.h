/* SPDX-License-Identifier: MIT */
/*
 * The query side's ClickHouse settings (config_chquery.c): `[clickhouse] url, database,
 * user, password` and `[query] backend`. chsink's config_clickhouse.c reads the same
 * [clickhouse] keys for the sink (and more of them); the two parsers merge into one.
 */
#ifndef FLOWLOG_CONFIG_CHQUERY_H
#define FLOWLOG_CONFIG_CHQUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qry_session_cfg;

#define COLL_CH_SHARDS_MAX 16 /* [clickhouse] url lines (shards the sink writes to) */
#define COLL_CH_URL_MAX    256

struct coll_chq_cfg {
    char url[COLL_CH_URL_MAX]; /* the first shard's HTTP URL (queries read the Distributed
                                  table); "" */
    char database[64];         /* "" = flowlog */
    char user[64];
    char password[128];
    bool backend_clickhouse; /* [query] backend = clickhouse */
    /* The sink's (collector/sink.c, docs/scale-out.md): every url line is a shard. */
    char urls[COLL_CH_SHARDS_MAX][COLL_CH_URL_MAX];
    size_t nurls;
    uint32_t batch_rows;       /* rows per INSERT, 1 ... 500000. 100000 */
    bool replicated;           /* ReplicatedMergeTree tables */
    uint32_t outbox_lag_max_s; /* [health] outbox_lag_max: oldest unshipped seal older: not OK;
                                  0 = off. 600 */
};

/* The defaults: database flowlog, batch_rows 100000, outbox_lag_max 600 s, the rest empty. */
void coll_chq_default(struct coll_chq_cfg *c);
/*
 * section.key when it is one of ours: 0 when set, -EINVAL with msg when the value is wrong;
 * 1 when the key is not ours (config.c goes on with its own table).
 */
int coll_chq_set(struct coll_chq_cfg *c, const char *section, const char *key, const char *value,
                 char *msg, size_t msglen);
/* Fill a session's ClickHouse settings from c (which must outlive the session). */
void coll_chq_session(const struct coll_chq_cfg *c, struct qry_session_cfg *out);

#endif
