/* SPDX-License-Identifier: MIT */
/*
 * RFC 5103 biflow records: an IPFIX record that carries both directions of a connection, the
 * answer's counters in reverse IEs (PEN 29305: reverseOctetDeltaCount 1,
 * reversePacketDeltaCount 2, reverseIpClassOfService 5, reverseTcpControlBits 6,
 * reverseIcmpTypeCodeIPv4 32; YAF sends total counts instead: octetTotalCount 85,
 * packetTotalCount 86 and their reverse IEs). softflowd -b, YAF and ipfixprobe export them. A
 * flow_rec is one direction, so the decoder turns a biflow record with reverse traffic into two
 * records; the second has the key swapped (addresses, ports, interfaces, direction) and the reverse
 * values. Messages are written by hand with msgbuild.h.
 */
#include "msgbuild.h"

#define PEN_REV  29305u
#define EXPORT_S 1700000000u
#define T0_MS    (EXPORT_S * 1000ull - 5000u)

static void
tcp_template(struct mb *m)
{
    mb_set(m, 2);
    mb_u16(m, 256);
    mb_u16(m, 16);
    mb_field(m, 8, 4);
    mb_field(m, 12, 4);
    mb_field(m, 7, 2);
    mb_field(m, 11, 2);
    mb_field(m, 4, 1);
    mb_field(m, 2, 4);
    mb_field(m, 1, 4);
    mb_field(m, 6, 1);
    mb_field(m, 152, 8);
    mb_field(m, 153, 8);
    mb_field(m, 10, 4);
    mb_field(m, 14, 4);
    mb_field(m, 61, 1);
    mb_efield(m, PEN_REV, 2, 4);
    mb_efield(m, PEN_REV, 1, 4);
    mb_efield(m, PEN_REV, 6, 1);
    mb_set_end(m);
}

static void
tcp_record(struct mb *m, uint8_t proto, uint32_t pkts, uint32_t bytes, uint32_t rpkts,
           uint32_t rbytes)
{
    mb_ip4(m, 10, 0, 0, 1);
    mb_ip4(m, 10, 0, 0, 2);
    mb_u16(m, 1234);
    mb_u16(m, 80);
    mb_u8(m, proto);
    mb_u32(m, pkts);
    mb_u32(m, bytes);
    mb_u8(m, 0x1b);
    mb_u64(m, T0_MS);
    mb_u64(m, T0_MS + 900);
    mb_u32(m, 1);
    mb_u32(m, 2);
    mb_u8(m, 0); /* ingress */
    mb_u32(m, rpkts);
    mb_u32(m, rbytes);
    mb_u8(m, 0x12);
}

static void
test_biflow_split(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    uint8_t a[16];

    mb_ipfix_hdr(&m, EXPORT_S, 0, 7);
    tcp_template(&m);
    mb_set(&m, 256);
    tcp_record(&m, 6, 5, 400, 4, 3000); /* answered: two records */
    tcp_record(&m, 17, 3, 120, 0, 0);   /* no answer: one record */
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, EXPORT_S * 1000ull), 0);
    assert_int_equal(t->sink.n, 3);

    const struct flow_rec *f = &t->recs[0], *r = &t->recs[1], *u = &t->recs[2];
    th_v4(a, 10, 0, 0, 1);
    assert_memory_equal(f->srcaddr, a, 16);
    assert_memory_equal(r->dstaddr, a, 16);
    th_v4(a, 10, 0, 0, 2);
    assert_memory_equal(f->dstaddr, a, 16);
    assert_memory_equal(r->srcaddr, a, 16);
    assert_int_equal(f->packets, 5);
    assert_int_equal(f->bytes, 400);
    assert_int_equal(f->tcp_flags, 0x1b);
    assert_int_equal(f->srcport, 1234);
    assert_int_equal(f->dstport, 80);
    assert_int_equal(f->inport, 1);
    assert_int_equal(f->outport, 2);
    assert_int_equal(f->direction, FLOW_DIR_IN);

    assert_int_equal(r->version, 10);
    assert_int_equal(r->domain, 7);
    assert_int_equal(r->protocol, 6);
    assert_int_equal(r->srcport, 80);
    assert_int_equal(r->dstport, 1234);
    assert_int_equal(r->packets, 4);
    assert_int_equal(r->bytes, 3000);
    assert_int_equal(r->tcp_flags, 0x12);
    assert_int_equal(r->inport, 2);
    assert_int_equal(r->outport, 1);
    assert_int_equal(r->direction, FLOW_DIR_OUT);
    assert_int_equal(r->start_ms, T0_MS);
    assert_int_equal(r->end_ms, T0_MS + 900);
    assert_int_equal(r->present, f->present);
    /* The reverse IEs are decoded, not kept raw. */
    assert_int_equal(f->raw_len, 0);
    assert_int_equal(r->raw_len, 0);

    assert_int_equal(u->protocol, 17);
    assert_int_equal(u->packets, 3);

    assert_int_equal(t->msg.records, 3);
    assert_int_equal(th_stats(t)->records, 3);
    th_free(t);
}

/* IPFIX sequence numbers count data records: a biflow record is one, whatever it yields. */
static void
test_biflow_sequence(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_ipfix_hdr(&m, EXPORT_S, 0, 7);
    tcp_template(&m);
    mb_set(&m, 256);
    tcp_record(&m, 6, 5, 400, 4, 3000);
    tcp_record(&m, 6, 5, 400, 4, 3000);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, EXPORT_S * 1000ull), 0);
    assert_int_equal(t->sink.n, 4);

    mb_ipfix_hdr(&m, EXPORT_S, 2, 7);
    mb_set(&m, 256);
    tcp_record(&m, 6, 1, 40, 1, 40);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, EXPORT_S * 1000ull), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->msg.missed, 0);
    assert_int_equal(th_stats(t)->seq_missed, 0);
    th_free(t);
}

/* ICMP: the reverse record takes the reverse type/code; tos is common (no reverse IE). */
static void
test_biflow_icmp(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_ipfix_hdr(&m, EXPORT_S, 0, 0);
    mb_set(&m, 2);
    mb_u16(&m, 300);
    mb_u16(&m, 9);
    mb_field(&m, 8, 4);
    mb_field(&m, 12, 4);
    mb_field(&m, 4, 1);
    mb_field(&m, 5, 1);
    mb_field(&m, 32, 2);
    mb_field(&m, 2, 4);
    mb_field(&m, 1, 4);
    mb_efield(&m, PEN_REV, 32, 2);
    mb_efield(&m, PEN_REV, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 300);
    mb_ip4(&m, 192, 0, 2, 1);
    mb_ip4(&m, 192, 0, 2, 9);
    mb_u8(&m, 1);
    mb_u8(&m, 0x20);
    mb_u16(&m, 0x0800); /* echo request */
    mb_u32(&m, 3);
    mb_u32(&m, 252);
    mb_u16(&m, 0x0000); /* echo reply */
    mb_u32(&m, 2);      /* reverse packets, no reverse bytes */
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, EXPORT_S * 1000ull), 0);
    assert_int_equal(t->sink.n, 2);

    const struct flow_rec *f = &t->recs[0], *r = &t->recs[1];
    assert_int_equal(f->dstport, 0x0800);
    assert_int_equal(f->srcport, 0);
    assert_int_equal(r->dstport, 0x0000);
    assert_int_equal(r->srcport, 0);
    assert_int_equal(r->protocol, 1);
    assert_int_equal(r->tos, 0x20);
    assert_int_equal(r->packets, 2);
    assert_false(r->present & FLOW_HAS_BYTES); /* not carried: unknown, not 0 */
    assert_int_equal(r->bytes, 0);
    uint8_t a[16];
    th_v4(a, 192, 0, 2, 9);
    assert_memory_equal(r->srcaddr, a, 16);
    th_free(t);
}

/* YAF's layout: total counters (85/86) both ways, reverse tos, no delta counters. */
static void
test_biflow_totals_yaf(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_ipfix_hdr(&m, EXPORT_S, 0, 0);
    mb_set(&m, 2);
    mb_u16(&m, 45841);
    mb_u16(&m, 12);
    mb_field(&m, 152, 8);
    mb_field(&m, 153, 8);
    mb_field(&m, 8, 4);
    mb_field(&m, 12, 4);
    mb_field(&m, 7, 2);
    mb_field(&m, 11, 2);
    mb_field(&m, 4, 1);
    mb_field(&m, 5, 1);
    mb_field(&m, 85, 8);
    mb_efield(&m, PEN_REV, 85, 8);
    mb_field(&m, 86, 8);
    mb_efield(&m, PEN_REV, 86, 8);
    mb_set_end(&m);
    mb_set(&m, 45841);
    mb_u64(&m, T0_MS);
    mb_u64(&m, T0_MS + 1);
    mb_ip4(&m, 172, 16, 32, 201);
    mb_ip4(&m, 172, 16, 32, 100);
    mb_u16(&m, 46086);
    mb_u16(&m, 53);
    mb_u8(&m, 17);
    mb_u8(&m, 0);
    mb_u64(&m, 132);
    mb_u64(&m, 200);
    mb_u64(&m, 2);
    mb_u64(&m, 2);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, EXPORT_S * 1000ull), 0);
    assert_int_equal(t->sink.n, 2);
    const struct flow_rec *f = &t->recs[0], *r = &t->recs[1];
    assert_int_equal(f->bytes, 132);
    assert_int_equal(f->packets, 2);
    assert_int_equal(f->srcport, 46086);
    assert_int_equal(r->bytes, 200);
    assert_int_equal(r->packets, 2);
    assert_true(r->present & FLOW_HAS_BYTES);
    assert_true(r->present & FLOW_HAS_PACKETS);
    assert_int_equal(r->srcport, 53);
    assert_int_equal(r->dstport, 46086);
    assert_memory_equal(r->srcaddr, f->dstaddr, 16);
    assert_memory_equal(r->dstaddr, f->srcaddr, 16);
    uint16_t len;
    assert_null(th_raw(r, PEN_REV, 85, &len)); /* decoded, so not kept raw */
    assert_int_equal(th_stats(t)->records, 2);
    th_free(t);
}

/* Reverse deltas win over reverse totals, as forward deltas do over forward totals. */
static void
test_biflow_delta_over_total(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    mb_ipfix_hdr(&m, EXPORT_S, 0, 0);
    mb_set(&m, 2);
    mb_u16(&m, 300);
    mb_u16(&m, 4);
    mb_field(&m, 8, 4);
    mb_field(&m, 12, 4);
    mb_efield(&m, PEN_REV, 86, 4);
    mb_efield(&m, PEN_REV, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 300);
    mb_ip4(&m, 10, 0, 0, 1);
    mb_ip4(&m, 10, 0, 0, 2);
    mb_u32(&m, 1000);
    mb_u32(&m, 7);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, EXPORT_S * 1000ull), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[1].packets, 7);
    assert_false(t->recs[1].present & FLOW_HAS_BYTES);
    th_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_biflow_split),
        cmocka_unit_test(test_biflow_sequence),
        cmocka_unit_test(test_biflow_icmp),
        cmocka_unit_test(test_biflow_totals_yaf),
        cmocka_unit_test(test_biflow_delta_over_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
