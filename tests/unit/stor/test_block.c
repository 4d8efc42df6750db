/* SPDX-License-Identifier: MIT */
/*
 * Blocks (storage/src/block.c): round trips of random records and of the records decoded
 * from the third-party captures, summary soundness (a block holding a matching record is
 * never ruled out) and selectivity, corrupt and truncated input, summary serialisation.
 * Row blocks (storage/src/rows.c, the runs of open windows): round trips with the fields a
 * row shares with the one before it, and corrupt input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>
#include <zstd.h>

#include "block.h"
#include "dec.h"
#include "pcapwalk.h"

#define T0_MS 1763800000000ull

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t
rndn(uint64_t n)
{
    return rnd() % n;
}

static const char *const ids[] = {"sag-0a1b2c", "sag-77", "",
                                  "i-0123456789abcdef0123456789abcdef012", "acct-1"};

static void
rnd_addr(uint8_t a[16], bool v4)
{
    if (v4) {
        uint8_t b[4] = {10, (uint8_t) rndn(3), (uint8_t) rndn(256), (uint8_t) rndn(256)};
        flow_addr_set_v4(a, b);
        return;
    }
    static const uint8_t p[6] = {0x20, 0x01, 0x0d, 0xb8, 0, 0};
    memcpy(a, p, 6);
    a[5] = (uint8_t) rndn(4);
    for (int i = 6; i < 16; i++) {
        a[i] = rndn(3) == 0 ? (uint8_t) rnd() : 0;
    }
}

static void
rnd_raw(struct flow_rec *r)
{
    size_t off = 0;
    while (rndn(3) != 0) {
        size_t len = rndn(20);
        if (off + 8 + len > FLOW_RAW_MAX) {
            break;
        }
        uint8_t *p = r->raw + off;
        p[0] = p[1] = 0, p[2] = 0x7e, p[3] = (uint8_t) rnd();
        p[4] = 0, p[5] = (uint8_t) rndn(50), p[6] = 0, p[7] = (uint8_t) len;
        for (size_t i = 0; i < len; i++) {
            p[8 + i] = (uint8_t) rnd();
        }
        off += 8 + len;
    }
    r->raw_len = (uint8_t) off;
}

/* A random record; fields whose bit is clear hold garbage, which must not round-trip. */
static void
rnd_rec(struct flow_rec *r)
{
    memset(r, 0xA5, sizeof(*r));
    r->present = (uint32_t) rnd() & 0x1FFFF;
    if (rndn(4) != 0) {
        r->present |= 0x7F;
    }
    bool v4 = rndn(4) != 0;
    rnd_addr(r->srcaddr, v4);
    rnd_addr(r->dstaddr, v4);
    rnd_addr(r->exporter, true);
    r->exporter[15] = (uint8_t) rndn(3);
    r->start_ms = T0_MS + rndn(600000);
    r->end_ms = r->start_ms + (rndn(10) == 0 ? 0 : rndn(120000));
    if (rndn(50) == 0) {
        r->end_ms = r->start_ms - rndn(1000); /* a clock that stepped back */
    }
    r->packets = rndn(8) == 0 ? rnd() : rndn(100);
    r->bytes = rndn(8) == 0 ? rnd() : rndn(100000);
    r->domain = (uint32_t) rndn(3);
    r->inport = (uint32_t) rndn(40);
    r->outport = rndn(10) == 0 ? (uint32_t) rnd() : 2;
    r->sampling = rndn(2) ? 1000 : 1;
    r->rtt_us = (uint32_t) rndn(200000);
    r->srcport = (uint16_t) rnd();
    r->dstport = (uint16_t) (rndn(2) ? 443 : rnd());
    r->exporter_port = 50000;
    r->tcp_flags = (uint16_t) rndn(64);
    r->protocol = rndn(2) ? 6 : 17;
    r->tos = (uint8_t) rndn(4);
    r->version = rndn(2) ? 10 : 9;
    r->direction = (uint8_t) rndn(3);
    r->action = (uint8_t) rndn(2);
    r->log_status = rndn(20) == 0 ? (uint8_t) (1 + rndn(2)) : 0;
    if (r->log_status != 0) {
        r->present &= ~(uint32_t) (FLOW_HAS_PACKETS | FLOW_HAS_BYTES);
        r->skipped = r->log_status == 2 ? (uint32_t) rndn(1000) : 0;
    } else {
        r->skipped = 0;
    }
    r->flags = (uint8_t) rndn(4);
    r->flowlog = (uint16_t) rndn(2);
    r->window = (uint32_t) (T0_MS / 1000 / 600 * 600);
    for (int k = 0; k < 3; k++) {
        char *s = k == 0 ? r->instance_id : k == 1 ? r->snid : r->account_id;
        memset(s, 0, FLOW_ID_MAX);
        strcpy(s, ids[rndn(sizeof(ids) / sizeof(ids[0]))]);
    }
    rnd_raw(r);
}

/* What decode must give back for r (block.h's contract). */
static void
expect_of(const struct flow_rec *r, struct flow_rec *e)
{
    memset(e, 0, sizeof(*e));
    uint32_t p = r->present;
#define KEEP(bit, f)                                                                               \
    if (p & (bit)) {                                                                               \
        memcpy(&e->f, &r->f, sizeof(e->f));                                                        \
    }
    KEEP(FLOW_HAS_SRCADDR, srcaddr);
    KEEP(FLOW_HAS_DSTADDR, dstaddr);
    KEEP(FLOW_HAS_SRCPORT, srcport);
    KEEP(FLOW_HAS_DSTPORT, dstport);
    KEEP(FLOW_HAS_PROTOCOL, protocol);
    KEEP(FLOW_HAS_PACKETS, packets);
    KEEP(FLOW_HAS_BYTES, bytes);
    KEEP(FLOW_HAS_TCPFLAGS, tcp_flags);
    KEEP(FLOW_HAS_TOS, tos);
    KEEP(FLOW_HAS_INPORT, inport);
    KEEP(FLOW_HAS_OUTPORT, outport);
    KEEP(FLOW_HAS_RTT, rtt_us);
    KEEP(FLOW_HAS_SAMPLING, sampling);
#undef KEEP
    if (p & FLOW_HAS_INSTANCE) {
        memcpy(e->instance_id, r->instance_id, FLOW_ID_MAX - 1);
    }
    if (p & FLOW_HAS_SNID) {
        memcpy(e->snid, r->snid, FLOW_ID_MAX - 1);
    }
    if (p & FLOW_HAS_ACCOUNT) {
        memcpy(e->account_id, r->account_id, FLOW_ID_MAX - 1);
    }
    e->present = p;
    e->version = r->version;
    memcpy(e->exporter, r->exporter, 16);
    e->exporter_port = r->exporter_port;
    e->domain = r->domain;
    e->direction = r->direction;
    e->action = r->action;
    e->log_status = r->log_status;
    e->flags = r->flags;
    e->flowlog = r->flowlog;
    e->window = r->window;
    e->skipped = r->skipped;
    e->start_ms = r->start_ms;
    e->end_ms = r->end_ms;
    e->raw_len = r->raw_len;
    memcpy(e->raw, r->raw, r->raw_len);
}

/* Every field of got equals e's (a row keeps every field, whatever its presence bit). */
static void
fields_equal(const struct flow_rec *got, const struct flow_rec *e, size_t i)
{
#define EQ(f)                                                                                      \
    if (memcmp(&got->f, &e->f, sizeof(e->f)) != 0) {                                               \
        fail_msg("record %zu: field " #f " differs", i);                                           \
    }
    EQ(start_ms);
    EQ(end_ms);
    EQ(packets);
    EQ(bytes);
    EQ(srcaddr);
    EQ(dstaddr);
    EQ(exporter);
    EQ(present);
    EQ(domain);
    EQ(inport);
    EQ(outport);
    EQ(sampling);
    EQ(rtt_us);
    EQ(srcport);
    EQ(dstport);
    EQ(exporter_port);
    EQ(tcp_flags);
    EQ(protocol);
    EQ(tos);
    EQ(version);
    EQ(direction);
    EQ(action);
    EQ(log_status);
    EQ(flags);
    EQ(raw_len);
    EQ(flowlog);
    EQ(window);
    EQ(skipped);
#undef EQ
    assert_string_equal(got->instance_id, e->instance_id);
    assert_string_equal(got->snid, e->snid);
    assert_string_equal(got->account_id, e->account_id);
    assert_memory_equal(got->raw, e->raw, e->raw_len);
}

static void
rec_equal(const struct flow_rec *got, const struct flow_rec *r, size_t i)
{
    struct flow_rec e;
    expect_of(r, &e);
    fields_equal(got, &e, i);
}

/* Encode, check the count and decode; returns the block's size. */
static size_t
roundtrip(const struct flow_rec *recs, size_t n)
{
    struct stor_buf b = {0};
    struct stor_sum sum;
    assert_int_equal(stor__block_encode(recs, n, &b, &sum), 0);
    assert_int_equal(sum.n, n);
    assert_int_equal(stor__block_count(b.p, b.len), (long) n);
    struct flow_rec *out = malloc(n * sizeof(*out));
    size_t got = 0;
    assert_non_null(out);
    if (n > 1) {
        assert_int_equal(stor__block_decode(b.p, b.len, out, n - 1, &got), STOR_E_INVAL);
    }
    assert_int_equal(stor__block_decode(b.p, b.len, out, n, &got), 0);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++) {
        rec_equal(&out[i], &recs[i], i);
    }
    free(out);
    size_t len = b.len;
    stor__buf_free(&b);
    return len;
}

static void
test_roundtrip_random(void **state)
{
    (void) state;
    static const size_t sizes[] = {1, 2, 4095, 4096, STOR_BLOCK_MAX};
    struct flow_rec *recs = malloc(STOR_BLOCK_MAX * sizeof(*recs));
    assert_non_null(recs);
    rng_state = 1;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t i = 0; i < sizes[s]; i++) {
            rnd_rec(&recs[i]);
        }
        roundtrip(recs, sizes[s]);
    }
    /* Every presence pattern over the low bits, and constant columns of every kind. */
    for (uint32_t p = 0; p < 256; p++) {
        for (size_t i = 0; i < 3; i++) {
            rnd_rec(&recs[i]);
            recs[i].present = p << (i * 3 % 9) | (p & 1 ? 0x1C000 : 0);
        }
        roundtrip(recs, 3);
        recs[1] = recs[0];
        recs[2] = recs[0];
        roundtrip(recs, 3);
    }
    free(recs);
}

/* ---- the captures ---- */

struct cap_run {
    struct dec_ctx *dec;
    struct flow_rec *recs;
    size_t n, cap;
    struct flow_rec buf[256];
};

static int
cap_flush(void *arg, struct flow_rec *recs, size_t n)
{
    struct cap_run *run = arg;
    if (n == 0) {
        return 0;
    }
    if (run->n + n > run->cap) {
        size_t cap = (run->cap + n) * 2;
        struct flow_rec *p = realloc(run->recs, cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        run->recs = p;
        run->cap = cap;
    }
    memcpy(run->recs + run->n, recs, n * sizeof(*recs));
    run->n += n;
    return 0;
}

static int
cap_pkt(void *arg, const struct pcapwalk_pkt *pkt)
{
    struct cap_run *run = arg;
    struct dec_src src = {.port = pkt->sport, .transport = DEC_TR_FILE};
    memcpy(src.addr, pkt->src, 16);
    struct dec_sink out = {run->buf, 256, 0, cap_flush, run};
    dec_decode(run->dec, &src, pkt->data, pkt->len, pkt->ts_ms, &out, NULL);
    return cap_flush(run, out.recs, out.n);
}

/*
 * The largest body a block can have: every field present with full-range values, every
 * address IPv6 and distinct, every identity string distinct and of the longest length, every
 * raw blob full. The encoder writes into a buffer of exactly body_bound(n) bytes and checks
 * each write: this must encode (no -EOVERFLOW) and round-trip, for small and large n.
 */
static void
test_worst_case_body(void **state)
{
    (void) state;
    static const size_t sizes[] = {1, 7, 64, 4096};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        struct flow_rec *recs = calloc(n, sizeof(*recs));
        assert_non_null(recs);
        for (size_t i = 0; i < n; i++) {
            struct flow_rec *r = &recs[i];
            rnd_rec(r);
            r->present = 0x1FFFF;
            r->log_status = 0;
            for (int k = 0; k < 16; k++) {
                r->srcaddr[k] = (uint8_t) rnd();
                r->dstaddr[k] = (uint8_t) rnd();
                r->exporter[k] = (uint8_t) rnd();
            }
            r->srcaddr[0] = r->dstaddr[0] = r->exporter[0] = 0x20; /* never IPv4-mapped */
            r->packets = rnd();
            r->bytes = rnd();
            r->start_ms = rnd();
            r->end_ms = rnd();
            r->domain = (uint32_t) rnd();
            r->inport = (uint32_t) rnd();
            r->outport = (uint32_t) rnd();
            r->sampling = (uint32_t) rnd();
            r->rtt_us = (uint32_t) rnd();
            r->skipped = (uint32_t) rnd();
            r->window = (uint32_t) rnd();
            r->flowlog = (uint16_t) rnd();
            char *str[3] = {r->instance_id, r->snid, r->account_id};
            for (int k = 0; k < 3; k++) {
                for (size_t c = 0; c < FLOW_ID_MAX - 1; c++) {
                    str[k][c] = (char) ('a' + rndn(26));
                }
                str[k][FLOW_ID_MAX - 1] = '\0';
            }
            r->raw_len = FLOW_RAW_MAX;
            for (size_t c = 0; c < FLOW_RAW_MAX; c++) {
                r->raw[c] = (uint8_t) rnd();
            }
        }
        roundtrip(recs, n);
        free(recs);
    }
}

static void
test_roundtrip_captures(void **state)
{
    (void) state;
    FILE *list = fopen(SRC_DIR "/tests/golden/captures/LIST", "r");
    char line[512], path[1024], err[256];
    size_t files = 0, recs = 0, bytes = 0;
    if (list == NULL) {
        skip();
    }
    while (fgets(line, sizeof(line), list) != NULL) {
        char rel[400];
        unsigned port;
        if (sscanf(line, "%399s %u", rel, &port) != 2) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", CAPTURES_DIR, rel);
        struct cap_run run = {0};
        uint16_t ports[1] = {(uint16_t) port};
        assert_int_equal(dec_ctx_create(&run.dec, NULL), 0);
        if (pcapwalk(path, ports, 1, cap_pkt, &run, err) == 0) {
            files++;
            for (size_t i = 0; i < run.n; i += 4096) {
                size_t n = run.n - i < 4096 ? run.n - i : 4096;
                bytes += roundtrip(run.recs + i, n);
                recs += n;
            }
        }
        dec_ctx_destroy(run.dec);
        free(run.recs);
    }
    fclose(list);
    if (files == 0) {
        skip();
    }
    printf("captures: %zu files, %zu records, %zu bytes, %.1f bytes/record\n", files, recs, bytes,
           recs ? (double) bytes / (double) recs : 0.0);
}

/* ---- summaries ---- */

/* The value a condition on field f sees in r (0 when r lacks the field). */
static uint64_t
field_value(const struct flow_rec *r, unsigned f)
{
    uint32_t p = r->present;
    switch (f) {
    case STOR_F_SRCPORT:
        return p & FLOW_HAS_SRCPORT ? r->srcport : 0;
    case STOR_F_DSTPORT:
        return p & FLOW_HAS_DSTPORT ? r->dstport : 0;
    case STOR_F_PROTOCOL:
        return p & FLOW_HAS_PROTOCOL ? r->protocol : 0;
    case STOR_F_PACKETS:
        return p & FLOW_HAS_PACKETS ? r->packets : 0;
    case STOR_F_BYTES:
        return p & FLOW_HAS_BYTES ? r->bytes : 0;
    case STOR_F_START:
        return r->start_ms;
    case STOR_F_END:
        return r->end_ms;
    case STOR_F_ACTION:
        return r->action;
    case STOR_F_LOG_STATUS:
        return r->log_status;
    case STOR_F_TCPFLAGS:
        return p & FLOW_HAS_TCPFLAGS ? r->tcp_flags : 0;
    case STOR_F_TOS:
        return p & FLOW_HAS_TOS ? r->tos : 0;
    case STOR_F_INPORT:
        return p & FLOW_HAS_INPORT ? r->inport : 0;
    case STOR_F_OUTPORT:
        return p & FLOW_HAS_OUTPORT ? r->outport : 0;
    default:
        return 0;
    }
}

static void
rnd_cond(struct stor_cond *c, const struct flow_rec *recs, size_t n)
{
    static const uint8_t plens[] = {0,   8,   16,  24,  32,  40,  48,  56,  64,  80,  96,
                                    100, 104, 108, 112, 116, 120, 124, 127, 128, 128, 128};
    static const uint8_t fields[] = {
        STOR_F_SRCADDR, STOR_F_DSTADDR, STOR_F_EXPORTER, STOR_F_INSTANCE,   STOR_F_ACCOUNT,
        STOR_F_SRCPORT, STOR_F_DSTPORT, STOR_F_PROTOCOL, STOR_F_PACKETS,    STOR_F_BYTES,
        STOR_F_START,   STOR_F_END,     STOR_F_ACTION,   STOR_F_LOG_STATUS, STOR_F_TCPFLAGS,
        STOR_F_TOS,     STOR_F_INPORT,  STOR_F_OUTPORT};
    const struct flow_rec *r = &recs[rndn(n)];
    memset(c, 0, sizeof(*c));
    c->field = fields[rndn(sizeof(fields))];
    bool from_rec = rndn(2) == 0;
    switch (c->field) {
    case STOR_F_SRCADDR:
    case STOR_F_DSTADDR:
    case STOR_F_EXPORTER: {
        const uint8_t *a = c->field == STOR_F_SRCADDR   ? r->srcaddr
                           : c->field == STOR_F_DSTADDR ? r->dstaddr
                                                        : r->exporter;
        if (from_rec) {
            memcpy(c->cidr.addr, a, 16);
        } else {
            rnd_addr(c->cidr.addr, rndn(2) == 0);
        }
        if (rndn(10) == 0) {
            memset(c->cidr.addr, 0, 16);
        }
        c->cidr.plen = plens[rndn(sizeof(plens))];
        break;
    }
    case STOR_F_INSTANCE:
    case STOR_F_ACCOUNT:
        strcpy(c->text, from_rec ? (c->field == STOR_F_INSTANCE ? r->instance_id : r->account_id)
                                 : ids[rndn(sizeof(ids) / sizeof(ids[0]))]);
        break;
    default: {
        uint64_t v = from_rec ? field_value(r, c->field) : rnd() % 70000;
        uint64_t span = rndn(4) == 0 ? rndn(1000) : 0;
        c->lo = v > span ? v - span : 0;
        c->hi = v + rndn(3);
        if ((c->field == STOR_F_START || c->field == STOR_F_END) && !from_rec) {
            c->lo = r->start_ms - rndn(100);
            c->hi = c->lo + rndn(200);
        }
        break;
    }
    }
}

static void
test_summary_sound(void **state)
{
    (void) state;
    struct flow_rec *recs = malloc(300 * sizeof(*recs));
    size_t trials = 0, matching = 0;
    assert_non_null(recs);
    rng_state = 7;
    for (int blk = 0; blk < 300; blk++) {
        size_t n = 1 + rndn(300);
        for (size_t i = 0; i < n; i++) {
            rnd_rec(&recs[i]);
        }
        struct stor_buf b = {0};
        struct stor_sum sum, back;
        uint8_t ser[STOR_SUM_BYTES];
        assert_int_equal(stor__block_encode(recs, n, &b, &sum), 0);
        stor__sum_write(&sum, ser);
        assert_int_equal(stor__sum_read(ser, sizeof(ser), &back), 0);
        for (int q = 0; q < 200; q++) {
            struct stor_conj conj[3];
            size_t nconj = 1 + rndn(3);
            for (size_t k = 0; k < nconj; k++) {
                conj[k].n = (uint8_t) (1 + rndn(3));
                for (size_t j = 0; j < conj[k].n; j++) {
                    rnd_cond(&conj[k].any[j], recs, n);
                }
            }
            bool any = false;
            for (size_t i = 0; i < n && !any; i++) {
                bool all = true;
                for (size_t k = 0; k < nconj && all; k++) {
                    all = stor__rec_matches(&recs[i], &conj[k]);
                }
                any = all;
            }
            trials++;
            if (any) {
                matching++;
                assert_true(stor__sum_may_match(&back, conj, nconj));
            }
        }
        stor__buf_free(&b);
    }
    assert_true(matching > trials / 10);
    free(recs);
}

static void
test_summary_selective(void **state)
{
    (void) state;
    struct flow_rec recs[256];
    size_t asked = 0, passed = 0, pfx_passed = 0, blocks = 200;
    rng_state = 11;
    for (size_t blk = 0; blk < blocks; blk++) {
        for (size_t i = 0; i < 256; i++) {
            rnd_rec(&recs[i]);
            recs[i].present |= FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR;
            uint8_t a[4] = {10, i % 2 ? 1 : 3, (uint8_t) rndn(256), (uint8_t) rndn(256)};
            flow_addr_set_v4(recs[i].srcaddr, a);
        }
        struct stor_buf b = {0};
        struct stor_sum sum;
        assert_int_equal(stor__block_encode(recs, 256, &b, &sum), 0);
        for (int q = 0; q < 200; q++) {
            struct stor_conj c = {.n = 1};
            c.any[0].field = STOR_F_SRCADDR;
            c.any[0].cidr.plen = 128;
            uint8_t a[4] = {10, 1, (uint8_t) rndn(256), (uint8_t) rndn(256)};
            flow_addr_set_v4(c.any[0].cidr.addr, a);
            bool present = false;
            for (size_t i = 0; i < 256; i++) {
                present |= stor__rec_matches(&recs[i], &c);
            }
            if (present) {
                assert_true(stor__sum_may_match(&sum, &c, 1));
                continue;
            }
            asked++;
            passed += stor__sum_may_match(&sum, &c, 1);
        }
        /* 10.2/16 lies between min and max: only the /112 Bloom probe can rule it out. */
        struct stor_conj c = {.n = 1};
        c.any[0].field = STOR_F_SRCADDR;
        c.any[0].cidr.plen = 112;
        uint8_t a[4] = {10, 2, 0, 0};
        flow_addr_set_v4(c.any[0].cidr.addr, a);
        pfx_passed += stor__sum_may_match(&sum, &c, 1);
        stor__buf_free(&b);
    }
    double fp = (double) passed / (double) asked, pfp = (double) pfx_passed / (double) blocks;
    printf("256-record blocks: host lookups %zu absent, false positive rate %.3f; "
           "absent /16 false positive rate %.3f\n",
           asked, fp, pfp);
    assert_true(fp < 0.10);
    assert_true(pfp < 0.10);
}

static void
test_summary_serial(void **state)
{
    (void) state;
    struct stor_sum s, back;
    uint8_t ser[STOR_SUM_BYTES];
    memset(&s, 0, sizeof(s));
    s.n = 4096;
    for (int f = 0; f < STOR_F_COUNT; f++) {
        s.min[f] = (uint64_t) f * 0x0102030405060708ull;
        s.max[f] = s.min[f] + 77;
    }
    memset(s.srcaddr_max, 0xEE, 16);
    memset(s.dstaddr_min, 0x11, 16);
    memset(s.dstaddr_max, 0x12, 16);
    for (size_t i = 0; i < STOR_BLOOM_BYTES; i++) {
        s.bloom[i] = (uint8_t) (i * 7);
    }
    stor__sum_write(&s, ser);
    memset(&back, 0, sizeof(back)); /* the padding after n */
    assert_int_equal(stor__sum_read(ser, sizeof(ser), &back), 0);
    assert_memory_equal(&s, &back, sizeof(s));
    assert_int_equal(ser[0], 0);
    assert_int_equal(ser[2], 0x10); /* big-endian n */
    assert_int_equal(stor__sum_read(ser, sizeof(ser) - 1, &back), STOR_E_CORRUPT);
    ser[4 + 7] = 0xFF; /* min > max */
    ser[4] = 0xFF;
    assert_int_equal(stor__sum_read(ser, sizeof(ser), &back), STOR_E_CORRUPT);
}

/* ---- corruption ---- */

/* A block around a (possibly damaged) body, with a correct header and check. */
static size_t
rebuild(uint8_t *out, size_t cap, const uint8_t *body, size_t blen, size_t n, bool z)
{
    size_t plen = blen;
    if (z) {
        plen = ZSTD_compress(out + 20, cap - 20, body, blen, 1);
        assert_false(ZSTD_isError(plen));
    } else {
        memcpy(out + 20, body, blen);
    }
    uint32_t v[3] = {(uint32_t) n, (uint32_t) blen, (uint32_t) plen};
    out[0] = 0xFB, out[1] = 1, out[2] = z ? 1 : 0, out[3] = 0;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 4; i++) {
            out[4 + 4 * k + i] = (uint8_t) (v[k] >> (24 - 8 * i));
        }
    }
    uint32_t chk = (uint32_t) XXH3_64bits(out + 20, plen);
    for (int i = 0; i < 4; i++) {
        out[16 + i] = (uint8_t) (chk >> (24 - 8 * i));
    }
    return 20 + plen;
}

static void
decode_any(const uint8_t *p, size_t len, struct flow_rec *out, size_t cap)
{
    size_t got = 0;
    int rc = stor__block_decode(p, len, out, cap, &got);
    assert_true(rc == 0 || rc == STOR_E_CORRUPT || rc == STOR_E_INVAL);
    if (rc == 0) {
        assert_true(got <= cap);
    }
    long c = stor__block_count(p, len);
    assert_true(c > 0 || c == STOR_E_CORRUPT);
}

static void
test_corrupt(void **state)
{
    (void) state;
    enum { N = 200 };
    struct flow_rec recs[N], out[N];
    struct stor_buf b = {0};
    struct stor_sum sum;
    rng_state = 3;
    for (size_t i = 0; i < N; i++) {
        rnd_rec(&recs[i]);
    }
    assert_int_equal(stor__block_encode(recs, N, &b, &sum), 0);
    assert_int_equal(b.p[2], 1); /* zstd */
    uint8_t *copy = malloc(b.len);
    assert_non_null(copy);
    for (size_t l = 0; l < b.len; l++) {
        memcpy(copy, b.p, l);
        assert_int_equal(stor__block_decode(copy, l, out, N, &(size_t){0}), STOR_E_CORRUPT);
    }
    for (int k = 0; k < 500; k++) {
        memcpy(copy, b.p, b.len);
        for (int f = 0; f < 1 + (int) rndn(3); f++) {
            copy[rndn(b.len)] ^= (uint8_t) (1 + rndn(255));
        }
        decode_any(copy, b.len, out, N);
    }
    /* Damage the body itself, behind a valid header and check, compressed and stored. */
    size_t blen = (size_t) ZSTD_getFrameContentSize(b.p + 20, b.len - 20);
    uint8_t *body = malloc(blen), *dmg = malloc(blen), *blk = malloc(2 * blen + 1024);
    assert_non_null(body);
    assert_non_null(dmg);
    assert_non_null(blk);
    assert_int_equal(ZSTD_decompress(body, blen, b.p + 20, b.len - 20), blen);
    size_t l = rebuild(blk, 2 * blen + 1024, body, blen, N, false);
    size_t got = 0;
    assert_int_equal(stor__block_decode(blk, l, out, N, &got), 0);
    for (int k = 0; k < 2000; k++) {
        memcpy(dmg, body, blen);
        size_t dl = blen;
        if (k % 5 == 0) {
            dl = rndn(blen + 1);
        }
        for (int f = 0; f < 1 + (int) rndn(4); f++) {
            dmg[rndn(dl > 0 ? dl : 1)] = (uint8_t) rnd();
        }
        l = rebuild(blk, 2 * blen + 1024, dmg, dl, k % 3 == 0 ? 1 + rndn(N) : N, k % 4 == 0);
        decode_any(blk, l, out, N);
    }
    free(body);
    free(dmg);
    free(blk);
    free(copy);
    stor__buf_free(&b);
}

/* ---- row blocks (rows.c) ---- */

/* Random records of one window, each group (exporter, identity, present, ports) often the
 * previous record's; start times before, in and after the window. */
static void
rnd_rows(struct flow_rec *recs, size_t n, uint16_t flowlog, uint32_t window)
{
    for (size_t i = 0; i < n; i++) {
        struct flow_rec *r = &recs[i];
        rnd_rec(r);
        r->flowlog = flowlog;
        r->window = window;
        r->start_ms = (uint64_t) window * 1000u - 3600000u + rndn(5000000);
        if (rndn(100) == 0) {
            r->start_ms = 0; /* no time at all */
            r->end_ms = rndn(2) ? 0 : r->end_ms;
        }
        if (i == 0) {
            continue;
        }
        const struct flow_rec *q = &recs[i - 1];
        if (rndn(4) != 0) {
            memcpy(r->exporter, q->exporter, 16);
            r->exporter_port = q->exporter_port;
            r->domain = q->domain;
            r->sampling = q->sampling;
            r->version = rndn(20) ? q->version : r->version; /* one field off now and then */
        }
        if (rndn(4) != 0) {
            memcpy(r->instance_id, q->instance_id, FLOW_ID_MAX);
            memcpy(r->snid, q->snid, FLOW_ID_MAX);
            memcpy(r->account_id, q->account_id, FLOW_ID_MAX);
        }
        if (rndn(2) != 0) {
            r->present = q->present;
        }
        if (rndn(2) != 0) {
            r->inport = q->inport;
            r->outport = rndn(20) ? q->outport : r->outport;
        }
    }
}

static void
test_rows_roundtrip(void **state)
{
    (void) state;
    enum { N = 2500, PER = 1000 };
    struct flow_rec *recs = malloc(N * sizeof(*recs)), *out = malloc(PER * sizeof(*out));
    struct stor_buf blk = {0};
    assert_non_null(recs);
    assert_non_null(out);
    rng_state = 11;
    for (int round = 0; round < 4; round++) {
        struct stor_rows rs = {.per = PER};
        uint32_t window = 1795323600u + (uint32_t) round * 600u;
        rnd_rows(recs, N, (uint16_t) round, window);
        for (size_t i = 0; i < N; i++) {
            assert_int_equal(stor__rows_add(&rs, &recs[i]), 0);
        }
        assert_int_equal(rs.ncut, (N + PER - 1) / PER);
        for (size_t c = 0; c < rs.ncut; c++) {
            size_t len = stor__rows_block_len(&rs, c), got = 0,
                   want = c + 1 < rs.ncut ? PER : N % PER;
            assert_int_equal(stor__buf_reserve(&blk, len), 0);
            stor__rows_block_write(&rs, c, blk.p);
            assert_int_equal(stor__block_count(blk.p, len), (long) want);
            assert_int_equal(stor__block_decode(blk.p, len, out, PER, &got), 0);
            assert_int_equal(got, want);
            for (size_t i = 0; i < got; i++) {
                fields_equal(&out[i], &recs[c * PER + i], c * PER + i);
            }
            if (round == 0 && c == 0) {
                /* Truncated anywhere: refused. A damaged byte behind a valid check: refused
                 * or decoded within bounds, never read past the end. */
                uint8_t *copy = malloc(len);
                assert_non_null(copy);
                for (size_t l = 0; l < len; l += 1 + l / 64) {
                    memcpy(copy, blk.p, l);
                    assert_int_equal(stor__block_decode(copy, l, out, PER, &got), STOR_E_CORRUPT);
                }
                for (int k = 0; k < 3000; k++) {
                    memcpy(copy, blk.p, len);
                    copy[24 + rndn(len - 24)] = (uint8_t) rnd();
                    uint32_t chk = (uint32_t) XXH3_64bits(copy + 24, len - 24);
                    for (int b = 0; b < 4; b++) {
                        copy[12 + b] = (uint8_t) (chk >> (24 - 8 * b));
                    }
                    decode_any(copy, len, out, PER);
                }
                free(copy);
            }
        }
        stor__rows_clear(&rs);
        assert_int_equal(rs.n, 0);
        stor__rows_free(&rs);
    }
    /* Typical IPv4 flows of one exporter, without identity or raw IEs: under 40 bytes a row
     * (the commit's cost is the bytes written). */
    struct stor_rows rs = {.per = PER};
    rnd_rows(recs, PER, 1, 1795323600u);
    for (size_t i = 0; i < PER; i++) {
        struct flow_rec *r = &recs[i];
        uint8_t a[4] = {10, 1, (uint8_t) rndn(256), (uint8_t) rndn(256)};
        flow_addr_set_v4(r->srcaddr, a);
        a[0] = 192;
        flow_addr_set_v4(r->dstaddr, a);
        r->start_ms = 1795323600000u + rndn(600000);
        r->end_ms = r->start_ms + rndn(60000);
        r->packets = 1 + rndn(100);
        r->bytes = r->packets * (40 + rndn(1400));
        r->rtt_us = r->skipped = 0;
        r->raw_len = 0;
        r->instance_id[0] = r->snid[0] = r->account_id[0] = '\0';
        memcpy(r->exporter, recs[0].exporter, 16);
        r->exporter_port = recs[0].exporter_port;
        r->domain = recs[0].domain;
        r->sampling = recs[0].sampling;
        r->version = recs[0].version;
        r->present = recs[0].present;
        assert_int_equal(stor__rows_add(&rs, r), 0);
    }
    assert_true(stor__rows_block_len(&rs, 0) < 40u * PER);
    stor__rows_free(&rs);
    stor__buf_free(&blk);
    free(recs);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_random), cmocka_unit_test(test_roundtrip_captures),
        cmocka_unit_test(test_summary_sound),    cmocka_unit_test(test_summary_selective),
        cmocka_unit_test(test_summary_serial),   cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_rows_roundtrip),   cmocka_unit_test(test_worst_case_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
