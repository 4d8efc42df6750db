/* SPDX-License-Identifier: MIT */
/*
 * Private to http.c and http_api.c: the server's state, shared by libmicrohttpd's connection
 * threads and the hang-up watcher, and the API job that drives one query/ session.
 */
#ifndef FLOWLOG_HTTP_INT_H
#define FLOWLOG_HTTP_INT_H

#include <pthread.h>
#include <microhttpd.h>

#include "http.h"

struct api_job;

struct coll_http {
    /* Set before the daemon starts, read-only afterwards. */
    struct MHD_Daemon *mhd;
    struct coll_http_cfg cfg;
    struct coll_http_host host; /* token and admin_token point at the copies below */
    char token[256], admin_token[256];
    char name[80];
    uint16_t port;
    struct coll_http_stats st; /* atomics */
    pthread_mutex_t info_mu;   /* one host info call at a time */
    atomic_bool tail_stopping; /* set at stop: live tails end (http_tail.c) */
    /* The hang-up watcher's: under mu. */
    struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        pthread_t thread;
        bool started, stopping;
        struct api_job *jobs; /* streaming jobs whose client may hang up */
    } w;
};

enum api_mode {
    API_NDJSON,  /* rows one a line, then the status object */
    API_JSON,    /* {"columns":[...],"rows":[...],"status":{...}} */
    API_CSV,     /* the CSV format as it is; an error after data cuts the stream */
    API_LINES,   /* {"lines":["...",...],"status":{...}} (EXPLAIN) */
    API_CHART,   /* timechart rows as {"t":[...],"series":[...],...} (http_chart.c) */
};

/*
 * Run `lines` (request lines, each ending in '\n'; the first `skip` answer only a status
 * line, e.g. FORMAT) in a new session and answer conn with the result in mode; span_s is
 * the timechart's bucket for API_CHART. Tokens were checked by the caller. MHD_YES or MHD_NO.
 */
enum MHD_Result http_api_run(struct coll_http *h, struct MHD_Connection *conn, enum api_mode mode,
                             const char *lines, unsigned skip, uint32_t span_s);

/* A JSON error answer {"status":"ERR","code":...,"message":...} with HTTP status code. */
enum MHD_Result http_error(struct MHD_Connection *conn, unsigned code, const char *ecode,
                           const char *message);
/* Put s (len bytes) as a JSON string, quotes included. */
void http_json_str(struct coll_http_buf *b, const char *s, size_t len);
/* Headers every answer carries (CSP, nosniff, no-store). */
void http_add_common(struct MHD_Response *r);

/*
 * Live tails (http_tail.c): at most HTTP_TAIL_CLIENTS at once (more: 503, tail_refused), each
 * reading runs of at most HTTP_TAIL_ROWS records (a bigger run is reported dropped), with a
 * comment every HTTP_TAIL_BEAT_MS of silence.
 */
#define HTTP_TAIL_CLIENTS 16
#define HTTP_TAIL_ROWS    4096
#define HTTP_TAIL_BEAT_MS 2000
/* GET /api/v1/tail?q=QUERY (Last-Event-ID resumes). Tokens were checked by the caller. */
enum MHD_Result http_tail(struct coll_http *h, struct MHD_Connection *conn);

/* GET /api/v1/fields (http_fields.c). */
enum MHD_Result http_fields(struct coll_http *h, struct MHD_Connection *conn);
/* Answer b's text (taken over, freed) with code and content type. */
enum MHD_Result http_text_answer(struct MHD_Connection *conn, unsigned code, const char *type,
                                 struct coll_http_buf *b);

/* GET /api/v1/health (http_health.c): 200 OK or 503 not-OK, the checks as JSON. */
enum MHD_Result http_health(struct coll_http *h, struct MHD_Connection *conn);

/* The host's info hook under info_mu (arg: the server). */
int http_locked_info(void *arg, const char *what, qry_row_fn *row, void *row_arg);

/* The watcher: cancel a job's query when its client's socket reports a hang-up. */
int http_watch_start(struct coll_http *h);
void http_watch_stop(struct coll_http *h);
/* Raise the cancel flag of every watched job (at stop). */
void http_cancel_all(struct coll_http *h);

#endif
