/* SPDX-License-Identifier: MIT */
/*
 * Window rollups against the scan (issue 12, "Window rollups for dashboards"; bench/rollup.sh
 * runs it): a week of flow records (-n, 3 M by default; 50,000 source hosts, 2,000
 * destinations, 4 exporters, 6 instance ids, skewed protocols and ports) goes into a fresh
 * store through storage's API in time order and is sealed; then each query of the list runs
 * -r times with rollups on and off, server-side (qry_exec_open to the last chunk, as the
 * query server's `OK ... ms` counts it), and the medians and their ratio are printed. The two
 * answers must be byte-for-byte equal, or the bench fails.
 *
 *   bench_rollup [-n records] [-r runs] [-d dir]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "qry.h"

#define DAY_S (86400u)

/* The week starts 8 days before a fixed point, on an hour; "now" is mid-window at its end. */
#define T0 1764201600u

static void
mk(struct flow_rec *r, uint64_t i, uint64_t n)
{
    static const uint8_t protos[] = {6, 6, 6, 17, 17, 1, 47};
    static const uint16_t ports[] = {443, 80, 53, 22, 3389, 8080, 123, 25};
    memset(r, 0, sizeof(*r));
    uint32_t h = (uint32_t) (rnd() % 50000u), d = (uint32_t) zipfish(2000);
    uint8_t a[4] = {10, (uint8_t) (h >> 16), (uint8_t) (h >> 8), (uint8_t) h};
    uint8_t b[4] = {172, 16, (uint8_t) (d >> 8), (uint8_t) d};
    uint8_t e[4] = {192, 0, 2, (uint8_t) (1 + rnd() % 4)};
    flow_addr_set_v4(r->srcaddr, a);
    flow_addr_set_v4(r->dstaddr, b);
    flow_addr_set_v4(r->exporter, e);
    r->srcport = (uint16_t) (1024 + rnd() % 60000);
    r->dstport = ports[zipfish(8)];
    r->protocol = protos[rnd() % 7];
    r->packets = 1 + zipfish(2000);
    r->bytes = r->packets * (40 + rnd() % 1400);
    r->action = (uint8_t) (rnd() % 10 == 0);
    r->direction = (uint8_t) (1 + rnd() % 2);
    snprintf(r->instance_id, FLOW_ID_MAX, "eni-%u", (unsigned) (rnd() % 6));
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_DIRECTION |
                 FLOW_HAS_INSTANCE;
    r->version = 10;
    r->end_ms = (uint64_t) T0 * 1000u + i * (7ull * DAY_S * 1000u) / n;
    r->start_ms = r->end_ms - rnd() % 30000;
}

static int
fill(struct stor_env *env, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        struct stor_batch *b = stor_batch_get(env);
        if (b == NULL) {
            int rc = stor_sync(env); /* every batch in flight: let them land */
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        size_t k = 0;
        for (; k < b->cap && i < n; k++, i++) {
            mk(&b->recs[k], i, n);
        }
        b->n = k;
        b->nmsgs = 0;
        stor_batch_submit(env, b);
    }
    int rc = stor_sync(env);
    return rc != 0 ? rc : stor_seal_due(env, ((uint64_t) T0 + 30u * DAY_S) * 1000u, true);
}

/* One server-side run: ms, and the answer in *out (caller frees). */
static double
run(struct stor_env *env, const char *text, uint64_t now_ms, char **out)
{
    struct qry *q;
    struct qry_error e;
    struct stor_snap *snap;
    struct qry_exec *ex;
    size_t cap = 1 << 16, len = 0;
    const char *d;
    size_t n;
    char *buf = malloc(cap);
    if (buf == NULL || qry_compile(&q, text, strlen(text), now_ms, &e) != 0) {
        fprintf(stderr, "rollup bench: cannot compile %s\n", text);
        exit(1);
    }
    if (stor_snap_begin(env, &snap) != 0) {
        exit(1);
    }
    double t = now_s();
    int rc = qry_exec_open(&ex, env, q, snap, QRY_FMT_TEXT, NULL, NULL);
    while (rc == 0 && (rc = qry_exec_next(ex, 0, &d, &n)) == 1) {
        while (len + n + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, d, n);
        len += n;
        rc = 0;
    }
    qry_exec_close(ex);
    t = (now_s() - t) * 1000.0;
    stor_snap_end(snap);
    qry_free(q);
    if (rc < 0) {
        fprintf(stderr, "rollup bench: %s: %s\n", text, qry_strerror(rc));
        exit(1);
    }
    buf[len] = '\0';
    *out = buf;
    return t;
}

static double
median(struct stor_env *env, const char *text, uint64_t now_ms, int runs, bool on, char **out)
{
    double t[64];
    qry_rollups_set(on);
    for (int i = 0; i < runs; i++) {
        char *o;
        t[i] = run(env, text, now_ms, &o);
        if (i == 0) {
            *out = o;
        } else {
            free(o);
        }
    }
    qsort(t, (size_t) runs, sizeof(t[0]), cmp_d);
    return t[runs / 2];
}

static const char *const queries[] = {
    "last 7d * | timechart 1h sum(bytes) by protocol",
    "last 7d * | stats count, sum(bytes) by protocol",
    "last 7d * | timechart 10m count by action",
    "last 24h action:REJECT | stats count, sum(packets) by exporter, instance-id",
    "last 7d * | top 5 instance-id by bytes",
};

int
main(int argc, char **argv)
{
    uint64_t n = 3000000;
    int runs = 5, opt;
    char dir[256] = "";
    while ((opt = getopt(argc, argv, "n:r:d:")) != -1) {
        if (opt == 'n') {
            n = strtoull(optarg, NULL, 10);
        } else if (opt == 'r') {
            runs = atoi(optarg) < 1 ? 1 : atoi(optarg) > 63 ? 63 : atoi(optarg);
        } else if (opt == 'd') {
            snprintf(dir, sizeof(dir), "%s", optarg);
        } else {
            fprintf(stderr, "usage: bench_rollup [-n records] [-r runs] [-d dir]\n");
            return 2;
        }
    }
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/bench-rollup-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            return 1;
        }
    }
    struct stor_cfg cfg;
    struct stor_env *env;
    char msg[256];
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    if (stor_open(&env, &cfg, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "rollup bench: %s: %s\n", dir, msg);
        return 1;
    }
    double t = now_s();
    int rc = fill(env, n);
    printf("store: %llu records over 7 days in %s, built and sealed in %.1f s (rc %d)\n",
           (unsigned long long) n, dir, now_s() - t, rc);
    uint64_t now_ms = ((uint64_t) T0 + 7u * DAY_S) * 1000u + 300000u;
    printf("%-76s %10s %10s %8s\n", "query (server-side ms, median of runs)", "rollups", "scan",
           "ratio");
    for (size_t i = 0; rc == 0 && i < sizeof(queries) / sizeof(queries[0]); i++) {
        char *a, *b;
        double on = median(env, queries[i], now_ms, runs, true, &a);
        double off = median(env, queries[i], now_ms, runs, false, &b);
        if (strcmp(a, b) != 0) {
            fprintf(stderr, "rollup bench: answers differ for %s\n", queries[i]);
            rc = 1;
        }
        printf("%-76s %10.1f %10.1f %7.1fx\n", queries[i], on, off, off / (on > 0 ? on : 1e-3));
        free(a);
        free(b);
    }
    stor_close(env);
    return rc == 0 ? 0 : 1;
}
