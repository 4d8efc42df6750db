/* SPDX-License-Identifier: MIT */
/*
 * unit.stor.tail: the commit sequence (storage/src/tail.c). Runs committed while a tail wants
 * them come back whole and in order; runs committed while none does, or that fell out of the
 * ring, are counted as missed and never given.
 */
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

#include "stor.h"

#define T0 1763798400u /* a partition start (multiple of 3600) */

struct fx {
    char dir[64];
    struct stor_env *env;
    struct stor_cfg cfg;
    char msg[256];
    uint8_t *block;
    struct flow_rec recs[64];
};

static int
open_with(void **state, uint32_t block_records)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-tail-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.block_records = block_records; /* runs of this many records */
    f->cfg.commit_ms = 20;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
    f->block = malloc(STOR_TAIL_BLOCK_MAX);
    *state = f;
    return 0;
}

static int
setup4(void **state)
{
    return open_with(state, 4);
}

static int
setup1(void **state)
{
    return open_with(state, 1);
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->block);
    free(f);
    return 0;
}

/* n records with dstport first, first+1, ... in one batch, committed. */
static void
submit(struct fx *f, uint16_t first, size_t n)
{
    struct stor_batch *b = stor_batch_get(f->env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    for (size_t i = 0; i < n; i++) {
        struct flow_rec *r = &b->recs[i];
        uint8_t a[4] = {10, 0, 0, 1}, d[4] = {172, 16, 0, 2}, e[4] = {192, 0, 2, 1};
        memset(r, 0, sizeof(*r));
        flow_addr_set_v4(r->srcaddr, a);
        flow_addr_set_v4(r->dstaddr, d);
        flow_addr_set_v4(r->exporter, e);
        r->dstport = (uint16_t) (first + i);
        r->protocol = 17;
        r->packets = 1;
        r->bytes = 100;
        r->end_ms = (uint64_t) T0 * 1000 + 5000;
        r->start_ms = r->end_ms - 1000;
        r->version = 10;
        r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_DSTPORT | FLOW_HAS_PROTOCOL |
                     FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    }
    b->n = n;
    stor_batch_submit(f->env, b);
    assert_int_equal(stor_sync(f->env), 0);
}

/* Runs kept while wanted come back in order, each whole: their dstports are 100..109. */
static void
test_kept_in_order(void **state)
{
    struct fx *f = *state;
    struct stor_tail_run run;
    uint64_t missed, from;
    size_t n, seen = 0;

    assert_int_equal(stor_tail_want(f->env, true), 0);
    from = stor_tail_head(f->env);
    submit(f, 100, 10); /* runs of 4, 4 and 2 */
    assert_int_equal(stor_tail_head(f->env), from + 3);
    while (stor_tail_next(f->env, from, &run, f->block, &missed) == 1) {
        assert_int_equal(missed, 0);
        assert_int_equal(run.seq, from);
        assert_int_equal(stor_tail_decode(f->block, run.len, f->recs, 64, &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(f->recs[i].dstport, 100 + seen + i);
        }
        seen += n;
        from = run.seq + 1;
    }
    assert_int_equal(seen, 10);
    assert_int_equal(run.seq, from); /* none yet: ask for the next number */
    /* A decode into too little room says how many there are. */
    assert_int_equal(stor_tail_next(f->env, from - 3, &run, f->block, &missed), 1);
    assert_int_equal(stor_tail_decode(f->block, run.len, f->recs, 2, &n), STOR_E_LIMIT);
    assert_int_equal(n, 4);
    assert_int_equal(stor_tail_want(f->env, false), 0);
}

/* Runs committed while no tail wanted them are numbered, missed, never given. */
static void
test_unwanted_missed(void **state)
{
    struct fx *f = *state;
    struct stor_tail_run run;
    uint64_t missed;
    uint64_t from = stor_tail_head(f->env);

    submit(f, 200, 8); /* two runs, no tail */
    assert_int_equal(stor_tail_want(f->env, true), 0);
    assert_int_equal(stor_tail_next(f->env, from, &run, f->block, &missed), 0);
    assert_int_equal(missed, 2);
    assert_int_equal(run.seq, from + 2);
    submit(f, 300, 4);
    assert_int_equal(stor_tail_next(f->env, from, &run, f->block, &missed), 1);
    assert_int_equal(missed, 2);
    assert_int_equal(run.seq, from + 2);
    assert_int_equal(stor_tail_want(f->env, false), 0);
}

/* A tail more than STOR_TAIL_RUNS runs behind misses the oldest, and is told how many. */
static void
test_ring_overrun(void **state)
{
    struct fx *f = *state;
    struct stor_tail_run run;
    uint64_t missed;
    size_t n;

    assert_int_equal(stor_tail_want(f->env, true), 0);
    uint64_t from = stor_tail_head(f->env);
    for (size_t done = 0; done < STOR_TAIL_RUNS + 10; done += 500) {
        size_t k = STOR_TAIL_RUNS + 10 - done < 500 ? STOR_TAIL_RUNS + 10 - done : 500;
        submit(f, (uint16_t) done, k); /* one run per record */
    }
    assert_int_equal(stor_tail_head(f->env), from + STOR_TAIL_RUNS + 10);
    assert_int_equal(stor_tail_next(f->env, from, &run, f->block, &missed), 1);
    assert_int_equal(missed, 10);
    assert_int_equal(run.seq, from + 10);
    assert_int_equal(stor_tail_decode(f->block, run.len, f->recs, 64, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->recs[0].dstport, 10);
    assert_int_equal(stor_tail_want(f->env, false), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_in_order, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_unwanted_missed, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_ring_overrun, setup1, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
