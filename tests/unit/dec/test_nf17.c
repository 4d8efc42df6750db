/* SPDX-License-Identifier: MIT */
/*
 * NetFlow v1 and v7 unit tests: the two fixed formats beside v5 that fprobe and softflowd
 * export (tests/interop/peers_fprobe.sh, peers_softflowd.sh). v1: a 16-byte header without
 * sequence or engine fields and 48-byte records whose protocol, tos and TCP flags sit at
 * 38..40; v7: v5's header with the engine and sampling bytes reserved, and v5's record plus
 * 4 bytes of router shortcut (52 bytes). Messages are written by hand with msgbuild.h.
 */
#include "msgbuild.h"

#define SECS      1700000000u
#define NSECS     250000000u /* 250 ms */
#define EXPORT_MS (SECS * 1000ull + 250u)

/* NetFlow v1 header (16 bytes). */
static void
v1_hdr(struct mb *m, uint16_t count, uint32_t uptime)
{
    mb_init(m);
    mb_u16(m, 1);
    mb_u16(m, count);
    mb_u32(m, uptime);
    mb_u32(m, SECS);
    mb_u32(m, NSECS);
}

/* A v1 record: src 10.0.0.N, dst 192.0.2.7, distinguished by sport. */
static void
v1_rec(struct mb *m, uint8_t n, uint16_t sport, uint32_t first, uint32_t last)
{
    mb_ip4(m, 10, 0, 0, n);
    mb_ip4(m, 192, 0, 2, 7);
    mb_ip4(m, 10, 0, 0, 254); /* nexthop */
    mb_u16(m, 4);             /* input */
    mb_u16(m, 5);             /* output */
    mb_u32(m, 12);            /* dPkts */
    mb_u32(m, 3400);          /* dOctets */
    mb_u32(m, first);
    mb_u32(m, last);
    mb_u16(m, sport);
    mb_u16(m, 53);
    mb_u16(m, 0xeeee); /* pad1 */
    mb_u8(m, 17);      /* prot */
    mb_u8(m, 0x28);    /* tos */
    mb_u8(m, 0x12);    /* tcp_flags */
    mb_fill(m, 0xee, 7);
}

/* NetFlow v7 header (24 bytes): v5's, the last 4 bytes reserved. */
static void
v7_hdr(struct mb *m, uint16_t count, uint32_t uptime, uint32_t seq)
{
    mb_init(m);
    mb_u16(m, 7);
    mb_u16(m, count);
    mb_u32(m, uptime);
    mb_u32(m, SECS);
    mb_u32(m, NSECS);
    mb_u32(m, seq);
    mb_u32(m, 0xdeadbeef); /* reserved: neither engine id nor sampling */
}

static void
v7_rec(struct mb *m, uint16_t sport, uint32_t first, uint32_t last)
{
    mb_ip4(m, 172, 16, 0, 1);
    mb_ip4(m, 172, 16, 9, 9);
    mb_ip4(m, 172, 16, 0, 254); /* nexthop */
    mb_u16(m, 7);               /* input */
    mb_u16(m, 8);               /* output */
    mb_u32(m, 3);               /* dPkts */
    mb_u32(m, 180);             /* dOctets */
    mb_u32(m, first);
    mb_u32(m, last);
    mb_u16(m, sport);
    mb_u16(m, 443);
    mb_u8(m, 0xee);   /* flags (valid fields): ignored */
    mb_u8(m, 0x1b);   /* tcp_flags */
    mb_u8(m, 6);      /* prot */
    mb_u8(m, 0x10);   /* tos */
    mb_u16(m, 65001); /* src_as */
    mb_u16(m, 65002); /* dst_as */
    mb_u8(m, 24);
    mb_u8(m, 16);
    mb_u16(m, 0xeeee);          /* flags2 */
    mb_ip4(m, 172, 16, 0, 253); /* router_sc */
}

static void
test_v1_records(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    uint8_t a[16];

    v1_hdr(&m, 2, 100000);
    v1_rec(&m, 1, 1111, 90000, 99000);
    v1_rec(&m, 2, 2222, 99999, 100000);
    assert_int_equal(m.n, 16 + 2 * 48);
    assert_int_equal(th_decode(t, &m, 42), 0);
    assert_int_equal(t->sink.n, 2);

    const struct flow_rec *r = &t->recs[0];
    assert_int_equal(r->version, 1);
    assert_int_equal(r->domain, 0);
    th_v4(a, 10, 0, 0, 1);
    assert_memory_equal(r->srcaddr, a, 16);
    th_v4(a, 192, 0, 2, 7);
    assert_memory_equal(r->dstaddr, a, 16);
    assert_int_equal(r->inport, 4);
    assert_int_equal(r->outport, 5);
    assert_int_equal(r->packets, 12);
    assert_int_equal(r->bytes, 3400);
    assert_int_equal(r->start_ms, EXPORT_MS - 10000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1000u);
    assert_int_equal(r->srcport, 1111);
    assert_int_equal(r->dstport, 53);
    assert_int_equal(r->protocol, 17);
    assert_int_equal(r->tos, 0x28);
    assert_int_equal(r->tcp_flags, 0x12);
    assert_int_equal(r->present, FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT |
                                     FLOW_HAS_DSTPORT | FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS |
                                     FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS | FLOW_HAS_TOS |
                                     FLOW_HAS_INPORT | FLOW_HAS_OUTPORT);
    assert_int_equal(r->sampling, 0);
    /* The next hop is kept as IE 15, as for v5. */
    static const uint8_t nh[12] = {0, 0, 0, 0, 0, 15, 0, 4, 10, 0, 0, 254};
    assert_int_equal(r->raw_len, 12);
    assert_memory_equal(r->raw, nh, 12);

    th_v4(a, 10, 0, 0, 2);
    assert_memory_equal(t->recs[1].srcaddr, a, 16);
    assert_int_equal(t->recs[1].srcport, 2222);
    assert_int_equal(t->recs[1].end_ms, EXPORT_MS);

    assert_int_equal(t->msg.version, 1);
    assert_int_equal(t->msg.export_ms, EXPORT_MS);
    assert_int_equal(t->msg.records, 2);
    const struct dec_stats *s = th_stats(t);
    assert_int_equal(s->messages, 1);
    assert_int_equal(s->records, 2);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(s->err[i], 0);
    }
    th_free(t);
}

/* v1 has no sequence number: nothing is ever counted missed. */
static void
test_v1_no_sequence(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    for (int i = 0; i < 3; i++) {
        v1_hdr(&m, 1, 100000u + (uint32_t) i);
        v1_rec(&m, 1, (uint16_t) i, 1000, 1000);
        assert_int_equal(th_decode(t, &m, 0), 0);
        assert_int_equal(t->msg.missed, 0);
    }
    assert_int_equal(th_stats(t)->seq_missed, 0);
    th_free(t);
}

static void
test_v1_count(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    /* count says 3, two records there: the two are decoded, the disagreement counted */
    v1_hdr(&m, 3, 100000);
    v1_rec(&m, 1, 1, 1000, 1000);
    v1_rec(&m, 2, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);

    /* more than 24 records is not v1 */
    v1_hdr(&m, 25, 100000);
    for (int i = 0; i < 25; i++) {
        v1_rec(&m, 1, (uint16_t) i, 1000, 1000);
    }
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 2);

    /* shorter than its header */
    v1_hdr(&m, 1, 100000);
    m.n = 15;
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_SHORT], 1);
    th_free(t);
}

static void
test_v7_records(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    uint8_t a[16];

    v7_hdr(&m, 2, 100000, 500);
    v7_rec(&m, 1234, 90000, 99000);
    v7_rec(&m, 4321, 99999, 100000);
    assert_int_equal(m.n, 24 + 2 * 52);
    assert_int_equal(th_decode(t, &m, 42), 0);
    assert_int_equal(t->sink.n, 2);

    const struct flow_rec *r = &t->recs[0];
    assert_int_equal(r->version, 7);
    assert_int_equal(r->domain, 0); /* the reserved word is not an engine id */
    th_v4(a, 172, 16, 0, 1);
    assert_memory_equal(r->srcaddr, a, 16);
    th_v4(a, 172, 16, 9, 9);
    assert_memory_equal(r->dstaddr, a, 16);
    assert_int_equal(r->inport, 7);
    assert_int_equal(r->outport, 8);
    assert_int_equal(r->packets, 3);
    assert_int_equal(r->bytes, 180);
    assert_int_equal(r->start_ms, EXPORT_MS - 10000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1000u);
    assert_int_equal(r->srcport, 1234);
    assert_int_equal(r->dstport, 443);
    assert_int_equal(r->tcp_flags, 0x1b);
    assert_int_equal(r->protocol, 6);
    assert_int_equal(r->tos, 0x10);
    assert_int_equal(r->sampling, 0); /* the reserved word is not a sampling interval */
    /* As v5: next hop, AS numbers and masks as IEs 15, 16, 17, 9, 13. */
    static const uint8_t raw[50] = {
        0,  0, 0, 0,    0,    15, 0,  4, 172, 16, 0,  254, 0,  0,    0,    0,  0,
        16, 0, 2, 0xfd, 0xe9, 0,  0,  0, 0,   0,  17, 0,   2,  0xfd, 0xea, 0,  0,
        0,  0, 0, 9,    0,    1,  24, 0, 0,   0,  0,  0,   13, 0,    1,    16,
    };
    assert_int_equal(r->raw_len, 50);
    assert_memory_equal(r->raw, raw, 50);
    assert_int_equal(t->recs[1].srcport, 4321);
    assert_int_equal(t->recs[1].end_ms, EXPORT_MS);

    assert_int_equal(t->msg.version, 7);
    assert_int_equal(t->msg.seq, 500);
    assert_int_equal(t->msg.records, 2);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(th_stats(t)->err[i], 0);
    }
    th_free(t);
}

/* v7's flow_sequence counts flows, as v5's does. */
static void
test_v7_sequence(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    v7_hdr(&m, 2, 100000, 1000);
    v7_rec(&m, 1, 1000, 1000);
    v7_rec(&m, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    v7_hdr(&m, 1, 100100, 1005);
    v7_rec(&m, 3, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 3);
    assert_int_equal(th_stats(t)->seq_missed, 3);

    /* count over 28 is not v7; a 48-byte (v5-sized) record is a count mismatch */
    v7_hdr(&m, 29, 100200, 1006);
    for (int i = 0; i < 29; i++) {
        v7_rec(&m, (uint16_t) i, 1000, 1000);
    }
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);
    v7_hdr(&m, 1, 100300, 1006);
    mb_fill(&m, 0, 48);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 2);
    th_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_records),  cmocka_unit_test(test_v1_no_sequence),
        cmocka_unit_test(test_v1_count),    cmocka_unit_test(test_v7_records),
        cmocka_unit_test(test_v7_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
