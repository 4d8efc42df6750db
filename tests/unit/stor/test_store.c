/* SPDX-License-Identifier: MIT */
/*
 * The store's environments under stress: a snapshot held while the writer commits far more
 * than a partition's old initial map (M1), retention dropping a partition a snapshot holds
 * while a late record recreates it (M4), one process per store (R2), damaged files (R8/R13:
 * truncated, zeroed, a garbled block, an empty catalog), concurrent flow-log creates (M7),
 * cold partitions closed and reopened (address-space bound), compaction beside snapshots (M2).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor_int.h"

#define T0 1763798400u /* a partition start (multiple of 3600) */

struct fx {
    char dir[64];
    struct stor_env *env;
    struct stor_cfg cfg;
    char msg[256];
};

static char notices[8][512];
static int nnotices;

static void
on_notice(void *arg, const char *text)
{
    (void) arg;
    if (nnotices < 8) {
        snprintf(notices[nnotices], sizeof(notices[0]), "%s", text);
    }
    nnotices++;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-s-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.map_max_bytes = 256u << 20;
    f->cfg.block_records = 64;
    f->cfg.commit_ms = 50;
    f->cfg.notice = on_notice;
    nnotices = 0;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
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

static void
reopen(struct fx *f)
{
    stor_close(f->env);
    f->env = NULL;
    int rc = stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg));
    if (rc != 0) {
        fail_msg("stor_open: %s (%s)", stor_strerror(rc), f->msg);
    }
}

static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (*s >> 33);
}

static struct flow_rec
mk(uint32_t src, uint16_t port, uint64_t end_ms, uint64_t pkts)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, (uint8_t) (src >> 16), (uint8_t) (src >> 8), (uint8_t) src};
    uint8_t b[4] = {172, 16, (uint8_t) (port >> 8), (uint8_t) port};
    uint8_t e[4] = {192, 0, 2, 1};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, b);
    flow_addr_set_v4(r.exporter, e);
    r.exporter_port = 4739;
    r.srcport = (uint16_t) (src * 7u);
    r.dstport = port;
    r.protocol = 6;
    r.packets = pkts;
    r.bytes = pkts * 100;
    r.start_ms = end_ms - 1000;
    r.end_ms = end_ms;
    r.version = 10;
    r.present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    return r;
}

static int
submit(struct stor_env *env, const struct flow_rec *recs, size_t n)
{
    struct stor_batch *b = stor_batch_get(env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    memcpy(b->recs, recs, n * sizeof(*recs));
    b->n = n;
    b->nmsgs = 0;
    stor_batch_submit(env, b);
    return stor_sync(env);
}

static uint64_t
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* Rows and packets of every record ending in [from_ms, to_ms); rc of the scan. */
struct count {
    uint64_t rows;
    uint64_t packets;
    uint64_t corrupt;
    int rc;
};

static struct count
count_range(struct stor_env *env, uint64_t from_ms, uint64_t to_ms)
{
    struct count c = {0};
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    struct stor_scan sc = {from_ms, to_ms, -1, 0, NULL};
    assert_int_equal(stor_snap_begin(env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &sc, &it), 0);
    while ((c.rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            if (recs[i].end_ms >= from_ms && recs[i].end_ms < to_ms) {
                c.rows++;
                c.packets += recs[i].packets;
            }
        }
    }
    struct stor_scan_stats st;
    stor_iter_stats(it, &st);
    c.corrupt = st.blocks_corrupt;
    stor_iter_close(it);
    stor_snap_end(snap);
    return c;
}

static uint64_t
file_size(const char *dir, uint32_t start)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", dir, start);
    return stat(path, &st) == 0 ? (uint64_t) st.st_size : 0;
}

/* ---- M1: a held snapshot never stops commits ---- */

struct writer_run {
    struct stor_env *env;
    uint64_t max_sync_ms;
    uint64_t records;
    int rc;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *
write_lots(void *arg)
{
    struct writer_run *wr = arg;
    static struct flow_rec r[4096];
    uint64_t seed = 5;
    for (int b = 0; b < 60 && wr->rc == 0; b++) {
        for (size_t i = 0; i < 4096; i++) {
            r[i] = mk(rnd(&seed), (uint16_t) rnd(&seed), (uint64_t) (T0 + 1 + i % 500) * 1000u,
                      1 + rnd(&seed) % 1000);
        }
        uint64_t t = mono_ms();
        wr->rc = submit(wr->env, r, 4096);
        uint64_t dt = mono_ms() - t;
        pthread_mutex_lock(&wr->mu);
        wr->max_sync_ms = dt > wr->max_sync_ms ? dt : wr->max_sync_ms;
        wr->records += 4096;
        pthread_mutex_unlock(&wr->mu);
    }
    pthread_mutex_lock(&wr->mu);
    wr->done = true;
    pthread_cond_signal(&wr->cv);
    pthread_mutex_unlock(&wr->mu);
    return NULL;
}

static void
test_snapshot_never_blocks_commits(void **state)
{
    struct fx *f = *state;
    struct flow_rec one = mk(1, 1, (uint64_t) T0 * 1000u + 500, 1);
    assert_int_equal(submit(f->env, &one, 1), 0);

    /* A query that has read from the partition and then stalls (a client that stopped
     * reading): its read transaction stays open on the partition being written. */
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    struct stor_scan sc = {0, UINT64_MAX, -1, 0, NULL};
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &sc, &it), 0);
    assert_int_equal(stor_iter_next(it, &recs, &n), 1);

    struct writer_run wr = {.env = f->env};
    pthread_mutex_init(&wr.mu, NULL);
    pthread_cond_init(&wr.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_lots, &wr), 0);
    /* Generous: 245,760 records take a few seconds under ASan on a loaded machine. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 120;
    pthread_mutex_lock(&wr.mu);
    while (!wr.done && pthread_cond_timedwait(&wr.cv, &wr.mu, &dl) == 0) {
    }
    bool done = wr.done;
    uint64_t by_deadline = wr.records;
    pthread_mutex_unlock(&wr.mu);
    stor_iter_close(it);
    stor_snap_end(snap); /* lets a blocked writer go, so the test can end either way */
    pthread_join(th, NULL);
    if (!done) {
        fail_msg("commits stalled behind a held snapshot (%llu records stored in 120 s)",
                 (unsigned long long) by_deadline);
    }
    assert_int_equal(wr.rc, 0);
    print_message("held snapshot: longest stor_sync %llu ms\n",
                  (unsigned long long) wr.max_sync_ms);
    assert_true(wr.max_sync_ms < 30000);
    assert_true(file_size(f->dir, T0) > 8u << 20); /* far past the old 1 MiB initial map */
    assert_int_equal(count_range(f->env, 0, UINT64_MAX).rows, wr.records + 1);
    pthread_cond_destroy(&wr.cv);
    pthread_mutex_destroy(&wr.mu);
}

/* ---- M4: retention, a held snapshot and a late record ---- */

static void
test_retention_vs_held_snapshot(void **state)
{
    struct fx *f = *state;
    f->cfg.retention_s = 3600;
    reopen(f);
    uint64_t now_s = wall_now() / 1000u;
    uint32_t hour = (uint32_t) (now_s - now_s % 3600), old = hour - 3600;
    uint64_t old_ms = (uint64_t) old * 1000u;
    struct flow_rec r[2] = {mk(1, 1, old_ms + 100000, 7), mk(2, 2, (uint64_t) hour * 1000u + 5, 1)};
    assert_int_equal(submit(f->env, r, 2), 0);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);

    /* A query reading the old partition holds it across the drop. */
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    struct stor_scan sc = {old_ms, old_ms + 3600000u, -1, 0, NULL};
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &sc, &it), 0);
    assert_int_equal(stor_iter_next(it, &recs, &n), 1);
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (hour + 3600) * 1000u + 1, false), 0);

    /* A late record into the dropped range is refused and counted (the writer's retention
     * floor): it cannot make a new partition with the same start under the old readers. */
    struct flow_rec late = mk(3, 3, old_ms + 200000, 11);
    assert_int_equal(submit(f->env, &late, 1), 0);
    struct stor_stats st;
    for (int i = 0; i < 500; i++) { /* the writer publishes its counters each commit_ms */
        stor_stats_get(f->env, &st);
        if (st.expired != 0) {
            break;
        }
        struct timespec ms10 = {0, 10000000};
        nanosleep(&ms10, NULL);
    }
    assert_int_equal(st.expired, 1);
    stor_iter_close(it);
    stor_snap_end(snap); /* the old files go now */
    char path[128];
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", f->dir, old);
    assert_int_equal(access(path, F_OK), -1); /* dropped, and not made again */
    DIR *d = opendir(f->dir);
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".dead.") != NULL) {
            fail_msg("%s left behind", de->d_name);
        }
    }
    closedir(d);

    reopen(f);
    struct count c = count_range(f->env, old_ms, old_ms + 3600000u);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.rows, 0); /* neither the dropped record nor the refused one */
    assert_int_equal(count_range(f->env, (uint64_t) hour * 1000u, UINT64_MAX).rows, 1);
}

/* ---- R2: one process per store ---- */

static void
test_second_open_refused(void **state)
{
    struct fx *f = *state;
    struct stor_env *other = NULL;
    char msg[512] = "";
    int rc = stor_open(&other, &f->cfg, msg, sizeof(msg));
    if (rc == 0) {
        stor_close(other);
        fail_msg("a second stor_open of %s succeeded", f->dir);
    }
    assert_int_equal(rc, STOR_E_LOCKED);
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %ld", (long) getpid());
    assert_non_null(strstr(msg, f->dir));
    assert_non_null(strstr(msg, pid));
    assert_string_equal(stor_strerror(STOR_E_LOCKED), "the store is in use by another process");

    /* Another process is refused as well, and gets the store once we let go. */
    pid_t child = fork();
    if (child == 0) {
        struct stor_env *e = NULL;
        _exit(stor_open(&e, &f->cfg, NULL, 0) == STOR_E_LOCKED ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    stor_close(f->env);
    f->env = NULL;
    child = fork();
    if (child == 0) {
        struct stor_env *e = NULL;
        int orc = stor_open(&e, &f->cfg, NULL, 0);
        stor_close(e);
        _exit(orc == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    reopen(f);
}

/* ---- R8/R13: damaged files ---- */

/* Three sealed partitions of 500 records each (packets 1 each). */
static void
three_partitions(struct fx *f)
{
    static struct flow_rec r[1500];
    uint64_t seed = 9;
    for (size_t i = 0; i < 1500; i++) {
        uint32_t part = T0 + 3600u * (uint32_t) (i / 500);
        r[i] = mk(rnd(&seed), (uint16_t) i, (uint64_t) (part + 1 + i % 500) * 1000u, 1);
    }
    assert_int_equal(submit(f->env, r, 1500), 0);
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    stor_close(f->env);
    f->env = NULL;
}

static void
test_truncated_partition_quarantined(void **state)
{
    struct fx *f = *state;
    three_partitions(f);
    char path[128], bad[160];
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", f->dir, T0 + 3600);
    uint64_t size = file_size(f->dir, T0 + 3600);
    /* Cut by half, and by more than the tail a sound file may lack (loose pages, part.c). */
    uint64_t keep = size / 2, slack = (uint64_t) (STOR_TAIL_SLACK_PAGES + 1) * 4096u;
    keep = size - keep > slack ? keep : size - slack;
    assert_true(keep >= 8192);
    assert_int_equal(truncate(path, (off_t) keep), 0);
    reopen(f);
    snprintf(bad, sizeof(bad), "%s.bad", path);
    assert_int_equal(access(bad, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_true(nnotices >= 1);
    assert_non_null(strstr(notices[0], path));
    struct count c = count_range(f->env, 0, UINT64_MAX);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.rows, 1000); /* the other two partitions are served */
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.partitions_quarantined, 1);
    assert_int_equal(st.partitions, 2);
}

static void
test_zero_partition_quarantined(void **state)
{
    struct fx *f = *state;
    three_partitions(f);
    char path[128], bad[160];
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", f->dir, T0);
    assert_int_equal(truncate(path, 0), 0);
    reopen(f);
    snprintf(bad, sizeof(bad), "%s.bad", path);
    assert_int_equal(access(bad, F_OK), 0);
    assert_int_equal(count_range(f->env, 0, UINT64_MAX).rows, 1000);
    assert_true(nnotices >= 1);
    assert_non_null(strstr(notices[0], path));
}

static void
test_empty_catalog_refused(void **state)
{
    struct fx *f = *state;
    three_partitions(f);
    char path[128];
    snprintf(path, sizeof(path), "%s/catalog.mdb", f->dir);
    assert_int_equal(truncate(path, 0), 0);
    int rc = stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg));
    if (rc == 0) {
        fail_msg("a store with an empty catalog and 3 partitions was opened");
    }
    assert_int_equal(rc, STOR_E_CORRUPT);
    assert_non_null(strstr(f->msg, path));
    unlink(path);
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), STOR_E_CORRUPT);
    f->cfg.accept_empty_catalog = true;
    reopen(f);
    assert_int_equal(count_range(f->env, 0, UINT64_MAX).rows, 1500);
}

static void
test_truncated_catalog_named(void **state)
{
    struct fx *f = *state;
    three_partitions(f);
    char path[128];
    snprintf(path, sizeof(path), "%s/catalog.mdb", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2 > 8192 ? st.st_size / 2 : 8192), 0);
    int rc = stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg));
    if (rc == 0) {
        /* Not shorter than its pages after all (a small catalog): nothing to refuse. */
        return;
    }
    assert_non_null(strstr(f->msg, path));
}

/* Garble one sealed block of T0 + 3600 through LMDB (the tree stays intact). */
static uint64_t
garble_one_block(const char *dir)
{
    char path[128];
    MDB_env *e;
    MDB_txn *txn;
    MDB_dbi blocks;
    MDB_cursor *cur;
    MDB_val k, v;
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", dir, T0 + 3600);
    assert_int_equal(mdb_env_create(&e), 0);
    assert_int_equal(mdb_env_set_maxdbs(e, 8), 0);
    assert_int_equal(mdb_env_open(e, path, MDB_NOSUBDIR, 0640), 0);
    assert_int_equal(mdb_txn_begin(e, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "blocks", 0, &blocks), 0);
    assert_int_equal(mdb_cursor_open(txn, blocks, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    long n = stor__block_count(v.mv_data, v.mv_size);
    assert_true(n > 0);
    uint8_t *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size / 2] ^= 0x5a;
    copy[v.mv_size - 1] ^= 0xa5;
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_cursor_put(cur, &k, &nv, MDB_CURRENT), 0);
    mdb_cursor_close(cur);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(e);
    free(copy);
    return (uint64_t) n;
}

static void
test_corrupt_block_skipped(void **state)
{
    struct fx *f = *state;
    three_partitions(f);
    uint64_t lost = garble_one_block(f->dir);
    reopen(f);
    struct count c = count_range(f->env, 0, UINT64_MAX);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.rows, 1500 - lost);
    assert_int_equal(c.corrupt, 1);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.blocks_corrupt, 1);
    assert_true(nnotices >= 1);
    assert_non_null(strstr(notices[0], "failed its checks"));
}

/* ---- M7: concurrent flow-log creates ---- */

struct creator {
    struct stor_env *env;
    int t;
    int ok;
    int limit;
};

static void *
create_some(void *arg)
{
    struct creator *c = arg;
    for (int i = 0; i < 4; i++) {
        struct stor_flowlog fl;
        char name[32], msg[256];
        snprintf(name, sizeof(name), "fl-%d-%d", c->t, i);
        stor_flowlog_default(&fl, name);
        int rc = stor_flowlog_create(c->env, &fl, msg, sizeof(msg));
        c->ok += rc == 0;
        c->limit += rc == STOR_E_LIMIT;
    }
    return NULL;
}

static int
collect_id(void *arg, const struct stor_flowlog *fl)
{
    uint8_t *seen = arg;
    seen[fl->id]++;
    return 0;
}

static void
test_concurrent_creates(void **state)
{
    struct fx *f = *state;
    f->cfg.max_flowlogs = 20;
    reopen(f);
    pthread_t th[8];
    struct creator c[8];
    for (int t = 0; t < 8; t++) {
        c[t] = (struct creator){.env = f->env, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, create_some, &c[t]), 0);
    }
    int ok = 0, limit = 0;
    for (int t = 0; t < 8; t++) {
        pthread_join(th[t], NULL);
        ok += c[t].ok;
        limit += c[t].limit;
    }
    assert_int_equal(ok, 20);
    assert_int_equal(limit, 12);
    reopen(f);
    static uint8_t seen[65536];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(stor_flowlog_each(f->env, collect_id, seen), 0);
    int n = 0;
    for (size_t i = 0; i < 65536; i++) {
        assert_true(seen[i] <= 1); /* distinct ids */
        n += seen[i];
    }
    assert_int_equal(n, 20); /* none lost */
}

static void
test_window_immutable(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog fl;
    stor_flowlog_default(&fl, "w");
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    fl.window_s = 60;
    assert_int_equal(stor_flowlog_modify(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_INVAL);
    assert_non_null(strstr(f->msg, "window"));
    fl.window_s = 600;
    snprintf(fl.description, sizeof(fl.description), "changed");
    assert_int_equal(stor_flowlog_modify(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_get(f->env, "w", &fl), 0);
    assert_string_equal(fl.description, "changed");
}

/* ---- address space: cold partitions closed, reopened on demand ---- */

static void
test_cold_partitions_closed(void **state)
{
    struct fx *f = *state;
    f->cfg.max_open_parts = 2;
    reopen(f);
    const uint32_t a = 4102444800u; /* 2100-01-01: the writer leaves them alone */
    for (uint32_t i = 0; i < 5; i++) {
        struct stor_part *p;
        assert_int_equal(stor__part_acquire(f->env, a + 3600 * i, true, &p), 0);
        stor__part_release(f->env, p);
    }
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_true(st.open_envs <= 2);
    assert_true(st.partitions_closed >= 3);
    assert_int_equal(st.partitions, 5);
    /* Held ones are never closed; a snapshot reopens what it reads. */
    struct stor_part *held[3];
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(stor__part_acquire(f->env, a + 3600 * i, false, &held[i]), 0);
        assert_non_null(held[i]->mdb);
    }
    stor_stats_get(f->env, &st);
    assert_int_equal(st.open_envs, 3);
    for (uint32_t i = 0; i < 3; i++) {
        stor__part_release(f->env, held[i]);
    }
    stor_stats_get(f->env, &st);
    assert_true(st.open_envs <= 2);
    struct count c = count_range(f->env, 0, UINT64_MAX);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.rows, 0);
    /* A snapshot keeps what it has read open, not every partition it references. */
    struct stor_snap *snap;
    assert_int_equal(stor_snap_begin(f->env, &snap), 0);
    for (uint32_t i = 0; i < 5; i++) {
        struct stor_part *p;
        assert_int_equal(stor__part_acquire(f->env, a + 3600 * i, false, &p), 0);
        stor__part_release(f->env, p);
    }
    stor_stats_get(f->env, &st);
    assert_true(st.open_envs <= 2);
    stor_snap_end(snap);
    assert_int_equal(stor__part_sync(f->env, a), 0);
    reopen(f);
    stor_stats_get(f->env, &st);
    assert_int_equal(st.partitions, 5);
}

/* ---- M2: compaction from another thread beside snapshots and the stats reader ---- */

struct scanner {
    struct stor_env *env;
    uint64_t want;
    uint64_t scans;
    uint64_t wrong;
    _Atomic bool stop;
};

static void *
scan_loop(void *arg)
{
    struct scanner *sc = arg;
    while (!atomic_load(&sc->stop)) {
        struct count c = count_range(sc->env, 0, UINT64_MAX);
        sc->wrong += c.rc != 0 || c.packets != sc->want;
        sc->scans++;
        struct stor_stats st;
        stor_stats_get(sc->env, &st); /* never waits on the copy */
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void
test_compaction_beside_snapshots(void **state)
{
    struct fx *f = *state;
    uint64_t now_s = wall_now() / 1000u;
    uint32_t hour = (uint32_t) (now_s - now_s % 3600); /* not settled: the writer leaves it */
    f->cfg.block_records = 4096;
    reopen(f);
    static struct flow_rec r[4000];
    uint64_t seed = 3, packets = 0;
    for (int b = 0; b < 12; b++) {
        for (size_t i = 0; i < 4000; i++) {
            r[i] = mk(rnd(&seed) % 500, 53, (uint64_t) hour * 1000u + 1000u + i % 500, 1);
            packets++;
        }
        struct stor_batch *bt = stor_batch_get(f->env);
        assert_non_null(bt);
        memcpy(bt->recs, r, sizeof(r));
        bt->n = 4000;
        memset(&bt->msgs[0], 0, sizeof(bt->msgs[0]));
        uint8_t e[4] = {192, 0, 2, 1}; /* the records' exporter: its clock is in the window */
        flow_addr_set_v4(bt->msgs[0].exporter, e);
        bt->msgs[0].exporter_port = 4739;
        bt->msgs[0].export_ms = (uint64_t) hour * 1000u + 1000u;
        bt->nmsgs = 1;
        stor_batch_submit(f->env, bt);
        assert_int_equal(stor_sync(f->env), 0);
    }
    /* Sealed now, the partition is not settled: the writer does not compact it itself. */
    assert_int_equal(stor_seal_due(f->env, wall_now(), true), 0);
    struct stor_part *p;
    assert_int_equal(stor__part_acquire(f->env, hour, false, &p), 0);
    stor__part_release(f->env, p); /* still listed: compaction takes only unreferenced ones */
    struct scanner sc = {.env = f->env, .want = packets};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, scan_loop, &sc), 0);
    int compacted = 0;
    for (int i = 0; i < 20000 && compacted == 0; i++) { /* up to 20 s */
        int rc = stor__part_compact(f->env, p);         /* 0 while a snapshot holds it */
        assert_true(rc >= 0);
        compacted = rc == 1;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL); /* a few more scans of the compacted file */
    atomic_store(&sc.stop, true);
    pthread_join(th, NULL);
    print_message("compaction beside %llu scans\n", (unsigned long long) sc.scans);
    assert_int_equal(compacted, 1);
    assert_int_equal(sc.wrong, 0);
    assert_true(sc.scans > 0);
    assert_int_equal(count_range(f->env, 0, UINT64_MAX).packets, packets);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_never_blocks_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_vs_held_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_open_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_partition_quarantined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_partition_quarantined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_catalog_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_catalog_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_block_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_immutable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cold_partitions_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_beside_snapshots, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
