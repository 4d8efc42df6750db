/* SPDX-License-Identifier: MIT */
/*
 * Answering `stats`, `top` and `timechart` from window rollups (docs/query.md "Rollups";
 * storage/src/rollup.c stores them).
 *
 * A query qualifies by its shape: the aggregation is its first stage; it groups only by
 * rollup dimensions (flowlog and its labels region, vpc-id, eni-id; exporter, instance-id,
 * protocol, direction, action, log-status, window); its aggregates are count() and sum, avg,
 * min, max of packets or bytes (top's flows, packets and bytes); and its filter is made of
 * field terms on those dimensions only (and, or, not). Then every window of the range is
 * answered on its own: from its rollup when the window lies wholly in the range (and, for a
 * timechart, the span is a multiple of the window, so the window falls in one bucket) and
 * storage has an exact rollup for it (sealed, no runs left, every block covered); otherwise
 * by scanning that window's records. Both feed the same groups, which the executor's table
 * code (table.c) then orders, cuts and formats, so the answer is the scan's exactly.
 *
 * A rollup row stands for many records with the same dimension values: the filter is
 * evaluated once on a record made of those values (qry__match, the scan's own semantics),
 * and the row's totals are added to its group. Each window is read in a transaction of its
 * own (stor_rollup_get), so, as with partitions, two windows may be seen at different
 * commits.
 *
 * What it leaves to others: the executor's grouping strategies (group.c) and the scan
 * (exec.c); it creates groups through qry__group_new and keeps its own hash table of them.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "flow_clock.h"
#include "rollup.h"

static atomic_bool rollups_off;

void
qry_rollups_set(bool on)
{
    atomic_store(&rollups_off, !on);
}

bool
qry_rollups_get(void)
{
    return !atomic_load(&rollups_off);
}

static bool
dim_field(int f)
{
    switch (f) {
    case F_FLOWLOG:
    case F_REGION:
    case F_VPC:
    case F_ENI:
    case F_EXPORTER:
    case F_INSTANCE:
    case F_PROTOCOL:
    case F_DIRECTION:
    case F_ACTION:
    case F_LOGSTATUS:
    case F_WINDOW:
        return true;
    default:
        return false;
    }
}

/* Only field terms on dimensions, under and, or, not (nesting is bounded by the parser). */
static bool
expr_ok(const struct qry__node *n)
{
    if (n == NULL) {
        return true;
    }
    switch (n->kind) {
    case N_AND:
    case N_OR:
        for (size_t i = 0; i < n->nkids; i++) {
            if (!expr_ok(n->kids[i])) {
                return false;
            }
        }
        return true;
    case N_NOT:
        return expr_ok(n->a);
    case N_FIELD:
        return dim_field(n->field);
    default:
        return false;
    }
}

static const char *
aggs_why(const struct qry__stage *s)
{
    for (size_t i = 0; s->kind != S_TOP && i < s->naggs; i++) {
        const struct qry__agg *a = &s->aggs[i];
        if (a->kind == A_DC) {
            return "dc() needs the records";
        }
        if (a->kind != A_COUNT && a->field != F_PACKETS && a->field != F_BYTES) {
            return "an aggregate of a field rollups do not total (only packets and bytes)";
        }
    }
    return NULL;
}

const char *
qry__rollup_why(const struct qry *q)
{
    if (!qry_rollups_get()) {
        return "rollups are off";
    }
    if (q->nstages == 0) {
        return "no aggregation";
    }
    const struct qry__stage *s = &q->stages[0];
    if (s->kind != S_STATS && s->kind != S_TOP && s->kind != S_TIMECHART) {
        return "a stage before the aggregation, or none";
    }
    for (size_t i = 0; i < s->ncols; i++) {
        if (!dim_field(s->cols[i].field)) {
            return "groups by a field that is not a rollup dimension";
        }
    }
    const char *why = aggs_why(s);
    if (why != NULL) {
        return why;
    }
    return expr_ok(q->expr) ? NULL : "the filter needs fields or terms rollups do not keep";
}

const char *
qry__rollup_window_why(const struct qry *q, const struct stor_window_info *w)
{
    uint64_t lo = (uint64_t) w->start_s * 1000u, hi = lo + (uint64_t) w->window_s * 1000u;
    if (lo < q->from_ms || hi > q->to_ms) {
        return "window partly in the range";
    }
    if (q->stages[0].kind == S_TIMECHART && q->stages[0].span_ms % (hi - lo) != 0) {
        return "timechart span not a multiple of the window";
    }
    return w->sealed ? NULL : "window open";
}

/* ---- answering ---- */

struct ru_slot {
    uint64_t hash;
    struct qry__group *g;
};

struct ru {
    struct qry_exec *ex;
    struct stor_env *env;
    struct stor_window_info *wins;
    size_t nwins, capwins;
    struct ru_slot *slots; /* open addressing, at most half full */
    size_t nslots, n;
};

/* Totals a group takes: of a rollup row, or of one record. */
struct ru_add {
    uint64_t records;
    uint64_t n[2], sum[2], min[2], max[2];
};

static int
collect(void *arg, const struct stor_window_info *w)
{
    struct ru *u = arg;
    int32_t fl = u->ex->q->scan.flowlog;
    if (fl >= 0 && w->flowlog != (uint16_t) fl) {
        return 0;
    }
    if (u->nwins == u->capwins) {
        size_t cap = u->capwins ? u->capwins * 2 : 256;
        struct stor_window_info *p = realloc(u->wins, cap * sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        u->wins = p;
        u->capwins = cap;
    }
    u->wins[u->nwins++] = *w;
    return qry__ex_mem(u->ex, sizeof(*w));
}

static int
slots_grow(struct ru *u)
{
    size_t n = u->nslots ? u->nslots * 2 : 1024;
    struct ru_slot *t = calloc(n, sizeof(*t));
    if (t == NULL) {
        return qry__ex_fail(u->ex, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < u->nslots; i++) {
        if (u->slots[i].g != NULL) {
            size_t j = u->slots[i].hash & (n - 1);
            while (t[j].g != NULL) {
                j = (j + 1) & (n - 1);
            }
            t[j] = u->slots[i];
        }
    }
    free(u->slots);
    u->slots = t;
    u->nslots = n;
    return qry__ex_mem(u->ex, n * sizeof(*t) / 2);
}

/* The group of r (created when new). */
static int
group_of(struct ru *u, const struct flow_rec *r, struct qry__group **out)
{
    uint8_t key[1024];
    struct qry__val vals[40];
    size_t klen = 0;
    int rc;
    if (qry__group_key(u->ex, r, key, sizeof(key), &klen, vals) != 0) {
        return qry__ex_fail(u->ex, QRY_E_LIMIT, "group key too long");
    }
    if ((u->n + 1) * 2 > u->nslots && (rc = slots_grow(u)) != 0) {
        return rc;
    }
    uint64_t h = XXH3_64bits_withSeed(key, klen, u->ex->seed);
    size_t i = h & (u->nslots - 1);
    for (; u->slots[i].g != NULL; i = (i + 1) & (u->nslots - 1)) {
        struct qry__group *g = u->slots[i].g;
        if (u->slots[i].hash == h && g->klen == klen && memcmp(g->key, key, klen) == 0) {
            *out = g;
            return 0;
        }
    }
    if ((rc = qry__group_new(u->ex, key, klen, h, vals, false, out)) != 0) {
        return rc;
    }
    u->slots[i] = (struct ru_slot){.hash = h, .g = *out};
    u->n++;
    return 0;
}

static void
state_merge(struct qry__agg_state *st, const struct ru_add *a, int m)
{
    if (a->n[m] == 0) {
        return;
    }
    if (st->count == 0 || a->min[m] < st->min) {
        st->min = a->min[m];
    }
    if (st->count == 0 || a->max[m] > st->max) {
        st->max = a->max[m];
    }
    st->count += a->n[m];
    st->sum += a->sum[m];
}

/* Add totals a of records like r, if r passes the filter. */
static int
add(struct ru *u, const struct flow_rec *r, const struct ru_add *a)
{
    struct qry_exec *ex = u->ex;
    const struct qry__stage *s = ex->agg;
    struct qry__group *g;
    int m = qry__match(ex->q, ex->q->expr, r, &ex->nm, ex->md, ex->line, sizeof(ex->line));
    int rc;
    if (m <= 0) {
        return m < 0 ? qry__ex_fail(ex, QRY_E_REGEX, "a regex reached its match limit") : 0;
    }
    if ((rc = group_of(u, r, &g)) != 0) {
        return rc;
    }
    if (s->kind == S_TOP) {
        g->st->count += a->records; /* as group.c: count = flows, max = packets, sum = bytes */
        g->st->max += a->sum[0];
        g->st->sum += a->sum[1];
        return 0;
    }
    for (size_t i = 0; i < s->naggs; i++) {
        if (s->aggs[i].kind == A_COUNT) {
            g->st[i].count += a->records;
        } else {
            state_merge(&g->st[i], a, s->aggs[i].field == F_PACKETS ? 0 : 1);
        }
    }
    return 0;
}

/* The rollup rows of window w as records of their dimension values. */
static int
add_rows(struct ru *u, const struct stor_window_info *w, const struct stor_rollup_row *rows,
         size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct stor_rollup_row *x = &rows[i];
        struct flow_rec r;
        memset(&r, 0, sizeof(r));
        r.flowlog = w->flowlog;
        r.window = w->start_s;
        r.start_ms = r.end_ms = (uint64_t) w->start_s * 1000u; /* the window's bucket */
        r.present = x->present;
        r.protocol = x->protocol;
        r.direction = x->direction;
        r.action = x->action;
        r.log_status = x->log_status;
        memcpy(r.exporter, x->exporter, 16);
        memcpy(r.instance_id, x->instance_id, FLOW_ID_MAX);
        struct ru_add a = {.records = x->records};
        memcpy(a.n, x->n, sizeof(a.n));
        memcpy(a.sum, x->sum, sizeof(a.sum));
        memcpy(a.min, x->min, sizeof(a.min));
        memcpy(a.max, x->max, sizeof(a.max));
        rc = add(u, &r, &a);
    }
    return rc;
}

static void
rec_totals(const struct flow_rec *r, struct ru_add *a)
{
    bool p = (r->present & FLOW_HAS_PACKETS) != 0, b = (r->present & FLOW_HAS_BYTES) != 0;
    *a = (struct ru_add){.records = 1,
                         .n = {p, b},
                         .sum = {p ? r->packets : 0, b ? r->bytes : 0},
                         .min = {r->packets, r->bytes},
                         .max = {r->packets, r->bytes}};
}

/* Scan window w's records in the query's range (each record belongs to one window). */
static int
scan_window(struct ru *u, const struct stor_window_info *w)
{
    struct qry_exec *ex = u->ex;
    const struct qry *q = ex->q;
    uint64_t lo = (uint64_t) w->start_s * 1000u, hi = lo + (uint64_t) w->window_s * 1000u;
    struct stor_scan sc = q->scan;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    int rc;

    sc.from_ms = lo > q->from_ms ? lo : q->from_ms;
    sc.to_ms = hi < q->to_ms ? hi : q->to_ms;
    sc.flowlog = w->flowlog;
    if ((rc = stor_iter_open(ex->snap, &sc, &it)) != 0) {
        return qry__ex_fail(ex, rc, "storage: %s", stor_strerror(rc));
    }
    stor_iter_project(it, qry__projection(q));
    int arc = 0;
    while (arc == 0 && (rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n && arc == 0; i++) {
            const struct flow_rec *r = &recs[i];
            ex->scanned++;
            if (r->window != w->start_s || r->flowlog != w->flowlog || r->end_ms < sc.from_ms ||
                r->end_ms >= sc.to_ms) {
                continue;
            }
            struct ru_add a;
            rec_totals(r, &a);
            arc = add(u, r, &a);
        }
    }
    stor_iter_close(it);
    if (arc != 0) {
        return arc;
    }
    return rc < 0 ? qry__ex_fail(ex, rc, "storage: %s", stor_strerror(rc)) : 0;
}

/* One window: from its rollup when it has an exact one, else scanned. */
static int
window_answer(struct ru *u, const struct stor_window_info *w)
{
    struct stor_rollup_row *rows = NULL;
    size_t n = 0;
    int rc = 0;
    if (qry__rollup_window_why(u->ex->q, w) == NULL) {
        rc = stor_rollup_get(u->env, w->flowlog, w->start_s, &rows, &n);
    }
    if (rc < 0) {
        return qry__ex_fail(u->ex, rc, "storage: %s", stor_strerror(rc));
    }
    rc = rc == 1 ? add_rows(u, w, rows, n) : scan_window(u, w);
    free(rows);
    return rc;
}

int
qry__rollup_exec(struct qry_exec *ex, struct stor_env *env)
{
    struct ru u = {.ex = ex, .env = env};
    int rc;

    if (env == NULL || ex->agg == NULL || qry__rollup_why(ex->q) != NULL) {
        return 0;
    }
    rc = stor_windows_each(ex->snap, ex->q->from_ms, ex->q->to_ms, collect, &u);
    if (rc != 0 && ex->errmsg[0] == '\0') {
        rc = qry__ex_fail(ex, rc, "storage: %s", stor_strerror(rc));
    }
    for (size_t i = 0; rc == 0 && i < u.nwins; i++) {
        if ((rc = qry__ex_check_time(ex)) == 0) {
            rc = window_answer(&u, &u.wins[i]);
        }
    }
    free(u.wins);
    free(u.slots);
    if (rc == 0) {
        ex->phase = PH_EMIT_TABLE;
        rc = qry__table_build(ex);
    }
    return rc < 0 ? rc : 1;
}
