/* SPDX-License-Identifier: MIT */
/* Flow-log definitions: create/modify/start/stop/delete, limits, persistence, routing, purge. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor_int.h"

struct fx {
    char *dir;
    struct stor_env *env;
    char msg[256];
};

static struct stor_env *
open_at(const char *dir, uint32_t max_flowlogs)
{
    struct stor_cfg cfg;
    struct stor_env *env = NULL;
    char msg[256] = "";
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    cfg.max_flowlogs = max_flowlogs;
    int rc = stor_open(&env, &cfg, msg, sizeof(msg));
    if (rc != 0) {
        fail_msg("stor_open: %s (%s)", stor_strerror(rc), msg);
    }
    return env;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = strdup("/tmp/flowlog-fl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->env = open_at(f->dir, 3);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[300];
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->dir);
    free(f);
    return 0;
}

static struct stor_flowlog
def(const char *name, const char *instance)
{
    struct stor_flowlog fl;
    stor_flowlog_default(&fl, name);
    if (instance != NULL) {
        fl.ninstances = 1;
        snprintf(fl.instances[0], FLOW_ID_MAX, "%s", instance);
    }
    return fl;
}

static void
test_create_get_persist(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog a = def("sag-east", "sag-1"), got;
    snprintf(a.description, sizeof(a.description), "east gateways");
    a.window_s = 60;
    assert_int_equal(stor_flowlog_create(f->env, &a, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(a.id, 1);
    assert_true(a.created_ms > 1700000000000ull);
    stor_close(f->env);
    f->env = open_at(f->dir, 3);
    assert_int_equal(stor_flowlog_get(f->env, "sag-east", &got), 0);
    assert_int_equal(got.id, 1);
    assert_int_equal(got.window_s, 60);
    assert_true(got.aggregate);
    assert_true(got.active);
    assert_string_equal(got.description, "east gateways");
    assert_string_equal(got.instances[0], "sag-1");
    assert_int_equal(got.created_ms, a.created_ms);
    assert_int_equal(stor_flowlog_get(f->env, "nope", &got), STOR_E_NOTFOUND);
}

static void
test_ids_never_reused(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog a = def("a", NULL), b = def("b", NULL), c = def("c", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &a, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_create(f->env, &b, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_delete(f->env, "b", false, f->msg, sizeof(f->msg)), 0);
    stor_close(f->env);
    f->env = open_at(f->dir, 3);
    assert_int_equal(stor_flowlog_create(f->env, &c, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(c.id, 3);
    assert_int_equal(stor_flowlog_create(f->env, &b, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(b.id, 4);
}

static void
test_limits_and_validation(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog fl = def("one", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_EXISTS);
    assert_string_equal(f->msg, "flow log one exists");
    fl = def("two", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    fl = def("three", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    fl = def("four", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_LIMIT);
    assert_string_equal(f->msg, "at most 3 flow logs may exist (limit max_flowlogs)");

    assert_int_equal(stor_flowlog_delete(f->env, "three", false, f->msg, sizeof(f->msg)), 0);
    fl = def("bad name!", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_INVAL);
    assert_non_null(strstr(f->msg, "flow-log name must be"));
    fl = def("default", NULL);
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_INVAL);
    assert_non_null(strstr(f->msg, "reserved"));
    fl = def("w", NULL);
    fl.window_s = 300;
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_INVAL);
    assert_string_equal(f->msg, "capture window must be 60 or 600 seconds, not 300");
    fl = def("t", NULL);
    fl.traffic = 9;
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), STOR_E_INVAL);
    assert_int_equal(stor_flowlog_delete(f->env, "zz", false, f->msg, sizeof(f->msg)),
                     STOR_E_NOTFOUND);
    assert_string_equal(f->msg, "no flow log zz");
}

static void
test_instance_in_one_active_flowlog(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog a = def("a", "sag-7"), b = def("b", "sag-7");
    assert_int_equal(stor_flowlog_create(f->env, &a, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_create(f->env, &b, f->msg, sizeof(f->msg)), STOR_E_LIMIT);
    assert_string_equal(f->msg, "instance sag-7 already belongs to active flow log a");
    b.active = false; /* a stopped flow log may name it */
    assert_int_equal(stor_flowlog_create(f->env, &b, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_set_active(f->env, "b", true, f->msg, sizeof(f->msg)),
                     STOR_E_LIMIT);
    assert_int_equal(stor_flowlog_set_active(f->env, "a", false, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_set_active(f->env, "b", true, f->msg, sizeof(f->msg)), 0);
    struct stor_flowlog got;
    assert_int_equal(stor_flowlog_get(f->env, "a", &got), 0);
    assert_false(got.active);
}

static void
test_modify_keeps_identity(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog a = def("a", NULL), m, got;
    assert_int_equal(stor_flowlog_create(f->env, &a, f->msg, sizeof(f->msg)), 0);
    m = def("a", NULL);
    m.id = 99;
    m.created_ms = 5;
    m.aggregate = false;
    m.traffic = STOR_TRAFFIC_REJECT;
    assert_int_equal(stor_flowlog_modify(f->env, &m, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_get(f->env, "a", &got), 0);
    assert_int_equal(got.id, a.id);
    assert_int_equal(got.created_ms, a.created_ms);
    assert_false(got.aggregate);
    assert_int_equal(got.traffic, STOR_TRAFFIC_REJECT);
    m = def("missing", NULL);
    assert_int_equal(stor_flowlog_modify(f->env, &m, f->msg, sizeof(f->msg)), STOR_E_NOTFOUND);
}

static struct flow_rec
rec(const char *exporter_v4_last, uint32_t domain, const char *instance, uint8_t action)
{
    struct flow_rec r;
    memset(&r, 0, sizeof(r));
    uint8_t v4[4] = {192, 0, 2, (uint8_t) atoi(exporter_v4_last)};
    flow_addr_set_v4(r.exporter, v4);
    r.domain = domain;
    snprintf(r.instance_id, FLOW_ID_MAX, "%s", instance);
    r.action = action;
    return r;
}

static void
test_route(void **state)
{
    (void) state;
    struct stor_flowlog defs[3];
    uint16_t ids[4];
    struct flow_rec r = rec("1", 0, "", FLOW_ACT_ACCEPT);

    assert_int_equal(stor__route(defs, 0, &r, ids, 4), 1);
    assert_int_equal(ids[0], 0); /* nothing defined: the built-in default */

    defs[0] = def("by-exporter", NULL);
    defs[0].id = 1;
    defs[0].nexporters = 1;
    uint8_t net[4] = {192, 0, 2, 0};
    flow_addr_set_v4(defs[0].exporters[0].addr, net);
    defs[0].exporters[0].plen = 96 + 25; /* 192.0.2.0/25 */
    defs[1] = def("rejects-of-sag-9", "sag-9");
    defs[1].id = 2;
    defs[1].traffic = STOR_TRAFFIC_REJECT;
    defs[2] = def("domain-5-stopped", NULL);
    defs[2].id = 3;
    defs[2].ndomains = 1;
    defs[2].domains[0] = 5;
    defs[2].active = false;

    r = rec("1", 5, "sag-9", FLOW_ACT_ACCEPT);
    assert_int_equal(stor__route(defs, 3, &r, ids, 4), 1);
    assert_int_equal(ids[0], 1);
    r = rec("200", 5, "sag-9", FLOW_ACT_REJECT);
    assert_int_equal(stor__route(defs, 3, &r, ids, 4), 1);
    assert_int_equal(ids[0], 2);
    r = rec("7", 5, "sag-9", FLOW_ACT_REJECT);
    assert_int_equal(stor__route(defs, 3, &r, ids, 4), 2);
    r = rec("200", 5, "sag-8", FLOW_ACT_REJECT);
    assert_int_equal(stor__route(defs, 3, &r, ids, 4), 0); /* defined, none matches */
}

static void
put_key(struct stor_part *p, MDB_dbi dbi, uint16_t fl, uint32_t win, uint32_t item)
{
    MDB_txn *txn;
    uint8_t k[STOR_KEY_ITEM];
    stor__key_item(k, fl, win, item);
    MDB_val key = {STOR_KEY_ITEM, k}, val = {1, "x"};
    assert_int_equal(mdb_txn_begin(p->mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static size_t
count_keys(struct stor_part *p, MDB_dbi dbi, uint16_t fl)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    size_t n = 0;
    assert_int_equal(mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        n += flow_get_be(k.mv_data, 2) == fl;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return n;
}

static void
test_delete_purge(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog a = def("a", NULL), b = def("b", NULL);
    struct stor_part *p;
    assert_int_equal(stor_flowlog_create(f->env, &a, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor_flowlog_create(f->env, &b, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(stor__part_acquire(f->env, 1763798400, true, &p), 0);
    for (uint32_t i = 0; i < 50; i++) {
        put_key(p, p->blocks, a.id, 1763798400 + 600 * (i % 6), i);
        put_key(p, p->runs, b.id, 1763798400, i);
        put_key(p, p->sums, a.id, 1763799000, i);
    }
    assert_int_equal(stor_flowlog_delete(f->env, "b", false, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(count_keys(p, p->runs, b.id), 50); /* kept without purge */
    assert_int_equal(stor_flowlog_delete(f->env, "a", true, f->msg, sizeof(f->msg)), 0);
    assert_int_equal(count_keys(p, p->blocks, a.id), 0);
    assert_int_equal(count_keys(p, p->sums, a.id), 0);
    assert_int_equal(count_keys(p, p->runs, b.id), 50);
    stor__part_release(f->env, p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_in_one_active_flowlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modify_keeps_identity, setup, teardown),
        cmocka_unit_test(test_route),
        cmocka_unit_test_setup_teardown(test_delete_purge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
