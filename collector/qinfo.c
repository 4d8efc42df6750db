/* SPDX-License-Identifier: MIT */
/*
 * The query session's info hook, on the query plane's thread: STATS (the collector's totals,
 * the store's counters as stor_stats_each names them, the query server's and the TCP
 * sessions'), EXPORTERS (the exporter table) and "forget ADDR PORT|*" (EXPORTERS FORGET).
 * What belongs to the ingest loop is copied there through xcall.c and formatted here; the
 * store's counters are read here, off the ingest loop.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qserver_int.h"
#include "sink.h"

#define INGEST_WAIT_MS 2000u /* how long a request waits for the ingest loop */

struct rowctx {
    qry_row_fn *row;
    void *arg;
};

static int
kv(struct rowctx *r, const char *name, uint64_t v)
{
    static const char *const names[2] = {"name", "value"};
    char val[24];
    const char *vals[2] = {name, val};
    snprintf(val, sizeof(val), "%" PRIu64, v);
    return r->row(r->arg, 2, names, vals);
}

/* Run fn on the ingest loop; a deadline missed is counted. */
static int
on_ingest(struct coll_qserver *s, coll_xcall_fn *fn, void *arg)
{
    int rc = coll_xcall_run(s->in.ingest, fn, arg, INGEST_WAIT_MS);
    if (rc == -ETIMEDOUT) {
        s->st.ingest_timeouts++;
    }
    return rc;
}

/* ---- STATS ---- */

struct totals_req {
    const struct coll_stats_src *src;
    struct coll_totals t;
};

static int
get_totals(void *arg)
{
    struct totals_req *q = arg;
    coll_stats_totals(q->src, &q->t);
    return 0;
}

static int
collector_rows(struct rowctx *r, const struct coll_totals *t)
{
    const struct {
        const char *n;
        uint64_t v;
    } c[] = {{"datagrams", t->datagrams},
             {"octets", t->octets},
             {"records", t->records},
             {"records-dropped", t->records_dropped},
             {"denied-datagrams", t->denied_datagrams},
             {"denied-connections", t->denied_connections},
             {"socket-drops", t->socket_drops},
             {"overload-pauses", t->listen.overload_pauses},
             {"decode-errors", t->decode_errors},
             {"seq-missed", t->seq_missed},
             {"templates", t->templates},
             {"exporters", t->exporters.tracked},
             {"untracked-datagrams", t->exporters.untracked_datagrams},
             {"tcp-sessions", t->listen.tcp_sessions},
             {"tcp-sessions-accepted", t->listen.tcp_accepted},
             {"tcp-sessions-refused", t->listen.tcp_refused},
             {"tcp-sessions-idle-closed", t->listen.tcp_idle_closed},
             {"tcp-bad-streams", t->listen.tcp_bad_streams},
             {"tcp-fd-refused", t->listen.fd_refused},
             {"templates-save-errors", t->tmpl_save_errors},
             {"decoder-exporters-expired", t->dec_exporters_expired},
             {"decoder-exporters-evicted", t->dec_exporters_evicted},
             {"decoder-exporters-forgotten", t->dec_exporters_forgotten},
             {"decoder-snapshot-truncated", t->dec_snapshot_truncated},
             {"decoder-memory-bytes", t->dec_memory_bytes}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(c) / sizeof(c[0]); i++) {
        rc = kv(r, c[i].n, c[i].v);
    }
    /* The decode errors by reason, as the counter line gives them. */
    for (int k = 0; rc == 0 && k < DEC_R_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof(name), "decode-errors-%s", dec_reason_name(k));
        rc = kv(r, name, t->err[k]);
    }
    /* The repeater, per destination: repeat-sent-127.0.0.1:9995 and so on. */
    for (size_t i = 0; rc == 0 && i < t->repeat.n; i++) {
        const struct coll_repeat_stats *d = &t->repeat.d[i];
        const struct {
            const char *n;
            uint64_t v;
        } rr[] = {{"sent", d->sent}, {"dropped", d->dropped}, {"errors", d->errors}};
        for (size_t j = 0; rc == 0 && j < 3; j++) {
            char name[COLL_REPEAT_SPEC + 32];
            snprintf(name, sizeof(name), "repeat-%s-%s", rr[j].n, d->name);
            rc = kv(r, name, rr[j].v);
        }
    }
    return rc;
}

static int
store_row(void *arg, const char *name, uint64_t value, enum stor_stat_kind kind, const char *help)
{
    (void) kind;
    (void) help;
    return kv(arg, name, value);
}

static int
sink_row(void *arg, const char *name, uint64_t value)
{
    return kv(arg, name, value);
}

static int
query_rows(struct coll_qserver *s, struct rowctx *r)
{
    struct coll_qserver_stats q;
    uint64_t saved = 0, failed = 0;
    coll_qserver_stats(s, &q);
    if (s->in.plane != NULL) {
        coll_qplane_tmpl_counts(s->in.plane, &saved, &failed);
    }
    const struct {
        const char *n;
        uint64_t v;
    } c[] = {{"query-clients", q.clients},
             {"query-connections", q.accepted},
             {"query-refused", q.refused},
             {"query-fd-refused", q.fd_refused},
             {"query-stalled", q.stalled},
             {"query-idle-closed", q.idle_closed},
             {"query-auth-timeouts", q.auth_timeouts},
             {"query-line-timeouts", q.line_timeouts},
             {"query-auth-failures", q.auth_failures},
             {"query-yields", q.yields},
             {"query-ingest-timeouts", q.ingest_timeouts},
             {"query-store-requests", q.requests},
             {"templates-saved", saved},
             {"templates-save-failures", failed}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(c) / sizeof(c[0]); i++) {
        rc = kv(r, c[i].n, c[i].v);
    }
    return rc;
}

/* The collector's totals, gathered on the ingest loop at most once per QS_INGEST_FRESH_MS
 * whatever the clients ask (a client pipelining STATS cannot make the ingest loop work for
 * each). */
static int
fresh_totals(struct coll_qserver *s, const struct coll_totals **out)
{
    uint64_t now = uv_now(s->loop);
    struct totals_req q = {.src = s->in.stats};
    int rc;
    if (s->totals_ok && now - s->totals_ms < QS_INGEST_FRESH_MS) {
        *out = &s->totals;
        return 0;
    }
    if ((rc = on_ingest(s, get_totals, &q)) != 0) {
        return rc;
    }
    s->totals = q.t;
    s->totals_ms = now;
    s->totals_ok = true;
    *out = &s->totals;
    return 0;
}

static int
stats_rows(struct coll_qserver *s, struct rowctx *r)
{
    struct stor_stats st;
    const struct coll_totals *t;
    int rc = 0;
    if (s->in.stats != NULL && (rc = fresh_totals(s, &t)) == 0) {
        rc = collector_rows(r, t);
    }
    if (rc == 0) {
        stor_stats_get(s->stor, &st);
        rc = stor_stats_each(&st, store_row, r);
    }
    rc = rc != 0 ? rc : coll_sink_stats_each(sink_row, r); /* clickhouse-* (sink.c) */
    return rc != 0 ? rc : query_rows(s, r);
}

/* ---- EXPORTERS ---- */

struct exporters_req {
    const struct coll_stats_src *src;
    struct coll_exporter *e;
    size_t n, cap;
    int rc;
};

static int
copy_exporter(void *arg, const struct coll_exporter *e)
{
    struct exporters_req *q = arg;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64;
        struct coll_exporter *p = realloc(q->e, cap * sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        q->e = p;
        q->cap = cap;
    }
    q->e[q->n++] = *e;
    return 0;
}

static int
get_exporters(void *arg)
{
    struct exporters_req *q = arg;
    return coll_stats_each_exporter(q->src, copy_exporter, q);
}

static int
exporter_row(struct rowctx *r, const struct coll_exporter *e)
{
    static const char *const names[] = {"exporter",    "version",  "first-seen", "last-seen",
                                        "datagrams",   "octets",   "records",    "errors",
                                        "no-template", "seq-gaps", "seq-missed", "templates"};
    char v[12][64];
    const char *vals[12];
    coll_exporter_name(e, v[0], sizeof(v[0]));
    snprintf(v[1], 64, "%u", e->version);
    snprintf(v[2], 64, "%" PRIu64, e->first_ms / 1000u);
    snprintf(v[3], 64, "%" PRIu64, e->last_ms / 1000u);
    snprintf(v[4], 64, "%" PRIu64, e->datagrams);
    snprintf(v[5], 64, "%" PRIu64, e->octets);
    snprintf(v[6], 64, "%" PRIu64, e->records);
    snprintf(v[7], 64, "%" PRIu64, e->errors);
    snprintf(v[8], 64, "%" PRIu64, e->no_template);
    snprintf(v[9], 64, "%" PRIu64, e->seq_gaps);
    snprintf(v[10], 64, "%" PRIu64, e->seq_missed);
    snprintf(v[11], 64, "%u", e->templates);
    for (int i = 0; i < 12; i++) {
        vals[i] = v[i];
    }
    return r->row(r->arg, 12, names, vals);
}

/* The exporter table as copied from the ingest loop, at most once per QS_INGEST_FRESH_MS. */
static int
fresh_exporters(struct coll_qserver *s)
{
    uint64_t now = uv_now(s->loop);
    struct exporters_req q = {.src = s->in.stats};
    int rc;
    if (s->ex_ok && now - s->ex_ms < QS_INGEST_FRESH_MS) {
        return 0;
    }
    if ((rc = on_ingest(s, get_exporters, &q)) != 0) {
        free(q.e);
        return rc;
    }
    free(s->ex);
    s->ex = q.e;
    s->ex_n = q.n;
    s->ex_ms = now;
    s->ex_ok = true;
    return 0;
}

static int
exporters_rows(struct coll_qserver *s, struct rowctx *r)
{
    int rc = s->in.stats != NULL ? fresh_exporters(s) : 0;
    for (size_t i = 0; rc == 0 && s->ex_ok && i < s->ex_n; i++) {
        rc = exporter_row(r, &s->ex[i]);
    }
    return rc;
}

/* ---- forget ADDR PORT|* ---- */

struct forget_req {
    const struct coll_stats_src *src;
    uint8_t addr[16];
    int port;
    struct dec_src *gone;
    size_t n;
};

static int
do_forget(void *arg)
{
    struct forget_req *q = arg;
    int rc = coll_pipeline_forget_addr(q->src->pipe, q->addr, q->port, &q->gone, &q->n);
    if (rc == 0 && q->src->extab != NULL) {
        coll_extab_forget(q->src->extab, q->addr, q->port);
    }
    return rc;
}

/* "ADDR PORT" or "ADDR *" (ADDR as inet_ntop writes it) into q. */
static int
parse_forget(const char *arg, struct forget_req *q)
{
    char host[64], port[16];
    if (sscanf(arg, "%63s %15s", host, port) != 2) {
        return -EINVAL;
    }
    memset(q->addr, 0, 16);
    if (inet_pton(AF_INET, host, q->addr + 12) == 1) {
        q->addr[10] = q->addr[11] = 0xff;
    } else if (inet_pton(AF_INET6, host, q->addr) != 1) {
        return -EINVAL;
    }
    if (strcmp(port, "*") == 0) {
        q->port = -1;
        return 0;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*end != '\0' || p < 0 || p > 65535) {
        return -EINVAL;
    }
    q->port = (int) p;
    return 0;
}

static int
forget_rows(struct coll_qserver *s, const char *arg, struct rowctx *r)
{
    static const char *const names[2] = {"exporter", "port"};
    struct forget_req q = {.src = s->in.stats};
    int rc = parse_forget(arg, &q);
    if (rc == 0 && s->in.stats == NULL) {
        rc = -ENOTSUP;
    }
    if (rc == 0) {
        rc = on_ingest(s, do_forget, &q);
        s->totals_ok = s->ex_ok = false; /* what they showed has changed */
    }
    for (size_t i = 0; rc == 0 && i < q.n; i++) {
        char host[INET6_ADDRSTRLEN], port[8];
        const uint8_t *a = q.gone[i].addr;
        bool v4 = memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
        inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a + 12 : a, host, sizeof(host));
        snprintf(port, sizeof(port), "%u", (unsigned) q.gone[i].port);
        const char *vals[2] = {host, port};
        rc = r->row(r->arg, 2, names, vals);
    }
    free(q.gone);
    return rc;
}

int
qinfo_fn(void *arg, const char *what, qry_row_fn *row, void *row_arg)
{
    struct coll_qserver *s = arg;
    struct rowctx r = {row, row_arg};
    if (strcmp(what, "exporters") == 0) {
        return exporters_rows(s, &r);
    }
    if (strcmp(what, "health") == 0) {
        return coll_health_rows(s, row, row_arg);
    }
    if (strncmp(what, "forget ", 7) == 0) {
        return forget_rows(s, what + 7, &r);
    }
    return stats_rows(s, &r);
}
