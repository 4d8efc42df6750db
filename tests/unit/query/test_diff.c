/* SPDX-License-Identifier: MIT */
/*
 * Differential test of storage and the query engine against an oracle written here.
 *
 * Random records go into a temporary store through storage's write API: three quarters are
 * then sealed into summarised blocks, the rest stay in open (late) runs. Many of the sealed
 * records are twins of an earlier one (same aggregation key, same window) that differ in
 * their counters, times and optional fields (RTT, account-id present or not, FLOW_F_TIME_SKEW),
 * and some are near-twins that differ only in exporter port, version or sampling rate.
 *
 * The oracle aggregates the *submitted* records itself, per flow log (the default one),
 * window and aggregation key, as DESIGN.md §4 says: packets and bytes summed, start the
 * minimum, end the maximum, tcp-flags and flags OR'ed, an optional field taken from the first
 * record that carries it. So it does not inherit storage's mistakes (code review M6).
 *
 * Stages compared: what storage returns from an unfiltered scan against the oracle's records,
 * field by field; then random queries run through qry_compile/qry_exec and through a
 * brute-force evaluator over the oracle's records. Row sets, counts, sums, distinct counts,
 * optional fields and top/sort orders must be equal. Pushdown, block skipping, the filter,
 * the engine's aggregation and the formatter are all on the engine's side of the comparison.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "qry.h"

#define T0        1763798400u
#define NRECS     4000
#define NQUERIES  300
#define WINDOW_MS 600000u /* the default flow log's capture window */

struct fx {
    char dir[64];
    struct stor_env *env;
    struct flow_rec *all;
    size_t nall;
};

static uint64_t seed = 12345;

static uint32_t
rnd(uint32_t n)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (seed >> 33) % n;
}

static const uint16_t ports[] = {22, 53, 80, 443, 3389, 8080, 123, 0};
static const uint8_t protos[] = {6, 17, 1};

static struct flow_rec
mk(uint32_t i)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, 0, (uint8_t) rnd(4), (uint8_t) rnd(20)};
    uint8_t b[4] = {172, 16, (uint8_t) rnd(3), (uint8_t) rnd(30)};
    uint8_t e[4] = {192, 0, 2, (uint8_t) (1 + rnd(2))};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    flow_addr_set_v4(r.exporter, e);
    r.srcport = (uint16_t) (1024 + i); /* unique 5-tuples: storage never merges two */
    r.dstport = ports[rnd(8)];
    r.protocol = protos[rnd(3)];
    r.packets = 1 + rnd(1000);
    r.bytes = r.packets * (40 + rnd(1400));
    r.end_ms = (uint64_t) (T0 + rnd(1800)) * 1000u + rnd(1000);
    r.start_ms = r.end_ms - rnd(5000);
    r.version = 10;
    r.exporter_port = 2055;
    r.action = (uint8_t) rnd(2);
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_PROTOCOL |
                FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    if (rnd(4) == 0) {
        r.present |= FLOW_HAS_SAMPLING;
        r.sampling = rnd(2) ? 1 : 100;
    }
    if (rnd(10) != 0) {
        r.present |= FLOW_HAS_DSTPORT;
    } else {
        r.dstport = 0;
    }
    if (rnd(3) != 0) {
        r.present |= FLOW_HAS_INSTANCE;
        snprintf(r.instance_id, FLOW_ID_MAX, "sag-%u", rnd(5));
    }
    return r;
}

/* The optional fields outside the key: each record may or may not carry them. */
static void
optional_fields(struct flow_rec *r)
{
    if (rnd(3) == 0) {
        r->present |= FLOW_HAS_RTT;
        r->rtt_us = 1 + rnd(50000);
    }
    if (rnd(3) == 0) {
        r->present |= FLOW_HAS_ACCOUNT;
        snprintf(r->account_id, FLOW_ID_MAX, "acct-%u", rnd(4));
    }
    if (rnd(5) == 0) {
        r->flags |= FLOW_F_TIME_SKEW;
    }
}

/* A record with o's key in o's window, new counters, times and optional fields; sometimes
 * a near-twin whose exporter port, version or sampling differs (a key of its own). */
static struct flow_rec
twin(const struct flow_rec *o)
{
    struct flow_rec r = *o;
    r.present &= ~(uint32_t) (FLOW_HAS_RTT | FLOW_HAS_ACCOUNT);
    r.rtt_us = 0;
    memset(r.account_id, 0, sizeof(r.account_id));
    r.flags = 0;
    r.packets = 1 + rnd(1000);
    r.bytes = r.packets * (40 + rnd(1400));
    r.tcp_flags = (uint16_t) (1u << rnd(6));
    r.present |= FLOW_HAS_TCPFLAGS;
    r.end_ms = o->end_ms / WINDOW_MS * WINDOW_MS + rnd(WINDOW_MS);
    r.start_ms = r.end_ms - rnd(5000);
    switch (rnd(8)) {
    case 0:
        r.exporter_port = 9995;
        break;
    case 1:
        r.version = 9;
        break;
    case 2:
        r.present |= FLOW_HAS_SAMPLING;
        r.sampling = o->sampling == 100 ? 10 : 100;
        break;
    default:
        break;
    }
    optional_fields(&r);
    return r;
}

static bool
same_key(const struct flow_rec *a, const struct flow_rec *b)
{
    return a->end_ms / WINDOW_MS == b->end_ms / WINDOW_MS &&
           memcmp(a->srcaddr, b->srcaddr, 16) == 0 && memcmp(a->dstaddr, b->dstaddr, 16) == 0 &&
           memcmp(a->exporter, b->exporter, 16) == 0 && a->exporter_port == b->exporter_port &&
           a->version == b->version && a->domain == b->domain && a->sampling == b->sampling &&
           a->srcport == b->srcport && a->dstport == b->dstport && a->protocol == b->protocol &&
           a->direction == b->direction && a->action == b->action && a->tos == b->tos &&
           a->inport == b->inport && a->outport == b->outport && a->log_status == b->log_status &&
           strcmp(a->instance_id, b->instance_id) == 0;
}

/* The oracle (DESIGN.md §4): fold r into the aggregated records out[0..*n). */
static void
oracle_add(struct flow_rec *out, size_t *n, const struct flow_rec *r)
{
    static const uint32_t optional = FLOW_HAS_RTT | FLOW_HAS_ACCOUNT | FLOW_HAS_SNID;
    for (size_t i = 0; i < *n; i++) {
        struct flow_rec *a = &out[i];
        if (!same_key(a, r)) {
            continue;
        }
        uint32_t fresh = r->present & ~a->present & optional;
        a->packets += r->packets;
        a->bytes += r->bytes;
        a->start_ms = r->start_ms < a->start_ms ? r->start_ms : a->start_ms;
        a->end_ms = r->end_ms > a->end_ms ? r->end_ms : a->end_ms;
        a->tcp_flags |= r->tcp_flags;
        a->flags |= r->flags;
        a->present |= r->present;
        a->rtt_us = fresh & FLOW_HAS_RTT ? r->rtt_us : a->rtt_us;
        if (fresh & FLOW_HAS_ACCOUNT) {
            memcpy(a->account_id, r->account_id, FLOW_ID_MAX);
        }
        return;
    }
    out[(*n)++] = *r;
}

static void
submit(struct fx *f, size_t from, size_t to, const struct flow_rec *recs)
{
    while (from < to) {
        struct stor_batch *b = stor_batch_get(f->env);
        assert_non_null(b);
        size_t n = to - from < b->cap ? to - from : b->cap;
        memcpy(b->recs, recs + from, n * sizeof(*recs));
        b->n = n;
        b->nmsgs = 0;
        stor_batch_submit(f->env, b);
        from += n;
    }
    assert_int_equal(stor_sync(f->env), 0);
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct stor_cfg cfg;
    char msg[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-q-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&cfg);
    cfg.dir = f->dir;
    cfg.block_records = 64;
    cfg.commit_ms = 20;
    assert_int_equal(stor_open(&f->env, &cfg, msg, sizeof(msg)), 0);
    struct flow_rec *recs = calloc(NRECS, sizeof(*recs));
    /* The sealed three quarters hold twins; the open quarter has keys of its own (open runs
     * are aggregated per commit only, docs/storage.md). */
    for (uint32_t i = 0; i < NRECS; i++) {
        if (i > 0 && i < NRECS * 3 / 4 && rnd(3) == 0) {
            recs[i] = twin(&recs[rnd(i)]);
        } else {
            recs[i] = mk(i);
            optional_fields(&recs[i]);
        }
    }
    f->all = calloc(NRECS, sizeof(*f->all));
    for (uint32_t i = 0; i < NRECS; i++) {
        oracle_add(f->all, &f->nall, &recs[i]);
    }
    assert_true(f->nall < NRECS * 9 / 10); /* the twins did merge */
    submit(f, 0, NRECS * 3 / 4, recs);
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);
    submit(f, NRECS * 3 / 4, NRECS, recs);
    free(recs);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->all);
    free(f);
    return 0;
}

/* One stored record against the oracle's: 0 when equal, else what differs. */
static const char *
stored_diff(const struct flow_rec *got, const struct flow_rec *want)
{
    if (got->packets != want->packets || got->bytes != want->bytes) {
        return "packets/bytes";
    }
    if (got->start_ms != want->start_ms || got->end_ms != want->end_ms) {
        return "start/end";
    }
    if (got->present != want->present) {
        return "presence bits";
    }
    if (got->flags != want->flags || got->tcp_flags != want->tcp_flags) {
        return "flags";
    }
    if ((want->present & FLOW_HAS_RTT) && got->rtt_us != want->rtt_us) {
        return "rtt";
    }
    if ((want->present & FLOW_HAS_ACCOUNT) && strcmp(got->account_id, want->account_id) != 0) {
        return "account-id";
    }
    return NULL;
}

/* The storage stage: an unfiltered scan returns exactly the oracle's records. */
static void
test_stored(void **state)
{
    struct fx *f = *state;
    struct stor_snap *snap;
    struct stor_iter *it;
    struct stor_scan scan = {.from_ms = 0, .to_ms = UINT64_MAX, .flowlog = -1};
    const struct flow_rec *r;
    size_t n, total = 0, wrong = 0;
    bool *seen = calloc(f->nall, sizeof(*seen));
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &scan, &it), 0);
    while (stor_iter_next(it, &r, &n) == 1) {
        for (size_t k = 0; k < n; k++, total++) {
            size_t i = 0;
            while (i < f->nall && (seen[i] || !same_key(&f->all[i], &r[k]))) {
                i++;
            }
            const char *d =
                i == f->nall ? "no such key in the oracle" : stored_diff(&r[k], &f->all[i]);
            if (d != NULL && wrong++ < 5) {
                print_error("stored record %zu (srcport %u): %s\n", total, r[k].srcport, d);
            }
            if (i < f->nall) {
                seen[i] = true;
            }
        }
    }
    stor_iter_close(it);
    stor_snap_end(snap);
    free(seen);
    assert_int_equal(wrong, 0);
    assert_int_equal(total, f->nall);
}

/* Run a query; the whole output (status line excluded) as a malloc'ed string. */
static char *
run(struct fx *f, const char *text, enum qry_fmt fmt, int *rc_out)
{
    struct qry *q;
    struct qry_error e;
    struct stor_snap *snap;
    struct qry_exec *ex;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    int rc = qry_compile(&q, text, strlen(text), (uint64_t) T0 * 1000u, &e);
    if (rc != 0) {
        fail_msg("compile '%s': col %d: %s", text, e.col, e.msg);
    }
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(qry_exec_open(&ex, f->env, q, snap, fmt, NULL, NULL), 0);
    const char *d;
    size_t n;
    while ((rc = qry_exec_next(ex, 0, &d, &n)) == 1) {
        while (len + n + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        memcpy(out + len, d, n);
        len += n;
    }
    out[len] = '\0';
    qry_exec_close(ex);
    stor_snap_end(snap);
    qry_free(q);
    *rc_out = rc;
    return out;
}

/* ---- the brute-force side ---- */

enum pk {
    P_SRCNET,
    P_DSTPORT,
    P_DSTPORT_IN,
    P_PROTO,
    P_BYTES_GT,
    P_PKTS_LE,
    P_REJECT,
    P_ADDR_KW,
    P_INSTANCE,
    P_KW_REJECT,
    P_DSTPORT_NE,
    P_KW_PORT,
    P_REGEX_SRC,
    P_REGEX_LINE,
    P_NPRED
};

struct pred {
    int kind; /* enum pk, or -1 and, -2 or, -3 not */
    struct pred *a, *b;
    uint32_t x, y;
};

static bool
has(const struct flow_rec *r, uint32_t bit)
{
    return (r->present & bit) != 0;
}

static bool
eval(const struct pred *p, const struct flow_rec *r)
{
    switch (p->kind) {
    case -1:
        return eval(p->a, r) && eval(p->b, r);
    case -2:
        return eval(p->a, r) || eval(p->b, r);
    case -3:
        return !eval(p->a, r);
    case P_SRCNET:
    case P_REGEX_SRC:
        return r->srcaddr[14] == p->x;
    case P_REGEX_LINE:
        return r->action == 1; /* " REJECT " appears in the text line only as the action */
    case P_DSTPORT:
        return has(r, FLOW_HAS_DSTPORT) && r->dstport == p->x;
    case P_DSTPORT_IN:
        return has(r, FLOW_HAS_DSTPORT) && (r->dstport == p->x || r->dstport == p->y);
    case P_PROTO:
        return r->protocol == p->x;
    case P_BYTES_GT:
        return r->bytes > (uint64_t) p->x * 1000u;
    case P_PKTS_LE:
        return r->packets <= p->x;
    case P_REJECT:
    case P_KW_REJECT:
        return r->action == 1;
    case P_ADDR_KW:
        return (r->srcaddr[14] == p->x && r->srcaddr[15] == p->y && r->srcaddr[12] == 10) ||
               (r->dstaddr[12] == 172 && r->dstaddr[14] == p->x && r->dstaddr[15] == p->y);
    case P_INSTANCE:
        return has(r, FLOW_HAS_INSTANCE) && strcmp(r->instance_id, "sag-") > 0 &&
               (uint32_t) atoi(r->instance_id + 4) == p->x;
    case P_DSTPORT_NE:
        return has(r, FLOW_HAS_DSTPORT) && r->dstport != p->x;
    case P_KW_PORT:
        /* a number keyword: any numeric field whose text equals it */
        return (has(r, FLOW_HAS_DSTPORT) && r->dstport == p->x) || r->srcport == p->x ||
               (has(r, FLOW_HAS_RTT) && r->rtt_us == p->x) ||
               (has(r, FLOW_HAS_TCPFLAGS) && r->tcp_flags == p->x) ||
               (has(r, FLOW_HAS_SAMPLING) && r->sampling == p->x) || r->packets == p->x ||
               r->bytes == p->x || r->protocol == p->x || r->version == p->x || r->domain == p->x ||
               r->start_ms / 1000 == p->x || r->end_ms / 1000 == p->x ||
               (uint64_t) r->window == p->x;
    default:
        return false;
    }
}

static void
cat(char *buf, size_t cap, const char *fmt, ...)
{
    size_t l = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + l, cap - l, fmt, ap);
    va_end(ap);
}

static struct pred *
gen(int depth, char *text, size_t cap, struct pred *pool, size_t *np)
{
    static const char *const pnames[] = {"icmp", "tcp", "udp"};
    struct pred *p = &pool[(*np)++];
    memset(p, 0, sizeof(*p));
    if (depth > 0 && rnd(3) == 0) {
        int k = (int) rnd(3);
        p->kind = -1 - k;
        if (k == 2) {
            cat(text, cap, "not ");
            p->a = gen(depth - 1, text, cap, pool, np);
            return p;
        }
        cat(text, cap, "(");
        p->a = gen(depth - 1, text, cap, pool, np);
        cat(text, cap, k == 0 ? (rnd(2) ? " and " : " ") : " or ");
        p->b = gen(depth - 1, text, cap, pool, np);
        cat(text, cap, ")");
        return p;
    }
    p->kind = (int) rnd(P_NPRED);
    switch (p->kind) {
    case P_SRCNET:
        p->x = rnd(4);
        cat(text, cap, "srcaddr:10.0.%u.0/24", p->x);
        break;
    case P_DSTPORT:
        p->x = ports[rnd(7)];
        cat(text, cap, "dstport:%u", p->x);
        break;
    case P_DSTPORT_IN:
        p->x = ports[rnd(7)];
        p->y = ports[rnd(7)];
        cat(text, cap, "dst_port in (%u, %u)", p->x, p->y);
        break;
    case P_PROTO: {
        uint32_t i = rnd(3);
        p->x = protos[i];
        cat(text, cap, "protocol:%s", p->x == 6 ? pnames[1] : p->x == 17 ? pnames[2] : pnames[0]);
        break;
    }
    case P_BYTES_GT:
        p->x = rnd(800);
        cat(text, cap, "bytes>%uk", p->x);
        break;
    case P_PKTS_LE:
        p->x = rnd(1000);
        cat(text, cap, "packets <= %u", p->x);
        break;
    case P_REJECT:
        cat(text, cap, "action:reject");
        break;
    case P_ADDR_KW: {
        /* one address keyword: 10.0.x.y can only be a source here, 172.16.x.y a destination */
        bool src = rnd(2) == 0;
        p->x = rnd(3);
        p->y = rnd(20);
        p->kind = src ? 100 : 101;
        cat(text, cap, "%s.%u.%u", src ? "10.0" : "172.16", p->x, p->y);
        break;
    }
    case P_INSTANCE:
        p->x = rnd(6);
        cat(text, cap, "instance-id:sag-%u", p->x);
        break;
    case P_KW_REJECT:
        cat(text, cap, "REJECT");
        break;
    case P_REGEX_SRC:
        p->x = rnd(4);
        cat(text, cap, "srcaddr ~ /^10\\.0\\.%u\\./", p->x);
        break;
    case P_REGEX_LINE:
        cat(text, cap, "/ REJECT /");
        break;
    case P_DSTPORT_NE:
        p->x = ports[rnd(7)];
        cat(text, cap, "dstport != %u", p->x);
        break;
    default:
        p->x = ports[rnd(7)];
        cat(text, cap, "%u", p->x);
        break;
    }
    return p;
}

static bool
eval2(const struct pred *p, const struct flow_rec *r)
{
    if (p->kind == 100) {
        return r->srcaddr[14] == p->x && r->srcaddr[15] == p->y;
    }
    if (p->kind == 101) {
        return r->dstaddr[14] == p->x && r->dstaddr[15] == p->y;
    }
    if (p->kind < 0) {
        struct pred c = *p;
        bool a = eval2(p->a, r);
        if (p->kind == -3) {
            return !a;
        }
        bool b = eval2(p->b, r);
        (void) c;
        return p->kind == -1 ? a && b : a || b;
    }
    return eval(p, r);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sort the lines of s in place order-independently; returns them joined. */
static char *
sorted_lines(char *s)
{
    size_t n = 0, cap = 1024;
    char **v = malloc(cap * sizeof(*v));
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof(*v));
        }
        v[n++] = l;
    }
    qsort(v, n, sizeof(*v), cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        total += strlen(v[i]) + 1;
    }
    char *out = malloc(total);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, v[i]);
        strcat(out, "\n");
    }
    free(v);
    return out;
}

static void
addr(char *buf, const uint8_t a[16])
{
    inet_ntop(AF_INET, a + 12, buf, 16);
}

/* One random query with a random tail; compares the engine with the brute force. */
static void
one_query(struct fx *f, int qi)
{
    char text[2048] = "", tail[256] = "";
    struct pred pool[64];
    size_t np = 0;
    struct pred *p = NULL;
    if (rnd(8) != 0) {
        p = gen(2, text, sizeof(text), pool, &np);
    } else {
        snprintf(text, sizeof(text), "*");
    }
    size_t cap = 1 << 20;
    char *want = malloc(cap);
    want[0] = '\0';
    int mode = (int) rnd(8);
    static uint32_t pairs[65537][3]; /* by dstport (+1, 0 = missing), protocol 1/6/17 */
    memset(pairs, 0, sizeof(pairs));
    uint64_t bucket[4] = {0};
    uint64_t cnt = 0, sum = 0, minp = UINT64_MAX, maxp = 0;
    uint64_t proto_cnt[256] = {0}, proto_sum[256] = {0};
    uint8_t seenport[65536] = {0};
    uint64_t dc = 0;
    uint64_t *vals = malloc(f->nall * sizeof(*vals));
    size_t nvals = 0;
    for (size_t i = 0; i < f->nall; i++) {
        const struct flow_rec *r = &f->all[i];
        if (p != NULL && !eval2(p, r)) {
            continue;
        }
        char s[20], d[20];
        addr(s, r->srcaddr);
        addr(d, r->dstaddr);
        cnt++;
        sum += r->bytes;
        proto_cnt[r->protocol]++;
        proto_sum[r->protocol] += r->bytes;
        minp = r->packets < minp ? r->packets : minp;
        maxp = r->packets > maxp ? r->packets : maxp;
        if (has(r, FLOW_HAS_DSTPORT) && !seenport[r->dstport]) {
            seenport[r->dstport] = 1;
            dc++;
        }
        vals[nvals++] = r->bytes;
        bucket[(r->end_ms / 600000u - T0 / 600u) & 3]++;
        pairs[has(r, FLOW_HAS_DSTPORT) ? r->dstport + 1u : 0][r->protocol == 1   ? 0
                                                              : r->protocol == 6 ? 1
                                                                                 : 2]++;
        if (mode == 0) {
            char dp[8];
            snprintf(dp, sizeof(dp), "%u", r->dstport);
            cat(want, cap, "%s %s %u %s %llu\n", s, d, r->srcport,
                has(r, FLOW_HAS_DSTPORT) ? dp : "-", (unsigned long long) r->bytes);
        }
        if (mode == 7) {
            char rtt[16], smp[16];
            snprintf(rtt, sizeof(rtt), "%u", r->rtt_us);
            snprintf(smp, sizeof(smp), "%u", r->sampling);
            cat(want, cap, "%s %u %llu %llu %s %s %s %llu\n", s, r->srcport,
                (unsigned long long) r->packets, (unsigned long long) r->bytes,
                has(r, FLOW_HAS_RTT) ? rtt : "-", has(r, FLOW_HAS_ACCOUNT) ? r->account_id : "-",
                has(r, FLOW_HAS_SAMPLING) ? smp : "-", (unsigned long long) (r->start_ms / 1000u));
        }
    }
    switch (mode) {
    case 0:
        snprintf(tail, sizeof(tail), " | fields srcaddr, dstaddr, srcport, dstport, bytes");
        break;
    case 1:
        snprintf(tail, sizeof(tail), " | stats count(), sum(bytes) as b by protocol");
        for (int pr = 0; pr < 256; pr++) {
            if (proto_cnt[pr]) {
                cat(want, cap, "%d %llu %llu\n", pr, (unsigned long long) proto_cnt[pr],
                    (unsigned long long) proto_sum[pr]);
            }
        }
        break;
    case 2:
        snprintf(tail, sizeof(tail), " | stats count, dc(dstport), min(packets), max(packets)");
        if (cnt) {
            cat(want, cap, "%llu %llu %llu %llu\n", (unsigned long long) cnt,
                (unsigned long long) dc, (unsigned long long) minp, (unsigned long long) maxp);
        } else {
            cat(want, cap, "0 0 - -\n");
        }
        break;
    case 7: /* the values a merge must carry over */
        snprintf(tail, sizeof(tail),
                 " | fields srcaddr, srcport, packets, bytes, rtt, account-id, sampling, start");
        break;
    case 6: /* two small-domain fields: the packed-key table */
        snprintf(tail, sizeof(tail), " | stats count by dstport, protocol");
        for (unsigned d = 0; d < 65537; d++) {
            for (unsigned k = 0; k < 3; k++) {
                if (pairs[d][k] == 0) {
                    continue;
                }
                char dp[8] = "-";
                if (d > 0) {
                    snprintf(dp, sizeof(dp), "%u", d - 1);
                }
                cat(want, cap, "%s %u %u\n", dp, protos[k == 0 ? 2 : k == 1 ? 0 : 1], pairs[d][k]);
            }
        }
        break;
    case 5:
        snprintf(tail, sizeof(tail), " | timechart 10m count");
        for (unsigned b = 0; b < 4; b++) {
            if (bucket[b]) {
                cat(want, cap, "%u %llu\n", T0 + 600 * b, (unsigned long long) bucket[b]);
            }
        }
        break;
    default: {
        /* sort bytes desc | limit K: the K largest byte counts, in order */
        unsigned k = 1 + rnd(20);
        snprintf(tail, sizeof(tail), " | sort bytes desc | limit %u | fields bytes", k);
        for (size_t i = 0; i < nvals; i++) {
            for (size_t j = i + 1; j < nvals; j++) {
                if (vals[j] > vals[i]) {
                    uint64_t t = vals[i];
                    vals[i] = vals[j];
                    vals[j] = t;
                }
            }
            if (i + 1 >= k) {
                break;
            }
        }
        for (size_t i = 0; i < nvals && i < k; i++) {
            cat(want, cap, "%llu\n", (unsigned long long) vals[i]);
        }
        break;
    }
    }
    strncat(text, tail, sizeof(text) - strlen(text) - 1);
    int rc;
    char *got = run(f, text, QRY_FMT_TEXT, &rc);
    assert_int_equal(rc, 0);
    bool ordered = mode >= 3 && mode != 6 && mode != 7; /* sort and timechart: order matters */
    char *g = ordered ? strdup(got) : sorted_lines(got);
    char *w = ordered ? strdup(want) : sorted_lines(want);
    if (strcmp(g, w) != 0) {
        size_t at = 0;
        while (g[at] == w[at]) {
            at++;
        }
        while (at > 0 && g[at - 1] != '\n') {
            at--;
        }
        fail_msg("query %d '%s': engine and brute force differ at byte %zu\n--- engine (%zu "
                 "bytes):\n%.300s\n--- brute force (%zu bytes):\n%.300s",
                 qi, text, at, strlen(g), g + at, strlen(w), w + at);
    }
    free(g);
    free(w);
    free(got);
    free(want);
    free(vals);
}

static void
test_random_queries(void **state)
{
    struct fx *f = *state;
    if (getenv("QDEBUG") != NULL) { /* QDEBUG='query' prints its output over the test data */
        int rc;
        char *o = run(f, getenv("QDEBUG"), QRY_FMT_TEXT, &rc);
        printf("rc %d\n%s", rc, o);
        free(o);
        return;
    }
    for (int i = 0; i < NQUERIES; i++) {
        one_query(f, i);
    }
}

/* top N by bytes against a brute-force grouping by srcaddr. */
static void
test_top(void **state)
{
    struct fx *f = *state;
    static uint64_t sums[4][256];
    memset(sums, 0, sizeof(sums));
    for (size_t i = 0; i < f->nall; i++) {
        sums[f->all[i].srcaddr[14]][f->all[i].srcaddr[15]] += f->all[i].bytes;
    }
    uint64_t best[5] = {0};
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 256; b++) {
            uint64_t v = sums[a][b];
            for (int k = 0; k < 5; k++) {
                if (v > best[k]) {
                    uint64_t t = best[k];
                    best[k] = v;
                    v = t;
                }
            }
        }
    }
    int rc;
    char *got = run(f, "* | top 5 srcaddr by bytes | fields bytes", QRY_FMT_TEXT, &rc);
    assert_int_equal(rc, 0);
    char want[256] = "";
    for (int k = 0; k < 5; k++) {
        cat(want, sizeof(want), "%llu\n", (unsigned long long) best[k]);
    }
    assert_string_equal(got, want);
    free(got);
}

/* A missing sum prints "-" in stats and 0 in top: end every line's last "-" as "0". */
static void
dash_zero(char *s)
{
    for (char *p = s; (p = strstr(p, " -\n")) != NULL; p += 3) {
        p[1] = '0';
    }
}

/* top N by one or two address fields (the compact address table, group_addr.c) against the
 * general grouping of stats, sorted by the same metric: the same groups, sums and tie order. */
static void
test_top_addr(void **state)
{
    struct fx *f = *state;
    static const char *const fields[] = {"srcaddr",           "dstaddr",
                                         "exporter",          "srcaddr, dstaddr",
                                         "dstaddr, exporter", "exporter, srcaddr"};
    static const char *const by[] = {"flows", "packets", "bytes"};
    static const unsigned ns[] = {1, 7, 100000};
    char q1[256], q2[512];
    int rc;
    for (size_t i = 0; i < 2 * 6 * 3 * 3; i++) {
        const char *fd = fields[i % 6], *m = by[i / 6 % 3];
        unsigned n = ns[i / 18 % 3];
        /* Few records make groups of one or two flows: ties at the cut. */
        const char *pre = i < 54 ? "" : "| limit 300 ";
        for (size_t c = 0; c < 3; c++) {
            snprintf(q1, sizeof(q1), "* %s| top %u %s by %s | fields %s, %s", pre, n, fd, m, fd,
                     by[c]);
            snprintf(q2, sizeof(q2),
                     "* %s| stats count as flows, sum(packets) as packets, sum(bytes) as bytes "
                     "by %s | sort %s desc | limit %u | fields %s, %s",
                     pre, fd, m, n, fd, by[c]);
            char *got = run(f, q1, QRY_FMT_TEXT, &rc);
            assert_int_equal(rc, 0);
            char *want = run(f, q2, QRY_FMT_TEXT, &rc);
            assert_int_equal(rc, 0);
            dash_zero(want);
            assert_string_equal(got, want);
            free(got);
            free(want);
        }
    }
}

/* Time range: records with end in [since, until). */
static void
test_range(void **state)
{
    struct fx *f = *state;
    uint64_t from = (uint64_t) (T0 + 300) * 1000u, to = (uint64_t) (T0 + 900) * 1000u, n = 0;
    for (size_t i = 0; i < f->nall; i++) {
        n += f->all[i].end_ms >= from && f->all[i].end_ms < to;
    }
    char q[128], want[32];
    snprintf(q, sizeof(q), "since %u until %u | stats count", T0 + 300, T0 + 900);
    int rc;
    char *got = run(f, q, QRY_FMT_TEXT, &rc);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof(want), "%llu\n", (unsigned long long) n);
    assert_string_equal(got, want);
    free(got);
}

static int
explain_line(void *arg, const char *line, size_t len)
{
    char *out = arg;
    if (strncmp(line, "scan ", 5) == 0) {
        snprintf(out, 256, "%.*s", (int) len, line);
    }
    return 0;
}

/* EXPLAIN's scan line: a unique source port is pushed down and most blocks are skipped. */
static void
test_explain(void **state)
{
    struct fx *f = *state;
    struct qry *q;
    struct qry_error e;
    struct stor_snap *snap;
    char line[256] = "";
    unsigned long long w, b, sk, rec;
    assert_int_equal(qry_compile(&q, "srcport:1500", 12, (uint64_t) T0 * 1000u, &e), 0);
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(qry_explain(q, snap, explain_line, line), 0);
    assert_int_equal(sscanf(line, "scan windows=%llu blocks=%llu skipped=%llu records-to-read=%llu",
                            &w, &b, &sk, &rec),
                     4);
    assert_true(b > 10);
    assert_true(sk > 0);
    assert_true(rec < NRECS);
    stor_snap_end(snap);
    qry_free(q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored), cmocka_unit_test(test_random_queries),
        cmocka_unit_test(test_top),    cmocka_unit_test(test_top_addr),
        cmocka_unit_test(test_range),  cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
