/* SPDX-License-Identifier: MIT */
/*
 * [query] keys of the query engine (config.c's table holds the query server's): `rollups`.
 * The setting is process-wide (qry_rollups_set), so flowlogd applies it when the config is
 * read; it is for comparison and tests (docs/query.md "Rollups"), on by default.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "coll.h"
#include "qry.h"

int
coll_cfg_query(const char *section, const char *key, const char *value, char *msg, size_t msglen)
{
    if (strcmp(section, "query") != 0 || strcmp(key, "rollups") != 0) {
        return 0;
    }
    if (strcasecmp(value, "on") == 0 || strcasecmp(value, "true") == 0) {
        qry_rollups_set(true);
        return 1;
    }
    if (strcasecmp(value, "off") == 0 || strcasecmp(value, "false") == 0) {
        qry_rollups_set(false);
        return 1;
    }
    snprintf(msg, msglen, "query.rollups: '%s' is not on or off", value);
    return -EINVAL;
}
