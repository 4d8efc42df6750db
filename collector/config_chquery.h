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

struct qry_session_cfg;

struct coll_chq_cfg {
    char url[256];     /* the first shard's HTTP URL (queries read the Distributed table); "" */
    char database[64]; /* "" = flowlog */
    char user[64];
    char password[128];
    bool backend_clickhouse; /* [query] backend = clickhouse */
};

/*
 * section.key when it is one of ours: 0 when set, -EINVAL with msg when the value is wrong;
 * 1 when the key is not ours (config.c goes on with its own table).
 */
int coll_chq_set(struct coll_chq_cfg *c, const char *section, const char *key, const char *value,
                 char *msg, size_t msglen);
/* Fill a session's ClickHouse settings from c (which must outlive the session). */
void coll_chq_session(const struct coll_chq_cfg *c, struct qry_session_cfg *out);

#endif
