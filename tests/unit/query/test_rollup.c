/* SPDX-License-Identifier: MIT */
/*
 * Window rollups answer exactly what the scan answers (docs/query.md "Rollups").
 *
 * Random records over an hour go into a temporary store with two flow logs ("agg10m", 600 s
 * windows, aggregated; "raw1m", 60 s windows, raw; each with a region label): sealed, then
 * late records for sealed windows (their windows hold late runs: scanned), then resealed
 * (rollups of two seals per window), then records of an open window. At each stage, every
 * query of a list — stats by each rollup dimension, timecharts, top, filters on dimensions,
 * aligned and unaligned ranges — gives the same output with rollups on and off, and the
 * executor's scanned-records count shows which answers came from rollups. EXPLAIN says
 * whether rollups answer, per window, and why not. A window whose seal had more groups than
 * STOR_ROLLUP_GROUPS_MAX has no rollup and is scanned, with the same answer.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qry_int.h"

#define T0    1763798400u /* a multiple of 3600 */
#define NRECS 3000

struct fx {
    char dir[64];
    struct stor_env *env;
};

static uint64_t seed = 777;

static uint32_t
rnd(uint32_t n)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (seed >> 33) % n;
}

/* A record ending at second t of the hour, with random dimensions; some fields absent. */
static struct flow_rec
mk(uint32_t i, uint32_t t)
{
    static const uint8_t protos[] = {6, 17, 1, 47};
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, 0, (uint8_t) rnd(4), (uint8_t) rnd(50)};
    uint8_t b[4] = {172, 16, (uint8_t) rnd(3), (uint8_t) rnd(30)};
    uint8_t e[4] = {192, 0, 2, (uint8_t) (1 + rnd(3))};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    flow_addr_set_v4(r.exporter, e);
    r.srcport = (uint16_t) (1024 + i);
    r.dstport = (uint16_t) (rnd(2) ? 443 : 53);
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT;
    if (rnd(8) != 0) {
        r.present |= FLOW_HAS_PROTOCOL;
        r.protocol = protos[rnd(4)];
    }
    if (rnd(8) != 0) {
        r.present |= FLOW_HAS_PACKETS;
        r.packets = 1 + rnd(1000);
    }
    if (rnd(8) != 0) {
        r.present |= FLOW_HAS_BYTES;
        r.bytes = 40 + rnd(1u << 20);
    }
    if (rnd(2) != 0) {
        r.present |= FLOW_HAS_DIRECTION;
        r.direction = (uint8_t) rnd(3);
    }
    if (rnd(3) != 0) {
        r.present |= FLOW_HAS_INSTANCE;
        snprintf(r.instance_id, FLOW_ID_MAX, "eni-%u", rnd(6));
    }
    r.action = (uint8_t) rnd(2);
    r.version = 10;
    r.exporter_port = 2055;
    r.end_ms = (uint64_t) (T0 + t) * 1000u + rnd(1000);
    r.start_ms = r.end_ms - rnd(5000);
    return r;
}

static void
submit(struct fx *f, const struct flow_rec *recs, size_t n)
{
    for (size_t from = 0; from < n;) {
        struct stor_batch *b = stor_batch_get(f->env);
        assert_non_null(b);
        size_t k = n - from < b->cap ? n - from : b->cap;
        memcpy(b->recs, recs + from, k * sizeof(*recs));
        b->n = k;
        b->nmsgs = 0;
        stor_batch_submit(f->env, b);
        from += k;
    }
    assert_int_equal(stor_sync(f->env), 0);
}

/* n records with end times in [t0, t1) seconds of the hour. */
static void
submit_span(struct fx *f, uint32_t first, size_t n, uint32_t t0, uint32_t t1)
{
    struct flow_rec *recs = calloc(n, sizeof(*recs));
    for (size_t i = 0; i < n; i++) {
        recs[i] = mk(first + (uint32_t) i, t0 + rnd(t1 - t0));
    }
    submit(f, recs, n);
    free(recs);
}

static char *
run(struct fx *f, const char *text, uint64_t *scanned)
{
    struct qry *q;
    struct qry_error e;
    struct stor_snap *snap;
    struct qry_exec *ex;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    uint64_t rows;
    int rc = qry_compile(&q, text, strlen(text), (uint64_t) (T0 + 7200) * 1000u, &e);
    if (rc != 0) {
        fail_msg("compile '%s': col %d: %s", text, e.col, e.msg);
    }
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(qry_exec_open(&ex, f->env, q, snap, QRY_FMT_TEXT, NULL, NULL), 0);
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
    assert_int_equal(rc, 0);
    out[len] = '\0';
    qry_exec_counts(ex, &rows, scanned);
    qry_exec_close(ex);
    stor_snap_end(snap);
    qry_free(q);
    return out;
}

#define AGGS " count, sum(bytes), min(bytes), max(bytes), avg(packets), sum(packets), max(packets)"

static const char *const queries[] = {
    "* | stats" AGGS,
    "* | stats" AGGS " by flowlog",
    "* | stats" AGGS " by protocol",
    "* | stats" AGGS " by direction",
    "* | stats" AGGS " by action",
    "* | stats" AGGS " by log-status",
    "* | stats" AGGS " by exporter",
    "* | stats" AGGS " by instance-id",
    "* | stats" AGGS " by region",
    "* | stats" AGGS " by window",
    "* | stats count, sum(bytes) by protocol, instance-id",
    "* | stats count by flowlog, exporter | sort count desc | limit 3",
    "* | timechart 10m sum(bytes) by protocol",
    "* | timechart 10m count by protocol",
    "* | timechart 1h min(packets) by flowlog",
    "* | timechart 1m count by action",
    "* | timechart 30s count",
    "* | top 3 instance-id by bytes",
    "* | top 2 exporter, protocol",
    "flowlog:raw1m | stats count, sum(bytes) by direction",
    "protocol:tcp and action:ACCEPT | stats count, sum(packets) by exporter",
    "not instance-id:eni-1 and (protocol:udp or direction:in) | stats count, max(bytes)",
    "protocol in (6, 47) | timechart 10m sum(bytes) by log-status",
    "since 2025-11-22T08:10:00Z until 2025-11-22T08:40:00Z * | stats count, sum(bytes) by protocol",
    "since 2025-11-22T08:13:20Z until 2025-11-22T08:41:05Z * | stats count, sum(bytes) by protocol",
    "last 2h * | timechart 10m count by exporter",
};

/* Every query: rollups on and off agree. Returns the records the rollup answers scanned,
 * over the queries, and (in *scanned_off) what the scan read. */
static int stage;
static char *explain(struct fx *f, const char *text);
static uint64_t
compare_all(struct fx *f, uint64_t *scanned_off)
{
    stage++;
    uint64_t on_total = 0, off_total = 0;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        uint64_t on, off;
        qry_rollups_set(true);
        char *a = run(f, queries[i], &on);
        qry_rollups_set(false);
        char *b = run(f, queries[i], &off);
        qry_rollups_set(true);
        if (strcmp(a, b) != 0) {
            fail_msg("query '%s':\nrollups on:\n%s\nrollups off:\n%s", queries[i], a, b);
        }
        assert_true(strlen(a) > 0);
        on_total += on;
        off_total += off;
        free(a);
        free(b);
    }
    fprintf(stderr, "stage %d: scanned with rollups %llu, without %llu\n", stage,
            (unsigned long long) on_total, (unsigned long long) off_total);
    *scanned_off = off_total;
    return on_total;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct stor_cfg cfg;
    struct stor_flowlog fl;
    char msg[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-ru-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&cfg);
    cfg.dir = f->dir;
    cfg.block_records = 64;
    cfg.commit_ms = 20;
    /* Windows seal only when the test says (stor_seal_due with force): the store must not
     * change between the runs with rollups on and off. */
    cfg.grace_s = 20u * 365u * 86400u;
    assert_int_equal(stor_open(&f->env, &cfg, msg, sizeof(msg)), 0);
    stor_flowlog_default(&fl, "agg10m");
    snprintf(fl.region, sizeof(fl.region), "us-east-2");
    assert_int_equal(stor_flowlog_create(f->env, &fl, msg, sizeof(msg)), 0);
    stor_flowlog_default(&fl, "raw1m");
    fl.window_s = 60;
    fl.aggregate = false;
    snprintf(fl.region, sizeof(fl.region), "eu-west-1");
    assert_int_equal(stor_flowlog_create(f->env, &fl, msg, sizeof(msg)), 0);
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
    free(f);
    return 0;
}

/* Sealed, late, resealed and open windows: rollups on and off agree at every stage. */
static void
test_equal(void **state)
{
    struct fx *f = *state;
    uint64_t off, on;

    submit_span(f, 0, NRECS, 0, 3000);
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);
    on = compare_all(f, &off);
    assert_true(on < off / 4); /* sealed windows wholly in the range came from rollups */

    /* Late records for sealed windows: their windows have runs, and are scanned. */
    submit_span(f, NRECS, NRECS / 4, 0, 3000);
    uint64_t on_late = compare_all(f, &off);
    assert_true(on_late > on);

    /* Resealed: each window has the rollups of two seals, covering all its blocks. */
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);
    uint64_t on_resealed = compare_all(f, &off);
    assert_true(on_resealed < on_late);

    /* An open window: scanned, the sealed ones still from rollups. */
    submit_span(f, NRECS * 2, NRECS / 4, 3000, 3600);
    on = compare_all(f, &off);
    assert_true(on > on_resealed);

    /* With nothing but sealed windows, a whole-range count reads no record at all. */
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);
    char *a = run(f, "* | stats count by protocol", &on);
    assert_int_equal(on, 0);
    free(a);
}

static char *
explain(struct fx *f, const char *text)
{
    struct qry *q;
    struct qry_error e;
    struct stor_snap *snap;
    struct qry__lister *l;
    static char out[1 << 17];
    size_t len = 0;
    const char *d;
    size_t n;
    int rc;
    assert_int_equal(qry_compile(&q, text, strlen(text), (uint64_t) (T0 + 7200) * 1000u, &e), 0);
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(qry__lister_open(&l, f->env, q, 0, 0, snap, QRY_FMT_TEXT, NULL, NULL), 0);
    while ((rc = qry__lister_next(l, 0, &d, &n)) == 1) {
        assert_true(len + n < sizeof(out));
        memcpy(out + len, d, n);
        len += n;
    }
    assert_int_equal(rc, 0);
    out[len] = '\0';
    qry__lister_close(l);
    stor_snap_end(snap);
    qry_free(q);
    return out;
}

/* EXPLAIN says whether rollups answer, for the query and per window, and why not. */
static void
test_explain(void **state)
{
    struct fx *f = *state;
    submit_span(f, NRECS * 3, NRECS / 4, 0, 3000);
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);

    char *x = explain(f, "* | timechart 10m sum(bytes) by protocol");
    assert_non_null(strstr(x, "rollup yes"));
    assert_non_null(strstr(x, "answer=rollup"));
    assert_null(strstr(x, "answer=scan"));
    unsigned long long w, s;
    const char *p = strstr(x, "\nrollup windows=");
    assert_non_null(p);
    assert_int_equal(sscanf(p + 1, "rollup windows=%llu scanned=%llu", &w, &s), 2);
    assert_true(w > 30);
    assert_int_equal(s, 0);

    x = explain(f, "* | timechart 30s count");
    assert_non_null(strstr(x, "answer=scan (timechart span not a multiple of the window)"));

    x = explain(f, "since 2025-11-22T08:13:20Z * | stats count");
    assert_non_null(strstr(x, "answer=scan (window partly in the range)"));

    submit_span(f, NRECS * 4, 50, 0, 600);
    x = explain(f, "* | stats count by action");
    assert_non_null(strstr(x, "answer=scan (no exact rollup"));

    x = explain(f, "3389 | stats count");
    assert_non_null(strstr(x, "rollup no (the filter needs fields or terms rollups do not keep)"));
    x = explain(f, "* | stats count by dstport");
    assert_non_null(strstr(x, "rollup no (groups by a field that is not a rollup dimension)"));
    x = explain(f, "* | stats dc(srcaddr) by protocol");
    assert_non_null(strstr(x, "rollup no (dc() needs the records)"));
    x = explain(f, "* | stats sum(rtt) by protocol");
    assert_non_null(strstr(x, "rollup no (an aggregate of a field"));
    qry_rollups_set(false);
    x = explain(f, "* | stats count by protocol");
    assert_non_null(strstr(x, "rollup no (rollups are off)"));
    qry_rollups_set(true);
}

/* A window whose seal has more than STOR_ROLLUP_GROUPS_MAX groups stores no rollup: it is
 * scanned, and still answers the same. */
static void
test_too_many_groups(void **state)
{
    struct fx *f = *state;
    size_t n = STOR_ROLLUP_GROUPS_MAX + 500;
    struct flow_rec *recs = calloc(n, sizeof(*recs));
    uint64_t skipped = stor_rollup_skipped(), on, off;

    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);
    for (size_t i = 0; i < n; i++) {
        recs[i] = mk((uint32_t) i, 7200 + rnd(600));
        recs[i].present |= FLOW_HAS_INSTANCE;
        snprintf(recs[i].instance_id, FLOW_ID_MAX, "i-%zu", i);
    }
    submit(f, recs, n);
    free(recs);
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 86400) * 1000u, true), 0);
    assert_true(stor_rollup_skipped() > skipped);
    const char *text = "since 2025-11-22T10:00:00Z until 2025-11-22T10:10:00Z * | stats count, "
                       "sum(bytes) by flowlog";
    char *x = explain(f, text);
    assert_non_null(strstr(x, "answer=scan (no exact rollup"));
    char *a = run(f, text, &on);
    qry_rollups_set(false);
    char *b = run(f, text, &off);
    qry_rollups_set(true);
    assert_string_equal(a, b);
    assert_true(on > 0);
    free(a);
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_too_many_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
