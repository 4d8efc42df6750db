/* SPDX-License-Identifier: MIT */
/*
 * The repeater's config part (collector/config_repeat.c): splitting [repeat] to into
 * HOST:PORT items, the bound on destinations, bad items, and -R's append.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coll.h"

static void
split_items(void **state)
{
    (void) state;
    char items[COLL_REPEAT_MAX][COLL_REPEAT_SPEC];
    char msg[200] = "";
    assert_int_equal(coll_repeat_split("", items, msg, sizeof(msg)), 0);
    assert_int_equal(
        coll_repeat_split(" 127.0.0.1:9995,[::1]:2055  collector.example:4739,", items, msg,
                          sizeof(msg)),
        3);
    assert_string_equal(items[0], "127.0.0.1:9995");
    assert_string_equal(items[1], "[::1]:2055");
    assert_string_equal(items[2], "collector.example:4739");
}

static void
split_bad(void **state)
{
    (void) state;
    char items[COLL_REPEAT_MAX][COLL_REPEAT_SPEC];
    char msg[200] = "";
    const char *bad[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":9995", "[::1:9",
                         "host:99x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        assert_int_equal(coll_repeat_split(bad[i], items, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "repeat.to"));
    }
    /* One more than COLL_REPEAT_MAX. */
    char list[512] = "";
    for (int i = 0; i <= COLL_REPEAT_MAX; i++) {
        char one[32];
        snprintf(one, sizeof(one), "127.0.0.1:%d ", 9000 + i);
        strcat(list, one);
    }
    assert_int_equal(coll_repeat_split(list, items, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "more than"));
}

static void
config_key(void **state)
{
    (void) state;
    struct coll_cfg cfg;
    char msg[200] = "";
    coll_cfg_default(&cfg);
    assert_int_equal(cfg.repeat.sndbuf_bytes, 4u << 20);
    assert_int_equal(coll_cfg_set(&cfg, "repeat", "to", "127.0.0.1:9995", msg, sizeof(msg)), 0);
    assert_int_equal(coll_cfg_check(&cfg, msg, sizeof(msg)), 0);
    assert_int_equal(coll_repeat_append(&cfg.repeat, "[::1]:9996"), 0);
    assert_string_equal(cfg.repeat.to, "127.0.0.1:9995, [::1]:9996");
    assert_int_equal(coll_cfg_set(&cfg, "repeat", "to", "nohost", msg, sizeof(msg)), 0);
    assert_int_equal(coll_cfg_check(&cfg, msg, sizeof(msg)), -EINVAL);
    assert_int_equal(coll_cfg_set(&cfg, "repeat", "sndbuf", "1M", msg, sizeof(msg)), 0);
    assert_int_equal(cfg.repeat.sndbuf_bytes, 1u << 20);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_items),
        cmocka_unit_test(split_bad),
        cmocka_unit_test(config_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
