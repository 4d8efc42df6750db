/* SPDX-License-Identifier: MIT */
/*
 * The export encoder's message framing and public API (enc.h): struct flow_rec to NetFlow
 * v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages. It builds one message at a time in
 * a buffer of cfg.max_msg bytes and hands it to the caller's emit callback; sending, timers
 * and choosing when to flush are the caller's (flowprobe's export.c).
 *
 * Templates (v9 and IPFIX) are built in tmpl.c, one per record variant (enum enc_variant),
 * and v5's fixed records in v5.c. A template is written into a message just before the first
 * record that needs it, once per refresh epoch; a new epoch starts, when a message is begun,
 * every tmpl_refresh_msgs messages or tmpl_refresh_ms milliseconds (RFC 7011 §8.4, RFC 3954
 * §9). So a variant that is never used is never announced, and one that is used is announced
 * at most once per epoch and always before its data.
 *
 * Sequence numbers: IPFIX counts the data records (flow and options) sent before the message
 * in this domain (RFC 7011 §3.1); v9 counts the messages (RFC 3954 §5.1); v5 counts the flows.
 *
 * Times. IPFIX writes absolute milliseconds (152/153). v9 and v5 write sysUpTime
 * milliseconds, start - boot_ms, modulo 2^32 (the decoder's signed difference handles the
 * 49.7-day wrap). The v9 header's sysUpTime and unix_secs describe the same instant: the
 * emit time rounded down to the second, so that a collector's unix_secs - sysUpTime + First
 * gives the start to the millisecond. v5 has unix_nsecs and uses the exact emit time.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "enc_int.h"
#include "flow_bytes.h"

/* ---- messages ---- */

static size_t
hdr_len(const struct enc_ctx *e)
{
    return e->cfg.version == 10 ? ENC_IPFIX_HDR : e->cfg.version == 9 ? ENC_V9_HDR : ENC_V5_HDR;
}

/* v9 flowsets end on a 32-bit boundary (RFC 3954 §5.3); sets start aligned, so the message
   offset tells the padding. IPFIX sets are not padded. */
static size_t
pad_at(const struct enc_ctx *e, size_t off)
{
    return e->cfg.version == 9 ? (4u - off % 4u) % 4u : 0u;
}

static int32_t
tmpl_set_id(const struct enc_ctx *e, bool options)
{
    if (e->cfg.version == 10) {
        return options ? 3 : 2;
    }
    return options ? 1 : 0;
}

static bool
refresh_due(const struct enc_ctx *e, uint64_t now_ms)
{
    const struct enc_cfg *c = &e->cfg;

    if (c->tmpl_refresh_msgs != UINT32_MAX && e->epoch_msgs >= c->tmpl_refresh_msgs) {
        return true;
    }
    /* A clock that went back wraps the difference: templates are resent, which is safe. */
    return c->tmpl_refresh_ms != UINT32_MAX && now_ms - e->epoch_ms >= c->tmpl_refresh_ms;
}

void
enc__msg_begin(struct enc_ctx *e, uint64_t now_ms)
{
    e->len = hdr_len(e);
    e->set_id = -1;
    e->msg_items = 0;
    e->msg_data = 0;
    e->msg_flows = 0;
    if (e->epoch == 0 || refresh_due(e, now_ms)) {
        e->epoch++; /* every template is due again */
        e->epoch_msgs = 0;
        e->epoch_ms = now_ms;
    }
}

/* Close the open set: pad it (v9) and write its length. */
static void
set_close(struct enc_ctx *e)
{
    if (e->set_id < 0) {
        return;
    }
    size_t pad = pad_at(e, e->len);
    memset(e->buf + e->len, 0, pad);
    e->len += pad;
    flow_put_be(e->buf + e->set_off + 2, e->len - e->set_off, 2);
    e->set_id = -1;
}

/* Set header (IPFIX §3.3.2, v9 §5.3): id (2), length including this header (2). */
static void
set_open(struct enc_ctx *e, int32_t id)
{
    set_close(e);
    e->set_off = e->len;
    flow_put_be(e->buf + e->len, (uint64_t) id, 2);
    e->len += 4;
    e->set_id = id;
}

/*
 * Message headers, all fields big-endian:
 *
 *   IPFIX (RFC 7011 §3.1)         v9 (RFC 3954 §5.1)            v5
 *   0  2  version 10              0  2  version 9               0  2  version 5
 *   2  2  length                  2  2  count (all records)     2  2  count (1..30)
 *   4  4  export time, seconds    4  4  sysUpTime, ms           4  4  sysUpTime, ms
 *   8  4  sequence (data records) 8  4  unix_secs               8  4  unix_secs
 *   12 4  observation domain      12 4  sequence (messages)     12 4  unix_nsecs
 *                                 16 4  source id               16 4  flow_sequence (flows)
 *                                                               20 1  engine_type
 *                                                               21 1  engine_id
 *                                                               22 2  sampling: mode 1 (2
 *                                                                     bits), interval (14)
 */
static void
hdr_write(struct enc_ctx *e, uint64_t now_ms)
{
    uint8_t *p = e->buf;
    uint64_t secs = now_ms / 1000u;

    flow_put_be(p, e->cfg.version, 2);
    if (e->cfg.version == 10) {
        flow_put_be(p + 2, e->len, 2);
        flow_put_be(p + 4, secs, 4);
        flow_put_be(p + 8, e->seq, 4);
        flow_put_be(p + 12, e->cfg.domain, 4);
    } else if (e->cfg.version == 9) {
        flow_put_be(p + 2, e->msg_items, 2);
        flow_put_be(p + 4, secs * 1000u - e->cfg.boot_ms, 4); /* the same instant as unix_secs */
        flow_put_be(p + 8, secs, 4);
        flow_put_be(p + 12, e->seq, 4);
        flow_put_be(p + 16, e->cfg.domain, 4);
    } else {
        flow_put_be(p + 2, e->msg_flows, 2);
        flow_put_be(p + 4, now_ms - e->cfg.boot_ms, 4);
        flow_put_be(p + 8, secs, 4);
        flow_put_be(p + 12, (now_ms % 1000u) * 1000000u, 4);
        flow_put_be(p + 16, e->seq, 4);
        flow_put_be(p + 20, e->cfg.domain >> 8, 1);
        flow_put_be(p + 21, e->cfg.domain, 1);
        flow_put_be(p + 22, e->cfg.sampling > 0 ? (0x4000u | e->cfg.sampling) : 0u, 2);
    }
}

int
enc__msg_emit(struct enc_ctx *e, uint64_t now_ms, enc_emit_fn *emit, void *arg)
{
    set_close(e);
    hdr_write(e, now_ms);
    assert(e->len <= e->cfg.max_msg);
    int rc = emit(arg, e->buf, e->len);
    e->stats.messages++;
    e->stats.octets += e->len;
    if (rc != 0) {
        e->stats.emit_errors++;
    }
    /* Sent or lost on the way, its numbers are used: the collector will count the gap. */
    e->seq += e->cfg.version == 10 ? e->msg_data : e->cfg.version == 9 ? 1u : e->msg_flows;
    e->epoch_msgs++;
    e->len = 0;
    return rc;
}

/* Message length after adding a record of rlen bytes of template i, sets closed. */
static size_t
plan_len(const struct enc_ctx *e, unsigned i, size_t rlen)
{
    const struct enc_tmpl *t = &e->tmpls[i];
    size_t len = e->len;
    int32_t open = e->set_id;

    if (e->sent[i] != e->epoch) {
        int32_t ts = tmpl_set_id(e, t->options);
        if (open != ts) {
            len += pad_at(e, len) + 4u;
            open = ts;
        }
        len += t->wire_len;
    }
    if (open != t->id) {
        len += pad_at(e, len) + 4u;
    }
    len += rlen;
    return len + pad_at(e, len);
}

/*
 * Make room for a data record of template i and rlen bytes: emit the message first when it
 * would not fit, write the template when this epoch has not had it, open the data set.
 * *out is where the record goes. Returns 0 or emit's code (the room is made either way).
 */
static int
reserve(struct enc_ctx *e, unsigned i, size_t rlen, uint64_t now_ms, enc_emit_fn *emit, void *arg,
        uint8_t **out)
{
    const struct enc_tmpl *t = &e->tmpls[i];
    int rc = 0;

    if (e->len == 0) {
        enc__msg_begin(e, now_ms);
    }
    if (plan_len(e, i, rlen) > e->cfg.max_msg) {
        rc = enc__msg_emit(e, now_ms, emit, arg);
        enc__msg_begin(e, now_ms);
    }
    assert(plan_len(e, i, rlen) <= e->cfg.max_msg); /* ENC_MSG_MIN sees to it */
    if (e->sent[i] != e->epoch) {
        int32_t ts = tmpl_set_id(e, t->options);
        if (e->set_id != ts) {
            set_open(e, ts);
        }
        enc__tmpl_write(e->buf + e->len, t, e->cfg.version);
        e->len += t->wire_len;
        e->sent[i] = e->epoch;
        e->msg_items++;
        e->stats.templates++;
    }
    if (e->set_id != t->id) {
        set_open(e, t->id);
    }
    *out = e->buf + e->len;
    e->len += rlen;
    e->msg_items++;
    e->msg_data++;
    return rc;
}

/* ---- public ---- */

static void *
mem_alloc(const struct dec_alloc *a, size_t n)
{
    return a->alloc != NULL ? a->alloc(a->arg, n) : calloc(1, n);
}

static void
mem_free(const struct dec_alloc *a, void *p)
{
    if (p == NULL) {
        return;
    }
    if (a->release != NULL) {
        a->release(a->arg, p);
    } else {
        free(p);
    }
}

/* Apply the defaults to *c and check it; 0 or ENC_E_CONFIG. */
static int
cfg_check(struct enc_cfg *c)
{
    c->version = c->version == 0 ? 10 : c->version;
    if (c->version != 5 && c->version != 9 && c->version != 10) {
        return ENC_E_CONFIG;
    }
    if (c->max_msg == 0) {
        c->max_msg = (uint16_t) (c->version == 5 ? ENC_MSG_DEFAULT_V5 : ENC_MSG_DEFAULT);
    }
    c->identity_pen = c->identity_pen == 0 ? DEC_PEN_DEFAULT : c->identity_pen;
    c->tmpl_refresh_msgs = c->tmpl_refresh_msgs == 0 ? 20u : c->tmpl_refresh_msgs;
    c->tmpl_refresh_ms = c->tmpl_refresh_ms == 0 ? 60000u : c->tmpl_refresh_ms;
    if (c->version == 5) {
        bool bad = c->max_msg < ENC_MSG_MIN_V5 || c->domain > 0xffffu || c->sampling > 0x3fffu;
        return bad ? ENC_E_CONFIG : 0;
    }
    return c->max_msg < ENC_MSG_MIN ? ENC_E_CONFIG : 0;
}

int
enc_create(struct enc_ctx **out, const struct enc_cfg *cfg)
{
    struct enc_cfg c = {0};
    int rc;

    if (cfg != NULL) {
        c = *cfg;
    }
    if ((rc = cfg_check(&c)) != 0) {
        return rc;
    }
    struct enc_ctx *e = mem_alloc(&c.alloc, sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    memset(e, 0, sizeof(*e));
    e->cfg = c;
    e->buf = mem_alloc(&c.alloc, c.max_msg);
    if (e->buf == NULL) {
        goto free_ctx;
    }
    e->set_id = -1;
    e->v5_max = (c.max_msg - ENC_V5_HDR) / ENC_V5_REC;
    e->v5_max = e->v5_max > ENC_V5_MAX_RECS ? ENC_V5_MAX_RECS : e->v5_max;
    if (c.version != 5) {
        enc__tmpls_build(e);
    }
    *out = e;
    return 0;
free_ctx:
    mem_free(&c.alloc, e);
    return -ENOMEM;
}

void
enc_destroy(struct enc_ctx *e)
{
    if (e == NULL) {
        return;
    }
    struct dec_alloc a = e->cfg.alloc;
    mem_free(&a, e->buf);
    mem_free(&a, e);
}

int
enc_add(struct enc_ctx *e, const struct flow_rec *r, uint64_t now_ms, enc_emit_fn *emit, void *arg)
{
    if (e->cfg.version == 5) {
        return enc__v5_add(e, r, now_ms, emit, arg);
    }
    unsigned v = enc__variant_of(e, r, enc__rec_is_v4(r));
    const char *const str[3] = {r->instance_id, r->snid, r->account_id};
    size_t rlen = enc__rec_len(&e->tmpls[v], str);
    uint8_t *p;
    int rc = reserve(e, v, rlen, now_ms, emit, arg, &p);

    enc__flow_write(e, p, &e->tmpls[v], r);
    e->stats.records++;
    return rc;
}

static int
opt_add(struct enc_ctx *e, unsigned kind, const struct enc_optvals *o, uint64_t now_ms,
        enc_emit_fn *emit, void *arg)
{
    unsigned i = VAR_COUNT + kind;
    uint8_t *p;
    int rc = reserve(e, i, enc__rec_len(&e->tmpls[i], o->str), now_ms, emit, arg, &p);

    enc__opt_write(e, p, &e->tmpls[i], o);
    e->stats.options_records++;
    return rc;
}

int
enc_options(struct enc_ctx *e, const struct enc_stats_opt *st, uint64_t now_ms, enc_emit_fn *emit,
            void *arg)
{
    struct enc_optvals o = {0};
    int rc = 0, r;

    if (e->cfg.version == 5) {
        return 0;
    }
    if (st != NULL && st->stats) {
        o.messages = e->stats.messages;
        o.flows = e->stats.records;
        o.octets = e->stats.octets;
        o.ign_packets = st->ignored_packets;
        o.ign_octets = st->ignored_octets;
        r = opt_add(e, OPT_STATS, &o, now_ms, emit, arg);
        rc = rc != 0 ? rc : r;
    }
    if (e->cfg.sampling > 0) {
        r = opt_add(e, OPT_SAMPLING, &o, now_ms, emit, arg);
        rc = rc != 0 ? rc : r;
    }
    if (st != NULL && e->cfg.version == 10 &&
        (st->instance_id != NULL || st->snid != NULL || st->account_id != NULL)) {
        o.str[0] = st->instance_id;
        o.str[1] = st->snid;
        o.str[2] = st->account_id;
        r = opt_add(e, OPT_IDENTITY, &o, now_ms, emit, arg);
        rc = rc != 0 ? rc : r;
    }
    return rc;
}

int
enc_flush(struct enc_ctx *e, uint64_t now_ms, enc_emit_fn *emit, void *arg)
{
    if (e->len <= hdr_len(e)) {
        e->len = 0;
        return 0;
    }
    return enc__msg_emit(e, now_ms, emit, arg);
}

const struct enc_stats *
enc_ctx_stats(const struct enc_ctx *e)
{
    return &e->stats;
}

const char *
enc_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case ENC_E_CONFIG:
        return "invalid encoder configuration";
    case ENC_E_V6:
        return "NetFlow v5 cannot carry an IPv6 record";
    case -ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
