/* SPDX-License-Identifier: MIT */
/*
 * flowlog-chexport: backfill a local flowlog store into ClickHouse (docs/scale-out.md).
 *
 *   flowlog-chexport [-d DATABASE] [-b BATCH_ROWS] [-u USER] [-R] STORE URL...
 *
 * Every record of every sealed window goes to the shard chs_shard_of picks, in batches of at
 * most BATCH_ROWS rows that never span two windows. A batch's id is a hash of (flow log,
 * window, shard, its index in the window) with the top bit set (live shipping uses ids without
 * it), and its rows come in the store's order, so a rerun builds the same batches: each is
 * shipped with maybe_sent, and what a shard already holds is skipped. Running it twice, or
 * after an interruption, adds nothing twice. Windows still open are left out (a later run
 * takes them once sealed); windows due by the wall clock are sealed first, as flowlogd would
 * on its next pass. The password comes from the environment (FLOWLOG_CH_PASSWORD),
 * never the command line. Run it on a stopped collector's store or on a backup of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "chs.h"
#include "flow_clock.h"
#include "stor.h"

#define MAX_SHARDS CHS_SHARDS_MAX

struct win {
    uint16_t flowlog;
    uint32_t start_s;
    uint32_t window_s;
};

struct exp {
    const char *db;
    uint32_t batch_rows;
    bool replicated;
    unsigned nshards;
    struct chs_shard shards[MAX_SHARDS];
    char names[65536][STOR_NAME_MAX]; /* flow log names by id */
    struct win *wins;                 /* sealed windows, sorted by (flowlog, start_s) */
    size_t nwins;
    size_t capwins;
    struct chs_batcher bat; /* the batches of the current window (chs.h) */
    const struct win *cur;
};

static int
on_window(void *arg, const struct stor_window_info *w)
{
    struct exp *e = arg;

    if (!w->sealed) {
        return 0;
    }
    if (e->nwins == e->capwins) {
        size_t cap = e->capwins != 0 ? e->capwins * 2 : 1024;
        struct win *p = realloc(e->wins, cap * sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        e->wins = p;
        e->capwins = cap;
    }
    e->wins[e->nwins++] = (struct win){w->flowlog, w->start_s, w->window_s};
    return 0;
}

static int
on_flowlog(void *arg, const struct stor_flowlog *fl)
{
    struct exp *e = arg;
    snprintf(e->names[fl->id], STOR_NAME_MAX, "%s", fl->name);
    return 0;
}

static int
win_cmp(const void *a, const void *b)
{
    const struct win *x = a;
    const struct win *y = b;
    if (x->flowlog != y->flowlog) {
        return x->flowlog < y->flowlog ? -1 : 1;
    }
    return x->start_s < y->start_s ? -1 : x->start_s > y->start_s;
}

/* A batch's id: a hash of (flow log, window, shard, chunk) with the top bit set. */
static uint64_t
batch_id(void *arg, unsigned shard, uint32_t chunk)
{
    const struct win *w = ((struct exp *) arg)->cur;
    uint32_t key[4] = {w->flowlog, w->start_s, shard, chunk};
    return XXH3_64bits(key, sizeof(key)) | (1ull << 63);
}

/* Ship the current window's last batches; a failure names the shard and window. */
static int
window_end(struct exp *e)
{
    int rc = chs_batcher_end(&e->bat);
    if (rc != 0) {
        fprintf(stderr, "flowlog-chexport: %s: window %" PRIu32 " of %s: %s\n",
                e->shards[e->bat.failed_shard].url, e->cur->start_s, e->names[e->cur->flowlog],
                chs_strerror(rc));
    }
    return rc;
}

/* One record: into its shard's batch, after closing the batches of a previous window. */
static int
add(struct exp *e, const struct flow_rec *r)
{
    struct win key = {r->flowlog, r->window, 0};
    const struct win *w = bsearch(&key, e->wins, e->nwins, sizeof(key), win_cmp);
    int rc = 0;

    if (w == NULL) {
        return 0; /* its window is still open */
    }
    if (w != e->cur) {
        if (e->cur != NULL && (rc = window_end(e)) != 0) {
            return rc;
        }
        e->cur = w;
        chs_batcher_begin(&e->bat, e->names[w->flowlog], w->window_s);
    }
    if ((rc = chs_batcher_add(&e->bat, r)) != 0 && e->bat.failed_shard >= 0) {
        fprintf(stderr, "flowlog-chexport: %s: window %" PRIu32 " of %s: %s\n",
                e->shards[e->bat.failed_shard].url, w->start_s, e->names[w->flowlog],
                chs_strerror(rc));
    }
    return rc;
}

static int
export_all(struct stor_env *env, struct exp *e)
{
    struct stor_snap *snap = NULL;
    struct stor_iter *it = NULL;
    struct stor_scan scan = {.from_ms = 0, .to_ms = UINT64_MAX, .flowlog = -1};
    const struct flow_rec *recs;
    size_t n;
    int rc;

    if ((rc = stor_flowlog_each(env, on_flowlog, e)) != 0 ||
        (rc = stor_snap_begin(env, &snap)) != 0) {
        return rc;
    }
    if ((rc = stor_windows_each(snap, 0, UINT64_MAX, on_window, e)) != 0 ||
        (rc = stor_iter_open(snap, &scan, &it)) != 0) {
        goto end_snap;
    }
    qsort(e->wins, e->nwins, sizeof(*e->wins), win_cmp);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n && rc == 1; i++) {
            rc = add(e, &recs[i]) == 0 ? 1 : -1;
        }
    }
    if (rc == 0 && e->cur != NULL) {
        rc = window_end(e);
    }
    stor_iter_close(it);
end_snap:
    stor_snap_end(snap);
    return rc;
}

static int
usage(void)
{
    fprintf(stderr, "usage: flowlog-chexport [-d DATABASE] [-b BATCH_ROWS] [-u USER] [-R] "
                    "STORE URL...\n(password from FLOWLOG_CH_PASSWORD)\n");
    return 2;
}

static int
parse_args(struct exp *e, int argc, char **argv)
{
    const char *user = NULL;
    int c;

    while ((c = getopt(argc, argv, "d:b:u:R")) != -1) {
        if (c == 'd') {
            e->db = optarg;
        } else if (c == 'b') {
            e->batch_rows = (uint32_t) strtoul(optarg, NULL, 10);
        } else if (c == 'u') {
            user = optarg;
        } else if (c == 'R') {
            e->replicated = true;
        } else {
            return -1;
        }
    }
    if (e->batch_rows == 0 || e->batch_rows > CHS_BATCH_ROWS_MAX || argc - optind < 2 ||
        argc - optind - 1 > (int) MAX_SHARDS) {
        return -1;
    }
    e->nshards = (unsigned) (argc - optind - 1);
    for (unsigned s = 0; s < e->nshards; s++) {
        e->shards[s] = (struct chs_shard){argv[optind + 1 + (int) s], user,
                                          getenv("FLOWLOG_CH_PASSWORD"), 60000};
    }
    return optind;
}

static int
ensure_schema(const struct exp *e)
{
    struct chs_schema_cfg c = {e->db, "flowlog", e->replicated};

    for (unsigned s = 0; s < e->nshards; s++) {
        int rc = chs_schema_ensure(&e->shards[s], &c, NULL);
        if (rc != 0) {
            fprintf(stderr, "flowlog-chexport: %s: schema: %s\n", e->shards[s].url,
                    chs_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int
run(struct exp *e, const char *dir)
{
    struct stor_cfg cfg;
    struct stor_env *env = NULL;
    struct stat st;
    char msg[256] = "";

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "flowlog-chexport: %s: not a directory\n", dir);
        return 1;
    }
    if (ensure_schema(e) != 0) {
        return 1;
    }
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    int rc = stor_open(&env, &cfg, msg, sizeof(msg));
    if (rc != 0) {
        fprintf(stderr, "flowlog-chexport: %s: %s %s\n", dir, stor_strerror(rc), msg);
        return 1;
    }
    /* Seal what is due by now, as flowlogd would on its next pass: a store copied from a
     * stopped collector may hold windows it had no time to seal. */
    if ((rc = stor_seal_due(env, flow_wall_ms(), false)) == 0) {
        rc = export_all(env, e);
    }
    stor_close(env);
    if (rc < -1) {
        fprintf(stderr, "flowlog-chexport: %s: %s\n", dir, stor_strerror(rc));
    }
    printf("windows=%zu records=%" PRIu64 " batches=%" PRIu64 " sent=%" PRIu64 " skipped=%" PRIu64
           "\n",
           e->nwins, e->bat.records, e->bat.batches, e->bat.sent, e->bat.skipped);
    return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    struct exp *e = calloc(1, sizeof(*e));
    int rc = 1;

    if (e == NULL) {
        return 1;
    }
    e->db = "flowlog";
    e->batch_rows = CHS_BATCH_ROWS_DEFAULT;
    snprintf(e->names[0], STOR_NAME_MAX, "default");
    int first = parse_args(e, argc, argv);
    if (first < 0) {
        rc = usage();
        goto free_e;
    }
    e->bat = (struct chs_batcher){.shards = e->shards,
                                  .nshards = e->nshards,
                                  .database = e->db,
                                  .replicated = e->replicated,
                                  .batch_rows = e->batch_rows,
                                  .id_fn = batch_id,
                                  .id_arg = e};
    if (chs_init() != 0) {
        goto free_e;
    }
    rc = run(e, argv[first]);
    chs_fini();
free_e:
    chs_batcher_free(&e->bat);
    free(e->wins);
    free(e);
    return rc;
}
