/* SPDX-License-Identifier: MIT */
/*
 * Query: the flowlog query language and line protocol (DESIGN.md §7, docs/query.md,
 * docs/protocol.md).
 *
 * text -> tokens (lex.c) -> AST with source columns (parse.c, ast.c) -> plan (plan.c: time
 * range -> windows, conditions pushed down to storage's block summaries, PCRE2 compiled once
 * with match limits) -> streaming executor over a storage snapshot with formatters (exec.c,
 * fmt.c). session.c is the line protocol as pure logic: bytes in, response chunks out through
 * a callback that may say "not now". No sockets, no libuv here: the collector drives sessions.
 *
 * Errors: 0 or negative; -errno for system errors, QRY_E_* (band -1200...-1299) for ours, and
 * storage's codes pass through.
 * Thread safety: a compiled query is read-only and may be shared; an executor and a session
 * belong to one thread at a time (they may move between threads between calls).
 */
#ifndef FLOWLOG_QRY_H
#define FLOWLOG_QRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stor.h"

enum qry_err {
    QRY_E_PARSE = -1200,    /* the query text is wrong; qry_error says where and why */
    QRY_E_LIMIT = -1201,    /* a per-query limit (memory, rows) was reached */
    QRY_E_TIMEOUT = -1202,  /* the per-query time limit was reached */
    QRY_E_CANCELED = -1203, /* the cancel flag was raised (the client hung up) */
    QRY_E_REGEX = -1204,    /* a regex hit its match limit on some record */
    QRY_E_AGAIN = -1205,    /* output callback: not now (back-pressure) */
};

const char *qry_strerror(int err);

#define QRY_LINE_MAX 65536 /* a request line, newline excluded (DESIGN.md §7) */
/* '(' and 'not' nested at most this deep in a query; deeper is `nesting too deep`. */
#define QRY_DEPTH_MAX 128
/* Nodes (terms and operators) in a query's filter at most; more is `too many terms`. */
#define QRY_NODES_MAX 16384

enum qry_fmt { QRY_FMT_TEXT = 0, QRY_FMT_JSON = 1, QRY_FMT_CSV = 2 };

/* Where a query went wrong: col is 1-based (bytes), msg a full sentence fragment. */
struct qry_error {
    int col;
    bool limited; /* refused by a bound (QRY_DEPTH_MAX, QRY_NODES_MAX), not by the grammar */
    char msg[512];
};

struct qry;

/*
 * Compile a query (len bytes, need not be NUL-terminated). now_ms anchors `last 15m`.
 * *out owned by the caller: qry_free(). On QRY_E_PARSE, err says where; -ENOMEM otherwise.
 */
int qry_compile(struct qry **out, const char *text, size_t len, uint64_t now_ms,
                struct qry_error *err);
void qry_free(struct qry *q);

/*
 * Can PCRE2 JIT-compile here? False on platforms without JIT and where writable memory may
 * not become executable (systemd MemoryDenyWriteExecute=yes): regexes are then interpreted,
 * slower but with the same results. For the host to say once at start; EXPLAIN says it per
 * query.
 */
bool qry_regex_jit(void);

/* Called with one output line (no newline); a non-zero return stops and is returned. */
typedef int qry_line_fn(void *arg, const char *line, size_t len);

/*
 * EXPLAIN: the plan as lines (range, flow log, conditions pushed to storage, the residual
 * filter, stages) and the windows of snap the scan will visit, with their blocks.
 */
int qry_explain(const struct qry *q, struct stor_snap *snap, qry_line_fn *fn, void *arg);

/*
 * Window rollups (docs/query.md "Rollups"): stats, top and timechart that need only rollup
 * dimensions answer from the rollups of sealed windows, exactly. On by default; off makes
 * every query scan (for tests and comparison; flowlogd's [query] rollups). Process-wide.
 */
void qry_rollups_set(bool on);
bool qry_rollups_get(void);

struct qry_limits {
    uint64_t time_ms;   /* wall time a query may run; 0 = none */
    uint64_t mem_bytes; /* memory for sorting and aggregation; 0 = none */
    uint64_t rows;      /* output rows; 0 = none */
};

struct qry_exec;

/*
 * Run q over snap (q, snap and env must outlive the executor; env gives flow-log names and
 * labels, NULL for none), output in fmt. cancel (may be NULL) is polled between blocks.
 * *out owned by the caller: qry_exec_close().
 */
int qry_exec_open(struct qry_exec **out, struct stor_env *env, const struct qry *q,
                  struct stor_snap *snap, enum qry_fmt fmt, const struct qry_limits *lim,
                  const atomic_bool *cancel);
/*
 * The next chunk of output: whole lines, each ending in '\n'. Returns 1 with *data and *len
 * (valid until the next call; *len may be 0 when a time slice of slice_ms passed without
 * output), 0 when done, negative on failure (QRY_E_LIMIT, QRY_E_TIMEOUT, QRY_E_CANCELED,
 * QRY_E_REGEX, storage or -errno codes; qry_exec_errmsg() says more).
 */
int qry_exec_next(struct qry_exec *ex, uint32_t slice_ms, const char **data, size_t *len);
/* Rows written and records scanned so far. */
void qry_exec_counts(const struct qry_exec *ex, uint64_t *rows, uint64_t *scanned);
const char *qry_exec_errmsg(const struct qry_exec *ex);
void qry_exec_close(struct qry_exec *ex);

/* ---- the line protocol (session.c, docs/protocol.md) ---- */

/* One row of STATS / EXPORTERS from the host: n named values (text). */
typedef int qry_row_fn(void *arg, size_t n, const char *const *names, const char *const *values);
/*
 * The host's counters and exporter admin: what is "stats" or "exporters" (call row() once
 * per row), or "forget <addr> <port>" for EXPORTERS FORGET: addr is a host address in
 * inet_ntop form (IPv4 dotted, IPv6 RFC 5952), port a decimal 1-65535 or "*" for every port;
 * the host forgets those exporters' state and calls row() once per exporter forgotten.
 * Returns 0 or a negative error. Runs on the thread that calls qry_session_step() for a
 * light request (see qry_session_heavy).
 */
typedef int qry_info_fn(void *arg, const char *what, qry_row_fn *row, void *row_arg);

/*
 * Where responses go. Returns 0 when it took all len bytes, QRY_E_AGAIN when it cannot take
 * them now (nothing taken; the session keeps them and qry_session_step returns
 * QRY_STEP_BLOCKED), another negative value to give up on the client.
 */
typedef int qry_out_fn(void *arg, const char *data, size_t len);

/* Where BACKEND clickhouse sends queries ([clickhouse] in flowlogd.conf; docs/query.md). */
struct qry_ch_cfg {
    const char *url;      /* "http://127.0.0.1:8123/"; NULL: no ClickHouse */
    const char *database; /* "flowlog" */
    const char *user;     /* NULL or "": none */
    const char *password;
};

struct qry_session_cfg {
    struct stor_env *stor;
    const char *token;       /* when set, only AUTH, PING and QUIT work before AUTH */
    const char *admin_token; /* when set, FLOWLOG changes need AUTH with it */
    struct qry_limits limits;
    qry_info_fn *info; /* NULL: STATS and EXPORTERS answer ERR UNAVAILABLE */
    void *info_arg;
    uint32_t slice_ms; /* a step yields after this long with output ready. 50 */
    struct qry_ch_cfg clickhouse; /* BACKEND clickhouse; strings outlive the session */
    bool backend_clickhouse;      /* [query] backend: sessions start on ClickHouse */
    /* A request (QUERY, EXPLAIN, NFDUMP, WINDOWS) that took slow_ms or longer is told to
     * slow with its text (cut to QRY_SLOW_TEXT bytes), duration and rows; 0 or NULL: off. */
    uint32_t slow_ms;
    void (*slow)(void *arg, const char *text, uint64_t ms, uint64_t rows);
    void *slow_arg;
};
#define QRY_SLOW_TEXT 256

struct qry_session;

/* Wrong AUTH tokens a session may send; the last one is answered and the session closes. */
#define QRY_AUTH_FAILURES_MAX 3

/* A session's counters, for the host to add to its own (STATS, metrics). */
struct qry_session_stats {
    uint64_t auth_failures; /* wrong AUTH tokens */
    uint64_t auth_closed;   /* 1 when the session was closed at QRY_AUTH_FAILURES_MAX */
    uint64_t parse_limited; /* requests refused by QRY_DEPTH_MAX or QRY_NODES_MAX */
};
/* The counters so far (any time; the host reads them before qry_session_destroy). */
void qry_session_stats_get(const struct qry_session *s, struct qry_session_stats *out);

/* Strings in cfg are copied. *out owned by the caller: qry_session_destroy(). */
int qry_session_create(struct qry_session **out, const struct qry_session_cfg *cfg,
                       qry_out_fn *out_fn, void *out_arg);
void qry_session_destroy(struct qry_session *s);

/*
 * Bytes from the client. Returns how many were taken (< len when the session holds a full
 * input buffer: offer the rest after the next step). Lines longer than QRY_LINE_MAX are
 * answered `ERR TOOLONG` and skipped.
 */
size_t qry_session_feed(struct qry_session *s, const char *data, size_t len);

enum qry_step {
    QRY_STEP_IDLE = 0,    /* nothing to do until more input */
    QRY_STEP_MORE = 1,    /* more work: call qry_session_step again (after flushing output) */
    QRY_STEP_BLOCKED = 2, /* the out callback said not now: step again once it can take data */
    QRY_STEP_CLOSE = 3,   /* QUIT answered, or the out callback failed: close the client */
};

/* Do work: answer requests, stream results. Returns enum qry_step. */
int qry_session_step(struct qry_session *s);
/* Will the next step run a query or touch the store (best done off the event loop)? */
bool qry_session_heavy(const struct qry_session *s);
/* Ask a running query to stop (any thread; the client hung up). */
void qry_session_cancel(struct qry_session *s);

/*
 * A live tail's filter (tailq.c): QUERY's filter and `fields` stage (any other stage is
 * QRY_E_PARSE, err says where), applied to one record at a time. qry_tail_row gives 1 and
 * the record as its FORMAT json row (no newline; valid until the next call) when it matches,
 * 0 when not, -1 when a regex reached its match limit, -ENOMEM.
 */
struct qry_tail;
int qry_tail_open(struct qry_tail **out, struct stor_env *env, const char *text, size_t len,
                  struct qry_error *err);
int qry_tail_row(struct qry_tail *t, const struct flow_rec *r, const char **json, size_t *len);
void qry_tail_close(struct qry_tail *t);

/*
 * Field i of the language (0, 1, ... until NULL; fieldinfo.c): its name, *type ("number",
 * "time", "address", "text", "enum") and whether it is a default column.
 */
const char *qry_field_info(size_t i, const char **type, bool *deflt);

#endif
