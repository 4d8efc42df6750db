/* SPDX-License-Identifier: MIT */
/*
 * [query] rollups (collector/config_query.c): on and off reach the query engine's switch,
 * anything else is refused with the key's name; other keys are left to config.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "coll.h"
#include "qry.h"

static void
test_rollups(void **state)
{
    struct coll_cfg c;
    char msg[256] = "";
    (void) state;
    coll_cfg_default(&c);
    assert_true(qry_rollups_get());
    assert_int_equal(coll_cfg_set(&c, "query", "rollups", "off", msg, sizeof(msg)), 0);
    assert_false(qry_rollups_get());
    assert_int_equal(coll_cfg_set(&c, "query", "rollups", "on", msg, sizeof(msg)), 0);
    assert_true(qry_rollups_get());
    assert_int_equal(coll_cfg_set(&c, "query", "rollups", "maybe", msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "query.rollups"));
    assert_true(qry_rollups_get());
    assert_int_equal(coll_cfg_set(&c, "query", "row_limit", "5", msg, sizeof(msg)), 0);
    assert_int_equal(c.query.row_limit, 5);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rollups)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
