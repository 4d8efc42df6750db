/* SPDX-License-Identifier: MIT */
/*
 * The export encoder (enc.h): struct flow_rec to NetFlow v5, NetFlow v9 (RFC 3954) and
 * IPFIX (RFC 7011) messages. It builds one message at a time in a buffer of cfg.max_msg bytes
 * and hands it to the caller's emit callback; sending, timers and choosing when to flush are
 * the caller's (flowprobe's export.c). Every value is written byte by byte, big-endian.
 *
 * Templates (v9 and IPFIX). A record picks one of a fixed set of template variants from what
 * it carries: address family, ICMP or not, direction or not, and in IPFIX each identity
 * string and rtt or not (enum variant). Variant v has template id 256 + v; the options
 * templates follow at 384. A template is written into a message just before the first record
 * that needs it, once per refresh epoch; a new epoch starts, when a message is begun, every
 * tmpl_refresh_msgs messages or tmpl_refresh_ms milliseconds (RFC 7011 §8.4, RFC 3954 §9).
 * So a variant that is never used is never announced, and one that is used is announced at
 * most once per epoch and always before its data.
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

#include "enc.h"

#define IPFIX_HDR   16u
#define V9_HDR      20u
#define V5_HDR      24u
#define V5_REC      48u
#define V5_MAX_RECS 30u
#define VARLEN      0xffffu /* template field length: variable (RFC 7011 §7) */
#define STR_MAX     (FLOW_ID_MAX - 1)
#define TMPL_FIELDS 24u

/* Template variants of a flow record. The data template id is 256 + the variant bits. */
enum variant {
    VAR_V6 = 1u << 0,
    VAR_ICMP = 1u << 1,
    VAR_DIR = 1u << 2,
    VAR_INST = 1u << 3, /* IPFIX only, like the three below */
    VAR_SNID = 1u << 4,
    VAR_ACCT = 1u << 5,
    VAR_RTT = 1u << 6,
    VAR_COUNT = 1u << 7,
};
#define VAR_V9_MASK (VAR_V6 | VAR_ICMP | VAR_DIR)

/* Options templates, indexed after the variants: template id 256 + VAR_COUNT + kind. */
enum opt_kind {
    OPT_STATS = 0,
    OPT_SAMPLING,
    OPT_IDENTITY,
    OPT_COUNT,
};
#define TMPL_COUNT (VAR_COUNT + OPT_COUNT)

struct field {
    uint32_t pen;
    uint16_t id;
    uint16_t len; /* VARLEN for a variable-length string */
};

struct tmpl {
    uint16_t id;
    bool options;
    uint16_t nscope; /* the first nscope fields are scope fields */
    uint16_t nfields;
    uint16_t wire_len; /* bytes of the template record */
    uint16_t fixed;    /* bytes of a data record, variable fields counted as their 1-byte
                          length */
    struct field f[TMPL_FIELDS];
};

struct enc_ctx {
    struct enc_cfg cfg;
    struct enc_stats stats;
    uint8_t *buf;              /* cfg.max_msg bytes: the message being filled */
    size_t len;                /* bytes used in buf; 0 = no message begun */
    size_t set_off;            /* where the open set's header is */
    int32_t set_id;            /* the open set's id; -1 = none */
    uint32_t msg_items;        /* v9 header count: template and data records in the message */
    uint32_t msg_data;         /* IPFIX: data records (flow and options) in the message */
    uint32_t msg_flows;        /* v5: records in the message */
    uint32_t v5_max;           /* v5: records per message */
    uint32_t seq;              /* sequence number of the next message */
    uint32_t epoch;            /* template refresh epoch; 0 until the first message */
    uint32_t epoch_msgs;       /* messages emitted in this epoch */
    uint64_t epoch_ms;         /* when this epoch began */
    uint32_t sent[TMPL_COUNT]; /* epoch in which each template was last written */
    struct tmpl tmpls[TMPL_COUNT];
};

/* The values an options record carries. */
struct optvals {
    uint64_t messages;
    uint64_t flows;
    uint64_t octets;
    uint64_t ign_packets;
    uint64_t ign_octets;
    const char *str[3]; /* instance-id, snid, account-id */
};

/* ---- bytes ---- */

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t) (v >> (8u * (n - 1u - i)));
    }
}

static size_t
str_len(const char *s)
{
    size_t n = 0;
    while (s != NULL && n < STR_MAX && s[n] != '\0') {
        n++;
    }
    return n;
}

/* Write a variable-length string (RFC 7011 §7: one length byte, < 255); returns bytes used. */
static size_t
put_str(uint8_t *p, const char *s)
{
    size_t n = str_len(s);
    p[0] = (uint8_t) n;
    if (n > 0) {
        memcpy(p + 1, s, n);
    }
    return 1u + n;
}

static uint64_t
clamp(uint64_t v, uint64_t max, bool *clamped)
{
    if (v > max) {
        *clamped = true;
        return max;
    }
    return v;
}

/* ---- templates ---- */

static void
add_field(struct tmpl *t, uint32_t pen, uint16_t id, uint16_t len)
{
    assert(t->nfields < TMPL_FIELDS);
    t->f[t->nfields].pen = pen;
    t->f[t->nfields].id = id;
    t->f[t->nfields].len = len;
    t->nfields++;
}

/*
 * The data template of variant v. Field order, sizes and offsets (IPv4 / IPv6, neither ICMP
 * nor optional fields before; an ICMP record has one 2-byte field instead of the two ports,
 * so everything after it moves 2 bytes up):
 *
 *   IPFIX  offset  size  IE                                v9  offset  size  type
 *          0       8     152 flowStartMilliseconds             0       4     22 FIRST_SWITCHED
 *          8       8     153 flowEndMilliseconds               4       4     21 LAST_SWITCHED
 *          16      4/16  8 / 27 source address                 8       4/16  8 / 27
 *          20/32   4/16  12 / 28 destination address           12/24   4/16  12 / 28
 *          24/48   2     7 sourceTransportPort                 16/40   2     7
 *          26/50   2     11 destinationTransportPort           18/42   2     11
 *                        (ICMP: 32 / 139 icmpTypeCode, 2)                     (ICMP: 32 / 139)
 *          28/52   1     4 protocolIdentifier                  20/44   1     4
 *          29/53   1     5 ipClassOfService                    21/45   1     5
 *          30/54   2     6 tcpControlBits                      22/46   1     6
 *          32/56   4     10 ingressInterface                   23/47   4     10
 *          36/60   4     14 egressInterface                    27/51   4     14
 *          40/64   8     2 packetDeltaCount                    31/55   8     2
 *          48/72   8     1 octetDeltaCount                     39/63   8     1
 *          56/80   1     89 forwardingStatus                   47/71   1     89
 *          then, each when the variant has it:
 *                  1     61 flowDirection (0 in, 1 out)                1     61
 *                  4     PEN 4 rtt, microseconds
 *                  1+n   PEN 1 instance-id  (length byte, then n bytes, no NUL)
 *                  1+n   PEN 2 snid
 *                  1+n   PEN 3 account-id
 */
static void
build_data(struct tmpl *t, uint8_t version, unsigned v, uint32_t pen)
{
    bool ipfix = version == 10;
    bool v6 = (v & VAR_V6) != 0;

    add_field(t, 0, ipfix ? 152 : 22, ipfix ? 8 : 4);
    add_field(t, 0, ipfix ? 153 : 21, ipfix ? 8 : 4);
    add_field(t, 0, v6 ? 27 : 8, v6 ? 16 : 4);
    add_field(t, 0, v6 ? 28 : 12, v6 ? 16 : 4);
    if (v & VAR_ICMP) {
        add_field(t, 0, v6 ? 139 : 32, 2);
    } else {
        add_field(t, 0, 7, 2);
        add_field(t, 0, 11, 2);
    }
    add_field(t, 0, 4, 1);
    add_field(t, 0, 5, 1);
    add_field(t, 0, 6, ipfix ? 2 : 1);
    add_field(t, 0, 10, 4);
    add_field(t, 0, 14, 4);
    add_field(t, 0, 2, 8);
    add_field(t, 0, 1, 8);
    add_field(t, 0, 89, 1);
    if (v & VAR_DIR) {
        add_field(t, 0, 61, 1);
    }
    if (!ipfix) {
        return; /* v9 has no enterprise numbers: identity and rtt are not carried */
    }
    if (v & VAR_RTT) {
        add_field(t, pen, DEC_IE_RTT_US, 4);
    }
    if (v & VAR_INST) {
        add_field(t, pen, DEC_IE_INSTANCE_ID, VARLEN);
    }
    if (v & VAR_SNID) {
        add_field(t, pen, DEC_IE_SNID, VARLEN);
    }
    if (v & VAR_ACCT) {
        add_field(t, pen, DEC_IE_ACCOUNT_ID, VARLEN);
    }
}

/*
 * The options templates. The scope is the observation domain: IPFIX IE 149
 * observationDomainId, v9 scope type 1 "System" (its value the source id). Records:
 *
 *   stats     offset size  field             sampling  offset size  IPFIX / v9
 *             0      4     scope: domain               0      4     scope: domain
 *             4      8     41 exportedMessageTotalCount 4     4     305 samplingPacketInterval (1)
 *             12     8     42 exportedFlowRecordTotalCount            / 34 SAMPLING_INTERVAL (N)
 *             20     8     40 exportedOctetTotalCount   8     4/1   306 samplingPacketSpace
 *             28     8     164 ignoredPacketTotalCount              (N-1) / 35 algorithm (1)
 *             36     8     165 ignoredOctetTotalCount
 *             44     8     160 systemInitTimeMilliseconds
 *
 *   identity (IPFIX) offset size  field
 *             0      4     149 observationDomainId
 *             4      1+n   PEN 1 instance-id, then PEN 2 snid and PEN 3 account-id likewise
 */
static void
build_options(struct tmpl *t, uint8_t version, unsigned kind, uint32_t pen)
{
    bool ipfix = version == 10;

    t->options = true;
    t->nscope = 1;
    add_field(t, 0, ipfix ? 149 : 1, 4);
    if (kind == OPT_STATS) {
        static const uint16_t ids[] = {41, 42, 40, 164, 165, 160};
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            add_field(t, 0, ids[i], 8);
        }
    } else if (kind == OPT_SAMPLING) {
        add_field(t, 0, ipfix ? 305 : 34, 4);
        add_field(t, 0, ipfix ? 306 : 35, ipfix ? 4 : 1);
    } else {
        add_field(t, pen, DEC_IE_INSTANCE_ID, VARLEN);
        add_field(t, pen, DEC_IE_SNID, VARLEN);
        add_field(t, pen, DEC_IE_ACCOUNT_ID, VARLEN);
    }
}

/* Fill in the id and the two lengths of a built template. */
static void
tmpl_finish(struct tmpl *t, uint8_t version, uint16_t id)
{
    size_t wire = t->options ? 6u : 4u; /* id, count[, scope count or scope length] */
    size_t fixed = 0;

    t->id = id;
    for (uint16_t i = 0; i < t->nfields; i++) {
        wire += (version == 10 && t->f[i].pen != 0) ? 8u : 4u;
        fixed += t->f[i].len == VARLEN ? 1u : t->f[i].len;
    }
    t->wire_len = (uint16_t) wire;
    t->fixed = (uint16_t) fixed;
}

/*
 * Write a template record. Layouts (all fields 2 bytes unless said):
 *
 *   IPFIX template (RFC 7011 §3.4.1)       id, field count, fields
 *   IPFIX options template (§3.4.2.2)      id, field count, scope field count, fields
 *   IPFIX field specifier (§3.2)           element id (top bit: enterprise), length,
 *                                          [enterprise number, 4]
 *   v9 template (RFC 3954 §5.2)            id, field count, fields {type, length}
 *   v9 options template (§6.1)             id, scope length (bytes), options length (bytes),
 *                                          scope fields {type, length}, fields {type, length}
 */
static void
tmpl_write(uint8_t *p, const struct tmpl *t, uint8_t version)
{
    size_t o = 0;

    put_be(p, t->id, 2);
    if (version == 9 && t->options) {
        put_be(p + 2, 4u * t->nscope, 2);
        put_be(p + 4, 4u * (uint32_t) (t->nfields - t->nscope), 2);
        o = 6;
    } else {
        put_be(p + 2, t->nfields, 2);
        o = 4;
        if (t->options) {
            put_be(p + 4, t->nscope, 2);
            o = 6;
        }
    }
    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct field *f = &t->f[i];
        bool ent = version == 10 && f->pen != 0;
        put_be(p + o, ent ? (f->id | 0x8000u) : f->id, 2);
        put_be(p + o + 2, f->len, 2);
        o += 4;
        if (ent) {
            put_be(p + o, f->pen, 4);
            o += 4;
        }
    }
    assert(o == t->wire_len);
}

/* ---- records ---- */

static unsigned
variant_of(const struct enc_ctx *e, const struct flow_rec *r, bool v4)
{
    unsigned v = v4 ? 0u : VAR_V6;

    if (r->protocol == 1 || r->protocol == 58) {
        v |= VAR_ICMP;
    }
    if ((r->present & FLOW_HAS_DIRECTION) &&
        (r->direction == FLOW_DIR_IN || r->direction == FLOW_DIR_OUT)) {
        v |= VAR_DIR;
    }
    v |= (r->present & FLOW_HAS_INSTANCE) ? VAR_INST : 0u;
    v |= (r->present & FLOW_HAS_SNID) ? VAR_SNID : 0u;
    v |= (r->present & FLOW_HAS_ACCOUNT) ? VAR_ACCT : 0u;
    v |= (r->present & FLOW_HAS_RTT) ? VAR_RTT : 0u;
    return e->cfg.version == 10 ? v : v & VAR_V9_MASK;
}

/* IPv4 when every address the record has is IPv4-mapped (an absent one is written 0). */
static bool
rec_is_v4(const struct flow_rec *r)
{
    bool src = !(r->present & FLOW_HAS_SRCADDR) || flow_addr_is_v4(r->srcaddr);
    bool dst = !(r->present & FLOW_HAS_DSTADDR) || flow_addr_is_v4(r->dstaddr);
    return src && dst;
}

static const char *
id_str(const struct flow_rec *r, uint16_t id)
{
    return id == DEC_IE_INSTANCE_ID ? r->instance_id : id == DEC_IE_SNID ? r->snid : r->account_id;
}

static size_t
rec_len(const struct tmpl *t, const char *const str[3])
{
    size_t n = t->fixed;
    for (uint16_t i = 0; i < t->nfields; i++) {
        if (t->f[i].len == VARLEN) {
            n += str_len(str[t->f[i].id - DEC_IE_INSTANCE_ID]);
        }
    }
    return n;
}

/* The value of one fixed-size IANA field of a flow record (template order: build_data). */
static uint64_t
flow_value(const struct enc_ctx *e, const struct flow_rec *r, uint16_t id)
{
    switch (id) {
    case 152:
        return r->start_ms;
    case 153:
        return r->end_ms;
    case 22:
        return (uint32_t) (r->start_ms - e->cfg.boot_ms);
    case 21:
        return (uint32_t) (r->end_ms - e->cfg.boot_ms);
    case 7:
        return r->srcport;
    case 11:
    case 32:
    case 139:
        return r->dstport; /* ICMP: type << 8 | code, as the decoder hands it out */
    case 4:
        return r->protocol;
    case 5:
        return r->tos;
    case 6:
        return r->tcp_flags;
    case 10:
        return r->inport;
    case 14:
        return r->outport;
    case 2:
        return r->packets;
    case 1:
        return r->bytes;
    case 89:
        /* RFC 7270 §4.12: status in the top two bits, 1 forwarded, 2 dropped; reason 0. */
        return r->action == FLOW_ACT_REJECT ? 0x80u : 0x40u;
    case 61:
        return r->direction == FLOW_DIR_OUT ? 1u : 0u;
    default:
        assert(0 && "field not in any data template");
        return 0;
    }
}

static void
flow_write(const struct enc_ctx *e, uint8_t *p, const struct tmpl *t, const struct flow_rec *r)
{
    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct field *f = &t->f[i];
        if (f->len == VARLEN) {
            p += put_str(p, id_str(r, f->id));
        } else if (f->pen != 0) {
            put_be(p, r->rtt_us, f->len); /* the only fixed-size enterprise field */
            p += f->len;
        } else if (f->id == 8 || f->id == 12) {
            memcpy(p, (f->id == 8 ? r->srcaddr : r->dstaddr) + 12, 4);
            p += 4;
        } else if (f->id == 27 || f->id == 28) {
            memcpy(p, f->id == 27 ? r->srcaddr : r->dstaddr, 16);
            p += 16;
        } else {
            put_be(p, flow_value(e, r, f->id), f->len);
            p += f->len;
        }
    }
}

static uint64_t
opt_value(const struct enc_ctx *e, const struct optvals *o, uint16_t id)
{
    switch (id) {
    case 41:
        return o->messages;
    case 42:
        return o->flows;
    case 40:
        return o->octets;
    case 164:
        return o->ign_packets;
    case 165:
        return o->ign_octets;
    case 160:
        return e->cfg.boot_ms;
    case 305:
    case 35:
        return 1; /* IPFIX: select 1 packet ...; v9 SAMPLING_ALGORITHM 1: deterministic */
    case 306:
        return e->cfg.sampling - 1u; /* ... then skip N - 1 (RFC 5476 §6.5.2) */
    case 34:
        return e->cfg.sampling;
    default:
        assert(0 && "field not in any options template");
        return 0;
    }
}

static void
opt_write(const struct enc_ctx *e, uint8_t *p, const struct tmpl *t, const struct optvals *o)
{
    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct field *f = &t->f[i];
        if (i < t->nscope) {
            put_be(p, e->cfg.domain, f->len);
            p += f->len;
        } else if (f->len == VARLEN) {
            p += put_str(p, o->str[f->id - DEC_IE_INSTANCE_ID]);
        } else {
            put_be(p, opt_value(e, o, f->id), f->len);
            p += f->len;
        }
    }
}

/* ---- messages ---- */

static size_t
hdr_len(const struct enc_ctx *e)
{
    return e->cfg.version == 10 ? IPFIX_HDR : e->cfg.version == 9 ? V9_HDR : V5_HDR;
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

static void
msg_begin(struct enc_ctx *e, uint64_t now_ms)
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
    put_be(e->buf + e->set_off + 2, e->len - e->set_off, 2);
    e->set_id = -1;
}

/* Set header (IPFIX §3.3.2, v9 §5.3): id (2), length including this header (2). */
static void
set_open(struct enc_ctx *e, int32_t id)
{
    set_close(e);
    e->set_off = e->len;
    put_be(e->buf + e->len, (uint64_t) id, 2);
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

    put_be(p, e->cfg.version, 2);
    if (e->cfg.version == 10) {
        put_be(p + 2, e->len, 2);
        put_be(p + 4, secs, 4);
        put_be(p + 8, e->seq, 4);
        put_be(p + 12, e->cfg.domain, 4);
    } else if (e->cfg.version == 9) {
        put_be(p + 2, e->msg_items, 2);
        put_be(p + 4, secs * 1000u - e->cfg.boot_ms, 4); /* the same instant as unix_secs */
        put_be(p + 8, secs, 4);
        put_be(p + 12, e->seq, 4);
        put_be(p + 16, e->cfg.domain, 4);
    } else {
        put_be(p + 2, e->msg_flows, 2);
        put_be(p + 4, now_ms - e->cfg.boot_ms, 4);
        put_be(p + 8, secs, 4);
        put_be(p + 12, (now_ms % 1000u) * 1000000u, 4);
        put_be(p + 16, e->seq, 4);
        put_be(p + 20, e->cfg.domain >> 8, 1);
        put_be(p + 21, e->cfg.domain, 1);
        put_be(p + 22, e->cfg.sampling > 0 ? (0x4000u | e->cfg.sampling) : 0u, 2);
    }
}

static int
msg_emit(struct enc_ctx *e, uint64_t now_ms, enc_emit_fn *emit, void *arg)
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
    const struct tmpl *t = &e->tmpls[i];
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
    const struct tmpl *t = &e->tmpls[i];
    int rc = 0;

    if (e->len == 0) {
        msg_begin(e, now_ms);
    }
    if (plan_len(e, i, rlen) > e->cfg.max_msg) {
        rc = msg_emit(e, now_ms, emit, arg);
        msg_begin(e, now_ms);
    }
    assert(plan_len(e, i, rlen) <= e->cfg.max_msg); /* ENC_MSG_MIN sees to it */
    if (e->sent[i] != e->epoch) {
        int32_t ts = tmpl_set_id(e, t->options);
        if (e->set_id != ts) {
            set_open(e, ts);
        }
        tmpl_write(e->buf + e->len, t, e->cfg.version);
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

/*
 * v5 record (Cisco), big-endian:
 *
 *   offset size  field                  offset size  field
 *   0      4     srcaddr                32     2     srcport
 *   4      4     dstaddr                34     2     dstport (ICMP: type << 8 | code)
 *   8      4     nexthop (0)            36     1     pad
 *   12     2     input ifIndex          37     1     tcp_flags
 *   14     2     output ifIndex         38     1     protocol
 *   16     4     dPkts                  39     1     tos
 *   20     4     dOctets                40     2     src_as (0)
 *   24     4     First, sysUpTime ms    42     2     dst_as (0)
 *   28     4     Last, sysUpTime ms     44     1     src_mask (0)
 *                                       45     1     dst_mask (0)
 *                                       46     2     pad
 */
static void
v5_write(struct enc_ctx *e, uint8_t *p, const struct flow_rec *r)
{
    bool clamped = false;

    memset(p, 0, V5_REC);
    memcpy(p, r->srcaddr + 12, 4);
    memcpy(p + 4, r->dstaddr + 12, 4);
    put_be(p + 12, clamp(r->inport, 0xffffu, &clamped), 2);
    put_be(p + 14, clamp(r->outport, 0xffffu, &clamped), 2);
    put_be(p + 16, clamp(r->packets, 0xffffffffu, &clamped), 4);
    put_be(p + 20, clamp(r->bytes, 0xffffffffu, &clamped), 4);
    put_be(p + 24, r->start_ms - e->cfg.boot_ms, 4);
    put_be(p + 28, r->end_ms - e->cfg.boot_ms, 4);
    put_be(p + 32, r->srcport, 2);
    put_be(p + 34, r->dstport, 2);
    p[37] = (uint8_t) r->tcp_flags;
    p[38] = r->protocol;
    p[39] = r->tos;
    if (clamped) {
        e->stats.clamped++;
    }
}

static int
v5_add(struct enc_ctx *e, const struct flow_rec *r, uint64_t now_ms, enc_emit_fn *emit, void *arg)
{
    int rc = 0;

    if (!rec_is_v4(r)) {
        e->stats.refused_v6++;
        return ENC_E_V6;
    }
    if (e->len == 0) {
        msg_begin(e, now_ms);
    } else if (e->msg_flows == e->v5_max) {
        rc = msg_emit(e, now_ms, emit, arg);
        msg_begin(e, now_ms);
    }
    v5_write(e, e->buf + e->len, r);
    e->len += V5_REC;
    e->msg_flows++;
    e->stats.records++;
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

static void
tmpls_build(struct enc_ctx *e)
{
    uint8_t ver = e->cfg.version;

    for (unsigned i = 0; i < TMPL_COUNT; i++) {
        struct tmpl *t = &e->tmpls[i];
        if (i < VAR_COUNT) {
            build_data(t, ver, i, e->cfg.identity_pen);
        } else {
            build_options(t, ver, i - VAR_COUNT, e->cfg.identity_pen);
        }
        tmpl_finish(t, ver, (uint16_t) (256u + i));
    }
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
    e->v5_max = (c.max_msg - V5_HDR) / V5_REC;
    e->v5_max = e->v5_max > V5_MAX_RECS ? V5_MAX_RECS : e->v5_max;
    if (c.version != 5) {
        tmpls_build(e);
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
        return v5_add(e, r, now_ms, emit, arg);
    }
    unsigned v = variant_of(e, r, rec_is_v4(r));
    const char *const str[3] = {r->instance_id, r->snid, r->account_id};
    size_t rlen = rec_len(&e->tmpls[v], str);
    uint8_t *p;
    int rc = reserve(e, v, rlen, now_ms, emit, arg, &p);

    flow_write(e, p, &e->tmpls[v], r);
    e->stats.records++;
    return rc;
}

static int
opt_add(struct enc_ctx *e, unsigned kind, const struct optvals *o, uint64_t now_ms,
        enc_emit_fn *emit, void *arg)
{
    unsigned i = VAR_COUNT + kind;
    uint8_t *p;
    int rc = reserve(e, i, rec_len(&e->tmpls[i], o->str), now_ms, emit, arg, &p);

    opt_write(e, p, &e->tmpls[i], o);
    e->stats.options_records++;
    return rc;
}

int
enc_options(struct enc_ctx *e, const struct enc_stats_opt *st, uint64_t now_ms, enc_emit_fn *emit,
            void *arg)
{
    struct optvals o = {0};
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
    return msg_emit(e, now_ms, emit, arg);
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
