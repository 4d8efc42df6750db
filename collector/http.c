/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's HTTP server (docs/http.md): libmicrohttpd with a thread per connection and a
 * polling thread of its own, so HTTP never runs on the ingest loop; queries run on the
 * connection's thread (http_api.c), like the query server's run on its threadpool.
 *
 * Every request passes, in this order: the connection budget (max_connections, at accept),
 * the header budget (header_max, 431), the Host check against DNS rebinding (421: a Host
 * must be an IP literal, localhost or a name in [http] hosts, with our port), the token
 * ([query] token and admin_token, by `Authorization: Bearer` or the HttpOnly SameSite=Strict
 * cookie /api/v1/login sets; 401), and for POST a same-origin check (an Origin or
 * Sec-Fetch-Site that says cross-site is 403) and the body budget (body_max, 413). Admin
 * actions are POST only, with the admin token when one is set. Each refusal is counted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flow_cidr.h"
#include "http_assets.h"
#include "http_chart.h"
#include "http_int.h"

#define MHD_MEMORY (512 * 1024) /* per connection: a URL may carry a 64 KiB query, escaped */
#define COOKIE     "flowlog_token"

struct req {
    bool admin; /* the request carried the admin token, or none is configured */
    bool too_large;
    char *body; /* at most body_max bytes, NUL-terminated */
    size_t body_len;
};

int
http_locked_info(void *arg, const char *what, qry_row_fn *row, void *row_arg)
{
    struct coll_http *h = arg;
    pthread_mutex_lock(&h->info_mu);
    int rc = h->host.info(h->host.info_arg, what, row, row_arg);
    pthread_mutex_unlock(&h->info_mu);
    return rc;
}

/* ---- checks ---- */

static bool
token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < lb; i++) {
        d |= (unsigned char) (a[i < la ? i : 0] ^ b[i]); /* constant time in b's length */
    }
    return d == 0 && la > 0;
}

static enum MHD_Result
sum_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *sum = cls;
    (void) kind;
    *sum += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Is name one of the configured [http] hosts (commas and/or blanks between them)? */
static bool
host_listed(const char *hosts, const char *name, size_t len)
{
    const char *p = hosts;
    while (*p != '\0') {
        size_t skip = strspn(p, ", \t"), n;
        p += skip;
        n = strcspn(p, ", \t");
        if (n == len && n > 0 && strncasecmp(p, name, n) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

/* A Host an attacker's DNS name cannot be: an IP literal, localhost or a configured name, and
 * our port (or none). */
static bool
host_ok(const struct coll_http *h, const char *host)
{
    char name[256], v6[64];
    const char *port = NULL;
    size_t len;
    if (host == NULL || strlen(host) >= sizeof(name)) {
        return false;
    }
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (end == NULL || (size_t) (end - host - 1) >= sizeof(v6)) {
            return false;
        }
        snprintf(v6, sizeof(v6), "%.*s", (int) (end - host - 1), host + 1);
        struct in6_addr a6;
        if (inet_pton(AF_INET6, v6, &a6) != 1 || (end[1] != '\0' && end[1] != ':')) {
            return false;
        }
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strchr(host, ':');
        len = colon != NULL ? (size_t) (colon - host) : strlen(host);
        snprintf(name, sizeof(name), "%.*s", (int) len, host);
        struct in_addr a4;
        if (inet_pton(AF_INET, name, &a4) != 1 && strcasecmp(name, "localhost") != 0 &&
            !host_listed(h->cfg.hosts, name, len)) {
            return false;
        }
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (port == NULL) {
        return true;
    }
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    return *end == '\0' && end != port && p == h->port;
}

/* The token the request carries: a Bearer header, else the login cookie; "" for none. */
static const char *
presented_token(struct MHD_Connection *conn)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        return auth + 7;
    }
    const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE);
    return c != NULL ? c : "";
}

/* 0 when the request may go on; otherwise the refusal was queued (*ret). */
static int
check_auth(struct coll_http *h, struct MHD_Connection *conn, const char *url, struct req *r,
           enum MHD_Result *ret)
{
    const char *t = presented_token(conn);
    bool has_token = h->token[0] != '\0', has_admin = h->admin_token[0] != '\0';
    bool admin = has_admin && token_eq(t, h->admin_token);
    bool authed = !has_token || admin || token_eq(t, h->token);
    bool guarded = strncmp(url, "/api/", 5) == 0 || strcmp(url, "/metrics") == 0;
    r->admin = admin || !has_admin;
    if (!guarded || strcmp(url, "/api/v1/login") == 0 || authed) {
        return 0;
    }
    atomic_fetch_add(&h->st.auth_failures, 1);
    *ret = http_error(conn, MHD_HTTP_UNAUTHORIZED, "AUTH",
                      "a token is needed: Authorization: Bearer TOKEN, or POST /api/v1/login");
    return -1;
}

/* A POST must come from our own pages (or a non-browser client, which sends no Origin). */
static bool
same_origin(struct MHD_Connection *conn)
{
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
        return false;
    }
    if (origin == NULL) {
        return true;
    }
    return host != NULL && strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

/* The first call for a request: every check before its body is read. */
static int
check_request(struct coll_http *h, struct MHD_Connection *conn, const char *url,
              const char *method, struct req *r, enum MHD_Result *ret)
{
    size_t hdr = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hdr);
    if (hdr > h->cfg.header_max) {
        atomic_fetch_add(&h->st.header_too_large, 1);
        *ret = http_error(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "LIMIT",
                          "request headers too large");
        return -1;
    }
    if (!host_ok(h, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
        atomic_fetch_add(&h->st.host_refused, 1);
        *ret = http_error(conn, MHD_HTTP_MISDIRECTED_REQUEST, "HOST",
                          "the Host header names no address of this server");
        return -1;
    }
    if (check_auth(h, conn, url, r, ret) != 0) {
        return -1;
    }
    if (strcmp(method, "POST") == 0 && !same_origin(conn)) {
        atomic_fetch_add(&h->st.denied, 1);
        *ret = http_error(conn, MHD_HTTP_FORBIDDEN, "DENIED", "a cross-site POST");
        return -1;
    }
    return 0;
}

/* ---- routes ---- */

static const char *
arg(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* A value that goes into a request line: no line breaks (NUL cannot reach here). */
static bool
one_line(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

/* The answer's form from format= (ndjson by default); -1 when unknown. */
static int
mode_of(const char *format)
{
    if (format == NULL || strcmp(format, "ndjson") == 0) {
        return API_NDJSON;
    }
    if (strcmp(format, "json") == 0) {
        return API_JSON;
    }
    if (strcmp(format, "csv") == 0) {
        return API_CSV;
    }
    if (strcmp(format, "chart") == 0) {
        return API_CHART;
    }
    return -1;
}

/* Run `VERB rest` (rest may be NULL) in the format asked for. */
static enum MHD_Result
run_verb(struct coll_http *h, struct MHD_Connection *conn, const char *verb, const char *rest)
{
    int mode = mode_of(arg(conn, "format"));
    if (mode < 0) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS",
                          "format= is ndjson, json, csv or chart");
    }
    uint32_t span_s = mode == API_CHART && rest != NULL ? http_chart_span_s(rest) : 0;
    if (mode == API_CHART && (strcmp(verb, "QUERY") != 0 || span_s == 0)) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS",
                          "format=chart needs a query with timechart SPAN of 1s or more");
    }
    if (rest != NULL && !one_line(rest)) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS", "a line break in an argument");
    }
    struct coll_http_buf b = {0};
    coll_http_buf_printf(&b, "FORMAT %s\n%s%s%s\n", mode == API_CSV ? "csv" : "json", verb,
                         rest != NULL && rest[0] != '\0' ? " " : "", rest != NULL ? rest : "");
    enum MHD_Result ret = b.failed ? MHD_NO : http_api_run(h, conn, mode, b.p, 1, span_s);
    coll_http_buf_free(&b);
    return ret;
}

static enum MHD_Result
get_query(struct coll_http *h, struct MHD_Connection *conn, const char *verb)
{
    const char *q = arg(conn, "q");
    if (q == NULL || q[0] == '\0') {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS", "q= is missing");
    }
    if (strcmp(verb, "EXPLAIN") != 0) {
        return run_verb(h, conn, verb, q);
    }
    if (!one_line(q)) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS", "a line break in an argument");
    }
    struct coll_http_buf b = {0};
    coll_http_buf_printf(&b, "EXPLAIN %s\n", q);
    enum MHD_Result ret = b.failed ? MHD_NO : http_api_run(h, conn, API_LINES, b.p, 0, 0);
    coll_http_buf_free(&b);
    return ret;
}

/* POST /api/v1/flowlogs?action=create|modify|start|stop|delete&name=N[&args=key=value ...] */
static enum MHD_Result
post_flowlog(struct coll_http *h, struct MHD_Connection *conn, const struct req *r)
{
    static const char *const actions[] = {"create", "modify", "start", "stop", "delete"};
    const char *action = arg(conn, "action"), *name = arg(conn, "name"), *args = arg(conn, "args");
    bool known = false;
    for (size_t i = 0; action != NULL && i < sizeof(actions) / sizeof(actions[0]); i++) {
        known = known || strcmp(action, actions[i]) == 0;
    }
    if (!r->admin) {
        atomic_fetch_add(&h->st.denied, 1);
        return http_error(conn, MHD_HTTP_FORBIDDEN, "DENIED", "this needs the admin token");
    }
    if (!known || name == NULL || name[0] == '\0' || strpbrk(name, " \t\r\n") != NULL ||
        (args != NULL && !one_line(args))) {
        return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS",
                          "action= (create, modify, start, stop, delete) and name= are needed");
    }
    char verb[16];
    snprintf(verb, sizeof(verb), "%s", action);
    for (char *p = verb; *p != '\0'; p++) {
        *p = (char) (*p - 'a' + 'A');
    }
    struct coll_http_buf b = {0};
    coll_http_buf_printf(&b, "FORMAT json\nFLOWLOG %s %s%s%s\n", verb, name,
                         args != NULL && args[0] != '\0' ? " " : "", args != NULL ? args : "");
    enum MHD_Result ret = b.failed ? MHD_NO : http_api_run(h, conn, API_NDJSON, b.p, 1, 0);
    coll_http_buf_free(&b);
    return ret;
}

enum MHD_Result
http_text_answer(struct MHD_Connection *conn, unsigned code, const char *type,
                 struct coll_http_buf *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->p, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        coll_http_buf_free(b);
        return MHD_NO;
    }
    *b = (struct coll_http_buf){0}; /* the response owns the text */
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
get_metrics(struct coll_http *h, struct MHD_Connection *conn)
{
    struct coll_http_buf b = {0};
    struct stor_stats st;
    bool truncated;
    stor_stats_get(h->host.stor, &st);
    int rc = coll_http_metrics(&b, &st, h->host.info != NULL ? http_locked_info : NULL, h,
                               &h->st, &truncated);
    if (truncated) {
        atomic_fetch_add(&h->st.metrics_truncated, 1);
    }
    if (rc != 0 || b.len == 0) {
        coll_http_buf_free(&b);
        return http_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL",
                          "the counters could not be read");
    }
    return http_text_answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result
cookie_answer(struct MHD_Connection *conn, const char *cookie, const char *message)
{
    struct coll_http_buf b = {0};
    coll_http_buf_printf(&b, "{\"status\":\"OK\",\"message\":\"%s\"}\n", message);
    struct MHD_Response *r = b.failed ? NULL : MHD_create_response_from_buffer(
                                                   b.len, b.p, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        coll_http_buf_free(&b);
        return MHD_NO;
    }
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (cookie != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    }
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* POST /api/v1/login, body `token=TOKEN` (form-encoded): the token in an HttpOnly,
 * SameSite=Strict cookie, so the console's requests carry it and other sites' cannot. */
static enum MHD_Result
post_login(struct coll_http *h, struct MHD_Connection *conn, struct req *r)
{
    char cookie[400];
    if (h->token[0] == '\0' && h->admin_token[0] == '\0') {
        return cookie_answer(conn, NULL, "no token is configured");
    }
    const char *t = r->body != NULL && strncmp(r->body, "token=", 6) == 0 ? r->body + 6 : "";
    char *tok = strdup(t);
    if (tok == NULL) {
        return MHD_NO;
    }
    MHD_http_unescape(tok);
    bool ok = (h->token[0] != '\0' && token_eq(tok, h->token)) ||
              (h->admin_token[0] != '\0' && token_eq(tok, h->admin_token));
    /* A cookie value carries no blanks, quotes, commas, semicolons or backslashes. */
    ok = ok && strpbrk(tok, " \t\",;\\") == NULL && strlen(tok) < 256;
    if (ok) {
        snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", tok);
    }
    free(tok);
    if (!ok) {
        atomic_fetch_add(&h->st.auth_failures, 1);
        return http_error(conn, MHD_HTTP_UNAUTHORIZED, "AUTH", "wrong token");
    }
    return cookie_answer(conn, cookie, "authenticated");
}

static enum MHD_Result
route_post(struct coll_http *h, struct MHD_Connection *conn, const char *url, struct req *r)
{
    if (strcmp(url, "/api/v1/login") == 0) {
        return post_login(h, conn, r);
    }
    if (strcmp(url, "/api/v1/logout") == 0) {
        return cookie_answer(conn, COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                             "logged out");
    }
    if (strcmp(url, "/api/v1/flowlogs") == 0) {
        return post_flowlog(h, conn, r);
    }
    return http_error(conn, MHD_HTTP_NOT_FOUND, "NOTFOUND", "no such resource");
}

/* The console's files (http_assets.h); "/" is /index.html. */
static enum MHD_Result
get_asset(struct MHD_Connection *conn, const char *url)
{
    const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
    for (size_t i = 0; i < http_assets_n; i++) {
        if (strcmp(http_assets[i].path, path) != 0) {
            continue;
        }
        struct MHD_Response *r = MHD_create_response_from_buffer(
            http_assets[i].len, (void *) http_assets[i].data, MHD_RESPMEM_PERSISTENT);
        if (r == NULL) {
            return MHD_NO;
        }
        http_add_common(r);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, http_assets[i].type);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    return http_error(conn, MHD_HTTP_NOT_FOUND, "NOTFOUND", "no such resource");
}

static enum MHD_Result
route_get(struct coll_http *h, struct MHD_Connection *conn, const char *url)
{
    if (strcmp(url, "/api/v1/query") == 0) {
        return get_query(h, conn, "QUERY");
    }
    if (strcmp(url, "/api/v1/fields") == 0) {
        return http_fields(h, conn);
    }
    if (strcmp(url, "/api/v1/tail") == 0) {
        return http_tail(h, conn);
    }
    if (strcmp(url, "/api/v1/explain") == 0) {
        return get_query(h, conn, "EXPLAIN");
    }
    if (strcmp(url, "/api/v1/windows") == 0) {
        return run_verb(h, conn, "WINDOWS", arg(conn, "range"));
    }
    if (strcmp(url, "/api/v1/exporters") == 0) {
        return run_verb(h, conn, "EXPORTERS", NULL);
    }
    if (strcmp(url, "/api/v1/stats") == 0) {
        return run_verb(h, conn, "STATS", NULL);
    }
    if (strcmp(url, "/api/v1/flowlogs") == 0) {
        const char *name = arg(conn, "name");
        if (name != NULL && strpbrk(name, " \t") != NULL) {
            return http_error(conn, MHD_HTTP_BAD_REQUEST, "ARGS", "a blank in name=");
        }
        return run_verb(h, conn, "FLOWLOG DESCRIBE", name);
    }
    if (strcmp(url, "/api/v1/health") == 0) { /* http_health.c */
        return http_health(h, conn);
    }
    if (strcmp(url, "/metrics") == 0) {
        return get_metrics(h, conn);
    }
    if (strcmp(url, "/api/v1/info") == 0) {
        struct coll_http_buf b = {0};
        coll_http_buf_printf(&b, "{\"status\":\"OK\",\"collector\":%s}\n",
                             h->host.info != NULL ? "true" : "false");
        return b.failed ? MHD_NO : http_text_answer(conn, MHD_HTTP_OK, "application/json", &b);
    }
    return get_asset(conn, url);
}

/* ---- libmicrohttpd's callbacks ---- */

/* A request's body, up to body_max; beyond it the request is refused once complete. */
static void
take_body(const struct coll_http *h, struct req *r, const char *data, size_t len)
{
    if (r->too_large || r->body_len + len > h->cfg.body_max) {
        r->too_large = true;
        return;
    }
    char *p = realloc(r->body, r->body_len + len + 1);
    if (p == NULL) {
        r->too_large = true;
        return;
    }
    memcpy(p + r->body_len, data, len);
    r->body = p;
    r->body_len += len;
    p[r->body_len] = '\0';
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    struct coll_http *h = cls;
    struct req *r = *con_cls;
    enum MHD_Result ret = MHD_YES;
    (void) version;
    if (r == NULL) {
        if ((r = calloc(1, sizeof(*r))) == NULL) {
            return MHD_NO;
        }
        *con_cls = r;
        if (check_request(h, conn, url, method, r, &ret) != 0) {
            return ret;
        }
        return MHD_YES; /* called again with the body, then once more without */
    }
    if (*upload_len > 0) {
        take_body(h, r, upload, *upload_len);
        *upload_len = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&h->st.requests, 1);
    if (r->too_large) {
        atomic_fetch_add(&h->st.body_too_large, 1);
        return http_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "LIMIT", "request body too large");
    }
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        return route_get(h, conn, url);
    }
    if (strcmp(method, "POST") == 0) {
        return route_post(h, conn, url, r);
    }
    return http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "VERB", "GET or POST");
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    struct coll_http *h = cls;
    (void) conn;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) {
        atomic_fetch_add(&h->st.timeouts, 1); /* a client stalled inside a request */
    }
    if (r != NULL) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* At accept: the connection budget. */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct coll_http *h = cls;
    (void) addr;
    (void) addrlen;
    if (atomic_load(&h->st.clients) >= h->cfg.max_connections) {
        atomic_fetch_add(&h->st.refused, 1);
        return MHD_NO;
    }
    return MHD_YES;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
              enum MHD_ConnectionNotificationCode code)
{
    struct coll_http *h = cls;
    (void) conn;
    (void) socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&h->st.clients, 1);
        atomic_fetch_add(&h->st.connections, 1);
    } else {
        atomic_fetch_sub(&h->st.clients, 1);
    }
}

/* ---- start and stop ---- */

/* "ADDR:PORT" or "[V6]:PORT" into *sa. */
static int
parse_listen(const char *spec, struct sockaddr_storage *sa)
{
    char host[64];
    const char *port;
    memset(sa, 0, sizeof(*sa));
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (end == NULL || end[1] != ':' || (size_t) (end - spec - 1) >= sizeof(host)) {
            return -EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int) (end - spec - 1), spec + 1);
        port = end + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL || (size_t) (colon - spec) >= sizeof(host)) {
            return -EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int) (colon - spec), spec);
        port = colon + 1;
    }
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (*end != '\0' || end == port || p > 65535) {
        return -EINVAL;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *) sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) p);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t) p);
        return 0;
    }
    return -EINVAL;
}

/* In 127.0.0.0/8 or ::1 (flow_cidr's 16-byte form: IPv4 as IPv4-mapped). */
static bool
is_loopback(const struct sockaddr_storage *sa)
{
    static const char *const nets[] = {"127.0.0.0/8", "::1"};
    uint8_t a[16] = {0};
    if (sa->ss_family == AF_INET) {
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &((const struct sockaddr_in *) sa)->sin_addr, 4);
    } else {
        memcpy(a, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
    }
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        struct flow_cidr c;
        if (flow_cidr_parse(nets[i], strlen(nets[i]), &c, NULL) == 0 &&
            flow_cidr_contains(&c, a)) {
            return true;
        }
    }
    return false;
}

/* Bind and listen ourselves, so that errors keep their errno and port 0 its answer. */
static int
listen_socket(struct coll_http *h, const struct sockaddr_storage *sa, int *out)
{
    socklen_t len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6);
    int one = 1, rc = 0;
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *) sa, len) != 0 || listen(fd, 64) != 0) {
        rc = -errno;
        goto close_fd;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    char addr[INET6_ADDRSTRLEN];
    if (getsockname(fd, (struct sockaddr *) &bound, &blen) != 0) {
        rc = -errno;
        goto close_fd;
    }
    if (bound.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *) &bound;
        inet_ntop(AF_INET, &v4->sin_addr, addr, sizeof(addr));
        h->port = ntohs(v4->sin_port);
        snprintf(h->name, sizeof(h->name), "%s:%u", addr, h->port);
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *) &bound;
        inet_ntop(AF_INET6, &v6->sin6_addr, addr, sizeof(addr));
        h->port = ntohs(v6->sin6_port);
        snprintf(h->name, sizeof(h->name), "[%s]:%u", addr, h->port);
    }
    *out = fd;
    return 0;
close_fd:
    close(fd);
    return rc;
}

static int
start_mhd(struct coll_http *h, int fd, bool v6)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | (v6 ? MHD_USE_IPv6 : 0);
    h->mhd = MHD_start_daemon(
        flags, h->port, on_accept, h, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) h->cfg.max_connections + 1u,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) h->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) MHD_MEMORY + h->cfg.header_max,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, h, MHD_OPTION_END);
    return h->mhd != NULL ? 0 : -EIO;
}

int
coll_http_start(const struct coll_http_cfg *cfg, const struct coll_http_host *host,
                struct coll_http **out, char *msg, size_t msglen)
{
    struct sockaddr_storage sa;
    int fd = -1, rc;
    struct coll_http *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(msg, msglen, "http: out of memory");
        return -ENOMEM;
    }
    h->cfg = *cfg;
    h->host = *host;
    snprintf(h->token, sizeof(h->token), "%s", host->token != NULL ? host->token : "");
    snprintf(h->admin_token, sizeof(h->admin_token), "%s",
             host->admin_token != NULL ? host->admin_token : "");
    h->host.token = h->token;
    h->host.admin_token = h->admin_token;
    pthread_mutex_init(&h->info_mu, NULL);
    pthread_mutex_init(&h->w.mu, NULL);
    pthread_cond_init(&h->w.cv, NULL);
    if ((rc = parse_listen(cfg->listen, &sa)) != 0) {
        snprintf(msg, msglen, "http address '%s': not ADDR:PORT or [ADDR]:PORT", cfg->listen);
        goto free_h;
    }
    if (!is_loopback(&sa) && h->token[0] == '\0') {
        snprintf(msg, msglen, "http address %s is not loopback: set a token", cfg->listen);
        rc = -EPERM;
        goto free_h;
    }
    if ((rc = listen_socket(h, &sa, &fd)) != 0) {
        snprintf(msg, msglen, "http %s: %s", cfg->listen, strerror(-rc));
        goto free_h;
    }
    if ((rc = http_watch_start(h)) != 0) {
        snprintf(msg, msglen, "http: no watcher thread: %s", strerror(-rc));
        goto close_fd;
    }
    if ((rc = start_mhd(h, fd, sa.ss_family == AF_INET6)) != 0) {
        snprintf(msg, msglen, "http %s: libmicrohttpd did not start", cfg->listen);
        goto stop_watch;
    }
    *out = h;
    return 0;
stop_watch:
    http_watch_stop(h);
close_fd:
    close(fd);
free_h:
    pthread_cond_destroy(&h->w.cv);
    pthread_mutex_destroy(&h->w.mu);
    pthread_mutex_destroy(&h->info_mu);
    free(h);
    return rc;
}

void
coll_http_name(const struct coll_http *h, char *buf, size_t len)
{
    snprintf(buf, len, "%s", h != NULL ? h->name : "");
}

const struct coll_http_stats *
coll_http_stats(const struct coll_http *h)
{
    return &h->st;
}

void
coll_http_stop(struct coll_http *h)
{
    if (h == NULL) {
        return;
    }
    /* Raise every running query's cancel flag first: the connection threads then finish
     * quickly and MHD_stop_daemon joins them. */
    http_cancel_all(h);
    atomic_store(&h->tail_stopping, true);
    int fd = MHD_quiesce_daemon(h->mhd);
    MHD_stop_daemon(h->mhd);
    if (fd >= 0) {
        close(fd);
    }
    http_watch_stop(h);
    pthread_cond_destroy(&h->w.cv);
    pthread_mutex_destroy(&h->w.mu);
    pthread_mutex_destroy(&h->info_mu);
    free(h);
}
