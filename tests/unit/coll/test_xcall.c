/* SPDX-License-Identifier: MIT */
/*
 * Calls into a libuv loop from another thread (collector/xcall.c): the function runs on the
 * loop's thread and its result comes back; a loop that does not run makes the call time out,
 * and the function never runs afterwards; shutting fails a waiting call and every later one.
 */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "coll.h"

struct call {
    struct coll_xcall *x;
    uint32_t timeout_ms;
    int rc;
    int ran;          /* times fn ran */
    pthread_t ran_on; /* where */
};

static int
fn(void *arg)
{
    struct call *c = arg;
    c->ran++;
    c->ran_on = pthread_self();
    return 42;
}

static void *
caller(void *arg)
{
    struct call *c = arg;
    c->rc = coll_xcall_run(c->x, fn, c, c->timeout_ms);
    return NULL;
}

/* Run the loop until the caller thread is done. */
static void
run_until(uv_loop_t *loop, pthread_t t, struct call *c)
{
    struct timespec ts = {0, 1000000};
    (void) c;
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (pthread_tryjoin_np(t, NULL) == 0) {
            return;
        }
        nanosleep(&ts, NULL);
    }
}

static void
test_runs_on_loop(void **state)
{
    uv_loop_t loop;
    struct call c = {.timeout_ms = 10000};
    pthread_t t;
    (void) state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(coll_xcall_open(&loop, &c.x), 0);
    assert_int_equal(pthread_create(&t, NULL, caller, &c), 0);
    run_until(&loop, t, &c);
    assert_int_equal(c.rc, 42);
    assert_int_equal(c.ran, 1);
    assert_true(pthread_equal(c.ran_on, pthread_self()));
    coll_xcall_close(c.x);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_timeout(void **state)
{
    uv_loop_t loop;
    struct call c = {.timeout_ms = 100};
    pthread_t t;
    (void) state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(coll_xcall_open(&loop, &c.x), 0);
    assert_int_equal(pthread_create(&t, NULL, caller, &c), 0);
    pthread_join(t, NULL); /* the loop never ran */
    assert_int_equal(c.rc, -ETIMEDOUT);
    uv_run(&loop, UV_RUN_NOWAIT); /* the wake-up arrives: nothing is left to run */
    assert_int_equal(c.ran, 0);
    coll_xcall_close(c.x);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_shut(void **state)
{
    uv_loop_t loop;
    struct call c = {.timeout_ms = 60000};
    struct timespec ts = {0, 50000000};
    pthread_t t;
    (void) state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(coll_xcall_open(&loop, &c.x), 0);
    assert_int_equal(pthread_create(&t, NULL, caller, &c), 0);
    nanosleep(&ts, NULL); /* the caller waits (the loop does not run) */
    coll_xcall_shut(c.x);
    pthread_join(t, NULL); /* well before its 60 s */
    assert_int_equal(c.rc, -ECANCELED);
    assert_int_equal(coll_xcall_run(c.x, fn, &c, 1000), -ECANCELED);
    coll_xcall_close(c.x);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c.ran, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_on_loop),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_shut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
