/* SPDX-License-Identifier: MIT */
/*
 * The sink's [clickhouse] keys (collector/config_chquery.c): one url line per shard (the
 * first is also the query side's url), batch_rows within 1 ... CHS_BATCH_ROWS_MAX,
 * replicated, [health] outbox_lag_max with its suffixes, and the defaults.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coll.h"

static int
load(struct coll_cfg *cfg, const char *text, char *msg, size_t msglen)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/flowlog-cfgch-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    coll_cfg_default(cfg);
    msg[0] = '\0';
    int rc = coll_cfg_load(cfg, path, msg, msglen);
    unlink(path);
    return rc;
}

static void
test_defaults(void **state)
{
    struct coll_cfg c;
    (void) state;
    coll_cfg_default(&c);
    assert_int_equal(c.query.chq.nurls, 0);
    assert_int_equal(c.query.chq.batch_rows, 100000);
    assert_false(c.query.chq.replicated);
    assert_int_equal(c.query.chq.outbox_lag_max_s, 600);
}

static void
test_shards(void **state)
{
    struct coll_cfg c;
    char msg[256];
    (void) state;
    assert_int_equal(load(&c,
                          "[clickhouse]\nurl = http://127.0.0.1:8123/\n"
                          "url = http://127.0.0.1:8124/\nbatch_rows = 5000\nreplicated = true\n"
                          "[health]\noutbox_lag_max = 15m\n",
                          msg, sizeof(msg)),
                     0);
    assert_int_equal(c.query.chq.nurls, 2);
    assert_string_equal(c.query.chq.urls[1], "http://127.0.0.1:8124/");
    assert_string_equal(c.query.chq.url, "http://127.0.0.1:8123/"); /* the query side's */
    assert_int_equal(c.query.chq.batch_rows, 5000);
    assert_true(c.query.chq.replicated);
    assert_int_equal(c.query.chq.outbox_lag_max_s, 900);
}

static void
test_refused(void **state)
{
    struct coll_cfg c;
    char msg[256];
    (void) state;
    assert_int_not_equal(load(&c, "[clickhouse]\nbatch_rows = 500001\n", msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "batch_rows"));
    assert_int_not_equal(load(&c, "[clickhouse]\nbatch_rows = 0\n", msg, sizeof(msg)), 0);
    assert_int_not_equal(load(&c, "[clickhouse]\nreplicated = maybe\n", msg, sizeof(msg)), 0);
    assert_int_not_equal(load(&c, "[clickhouse]\nurl = ftp://x/\n", msg, sizeof(msg)), 0);
    assert_int_not_equal(load(&c, "[health]\noutbox_lag_max = 5x\n", msg, sizeof(msg)), 0);
    assert_int_equal(load(&c, "[health]\noutbox_lag_max = 0\n", msg, sizeof(msg)), 0);
    assert_int_equal(c.query.chq.outbox_lag_max_s, 0); /* off */
    char many[4096] = "[clickhouse]\n";
    for (int i = 0; i <= COLL_CH_SHARDS_MAX; i++) {
        size_t used = strlen(many);
        snprintf(many + used, sizeof(many) - used, "url = http://127.0.0.1:%d/\n", 9000 + i);
    }
    assert_int_not_equal(load(&c, many, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "shards"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_shards),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
