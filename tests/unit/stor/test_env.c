/* SPDX-License-Identifier: MIT */
/* Storage environments: creation, format version, metadata, partitions and map growth. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor_int.h"

static char *
tmpdir(void)
{
    char *d = strdup("/tmp/flowlog-test-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void
rmtree(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static struct stor_env *
open_at(const char *dir)
{
    struct stor_cfg cfg;
    struct stor_env *env = NULL;
    char msg[256] = "";
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    cfg.map_max_bytes = 4u << 20;
    int rc = stor_open(&env, &cfg, msg, sizeof(msg));
    if (rc != 0) {
        fail_msg("stor_open: %s (%s)", stor_strerror(rc), msg);
    }
    return env;
}

static void
test_create_and_reopen(void **state)
{
    (void) state;
    char *dir = tmpdir();
    char sub[300];
    struct stat st;
    snprintf(sub, sizeof(sub), "%s/store", dir);
    struct stor_env *env = open_at(sub);
    snprintf(sub, sizeof(sub), "%s/store/catalog.mdb", dir);
    assert_int_equal(stat(sub, &st), 0);
    stor_close(env);
    snprintf(sub, sizeof(sub), "%s/store", dir);
    env = open_at(sub);
    stor_close(env);
    rmtree(dir);
    free(dir);
}

static void
test_unknown_version_refused(void **state)
{
    (void) state;
    char *dir = tmpdir();
    struct stor_env *env = open_at(dir);
    uint8_t v1[4] = {0, 0, 0, 1}; /* an older store: its runs are row blocks v2 */
    assert_int_equal(stor_meta_put(env, "format", v1, 4), 0);
    stor_close(env);

    struct stor_cfg cfg;
    char msg[256] = "";
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    assert_int_equal(stor_open(&env, &cfg, msg, sizeof(msg)), STOR_E_VERSION);
    assert_non_null(strstr(msg, "format version 1"));
    assert_non_null(strstr(msg, "reads version 2"));
    rmtree(dir);
    free(dir);
}

static void
test_bad_config(void **state)
{
    (void) state;
    struct stor_cfg cfg;
    struct stor_env *env = NULL;
    char msg[256] = "";
    stor_cfg_default(&cfg);
    cfg.dir = "/tmp/never-created";
    cfg.partition_s = 1000;
    assert_int_equal(stor_open(&env, &cfg, msg, sizeof(msg)), STOR_E_INVAL);
    assert_non_null(strstr(msg, "multiple of 600"));
    cfg.partition_s = 3600;
    cfg.dir = "";
    assert_int_equal(stor_open(&env, &cfg, msg, sizeof(msg)), STOR_E_INVAL);
    assert_null(env);
}

static void
test_meta(void **state)
{
    (void) state;
    char *dir = tmpdir();
    struct stor_env *env = open_at(dir);
    void *v = NULL;
    size_t len = 0;
    assert_int_equal(stor_meta_get(env, "templates", &v, &len), STOR_E_NOTFOUND);
    assert_int_equal(stor_meta_put(env, "templates", "abc", 3), 0);
    assert_int_equal(stor_meta_put(env, "templates", "abcdef", 6), 0);
    stor_close(env);
    env = open_at(dir);
    assert_int_equal(stor_meta_get(env, "templates", &v, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "abcdef", 6);
    free(v);
    assert_int_equal(stor_meta_put(env, "", "x", 1), STOR_E_INVAL);
    /* A blob over STOR_META_MAX is refused as full, clearly, before it is read. */
    struct stor_stats st;
    assert_int_equal(stor_meta_put(env, "templates", "x", (size_t) STOR_META_MAX + 1), STOR_E_FULL);
    stor_stats_get(env, &st);
    assert_int_equal(st.meta_full, 1);
    assert_int_equal(stor_meta_get(env, "templates", &v, &len), 0); /* the old one stays */
    assert_int_equal(len, 6);
    free(v);
    stor_close(env);
    rmtree(dir);
    free(dir);
}

static void
test_partitions(void **state)
{
    (void) state;
    char *dir = tmpdir();
    struct stor_env *env = open_at(dir);
    struct stor_part *p = NULL, *q = NULL;

    /* Partitions in the future: the writer's compaction leaves them alone while we poke. */
    const uint32_t a = 4102444800u, b = a + 3600; /* 2100-01-01 */
    assert_int_equal(stor__part_start(env, a + 123), a);
    assert_int_equal(stor__part_acquire(env, a, false, &p), STOR_E_NOTFOUND);
    assert_int_equal(stor__part_acquire(env, b, true, &p), 0);
    assert_int_equal(stor__part_acquire(env, a, true, &q), 0);
    assert_int_equal(env->nparts, 2);
    assert_int_equal(env->parts[0]->start_s, a); /* kept in time order */
    assert_ptr_equal(env->parts[1], p);

    /* Maps are sized once, at map_max_bytes, and never grow. */
    assert_int_equal(p->map_bytes, 4u << 20);
    stor__part_release(env, p);
    stor__part_release(env, q);
    stor_close(env);

    env = open_at(dir); /* partition files are found again */
    assert_int_equal(env->nparts, 2);
    assert_int_equal(stor__part_acquire(env, b, false, &p), 0);
    stor__part_release(env, p);
    stor_close(env);
    rmtree(dir);
    free(dir);
}

static void
test_errors(void **state)
{
    (void) state;
    assert_int_equal(stor__err(MDB_MAP_FULL), STOR_E_FULL);
    assert_int_equal(stor__err(ENOSPC), STOR_E_FULL);
    assert_int_equal(stor__err(MDB_NOTFOUND), STOR_E_NOTFOUND);
    assert_int_equal(stor__err(MDB_CORRUPTED), STOR_E_CORRUPT);
    assert_int_equal(stor__err(EACCES), -EACCES);
    assert_string_equal(stor_strerror(STOR_E_FULL), "no space left for the store");
    assert_string_equal(stor_strerror(-ENOENT), "No such file or directory");
    /* EIO is a short write (full) or a failing disk: told apart by the space left. */
    assert_int_equal(stor__err(EIO), STOR_E_IO);
    assert_string_equal(stor_strerror(STOR_E_DISK), "the disk reported an I/O error");
}

static void
test_eio_told_apart(void **state)
{
    (void) state;
    char *dir = tmpdir();
    struct stor_env *env = open_at(dir);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    /* /tmp has room (else this check says nothing) and no file-size limit: a failing disk. */
    if (rl.rlim_cur == RLIM_INFINITY) {
        assert_int_equal(stor__err_env(env, EIO), STOR_E_DISK);
    }
    assert_int_equal(stor__err_env(env, ENOSPC), STOR_E_FULL);
    stor_close(env);
    rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen), cmocka_unit_test(test_unknown_version_refused),
        cmocka_unit_test(test_bad_config),        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_partitions),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_eio_told_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
