/* SPDX-License-Identifier: MIT */
/*
 * The line protocol (DESIGN.md §7, docs/protocol.md) as pure logic: the host feeds the bytes
 * a client sent (qry_session_feed) and calls qry_session_step; responses leave through the
 * host's out callback, which may answer QRY_E_AGAIN ("not now"): the session then keeps the
 * chunk and the executor's position, and continues on the next step. So a client that reads
 * slowly holds one chunk of memory on each side, never a whole result. No sockets, no libuv.
 *
 * Framing: one request per line ('\n', an optional '\r' before it is dropped), at most
 * QRY_LINE_MAX bytes; a longer line is answered `ERR TOOLONG` as soon as it passes the limit
 * and the rest of it is skipped. Requests are answered in order; pipelined requests wait in a
 * bounded queue (feed takes no more when it is full).
 *
 * Every response ends with exactly one status line, `OK ...` or `ERR <CODE> <message>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "flow_clock.h"
#include "nfdump.h"
#include "backend_int.h"
#include "qry_int.h"

#define QUEUE_BYTES (2 * QRY_LINE_MAX)
#define QUEUE_LINES 64

struct line {
    struct line *next;
    bool toolong;
    size_t len;
    char text[];
};

struct qry_session {
    struct qry_session_cfg cfg;
    char *token, *admin_token;
    qry_out_fn *out;
    void *out_arg;
    /* input */
    char *cur;
    size_t curlen;
    bool discarding;
    struct line *head, *tail;
    size_t qbytes, qlines;
    /* state */
    bool authed, admin, closing;
    enum qry_fmt fmt;
    atomic_bool cancel;
    /* the running query */
    struct qry *q;
    struct stor_snap *snap;
    struct qry_exec *ex;    /* QUERY */
    struct qry__lister *ls; /* EXPLAIN, WINDOWS */
    struct qry__backend be; /* BACKEND (backend.c); be.x: QUERY or EXPLAIN on ClickHouse */
    uint64_t t0_ms;
    char req[QRY_SLOW_TEXT]; /* the request's text, for the slow-request hook */
    /* output not yet taken by the host */
    struct qry__buf pend;
    size_t pend_off;
    struct qry_session_stats stats;
};

int
qry_session_create(struct qry_session **out, const struct qry_session_cfg *cfg, qry_out_fn *out_fn,
                   void *out_arg)
{
    struct qry_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->cfg = *cfg;
    if (s->cfg.slice_ms == 0) {
        s->cfg.slice_ms = 50;
    }
    s->out = out_fn;
    s->out_arg = out_arg;
    s->cur = malloc(QRY_LINE_MAX + 1);
    if (cfg->token != NULL && cfg->token[0] != '\0') {
        s->token = strdup(cfg->token);
    }
    if (cfg->admin_token != NULL && cfg->admin_token[0] != '\0') {
        s->admin_token = strdup(cfg->admin_token);
    }
    if (s->cur == NULL || (cfg->token && cfg->token[0] && s->token == NULL) ||
        (cfg->admin_token && cfg->admin_token[0] && s->admin_token == NULL)) {
        qry_session_destroy(s);
        return -ENOMEM;
    }
    s->cfg.token = s->token;
    s->cfg.admin_token = s->admin_token;
    s->authed = s->token == NULL;
    s->admin = s->admin_token == NULL && s->token == NULL;
    atomic_init(&s->cancel, false);
    s->be.clickhouse = cfg->backend_clickhouse && cfg->clickhouse.url != NULL;
    *out = s;
    return 0;
}

static void
end_query(struct qry_session *s)
{
    qry_exec_close(s->ex);
    qry__lister_close(s->ls);
    qry__chexec_close(s->be.x);
    s->be.x = NULL;
    stor_snap_end(s->snap);
    qry_free(s->q);
    s->ex = NULL;
    s->ls = NULL;
    s->snap = NULL;
    s->q = NULL;
}

static bool
running(const struct qry_session *s)
{
    return s->ex != NULL || s->ls != NULL || s->be.x != NULL;
}

void
qry_session_destroy(struct qry_session *s)
{
    if (s == NULL) {
        return;
    }
    end_query(s);
    while (s->head != NULL) {
        struct line *l = s->head;
        s->head = l->next;
        free(l);
    }
    qry__buf_free(&s->pend);
    free(s->cur);
    free(s->token);
    free(s->admin_token);
    free(s);
}

void
qry_session_stats_get(const struct qry_session *s, struct qry_session_stats *out)
{
    *out = s->stats;
}

void
qry_session_cancel(struct qry_session *s)
{
    atomic_store(&s->cancel, true);
}

/* ---- input ---- */

static bool
enqueue(struct qry_session *s, const char *text, size_t len, bool toolong)
{
    if (len > 0 && text[len - 1] == '\r') {
        len--;
    }
    struct line *l = malloc(sizeof(*l) + len + 1);
    if (l == NULL) {
        return false;
    }
    l->next = NULL;
    l->toolong = toolong;
    l->len = len;
    memcpy(l->text, text, len);
    l->text[len] = '\0';
    if (s->tail != NULL) {
        s->tail->next = l;
    } else {
        s->head = l;
    }
    s->tail = l;
    s->qbytes += len + 1;
    s->qlines++;
    return true;
}

size_t
qry_session_feed(struct qry_session *s, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && s->qbytes < QUEUE_BYTES && s->qlines < QUEUE_LINES) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t) (nl - data) : len;
        if (s->discarding) {
            s->discarding = nl == NULL;
            i = nl != NULL ? end + 1 : len;
            continue;
        }
        size_t take = end - i;
        size_t total = s->curlen + take;
        char last = take > 0 ? data[end - 1] : s->curlen > 0 ? s->cur[s->curlen - 1] : '\0';
        size_t content = total - (nl != NULL && last == '\r' ? 1 : 0);
        /* Without the newline yet, one byte more may still be the '\r' of "\r\n". */
        if (nl != NULL ? content > QRY_LINE_MAX : total > QRY_LINE_MAX + 1) {
            if (!enqueue(s, "", 0, true)) {
                break;
            }
            s->curlen = 0;
            s->discarding = nl == NULL;
            i = nl != NULL ? end + 1 : len;
            continue;
        }
        memcpy(s->cur + s->curlen, data + i, take);
        s->curlen += take;
        i = end;
        if (nl != NULL) {
            if (!enqueue(s, s->cur, s->curlen, false)) {
                s->curlen -= take;
                i -= take;
                break;
            }
            s->curlen = 0;
            i++;
        }
    }
    return i;
}

/* ---- output helpers ---- */

static void say(struct qry_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct qry_session *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1;
    /* A status message is one line of printable text, whatever a client put in a name. */
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) line[i] < 0x20 || line[i] == 0x7f) {
            line[i] = '?';
        }
    }
    qry__buf_put(&s->pend, line, len);
    qry__buf_put(&s->pend, "\n", 1);
}

static const char *
err_code(int rc)
{
    switch (rc) {
    case QRY_E_PARSE:
        return "PARSE";
    case QRY_E_LIMIT:
    case STOR_E_LIMIT:
        return "LIMIT";
    case QRY_E_TIMEOUT:
        return "TIMEOUT";
    case QRY_E_CANCELED:
        return "CANCELED";
    case QRY_E_REGEX:
        return "REGEX";
    case STOR_E_EXISTS:
        return "EXISTS";
    case STOR_E_NOTFOUND:
        return "NOTFOUND";
    case STOR_E_INVAL:
        return "ARGS";
    case -ENOMEM:
        return "NOMEM";
    case -EIO:
        return "BACKEND"; /* ClickHouse failed (backend_ch.c) */
    default:
        return "STORE";
    }
}

/* A row of named text values in the session's format (WINDOWS, STATS, FLOWLOG DESCRIBE). */
struct rows {
    struct qry_session *s;
    size_t n;
    bool header;
};

static int
row_out(void *arg, size_t n, const char *const *names, const char *const *values)
{
    struct rows *r = arg;
    qry__fmt_row(&r->s->pend, r->s->fmt, &r->header, n, names, values);
    r->n++;
    return 0;
}

static void
rows_done(struct qry_session *s, const struct rows *r, uint64_t t0)
{
    say(s, "OK %zu rows 0 scanned %llu ms", r->n, (unsigned long long) (flow_mono_ms() - t0));
}

/* ---- verbs ---- */

static bool
token_eq(const char *want, const char *got)
{
    size_t a = strlen(want), b = strlen(got);
    unsigned char diff = (unsigned char) (a != b);
    for (size_t i = 0; i < b; i++) {
        diff |= (unsigned char) (want[i % (a ? a : 1)] ^ got[i]);
    }
    return diff == 0 && a > 0;
}

static void
do_auth(struct qry_session *s, const char *arg)
{
    if (s->token == NULL && s->admin_token == NULL) {
        say(s, "OK no token is configured");
    } else if (s->admin_token != NULL && token_eq(s->admin_token, arg)) {
        s->authed = s->admin = true;
        say(s, "OK authenticated (admin)");
    } else if (s->token != NULL && token_eq(s->token, arg)) {
        s->authed = true;
        s->admin = s->admin_token == NULL;
        say(s, "OK authenticated");
    } else if (++s->stats.auth_failures >= QRY_AUTH_FAILURES_MAX) {
        /* Guessing costs a connection per QRY_AUTH_FAILURES_MAX tries; the host's connection
         * limits and rates do the rest. */
        say(s, "ERR AUTH wrong token; closing after %d failures", QRY_AUTH_FAILURES_MAX);
        s->stats.auth_closed = 1;
        s->closing = true;
    } else {
        say(s, "ERR AUTH wrong token");
    }
}

static void
do_format(struct qry_session *s, const char *arg)
{
    static const char *const names[] = {"text", "json", "csv"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(arg, names[i]) == 0) {
            s->fmt = (enum qry_fmt) i;
            say(s, "OK format %s", names[i]);
            return;
        }
    }
    say(s, "ERR ARGS FORMAT takes text, json or csv");
}

static void
do_help(struct qry_session *s)
{
    static const char *const lines[] = {
        "QUERY <query>            records or aggregates (docs/query.md)",
        "EXPLAIN <query>          the plan: range, pushed-down conditions, windows, blocks",
        "NFDUMP <opts> <filter>   nfdump's options and filter, answered as QUERY (docs/nfdump.md)",
        "FORMAT text|json|csv     output format of this session",
        "BACKEND [local|clickhouse]  where QUERY and EXPLAIN run ([clickhouse] url)",
        "WINDOWS [range]          capture windows: last 1h | since T [until T]",
        "EXPORTERS                exporters: templates, records, loss, last seen",
        "EXPORTERS FORGET <addr> [port]          admin: drop an exporter's state (templates)",
        "STATS                    collector and store counters",
        "FLOWLOG CREATE <name> [key=value ...]   window= traffic= aggregate= description= ...",
        "FLOWLOG DESCRIBE [name] | MODIFY <name> key=value ... | START <name> | STOP <name>",
        "FLOWLOG DELETE <name> [purge]",
        "BACKUP <dir>             admin: hot copy of the store into a new directory",
        "PING | HELP | QUIT | AUTH <token>",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        say(s, "%s", lines[i]);
    }
    say(s, "OK %zu rows 0 scanned 0 ms", sizeof(lines) / sizeof(lines[0]));
}

static void
parse_error(struct qry_session *s, const struct qry_error *e, int rc)
{
    if (rc == QRY_E_PARSE) {
        s->stats.parse_limited += e->limited;
        say(s, "ERR PARSE col %d: %s", e->col, e->msg);
    } else {
        say(s, "ERR %s %s", err_code(rc), qry_strerror(rc));
    }
}

/* Compile the request's query and take a snapshot; false (answered) on failure. */
static bool
begin_query(struct qry_session *s, const char *arg)
{
    struct qry_error e;
    int rc = qry_compile(&s->q, arg, strlen(arg), flow_wall_ms(), &e);
    if (rc != 0) {
        parse_error(s, &e, rc);
        return false;
    }
    if ((rc = stor_snap_begin(s->cfg.stor, &s->snap)) != 0) {
        say(s, "ERR %s %s", err_code(rc), qry_strerror(rc));
        end_query(s);
        return false;
    }
    atomic_store(&s->cancel, false);
    return true;
}

/* QUERY and EXPLAIN: start streaming; query_step does the rest. */
static void
do_query(struct qry_session *s, const char *arg, bool explain)
{
    if (!begin_query(s, arg)) {
        return;
    }
    struct qry_error e = {0};
    int rc = s->be.clickhouse ? qry__chexec_open(&s->be.x, &s->cfg.clickhouse, s->q, s->fmt,
                                                 &s->cfg.limits, &s->cancel, explain, &e)
             : explain        ? qry__lister_open(&s->ls, s->cfg.stor, s->q, 0, 0, s->snap, s->fmt,
                                                 &s->cfg.limits, &s->cancel)
                       : qry_exec_open(&s->ex, s->cfg.stor, s->q, s->snap, s->fmt, &s->cfg.limits,
                                       &s->cancel);
    if (rc != 0) {
        parse_error(s, &e, rc);
        end_query(s);
    }
}

/* NFDUMP <options> <filter>: nfdump's command line translated (nfdump.c), run as QUERY in
 * the format its -o asks for (this request only). */
static void
do_nfdump(struct qry_session *s, const char *arg)
{
    char *q = malloc(QRY_LINE_MAX + 1), msg[512];
    int fmt, rc = q != NULL ? qry__nfd_translate(arg, q, QRY_LINE_MAX + 1, &fmt, msg, sizeof(msg))
                            : -ENOMEM;
    if (rc == QRY_E_PARSE) {
        say(s, "ERR PARSE %s", msg);
    } else if (rc != 0) {
        say(s, "ERR %s %s", err_code(rc), qry_strerror(rc));
    } else {
        enum qry_fmt keep = s->fmt;
        s->fmt = fmt >= 0 ? (enum qry_fmt) fmt : s->fmt;
        do_query(s, q, false);
        s->fmt = keep;
    }
    free(q);
}

/* WINDOWS [range]: the windows of the range, streamed like EXPLAIN. */
static void
do_windows(struct qry_session *s, const char *arg)
{
    if (!begin_query(s, arg)) {
        return;
    }
    int rc = 0;
    if (s->q->expr != NULL || s->q->nstages > 0) {
        struct qry_error e = {.col = 1};
        snprintf(e.msg, sizeof(e.msg), "WINDOWS takes a range only: last 1h, since T [until T]");
        parse_error(s, &e, QRY_E_PARSE);
        end_query(s);
        return;
    }
    rc = qry__lister_open(&s->ls, s->cfg.stor, NULL, s->q->from_ms, s->q->to_ms, s->snap, s->fmt,
                          &s->cfg.limits, &s->cancel);
    if (rc != 0) {
        say(s, "ERR %s %s", err_code(rc), qry_strerror(rc));
        end_query(s);
    }
}

static void
do_info(struct qry_session *s, const char *what)
{
    struct rows r = {.s = s};
    if (s->cfg.info == NULL) {
        say(s, "ERR UNAVAILABLE no %s here (not served by a collector)", what);
        return;
    }
    int rc = s->cfg.info(s->cfg.info_arg, what, row_out, &r);
    if (rc != 0) {
        say(s, "ERR INTERNAL %s", qry_strerror(rc));
        return;
    }
    rows_done(s, &r, s->t0_ms);
}

/*
 * "ADDR [PORT]" of EXPORTERS FORGET as the info hook's "forget <addr> <port|*>": a host
 * address (no prefix) in inet_ntop form and a port of 1-65535. 0, or -EINVAL.
 */
static int
forget_what(const char *arg, char *what, size_t cap)
{
    struct flow_cidr c;
    bool has_plen;
    char addr[INET6_ADDRSTRLEN];
    size_t alen = strcspn(arg, " \t");
    const char *port = arg + alen;
    unsigned long pn = 0;

    if (alen == 0 || flow_cidr_parse(arg, alen, &c, &has_plen) != 0 || has_plen) {
        return -EINVAL;
    }
    if (flow_addr_is_v4(c.addr)) {
        inet_ntop(AF_INET, c.addr + 12, addr, sizeof(addr));
    } else {
        inet_ntop(AF_INET6, c.addr, addr, sizeof(addr));
    }
    port += strspn(port, " \t");
    if (*port == '\0') {
        snprintf(what, cap, "forget %s *", addr);
        return 0;
    }
    size_t plen = strspn(port, "0123456789");
    if (plen == 0 || plen > 5 || port[plen + strspn(port + plen, " \t")] != '\0') {
        return -EINVAL;
    }
    pn = strtoul(port, NULL, 10);
    if (pn == 0 || pn > 65535) {
        return -EINVAL;
    }
    snprintf(what, cap, "forget %s %lu", addr, pn);
    return 0;
}

/* EXPORTERS [FORGET <addr> [port]]: the host's exporter table, or forget some (admin). */
static void
do_exporters(struct qry_session *s, const char *arg)
{
    struct rows r = {.s = s};
    char what[96];
    size_t wl = strcspn(arg, " \t");
    if (wl == 0) {
        do_info(s, "exporters");
        return;
    }
    if (wl != 6 || strncasecmp(arg, "FORGET", 6) != 0) {
        say(s, "ERR ARGS EXPORTERS takes nothing, or FORGET <addr> [port]");
        return;
    }
    if (!s->admin) {
        say(s, "ERR DENIED EXPORTERS FORGET needs the admin token (AUTH <admin token>)");
        return;
    }
    if (forget_what(arg + wl + strspn(arg + wl, " \t"), what, sizeof(what)) != 0) {
        say(s, "ERR ARGS EXPORTERS FORGET takes a host address and an optional port (1-65535)");
        return;
    }
    if (s->cfg.info == NULL) {
        say(s, "ERR UNAVAILABLE no exporters here (not served by a collector)");
        return;
    }
    int rc = s->cfg.info(s->cfg.info_arg, what, row_out, &r);
    if (rc < 0) {
        say(s, "ERR INTERNAL %s", qry_strerror(rc));
    } else if (r.n == 0) {
        const char *addr = what + strlen("forget "), *port = strchr(addr, ' ');
        say(s, "ERR NOTFOUND no exporter %.*s port %s", (int) (port - addr), addr, port + 1);
    } else {
        rows_done(s, &r, s->t0_ms);
    }
}

struct stor_env *
qry__session_stor(const struct qry_session *s)
{
    return s->cfg.stor;
}

static void
do_flowlog(struct qry_session *s, const char *arg)
{
    char msg[512] = "";
    struct rows r = {.s = s};
    int rc = qry__flowlog_cmd(s, arg, s->admin, row_out, &r, msg, sizeof(msg));
    if (rc == 1) {
        rows_done(s, &r, s->t0_ms);
    } else if (rc == 0) {
        say(s, "OK %s", msg);
    } else if (rc == -EPERM) {
        say(s, "ERR DENIED %s", msg);
    } else if (rc == -EINVAL) {
        say(s, "ERR ARGS %s", msg);
    } else {
        say(s, "ERR %s %s", err_code(rc), msg[0] ? msg : qry_strerror(rc));
    }
}

static void
backend_cmd(struct qry_session *s, const char *arg)
{
    char msg[256];
    qry__backend_cmd(&s->be, &s->cfg, arg, msg, sizeof(msg));
    say(s, "%s", msg);
}

static void
do_backup(struct qry_session *s, const char *arg)
{
    char reply[1024];
    qry__backup_cmd(s->cfg.stor, s->admin, arg, reply, sizeof(reply));
    say(s, "%s", reply);
}

static bool
verb_is(const char *line, size_t vlen, const char *verb)
{
    return vlen == strlen(verb) && strncasecmp(line, verb, vlen) == 0;
}

static void
handle(struct qry_session *s, const struct line *l)
{
    const char *p = l->text;
    s->t0_ms = flow_mono_ms();
    if (l->toolong) {
        say(s, "ERR TOOLONG a request line is at most %d bytes", QRY_LINE_MAX);
        return;
    }
    if (memchr(l->text, '\0', l->len) != NULL) {
        say(s, "ERR ARGS a request may not contain NUL bytes");
        return;
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    size_t vlen = strcspn(p, " \t");
    const char *arg = p + vlen;
    while (*arg == ' ' || *arg == '\t') {
        arg++;
    }
    if (vlen == 0) {
        say(s, "ERR VERB empty request; try HELP");
        return;
    }
    snprintf(s->req, sizeof(s->req), "%s", p); /* for cfg.slow (query_done) */
    if (verb_is(p, vlen, "QUIT")) {
        say(s, "OK bye");
        s->closing = true;
    } else if (verb_is(p, vlen, "PING")) {
        say(s, "OK PONG");
    } else if (verb_is(p, vlen, "AUTH")) {
        do_auth(s, arg);
    } else if (!s->authed) {
        say(s, "ERR AUTH authenticate first: AUTH <token>");
    } else if (s->cfg.stor == NULL && (verb_is(p, vlen, "QUERY") || verb_is(p, vlen, "EXPLAIN") ||
                                       verb_is(p, vlen, "WINDOWS") || verb_is(p, vlen, "FLOWLOG") ||
                                       verb_is(p, vlen, "NFDUMP"))) {
        say(s, "ERR UNAVAILABLE this session has no store");
    } else if (verb_is(p, vlen, "BACKEND")) {
        backend_cmd(s, arg);
    } else if (verb_is(p, vlen, "HELP")) {
        do_help(s);
    } else if (verb_is(p, vlen, "FORMAT")) {
        do_format(s, arg);
    } else if (verb_is(p, vlen, "QUERY") || verb_is(p, vlen, "EXPLAIN")) {
        do_query(s, arg, verb_is(p, vlen, "EXPLAIN"));
    } else if (verb_is(p, vlen, "NFDUMP")) {
        do_nfdump(s, arg);
    } else if (verb_is(p, vlen, "WINDOWS")) {
        do_windows(s, arg);
    } else if (verb_is(p, vlen, "EXPORTERS")) {
        do_exporters(s, arg);
    } else if (verb_is(p, vlen, "STATS")) {
        do_info(s, "stats");
    } else if (verb_is(p, vlen, "HEALTH")) { /* collector/health.c, through the info hook */
        do_info(s, "health");
    } else if (verb_is(p, vlen, "FLOWLOG")) {
        do_flowlog(s, arg);
    } else if (verb_is(p, vlen, "BACKUP")) { /* backup_cmd.c */
        do_backup(s, arg);
    } else {
        say(s,
            "ERR VERB unknown verb '%.*s'; verbs: QUERY EXPLAIN FORMAT WINDOWS EXPORTERS "
            "STATS FLOWLOG NFDUMP BACKUP PING HELP QUIT AUTH",
            (int) (vlen > 32 ? 32 : vlen), p);
    }
}

/* ---- stepping ---- */

bool
qry_session_heavy(const struct qry_session *s)
{
    static const char *const heavy[] = {"QUERY", "EXPLAIN", "WINDOWS", "FLOWLOG", "NFDUMP",
                                         "BACKUP"};
    if (running(s)) {
        return true;
    }
    if (s->head == NULL || s->head->toolong || !s->authed || s->cfg.stor == NULL) {
        return false;
    }
    const char *p = s->head->text;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    size_t vlen = strcspn(p, " \t");
    for (size_t i = 0; i < sizeof(heavy) / sizeof(heavy[0]); i++) {
        if (verb_is(p, vlen, heavy[i])) {
            return true;
        }
    }
    return false;
}

/* Hand pending output to the host. 0 when all taken, else QRY_STEP_BLOCKED/CLOSE. */
static int
flush(struct qry_session *s)
{
    if (s->pend.oom) {
        return QRY_STEP_CLOSE;
    }
    if (s->pend_off < s->pend.len) {
        int rc = s->out(s->out_arg, s->pend.p + s->pend_off, s->pend.len - s->pend_off);
        if (rc == QRY_E_AGAIN) {
            return QRY_STEP_BLOCKED;
        }
        if (rc != 0) {
            return QRY_STEP_CLOSE;
        }
    }
    s->pend.len = s->pend_off = 0;
    return 0;
}

/* The running request's next chunk, from the executor or the lister. */
static int
next_chunk(struct qry_session *s, const char **data, size_t *len)
{
    if (s->ex != NULL) {
        return qry_exec_next(s->ex, s->cfg.slice_ms, data, len);
    }
    if (s->be.x != NULL) {
        return qry__chexec_next(s->be.x, s->cfg.slice_ms, data, len);
    }
    return qry__lister_next(s->ls, s->cfg.slice_ms, data, len);
}

static void
query_done(struct qry_session *s, int rc)
{
    uint64_t rows, scanned = 0;
    const char *m;
    if (s->ex != NULL) {
        qry_exec_counts(s->ex, &rows, &scanned);
        m = qry_exec_errmsg(s->ex);
    } else if (s->be.x != NULL) {
        rows = qry__chexec_rows(s->be.x);
        m = qry__chexec_errmsg(s->be.x);
    } else {
        rows = qry__lister_rows(s->ls);
        m = qry__lister_errmsg(s->ls);
    }
    uint64_t ms = flow_mono_ms() - s->t0_ms;
    if (s->cfg.slow != NULL && s->cfg.slow_ms != 0 && ms >= s->cfg.slow_ms) {
        s->cfg.slow(s->cfg.slow_arg, s->req, ms, rows);
    }
    if (rc == 0) {
        say(s, "OK %llu rows %llu scanned %llu ms", (unsigned long long) rows,
            (unsigned long long) scanned, (unsigned long long) ms);
    } else {
        say(s, "ERR %s %s", err_code(rc), m[0] ? m : qry_strerror(rc));
    }
    end_query(s);
}

static void
query_step(struct qry_session *s, bool *produced)
{
    const char *data;
    size_t len;
    int rc = next_chunk(s, &data, &len);
    if (rc == 1) {
        /* Offer the chunk directly; copy it only when the host says not now. */
        int o = len > 0 ? s->out(s->out_arg, data, len) : 0;
        if (o == QRY_E_AGAIN) {
            qry__buf_put(&s->pend, data, len);
        } else if (o != 0) {
            s->closing = true;
        }
        *produced = true;
        return;
    }
    query_done(s, rc);
    *produced = true;
}

int
qry_session_step(struct qry_session *s)
{
    uint64_t start = flow_mono_ms();
    for (;;) {
        int rc = flush(s);
        if (rc != 0) {
            return rc;
        }
        if (s->closing) {
            return QRY_STEP_CLOSE;
        }
        bool produced = false;
        bool was_running = running(s);
        if (was_running) {
            query_step(s, &produced);
        } else if (s->head != NULL) {
            struct line *l = s->head;
            s->head = l->next;
            if (s->head == NULL) {
                s->tail = NULL;
            }
            s->qbytes -= l->len + 1;
            s->qlines--;
            handle(s, l);
            free(l);
            produced = true;
        } else {
            return QRY_STEP_IDLE;
        }
        /* One request per step once it is answered: the next one may belong on another
         * thread (qry_session_heavy), so the host decides again. */
        bool answered = !running(s) && (was_running || produced);
        if (answered || (produced && flow_mono_ms() - start >= s->cfg.slice_ms)) {
            rc = flush(s);
            if (rc != 0) {
                return rc;
            }
            return s->closing                      ? QRY_STEP_CLOSE
                   : running(s) || s->head != NULL ? QRY_STEP_MORE
                                                   : QRY_STEP_IDLE;
        }
    }
}
