/* SPDX-License-Identifier: MIT */
/*
 * Answering stats, top and timechart from window rollups (rollup.c, docs/query.md
 * "Rollups"). Private to query/ and its unit tests.
 */
#ifndef FLOWLOG_QRY_ROLLUP_H
#define FLOWLOG_QRY_ROLLUP_H

#include "exec_int.h"

/* Why q's shape cannot be answered from rollups, or NULL when it can (windows decide the
 * rest: qry__rollup_window_why). */
const char *qry__rollup_why(const struct qry *q);
/* Why window w cannot be answered from its rollup, as far as the query decides (NULL: it
 * can, if storage has an exact rollup for it). */
const char *qry__rollup_window_why(const struct qry *q, const struct stor_window_info *w);
/*
 * The executor's hook (qry_exec_open): when rollups are on and q's shape allows, answer the
 * aggregation from the rollups of the windows that have them and a scan of the others, build
 * the table and return 1 (the executor only emits it); 0 when the executor should scan as
 * usual; negative on failure (ex's errmsg says why).
 */
int qry__rollup_exec(struct qry_exec *ex, struct stor_env *env);

#endif
