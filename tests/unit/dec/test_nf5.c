/* SPDX-License-Identifier: MIT */
/*
 * NetFlow v5 unit tests: header fields, the 48-byte record, sysUptime to absolute time
 * (including the 32-bit wrap and First a little after the header's sysUptime), the sampling
 * bits, engine type/id as the domain, the count check and the raw IEs kept for fields that
 * struct flow_rec has no place for. Messages are written by hand with msgbuild.h.
 */
#include "msgbuild.h"

#define SECS  1700000000u
#define NSECS 500000000u /* 500 ms */
#define EXPORT_MS (SECS * 1000ull + 500u)

struct v5rec {
    uint8_t src[4], dst[4], nh[4];
    uint16_t in, out;
    uint32_t pkts, bytes, first, last;
    uint16_t sport, dport;
    uint8_t flags, proto, tos;
    uint16_t src_as, dst_as;
    uint8_t smask, dmask;
};

static void
put_rec(struct mb *m, const struct v5rec *r)
{
    mb_bytes(m, r->src, 4);
    mb_bytes(m, r->dst, 4);
    mb_bytes(m, r->nh, 4);
    mb_u16(m, r->in);
    mb_u16(m, r->out);
    mb_u32(m, r->pkts);
    mb_u32(m, r->bytes);
    mb_u32(m, r->first);
    mb_u32(m, r->last);
    mb_u16(m, r->sport);
    mb_u16(m, r->dport);
    mb_u8(m, 0xee); /* pad1: must be ignored */
    mb_u8(m, r->flags);
    mb_u8(m, r->proto);
    mb_u8(m, r->tos);
    mb_u16(m, r->src_as);
    mb_u16(m, r->dst_as);
    mb_u8(m, r->smask);
    mb_u8(m, r->dmask);
    mb_u16(m, 0xeeee); /* pad2 */
}

/* A simple record distinguished by its source port. */
static void
put_simple(struct mb *m, uint16_t sport, uint32_t first, uint32_t last)
{
    struct v5rec r = {
        .src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}, .nh = {0, 0, 0, 0},
        .pkts = 1, .bytes = 40, .first = first, .last = last,
        .sport = sport, .dport = 80, .proto = 6,
    };
    put_rec(m, &r);
}

static void
test_header_and_record(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    struct v5rec r1 = {
        .src = {10, 1, 2, 3}, .dst = {192, 168, 7, 9}, .nh = {10, 0, 0, 254},
        .in = 3, .out = 65535, .pkts = 10, .bytes = 0xfffffff0u, .first = 90000, .last = 99000,
        .sport = 1234, .dport = 443, .flags = 0x1b, .proto = 6, .tos = 0x10,
        .src_as = 65001, .dst_as = 65002, .smask = 24, .dmask = 16,
    };

    mb_v5_hdr(&m, 2, 100000, SECS, NSECS, 1000, 1, 2, 0);
    put_rec(&m, &r1);
    put_simple(&m, 5555, 99999, 100000);
    assert_int_equal(th_decode(t, &m, 42), 0);
    assert_int_equal(t->sink.n, 2);

    const struct flow_rec *r = &t->recs[0];
    uint8_t a[16];
    assert_int_equal(r->version, 5);
    assert_int_equal(r->domain, 1u << 8 | 2u);
    th_v4(a, 10, 1, 2, 3);
    assert_memory_equal(r->srcaddr, a, 16);
    th_v4(a, 192, 168, 7, 9);
    assert_memory_equal(r->dstaddr, a, 16);
    assert_memory_equal(r->exporter, t->src.addr, 16);
    assert_int_equal(r->exporter_port, 2055);
    assert_int_equal(r->inport, 3);
    assert_int_equal(r->outport, 65535);
    assert_int_equal(r->packets, 10);
    assert_int_equal(r->bytes, 0xfffffff0u);
    assert_int_equal(r->start_ms, EXPORT_MS - 10000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1000u);
    assert_int_equal(r->srcport, 1234);
    assert_int_equal(r->dstport, 443);
    assert_int_equal(r->tcp_flags, 0x1b);
    assert_int_equal(r->protocol, 6);
    assert_int_equal(r->tos, 0x10);
    assert_int_equal(r->present, FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT |
                                     FLOW_HAS_DSTPORT | FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS |
                                     FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS | FLOW_HAS_TOS |
                                     FLOW_HAS_INPORT | FLOW_HAS_OUTPORT);
    assert_int_equal(r->sampling, 0);
    assert_int_equal(r->flags, 0);
    assert_int_equal(r->direction, FLOW_DIR_UNKNOWN);
    assert_int_equal(r->action, FLOW_ACT_ACCEPT);
    assert_string_equal(r->instance_id, "");

    assert_int_equal(t->recs[1].srcport, 5555);
    assert_int_equal(t->recs[1].start_ms, EXPORT_MS - 1u);
    assert_int_equal(t->recs[1].end_ms, EXPORT_MS);

    assert_int_equal(t->msg.version, 5);
    assert_int_equal(t->msg.domain, 258);
    assert_int_equal(t->msg.seq, 1000);
    assert_int_equal(t->msg.export_ms, EXPORT_MS);
    assert_int_equal(t->msg.records, 2);
    assert_int_equal(t->msg.missed, 0);
    assert_false(t->msg.ooo);
    assert_false(t->msg.reset);

    const struct dec_stats *s = th_stats(t);
    assert_int_equal(s->messages, 1);
    assert_int_equal(s->octets, 24 + 2 * 48);
    assert_int_equal(s->records, 2);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(s->err[i], 0);
    }
    th_free(t);
}

static void
test_raw_ies(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    struct v5rec r1 = {
        .src = {1, 1, 1, 1}, .dst = {2, 2, 2, 2}, .nh = {10, 0, 0, 254},
        .src_as = 65001, .dst_as = 4200, .smask = 24, .dmask = 16, .first = 1, .last = 1,
    };

    mb_v5_hdr(&m, 1, 100, SECS, 0, 0, 0, 0, 0);
    put_rec(&m, &r1);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    const struct flow_rec *r = &t->recs[0];
    assert_int_equal(r->raw_len, 5 * 8 + 4 + 2 + 2 + 1 + 1);

    /* The walk sees exactly the five IEs, in order, all IANA. */
    static const uint16_t ids[5] = {15, 16, 17, 9, 13};
    static const uint16_t lens[5] = {4, 2, 2, 1, 1};
    size_t off = 0;
    struct flow_raw_ie ie;
    for (int i = 0; i < 5; i++) {
        assert_true(flow_raw_next(r, &off, &ie));
        assert_int_equal(ie.pen, 0);
        assert_int_equal(ie.id, ids[i]);
        assert_int_equal(ie.len, lens[i]);
    }
    assert_false(flow_raw_next(r, &off, &ie));

    uint16_t len = 0;
    const uint8_t *v = th_raw(r, 0, 15, &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    assert_memory_equal(v, ((const uint8_t[]){10, 0, 0, 254}), 4);
    v = th_raw(r, 0, 16, &len);
    assert_non_null(v);
    assert_int_equal(v[0] << 8 | v[1], 65001);
    v = th_raw(r, 0, 17, &len);
    assert_non_null(v);
    assert_int_equal(v[0] << 8 | v[1], 4200);
    v = th_raw(r, 0, 9, &len);
    assert_non_null(v);
    assert_int_equal(len, 1);
    assert_int_equal(v[0], 24);
    v = th_raw(r, 0, 13, &len);
    assert_non_null(v);
    assert_int_equal(v[0], 16);
    th_free(t);
}

static void
test_uptime_wrap(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    /* sysUptime wrapped 5 s ago; First was 4096 ms before the wrap. */
    mb_v5_hdr(&m, 2, 5000, SECS, NSECS, 0, 0, 0, 0);
    put_simple(&m, 1, 0xfffff000u, 4000);
    /* First and Last 5 ms after the header's sysUptime (exporter clock skew). */
    put_simple(&m, 2, 5005, 5010);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].start_ms, EXPORT_MS - 9096u);
    assert_int_equal(t->recs[0].end_ms, EXPORT_MS - 1000u);
    assert_int_equal(t->recs[1].start_ms, EXPORT_MS + 5u);
    assert_int_equal(t->recs[1].end_ms, EXPORT_MS + 10u);
    th_free(t);
}

struct each_acc {
    uint32_t sampling;
    uint32_t domains;
    int calls;
};

static int
each_cb(void *arg, const struct dec_exporter_info *info)
{
    struct each_acc *a = arg;
    a->sampling = info->sampling;
    a->domains = info->domains;
    a->calls++;
    return 0;
}

static void
test_sampling(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    /* mode 01 (deterministic), interval 100 */
    mb_v5_hdr(&m, 1, 1000, SECS, 0, 0, 0, 0, 0x4000u | 100u);
    put_simple(&m, 1, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].sampling, 100);
    assert_true(t->recs[0].present & FLOW_HAS_SAMPLING);

    struct each_acc acc = {0};
    assert_int_equal(dec_exporter_each(t->ctx, each_cb, &acc), 0);
    assert_int_equal(acc.calls, 1);
    assert_int_equal(acc.sampling, 100);

    /* mode 10 with the largest 14-bit interval: the mode bits are not part of it. */
    mb_v5_hdr(&m, 1, 1000, SECS, 0, 1, 0, 0, 0x8000u | 0x3fffu);
    put_simple(&m, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].sampling, 0x3fff);

    /* interval 1 means every packet: not marked as sampled */
    mb_v5_hdr(&m, 1, 1000, SECS, 0, 2, 0, 0, 0x4000u | 1u);
    put_simple(&m, 3, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].sampling, 0);
    assert_false(t->recs[0].present & FLOW_HAS_SAMPLING);
    th_free(t);
}

static void
test_engine_domain(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_v5_hdr(&m, 1, 1000, SECS, 0, 0, 0xab, 0xcd, 0);
    put_simple(&m, 1, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].domain, 0xabcd);
    assert_int_equal(t->msg.domain, 0xabcd);

    mb_v5_hdr(&m, 1, 1000, SECS, 0, 0, 0, 7, 0);
    put_simple(&m, 1, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].domain, 7);

    struct each_acc acc = {0};
    assert_int_equal(dec_exporter_each(t->ctx, each_cb, &acc), 0);
    assert_int_equal(acc.domains, 2);
    th_free(t);
}

static void
test_count_too_big(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_v5_hdr(&m, 3, 1000, SECS, 0, 0, 0, 0, 0);
    put_simple(&m, 1, 1000, 1000);
    put_simple(&m, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].srcport, 1);
    assert_int_equal(t->recs[1].srcport, 2);

    /* count 2 but the second record is cut short: only the whole one is decoded */
    mb_v5_hdr(&m, 2, 1000, SECS, 0, 3, 0, 0, 0);
    put_simple(&m, 7, 1000, 1000);
    mb_fill(&m, 0x11, 20);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 2);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 7);
    assert_int_equal(th_stats(t)->records, 3);
    th_free(t);
}

static void
test_count_zero(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    /*
     * count 0 with two records behind it: counted. The decoder trusts the smaller of count and
     * what fits (tshark's reading), so nothing is emitted.
     */
    mb_v5_hdr(&m, 0, 1000, SECS, 0, 0, 0, 0, 0);
    put_simple(&m, 1, 1000, 1000);
    put_simple(&m, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(th_stats(t)->messages, 1);

    /* count 0 and no records: still a malformed header */
    mb_v5_hdr(&m, 0, 1000, SECS, 0, 0, 0, 0, 0);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 2);
    th_free(t);
}

static void
test_count_over_30(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_v5_hdr(&m, 31, 1000, SECS, 0, 0, 0, 0, 0);
    for (uint16_t i = 0; i < 31; i++) {
        put_simple(&m, (uint16_t) (100 + i), 1000, 1000);
    }
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);
    assert_int_equal(t->sink.n, 31);
    for (uint16_t i = 0; i < 31; i++) {
        assert_int_equal(t->recs[i].srcport, 100 + i);
    }

    /* exactly 30 is fine */
    mb_v5_hdr(&m, 30, 1000, SECS, 0, 31, 0, 0, 0);
    for (uint16_t i = 0; i < 30; i++) {
        put_simple(&m, i, 1000, 1000);
    }
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 30);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);
    th_free(t);
}

static void
test_count_smaller_than_datagram(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_v5_hdr(&m, 1, 1000, SECS, 0, 0, 0, 0, 0);
    put_simple(&m, 1, 1000, 1000);
    put_simple(&m, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_V5_COUNT], 1);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 1);
    th_free(t);
}

static void
test_short_header(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_v5_hdr(&m, 1, 1000, SECS, 0, 0, 0, 0, 0);
    for (size_t n = 1; n < 24; n++) {
        m.n = n;
        assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
        assert_int_equal(t->sink.n, 0);
    }
    assert_int_equal(th_stats(t)->err[DEC_R_SHORT], 23);
    assert_int_equal(th_stats(t)->messages, 0);

    m.n = 0;
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_SHORT], 24);

    /* version 6 is nobody's */
    mb_v5_hdr(&m, 1, 1000, SECS, 0, 0, 0, 0, 0);
    m.b[1] = 6;
    assert_int_equal(th_decode(t, &m, 0), DEC_E_VERSION);
    assert_int_equal(th_stats(t)->err[DEC_R_VERSION], 1);
    th_free(t);
}

static void
test_sequence(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    /* v5 flow_sequence counts flows */
    mb_v5_hdr(&m, 2, 100000, SECS, 0, 1000, 0, 0, 0);
    put_simple(&m, 1, 1000, 1000);
    put_simple(&m, 2, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);

    mb_v5_hdr(&m, 1, 100100, SECS, 0, 1005, 0, 0, 0);
    put_simple(&m, 3, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 3);
    assert_int_equal(th_stats(t)->seq_missed, 3);

    /* the late message with 1 of the 3 */
    mb_v5_hdr(&m, 1, 100050, SECS, 0, 1002, 0, 0, 0);
    put_simple(&m, 4, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.ooo);
    assert_int_equal(th_stats(t)->seq_ooo, 1);
    assert_int_equal(th_stats(t)->seq_missed, 2);

    mb_v5_hdr(&m, 1, 100200, SECS, 0, 1006, 0, 0, 0);
    put_simple(&m, 5, 1000, 1000);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);

    /* sysUptime went back by more than a minute: a reboot, not loss */
    mb_v5_hdr(&m, 1, 500, SECS, 0, 0, 0, 0, 0);
    put_simple(&m, 6, 400, 400);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.reset);
    assert_int_equal(t->msg.missed, 0);
    assert_int_equal(th_stats(t)->seq_reset, 1);
    assert_int_equal(th_stats(t)->seq_missed, 2);

    mb_v5_hdr(&m, 1, 600, SECS, 0, 1, 0, 0, 0);
    put_simple(&m, 7, 400, 400);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_false(t->msg.reset);
    assert_int_equal(t->msg.missed, 0);
    th_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_record),
        cmocka_unit_test(test_raw_ies),
        cmocka_unit_test(test_uptime_wrap),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_engine_domain),
        cmocka_unit_test(test_count_too_big),
        cmocka_unit_test(test_count_zero),
        cmocka_unit_test(test_count_over_30),
        cmocka_unit_test(test_count_smaller_than_datagram),
        cmocka_unit_test(test_short_header),
        cmocka_unit_test(test_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
