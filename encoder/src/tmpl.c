/* SPDX-License-Identifier: MIT */
/*
 * The encoder's templates (enc.h) and the records written with them.
 *
 * A record picks one of a fixed set of template variants from what it carries: address
 * family, ICMP or not, direction or not, and in IPFIX each identity string and rtt or not
 * (enum enc_variant). Variant v has template id 256 + v; the options templates follow at 384.
 * When a template goes into a message is msg.c's business. Every value is written byte by
 * byte, big-endian (flow_bytes.h).
 */
#include <assert.h>
#include <string.h>

#include "enc_int.h"
#include "flow_bytes.h"

static size_t
str_len(const char *s)
{
    size_t n = 0;
    while (s != NULL && n < ENC_STR_MAX && s[n] != '\0') {
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

/* ---- templates ---- */

static void
add_field(struct enc_tmpl *t, uint32_t pen, uint16_t id, uint16_t len)
{
    assert(t->nfields < ENC_TMPL_FIELDS);
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
build_data(struct enc_tmpl *t, uint8_t version, unsigned v, uint32_t pen)
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
        add_field(t, pen, DEC_IE_INSTANCE_ID, ENC_VARLEN);
    }
    if (v & VAR_SNID) {
        add_field(t, pen, DEC_IE_SNID, ENC_VARLEN);
    }
    if (v & VAR_ACCT) {
        add_field(t, pen, DEC_IE_ACCOUNT_ID, ENC_VARLEN);
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
build_options(struct enc_tmpl *t, uint8_t version, unsigned kind, uint32_t pen)
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
        add_field(t, pen, DEC_IE_INSTANCE_ID, ENC_VARLEN);
        add_field(t, pen, DEC_IE_SNID, ENC_VARLEN);
        add_field(t, pen, DEC_IE_ACCOUNT_ID, ENC_VARLEN);
    }
}

/* Fill in the id and the two lengths of a built template. */
static void
tmpl_finish(struct enc_tmpl *t, uint8_t version, uint16_t id)
{
    size_t wire = t->options ? 6u : 4u; /* id, count[, scope count or scope length] */
    size_t fixed = 0;

    t->id = id;
    for (uint16_t i = 0; i < t->nfields; i++) {
        wire += (version == 10 && t->f[i].pen != 0) ? 8u : 4u;
        fixed += t->f[i].len == ENC_VARLEN ? 1u : t->f[i].len;
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
void
enc__tmpl_write(uint8_t *p, const struct enc_tmpl *t, uint8_t version)
{
    size_t o = 0;

    flow_put_be(p, t->id, 2);
    if (version == 9 && t->options) {
        flow_put_be(p + 2, 4u * t->nscope, 2);
        flow_put_be(p + 4, 4u * (uint32_t) (t->nfields - t->nscope), 2);
        o = 6;
    } else {
        flow_put_be(p + 2, t->nfields, 2);
        o = 4;
        if (t->options) {
            flow_put_be(p + 4, t->nscope, 2);
            o = 6;
        }
    }
    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct enc_field *f = &t->f[i];
        bool ent = version == 10 && f->pen != 0;
        flow_put_be(p + o, ent ? (f->id | 0x8000u) : f->id, 2);
        flow_put_be(p + o + 2, f->len, 2);
        o += 4;
        if (ent) {
            flow_put_be(p + o, f->pen, 4);
            o += 4;
        }
    }
    assert(o == t->wire_len);
}

/* ---- records ---- */

unsigned
enc__variant_of(const struct enc_ctx *e, const struct flow_rec *r, bool v4)
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
bool
enc__rec_is_v4(const struct flow_rec *r)
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

size_t
enc__rec_len(const struct enc_tmpl *t, const char *const str[3])
{
    size_t n = t->fixed;
    for (uint16_t i = 0; i < t->nfields; i++) {
        if (t->f[i].len == ENC_VARLEN) {
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

void
enc__flow_write(const struct enc_ctx *e, uint8_t *p, const struct enc_tmpl *t,
                const struct flow_rec *r)
{
    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct enc_field *f = &t->f[i];
        if (f->len == ENC_VARLEN) {
            p += put_str(p, id_str(r, f->id));
        } else if (f->pen != 0) {
            flow_put_be(p, r->rtt_us, f->len); /* the only fixed-size enterprise field */
            p += f->len;
        } else if (f->id == 8 || f->id == 12) {
            memcpy(p, (f->id == 8 ? r->srcaddr : r->dstaddr) + 12, 4);
            p += 4;
        } else if (f->id == 27 || f->id == 28) {
            memcpy(p, f->id == 27 ? r->srcaddr : r->dstaddr, 16);
            p += 16;
        } else {
            flow_put_be(p, flow_value(e, r, f->id), f->len);
            p += f->len;
        }
    }
}

static uint64_t
opt_value(const struct enc_ctx *e, const struct enc_optvals *o, uint16_t id)
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

void
enc__opt_write(const struct enc_ctx *e, uint8_t *p, const struct enc_tmpl *t,
               const struct enc_optvals *o)
{
    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct enc_field *f = &t->f[i];
        if (i < t->nscope) {
            flow_put_be(p, e->cfg.domain, f->len);
            p += f->len;
        } else if (f->len == ENC_VARLEN) {
            p += put_str(p, o->str[f->id - DEC_IE_INSTANCE_ID]);
        } else {
            flow_put_be(p, opt_value(e, o, f->id), f->len);
            p += f->len;
        }
    }
}

void
enc__tmpls_build(struct enc_ctx *e)
{
    uint8_t ver = e->cfg.version;

    for (unsigned i = 0; i < TMPL_COUNT; i++) {
        struct enc_tmpl *t = &e->tmpls[i];
        if (i < VAR_COUNT) {
            build_data(t, ver, i, e->cfg.identity_pen);
        } else {
            build_options(t, ver, i - VAR_COUNT, e->cfg.identity_pen);
        }
        tmpl_finish(t, ver, (uint16_t) (256u + i));
    }
}
