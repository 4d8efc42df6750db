/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's HTTP server (docs/http.md): the HTTP API over query/ sessions, the
 * Prometheus metrics and their formatting. http.c owns libmicrohttpd (its own threads, one
 * per connection, never the ingest loop) and the request checks (Host, tokens, limits);
 * http_api.c drives one query/ session per API request and turns the line protocol's answer
 * into ndjson, JSON or CSV; http_metrics.c formats the counters (pure, unit-tested).
 */
#ifndef FLOWLOG_HTTP_H
#define FLOWLOG_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qry.h"
#include "stor.h"

#include "http_cfg.h"

/* What the server serves from. */
struct coll_http_host {
    struct stor_env *stor;
    const char *token;       /* [query] token: "" or NULL = none */
    const char *admin_token; /* [query] admin_token: "" or NULL = none */
    struct qry_limits limits;
    /*
     * The collector's STATS / EXPORTERS hook (the one its query server passes to sessions).
     * It is called on HTTP threads, one call at a time (the server holds a mutex around it),
     * so it must be safe to call off the ingest loop. NULL: STATS and EXPORTERS answer
     * UNAVAILABLE and /metrics has the store's and HTTP's counters only.
     */
    qry_info_fn *info;
    void *info_arg;
    struct qry_ch_cfg clickhouse; /* [clickhouse]: url NULL for none; strings outlive the server */
    bool backend_clickhouse;      /* [query] backend = clickhouse */
};

/* The HTTP server's counters (atomics: written by connection threads, read by anyone). */
struct coll_http_stats {
    atomic_uint_fast64_t connections;       /* accepted */
    atomic_uint_fast64_t clients;           /* gauge: open now */
    atomic_uint_fast64_t refused;           /* closed at accept: max_connections reached */
    atomic_uint_fast64_t requests;          /* requests answered */
    atomic_uint_fast64_t host_refused;      /* 421: a Host header that is not ours */
    atomic_uint_fast64_t auth_failures;     /* 401: no token or a wrong one */
    atomic_uint_fast64_t denied;            /* 403: needs the admin token, or a cross-site POST */
    atomic_uint_fast64_t header_too_large;  /* 431: headers above header_max */
    atomic_uint_fast64_t body_too_large;    /* 413: a body above body_max */
    atomic_uint_fast64_t canceled;          /* queries canceled: the client hung up */
    atomic_uint_fast64_t timeouts;          /* requests ended by idle_timeout mid-request */
    atomic_uint_fast64_t metrics_truncated; /* /metrics answers that left exporters out */
    atomic_uint_fast64_t chart_limited;     /* format=chart refused: CHART_* bounds */
    atomic_uint_fast64_t tail_clients;      /* gauge: live tails open now */
    atomic_uint_fast64_t tail_refused;      /* live tails refused: HTTP_TAIL_CLIENTS open */
    atomic_uint_fast64_t tail_dropped;      /* runs a live tail could not give its client */
};

struct coll_http;

/*
 * Listen on cfg->listen and serve from host (copied; strings too; host->stor and
 * host->info_arg must outlive the server). A non-loopback address without a token is refused
 * (-EPERM); a bad address is -EINVAL; a bind failure is -errno. msg says why on failure.
 */
int coll_http_start(const struct coll_http_cfg *cfg, const struct coll_http_host *host,
                    struct coll_http **out, char *msg, size_t msglen);
/* "ADDR:PORT" bound (port 0 resolved), for the startup line. */
void coll_http_name(const struct coll_http *h, char *buf, size_t len);
const struct coll_http_stats *coll_http_stats(const struct coll_http *h);
/* Stop accepting, cancel running queries, wait for the connection threads. NULL ok. */
void coll_http_stop(struct coll_http *h);

/* ---- http_metrics.c: the Prometheus text exposition (pure) ---- */

/* At most this many exporters get their own series; the rest are counted in
 * flowlog_http_metrics_exporters_omitted and metrics_truncated. */
#define COLL_HTTP_METRICS_EXPORTERS_MAX 100

struct coll_http_buf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
};
void coll_http_buf_put(struct coll_http_buf *b, const char *data, size_t len);
void coll_http_buf_printf(struct coll_http_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void coll_http_buf_free(struct coll_http_buf *b);

/*
 * Append the exposition to b: the store's counters from st (stor_stats_each: kind and help),
 * the host's STATS rows and EXPORTERS rows from info (may be NULL; rows naming a store
 * counter are skipped, so each counter appears once), and hs. Counters end in _total;
 * `records` is flowlog_records_received_total, `store-records-stored` is
 * flowlog_records_stored_total; decode-errors-REASON is flowlog_decode_errors_total{reason}.
 * Returns the info hook's error (the text then has what came before), or 0; *truncated tells
 * whether exporters were left out.
 */
int coll_http_metrics(struct coll_http_buf *b, const struct stor_stats *st, qry_info_fn *info,
                      void *info_arg, const struct coll_http_stats *hs, bool *truncated);

#endif
