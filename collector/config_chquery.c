/* SPDX-License-Identifier: MIT */
/*
 * `[clickhouse] url, database, user, password` and `[query] backend = local|clickhouse` for
 * BACKEND clickhouse (docs/query.md, docs/scale-out.md). config.c calls coll_chq_set
 * first for every key; the settings live in [query]'s struct so that the query server gets
 * them with the rest of it. The sink (collector/sink.c) reads the same section: every `url`
 * line is a shard (the first is also the query side's), `batch_rows` and `replicated`; and
 * `[health] outbox_lag_max` for the outbox-lag health check.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "chs.h"
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
    if (c->nurls == COLL_CH_SHARDS_MAX) {
        snprintf(msg, msglen, "clickhouse.url: more than %d shards", COLL_CH_SHARDS_MAX);
        return -EINVAL;
    }
    int rc = set_str(c->urls[c->nurls], COLL_CH_URL_MAX, "url", value, msg, msglen);
    if (rc == 0 && value[0] != '\0') {
        c->nurls++;
    }
    if (rc == 0 && c->nurls <= 1) {
        rc = set_str(c->url, sizeof(c->url), "url", value, msg, msglen);
    }
    return rc;
}

/* A whole number in [lo, hi], with an optional s/m/h suffix when `dur`. */
static int
set_u32(uint32_t *dst, const char *name, const char *value, uint32_t lo, uint32_t hi, bool dur,
        char *msg, size_t msglen)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    unsigned long long mul = 1;
    if (dur && (*end == 's' || *end == 'm' || *end == 'h')) {
        mul = *end == 's' ? 1 : *end == 'm' ? 60 : 3600;
        end++;
    }
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v > hi / mul ||
        v * mul < lo) {
        snprintf(msg, msglen, "%s: '%s' is not a number in %u ... %u%s", name, value, lo, hi,
                 dur ? " (s, m or h)" : "");
        return -EINVAL;
    }
    *dst = (uint32_t) (v * mul);
    return 0;
}

static int
set_bool(bool *dst, const char *name, const char *value, char *msg, size_t msglen)
{
    if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
        strcmp(value, "1") == 0) {
        *dst = true;
    } else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
               strcmp(value, "0") == 0) {
        *dst = false;
    } else {
        snprintf(msg, msglen, "%s: '%s' is not true or false", name, value);
        return -EINVAL;
    }
    return 0;
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

void
coll_chq_default(struct coll_chq_cfg *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->database, sizeof(c->database), "flowlog");
    c->batch_rows = CHS_BATCH_ROWS_DEFAULT;
    c->outbox_lag_max_s = 600;
}

int
coll_chq_set(struct coll_chq_cfg *c, const char *section, const char *key, const char *value,
             char *msg, size_t msglen)
{
    if (strcmp(section, "query") == 0) {
        return strcmp(key, "backend") == 0 ? set_backend(c, value, msg, msglen) : 1;
    }
    if (strcmp(section, "health") == 0) {
        return strcmp(key, "outbox_lag_max") == 0
                   ? set_u32(&c->outbox_lag_max_s, "health.outbox_lag_max", value, 0, 30u * 86400u,
                             true, msg, msglen)
                   : 1;
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
    if (strcmp(key, "batch_rows") == 0) {
        return set_u32(&c->batch_rows, "clickhouse.batch_rows", value, 1, CHS_BATCH_ROWS_MAX, false,
                       msg, msglen);
    }
    if (strcmp(key, "replicated") == 0) {
        return set_bool(&c->replicated, "clickhouse.replicated", value, msg, msglen);
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
