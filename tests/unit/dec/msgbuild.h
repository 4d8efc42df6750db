/* SPDX-License-Identifier: MIT */
/*
 * msgbuild: a tiny byte builder for decoder unit tests. Messages are written by hand, field by
 * field, big-endian, so a test says exactly which bytes the decoder sees (no encoder involved).
 * Sets/flowsets are opened with mb_set() and closed with mb_set_end(), which patches the
 * 2-byte length; mb_done() patches the IPFIX message length. Also a small decode harness
 * (struct th) so each test creates, uses and frees its own context.
 *
 * Header layouts: NetFlow v5 (Cisco), NetFlow v9 (RFC 3954 §5.1), IPFIX (RFC 7011 §3.1).
 */
#ifndef FLOWLOG_TEST_MSGBUILD_H
#define FLOWLOG_TEST_MSGBUILD_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dec.h"

#define MB_CAP 8192

struct mb {
    uint8_t b[MB_CAP];
    size_t n;
    size_t set_at; /* offset of the open set's header */
    int version;
};

static inline void
mb_init(struct mb *m)
{
    m->n = 0;
    m->set_at = 0;
    m->version = 0;
}

static inline void
mb_u8(struct mb *m, uint64_t v)
{
    assert_true(m->n + 1 <= MB_CAP);
    m->b[m->n++] = (uint8_t) v;
}

static inline void
mb_u16(struct mb *m, uint64_t v)
{
    mb_u8(m, v >> 8);
    mb_u8(m, v);
}

static inline void
mb_u32(struct mb *m, uint64_t v)
{
    mb_u16(m, v >> 16);
    mb_u16(m, v);
}

static inline void
mb_u64(struct mb *m, uint64_t v)
{
    mb_u32(m, v >> 32);
    mb_u32(m, v);
}

/* An unsigned value in n bytes (1..8), big-endian: reduced-size encoding. */
static inline void
mb_uN(struct mb *m, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        mb_u8(m, v >> (8 * (i - 1)));
    }
}

static inline void
mb_bytes(struct mb *m, const void *p, size_t n)
{
    assert_true(m->n + n <= MB_CAP);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static inline void
mb_fill(struct mb *m, uint8_t byte, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mb_u8(m, byte);
    }
}

static inline void
mb_ip4(struct mb *m, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    mb_u8(m, a);
    mb_u8(m, b);
    mb_u8(m, c);
    mb_u8(m, d);
}

/* NetFlow v5 header (24 bytes). */
static inline void
mb_v5_hdr(struct mb *m, uint16_t count, uint32_t uptime, uint32_t secs, uint32_t nsecs,
          uint32_t seq, uint8_t etype, uint8_t eid, uint16_t sampling)
{
    mb_init(m);
    m->version = 5;
    mb_u16(m, 5);
    mb_u16(m, count);
    mb_u32(m, uptime);
    mb_u32(m, secs);
    mb_u32(m, nsecs);
    mb_u32(m, seq);
    mb_u8(m, etype);
    mb_u8(m, eid);
    mb_u16(m, sampling);
}

/* NetFlow v9 header (20 bytes); count is written as given (the decoder ignores it). */
static inline void
mb_v9_hdr(struct mb *m, uint16_t count, uint32_t uptime, uint32_t secs, uint32_t seq,
          uint32_t source_id)
{
    mb_init(m);
    m->version = 9;
    mb_u16(m, 9);
    mb_u16(m, count);
    mb_u32(m, uptime);
    mb_u32(m, secs);
    mb_u32(m, seq);
    mb_u32(m, source_id);
}

/* IPFIX message header (16 bytes); the length is patched by mb_done(). */
static inline void
mb_ipfix_hdr(struct mb *m, uint32_t export_s, uint32_t seq, uint32_t domain)
{
    mb_init(m);
    m->version = 10;
    mb_u16(m, 10);
    mb_u16(m, 0);
    mb_u32(m, export_s);
    mb_u32(m, seq);
    mb_u32(m, domain);
}

/* Open a set / flowset: id and a length placeholder. */
static inline void
mb_set(struct mb *m, uint16_t id)
{
    m->set_at = m->n;
    mb_u16(m, id);
    mb_u16(m, 0);
}

/* Close the open set, patching its length (header included). */
static inline void
mb_set_end(struct mb *m)
{
    size_t len = m->n - m->set_at;
    m->b[m->set_at + 2] = (uint8_t) (len >> 8);
    m->b[m->set_at + 3] = (uint8_t) len;
}

static inline void
mb_patch16(struct mb *m, size_t at, uint16_t v)
{
    m->b[at] = (uint8_t) (v >> 8);
    m->b[at + 1] = (uint8_t) v;
}

/* Finish the message: IPFIX gets its length patched in. */
static inline void
mb_done(struct mb *m)
{
    if (m->version == 10) {
        mb_patch16(m, 2, (uint16_t) m->n);
    }
}

/* IANA field specifier {id, len}; an enterprise one sets the top bit and adds the PEN. */
static inline void
mb_field(struct mb *m, uint16_t id, uint16_t len)
{
    mb_u16(m, id);
    mb_u16(m, len);
}

static inline void
mb_efield(struct mb *m, uint32_t pen, uint16_t id, uint16_t len)
{
    mb_u16(m, 0x8000u | id);
    mb_u16(m, len);
    mb_u32(m, pen);
}

/* IPFIX variable-length value: 1-byte length below 255, else 255 and a 2-byte length. */
static inline void
mb_varlen(struct mb *m, const void *p, size_t n)
{
    if (n < 255) {
        mb_u8(m, n);
    } else {
        mb_u8(m, 255);
        mb_u16(m, n);
    }
    mb_bytes(m, p, n);
}

/* ---- decode harness ---- */

#define TH_CAP 64

struct th {
    struct dec_ctx *ctx;
    struct dec_src src;
    struct flow_rec recs[TH_CAP];
    struct dec_sink sink;
    struct dec_msg msg;
};

static inline void
th_src(struct dec_src *s, uint8_t last, uint16_t port, uint8_t transport)
{
    memset(s, 0, sizeof(*s));
    s->addr[10] = 0xff;
    s->addr[11] = 0xff;
    s->addr[12] = 192;
    s->addr[13] = 0;
    s->addr[14] = 2;
    s->addr[15] = last;
    s->port = port;
    s->transport = transport;
}

/* Heap-allocated: struct flow_rec[64] is too big for cmocka's default stack comfort. */
static inline struct th *
th_new(const struct dec_cfg *cfg)
{
    struct th *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(dec_ctx_create(&t->ctx, cfg), 0);
    th_src(&t->src, 1, 2055, DEC_TR_UDP);
    t->sink.recs = t->recs;
    t->sink.cap = TH_CAP;
    return t;
}

static inline void
th_free(struct th *t)
{
    dec_ctx_destroy(t->ctx);
    free(t);
}

/* Decode m from t->src; the sink is emptied first. Returns dec_decode's code. */
static inline int
th_decode(struct th *t, const struct mb *m, uint64_t now_ms)
{
    t->sink.n = 0;
    return dec_decode(t->ctx, &t->src, m->b, m->n, now_ms, &t->sink, &t->msg);
}

static inline const struct dec_stats *
th_stats(const struct th *t)
{
    return dec_ctx_stats(t->ctx);
}

/* The raw IE (pen, id) of a record, or NULL; *len gets its length. */
static inline const uint8_t *
th_raw(const struct flow_rec *r, uint32_t pen, uint16_t id, uint16_t *len)
{
    size_t off = 0;
    struct flow_raw_ie ie;
    while (flow_raw_next(r, &off, &ie)) {
        if (ie.pen == pen && ie.id == id) {
            *len = ie.len;
            return ie.val;
        }
    }
    return NULL;
}

/* The IPv4-mapped form of a.b.c.d, for comparing with flow_rec addresses. */
static inline void
th_v4(uint8_t out[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    const uint8_t v[4] = {a, b, c, d};
    flow_addr_set_v4(out, v);
}

#endif
