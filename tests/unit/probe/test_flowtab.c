/* SPDX-License-Identifier: MIT */
/*
 * The flow cache: both directions in one entry, idle expiry (at the sweep and lazily when a
 * late packet arrives), the active-timeout split, FIN both ways and RST with the fin linger,
 * eviction when full, the TCP handshake RTT, flush at the end, records per side, and time
 * stepping back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe.h"

#define T0 1700000000000000ull /* µs */
#define MS 1000ull

struct got {
    struct probe_flow f[64];
    enum probe_why why[64];
    size_t n;
};

static void
on_expire(void *arg, const struct probe_flow *f, enum probe_why why)
{
    struct got *g = arg;
    assert_true(g->n < 64);
    g->f[g->n] = *f;
    g->why[g->n] = why;
    g->n++;
}

static struct probe_pkt
pkt(uint8_t a, uint16_t sport, uint8_t b, uint16_t dport, uint8_t proto, uint8_t flags)
{
    struct probe_pkt p;
    memset(&p, 0, sizeof(p));
    flow_addr_set_v4(p.src, (uint8_t[4]){10, 0, 0, a});
    flow_addr_set_v4(p.dst, (uint8_t[4]){10, 0, 0, b});
    p.sport = sport;
    p.dport = dport;
    p.proto = proto;
    p.tcp_flags = flags;
    p.len = 100;
    return p;
}

static struct probe_flowtab *
mk(struct got *g, uint32_t max)
{
    struct probe_flowtab *t = NULL;
    struct probe_flowtab_cfg c = {
        .max_flows = max, .idle_ms = 15000, .active_ms = 60000, .fin_ms = 1000};
    memset(g, 0, sizeof(*g));
    assert_int_equal(probe_flowtab_create(&t, &c, on_expire, g), 0);
    return t;
}

static void
test_config(void **state)
{
    (void) state;
    struct probe_flowtab *t = NULL;
    struct probe_flowtab_cfg c = {.max_flows = 0, .idle_ms = 1, .active_ms = 1};
    assert_int_equal(probe_flowtab_create(&t, &c, on_expire, NULL), PROBE_E_CONFIG);
    c.max_flows = 10;
    c.idle_ms = 0;
    assert_int_equal(probe_flowtab_create(&t, &c, on_expire, NULL), PROBE_E_CONFIG);
    assert_null(t);
    probe_flowtab_destroy(NULL);
}

static void
test_bidirectional_records(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 16);
    struct probe_pkt a = pkt(9, 5000, 1, 53, 17, 0); /* 10.0.0.9 sorts after 10.0.0.1 */
    struct probe_pkt b = pkt(1, 53, 9, 5000, 17, 0);
    struct flow_rec r;

    probe_flowtab_add(t, &a, T0);
    probe_flowtab_add(t, &b, T0 + 3 * MS);
    probe_flowtab_add(t, &a, T0 + 7 * MS);
    assert_int_equal(probe_flowtab_stats(t)->active, 1);
    probe_flowtab_flush(t);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.why[0], PROBE_WHY_END);
    /* Side 0 is 10.0.0.1:53, which sent one packet. */
    assert_true(probe_flow_rec(&g.f[0], 0, &r));
    assert_int_equal(r.srcaddr[15], 1);
    assert_int_equal(r.srcport, 53);
    assert_int_equal(r.dstport, 5000);
    assert_int_equal(r.packets, 1);
    assert_int_equal(r.bytes, 100);
    assert_int_equal(r.start_ms, T0 / 1000 + 3);
    assert_int_equal(r.end_ms, T0 / 1000 + 3);
    assert_true(probe_flow_rec(&g.f[0], 1, &r));
    assert_int_equal(r.srcaddr[15], 9);
    assert_int_equal(r.packets, 2);
    assert_int_equal(r.bytes, 200);
    assert_int_equal(r.start_ms, T0 / 1000);
    assert_int_equal(r.end_ms, T0 / 1000 + 7);
    assert_false(r.present & FLOW_HAS_RTT);
    assert_int_equal(probe_flowtab_stats(t)->active, 0);
    probe_flowtab_destroy(t);
}

static void
test_idle_sweep_and_lazy(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 16);
    struct probe_pkt a = pkt(1, 1000, 2, 2000, 17, 0);
    struct probe_pkt b = pkt(3, 1000, 4, 2000, 17, 0);

    probe_flowtab_add(t, &a, T0);
    probe_flowtab_add(t, &b, T0 + 10000 * MS);
    probe_flowtab_expire(t, T0 / 1000 + 14999);
    assert_int_equal(g.n, 0);
    probe_flowtab_expire(t, T0 / 1000 + 15000);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.why[0], PROBE_WHY_IDLE);
    assert_int_equal(g.f[0].addr[0][15], 1);
    /* b is idle at 25 s; no sweep runs, but its next packet must start a new record. */
    probe_flowtab_add(t, &b, T0 + 25000 * MS);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.why[1], PROBE_WHY_IDLE);
    assert_int_equal(g.f[1].packets[0], 1);
    assert_int_equal(probe_flowtab_stats(t)->flows, 3);
    probe_flowtab_destroy(t);
}

static void
test_active_split(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 16);
    struct probe_pkt a = pkt(1, 1000, 2, 2000, 6, 0x10);
    uint64_t ts;

    for (ts = 0; ts < 59000; ts += 10000) {
        probe_flowtab_add(t, &a, T0 + ts * MS);
    }
    assert_int_equal(g.n, 0);
    probe_flowtab_add(t, &a, T0 + 60000 * MS); /* exactly active_ms after the start */
    assert_int_equal(g.n, 1);
    assert_int_equal(g.why[0], PROBE_WHY_ACTIVE);
    assert_int_equal(g.f[0].packets[0], 6);
    probe_flowtab_flush(t);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.f[1].packets[0], 1);
    assert_int_equal(g.f[1].start_ms, T0 / 1000 + 60000);
    assert_int_equal(probe_flowtab_stats(t)->expired[PROBE_WHY_ACTIVE], 1);
    probe_flowtab_destroy(t);
}

static void
test_fin_both_ways_and_rst(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 16);
    struct probe_pkt c_fin = pkt(1, 40000, 2, 80, 6, 0x11);
    struct probe_pkt s_fin = pkt(2, 80, 1, 40000, 6, 0x11);
    struct probe_pkt c_ack = pkt(1, 40000, 2, 80, 6, 0x10);

    probe_flowtab_add(t, &c_fin, T0);
    probe_flowtab_expire(t, T0 / 1000 + 5000); /* one FIN only: still open */
    assert_int_equal(g.n, 0);
    probe_flowtab_add(t, &s_fin, T0 + 5100 * MS);
    probe_flowtab_add(t, &c_ack, T0 + 5200 * MS); /* the last ACK joins the same record */
    probe_flowtab_expire(t, T0 / 1000 + 6000);
    assert_int_equal(g.n, 0);
    probe_flowtab_expire(t, T0 / 1000 + 6199); /* never before fin_ms of quiet */
    assert_int_equal(g.n, 0);
    probe_flowtab_expire(t, T0 / 1000 + 7200); /* and within another fin_ms after that */
    assert_int_equal(g.n, 1);
    assert_int_equal(g.why[0], PROBE_WHY_CLOSED);
    assert_int_equal(g.f[0].packets[0] + g.f[0].packets[1], 3);
    /* RST alone closes; a packet after the linger starts a new record lazily. */
    struct probe_pkt rst = pkt(3, 1, 4, 2, 6, 0x04);
    probe_flowtab_add(t, &rst, T0 + 10000 * MS);
    probe_flowtab_add(t, &rst, T0 + 11500 * MS);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.why[1], PROBE_WHY_CLOSED);
    probe_flowtab_flush(t);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.why[2], PROBE_WHY_END);
    probe_flowtab_destroy(t);
}

static void
test_eviction(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 4);

    for (uint16_t i = 0; i < 6; i++) {
        struct probe_pkt p = pkt(1, (uint16_t) (1000 + i), 2, 53, 17, 0);
        probe_flowtab_add(t, &p, T0 + i * 2000 * MS); /* each in its own second */
    }
    /* A packet for the oldest survivor moves it to the tail (it is in a new second). */
    struct probe_pkt p2 = pkt(1, 1002, 2, 53, 17, 0);
    probe_flowtab_add(t, &p2, T0 + 13000 * MS);
    struct probe_pkt p6 = pkt(1, 1006, 2, 53, 17, 0);
    probe_flowtab_add(t, &p6, T0 + 13500 * MS);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.why[0], PROBE_WHY_EVICTED);
    assert_int_equal(g.f[0].port[0], 1000); /* least recently used first */
    assert_int_equal(g.f[1].port[0], 1001);
    assert_int_equal(g.f[2].port[0], 1003); /* 1002 was used again */
    assert_int_equal(probe_flowtab_stats(t)->expired[PROBE_WHY_EVICTED], 3);
    assert_int_equal(probe_flowtab_stats(t)->active, 4);
    assert_int_equal(probe_flowtab_stats(t)->packets, 8);
    probe_flowtab_flush(t);
    assert_int_equal(g.n, 7);
    probe_flowtab_destroy(t);
}

static void
test_rtt(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 16);
    struct probe_pkt syn = pkt(5, 40000, 6, 443, 6, 0x02);
    struct probe_pkt synack = pkt(6, 443, 5, 40000, 6, 0x12);
    struct probe_pkt ack = pkt(5, 40000, 6, 443, 6, 0x10);
    struct flow_rec r;

    probe_flowtab_add(t, &syn, T0 + 250);
    probe_flowtab_add(t, &syn, T0 + 1000250); /* retransmitted SYN restarts the clock */
    probe_flowtab_add(t, &synack, T0 + 1020250);
    probe_flowtab_add(t, &ack, T0 + 1032750); /* 32.5 ms after the SYN */
    probe_flowtab_add(t, &ack, T0 + 1090000); /* later ACKs change nothing */
    probe_flowtab_add(t, &synack, T0 + 1100000);
    probe_flowtab_flush(t);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.f[0].rtt_us, 32500);
    assert_true(probe_flow_rec(&g.f[0], 0, &r));
    assert_true(r.present & FLOW_HAS_RTT);
    assert_int_equal(r.rtt_us, 32500);
    assert_int_equal(r.tcp_flags, 0x12);
    /* No SYN+ACK: no RTT. */
    g.n = 0;
    probe_flowtab_add(t, &syn, T0 + 2000000);
    probe_flowtab_add(t, &ack, T0 + 2010000);
    probe_flowtab_flush(t);
    assert_int_equal(g.f[0].rtt_us, 0);
    probe_flowtab_destroy(t);
}

static void
test_time_steps_back(void **state)
{
    (void) state;
    struct got g;
    struct probe_flowtab *t = mk(&g, 16);
    struct probe_pkt a = pkt(1, 1, 2, 2, 17, 0);

    probe_flowtab_add(t, &a, T0 + 5000 * MS);
    probe_flowtab_add(t, &a, T0); /* earlier timestamp: accounted at the latest time */
    probe_flowtab_flush(t);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.f[0].packets[0], 2);
    assert_int_equal(g.f[0].last_ms[0], 0);
    assert_int_equal(g.f[0].start_ms, T0 / 1000 + 5000);
    probe_flowtab_destroy(t);
}

/*
 * The hash is seeded (flowprobe draws a seed per process): the same packet lands elsewhere
 * under another seed, and lookups stay right whatever the seed.
 */
static void
test_seeded_hash(void **state)
{
    (void) state;
    struct got g[2];
    uint32_t hash[2];

    for (int k = 0; k < 2; k++) {
        struct probe_flowtab *t = NULL;
        struct probe_flowtab_cfg c = {.max_flows = 64,
                                      .idle_ms = 15000,
                                      .active_ms = 60000,
                                      .fin_ms = 1000,
                                      .seed = k == 0 ? 0 : 0x9e3779b97f4a7c15ull};
        memset(&g[k], 0, sizeof(g[k]));
        assert_int_equal(probe_flowtab_create(&t, &c, on_expire, &g[k]), 0);
        for (uint16_t i = 0; i < 40; i++) {
            struct probe_pkt p = pkt(9, (uint16_t) (5000 + i), 1, 53, 17, 0);
            probe_flowtab_add(t, &p, T0);
            probe_flowtab_add(t, &p, T0 + MS);
        }
        assert_int_equal(probe_flowtab_stats(t)->active, 40);
        probe_flowtab_flush(t);
        assert_int_equal(g[k].n, 40);
        for (size_t i = 0; i < g[k].n; i++) {
            struct flow_rec r;
            assert_true(probe_flow_rec(&g[k].f[i], 1, &r));
            assert_int_equal(r.packets, 2);
        }
        hash[k] = g[k].f[0].hash;
        probe_flowtab_destroy(t);
    }
    assert_int_not_equal(hash[0], hash[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_bidirectional_records),
        cmocka_unit_test(test_idle_sweep_and_lazy),
        cmocka_unit_test(test_active_split),
        cmocka_unit_test(test_fin_both_ways_and_rst),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_rtt),
        cmocka_unit_test(test_time_steps_back),
        cmocka_unit_test(test_seeded_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
