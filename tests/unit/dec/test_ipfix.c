/* SPDX-License-Identifier: MIT */
/*
 * IPFIX unit tests (RFC 7011): message length against the datagram, template and options
 * template sets, withdrawal, variable-length and enterprise elements, flowprobe's identity
 * elements, reduced-size encoding, every time element family, direction, firewall action,
 * ICMP type/code, address family precedence, total counters, sequence accounting and
 * malformed sets. Messages are written by hand with msgbuild.h.
 */
#include "msgbuild.h"

#define SECS      1700000000u
#define EXPORT_MS (SECS * 1000ull)
#define DOM       5u
#define PEN       DEC_PEN_DEFAULT
#define NTP_OFF   2208988800ull

static void
hdr(struct mb *m, uint32_t seq)
{
    mb_ipfix_hdr(m, SECS, seq, DOM);
}

/* Template 256: src4 dst4 sport dport proto pkts(8) bytes(8) start_ms end_ms = 45 bytes. */
static void
tmpl256(struct mb *m)
{
    mb_set(m, 2);
    mb_u16(m, 256);
    mb_u16(m, 9);
    mb_field(m, 8, 4);
    mb_field(m, 12, 4);
    mb_field(m, 7, 2);
    mb_field(m, 11, 2);
    mb_field(m, 4, 1);
    mb_field(m, 2, 8);
    mb_field(m, 1, 8);
    mb_field(m, 152, 8);
    mb_field(m, 153, 8);
    mb_set_end(m);
}

static void
rec256(struct mb *m, uint16_t sport)
{
    mb_ip4(m, 198, 51, 100, 1);
    mb_ip4(m, 203, 0, 113, 9);
    mb_u16(m, sport);
    mb_u16(m, 443);
    mb_u8(m, 6);
    mb_u64(m, 3);
    mb_u64(m, 1234567890123ull);
    mb_u64(m, EXPORT_MS - 4000u);
    mb_u64(m, EXPORT_MS - 2000u);
}

static void
data256(struct mb *m, int n, uint16_t base)
{
    mb_set(m, 256);
    for (int i = 0; i < n; i++) {
        rec256(m, (uint16_t) (base + i));
    }
    mb_set_end(m);
}

/* One-template, one-record message: template `id` with the given fields, then the record. */
struct fspec {
    uint32_t pen;
    uint16_t id;
    uint16_t len;
};

static void
tmpl(struct mb *m, uint16_t id, const struct fspec *f, int n)
{
    mb_set(m, 2);
    mb_u16(m, id);
    mb_u16(m, (uint16_t) n);
    for (int i = 0; i < n; i++) {
        if (f[i].pen != 0) {
            mb_efield(m, f[i].pen, f[i].id, f[i].len);
        } else {
            mb_field(m, f[i].id, f[i].len);
        }
    }
    mb_set_end(m);
}

static void
test_header_length(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    /* datagram shorter than the header's length */
    hdr(&m, 0);
    tmpl256(&m);
    data256(&m, 1, 1);
    mb_done(&m);
    m.n -= 1;
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_LENGTH], 1);
    assert_int_equal(th_stats(t)->messages, 0);
    assert_int_equal(th_stats(t)->templates, 0);
    assert_int_equal(t->sink.n, 0);

    /* header length below the header itself */
    hdr(&m, 0);
    mb_patch16(&m, 2, 15);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_LENGTH], 2);

    /* datagram shorter than a header */
    hdr(&m, 0);
    mb_done(&m);
    m.n = 15;
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_SHORT], 1);

    /* bytes after the message are not part of it: ignored */
    hdr(&m, 0);
    tmpl256(&m);
    data256(&m, 1, 1);
    mb_done(&m);
    size_t mlen = m.n;
    mb_fill(&m, 0xab, 7);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(th_stats(t)->messages, 1);
    assert_int_equal(th_stats(t)->octets, mlen);
    assert_int_equal(th_stats(t)->err[DEC_R_SET], 0);
    th_free(t);
}

static void
test_template_and_data(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 0);
    tmpl256(&m);
    data256(&m, 2, 7000);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    const struct flow_rec *r = &t->recs[0];
    uint8_t a[16];
    assert_int_equal(r->version, 10);
    assert_int_equal(r->domain, DOM);
    th_v4(a, 198, 51, 100, 1);
    assert_memory_equal(r->srcaddr, a, 16);
    th_v4(a, 203, 0, 113, 9);
    assert_memory_equal(r->dstaddr, a, 16);
    assert_int_equal(r->srcport, 7000);
    assert_int_equal(t->recs[1].srcport, 7001);
    assert_int_equal(r->dstport, 443);
    assert_int_equal(r->protocol, 6);
    assert_int_equal(r->packets, 3);
    assert_int_equal(r->bytes, 1234567890123ull);
    assert_int_equal(r->start_ms, EXPORT_MS - 4000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 2000u);
    assert_int_equal(r->flags, 0);
    assert_int_equal(t->msg.version, 10);
    assert_int_equal(t->msg.domain, DOM);
    assert_int_equal(t->msg.records, 2);
    assert_int_equal(t->msg.export_ms, EXPORT_MS);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        assert_int_equal(th_stats(t)->err[i], 0);
    }
    th_free(t);
}

static void
test_options_template_scope_zero(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 0);
    mb_set(&m, 3);
    mb_u16(&m, 300);
    mb_u16(&m, 2);
    mb_u16(&m, 0); /* scope field count 0: RFC 7011 §3.4.2.2 says MUST NOT */
    mb_field(&m, 149, 4);
    mb_field(&m, 34, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(th_stats(t)->templates, 0);

    /* scope count above the field count */
    hdr(&m, 0);
    mb_set(&m, 3);
    mb_u16(&m, 300);
    mb_u16(&m, 1);
    mb_u16(&m, 2);
    mb_field(&m, 149, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 2);

    /* a good one */
    hdr(&m, 0);
    mb_set(&m, 3);
    mb_u16(&m, 300);
    mb_u16(&m, 2);
    mb_u16(&m, 1);
    mb_field(&m, 149, 4);
    mb_field(&m, 34, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(th_stats(t)->templates, 1);
    th_free(t);
}

struct tcount {
    uint32_t templates;
};

static int
count_cb(void *arg, const struct dec_exporter_info *info)
{
    ((struct tcount *) arg)->templates = info->templates;
    return 0;
}

static uint32_t
templates_held(const struct th *t)
{
    struct tcount c = {0};
    assert_int_equal(dec_exporter_each(t->ctx, count_cb, &c), 0);
    return c.templates;
}

/* Templates 256, 257 (data) and options 300, 301. */
static void
four_templates(struct mb *m)
{
    static const struct fspec f257[] = {{0, 2, 4}};
    tmpl256(m);
    tmpl(m, 257, f257, 1);
    mb_set(m, 3);
    for (uint16_t id = 300; id <= 301; id++) {
        mb_u16(m, id);
        mb_u16(m, 2);
        mb_u16(m, 1);
        mb_field(m, 149, 4);
        mb_field(m, 34, 4);
    }
    mb_set_end(m);
}

static void
test_withdrawal(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 0);
    four_templates(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(templates_held(t), 4);

    /* withdraw 256 only */
    hdr(&m, 0);
    mb_set(&m, 2);
    mb_u16(&m, 256);
    mb_u16(&m, 0);
    mb_set_end(&m);
    mb_set(&m, 257);
    mb_u32(&m, 11);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(th_stats(t)->withdrawals, 1);
    assert_int_equal(templates_held(t), 3);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 11);

    /* data for a withdrawn id is dropped and counted, not parked (docs/decoder.md) */
    hdr(&m, 1);
    data256(&m, 1, 1);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(th_stats(t)->pending_queued, 0);
    assert_int_equal(th_stats(t)->err[DEC_R_NO_TEMPLATE], 1);

    /* redefined: decodes again; then withdraw all data templates (id 2 in set 2) */
    hdr(&m, 1);
    tmpl256(&m);
    data256(&m, 1, 5);
    mb_set(&m, 2);
    mb_u16(&m, 2);
    mb_u16(&m, 0);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 5);
    assert_int_equal(templates_held(t), 2); /* options templates stay */
    assert_int_equal(th_stats(t)->withdrawals, 3);
    hdr(&m, 2);
    mb_set(&m, 257);
    mb_u32(&m, 11);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(th_stats(t)->err[DEC_R_NO_TEMPLATE], 2);
    assert_int_equal(th_stats(t)->pending_queued, 0);

    /* an id never defined is still parked */
    hdr(&m, 2);
    mb_set(&m, 258);
    mb_u32(&m, 11);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(th_stats(t)->pending_queued, 1);

    /* withdraw all options templates: id 3 in set 3 */
    hdr(&m, 2);
    mb_set(&m, 3);
    mb_u16(&m, 3);
    mb_u16(&m, 0);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(templates_held(t), 0);
    assert_int_equal(th_stats(t)->withdrawals, 5);

    /* withdrawing reserved ids other than the set's own is malformed */
    hdr(&m, 2);
    mb_set(&m, 2);
    mb_u16(&m, 3);
    mb_u16(&m, 0);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 1);
    th_free(t);
}

static void
test_varlen(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    char s100[100];
    char s300[300];
    static const struct fspec f[] = {{0, 96, 65535}, {0, 2, 4}}; /* applicationName */

    memset(s100, 'q', sizeof(s100));
    memset(s300, 'z', sizeof(s300));
    hdr(&m, 0);
    tmpl(&m, 260, f, 2);
    mb_set(&m, 260);
    mb_varlen(&m, "http", 4); /* one-byte length */
    mb_u32(&m, 1);
    mb_u8(&m, 255); /* three-byte length */
    mb_u16(&m, sizeof(s100));
    mb_bytes(&m, s100, sizeof(s100));
    mb_u32(&m, 2);
    mb_varlen(&m, "", 0); /* empty */
    mb_u32(&m, 3);
    mb_varlen(&m, s300, sizeof(s300)); /* does not fit raw[] */
    mb_u32(&m, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 4);
    uint16_t len = 0;
    const uint8_t *v = th_raw(&t->recs[0], 0, 96, &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    assert_memory_equal(v, "http", 4);
    assert_int_equal(t->recs[0].packets, 1);
    v = th_raw(&t->recs[1], 0, 96, &len);
    assert_non_null(v);
    assert_int_equal(len, 100);
    assert_memory_equal(v, s100, 100);
    assert_int_equal(t->recs[1].packets, 2);
    v = th_raw(&t->recs[2], 0, 96, &len);
    assert_non_null(v);
    assert_int_equal(len, 0);
    assert_int_equal(t->recs[2].packets, 3);
    assert_true(t->recs[3].flags & FLOW_F_RAW_TRUNC);
    assert_int_equal(t->recs[3].raw_len, 0);
    assert_int_equal(t->recs[3].packets, 4);
    assert_int_equal(th_stats(t)->raw_trunc, 1);
    th_free(t);
}

static void
test_varlen_past_set(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    static const struct fspec f[] = {{0, 2, 4}, {0, 96, 65535}};

    hdr(&m, 0);
    tmpl(&m, 260, f, 2);
    mb_set(&m, 260);
    mb_u32(&m, 1);
    mb_varlen(&m, "ok", 2);
    mb_u32(&m, 2);
    mb_u8(&m, 50); /* 50 bytes claimed, 10 there */
    mb_fill(&m, 'x', 10);
    mb_set_end(&m);
    mb_set(&m, 260); /* the next set still decodes */
    mb_u32(&m, 3);
    mb_u8(&m, 255);
    mb_u16(&m, 1000); /* three-byte form past the set */
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_RECORD], 2);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 1);

    /* the three-byte length cut short after its 255 */
    hdr(&m, 0);
    mb_set(&m, 260);
    mb_u32(&m, 4);
    mb_u8(&m, 255);
    mb_u8(&m, 0);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_RECORD], 3);
    assert_int_equal(t->sink.n, 0);
    th_free(t);
}

static void
test_enterprise_raw(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    static const struct fspec f[] = {
        {9, 100, 4}, {0, 2, 4}, {29305, 40, 8}, {PEN, 99, 2}, {0, 5000, 1}};

    hdr(&m, 0);
    tmpl(&m, 261, f, 5);
    mb_set(&m, 261);
    mb_u32(&m, 0xdeadbeef);
    mb_u32(&m, 8);
    mb_u64(&m, 0x1122334455667788ull);
    mb_u16(&m, 0xcafe);
    mb_u8(&m, 0x5a);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    const struct flow_rec *r = &t->recs[0];
    assert_int_equal(r->packets, 8);
    /* a reverse IE that is not a counter, flags, tos or ICMP (PEN 29305, IE 40) stays raw */
    assert_false(r->present & FLOW_HAS_BYTES);
    uint16_t len = 0;
    const uint8_t *v = th_raw(r, 9, 100, &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    assert_memory_equal(v, ((const uint8_t[]){0xde, 0xad, 0xbe, 0xef}), 4);
    v = th_raw(r, 29305, 40, &len);
    assert_non_null(v);
    assert_int_equal(len, 8);
    assert_int_equal(v[0], 0x11);
    v = th_raw(r, PEN, 99, &len);
    assert_non_null(v);
    assert_int_equal(len, 2);
    v = th_raw(r, 0, 5000, &len);
    assert_non_null(v);
    assert_int_equal(v[0], 0x5a);
    assert_null(th_raw(r, 0, 100, &len)); /* pen is part of the key */
    assert_int_equal(r->raw_len, 4 * 8 + 4 + 8 + 2 + 1);
    th_free(t);
}

static void
test_identity_ies(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    char long_id[60];
    static const struct fspec f[] = {{PEN, DEC_IE_INSTANCE_ID, 65535},
                                     {PEN, DEC_IE_SNID, 65535},
                                     {PEN, DEC_IE_ACCOUNT_ID, 12},
                                     {PEN, DEC_IE_RTT_US, 4},
                                     {0, 2, 4}};

    memset(long_id, 'L', sizeof(long_id));
    hdr(&m, 0);
    tmpl(&m, 262, f, 5);
    mb_set(&m, 262);
    mb_varlen(&m, "i-0abc123", 9);
    mb_varlen(&m, "SN42", 4);
    mb_bytes(&m, "acct-7\0\0\0\0\0\0", 12);
    mb_u32(&m, 1500);
    mb_u32(&m, 1);
    mb_varlen(&m, long_id, sizeof(long_id)); /* longer than FLOW_ID_MAX - 1: cut */
    mb_varlen(&m, "", 0);
    mb_bytes(&m, "123456789012", 12);
    mb_u32(&m, 0);
    mb_u32(&m, 2);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    const struct flow_rec *r = &t->recs[0];
    assert_string_equal(r->instance_id, "i-0abc123");
    assert_string_equal(r->snid, "SN42");
    assert_string_equal(r->account_id, "acct-7");
    assert_int_equal(r->rtt_us, 1500);
    uint32_t want = FLOW_HAS_INSTANCE | FLOW_HAS_SNID | FLOW_HAS_ACCOUNT | FLOW_HAS_RTT;
    assert_int_equal(r->present & want, want);
    assert_int_equal(r->raw_len, 0);
    r = &t->recs[1];
    assert_int_equal(strlen(r->instance_id), FLOW_ID_MAX - 1);
    assert_int_equal(r->instance_id[0], 'L');
    assert_string_equal(r->snid, "");
    assert_string_equal(r->account_id, "123456789012");
    assert_int_equal(r->rtt_us, 0);
    th_free(t);
}

static void
test_identity_other_pen(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.identity_pen = 12345;
    struct th *t = th_new(&cfg);
    struct mb m;
    static const struct fspec f[] = {{PEN, DEC_IE_INSTANCE_ID, 4}, {12345, DEC_IE_SNID, 4}};

    hdr(&m, 0);
    tmpl(&m, 263, f, 2);
    mb_set(&m, 263);
    mb_bytes(&m, "abcd", 4);
    mb_bytes(&m, "wxyz", 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_false(t->recs[0].present & FLOW_HAS_INSTANCE);
    assert_string_equal(t->recs[0].snid, "wxyz");
    uint16_t len = 0;
    assert_non_null(th_raw(&t->recs[0], PEN, DEC_IE_INSTANCE_ID, &len));
    th_free(t);
}

static void
test_identity_from_options(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 0);
    tmpl256(&m);
    mb_set(&m, 3);
    mb_u16(&m, 310);
    mb_u16(&m, 4);
    mb_u16(&m, 1);
    mb_field(&m, 149, 4);
    mb_efield(&m, PEN, DEC_IE_INSTANCE_ID, 65535);
    mb_efield(&m, PEN, DEC_IE_SNID, 65535);
    mb_efield(&m, PEN, DEC_IE_ACCOUNT_ID, 65535);
    mb_set_end(&m);
    data256(&m, 1, 1); /* before the options record: no identity */
    mb_set(&m, 310);
    mb_u32(&m, DOM);
    mb_varlen(&m, "gw-1", 4);
    mb_varlen(&m, "SN-9", 4);
    mb_varlen(&m, "acc-3", 5);
    mb_set_end(&m);
    data256(&m, 1, 2);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(th_stats(t)->options_records, 1);
    assert_false(t->recs[0].present & FLOW_HAS_INSTANCE);
    assert_string_equal(t->recs[0].instance_id, "");
    const struct flow_rec *r = &t->recs[1];
    assert_true(r->present & FLOW_HAS_INSTANCE);
    assert_true(r->present & FLOW_HAS_SNID);
    assert_true(r->present & FLOW_HAS_ACCOUNT);
    assert_string_equal(r->instance_id, "gw-1");
    assert_string_equal(r->snid, "SN-9");
    assert_string_equal(r->account_id, "acc-3");

    /* A record's own identity wins over the domain's. */
    hdr(&m, 3);
    static const struct fspec f[] = {{PEN, DEC_IE_INSTANCE_ID, 4}, {0, 2, 4}};
    tmpl(&m, 264, f, 2);
    mb_set(&m, 264);
    mb_bytes(&m, "mine", 4);
    mb_u32(&m, 1);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_string_equal(t->recs[0].instance_id, "mine");
    assert_string_equal(t->recs[0].snid, "SN-9");

    /* another domain has no identity */
    mb_ipfix_hdr(&m, SECS, 0, DOM + 1);
    tmpl256(&m);
    data256(&m, 1, 3);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_false(t->recs[0].present & (FLOW_HAS_INSTANCE | FLOW_HAS_SNID | FLOW_HAS_ACCOUNT));
    th_free(t);
}

static void
test_reduced_size(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    static const struct fspec f[] = {{0, 2, 2}, {0, 1, 4},   {0, 10, 1}, {0, 14, 3},
                                     {0, 6, 1}, {0, 150, 4}, {0, 151, 4}};

    hdr(&m, 0);
    tmpl(&m, 265, f, 7);
    mb_set(&m, 265);
    mb_u16(&m, 0xfffe);
    mb_u32(&m, 0xfffffffeu);
    mb_u8(&m, 200);
    mb_uN(&m, 0x123456, 3);
    mb_u8(&m, 0x12);
    mb_u32(&m, SECS - 30);
    mb_u32(&m, SECS - 10);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    const struct flow_rec *r = &t->recs[0];
    assert_int_equal(r->packets, 0xfffe);
    assert_int_equal(r->bytes, 0xfffffffeu);
    assert_int_equal(r->inport, 200);
    assert_int_equal(r->outport, 0x123456);
    assert_int_equal(r->tcp_flags, 0x12);
    assert_int_equal(r->start_ms, EXPORT_MS - 30000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 10000u);
    th_free(t);
}

/* Decode one record of template `id` (fields f) whose value bytes are val[0..n). */
static const struct flow_rec *
one(struct th *t, uint16_t id, const struct fspec *f, int nf, const uint8_t *val, size_t n)
{
    struct mb m;
    hdr(&m, 0);
    tmpl(&m, id, f, nf);
    mb_set(&m, id);
    mb_bytes(&m, val, n);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    return &t->recs[0];
}

static void
test_times_absolute(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb v;
    const struct flow_rec *r;

    static const struct fspec fs[] = {{0, 150, 4}, {0, 151, 4}};
    mb_init(&v);
    mb_u32(&v, SECS - 60);
    mb_u32(&v, SECS - 1);
    r = one(t, 270, fs, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 60000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1000u);
    assert_false(r->flags & FLOW_F_TIME_GUESS);

    static const struct fspec fms[] = {{0, 152, 8}, {0, 153, 8}};
    mb_init(&v);
    mb_u64(&v, EXPORT_MS - 1234u);
    mb_u64(&v, EXPORT_MS - 5u);
    r = one(t, 271, fms, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 1234u);
    assert_int_equal(r->end_ms, EXPORT_MS - 5u);

    /* 154/155 microseconds and 156/157 nanoseconds, both NTP format (RFC 7011 §6.1.9) */
    static const struct fspec fus[] = {{0, 154, 8}, {0, 155, 8}};
    mb_init(&v);
    mb_u32(&v, SECS - 2 + NTP_OFF);
    mb_u32(&v, 0x80000000u); /* .5 s */
    mb_u32(&v, SECS + NTP_OFF);
    mb_u32(&v, 0x40000000u); /* .25 s */
    r = one(t, 272, fus, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 1500u);
    assert_int_equal(r->end_ms, EXPORT_MS + 250u);

    static const struct fspec fns[] = {{0, 156, 8}, {0, 157, 8}};
    mb_init(&v);
    mb_u32(&v, SECS - 3 + NTP_OFF);
    mb_u32(&v, 0);
    mb_u32(&v, SECS - 3 + NTP_OFF);
    mb_u32(&v, 0xffffffffu); /* just under a second: .999 */
    r = one(t, 273, fns, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 3000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 3000u + 999u);
    th_free(t);
}

static void
test_times_delta_and_duration(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb v;
    const struct flow_rec *r;

    static const struct fspec fd[] = {{0, 158, 4}, {0, 159, 4}};
    mb_init(&v);
    mb_u32(&v, 5000000); /* 5 s before export */
    mb_u32(&v, 1500);    /* 1.5 ms before export */
    r = one(t, 274, fd, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 5000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1u);

    static const struct fspec fdur[] = {{0, 152, 8}, {0, 161, 4}};
    mb_init(&v);
    mb_u64(&v, EXPORT_MS - 9000u);
    mb_u32(&v, 2500);
    r = one(t, 275, fdur, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 9000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 6500u);
    assert_false(r->flags & FLOW_F_TIME_GUESS);

    static const struct fspec fdur_end[] = {{0, 153, 8}, {0, 162, 4}};
    mb_init(&v);
    mb_u64(&v, EXPORT_MS - 1000u);
    mb_u32(&v, 3000000); /* 3 s in microseconds */
    r = one(t, 276, fdur_end, 2, v.b, v.n);
    assert_int_equal(r->start_ms, EXPORT_MS - 4000u);
    assert_int_equal(r->end_ms, EXPORT_MS - 1000u);
    th_free(t);
}

static void
test_times_uptime(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    const uint64_t init = EXPORT_MS - 86400000ull; /* booted a day before */
    static const struct fspec fup[] = {{0, 22, 4}, {0, 21, 4}, {0, 2, 4}};

    /* no systemInitTime known: the export time, flagged as a guess */
    hdr(&m, 0);
    tmpl(&m, 280, fup, 3);
    mb_set(&m, 280);
    mb_u32(&m, 1000);
    mb_u32(&m, 2000);
    mb_u32(&m, 1);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].start_ms, EXPORT_MS);
    assert_int_equal(t->recs[0].end_ms, EXPORT_MS);
    assert_true(t->recs[0].flags & FLOW_F_TIME_GUESS);

    /* systemInitTimeMilliseconds from an options record applies to later records */
    hdr(&m, 1);
    mb_set(&m, 3);
    mb_u16(&m, 311);
    mb_u16(&m, 2);
    mb_u16(&m, 1);
    mb_field(&m, 149, 4);
    mb_field(&m, 160, 8);
    mb_set_end(&m);
    mb_set(&m, 311);
    mb_u32(&m, DOM);
    mb_u64(&m, init);
    mb_set_end(&m);
    mb_set(&m, 280);
    mb_u32(&m, 1000);
    mb_u32(&m, 2000);
    mb_u32(&m, 2);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].start_ms, init + 1000u);
    assert_int_equal(t->recs[0].end_ms, init + 2000u);
    assert_false(t->recs[0].flags & FLOW_F_TIME_GUESS);

    /* 160 in the record itself wins over the domain's */
    static const struct fspec fown[] = {{0, 160, 8}, {0, 22, 4}, {0, 21, 4}};
    hdr(&m, 3);
    tmpl(&m, 281, fown, 3);
    mb_set(&m, 281);
    mb_u64(&m, init + 5000u);
    mb_u32(&m, 10);
    mb_u32(&m, 20);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].start_ms, init + 5010u);
    assert_int_equal(t->recs[0].end_ms, init + 5020u);
    th_free(t);
}

static void
test_uptime_same_record_no_options(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb v;
    const uint64_t init = EXPORT_MS - 3600000u;
    static const struct fspec f[] = {{0, 22, 4}, {0, 21, 4}, {0, 160, 8}};

    mb_init(&v);
    mb_u32(&v, 100);
    mb_u32(&v, 250);
    mb_u64(&v, init);
    const struct flow_rec *r = one(t, 282, f, 3, v.b, v.n);
    assert_int_equal(r->start_ms, init + 100u);
    assert_int_equal(r->end_ms, init + 250u);
    assert_false(r->flags & FLOW_F_TIME_GUESS);
    th_free(t);
}

static void
test_direction_and_action(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb v;
    const struct flow_rec *r;
    static const struct fspec fdir[] = {{0, 61, 1}};
    static const struct fspec ffwd[] = {{0, 89, 1}};
    static const struct fspec ffw[] = {{0, 233, 1}};

    r = one(t, 290, fdir, 1, (const uint8_t[]){0}, 1);
    assert_int_equal(r->direction, FLOW_DIR_IN);
    assert_true(r->present & FLOW_HAS_DIRECTION);
    r = one(t, 290, fdir, 1, (const uint8_t[]){1}, 1);
    assert_int_equal(r->direction, FLOW_DIR_OUT);

    r = one(t, 291, ffwd, 1, (const uint8_t[]){0x80 | 3}, 1); /* dropped, reason 3 */
    assert_int_equal(r->action, FLOW_ACT_REJECT);
    r = one(t, 291, ffwd, 1, (const uint8_t[]){0x80}, 1); /* dropped, unknown reason */
    assert_int_equal(r->action, FLOW_ACT_REJECT);
    r = one(t, 291, ffwd, 1, (const uint8_t[]){0x40}, 1); /* forwarded */
    assert_int_equal(r->action, FLOW_ACT_ACCEPT);
    r = one(t, 291, ffwd, 1, (const uint8_t[]){0xc0}, 1); /* consumed */
    assert_int_equal(r->action, FLOW_ACT_ACCEPT);
    /* the 4-byte (older unsigned32) form */
    static const struct fspec ffwd4[] = {{0, 89, 4}};
    r = one(t, 292, ffwd4, 1, (const uint8_t[]){0, 0, 0, 0x82}, 4);
    assert_int_equal(r->action, FLOW_ACT_REJECT);

    r = one(t, 293, ffw, 1, (const uint8_t[]){3}, 1); /* flow denied */
    assert_int_equal(r->action, FLOW_ACT_REJECT);
    r = one(t, 293, ffw, 1, (const uint8_t[]){1}, 1); /* flow created */
    assert_int_equal(r->action, FLOW_ACT_ACCEPT);
    r = one(t, 293, ffw, 1, (const uint8_t[]){2}, 1); /* flow deleted */
    assert_int_equal(r->action, FLOW_ACT_ACCEPT);
    (void) v;
    th_free(t);
}

static void
test_icmp(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    static const struct fspec f[] = {{0, 4, 1}, {0, 7, 2}, {0, 11, 2}, {0, 32, 2}};
    const struct flow_rec *r;

    r = one(t, 294, f, 4, (const uint8_t[]){1, 0x12, 0x34, 0x56, 0x78, 8, 0}, 7);
    assert_int_equal(r->protocol, 1);
    assert_int_equal(r->srcport, 0);
    assert_int_equal(r->dstport, 8 << 8 | 0);
    assert_true(r->present & FLOW_HAS_SRCPORT);
    assert_true(r->present & FLOW_HAS_DSTPORT);

    r = one(t, 294, f, 4, (const uint8_t[]){1, 0, 0, 0, 0, 3, 13}, 7);
    assert_int_equal(r->dstport, 3 << 8 | 13);

    /* not ICMP: the ports stand */
    r = one(t, 294, f, 4, (const uint8_t[]){6, 0x12, 0x34, 0x56, 0x78, 8, 0}, 7);
    assert_int_equal(r->srcport, 0x1234);
    assert_int_equal(r->dstport, 0x5678);

    /* protocol after the type/code field: same answer */
    static const struct fspec f2[] = {{0, 32, 2}, {0, 4, 1}};
    r = one(t, 295, f2, 2, (const uint8_t[]){11, 1, 1}, 3);
    assert_int_equal(r->srcport, 0);
    assert_int_equal(r->dstport, 11 << 8 | 1);
    th_free(t);
}

static void
test_ipv4_wins(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    uint8_t want[16];
    struct mb v;
    const struct flow_rec *r;

    static const struct fspec f6first[] = {{0, 27, 16}, {0, 8, 4}, {0, 28, 16}, {0, 12, 4}};
    mb_init(&v);
    mb_bytes(&v, v6, 16);
    mb_ip4(&v, 10, 1, 1, 1);
    mb_bytes(&v, v6, 16);
    mb_ip4(&v, 10, 2, 2, 2);
    r = one(t, 296, f6first, 4, v.b, v.n);
    th_v4(want, 10, 1, 1, 1);
    assert_memory_equal(r->srcaddr, want, 16);
    th_v4(want, 10, 2, 2, 2);
    assert_memory_equal(r->dstaddr, want, 16);

    static const struct fspec f4first[] = {{0, 8, 4}, {0, 27, 16}, {0, 12, 4}, {0, 28, 16}};
    mb_init(&v);
    mb_ip4(&v, 10, 3, 3, 3);
    mb_bytes(&v, v6, 16);
    mb_ip4(&v, 10, 4, 4, 4);
    mb_bytes(&v, v6, 16);
    r = one(t, 297, f4first, 4, v.b, v.n);
    th_v4(want, 10, 3, 3, 3);
    assert_memory_equal(r->srcaddr, want, 16);
    th_v4(want, 10, 4, 4, 4);
    assert_memory_equal(r->dstaddr, want, 16);

    /* IPv6 only */
    static const struct fspec f6[] = {{0, 27, 16}};
    r = one(t, 298, f6, 1, v6, 16);
    assert_memory_equal(r->srcaddr, v6, 16);
    assert_false(flow_addr_is_v4(r->srcaddr));
    assert_true(r->present & FLOW_HAS_SRCADDR);
    assert_false(r->present & FLOW_HAS_DSTADDR);
    th_free(t);
}

static void
test_total_counters(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    const struct flow_rec *r;
    struct mb v;

    static const struct fspec ftot[] = {{0, 85, 8}, {0, 86, 8}};
    mb_init(&v);
    mb_u64(&v, 999999);
    mb_u64(&v, 777);
    r = one(t, 299, ftot, 2, v.b, v.n);
    assert_int_equal(r->bytes, 999999);
    assert_int_equal(r->packets, 777);
    assert_true(r->present & FLOW_HAS_BYTES);
    assert_true(r->present & FLOW_HAS_PACKETS);

    /* with deltas present the totals are not used, whichever comes first */
    static const struct fspec fboth[] = {{0, 85, 8}, {0, 1, 4}, {0, 2, 4}, {0, 86, 8}};
    mb_init(&v);
    mb_u64(&v, 999999);
    mb_u32(&v, 1500);
    mb_u32(&v, 3);
    mb_u64(&v, 777);
    r = one(t, 300, fboth, 4, v.b, v.n);
    assert_int_equal(r->bytes, 1500);
    assert_int_equal(r->packets, 3);
    th_free(t);
}

/* A message of seq with n records of template 256 and k options records of template 312. */
static void
seq_msg(struct mb *m, uint32_t seq, int n, int k)
{
    hdr(m, seq);
    if (n > 0) {
        data256(m, n, 1);
    }
    if (k > 0) {
        mb_set(m, 312);
        for (int i = 0; i < k; i++) {
            mb_u32(m, DOM);
            mb_u32(m, 0);
        }
        mb_set_end(m);
    }
    mb_done(m);
}

static void
test_sequence(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    const struct dec_stats *s = th_stats(t);

    hdr(&m, 100);
    tmpl256(&m);
    mb_set(&m, 3);
    mb_u16(&m, 312);
    mb_u16(&m, 2);
    mb_u16(&m, 1);
    mb_field(&m, 149, 4);
    mb_field(&m, 34, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0); /* next expected: 100 */

    seq_msg(&m, 100, 2, 1); /* options records count: next 103 */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    seq_msg(&m, 103, 1, 0);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    assert_int_equal(s->seq_missed, 0);

    seq_msg(&m, 110, 1, 0); /* 104..109 missing */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 6);
    assert_int_equal(s->seq_missed, 6);

    seq_msg(&m, 104, 2, 1); /* late: three of them */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.ooo);
    assert_int_equal(s->seq_ooo, 1);
    assert_int_equal(s->seq_missed, 3);

    seq_msg(&m, 111, 1, 0);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 0);
    assert_false(t->msg.ooo);

    seq_msg(&m, 111 + 1 + 2000000, 1, 0); /* a jump of millions forward: loss, not restart */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_false(t->msg.reset);
    assert_int_equal(t->msg.missed, 2000000);
    assert_int_equal(s->seq_reset, 0);
    assert_int_equal(s->seq_missed, 3 + 2000000);

    seq_msg(&m, 0xfffffffeu, 3, 0); /* back by 2,000,115 (modulo 2^32): a restart, then wrap */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.reset);
    assert_int_equal(s->seq_reset, 1);
    seq_msg(&m, 1, 1, 0);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_false(t->msg.reset);
    assert_false(t->msg.ooo);
    assert_int_equal(t->msg.missed, 0);
    seq_msg(&m, 4, 1, 0); /* 2, 3 missing across nothing special */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 2);
    assert_int_equal(s->seq_missed, 3 + 2000000 + 2);

    seq_msg(&m, 50000, 1, 0);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->msg.missed, 50000 - 5);
    seq_msg(&m, 3, 1, 0); /* back to near zero, beyond reordering: restart, no loss */
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_true(t->msg.reset);
    assert_int_equal(t->msg.missed, 0);
    assert_int_equal(s->seq_reset, 2);
    assert_int_equal(s->seq_missed, 3 + 2000000 + 2 + 50000 - 5);
    th_free(t);
}

static void
test_reserved_set_ids(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 0);
    tmpl256(&m);
    mb_set(&m, 4);
    mb_set_end(&m);
    mb_set(&m, 255);
    mb_u32(&m, 0);
    mb_set_end(&m);
    mb_set(&m, 0); /* v9's template set id is reserved in IPFIX */
    mb_set_end(&m);
    data256(&m, 1, 9);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(th_stats(t)->err[DEC_R_SET_ID], 3);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 9);
    th_free(t);
}

static void
test_set_length(void **state)
{
    (void) state;
    for (uint16_t len = 0; len < 4; len++) {
        struct th *t = th_new(NULL);
        struct mb m;
        hdr(&m, 0);
        tmpl256(&m);
        mb_u16(&m, 256);
        mb_u16(&m, len);
        rec256(&m, 1);
        mb_done(&m);
        assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
        assert_int_equal(th_stats(t)->err[DEC_R_SET], 1);
        assert_int_equal(t->sink.n, 0);
        th_free(t);
    }

    /* a set running past the message (inside the datagram) */
    struct th *t = th_new(NULL);
    struct mb m;
    hdr(&m, 0);
    tmpl256(&m);
    data256(&m, 1, 1);
    data256(&m, 1, 2);
    mb_patch16(&m, m.set_at + 2, (uint16_t) (m.n - m.set_at + 1));
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_TRUNCATED);
    assert_int_equal(th_stats(t)->err[DEC_R_SET], 1);
    assert_int_equal(th_stats(t)->err[DEC_R_LENGTH], 0);
    assert_int_equal(t->sink.n, 1);

    /* 1..3 stray bytes after the last set */
    for (size_t k = 1; k <= 3; k++) {
        hdr(&m, 0);
        data256(&m, 1, 1);
        mb_fill(&m, 0, k);
        mb_done(&m);
        assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
        assert_int_equal(t->sink.n, 1);
        assert_int_equal(th_stats(t)->err[DEC_R_SET], 1 + k);
    }
    th_free(t);
}

/*
 * A template set that cannot be read (here a field count of 1000) discards the whole message:
 * its data set is neither decoded nor parked, and the good template before it is not kept.
 * Before, the data set was parked and decoded once template 256 came.
 */
static void
test_malformed_template_set_discards_message(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    const struct dec_stats *s = th_stats(t);

    hdr(&m, 0);
    data256(&m, 2, 1000); /* before its template: would be parked */
    mb_set(&m, 2);
    mb_u16(&m, 300); /* a good template ... */
    mb_u16(&m, 1);
    mb_field(&m, 2, 4);
    mb_u16(&m, 301); /* ... and one claiming 1000 fields */
    mb_u16(&m, 1000);
    mb_field(&m, 1, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(s->err[DEC_R_TEMPLATE], 1);
    assert_int_equal(s->pending_queued, 0);
    assert_int_equal(s->templates, 0);

    hdr(&m, 0); /* the template comes: nothing was parked, nothing is released */
    tmpl256(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(s->pending_decoded, 0);
    assert_int_equal(s->records, 0);

    hdr(&m, 0); /* template 300 of the discarded message is unknown */
    mb_set(&m, 300);
    mb_u32(&m, 9);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(t->sink.n, 0);
    th_free(t);
}

/* A withdrawal of a reserved id is counted, but the message is readable: it is decoded. */
static void
test_bad_withdrawal_keeps_message(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    hdr(&m, 0);
    mb_set(&m, 2);
    mb_u16(&m, 100);
    mb_u16(&m, 0);
    mb_set_end(&m);
    tmpl256(&m);
    data256(&m, 1, 1000);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_MALFORMED);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(th_stats(t)->err[DEC_R_TEMPLATE], 1);
    th_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_template_and_data),
        cmocka_unit_test(test_options_template_scope_zero),
        cmocka_unit_test(test_withdrawal),
        cmocka_unit_test(test_varlen),
        cmocka_unit_test(test_varlen_past_set),
        cmocka_unit_test(test_enterprise_raw),
        cmocka_unit_test(test_identity_ies),
        cmocka_unit_test(test_identity_other_pen),
        cmocka_unit_test(test_identity_from_options),
        cmocka_unit_test(test_reduced_size),
        cmocka_unit_test(test_times_absolute),
        cmocka_unit_test(test_times_delta_and_duration),
        cmocka_unit_test(test_times_uptime),
        cmocka_unit_test(test_uptime_same_record_no_options),
        cmocka_unit_test(test_direction_and_action),
        cmocka_unit_test(test_icmp),
        cmocka_unit_test(test_ipv4_wins),
        cmocka_unit_test(test_total_counters),
        cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_reserved_set_ids),
        cmocka_unit_test(test_set_length),
        cmocka_unit_test(test_malformed_template_set_discards_message),
        cmocka_unit_test(test_bad_withdrawal_keeps_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
