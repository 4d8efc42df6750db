/* SPDX-License-Identifier: MIT */
/*
 * BACKEND clickhouse's executor (backend_ch.c): a compiled query translated by sql_stage.c,
 * sent to ClickHouse over HTTP with libcurl, and its TabSeparated answer streamed back as the
 * local executor's rows (the same text, JSON and CSV, the same OK/ERR line rule). The same
 * calling pattern as qry_exec_open/next/close, on the thread that steps the session (a query
 * worker); closing it mid-answer aborts the HTTP request, which ClickHouse then cancels.
 * Private to query/ and its tests.
 */
#ifndef FLOWLOG_BACKEND_INT_H
#define FLOWLOG_BACKEND_INT_H

#include <stdatomic.h>

#include "sql_int.h"

/* Answer bytes buffered before the transfer is paused until the rows are taken. */
#define QRY_CH_INBUF_MAX (1u << 20)
/* Output chunk handed to the session at a time (as the local executor's). */
#define QRY_CH_CHUNK (64u << 10)

struct qry__chexec;
/*
 * Translate q and start the request (cfg: qry.h's struct qry_ch_cfg, used during open only).
 * With explain, no request: the one chunk is "backend clickhouse" and "sql <SELECT>" lines. 0;
 * QRY_E_PARSE with err filled (does not translate); -EINVAL (bad database name), -ENOMEM. q, lim
 * and cancel must outlive the executor.
 */
int qry__chexec_open(struct qry__chexec **out, const struct qry_ch_cfg *cfg, const struct qry *q,
                     enum qry_fmt fmt, const struct qry_limits *lim, const atomic_bool *cancel,
                     bool explain, struct qry_error *err);

/* A session's backend (backend.c); one member of struct qry_session. */
struct qry__backend {
    bool clickhouse;
    struct qry__chexec *x; /* the running ClickHouse query or EXPLAIN */
};
/* BACKEND [local|clickhouse]: the answer line into msg. */
void qry__backend_cmd(struct qry__backend *b, const struct qry_session_cfg *cfg, const char *arg,
                      char *msg, size_t cap);
/*
 * The next chunk of whole lines: 1 with *data and *len (valid until the next call), 0 when the
 * answer is complete, negative on failure with qry__chexec_errmsg: QRY_E_TIMEOUT and
 * QRY_E_LIMIT for ClickHouse's limit errors, QRY_E_CANCELED, -EIO for any other failure
 * (the server's message or curl's).
 */
int qry__chexec_next(struct qry__chexec *x, uint32_t slice_ms, const char **data, size_t *len);
uint64_t qry__chexec_rows(const struct qry__chexec *x);
const char *qry__chexec_errmsg(const struct qry__chexec *x);
/* The SQL sent (for EXPLAIN and logs); valid until close. */
const char *qry__chexec_sql(const struct qry__chexec *x);
void qry__chexec_close(struct qry__chexec *x);

#endif
