/* SPDX-License-Identifier: MIT */
/*
 * Decoder context unit tests: template scoping by exporter and domain, lifetime expiry per
 * transport, the template cap, a full exporter table taking a newcomer in place of the least
 * recently heard exporter, dec_exporter_forget / dec_exporter_each, the parked queue's
 * bounds, the output sink with and without a flush callback, dec_msg_len for stream framing,
 * template snapshots (and damaged ones), and the allocator hook failing every allocation in
 * turn. Messages are written by hand with msgbuild.h.
 */
#include <errno.h>
#include <stdbool.h>

#include "msgbuild.h"

#define SECS 1700000000u
#define DOM  5u

/* IPFIX message for domain dom: template 256 with one field (id, 4 bytes), then a data set
 * with value v, each part optional. */
static void
ipfix_one(struct mb *m, uint32_t dom, bool with_tmpl, uint16_t field, bool with_data,
          uint32_t v)
{
    mb_ipfix_hdr(m, SECS, 0, dom);
    if (with_tmpl) {
        mb_set(m, 2);
        mb_u16(m, 256);
        mb_u16(m, 1);
        mb_field(m, field, 4);
        mb_set_end(m);
    }
    if (with_data) {
        mb_set(m, 256);
        mb_u32(m, v);
        mb_set_end(m);
    }
    mb_done(m);
}

static void
v5_msg(struct mb *m, int n, uint32_t seq)
{
    mb_v5_hdr(m, (uint16_t) n, 10000, SECS, 0, seq, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        mb_ip4(m, 10, 0, 0, 1);
        mb_ip4(m, 10, 0, 0, 2);
        mb_fill(m, 0, 4 + 2 + 2);
        mb_u32(m, 1);
        mb_u32(m, 40);
        mb_u32(m, 9000);
        mb_u32(m, 9500);
        mb_u16(m, (uint16_t) (i + 1)); /* srcport numbers the records */
        mb_u16(m, 80);
        mb_fill(m, 0, 1);
        mb_u8(m, 0);
        mb_u8(m, 6);
        mb_fill(m, 0, 1 + 2 + 2 + 1 + 1 + 2);
    }
}

static int
decode_from(struct th *t, const struct dec_src *src, const struct mb *m, uint64_t now)
{
    t->sink.n = 0;
    return dec_decode(t->ctx, src, m->b, m->n, now, &t->sink, &t->msg);
}

static void
test_scope_exporter_and_domain(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct dec_src a, b, a2;
    struct mb m;

    th_src(&a, 1, 2055, DEC_TR_UDP);
    th_src(&b, 1, 2056, DEC_TR_UDP); /* same address, other port: another exporter */
    th_src(&a2, 2, 2055, DEC_TR_UDP);
    ipfix_one(&m, DOM, true, 2, false, 0); /* A: 256 = packets */
    assert_int_equal(decode_from(t, &a, &m, 0), 0);
    ipfix_one(&m, DOM, true, 1, false, 0); /* B: 256 = octets */
    assert_int_equal(decode_from(t, &b, &m, 0), 0);
    ipfix_one(&m, DOM + 1, true, 7, false, 0); /* A, other domain: 256 = source port */
    assert_int_equal(decode_from(t, &a, &m, 0), 0);

    ipfix_one(&m, DOM, false, 0, true, 100);
    assert_int_equal(decode_from(t, &a, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_true(t->recs[0].present & FLOW_HAS_PACKETS);
    assert_false(t->recs[0].present & FLOW_HAS_BYTES);
    assert_int_equal(t->recs[0].packets, 100);
    assert_int_equal(t->recs[0].exporter_port, 2055);

    assert_int_equal(decode_from(t, &b, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_false(t->recs[0].present & FLOW_HAS_PACKETS);
    assert_int_equal(t->recs[0].bytes, 100);
    assert_int_equal(t->recs[0].exporter_port, 2056);

    ipfix_one(&m, DOM + 1, false, 0, true, 0x1234);
    assert_int_equal(decode_from(t, &a, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].srcport, 0x1234);
    assert_int_equal(t->recs[0].domain, DOM + 1);

    /* another address knows nothing */
    ipfix_one(&m, DOM, false, 0, true, 100);
    assert_int_equal(decode_from(t, &a2, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(t->sink.n, 0);
    th_free(t);
}

static void
test_lifetime(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.tmpl_lifetime_ms = 1000;
    cfg.pending_age_ms = 1000000;
    struct th *t = th_new(&cfg);
    struct dec_src udp, tcp, file;
    struct mb m;

    th_src(&udp, 1, 1, DEC_TR_UDP);
    th_src(&tcp, 2, 1, DEC_TR_TCP);
    th_src(&file, 3, 1, DEC_TR_FILE);
    ipfix_one(&m, DOM, true, 2, false, 0);
    assert_int_equal(decode_from(t, &udp, &m, 1000), 0);
    assert_int_equal(decode_from(t, &tcp, &m, 1000), 0);
    assert_int_equal(decode_from(t, &file, &m, 1000), 0);

    dec_expire(t->ctx, 2000); /* exactly the lifetime: still alive */
    assert_int_equal(th_stats(t)->tmpl_expired, 0);
    assert_int_equal(decode_from(t, &udp, &m, 1800), 0); /* refresh */
    dec_expire(t->ctx, 2800);
    assert_int_equal(th_stats(t)->tmpl_expired, 0);
    dec_expire(t->ctx, 2801);
    assert_int_equal(th_stats(t)->tmpl_expired, 1);

    ipfix_one(&m, DOM, false, 0, true, 9);
    assert_int_equal(decode_from(t, &udp, &m, 3000), DEC_E_NOTEMPLATE);
    assert_int_equal(t->sink.n, 0);

    dec_expire(t->ctx, 1000000000ull);
    assert_int_equal(th_stats(t)->tmpl_expired, 1);
    assert_int_equal(decode_from(t, &tcp, &m, 1000000000ull), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(decode_from(t, &file, &m, 1000000000ull), 0);
    assert_int_equal(t->sink.n, 1);
    th_free(t);

    /* lifetime 0: forever, even on UDP */
    dec_cfg_default(&cfg);
    cfg.tmpl_lifetime_ms = 0;
    t = th_new(&cfg);
    ipfix_one(&m, DOM, true, 2, false, 0);
    assert_int_equal(th_decode(t, &m, 0), 0);
    dec_expire(t->ctx, 1ull << 40);
    assert_int_equal(th_stats(t)->tmpl_expired, 0);
    th_free(t);
}

struct info_acc {
    int calls;
    int stop_at;
    struct dec_exporter_info last[4];
};

static int
info_cb(void *arg, const struct dec_exporter_info *info)
{
    struct info_acc *a = arg;
    if (a->calls < 4) {
        a->last[a->calls] = *info;
    }
    a->calls++;
    return a->calls == a->stop_at ? 7 : 0;
}

static const struct dec_exporter_info *
info_of(const struct info_acc *a, uint16_t port)
{
    for (int i = 0; i < a->calls && i < 4; i++) {
        if (a->last[i].src.port == port) {
            return &a->last[i];
        }
    }
    return NULL;
}

static void
test_tmpl_limit(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.tmpl_max = 2;
    struct th *t = th_new(&cfg);
    struct mb m;

    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, 2);
    for (uint16_t id = 256; id <= 258; id++) {
        mb_u16(&m, id);
        mb_u16(&m, 1);
        mb_field(&m, 2, 4);
    }
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_LIMIT);
    assert_int_equal(th_stats(t)->err[DEC_R_TMPL_LIMIT], 1);
    assert_int_equal(th_stats(t)->templates, 2);

    /* refresh and redefinition of held ids are fine at the cap */
    ipfix_one(&m, DOM, true, 2, true, 4);
    assert_int_equal(th_decode(t, &m, 0), 0);
    ipfix_one(&m, DOM, true, 1, true, 4);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->recs[0].bytes, 4);
    /* the cap is per exporter, across domains */
    ipfix_one(&m, DOM + 1, true, 2, false, 0);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_LIMIT);
    assert_int_equal(th_stats(t)->err[DEC_R_TMPL_LIMIT], 2);

    struct info_acc acc = {0};
    assert_int_equal(dec_exporter_each(t->ctx, info_cb, &acc), 0);
    assert_int_equal(acc.calls, 1);
    assert_int_equal(acc.last[0].templates, 2);
    assert_int_equal(acc.last[0].stats.err[DEC_R_TMPL_LIMIT], 2);
    th_free(t);
}

static void
test_exporter_limit_and_forget(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.exporters_max = 2;
    struct th *t = th_new(&cfg);
    struct dec_src a, b, c;
    struct mb m;

    th_src(&a, 1, 1, DEC_TR_TCP);
    th_src(&b, 2, 1, DEC_TR_UDP);
    th_src(&c, 3, 1, DEC_TR_UDP);
    ipfix_one(&m, DOM, true, 2, true, 1);
    assert_int_equal(decode_from(t, &a, &m, 0), 0);
    assert_int_equal(decode_from(t, &b, &m, 0), 0);
    assert_int_equal(decode_from(t, &a, &m, 1), 0); /* a was heard last: b goes first */
    /* a full table takes the newcomer in place of the least recently heard exporter */
    assert_int_equal(decode_from(t, &c, &m, 2), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(th_stats(t)->err[DEC_R_EXPORTER_LIMIT], 0);
    assert_int_equal(th_stats(t)->exporters_evicted, 1);
    assert_int_equal(th_stats(t)->messages, 4);
    ipfix_one(&m, DOM, false, 0, true, 1);
    assert_int_equal(decode_from(t, &a, &m, 3), 0); /* a kept its template */
    assert_int_equal(t->sink.n, 1);

    /* a closed TCP session: its exporter and templates are gone, room for another */
    dec_exporter_forget(t->ctx, &a);
    dec_exporter_forget(t->ctx, &a); /* twice is harmless */
    assert_int_equal(th_stats(t)->exporters_forgotten, 1);
    ipfix_one(&m, DOM, true, 2, true, 1);
    assert_int_equal(decode_from(t, &b, &m, 0), 0); /* b is back, in a's place, unevicted */
    assert_int_equal(th_stats(t)->exporters_evicted, 1);
    assert_int_equal(decode_from(t, &c, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    ipfix_one(&m, DOM, false, 0, true, 1);
    dec_exporter_forget(t->ctx, &c);
    assert_int_equal(decode_from(t, &a, &m, 0), DEC_E_NOTEMPLATE); /* forgotten templates */
    assert_int_equal(decode_from(t, &b, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(th_stats(t)->exporters_evicted, 1);
    th_free(t);
}

static int
count_cb(void *arg, const struct dec_exporter_info *info)
{
    (void) info;
    (*(int *) arg)++;
    return 0;
}

static void
test_forget_many(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    struct dec_src s;

    /* enough exporters to grow the table and make probe chains; forget every other one */
    ipfix_one(&m, DOM, true, 2, false, 0);
    for (uint16_t p = 0; p < 300; p++) {
        th_src(&s, (uint8_t) (p % 7), (uint16_t) (1000 + p), DEC_TR_UDP);
        assert_int_equal(decode_from(t, &s, &m, 0), 0);
    }
    for (uint16_t p = 0; p < 300; p += 2) {
        th_src(&s, (uint8_t) (p % 7), (uint16_t) (1000 + p), DEC_TR_UDP);
        dec_exporter_forget(t->ctx, &s);
    }
    int n = 0;
    assert_int_equal(dec_exporter_each(t->ctx, count_cb, &n), 0);
    assert_int_equal(n, 150);
    ipfix_one(&m, DOM, false, 0, true, 3);
    for (uint16_t p = 0; p < 300; p++) {
        th_src(&s, (uint8_t) (p % 7), (uint16_t) (1000 + p), DEC_TR_UDP);
        int rc = decode_from(t, &s, &m, 0);
        if (p % 2 == 0) {
            assert_int_equal(rc, DEC_E_NOTEMPLATE);
            assert_int_equal(t->sink.n, 0);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(t->sink.n, 1);
            assert_int_equal(t->recs[0].exporter_port, 1000 + p);
        }
    }
    n = 0;
    assert_int_equal(dec_exporter_each(t->ctx, count_cb, &n), 0);
    assert_int_equal(n, 300);
    th_free(t);
}

static void
test_exporter_each(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct dec_src a, b;
    struct mb m;

    th_src(&a, 1, 100, DEC_TR_UDP);
    th_src(&b, 2, 200, DEC_TR_UDP);
    mb_v9_hdr(&m, 0, 10000, SECS, 1, 9);
    mb_set(&m, 0);
    mb_u16(&m, 256);
    mb_u16(&m, 1);
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    mb_set(&m, 256);
    mb_u32(&m, 1);
    mb_u32(&m, 2);
    mb_set_end(&m);
    mb_set(&m, 300); /* parked */
    mb_u32(&m, 1);
    mb_set_end(&m);
    assert_int_equal(decode_from(t, &a, &m, 1000), DEC_E_NOTEMPLATE);
    mb_v9_hdr(&m, 0, 10000, SECS, 2, 10);
    assert_int_equal(decode_from(t, &a, &m, 2000), 0);
    v5_msg(&m, 3, 0);
    assert_int_equal(decode_from(t, &b, &m, 1500), 0);

    struct info_acc acc = {0};
    assert_int_equal(dec_exporter_each(t->ctx, info_cb, &acc), 0);
    assert_int_equal(acc.calls, 2);
    const struct dec_exporter_info *ia = info_of(&acc, 100);
    const struct dec_exporter_info *ib = info_of(&acc, 200);
    assert_non_null(ia);
    assert_non_null(ib);
    assert_int_equal(ia->version, 9);
    assert_int_equal(ia->first_ms, 1000);
    assert_int_equal(ia->last_ms, 2000);
    assert_int_equal(ia->templates, 1);
    assert_int_equal(ia->domains, 2);
    assert_int_equal(ia->pending_sets, 1);
    assert_int_equal(ia->stats.messages, 2);
    assert_int_equal(ia->stats.records, 2);
    assert_int_equal(ia->stats.templates, 1);
    assert_int_equal(ia->stats.pending_queued, 1);
    assert_memory_equal(ia->src.addr, a.addr, 16);
    assert_int_equal(ib->version, 5);
    assert_int_equal(ib->first_ms, 1500);
    assert_int_equal(ib->templates, 0);
    assert_int_equal(ib->stats.messages, 1);
    assert_int_equal(ib->stats.records, 3);
    assert_int_equal(ib->pending_sets, 0);
    assert_int_equal(th_stats(t)->records, 5);

    /* a non-zero return stops the walk and is returned */
    struct info_acc stop = {.stop_at = 1};
    assert_int_equal(dec_exporter_each(t->ctx, info_cb, &stop), 7);
    assert_int_equal(stop.calls, 1);
    th_free(t);
}

static void
test_parked_bounds(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.pending_sets = 2;
    cfg.pending_bytes = 100;
    cfg.pending_age_ms = 1000;
    struct th *t = th_new(&cfg);
    struct mb m;
    const struct dec_stats *s = th_stats(t);

    /* three sets, room for two: the oldest goes */
    for (uint16_t id = 256; id <= 258; id++) {
        mb_v9_hdr(&m, 0, 10000, SECS, id, DOM);
        mb_set(&m, id);
        mb_u32(&m, id);
        mb_set_end(&m);
        assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    }
    assert_int_equal(s->pending_queued, 3);
    assert_int_equal(s->err[DEC_R_NO_TEMPLATE], 1);
    struct info_acc acc = {0};
    assert_int_equal(dec_exporter_each(t->ctx, info_cb, &acc), 0);
    assert_int_equal(acc.last[0].pending_sets, 2);

    mb_v9_hdr(&m, 0, 10000, SECS, 10, DOM);
    mb_set(&m, 0);
    for (uint16_t id = 256; id <= 258; id++) {
        mb_u16(&m, id);
        mb_u16(&m, 1);
        mb_field(&m, 2, 4);
    }
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].packets, 257);
    assert_int_equal(t->recs[1].packets, 258);
    assert_int_equal(s->pending_decoded, 2);
    th_free(t);

    /* bytes: a set bigger than the budget is not parked; a second one pushes the first out */
    t = th_new(&cfg);
    s = th_stats(t);
    mb_v9_hdr(&m, 0, 10000, SECS, 1, DOM);
    mb_set(&m, 300);
    mb_fill(&m, 1, 150);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(s->pending_queued, 0);
    assert_int_equal(s->err[DEC_R_NO_TEMPLATE], 1);
    for (int i = 0; i < 2; i++) {
        mb_v9_hdr(&m, 0, 10000, SECS, 2, DOM);
        mb_set(&m, 301);
        mb_fill(&m, 1, 60);
        mb_set_end(&m);
        assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    }
    assert_int_equal(s->pending_queued, 2);
    assert_int_equal(s->err[DEC_R_NO_TEMPLATE], 2);
    th_free(t);

    /* age */
    t = th_new(&cfg);
    s = th_stats(t);
    mb_v9_hdr(&m, 0, 10000, SECS, 1, DOM);
    mb_set(&m, 300);
    mb_u32(&m, 1);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 5000), DEC_E_NOTEMPLATE);
    dec_expire(t->ctx, 6000);
    assert_int_equal(s->err[DEC_R_NO_TEMPLATE], 0);
    dec_expire(t->ctx, 6001);
    assert_int_equal(s->err[DEC_R_NO_TEMPLATE], 1);
    mb_v9_hdr(&m, 0, 10000, SECS, 2, DOM);
    mb_set(&m, 0);
    mb_u16(&m, 300);
    mb_u16(&m, 1);
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 7000), 0);
    assert_int_equal(t->sink.n, 0);
    assert_int_equal(s->pending_decoded, 0);
    th_free(t);

    /* pending_sets 0: nothing is ever parked */
    cfg.pending_sets = 0;
    t = th_new(&cfg);
    mb_v9_hdr(&m, 0, 10000, SECS, 1, DOM);
    mb_set(&m, 300);
    mb_u32(&m, 1);
    mb_set_end(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_NOTEMPLATE);
    assert_int_equal(th_stats(t)->pending_queued, 0);
    assert_int_equal(th_stats(t)->err[DEC_R_NO_TEMPLATE], 1);
    th_free(t);
}

struct flush_acc {
    int calls;
    int fail_at; /* 1-based call that returns -42; 0 = never */
    size_t n;
    uint16_t ports[64];
};

static int
flush_cb(void *arg, struct flow_rec *recs, size_t n)
{
    struct flush_acc *a = arg;
    a->calls++;
    if (a->calls == a->fail_at) {
        return -42;
    }
    for (size_t i = 0; i < n; i++) {
        a->ports[a->n++] = recs[i].srcport;
    }
    return 0;
}

static void
test_sink_flush(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    struct flush_acc acc = {0};

    t->sink.cap = 1;
    t->sink.flush = flush_cb;
    t->sink.arg = &acc;
    v5_msg(&m, 5, 0);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(acc.calls, 4);
    assert_int_equal(acc.n, 4);
    assert_int_equal(t->sink.n, 1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(acc.ports[i], i + 1);
    }
    assert_int_equal(t->recs[0].srcport, 5);
    assert_int_equal(t->msg.records, 5);
    assert_int_equal(th_stats(t)->err[DEC_R_OUT_FULL], 0);

    /* IPFIX: a set of 7 through a sink of 3 */
    memset(&acc, 0, sizeof(acc));
    t->sink.cap = 3;
    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, 2);
    mb_u16(&m, 256);
    mb_u16(&m, 1);
    mb_field(&m, 7, 2);
    mb_set_end(&m);
    mb_set(&m, 256);
    for (uint16_t i = 1; i <= 7; i++) {
        mb_u16(&m, i);
    }
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(acc.calls, 2);
    assert_int_equal(t->sink.n, 1);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(acc.ports[i], i + 1);
    }
    assert_int_equal(t->recs[0].srcport, 7);
    th_free(t);
}

static void
test_sink_full(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;

    t->sink.cap = 2;
    v5_msg(&m, 5, 0);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_FULL);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(t->recs[0].srcport, 1);
    assert_int_equal(t->recs[1].srcport, 2);
    assert_int_equal(th_stats(t)->err[DEC_R_OUT_FULL], 3);
    assert_int_equal(th_stats(t)->records, 2);
    assert_int_equal(t->msg.records, 2);

    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, 2);
    mb_u16(&m, 256);
    mb_u16(&m, 1);
    mb_field(&m, 7, 2);
    mb_set_end(&m);
    mb_set(&m, 256);
    for (uint16_t i = 1; i <= 4; i++) {
        mb_u16(&m, i);
    }
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), DEC_E_FULL);
    assert_int_equal(t->sink.n, 2);
    assert_int_equal(th_stats(t)->err[DEC_R_OUT_FULL], 5);

    /* no sink at all: nothing written, all counted */
    v5_msg(&m, 2, 5);
    assert_int_equal(dec_decode(t->ctx, &t->src, m.b, m.n, 0, NULL, NULL), DEC_E_FULL);
    assert_int_equal(th_stats(t)->err[DEC_R_OUT_FULL], 7);
    th_free(t);
}

static void
test_sink_flush_refuses(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct mb m;
    struct flush_acc acc = {.fail_at = 2};

    t->sink.cap = 1;
    t->sink.flush = flush_cb;
    t->sink.arg = &acc;
    v5_msg(&m, 5, 0);
    assert_int_equal(th_decode(t, &m, 0), -42);
    assert_int_equal(acc.calls, 2);
    assert_int_equal(acc.n, 1);
    assert_int_equal(acc.ports[0], 1);
    assert_int_equal(t->sink.n, 0);
    th_free(t);
}

static void
test_msg_len(void **state)
{
    (void) state;
    const uint8_t ok[] = {0, 10, 0x01, 0x00, 0, 0, 0, 0};
    const uint8_t v9[] = {0, 9, 0x01, 0x00};
    const uint8_t small[] = {0, 10, 0, 15};
    const uint8_t exact[] = {0, 10, 0, 16};
    const uint8_t big[] = {0, 10, 0xff, 0xff};

    for (size_t n = 0; n < 4; n++) {
        assert_int_equal(dec_msg_len(ok, n), 0);
    }
    assert_int_equal(dec_msg_len(ok, 4), 256);
    assert_int_equal(dec_msg_len(ok, sizeof(ok)), 256);
    assert_int_equal(dec_msg_len(v9, 4), DEC_E_VERSION);
    assert_int_equal(dec_msg_len(small, 4), DEC_E_MALFORMED);
    assert_int_equal(dec_msg_len(exact, 4), 16);
    assert_int_equal(dec_msg_len(big, 4), 65535);
}

/* ---- snapshots ---- */

struct snap {
    uint8_t b[65536];
    size_t n;
    size_t bounds[64]; /* offsets where a write call ended */
    size_t nbounds;
    int fail_at; /* 1-based write call that fails; 0 = never */
    int calls;
};

static int
snap_write(void *arg, const void *p, size_t n)
{
    struct snap *s = arg;
    s->calls++;
    if (s->calls == s->fail_at) {
        return -EIO;
    }
    assert_true(s->n + n <= sizeof(s->b));
    memcpy(s->b + s->n, p, n);
    s->n += n;
    if (s->nbounds < 64) {
        s->bounds[s->nbounds++] = s->n;
    }
    return 0;
}

/* Teach ctx: IPFIX options (sampling, systemInitTime, identity), template 256 using uptime
 * times, and a v9 template from another exporter. */
static void
teach(struct th *t, const struct dec_src *v9src, uint64_t init)
{
    struct mb m;
    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, 3);
    mb_u16(&m, 300);
    mb_u16(&m, 4);
    mb_u16(&m, 1);
    mb_field(&m, 149, 4);
    mb_field(&m, 34, 4);
    mb_field(&m, 160, 8);
    mb_efield(&m, DEC_PEN_DEFAULT, DEC_IE_INSTANCE_ID, 65535);
    mb_set_end(&m);
    mb_set(&m, 300);
    mb_u32(&m, DOM);
    mb_u32(&m, 64);
    mb_u64(&m, init);
    mb_varlen(&m, "gw-7", 4);
    mb_set_end(&m);
    mb_set(&m, 2);
    mb_u16(&m, 256);
    mb_u16(&m, 3);
    mb_field(&m, 2, 4);
    mb_field(&m, 22, 4);
    mb_field(&m, 21, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);

    mb_v9_hdr(&m, 0, 10000, SECS, 0, 3);
    mb_set(&m, 0);
    mb_u16(&m, 400);
    mb_u16(&m, 1);
    mb_field(&m, 1, 4);
    mb_set_end(&m);
    assert_int_equal(decode_from(t, v9src, &m, 0), 0);
}

static void
check_taught(struct th *t, const struct dec_src *v9src, uint64_t init)
{
    struct mb m;
    mb_ipfix_hdr(&m, SECS, 1, DOM);
    mb_set(&m, 256);
    mb_u32(&m, 12);
    mb_u32(&m, 1000);
    mb_u32(&m, 2000);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    const struct flow_rec *r = &t->recs[0];
    assert_int_equal(r->packets, 12);
    assert_int_equal(r->start_ms, init + 1000u);
    assert_int_equal(r->end_ms, init + 2000u);
    assert_int_equal(r->sampling, 64);
    assert_string_equal(r->instance_id, "gw-7");

    mb_v9_hdr(&m, 0, 10000, SECS, 1, 3);
    mb_set(&m, 400);
    mb_u32(&m, 999);
    mb_set_end(&m);
    assert_int_equal(decode_from(t, v9src, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].bytes, 999);
}

static void
test_snapshot_roundtrip(void **state)
{
    (void) state;
    struct th *a = th_new(NULL);
    struct dec_src v9src;
    const uint64_t init = SECS * 1000ull - 500000u;
    struct snap *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    th_src(&v9src, 9, 9995, DEC_TR_FILE);
    teach(a, &v9src, init);
    check_taught(a, &v9src, init);
    assert_int_equal(dec_tmpl_save(a->ctx, snap_write, s), 0);
    assert_true(s->n > 8);
    th_free(a);

    struct th *b = th_new(NULL);
    assert_int_equal(dec_tmpl_load(b->ctx, s->b, s->n, 0), 0);
    check_taught(b, &v9src, init);
    th_free(b);

    /* a write error is passed on */
    struct snap *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    a = th_new(NULL);
    teach(a, &v9src, init);
    for (int k = 1; k <= (int) s->nbounds; k++) {
        memset(f, 0, sizeof(*f));
        f->fail_at = k;
        assert_int_equal(dec_tmpl_save(a->ctx, snap_write, f), -EIO);
    }
    th_free(a);
    free(f);
    free(s);
}

static bool
is_bound(const struct snap *s, size_t n)
{
    for (size_t i = 0; i < s->nbounds; i++) {
        if (s->bounds[i] == n) {
            return true;
        }
    }
    return false;
}

static void
test_snapshot_damaged(void **state)
{
    (void) state;
    struct th *a = th_new(NULL);
    struct dec_src v9src;
    struct snap *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    th_src(&v9src, 9, 9995, DEC_TR_FILE);
    teach(a, &v9src, 12345);
    assert_int_equal(dec_tmpl_save(a->ctx, snap_write, s), 0);
    th_free(a);

    /* cut at every length: whole entries load, anything else is DEC_E_FORMAT */
    for (size_t n = 0; n < s->n; n++) {
        struct dec_ctx *c;
        assert_int_equal(dec_ctx_create(&c, NULL), 0);
        int rc = dec_tmpl_load(c, s->b, n, 0);
        if (is_bound(s, n)) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, DEC_E_FORMAT);
        }
        dec_ctx_destroy(c);
    }

    /* not ours */
    uint8_t *d = malloc(s->n);
    assert_non_null(d);
    memcpy(d, s->b, s->n);
    struct dec_ctx *c;
    assert_int_equal(dec_ctx_create(&c, NULL), 0);
    d[3] = 'X';
    assert_int_equal(dec_tmpl_load(c, d, s->n, 0), DEC_E_FORMAT);
    d[3] = s->b[3];
    d[5] = 2; /* format version 2 */
    assert_int_equal(dec_tmpl_load(c, d, s->n, 0), DEC_E_FORMAT);
    d[5] = s->b[5];
    d[8] = 9; /* unknown entry kind */
    assert_int_equal(dec_tmpl_load(c, d, s->n, 0), DEC_E_FORMAT);
    assert_int_equal(dec_tmpl_load(c, (const uint8_t *) "hello, world", 12, 0), DEC_E_FORMAT);
    dec_ctx_destroy(c);

    /* every byte flipped in turn: loads or is refused, never crashes (ASan watches) */
    for (size_t i = 0; i < s->n; i++) {
        for (int pat = 0; pat < 3; pat++) {
            static const uint8_t xors[3] = {0xff, 0x01, 0x80};
            memcpy(d, s->b, s->n);
            d[i] ^= xors[pat];
            assert_int_equal(dec_ctx_create(&c, NULL), 0);
            int rc = dec_tmpl_load(c, d, s->n, 0);
            assert_true(rc == 0 || rc == DEC_E_FORMAT);
            dec_ctx_destroy(c);
        }
    }
    free(d);
    free(s);
}

/* ---- allocation failure ---- */

struct failalloc {
    int count;
    int fail_at; /* 1-based; 0 = never */
    bool failed;
    long live;
};

static void *
fa_alloc(void *arg, size_t n)
{
    struct failalloc *f = arg;
    f->count++;
    if (f->count == f->fail_at) {
        f->failed = true;
        return NULL;
    }
    void *p = calloc(1, n);
    if (p != NULL) {
        f->live++;
    }
    return p;
}

static void
fa_release(void *arg, void *p)
{
    struct failalloc *f = arg;
    f->live--;
    free(p);
}

struct outcome {
    bool enomem;      /* some call returned -ENOMEM */
    uint64_t errs;    /* sum of err[] over both contexts */
    uint64_t records; /* flow records emitted */
    bool ifname;      /* interface name learned */
};

static void
note(struct outcome *o, int rc)
{
    if (rc == -ENOMEM) {
        o->enomem = true;
    }
    assert_true(rc == 0 || rc == -ENOMEM || rc == DEC_E_NOTEMPLATE || rc == DEC_E_LIMIT ||
                rc == DEC_E_FORMAT);
}

static void
add_errs(struct outcome *o, const struct dec_ctx *c, uint64_t records_before)
{
    const struct dec_stats *s = dec_ctx_stats(c);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        o->errs += s->err[i];
    }
    o->records += s->records - records_before;
}

/* Everything that allocates: exporters, domains, templates, parked sets, ifnames, load. */
static void
scenario(struct failalloc *fa, struct outcome *o)
{
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.alloc.alloc = fa_alloc;
    cfg.alloc.release = fa_release;
    cfg.alloc.arg = fa;
    struct dec_ctx *c = NULL;
    struct flow_rec *recs = calloc(16, sizeof(*recs));
    struct dec_sink sink = {.recs = recs, .cap = 16};
    struct dec_src a, b, v5src;
    struct mb m;
    struct snap *s = calloc(1, sizeof(*s));

    assert_non_null(recs);
    assert_non_null(s);
    memset(o, 0, sizeof(*o));
    th_src(&a, 1, 1, DEC_TR_UDP);
    th_src(&b, 2, 1, DEC_TR_UDP);
    th_src(&v5src, 3, 1, DEC_TR_UDP);
    int rc = dec_ctx_create(&c, &cfg);
    note(o, rc);
    if (rc != 0) {
        goto out;
    }

    /* IPFIX: data first (parked), interface names, then the template releases it */
    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, 256);
    mb_u32(&m, 5);
    mb_set_end(&m);
    mb_set(&m, 3);
    mb_u16(&m, 300);
    mb_u16(&m, 2);
    mb_u16(&m, 1);
    mb_field(&m, 10, 4);
    mb_field(&m, 82, 8);
    mb_set_end(&m);
    mb_set(&m, 300);
    mb_u32(&m, 4);
    mb_bytes(&m, "ge-0/0/4", 8);
    mb_set_end(&m);
    mb_set(&m, 2);
    mb_u16(&m, 256);
    mb_u16(&m, 1);
    mb_field(&m, 2, 4);
    mb_set_end(&m);
    mb_done(&m);
    sink.n = 0;
    note(o, dec_decode(c, &a, m.b, m.n, 0, &sink, NULL));
    o->ifname = dec_ifname(c, &a, DOM, 4) != NULL;

    /* v9 from another exporter, several domains */
    for (uint32_t d = 0; d < 6; d++) {
        mb_v9_hdr(&m, 0, 1000, SECS, 0, d);
        mb_set(&m, 0);
        for (uint16_t id = 256; id < 266; id++) {
            mb_u16(&m, id);
            mb_u16(&m, 1);
            mb_field(&m, 1, 4);
        }
        mb_set_end(&m);
        mb_set(&m, 256);
        mb_u32(&m, 7);
        mb_set_end(&m);
        sink.n = 0;
        note(o, dec_decode(c, &b, m.b, m.n, 0, &sink, NULL));
    }
    v5_msg(&m, 2, 0);
    sink.n = 0;
    note(o, dec_decode(c, &v5src, m.b, m.n, 0, &sink, NULL));

    /* save and load into a second context */
    int wrc = dec_tmpl_save(c, snap_write, s);
    note(o, wrc);
    add_errs(o, c, 0);
    dec_ctx_destroy(c);
    c = NULL;
    if (wrc == 0) {
        rc = dec_ctx_create(&c, &cfg);
        note(o, rc);
        if (rc == 0) {
            note(o, dec_tmpl_load(c, s->b, s->n, 0));
            mb_v9_hdr(&m, 0, 1000, SECS, 1, 5);
            mb_set(&m, 265);
            mb_u32(&m, 7);
            mb_set_end(&m);
            sink.n = 0;
            note(o, dec_decode(c, &b, m.b, m.n, 0, &sink, NULL));
            add_errs(o, c, 0);
            dec_ctx_destroy(c);
        }
    }
out:
    free(s);
    free(recs);
}

static void
test_alloc_failure(void **state)
{
    (void) state;
    struct failalloc base = {0};
    struct outcome ok;

    scenario(&base, &ok);
    assert_false(base.failed);
    assert_int_equal(base.live, 0);
    assert_false(ok.enomem);
    assert_int_equal(ok.errs, 0);
    assert_true(ok.ifname);
    assert_int_equal(ok.records, 1 + 6 + 2 + 1);
    int silent = 0;
    for (int n = 1; n <= base.count; n++) {
        struct failalloc fa = {.fail_at = n};
        struct outcome o;
        scenario(&fa, &o);
        assert_true(fa.failed);
        assert_int_equal(fa.live, 0); /* nothing leaked */
        /*
         * A failed allocation must show: -ENOMEM from some call, or a counted loss. Losing
         * records, a template or an interface name without either is a silent loss.
         */
        bool lost = o.records < ok.records || o.ifname != ok.ifname;
        if (lost && !o.enomem && o.errs == 0) {
            print_message("allocation %d of %d: silent loss (records %lu of %lu, ifname %d)\n",
                          n, base.count, (unsigned long) o.records,
                          (unsigned long) ok.records, (int) o.ifname);
            silent++;
        }
    }
    assert_int_equal(silent, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_exporter_and_domain),
        cmocka_unit_test(test_lifetime),
        cmocka_unit_test(test_tmpl_limit),
        cmocka_unit_test(test_exporter_limit_and_forget),
        cmocka_unit_test(test_forget_many),
        cmocka_unit_test(test_exporter_each),
        cmocka_unit_test(test_parked_bounds),
        cmocka_unit_test(test_sink_flush),
        cmocka_unit_test(test_sink_full),
        cmocka_unit_test(test_sink_flush_refuses),
        cmocka_unit_test(test_msg_len),
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_snapshot_damaged),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
