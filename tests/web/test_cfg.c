/* SPDX-License-Identifier: MIT */
/*
 * unit.web.cfg: the [http] section of flowlogd's config (collector/config.c, docs/http.md):
 * defaults, each key's range and units, "" for no HTTP, and the section named in errors.
 */
#define _POSIX_C_SOURCE 200809L /* libuv's types in coll.h */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "coll.h"

static int
set(struct coll_cfg *c, const char *key, const char *value, char *msg)
{
    return coll_cfg_set(c, "http", key, value, msg, 256);
}

static void
test_defaults(void **state)
{
    static struct coll_cfg c;
    (void) state;
    coll_cfg_default(&c);
    assert_string_equal(c.http.listen, "127.0.0.1:7780");
    assert_int_equal(c.http.max_connections, 32);
    assert_int_equal(c.http.idle_timeout_s, 30);
    assert_int_equal(c.http.header_max, 16 * 1024);
    assert_int_equal(c.http.body_max, 64 * 1024);
    assert_string_equal(c.http.hosts, "");
}

static void
test_keys(void **state)
{
    static struct coll_cfg c;
    char msg[256];
    (void) state;
    coll_cfg_default(&c);
    assert_int_equal(set(&c, "listen", "", msg), 0);
    assert_string_equal(c.http.listen, "");
    assert_int_equal(set(&c, "listen", "[::1]:0", msg), 0);
    assert_int_equal(set(&c, "max_connections", "4096", msg), 0);
    assert_int_equal(c.http.max_connections, 4096);
    assert_int_equal(set(&c, "max_connections", "0", msg), -EINVAL);
    assert_int_equal(set(&c, "max_connections", "4097", msg), -EINVAL);
    assert_int_equal(set(&c, "idle_timeout", "2m", msg), 0);
    assert_int_equal(c.http.idle_timeout_s, 120);
    assert_int_equal(set(&c, "idle_timeout", "0", msg), -EINVAL);
    assert_int_equal(set(&c, "header_max", "32k", msg), 0);
    assert_int_equal(c.http.header_max, 32 * 1024);
    assert_int_equal(set(&c, "header_max", "100", msg), -EINVAL);
    assert_int_equal(set(&c, "body_max", "1M", msg), 0);
    assert_int_equal(c.http.body_max, 1024 * 1024);
    assert_int_equal(set(&c, "body_max", "17M", msg), -EINVAL);
    assert_int_equal(set(&c, "hosts", "flowlog.example.net, flowlog", msg), 0);
    assert_string_equal(c.http.hosts, "flowlog.example.net, flowlog");
    assert_int_equal(set(&c, "token", "x", msg), -EINVAL); /* the tokens are [query]'s */
    assert_non_null(strstr(msg, "http.token: unknown key"));
    assert_int_equal(coll_cfg_set(&c, "", "listen", "x", msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "[http]"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
