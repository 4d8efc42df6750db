/* SPDX-License-Identifier: MIT */
/*
 * The ingest pipeline's exporter admin (collector/pipeline.c, coll_pipeline_forget_addr):
 * forgetting an address with one port, or with any port, forgets exactly those exporters in
 * the decoder and lists them; the others stay. With no free batch in the store the pipeline
 * says it is starved (the UDP listeners then stop reading) until one is free again, and the
 * datagrams decoded meanwhile count as records-dropped.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "coll.h"

/* An IPFIX header with no sets: a valid, empty message. */
static const uint8_t empty_ipfix[16] = {0x00, 0x0a, 0x00, 0x10, 0x60, 0, 0, 0,
                                        0,    0,    0,    1,    0,    0, 0, 1};

static void
send_from(struct coll_pipeline *p, const char *addr, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
    coll_pipeline_message(p, (const struct sockaddr *) &sin, DEC_TR_UDP, empty_ipfix,
                          sizeof(empty_ipfix), 1000);
}

static int
count(void *arg, const struct dec_exporter_info *info)
{
    (void) info;
    (*(int *) arg)++;
    return 0;
}

static int
exporters(struct coll_pipeline *p)
{
    int n = 0;
    coll_pipeline_exporter_each(p, count, &n);
    return n;
}

static void
test_forget_addr(void **state)
{
    char dir[] = "/tmp/flowlog-pipe-XXXXXX", msg[256];
    struct stor_cfg scfg;
    struct stor_env *stor;
    struct coll_pipeline *p;
    struct dec_src *gone;
    size_t n;
    uint8_t a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    (void) state;
    assert_non_null(mkdtemp(dir));
    stor_cfg_default(&scfg);
    scfg.dir = dir;
    assert_int_equal(stor_open(&stor, &scfg, msg, sizeof(msg)), 0);
    assert_int_equal(coll_pipeline_open(&p, stor, NULL, 1000), 0);
    send_from(p, "192.0.2.1", 100);
    send_from(p, "192.0.2.1", 200);
    send_from(p, "192.0.2.1", 300);
    send_from(p, "192.0.2.2", 100);
    assert_int_equal(exporters(p), 4);

    assert_int_equal(coll_pipeline_forget_addr(p, a, 200, &gone, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(gone[0].addr, a, 16);
    assert_int_equal(gone[0].port, 200);
    free(gone);
    assert_int_equal(exporters(p), 3);

    assert_int_equal(coll_pipeline_forget_addr(p, a, -1, &gone, &n), 0);
    assert_int_equal(n, 2);
    free(gone);
    assert_int_equal(exporters(p), 1); /* 192.0.2.2 stays */

    assert_int_equal(coll_pipeline_forget_addr(p, a, -1, &gone, &n), 0);
    assert_int_equal(n, 0);
    free(gone);
    coll_pipeline_close(p, 2000);
    stor_close(stor);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Takes every free batch of the store, so the pipeline's next ask finds none. */
static size_t
take_all(struct stor_env *stor, struct stor_batch **held, size_t cap)
{
    size_t n = 0;
    while (n < cap && (held[n] = stor_batch_get(stor)) != NULL) {
        n++;
    }
    return n;
}

static void
test_starved(void **state)
{
    char dir[] = "/tmp/flowlog-pipe-XXXXXX", msg[256], cmd[128];
    struct stor_cfg scfg;
    struct stor_env *stor;
    struct coll_pipeline *p;
    struct stor_batch *held[4];
    struct coll_counters c;
    (void) state;
    assert_non_null(mkdtemp(dir));
    stor_cfg_default(&scfg);
    scfg.dir = dir;
    scfg.queue_batches = 4;
    assert_int_equal(stor_open(&stor, &scfg, msg, sizeof(msg)), 0);
    assert_int_equal(coll_pipeline_open(&p, stor, NULL, 1000), 0);
    assert_false(coll_pipeline_starved(p)); /* it holds one batch */
    size_t n = take_all(stor, held, 4), sent = 0;
    assert_int_equal(n, 3);
    /* It submits its batch and asks for another; the writer may return the one just submitted
     * in between, so take what came back and try again. */
    while (!coll_pipeline_starved(p) && sent < 1000) {
        send_from(p, "192.0.2.1", 100);
        sent++;
        coll_pipeline_flush(p);
        n += take_all(stor, held + n, 4 - n);
    }
    assert_true(coll_pipeline_starved(p));
    assert_int_equal(stor_sync(stor), 0); /* every submitted batch is back in the pool */
    n += take_all(stor, held + n, 4 - n);
    assert_int_equal(n, 4);
    send_from(p, "192.0.2.1", 100); /* decoded into the scratch buffer */
    sent++;
    coll_pipeline_flush(p);
    assert_true(coll_pipeline_starved(p)); /* the store has no free batch */

    stor_batch_put(stor, held[--n]);
    coll_pipeline_flush(p);
    assert_false(coll_pipeline_starved(p));
    coll_pipeline_counters(p, &c);
    assert_int_equal(c.datagrams, sent);

    for (size_t i = 0; i < n; i++) {
        stor_batch_put(stor, held[i]);
    }
    coll_pipeline_close(p, 2000);
    stor_close(stor);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forget_addr),
        cmocka_unit_test(test_starved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
