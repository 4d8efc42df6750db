/* SPDX-License-Identifier: MIT */
/*
 * NetFlow v9 unit tests (RFC 3954): templates and data in one packet or across packets,
 * parking of data that comes before its template, options templates and options data
 * (sampling interval, sampler table, interface names), padding and trailing fill, malformed
 * flowsets and templates, reduced-size and variable-length fields, and package sequence
 * accounting. Messages are written by hand with msgbuild.h.
 */
#include "msgbuild.h"

#define SECS      1700000000u
#define EXPORT_MS (SECS * 1000ull)
#define UPTIME    100000u
#define SRC_ID    77u

/* Template 256: src4 dst4 sport dport proto pkts bytes first last = 29 bytes. */
static void
tmpl256(struct mb *m)
{
    mb_set(m, 0);
    mb_u16(m, 256);
    mb_u16(m, 9);
    mb_field(m, 8, 4);
    mb_field(m, 12, 4);
    mb_field(m, 7, 2);
    mb_field(m, 11, 2);
    mb_field(m, 4, 1);
    mb_field(m, 2, 4);
    mb_field(m, 1, 4);
    mb_field(m, 22, 4);
    mb_field(m, 21, 4);
    mb_set_end(m);
}

static void
rec256(struct mb *m, uint16_t sport, uint32_t pkts)
{
    mb_ip4(m, 10, 0, 0, 1);
    mb_ip4(m, 10, 0, 0, 2);
    mb_u16(m, sport);
    mb_u16(m, 53);
    mb_u8(m, 17);
    mb_u32(m, pkts);
    mb_u32(m, pkts * 100u);
    mb_u32(m, UPTIME - 10000u);
    mb_u32(m, UPTIME - 1000u);
}

/* A data flowset for template 256 with n records, source ports base, base+1, ... */
static void
data256(struct mb *m, int n, uint16_t base)
{
    mb_set(m, 256);
    for (int i = 0; i < n; i++) {
        rec256(m, (uint16_t) (base + i), (uint32_t) (i + 1));
    }
    mb_set_end(m);
}

static void
hdr(struct mb *m, uint32_t seq)
{
    mb_v9_hdr(m, 0, UPTIME, SECS, seq, SRC_ID);
}

static void
test_template_and_data(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    tmpl256(&m);
    data256(&m, 2, 1000);
    assert_int_equal(th_decode(t, &m, 5), 0);
    assert_int_equal(t->sink.n, 2);

    const struct flow_rec *r = &t->recs[1];
    uint8_t a[16];
    assert_int_equal(r->version, 9);
    assert_int_equal(r->domain, SRC_ID);
    th_v4(a, 10, 0, 0, 1);
    assert_memory_equal(r->srcaddr, a, 16);
    th_v4(a, 10, 0, 0, 2);
    assert_memory_equal(r->dstaddr, a, 16);
    assert_int_equal(r->srcport, 1001);
    assert_int_equal(r->dstport, 53);
    assert_int_equal(r->protocol, 17);
    assert_int_equal(r->packets, 2);
    assert_int_equal(r->bytes, 200);
    assert_int_equal(r->start_ms, EXPORT_MS - 10000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1000u);
    assert_int_equal(r->present, FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT |
                                     FLOW_HAS_DSTPORT | FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS |
                                     FLOW_HAS_BYTES);
    assert_int_equal(r->flags, 0);
    assert_int_equal(r->raw_len, 0);
    assert_int_equal(t->recs[0].srcport, 1000);

    assert_int_equal(t->msg.version, 9);
    assert_int_equal(t->msg.domain, SRC_ID);
    assert_int_equal(t->msg.seq, 1);
    assert_int_equal(t->msg.records, 2);
    assert_int_equal(t->msg.export_ms, EXPORT_MS);
    const struct dec_stats *s = th_stats(t);
    assert_int_equal(s->templates, 1);
    assert_int_equal(s->records, 2);
    assert_int_equal(s->messages, 1);
    assert_int_equal(s->octets, m.n);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(s->err[i], 0);
    }
    th_free(t);
}

static void
test_several_flowsets(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    tmpl256(&m);
    data256(&m, 1, 10);
    data256(&m, 2, 20);
    data256(&m, 3, 30);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 6);
    static const uint16_t want[6] = {10, 20, 21, 30, 31, 32};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(t->recs[i].srcport, want[i]);
    }
    /* the template persists for the next packet */
    hdr(&m, 2);
    data256(&m, 1, 40);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 40);
    th_free(t);
}

static void
test_data_before_template_same_packet(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    data256(&m, 2, 100);
    tmpl256(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].srcport, 100);
    assert_int_equal(t->recs[1].srcport, 101);
    assert_int_equal(t->msg.records, 2);
    const struct dec_stats *s = th_stats(t);
    assert_int_equal(s->pending_queued, 1);
    assert_int_equal(s->pending_decoded, 1);
    assert_int_equal(s->err[DEC_R_NO_TEMPLATE], 0);
    th_free(t);
}

static void
test_data_before_template_earlier_packet(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    data256(&m, 2, 100);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(th_stats(t)->pending_queued, 1);
    assert_int_equal(th_stats(t)->pending_decoded, 0);

    /* The template comes in a later packet with another export time and sysUptime: the
     * parked records are timed by the header of the packet they came in. */
    mb_v9_hdr(&m, 0, UPTIME + 5000u, SECS + 60u, 2, SRC_ID);
    tmpl256(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->msg.records, 2);
    assert_int_equal(t->recs[0].srcport, 100);
    assert_int_equal(t->recs[1].srcport, 101);
    assert_int_equal(t->recs[0].start_ms, EXPORT_MS - 10000u);
    assert_int_equal(t->recs[0].end_ms, EXPORT_MS - 1000u);
    assert_int_equal(th_stats(t)->pending_decoded, 1);
    assert_int_equal(th_stats(t)->records, 2);
    assert_int_equal(th_stats(t)->err[DEC_R_NO_TEMPLATE], 0);
    /* only once */
    hdr(&m, 3);
    tmpl256(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 0);
    th_free(t);
}

/* Options template 257: scope system (1, 4 bytes), samplingInterval (34, 4 bytes). */
static void
opt_sampling(struct mb *m, uint32_t interval)
{
    mb_set(m, 1);
    mb_u16(m, 257);
    mb_u16(m, 4); /* scope length, bytes */
    mb_u16(m, 4); /* option length, bytes */
    mb_field(m, 1, 4);
    mb_field(m, 34, 4);
    mb_u16(m, 0); /* padding to 32 bits */
    mb_set_end(m);
    mb_set(m, 257);
    mb_u32(m, 0);
    mb_u32(m, interval);
    mb_set_end(m);
}

static void
test_options_sampling(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    tmpl256(&m);
    data256(&m, 1, 1);
    opt_sampling(&m, 512);
    data256(&m, 1, 2);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].sampling, 0);
    assert_false(t->recs[0].present & FLOW_HAS_SAMPLING);
    assert_int_equal(t->recs[1].sampling, 512);
    assert_true(t->recs[1].present & FLOW_HAS_SAMPLING);
    assert_int_equal(th_stats(t)->options_records, 1);
    assert_int_equal(th_stats(t)->templates, 2);
    assert_int_equal(th_stats(t)->records, 2);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 0);

    /* later packets too */
    hdr(&m, 2);
    data256(&m, 1, 3);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].sampling, 512);

    /* but not another source id */
    mb_v9_hdr(&m, 0, UPTIME, SECS, 1, SRC_ID + 1);
    tmpl256(&m);
    data256(&m, 1, 4);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].sampling, 0);
    th_free(t);
}

static void
test_sampler_table(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    /* options 258: scope system; samplerId (48, 1 byte), samplerRandomInterval (50, 4) */
    mb_set(&m, 1);
    mb_u16(&m, 258);
    mb_u16(&m, 4);
    mb_u16(&m, 8);
    mb_field(&m, 1, 4);
    mb_field(&m, 48, 1);
    mb_field(&m, 50, 4);
    mb_set_end(&m);
    /* data template 259: samplerId (1 byte), pkts (4) */
    mb_set(&m, 0);
    mb_u16(&m, 259);
    mb_u16(&m, 2);
    mb_field(&m, 48, 1);
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 258);
    mb_u32(&m, 0);
    mb_u8(&m, 1);
    mb_u32(&m, 100);
    mb_u32(&m, 0);
    mb_u8(&m, 2);
    mb_u32(&m, 1000);
    mb_set_end(&m);
    mb_set(&m, 259);
    mb_u8(&m, 2);
    mb_u32(&m, 5);
    mb_u8(&m, 1);
    mb_u32(&m, 6);
    mb_u8(&m, 9); /* unknown sampler, no domain-wide interval */
    mb_u32(&m, 7);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(th_stats(t)->options_records, 2);
    assert_int_equal(t->sink.n, 3);
    assert_int_equal(t->recs[0].packets, 5);
    assert_int_equal(t->recs[0].sampling, 1000);
    assert_int_equal(t->recs[1].sampling, 100);
    assert_true(t->recs[1].present & FLOW_HAS_SAMPLING);
    assert_int_equal(t->recs[2].sampling, 0);
    assert_false(t->recs[2].present & FLOW_HAS_SAMPLING);
    th_free(t);
}

static void
put_name(struct mb *m, const char *s, size_t width)
{
    size_t n = strlen(s);
    mb_bytes(m, s, n);
    mb_fill(m, 0, width - n);
}

static void
test_interface_names(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    /* options 260: scope interface (2, 4 bytes); interfaceName (82, 16 bytes) */
    mb_set(&m, 1);
    mb_u16(&m, 260);
    mb_u16(&m, 4);
    mb_u16(&m, 4);
    mb_field(&m, 2, 4);
    mb_field(&m, 82, 16);
    mb_u16(&m, 0);
    mb_set_end(&m);
    mb_set(&m, 260);
    mb_u32(&m, 3);
    put_name(&m, "Gi0/0/1", 16);
    mb_u32(&m, 7);
    put_name(&m, "eth7", 16);
    mb_u32(&m, 3); /* renamed: the later name wins */
    put_name(&m, "Gi0/0/1.100", 16);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(th_stats(t)->options_records, 3);
    assert_int_equal(t->sink.n, 0);

    const char *n3 = dec_ifname(t->ctx, &t->src, SRC_ID, 3);
    assert_non_null(n3);
    assert_string_equal(n3, "Gi0/0/1.100");
    const char *n7 = dec_ifname(t->ctx, &t->src, SRC_ID, 7);
    assert_non_null(n7);
    assert_string_equal(n7, "eth7");
    assert_null(dec_ifname(t->ctx, &t->src, SRC_ID, 9));
    assert_null(dec_ifname(t->ctx, &t->src, SRC_ID + 1, 3));
    struct dec_src other;
    th_src(&other, 99, 2055, DEC_TR_UDP);
    assert_null(dec_ifname(t->ctx, &other, SRC_ID, 3));

    /* A name filling its whole field (no NUL) is kept whole. */
    hdr(&m, 2);
    mb_set(&m, 260);
    mb_u32(&m, 8);
    put_name(&m, "abcdefghijklmnop", 16);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    const char *n8 = dec_ifname(t->ctx, &t->src, SRC_ID, 8);
    assert_non_null(n8);
    assert_string_equal(n8, "abcdefghijklmnop");
    th_free(t);
}

static void
test_padding_after_flowsets(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    tmpl256(&m);
    mb_set(&m, 256);
    rec256(&m, 1, 1);
    rec256(&m, 2, 1);
    mb_fill(&m, 0, 2); /* 58 bytes of records + 2 of padding: flowset of 64 */
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);

    /* padding shorter than a record is never a record, even when non-zero */
    hdr(&m, 2);
    mb_set(&m, 256);
    rec256(&m, 3, 1);
    mb_fill(&m, 0xff, 28);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(th_stats(t)->err[i], 0);
    }
    th_free(t);
}

static void
test_trailing_fill(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    for (size_t fill = 1; fill <= 16; fill++) {
        hdr(&m, 1);
        tmpl256(&m);
        data256(&m, 1, 1);
        mb_fill(&m, 0, fill);
        assert_int_equal(th_decode(t, &m, 0), 0);
        assert_int_equal(t->sink.n, 1);
    }
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(th_stats(t)->err[i], 0);
    }

    /* non-zero garbage that reads as a flowset running past the end */
    hdr(&m, 2);
    tmpl256(&m);
    data256(&m, 1, 1);
    mb_u32(&m, 0xdeadbeef);
    mb_u16(&m, 0x0102);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(t->sink.n, 1);
    const struct dec_stats *s = th_stats(t);
    assert_int_equal(s->err[DEC_R_SET] + s->err[DEC_R_LENGTH], 1);

    /* non-zero garbage shorter than a flowset header is counted too */
    uint64_t before = s->err[DEC_R_SET] + s->err[DEC_R_LENGTH];
    hdr(&m, 3);
    data256(&m, 1, 1);
    mb_u8(&m, 0);
    mb_u8(&m, 7);
    assert_int_not_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(s->err[DEC_R_SET] + s->err[DEC_R_LENGTH], before + 1);
    th_free(t);
}

static void
test_flowset_length_below_4(void **state)
{
    (void) state;
    for (uint16_t len = 0; len < 4; len++) {
        struct th *t = th_new(NULL);
        struct mb m;
        hdr(&m, 1);
        tmpl256(&m);
        mb_u16(&m, 256);
        mb_u16(&m, len);
        rec256(&m, 1, 1);
        assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
        assert_int_equal(th_stats(t)->err[DEC_R_SET], 1);
        assert_int_equal(th_stats(t)->templates, 1);
        assert_int_equal(t->sink.n, 0);
        th_free(t);
    }
}

static void
test_flowset_past_end(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    tmpl256(&m);
    data256(&m, 1, 1);
    data256(&m, 2, 2);
    m.n -= 1; /* the last flowset's length now points one byte past the datagram */
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(t->sink.n, 1);
    /* dec.h: DEC_R_SET is "set/flowset header malformed (length < 4, past the end)" */
    assert_int_equal(th_stats(t)->err[DEC_R_SET], 1);
    assert_int_equal(th_stats(t)->err[DEC_R_LENGTH], 0);
    th_free(t);
}

static void
test_template_field_count_zero(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    mb_set(&m, 0);
    mb_u16(&m, 300);
    mb_u16(&m, 0); /* empty template, then a good one in the same flowset */
    mb_u16(&m, 256);
    mb_u16(&m, 1);
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 256);
    mb_u32(&m, 77);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(th_stats(t)->templates, 1);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 77);
    th_free(t);
}

static void
test_options_scope_not_multiple_of_4(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    mb_set(&m, 1);
    mb_u16(&m, 257);
    mb_u16(&m, 6); /* scope length 6 */
    mb_u16(&m, 4);
    mb_field(&m, 1, 4);
    mb_u16(&m, 2);
    mb_field(&m, 34, 4);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(th_stats(t)->templates, 0);

    /* option length not a multiple of 4 either */
    hdr(&m, 2);
    mb_set(&m, 1);
    mb_u16(&m, 257);
    mb_u16(&m, 4);
    mb_u16(&m, 5);
    mb_field(&m, 1, 4);
    mb_field(&m, 34, 4);
    mb_u8(&m, 0);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 2);
    assert_int_equal(th_stats(t)->templates, 0);

    /* options template that claims more fields than the flowset holds */
    hdr(&m, 3);
    mb_set(&m, 1);
    mb_u16(&m, 257);
    mb_u16(&m, 4);
    mb_u16(&m, 40);
    mb_field(&m, 1, 4);
    mb_field(&m, 34, 4);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 3);
    assert_int_equal(th_stats(t)->templates, 0);
    th_free(t);
}

static void
test_template_only_zero_length_fields(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    mb_set(&m, 0);
    mb_u16(&m, 270);
    mb_u16(&m, 2);
    mb_field(&m, 8, 0);
    mb_field(&m, 12, 0);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(th_stats(t)->templates, 0);

    /* its data cannot decode (it would loop forever): it is parked instead */
    hdr(&m, 2);
    mb_set(&m, 270);
    mb_u32(&m, 0);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(t->sink.n, 0);

    /* a zero-length field next to a real one is skipped */
    hdr(&m, 3);
    mb_set(&m, 0);
    mb_u16(&m, 271);
    mb_u16(&m, 2);
    mb_field(&m, 8, 0);
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 271);
    mb_u32(&m, 9);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 9);
    assert_false(t->recs[0].present & FLOW_HAS_SRCADDR);
    th_free(t);
}

static void
test_reserved_flowset_ids(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    tmpl256(&m);
    mb_set(&m, 2);
    mb_u32(&m, 0x01020304);
    mb_set_end(&m);
    mb_set(&m, 255);
    mb_set_end(&m);
    data256(&m, 1, 5);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_SET_ID], 2);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 5);
    th_free(t);
}

static void
test_field_lengths(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    mb_set(&m, 0);
    /* 280: pkts 1 byte, bytes 3 bytes, sport 1 byte, in 2 bytes */
    mb_u16(&m, 280);
    mb_u16(&m, 4);
    mb_field(&m, 2, 1);
    mb_field(&m, 1, 3);
    mb_field(&m, 7, 1);
    mb_field(&m, 10, 2);
    /* 281: pkts 8 bytes, bytes 2 bytes, in 4 bytes, src addr 3 bytes (not an address) */
    mb_u16(&m, 281);
    mb_u16(&m, 4);
    mb_field(&m, 2, 8);
    mb_field(&m, 1, 2);
    mb_field(&m, 10, 4);
    mb_field(&m, 8, 3);
    mb_set_end(&m);
    mb_set(&m, 280);
    mb_u8(&m, 0xab);
    mb_uN(&m, 0x010203, 3);
    mb_u8(&m, 22);
    mb_u16(&m, 0xfffe);
    mb_fill(&m, 0, 1);
    mb_set_end(&m);
    mb_set(&m, 281);
    mb_u64(&m, 0x0102030405060708ull);
    mb_u16(&m, 0xffff);
    mb_u32(&m, 0x80000001u);
    mb_ip4(&m, 10, 20, 30, 0);
    m.n -= 1;
    mb_fill(&m, 0, 3);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].packets, 0xab);
    assert_int_equal(t->recs[0].bytes, 0x010203);
    assert_int_equal(t->recs[0].srcport, 22);
    assert_int_equal(t->recs[0].inport, 0xfffe);
    assert_int_equal(t->recs[1].packets, 0x0102030405060708ull);
    assert_int_equal(t->recs[1].bytes, 0xffff);
    assert_int_equal(t->recs[1].inport, 0x80000001u);
    assert_false(t->recs[1].present & FLOW_HAS_SRCADDR);
    uint16_t len = 0;
    const uint8_t *v = th_raw(&t->recs[1], 0, 8, &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_memory_equal(v, ((const uint8_t[]){10, 20, 30}), 3);
    th_free(t);
}

static void
test_varlen_in_v9(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    char big[300];

    memset(big, 'x', sizeof(big));
    hdr(&m, 1);
    mb_set(&m, 0);
    mb_u16(&m, 290);
    mb_u16(&m, 2);
    mb_field(&m, 95, 65535); /* applicationId: unknown to us, kept raw */
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 290);
    mb_varlen(&m, "abc", 3);
    mb_u32(&m, 5);
    mb_u8(&m, 255); /* three-byte length form for a short value */
    mb_u16(&m, 4);
    mb_bytes(&m, "wxyz", 4);
    mb_u32(&m, 6);
    mb_varlen(&m, big, sizeof(big)); /* too big for raw[]: dropped, flagged */
    mb_u32(&m, 7);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 3);
    uint16_t len = 0;
    const uint8_t *v = th_raw(&t->recs[0], 0, 95, &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "abc", 3);
    assert_int_equal(t->recs[0].packets, 5);
    v = th_raw(&t->recs[1], 0, 95, &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    assert_memory_equal(v, "wxyz", 4);
    assert_int_equal(t->recs[1].packets, 6);
    assert_null(th_raw(&t->recs[2], 0, 95, &len));
    assert_true(t->recs[2].flags & FLOW_F_RAW_TRUNC);
    assert_int_equal(t->recs[2].packets, 7);
    assert_int_equal(th_stats(t)->raw_trunc, 1);
    th_free(t);
}

static void
test_package_sequence(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    const struct dec_stats *s = th_stats(t);

    mb_v9_hdr(&m, 0, 100000, SECS, 10, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    mb_v9_hdr(&m, 0, 100100, SECS, 11, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    mb_v9_hdr(&m, 0, 100200, SECS, 14, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 2);
    assert_int_equal(s->seq_missed, 2);
    /* packet 12 arrives late: one packet less missed */
    mb_v9_hdr(&m, 0, 100150, SECS, 12, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.ooo);
    assert_int_equal(s->seq_ooo, 1);
    assert_int_equal(s->seq_missed, 1);
    mb_v9_hdr(&m, 0, 100300, SECS, 15, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    assert_false(t->msg.ooo);
    /* sysUptime went back: restart */
    mb_v9_hdr(&m, 0, 1000, SECS, 100, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.reset);
    assert_int_equal(t->msg.missed, 0);
    assert_int_equal(s->seq_reset, 1);
    mb_v9_hdr(&m, 0, 1100, SECS, 101, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_false(t->msg.reset);
    assert_int_equal(t->msg.missed, 0);
    /* a jump of millions forward, sysUpTime going on: packets lost, not a restart */
    mb_v9_hdr(&m, 0, 1200, SECS, 5000000, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_false(t->msg.reset);
    assert_int_equal(t->msg.missed, 5000000 - 102);
    assert_int_equal(s->seq_reset, 1);
    assert_int_equal(s->seq_missed, 1 + 5000000 - 102);
    /* back by millions (modulo 2^32): a restart; then the wrap at 2^32 */
    mb_v9_hdr(&m, 0, 1300, SECS, 0xffffffffu, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.reset);
    assert_int_equal(s->seq_reset, 2);
    mb_v9_hdr(&m, 0, 1400, SECS, 0, SRC_ID);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    assert_false(t->msg.reset);
    assert_false(t->msg.ooo);
    assert_int_equal(s->seq_missed, 1 + 5000000 - 102);
    /* each source id has its own sequence */
    mb_v9_hdr(&m, 0, 1500, SECS, 900, SRC_ID + 1);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    assert_false(t->msg.reset);
    th_free(t);
}

static void
test_short_header(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 1);
    m.n = 19;
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_SHORT], 1);
    assert_int_equal(th_stats(t)->messages, 0);
    th_free(t);
}

/* As in IPFIX: an unreadable template flowset discards the whole message (1000 fields). */
static void
test_malformed_template_set_discards_message(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    const struct dec_stats *s = th_stats(t);

    hdr(&m, 0); /* an empty packet: the sequence is known */
    assert_int_equal(th_decode(t, &m, 0), 0);
    hdr(&m, 1);
    data256(&m, 2, 1000);
    mb_set(&m, 0);
    mb_u16(&m, 301);
    mb_u16(&m, 1000);
    mb_field(&m, 1, 4);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(s->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(s->pending_queued, 0);

    hdr(&m, 2);
    tmpl256(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(s->records, 0);
    assert_int_equal(t->msg.missed, 1); /* the discarded packet */
    th_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_and_data),
        cmocka_unit_test(test_several_flowsets),
        cmocka_unit_test(test_data_before_template_same_packet),
        cmocka_unit_test(test_data_before_template_earlier_packet),
        cmocka_unit_test(test_options_sampling),
        cmocka_unit_test(test_sampler_table),
        cmocka_unit_test(test_interface_names),
        cmocka_unit_test(test_padding_after_flowsets),
        cmocka_unit_test(test_trailing_fill),
        cmocka_unit_test(test_flowset_length_below_4),
        cmocka_unit_test(test_flowset_past_end),
        cmocka_unit_test(test_template_field_count_zero),
        cmocka_unit_test(test_options_scope_not_multiple_of_4),
        cmocka_unit_test(test_template_only_zero_length_fields),
        cmocka_unit_test(test_reserved_flowset_ids),
        cmocka_unit_test(test_field_lengths),
        cmocka_unit_test(test_varlen_in_v9),
        cmocka_unit_test(test_package_sequence),
        cmocka_unit_test(test_malformed_template_set_discards_message),
        cmocka_unit_test(test_short_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
