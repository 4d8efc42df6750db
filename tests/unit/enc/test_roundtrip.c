/* SPDX-License-Identifier: MIT */
/*
 * The encoder (enc.h) against the decoder (dec.h). The property test generates thousands of
 * random flow records with a fixed-seed PRNG, encodes them as IPFIX, v9 and v5, decodes every
 * message with a fresh decoder and checks that each record comes back equal on every field
 * that the version carries (enc.h's table). The unit tests cover message sizes, template
 * refresh by count and by time, sequence numbers and loss accounting, the v5 30-record
 * split, v5's refusal of IPv6 and clamping, options records (sampling, identity, exporter
 * statistics), emit failures, configuration errors and allocation failures.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dec.h"
#include "enc.h"

#define NOW0 1795000000000ull /* 2026-11-18, ms */
#define DAY  86400000ull
#define BASE_BITS                                                                                  \
    (FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |                   \
     FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS | FLOW_HAS_TOS |    \
     FLOW_HAS_INPORT | FLOW_HAS_OUTPORT)
#define IDENT_BITS (FLOW_HAS_INSTANCE | FLOW_HAS_SNID | FLOW_HAS_ACCOUNT)

static const struct dec_src SRC = {
    .addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1},
    .port = 9995,
    .transport = DEC_TR_UDP,
};

/* ---- PRNG (splitmix64): fixed seeds, so every run sees the same records ---- */

static uint64_t
rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t
rnd_below(uint64_t *s, uint64_t n)
{
    return n == 0 ? 0 : rnd(s) % n;
}

/* ---- captured messages ---- */

struct msg {
    uint8_t *p;
    size_t len;
    uint64_t now_ms;
};

struct msgs {
    struct msg *v;
    size_t n;
    size_t cap;
    uint64_t now_ms; /* the test's clock, stamped on each message */
    long fail_at;    /* emit refuses this message (index), -1 never */
};

static int
cap_emit(void *arg, const uint8_t *p, size_t len)
{
    struct msgs *m = arg;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = realloc(m->v, m->cap * sizeof(*m->v));
        assert_non_null(m->v);
    }
    struct msg *x = &m->v[m->n];
    x->p = malloc(len);
    assert_non_null(x->p);
    memcpy(x->p, p, len);
    x->len = len;
    x->now_ms = m->now_ms;
    return (long) m->n++ == m->fail_at ? -EIO : 0;
}

static void
msgs_free(struct msgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].p);
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* True when an IPFIX or v9 message holds a set with this id. */
static bool
has_set(const struct msg *m, uint16_t want)
{
    size_t off = be16(m->p) == 10 ? 16 : 20;
    while (off + 4 <= m->len) {
        uint16_t id = be16(m->p + off);
        uint16_t slen = be16(m->p + off + 2);
        if (id == want) {
            return true;
        }
        if (slen < 4) {
            break;
        }
        off += slen;
    }
    return false;
}

/* ---- decoded records ---- */

struct recs {
    struct flow_rec *v;
    size_t n;
    size_t cap;
};

static void
recs_push(struct recs *r, const struct flow_rec *f)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        assert_non_null(r->v);
    }
    r->v[r->n++] = *f;
}

static int
sink_flush(void *arg, struct flow_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        recs_push(arg, &recs[i]);
    }
    return 0;
}

static int
decode_one(struct dec_ctx *d, const struct msg *m, struct recs *out, struct dec_msg *info)
{
    struct flow_rec buf[8];
    struct dec_sink sink = {buf, 8, 0, sink_flush, out};
    int rc = dec_decode(d, &SRC, m->p, m->len, m->now_ms, &sink, info);
    sink_flush(out, buf, sink.n);
    return rc;
}

/* ---- random records ---- */

static void
rnd_str(uint64_t *s, char *dst)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
    size_t n = (size_t) rnd_below(s, FLOW_ID_MAX); /* 0 .. 39 */
    for (size_t i = 0; i < n; i++) {
        dst[i] = abc[rnd_below(s, sizeof(abc) - 1)];
    }
    dst[n] = '\0';
}

static uint64_t
rnd_counter(uint64_t *s)
{
    switch (rnd_below(s, 4)) {
    case 0:
        return rnd_below(s, 100);
    case 1:
        return rnd_below(s, 1u << 20);
    case 2:
        return rnd(s) & 0xffffffffu;
    default:
        return rnd(s); /* above 2^32 almost always */
    }
}

static void
gen_addr(uint64_t *s, uint8_t a[16], bool v6)
{
    uint64_t hi = rnd(s), lo = rnd(s);
    for (int i = 0; i < 8; i++) {
        a[i] = (uint8_t) (hi >> (8 * i));
        a[8 + i] = (uint8_t) (lo >> (8 * i));
    }
    if (v6) {
        a[0] = 0x20; /* 2000::/3: never IPv4-mapped */
    } else {
        uint8_t v4[4] = {a[12], a[13], a[14], a[15]};
        flow_addr_set_v4(a, v4);
    }
}

/* A random record as flowprobe could hand it over, at or before now_ms. */
static void
gen_rec(uint64_t *s, struct flow_rec *r, uint64_t now_ms)
{
    static const uint8_t protos[] = {6, 6, 6, 17, 17, 1, 58, 47, 50, 132, 0, 255};
    bool v6 = rnd_below(s, 3) == 0;

    memset(r, 0, sizeof(*r));
    r->present = BASE_BITS;
    gen_addr(s, r->srcaddr, v6);
    gen_addr(s, r->dstaddr, v6);
    r->protocol = rnd_below(s, 5) == 0 ? (uint8_t) rnd(s) : protos[rnd_below(s, sizeof(protos))];
    if (r->protocol == 1 || r->protocol == 58) {
        r->srcport = 0;
        r->dstport = (uint16_t) rnd(s); /* type << 8 | code */
    } else {
        r->srcport = (uint16_t) rnd(s);
        r->dstport = (uint16_t) rnd(s);
    }
    r->packets = rnd_counter(s);
    r->bytes = rnd_counter(s);
    r->tcp_flags = (uint16_t) (rnd_below(s, 4) == 0 ? rnd(s) : rnd(s) & 0xffu);
    r->tos = (uint8_t) rnd(s);
    r->inport = rnd_below(s, 2) ? (uint32_t) rnd_below(s, 64) : (uint32_t) rnd(s);
    r->outport = rnd_below(s, 2) ? (uint32_t) rnd_below(s, 64) : (uint32_t) rnd(s);
    r->start_ms = now_ms - rnd_below(s, 3600000);
    r->end_ms = r->start_ms + rnd_below(s, now_ms - r->start_ms + 1);
    if (rnd_below(s, 2)) {
        r->present |= FLOW_HAS_DIRECTION;
        /* Mostly in or out; now and then unknown, which the encoder leaves out. */
        r->direction = (uint8_t) (rnd_below(s, 10) == 0 ? FLOW_DIR_UNKNOWN : 1 + rnd_below(s, 2));
    }
    r->action = (uint8_t) rnd_below(s, 2);
    uint64_t id = rnd_below(s, 6);
    uint32_t bits = id < 2 ? IDENT_BITS : id == 2 ? (uint32_t) (rnd(s) & IDENT_BITS) : 0;
    if (bits & FLOW_HAS_INSTANCE) {
        rnd_str(s, r->instance_id);
    }
    if (bits & FLOW_HAS_SNID) {
        rnd_str(s, r->snid);
    }
    if (bits & FLOW_HAS_ACCOUNT) {
        rnd_str(s, r->account_id);
    }
    r->present |= bits;
    if (rnd_below(s, 3) == 0) {
        r->present |= FLOW_HAS_RTT;
        r->rtt_us = (uint32_t) rnd(s);
    }
}

/* What the decoder should give back for r sent as `version` (enc.h's table). */
static bool
expect(const struct flow_rec *r, uint8_t version, uint32_t domain, struct flow_rec *x)
{
    *x = *r;
    x->version = version;
    x->domain = domain;
    memcpy(x->exporter, SRC.addr, 16);
    x->exporter_port = SRC.port;
    if ((x->present & FLOW_HAS_DIRECTION) && x->direction != FLOW_DIR_IN &&
        x->direction != FLOW_DIR_OUT) {
        x->present &= ~(uint32_t) FLOW_HAS_DIRECTION;
        x->direction = 0;
    }
    if (version == 10) {
        return true;
    }
    x->tcp_flags &= 0xffu;
    x->present &= ~(uint32_t) (IDENT_BITS | FLOW_HAS_RTT);
    x->rtt_us = 0;
    memset(x->instance_id, 0, FLOW_ID_MAX);
    memset(x->snid, 0, FLOW_ID_MAX);
    memset(x->account_id, 0, FLOW_ID_MAX);
    if (version == 9) {
        return true;
    }
    if (!flow_addr_is_v4(r->srcaddr) || !flow_addr_is_v4(r->dstaddr)) {
        return false; /* refused */
    }
    x->present &= ~(uint32_t) FLOW_HAS_DIRECTION;
    x->direction = 0;
    x->action = FLOW_ACT_ACCEPT;
    x->packets = x->packets > 0xffffffffu ? 0xffffffffu : x->packets;
    x->bytes = x->bytes > 0xffffffffu ? 0xffffffffu : x->bytes;
    x->inport = x->inport > 0xffffu ? 0xffffu : x->inport;
    x->outport = x->outport > 0xffffu ? 0xffffu : x->outport;
    x->domain = domain & 0xffffu;
    return true;
}

#define CMP(f, fmt)                                                                                \
    do {                                                                                           \
        if (x->f != g->f) {                                                                        \
            snprintf(why, n, #f ": expected %" fmt ", got %" fmt, x->f, g->f);                     \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

/* Field-by-field comparison; on a difference, says which in why. */
static bool
rec_same(const struct flow_rec *x, const struct flow_rec *g, char *why, size_t n)
{
    CMP(present, "#" PRIx32);
    CMP(start_ms, PRIu64);
    CMP(end_ms, PRIu64);
    CMP(packets, PRIu64);
    CMP(bytes, PRIu64);
    CMP(domain, PRIu32);
    CMP(inport, PRIu32);
    CMP(outport, PRIu32);
    CMP(sampling, PRIu32);
    CMP(rtt_us, PRIu32);
    CMP(srcport, "u");
    CMP(dstport, "u");
    CMP(exporter_port, "u");
    CMP(tcp_flags, "#x");
    CMP(protocol, "u");
    CMP(tos, "u");
    CMP(version, "u");
    CMP(direction, "u");
    CMP(action, "u");
    CMP(log_status, "u");
    CMP(flags, "#x");
    const char *what = memcmp(x->srcaddr, g->srcaddr, 16) != 0       ? "srcaddr"
                       : memcmp(x->dstaddr, g->dstaddr, 16) != 0     ? "dstaddr"
                       : memcmp(x->exporter, g->exporter, 16) != 0   ? "exporter"
                       : strcmp(x->instance_id, g->instance_id) != 0 ? "instance_id"
                       : strcmp(x->snid, g->snid) != 0               ? "snid"
                       : strcmp(x->account_id, g->account_id) != 0   ? "account_id"
                       : (x->version != 5 && g->raw_len != 0)        ? "raw_len"
                                                                     : NULL;
    if (what != NULL) {
        snprintf(why, n, "%s differs", what);
        return false;
    }
    return true;
}

static void
assert_recs(const struct recs *want, const struct recs *got, const char *label)
{
    char why[160];

    if (want->n != got->n) {
        fail_msg("%s: %zu records sent, %zu decoded", label, want->n, got->n);
    }
    for (size_t i = 0; i < want->n; i++) {
        if (!rec_same(&want->v[i], &got->v[i], why, sizeof(why))) {
            fail_msg("%s: record %zu: %s", label, i, why);
        }
    }
}

/* ---- the property test ---- */

struct prop_case {
    const char *label;
    uint8_t version;
    uint16_t max_msg;
    uint32_t domain;
    uint64_t boot_ago_ms; /* boot_ms = NOW0 - this */
    uint64_t seed;
    size_t nrecs;
};

static void
run_case(const struct prop_case *c)
{
    struct enc_cfg cfg = {
        .version = c->version,
        .domain = c->domain,
        .max_msg = c->max_msg,
        .boot_ms = NOW0 - c->boot_ago_ms,
    };
    struct enc_ctx *e;
    struct dec_ctx *d;
    struct msgs out = {.fail_at = -1, .now_ms = NOW0};
    struct recs want = {0}, got = {0};
    uint64_t s = c->seed;
    size_t refused = 0;

    assert_int_equal(enc_create(&e, &cfg), 0);
    for (size_t i = 0; i < c->nrecs; i++) {
        struct flow_rec r, x;
        out.now_ms += rnd_below(&s, 40);
        gen_rec(&s, &r, out.now_ms);
        int rc = enc_add(e, &r, out.now_ms, cap_emit, &out);
        if (expect(&r, c->version, c->domain, &x)) {
            assert_int_equal(rc, 0);
            recs_push(&want, &x);
        } else {
            assert_int_equal(rc, ENC_E_V6);
            refused++;
        }
        if (rnd_below(&s, 150) == 0) {
            assert_int_equal(enc_flush(e, out.now_ms, cap_emit, &out), 0);
        }
    }
    assert_int_equal(enc_flush(e, out.now_ms, cap_emit, &out), 0);

    const struct enc_stats *st = enc_ctx_stats(e);
    assert_int_equal(st->records, want.n);
    assert_int_equal(st->refused_v6, refused);
    assert_int_equal(st->messages, out.n);
    assert_int_equal(st->emit_errors, 0);

    size_t max = c->max_msg ? c->max_msg : c->version == 5 ? 1464u : 1400u;
    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    for (size_t i = 0; i < out.n; i++) {
        struct dec_msg info;
        if (out.v[i].len > max) {
            fail_msg("%s: message %zu is %zu bytes", c->label, i, out.v[i].len);
        }
        int rc = decode_one(d, &out.v[i], &got, &info);
        if (rc != 0 || info.missed != 0 || info.reset || info.ooo) {
            fail_msg("%s: message %zu: rc %d (%s), missed %" PRIu32 ", reset %d", c->label, i, rc,
                     dec_strerror(rc), info.missed, info.reset);
        }
    }
    const struct dec_stats *ds = dec_ctx_stats(d);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        if (ds->err[i] != 0) {
            fail_msg("%s: decoder counted %" PRIu64 " x %s", c->label, ds->err[i],
                     dec_reason_name((enum dec_reason) i));
        }
    }
    assert_int_equal(ds->seq_missed, 0);
    assert_recs(&want, &got, c->label);

    dec_ctx_destroy(d);
    enc_destroy(e);
    msgs_free(&out);
    free(want.v);
    free(got.v);
}

static void
test_property(void **state)
{
    /* 2^32 ms is 49.7 days: "wrap" boots put sysUpTime 10 minutes past its wrap at NOW0,
       so records that started up to an hour earlier have First values from before it. */
    const uint64_t wrap = 4294967296ull + 600000u;
    static const struct prop_case cases[] = {
        {"ipfix default", 10, 0, 7, 3 * DAY, 1, 5000},
        {"ipfix 512", 10, 512, 0xdeadbeefu, 3 * DAY, 2, 3000},
        {"ipfix jumbo", 10, 9000, 1, 3 * DAY, 3, 3000},
        {"v9 default", 9, 0, 42, 3 * DAY, 4, 5000},
        {"v9 uptime wrap", 9, 600, 43, 0, 5, 3000},
        {"v5 default", 5, 0, 0x0102, 3 * DAY, 6, 5000},
        {"v5 uptime wrap", 5, 0, 0xffff, 0, 7, 3000},
    };
    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct prop_case c = cases[i];
        if (c.boot_ago_ms == 0) {
            c.boot_ago_ms = wrap;
        }
        run_case(&c);
    }
}

/* ---- unit tests ---- */

static struct flow_rec
simple_rec(uint64_t now_ms, uint32_t n)
{
    struct flow_rec r;
    const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {192, 0, 2, (uint8_t) n};

    memset(&r, 0, sizeof(r));
    r.present = BASE_BITS;
    flow_addr_set_v4(r.srcaddr, src);
    flow_addr_set_v4(r.dstaddr, dst);
    r.srcport = (uint16_t) (40000 + n);
    r.dstport = 443;
    r.protocol = 6;
    r.packets = 10 + n;
    r.bytes = 1000 + n;
    r.start_ms = now_ms - 5000;
    r.end_ms = now_ms - 100;
    return r;
}

static void
test_msg_size(void **state)
{
    static const struct {
        uint8_t version;
        uint16_t max_msg;
    } cases[] = {{10, 512}, {10, 700}, {10, 1400}, {10, 9000}, {9, 512},
                 {9, 1001}, {5, 72},   {5, 600},   {5, 0}};
    (void) state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct enc_cfg cfg = {.version = cases[k].version, .max_msg = cases[k].max_msg};
        uint16_t max = cfg.max_msg ? cfg.max_msg : 1464;
        struct enc_ctx *e;
        struct msgs out = {.fail_at = -1, .now_ms = NOW0};
        uint64_t s = 100 + k;
        assert_int_equal(enc_create(&e, &cfg), 0);
        for (int i = 0; i < 2000; i++) {
            struct flow_rec r;
            gen_rec(&s, &r, out.now_ms);
            if (i % 3 == 0) { /* the longest identity makes the largest records */
                memset(r.instance_id, 'i', FLOW_ID_MAX - 1);
                memset(r.snid, 's', FLOW_ID_MAX - 1);
                memset(r.account_id, 'a', FLOW_ID_MAX - 1);
                r.present |= IDENT_BITS | FLOW_HAS_RTT;
            }
            (void) enc_add(e, &r, out.now_ms, cap_emit, &out);
            if (i % 7 == 0) {
                struct enc_stats_opt st = {.stats = true, .instance_id = "x", .snid = "y"};
                assert_int_equal(enc_options(e, &st, out.now_ms, cap_emit, &out), 0);
            }
        }
        assert_int_equal(enc_flush(e, out.now_ms, cap_emit, &out), 0);
        assert_true(out.n > 1);
        for (size_t i = 0; i < out.n; i++) {
            assert_true(out.v[i].len <= max);
            if (cases[k].version == 10) {
                assert_int_equal(be16(out.v[i].p + 2), out.v[i].len);
            }
            if (cases[k].version == 9) {
                assert_int_equal(out.v[i].len % 4, 0); /* flowsets padded */
            }
            if (cases[k].version == 5 && i + 1 < out.n) {
                size_t per = cases[k].max_msg == 72 ? 1 : cases[k].max_msg == 600 ? 12 : 30;
                assert_int_equal(be16(out.v[i].p + 2), per);
                assert_int_equal(out.v[i].len, 24 + 48 * per);
            }
        }
        enc_destroy(e);
        msgs_free(&out);
    }
}

static void
test_refresh_by_count(void **state)
{
    (void) state;
    for (uint8_t version = 9; version <= 10; version++) {
        struct enc_cfg cfg = {
            .version = version, .tmpl_refresh_msgs = 3, .tmpl_refresh_ms = UINT32_MAX};
        struct enc_ctx *e;
        struct dec_ctx *d;
        struct msgs out = {.fail_at = -1, .now_ms = NOW0};
        struct recs got = {0};
        assert_int_equal(enc_create(&e, &cfg), 0);
        for (uint32_t i = 0; i < 10; i++) {
            struct flow_rec r = simple_rec(out.now_ms, i);
            assert_int_equal(enc_add(e, &r, out.now_ms, cap_emit, &out), 0);
            assert_int_equal(enc_flush(e, out.now_ms, cap_emit, &out), 0);
            out.now_ms += 100000; /* time does not matter here */
        }
        assert_int_equal(out.n, 10);
        assert_int_equal(dec_ctx_create(&d, NULL), 0);
        for (size_t i = 0; i < out.n; i++) {
            assert_int_equal(has_set(&out.v[i], version == 10 ? 2 : 0), i % 3 == 0);
            assert_int_equal(decode_one(d, &out.v[i], &got, NULL), 0);
        }
        assert_int_equal(enc_ctx_stats(e)->templates, 4);
        assert_int_equal(dec_ctx_stats(d)->templates, 4);
        assert_int_equal(got.n, 10);
        dec_ctx_destroy(d);
        enc_destroy(e);
        msgs_free(&out);
        free(got.v);
    }
}

static void
test_refresh_by_time(void **state)
{
    static const uint64_t at[] = {0, 5000, 9999, 10000, 15000, 19999, 20000, 31000};
    static const bool tmpl[] = {true, false, false, true, false, false, true, true};
    struct dec_cfg dcfg;

    (void) state;
    dec_cfg_default(&dcfg);
    dcfg.tmpl_lifetime_ms = 12000; /* expires unless refreshed every 10 s */
    for (uint8_t version = 9; version <= 10; version++) {
        struct enc_cfg cfg = {
            .version = version, .tmpl_refresh_msgs = UINT32_MAX, .tmpl_refresh_ms = 10000};
        struct enc_ctx *e;
        struct dec_ctx *d;
        struct msgs out = {.fail_at = -1};
        struct recs got = {0};
        assert_int_equal(enc_create(&e, &cfg), 0);
        assert_int_equal(dec_ctx_create(&d, &dcfg), 0);
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
            out.now_ms = NOW0 + at[i];
            struct flow_rec r = simple_rec(out.now_ms, (uint32_t) i);
            assert_int_equal(enc_add(e, &r, out.now_ms, cap_emit, &out), 0);
            assert_int_equal(enc_flush(e, out.now_ms, cap_emit, &out), 0);
            assert_int_equal(has_set(&out.v[i], version == 10 ? 2 : 0), tmpl[i]);
            dec_expire(d, out.now_ms);
            assert_int_equal(decode_one(d, &out.v[i], &got, NULL), 0);
            assert_int_equal(got.n, i + 1);
        }
        assert_int_equal(dec_ctx_stats(d)->tmpl_expired, 0);
        dec_ctx_destroy(d);
        enc_destroy(e);
        msgs_free(&out);
        free(got.v);
    }
}

/*
 * Eight messages; message 3 also carries an options record (IPFIX sequence numbers count
 * it). Returns the data records (v5: flows) per message in per[].
 */
static void
seq_messages(uint8_t version, struct msgs *out, uint32_t per[8], long fail_at)
{
    struct enc_cfg cfg = {.version = version, .sampling = 10};
    struct enc_ctx *e;

    out->fail_at = fail_at;
    out->now_ms = NOW0;
    assert_int_equal(enc_create(&e, &cfg), 0);
    for (uint32_t k = 0; k < 8; k++) {
        per[k] = 2 + k;
        for (uint32_t i = 0; i < 2 + k; i++) {
            struct flow_rec r = simple_rec(out->now_ms, i);
            assert_int_equal(enc_add(e, &r, out->now_ms, cap_emit, out), 0);
        }
        if (k == 3 && version != 5) {
            assert_int_equal(enc_options(e, NULL, out->now_ms, cap_emit, out), 0);
            per[k]++;
        }
        int rc = enc_flush(e, out->now_ms, cap_emit, out);
        assert_int_equal(rc, (long) k == fail_at ? -EIO : 0);
        out->now_ms += 1000;
    }
    assert_int_equal(out->n, 8);
    assert_int_equal(enc_ctx_stats(e)->emit_errors, fail_at >= 0 ? 1 : 0);
    enc_destroy(e);
}

/* Decode all messages but `skip`; check seq and missed against what was sent. */
static void
seq_check(uint8_t version, const struct msgs *out, const uint32_t per[8], long skip)
{
    struct dec_ctx *d;
    struct recs got = {0};
    uint32_t seq = 0;

    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    for (uint32_t k = 0; k < 8; k++) {
        uint32_t step = version == 9 ? 1 : per[k];
        if ((long) k == skip) {
            seq += step;
            continue;
        }
        struct dec_msg info;
        assert_int_equal(decode_one(d, &out->v[k], &got, &info), 0);
        assert_int_equal(info.seq, seq);
        uint32_t missed = (long) k == skip + 1 && skip >= 0 ? (version == 9 ? 1 : per[skip]) : 0;
        assert_int_equal(info.missed, missed);
        seq += step;
    }
    assert_int_equal(dec_ctx_stats(d)->seq_missed, skip < 0 ? 0 : (version == 9 ? 1 : per[skip]));
    dec_ctx_destroy(d);
    free(got.v);
}

static void
test_sequence(void **state)
{
    static const uint8_t versions[] = {10, 9, 5};
    (void) state;
    for (size_t v = 0; v < 3; v++) {
        struct msgs out = {0};
        uint32_t per[8];
        seq_messages(versions[v], &out, per, -1);
        seq_check(versions[v], &out, per, -1); /* all there: nothing missed */
        seq_check(versions[v], &out, per, 3);  /* the one with the options record */
        seq_check(versions[v], &out, per, 5);
        msgs_free(&out);
    }
}

/* emit refusing a message: its numbers are used, so the collector counts the loss. */
static void
test_emit_error(void **state)
{
    (void) state;
    for (uint8_t version = 9; version <= 10; version++) {
        struct msgs out = {0};
        uint32_t per[8];
        seq_messages(version, &out, per, 4);
        seq_check(version, &out, per, 4);
        msgs_free(&out);
    }
}

static void
test_v5_split(void **state)
{
    struct enc_cfg cfg = {.version = 5, .domain = 0x0203, .boot_ms = NOW0 - DAY};
    struct enc_ctx *e;
    struct dec_ctx *d;
    struct msgs out = {.fail_at = -1, .now_ms = NOW0};
    struct recs got = {0};

    (void) state;
    assert_int_equal(enc_create(&e, &cfg), 0);
    for (uint32_t i = 0; i < 95; i++) {
        struct flow_rec r = simple_rec(out.now_ms, i);
        assert_int_equal(enc_add(e, &r, out.now_ms, cap_emit, &out), 0);
    }
    assert_int_equal(out.n, 3); /* the fourth is still being filled */
    assert_int_equal(enc_flush(e, out.now_ms, cap_emit, &out), 0);
    assert_int_equal(out.n, 4);
    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    for (size_t k = 0; k < 4; k++) {
        size_t n = k < 3 ? 30 : 5;
        struct dec_msg info;
        assert_int_equal(out.v[k].len, 24 + 48 * n);
        assert_int_equal(be16(out.v[k].p + 2), n);
        assert_int_equal(be32(out.v[k].p + 16), 30 * k);
        assert_int_equal(out.v[k].p[20], 2);
        assert_int_equal(out.v[k].p[21], 3);
        assert_int_equal(decode_one(d, &out.v[k], &got, &info), 0);
        assert_int_equal(info.records, n);
        assert_int_equal(info.missed, 0);
        assert_int_equal(info.export_ms, NOW0);
    }
    assert_int_equal(got.n, 95);
    assert_int_equal(got.v[94].dstaddr[15], 94);
    assert_int_equal(got.v[94].domain, 0x0203);
    assert_int_equal(got.v[94].start_ms, NOW0 - 5000);
    dec_ctx_destroy(d);
    enc_destroy(e);
    msgs_free(&out);
    free(got.v);
}

static void
test_v5_refuses_v6(void **state)
{
    struct enc_cfg cfg = {.version = 5};
    struct enc_ctx *e;
    struct dec_ctx *d;
    struct msgs out = {.fail_at = -1, .now_ms = NOW0};
    struct recs got = {0};
    struct flow_rec r6 = simple_rec(NOW0, 1);
    uint64_t s = 9;

    (void) state;
    gen_addr(&s, r6.dstaddr, true);
    assert_int_equal(enc_create(&e, &cfg), 0);
    assert_int_equal(enc_add(e, &r6, NOW0, cap_emit, &out), ENC_E_V6);
    assert_int_equal(enc_flush(e, NOW0, cap_emit, &out), 0);
    assert_int_equal(out.n, 0); /* nothing was buffered */
    struct flow_rec r4 = simple_rec(NOW0, 2);
    assert_int_equal(enc_add(e, &r4, NOW0, cap_emit, &out), 0);
    assert_int_equal(enc_add(e, &r6, NOW0, cap_emit, &out), ENC_E_V6);
    assert_int_equal(enc_flush(e, NOW0, cap_emit, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(be16(out.v[0].p + 2), 1);
    const struct enc_stats *st = enc_ctx_stats(e);
    assert_int_equal(st->refused_v6, 2);
    assert_int_equal(st->records, 1);
    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    assert_int_equal(decode_one(d, &out.v[0], &got, NULL), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.v[0].dstaddr[15], 2);
    assert_string_equal(enc_strerror(ENC_E_V6), "NetFlow v5 cannot carry an IPv6 record");
    dec_ctx_destroy(d);
    enc_destroy(e);
    msgs_free(&out);
    free(got.v);
}

static void
test_v5_clamp(void **state)
{
    struct enc_cfg cfg = {.version = 5};
    struct enc_ctx *e;
    struct dec_ctx *d;
    struct msgs out = {.fail_at = -1, .now_ms = NOW0};
    struct recs got = {0};
    struct flow_rec big = simple_rec(NOW0, 1), small = simple_rec(NOW0, 2);

    (void) state;
    big.packets = 1ull << 40;
    big.bytes = 5000000000000ull;
    big.inport = 70000;
    assert_int_equal(enc_create(&e, &cfg), 0);
    assert_int_equal(enc_add(e, &big, NOW0, cap_emit, &out), 0);
    assert_int_equal(enc_add(e, &small, NOW0, cap_emit, &out), 0);
    assert_int_equal(enc_flush(e, NOW0, cap_emit, &out), 0);
    assert_int_equal(enc_ctx_stats(e)->clamped, 1);
    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    assert_int_equal(decode_one(d, &out.v[0], &got, NULL), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.v[0].packets, 0xffffffffu);
    assert_int_equal(got.v[0].bytes, 0xffffffffu);
    assert_int_equal(got.v[0].inport, 0xffff);
    assert_int_equal(got.v[1].packets, small.packets);
    dec_ctx_destroy(d);
    enc_destroy(e);
    msgs_free(&out);
    free(got.v);
}

static void
test_options_sampling(void **state)
{
    static const uint8_t versions[] = {10, 9, 5};
    (void) state;
    for (size_t v = 0; v < 3; v++) {
        struct enc_cfg cfg = {.version = versions[v], .sampling = 100};
        struct enc_ctx *e;
        struct dec_ctx *d;
        struct msgs out = {.fail_at = -1, .now_ms = NOW0};
        struct recs got = {0};
        assert_int_equal(enc_create(&e, &cfg), 0);
        assert_int_equal(enc_options(e, NULL, NOW0, cap_emit, &out), 0);
        for (uint32_t i = 0; i < 5; i++) {
            struct flow_rec r = simple_rec(NOW0, i);
            assert_int_equal(enc_add(e, &r, NOW0, cap_emit, &out), 0);
        }
        assert_int_equal(enc_flush(e, NOW0, cap_emit, &out), 0);
        assert_int_equal(out.n, 1);
        assert_int_equal(dec_ctx_create(&d, NULL), 0);
        assert_int_equal(decode_one(d, &out.v[0], &got, NULL), 0);
        assert_int_equal(got.n, 5);
        for (size_t i = 0; i < got.n; i++) {
            assert_true(got.v[i].present & FLOW_HAS_SAMPLING);
            assert_int_equal(got.v[i].sampling, 100);
        }
        assert_int_equal(dec_ctx_stats(d)->options_records, versions[v] == 5 ? 0 : 1);
        assert_int_equal(enc_ctx_stats(e)->options_records, versions[v] == 5 ? 0 : 1);
        dec_ctx_destroy(d);
        enc_destroy(e);
        msgs_free(&out);
        free(got.v);
    }
}

static void
test_options_identity(void **state)
{
    struct enc_cfg cfg = {.version = 10, .domain = 5, .boot_ms = NOW0 - DAY};
    struct enc_stats_opt st = {.stats = true,
                               .ignored_packets = 3,
                               .instance_id = "sag-1234",
                               .snid = "SN42",
                               .account_id = "1000200030004000"};
    struct enc_ctx *e;
    struct dec_ctx *d;
    struct msgs out = {.fail_at = -1, .now_ms = NOW0};
    struct recs got = {0};

    (void) state;
    assert_int_equal(enc_create(&e, &cfg), 0);
    assert_int_equal(enc_options(e, &st, NOW0, cap_emit, &out), 0);
    for (uint32_t i = 0; i < 4; i++) {
        struct flow_rec r = simple_rec(NOW0, i);
        if (i == 3) {
            strcpy(r.instance_id, "sag-own");
            r.present |= FLOW_HAS_INSTANCE;
        }
        assert_int_equal(enc_add(e, &r, NOW0, cap_emit, &out), 0);
    }
    assert_int_equal(enc_flush(e, NOW0, cap_emit, &out), 0);
    assert_int_equal(out.n, 1);
    assert_true(has_set(&out.v[0], 3)); /* options templates */
    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    assert_int_equal(decode_one(d, &out.v[0], &got, NULL), 0);
    assert_int_equal(dec_ctx_stats(d)->options_records, 2);
    assert_int_equal(got.n, 4);
    for (size_t i = 0; i < got.n; i++) {
        assert_int_equal(got.v[i].present & IDENT_BITS, IDENT_BITS);
        assert_string_equal(got.v[i].instance_id, i == 3 ? "sag-own" : "sag-1234");
        assert_string_equal(got.v[i].snid, "SN42");
        assert_string_equal(got.v[i].account_id, "1000200030004000");
        assert_false(got.v[i].present & FLOW_HAS_SAMPLING);
    }

    /* v9 has no enterprise IEs: the identity stays home, the statistics go. */
    struct enc_ctx *e9;
    struct enc_cfg cfg9 = {.version = 9};
    struct msgs out9 = {.fail_at = -1, .now_ms = NOW0};
    struct recs got9 = {0};
    struct flow_rec r = simple_rec(NOW0, 1);
    assert_int_equal(enc_create(&e9, &cfg9), 0);
    assert_int_equal(enc_options(e9, &st, NOW0, cap_emit, &out9), 0);
    assert_int_equal(enc_add(e9, &r, NOW0, cap_emit, &out9), 0);
    assert_int_equal(enc_flush(e9, NOW0, cap_emit, &out9), 0);
    assert_int_equal(decode_one(d, &out9.v[0], &got9, NULL), 0);
    assert_int_equal(got9.n, 1);
    assert_int_equal(got9.v[0].present & IDENT_BITS, 0);
    assert_int_equal(enc_ctx_stats(e9)->options_records, 1);

    dec_ctx_destroy(d);
    enc_destroy(e);
    enc_destroy(e9);
    msgs_free(&out);
    msgs_free(&out9);
    free(got.v);
    free(got9.v);
}

static void
test_config(void **state)
{
    struct enc_ctx *e = NULL;
    struct msgs out = {.fail_at = -1, .now_ms = NOW0};
    struct flow_rec r = simple_rec(NOW0, 1);

    (void) state;
    struct enc_cfg bad_version = {.version = 7};
    struct enc_cfg bad_size = {.version = 10, .max_msg = ENC_MSG_MIN - 1};
    struct enc_cfg bad_v5_size = {.version = 5, .max_msg = ENC_MSG_MIN_V5 - 1};
    struct enc_cfg bad_v5_domain = {.version = 5, .domain = 0x10000};
    struct enc_cfg bad_v5_sampling = {.version = 5, .sampling = 0x4000};
    assert_int_equal(enc_create(&e, &bad_version), ENC_E_CONFIG);
    assert_int_equal(enc_create(&e, &bad_size), ENC_E_CONFIG);
    assert_int_equal(enc_create(&e, &bad_v5_size), ENC_E_CONFIG);
    assert_int_equal(enc_create(&e, &bad_v5_domain), ENC_E_CONFIG);
    assert_int_equal(enc_create(&e, &bad_v5_sampling), ENC_E_CONFIG);
    assert_null(e);
    enc_destroy(NULL);
    assert_string_equal(enc_strerror(12345), "unknown error");
    assert_string_not_equal(enc_strerror(ENC_E_CONFIG), enc_strerror(ENC_E_V6));
    /* The encoder's codes have their own band (-1300...), apart from the decoder's. */
    assert_true(ENC_E_CONFIG <= -1300 && ENC_E_CONFIG > -1400);
    assert_true(ENC_E_V6 <= -1300 && ENC_E_V6 > -1400);
    assert_string_equal(dec_strerror(ENC_E_V6), "unknown error");

    /* NULL config: IPFIX, domain 0, templates first, export time in seconds. */
    assert_int_equal(enc_create(&e, NULL), 0);
    assert_int_equal(enc_flush(e, NOW0, cap_emit, &out), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(enc_add(e, &r, NOW0 + 999, cap_emit, &out), 0);
    assert_int_equal(enc_flush(e, NOW0 + 999, cap_emit, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(be16(out.v[0].p), 10);
    assert_int_equal(be32(out.v[0].p + 4), NOW0 / 1000);
    assert_int_equal(be32(out.v[0].p + 8), 0);
    assert_int_equal(be32(out.v[0].p + 12), 0);
    assert_int_equal(be16(out.v[0].p + 16), 2); /* the template set comes first */
    enc_destroy(e);
    msgs_free(&out);
}

struct fail_alloc {
    int left; /* allocations that succeed before they start failing */
    int live;
};

static void *
fa_alloc(void *arg, size_t n)
{
    struct fail_alloc *f = arg;
    if (f->left-- <= 0) {
        return NULL;
    }
    f->live++;
    return calloc(1, n);
}

static void
fa_release(void *arg, void *p)
{
    struct fail_alloc *f = arg;
    f->live--;
    free(p);
}

static void
test_alloc_failure(void **state)
{
    (void) state;
    for (int ok = 0; ok <= 2; ok++) {
        struct fail_alloc f = {.left = ok};
        struct enc_cfg cfg = {.alloc = {fa_alloc, fa_release, &f}};
        struct enc_ctx *e = NULL;
        int rc = enc_create(&e, &cfg);
        if (ok < 2) {
            assert_int_equal(rc, -ENOMEM);
            assert_null(e);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(f.live, 2);
            enc_destroy(e);
        }
        assert_int_equal(f.live, 0);
    }
    assert_string_equal(enc_strerror(-ENOMEM), "out of memory");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property),         cmocka_unit_test(test_msg_size),
        cmocka_unit_test(test_refresh_by_count), cmocka_unit_test(test_refresh_by_time),
        cmocka_unit_test(test_sequence),         cmocka_unit_test(test_emit_error),
        cmocka_unit_test(test_v5_split),         cmocka_unit_test(test_v5_refuses_v6),
        cmocka_unit_test(test_v5_clamp),         cmocka_unit_test(test_options_sampling),
        cmocka_unit_test(test_options_identity), cmocka_unit_test(test_config),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
