/* SPDX-License-Identifier: MIT */
/*
 * stor_backup (storage/src/backup.c): a copy of every partition and the catalog that a
 * second environment opens with the same rows; refusals (a non-empty directory, a relative
 * path) that leave the target alone; a backup while a thread keeps committing; and
 * stor_set_retention changing what maintenance drops, with its notice.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor_int.h"

#define T0 1763798400u /* a partition start (multiple of 3600) */

struct fx {
    char dir[64], bk[96];
    struct stor_env *env;
    struct stor_cfg cfg;
    char msg[512];
};

static char last_notice[512];
static int nnotices;

static void
on_notice(void *arg, const char *text)
{
    (void) arg;
    snprintf(last_notice, sizeof(last_notice), "%s", text);
    nnotices++;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-bk-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->bk, sizeof(f->bk), "%s.copy", f->dir);
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.map_max_bytes = 256u << 20;
    f->cfg.block_records = 64;
    f->cfg.commit_ms = 20;
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
    char cmd[256];
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->dir, f->bk);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct flow_rec
mk(uint32_t src, uint64_t end_ms, uint64_t pkts)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t a[4] = {10, (uint8_t) (src >> 16), (uint8_t) (src >> 8), (uint8_t) src};
    uint8_t e[4] = {192, 0, 2, 1};
    flow_addr_set_v4(r.srcaddr, a);
    flow_addr_set_v4(r.dstaddr, e);
    flow_addr_set_v4(r.exporter, e);
    r.exporter_port = 4739;
    r.srcport = (uint16_t) src;
    r.dstport = 443;
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

/* n records ending from end_ms on, one ms apart; committed when it returns. */
static void
submit(struct stor_env *env, uint32_t first, size_t n, uint64_t end_ms)
{
    struct stor_batch *b = stor_batch_get(env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    for (size_t i = 0; i < n; i++) {
        b->recs[i] = mk(first + (uint32_t) i, end_ms + i, 1 + i % 5);
    }
    b->n = n;
    b->nmsgs = 0;
    stor_batch_submit(env, b);
    assert_int_equal(stor_sync(env), 0);
}

/* Rows and packets of every record in the store. */
static void
count_all(struct stor_env *env, uint64_t *rows, uint64_t *pkts)
{
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    struct stor_scan sc = {0, UINT64_MAX / 2, -1, 0, NULL};
    *rows = *pkts = 0;
    assert_int_equal(stor_snap_begin(env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &sc, &it), 0);
    while (stor_iter_next(it, &recs, &n) == 1) {
        for (size_t i = 0; i < n; i++) {
            *rows += 1;
            *pkts += recs[i].packets;
        }
    }
    stor_iter_close(it);
    stor_snap_end(snap);
}

static bool
exists(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void
test_backup_copies_everything(void **state)
{
    struct fx *f = *state;
    for (uint32_t h = 0; h < 3; h++) {
        submit(f->env, 100 * h, 100, (uint64_t) (T0 + h * 3600u + 60) * 1000u);
    }
    assert_int_equal(stor_seal_due(f->env, (uint64_t) (T0 + 4 * 3600) * 1000u, true), 0);
    submit(f->env, 900, 50, (uint64_t) (T0 + 2 * 3600 + 120) * 1000u); /* late rows too */
    uint64_t rows, pkts, rows2, pkts2;
    count_all(f->env, &rows, &pkts);
    assert_int_equal(rows, 350);

    struct stor_backup_info info;
    int rc = stor_backup(f->env, f->bk, &info, f->msg, sizeof(f->msg));
    if (rc != 0) {
        fail_msg("stor_backup: %s (%s)", stor_strerror(rc), f->msg);
    }
    assert_int_equal(info.partitions, 3);
    assert_true(info.bytes > 0);
    assert_true(exists(f->bk, "backup.done"));
    assert_false(exists(f->bk, "backup.partial"));
    assert_true(exists(f->bk, "catalog.mdb"));

    struct stor_cfg c2 = f->cfg;
    struct stor_env *copy;
    c2.dir = f->bk;
    assert_int_equal(stor_open(&copy, &c2, f->msg, sizeof(f->msg)), 0);
    count_all(copy, &rows2, &pkts2);
    stor_close(copy);
    assert_int_equal(rows2, rows);
    assert_int_equal(pkts2, pkts);
}

static void
test_backup_refusals(void **state)
{
    struct fx *f = *state;
    struct stor_backup_info info;
    submit(f->env, 1, 10, (uint64_t) (T0 + 60) * 1000u);
    assert_int_equal(stor_backup(f->env, "relative/dir", &info, f->msg, sizeof(f->msg)),
                     STOR_E_INVAL);
    assert_int_equal(access("relative", F_OK), -1);

    /* An empty directory is taken; then it is not empty: refused, and left as it was. */
    assert_int_equal(mkdir(f->bk, 0750), 0);
    assert_int_equal(stor_backup(f->env, f->bk, &info, f->msg, sizeof(f->msg)), 0);
    struct stat before, after;
    char done[256];
    snprintf(done, sizeof(done), "%s/backup.done", f->bk);
    assert_int_equal(stat(done, &before), 0);
    assert_int_equal(stor_backup(f->env, f->bk, &info, f->msg, sizeof(f->msg)), STOR_E_EXISTS);
    assert_non_null(strstr(f->msg, "not empty"));
    assert_int_equal(stat(done, &after), 0);
    assert_int_equal(before.st_mtime, after.st_mtime);
    assert_int_equal(before.st_ino, after.st_ino);

    /* A parent that does not exist: an error, nothing made. */
    char deep[256];
    snprintf(deep, sizeof(deep), "%s/no/such", f->bk);
    assert_int_not_equal(stor_backup(f->env, deep, &info, f->msg, sizeof(f->msg)), 0);
}

struct pump {
    struct stor_env *env;
    atomic_bool stop;
    uint32_t batches;
};

static void *
pump_main(void *arg)
{
    struct pump *p = arg;
    while (!atomic_load(&p->stop)) {
        submit(p->env, 1000 + p->batches * 200, 200,
               (uint64_t) (T0 + 600 + p->batches % 3000) * 1000u);
        p->batches++;
    }
    return NULL;
}

static void
test_backup_while_writing(void **state)
{
    struct fx *f = *state;
    struct pump p = {.env = f->env};
    pthread_t th;
    atomic_init(&p.stop, false);
    submit(f->env, 1, 100, (uint64_t) (T0 + 60) * 1000u);
    assert_int_equal(pthread_create(&th, NULL, pump_main, &p), 0);
    struct timespec ms50 = {0, 50000000};
    nanosleep(&ms50, NULL);
    struct stor_backup_info info;
    int rc = stor_backup(f->env, f->bk, &info, f->msg, sizeof(f->msg));
    atomic_store(&p.stop, true);
    pthread_join(th, NULL);
    if (rc != 0) {
        fail_msg("stor_backup: %s (%s)", stor_strerror(rc), f->msg);
    }
    uint64_t rows, pkts, rows2, pkts2;
    count_all(f->env, &rows, &pkts);
    struct stor_cfg c2 = f->cfg;
    struct stor_env *copy;
    c2.dir = f->bk;
    assert_int_equal(stor_open(&copy, &c2, f->msg, sizeof(f->msg)), 0);
    count_all(copy, &rows2, &pkts2);
    stor_close(copy);
    /* The copy holds whole commits: at least what was there before, at most all of it. */
    assert_true(rows2 >= 100);
    assert_true(rows2 <= rows);
    assert_int_equal((rows2 - 100) % 200, 0);
}

static void
test_set_retention(void **state)
{
    struct fx *f = *state;
    uint64_t now_s = (uint64_t) time(NULL);
    uint32_t hour = (uint32_t) (now_s - now_s % 3600), old = hour - 3 * 3600;
    submit(f->env, 1, 10, (uint64_t) old * 1000u + 60000u);
    submit(f->env, 100, 10, (uint64_t) hour * 1000u + 5u);
    uint64_t now_ms = now_s * 1000u;
    assert_int_equal(stor_seal_due(f->env, now_ms, true), 0);
    char name[64];
    snprintf(name, sizeof(name), "p-%010u.mdb", old);
    assert_true(exists(f->dir, name)); /* retention 0: kept */

    nnotices = 0;
    stor_set_retention(f->env, 3600, 0);
    assert_int_equal(stor_seal_due(f->env, now_ms, false), 0);
    assert_false(exists(f->dir, name));
    assert_non_null(strstr(last_notice, "dropped"));
    assert_non_null(strstr(last_notice, "older than retention"));
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.partitions_dropped, 1);
}

/* A settled partition whose runs sealing deleted is compacted by maintenance, with a notice. */
static void
test_compact_notice(void **state)
{
    struct fx *f = *state;
    uint64_t now_s = (uint64_t) time(NULL);
    uint32_t old = (uint32_t) (now_s - now_s % 3600) - 3 * 3600;
    stor_close(f->env);
    f->cfg.block_records = 4096;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
    for (uint32_t b = 0; b < 12; b++) {
        submit(f->env, b * 4000, 4000, (uint64_t) old * 1000u + 60000u + b);
    }
    nnotices = 0;
    last_notice[0] = '\0';
    assert_int_equal(stor_seal_due(f->env, now_s * 1000u, true), 0);
    assert_int_equal(stor_seal_due(f->env, now_s * 1000u, false), 0);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_int_equal(st.compactions, 1);
    char want[64];
    snprintf(want, sizeof(want), "partition p-%010u.mdb compacted to ", old);
    assert_non_null(strstr(last_notice, want));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_copies_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_notice, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
