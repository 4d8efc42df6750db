/* SPDX-License-Identifier: MIT */
/*
 * `[clickhouse] url, database, user, password` and `[query] backend = local|clickhouse` for
 * BACKEND clickhouse (docs/query.md, docs/scale-out.md). config.c calls coll_chq_set
 * first for every key; the settings live in [query]'s struct so that the query server gets
 * them with the rest of it. Keys of [clickhouse] that belong to the sink (batch_rows,
 * replicated) are accepted and left to chsink's parser when the two merge.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_chquery.h"
#include "qry.h"

static int
set_str(char *dst, size_t cap, const char *key, const char *value, char *msg, size_t msglen)
{
    if (strlen(value) >= cap) {
        snprintf(msg, msglen, "clickhouse.%s: longer than %zu characters", key, cap - 1);
        return -EINVAL;
    }
    snprintf(dst, cap, "%s", value);
    return 0;
}

static int
set_url(struct coll_chq_cfg *c, const char *value, char *msg, size_t msglen)
{
    if (value[0] != '\0' && strncmp(value, "http://", 7) != 0 &&
        strncmp(value, "https://", 8) != 0) {
        snprintf(msg, msglen, "clickhouse.url: '%s' is not an http:// or https:// URL", value);
        return -EINVAL;
    }
    return set_str(c->url, sizeof(c->url), "url", value, msg, msglen);
}

static int
set_database(struct coll_chq_cfg *c, const char *value, char *msg, size_t msglen)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_')) {
            snprintf(msg, msglen, "clickhouse.database: '%s' is not a name of [A-Za-z0-9_]", value);
            return -EINVAL;
        }
    }
    return set_str(c->database, sizeof(c->database), "database", value, msg, msglen);
}

static int
set_backend(struct coll_chq_cfg *c, const char *value, char *msg, size_t msglen)
{
    if (strcasecmp(value, "local") == 0 || strcasecmp(value, "clickhouse") == 0) {
        c->backend_clickhouse = strcasecmp(value, "clickhouse") == 0;
        return 0;
    }
    snprintf(msg, msglen, "query.backend: '%s' is not local or clickhouse", value);
    return -EINVAL;
}

int
coll_chq_set(struct coll_chq_cfg *c, const char *section, const char *key, const char *value,
             char *msg, size_t msglen)
{
    if (strcmp(section, "query") == 0) {
        return strcmp(key, "backend") == 0 ? set_backend(c, value, msg, msglen) : 1;
    }
    if (strcmp(section, "clickhouse") != 0) {
        return 1;
    }
    if (strcmp(key, "url") == 0) {
        return set_url(c, value, msg, msglen);
    }
    if (strcmp(key, "database") == 0) {
        return set_database(c, value, msg, msglen);
    }
    if (strcmp(key, "user") == 0) {
        return set_str(c->user, sizeof(c->user), key, value, msg, msglen);
    }
    if (strcmp(key, "password") == 0) {
        return set_str(c->password, sizeof(c->password), key, value, msg, msglen);
    }
    if (strcmp(key, "batch_rows") == 0 || strcmp(key, "replicated") == 0) {
        return 0; /* the sink's */
    }
    snprintf(msg, msglen,
             "clickhouse.%s: unknown key (url, database, user, password, "
             "batch_rows, replicated)",
             key);
    return -EINVAL;
}

void
coll_chq_session(const struct coll_chq_cfg *c, struct qry_session_cfg *out)
{
    out->clickhouse.url = c->url[0] != '\0' ? c->url : NULL;
    out->clickhouse.database = c->database[0] != '\0' ? c->database : "flowlog";
    out->clickhouse.user = c->user;
    out->clickhouse.password = c->password;
    out->backend_clickhouse = c->backend_clickhouse;
}
