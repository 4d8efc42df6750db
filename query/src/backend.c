/* SPDX-License-Identifier: MIT */
/*
 * The BACKEND verb: which engine a session's QUERY and EXPLAIN run on, `local` (the store
 * of this flowlogd) or `clickhouse` (backend_ch.c, when [clickhouse] url is set). The
 * session starts on [query] backend. session.c dispatches the verb here and opens
 * backend_ch.c's executor instead of the local one when the session is on ClickHouse.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <strings.h>

#include "backend_int.h"

void
qry__backend_cmd(struct qry__backend *b, const struct qry_session_cfg *cfg, const char *arg,
                 char *msg, size_t cap)
{
    size_t n = strcspn(arg, " \t");
    if (n == 0) {
        snprintf(msg, cap, "OK backend %s", b->clickhouse ? "clickhouse" : "local");
    } else if (arg[n + strspn(arg + n, " \t")] != '\0') {
        snprintf(msg, cap, "ERR ARGS BACKEND takes one word: local or clickhouse");
    } else if (n == 5 && strncasecmp(arg, "local", 5) == 0) {
        b->clickhouse = false;
        snprintf(msg, cap, "OK backend local");
    } else if (n != 10 || strncasecmp(arg, "clickhouse", 10) != 0) {
        snprintf(msg, cap, "ERR ARGS unknown backend '%.*s': local or clickhouse", (int) n, arg);
    } else if (cfg->clickhouse.url == NULL || cfg->clickhouse.url[0] == '\0') {
        snprintf(msg, cap, "ERR UNAVAILABLE no ClickHouse configured ([clickhouse] url)");
    } else {
        b->clickhouse = true;
        snprintf(msg, cap, "OK backend clickhouse");
    }
}
