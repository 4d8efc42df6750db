/* SPDX-License-Identifier: MIT */
/*
 * NetFlow v5, and its fixed-format relatives v1 and v7 (Cisco's fixed formats; fprobe exports
 * v1, v5 and v7, softflowd v1 and v5). Headers and records, all fields big-endian:
 *
 *   header  offset size  field                 record  offset size  field
 *           0      2     version (5)                   0      4     srcaddr
 *           2      2     count (1..30)                 4      4     dstaddr
 *           4      4     sysUptime, ms                 8      4     nexthop      -> raw IE 15
 *           8      4     unix_secs                     12     2     input ifIndex
 *           12     4     unix_nsecs                    14     2     output ifIndex
 *           16     4     flow_sequence (flows)         16     4     dPkts
 *           20     1     engine_type                   20     4     dOctets
 *           21     1     engine_id                     24     4     First, sysUptime ms
 *           22     2     sampling: mode(2) interval(14) 28    4     Last
 *                                                      32     2     srcport
 *                                                      34     2     dstport
 *                                                      36     1     pad
 *                                                      37     1     tcp_flags
 *                                                      38     1     protocol
 *                                                      39     1     tos
 *                                                      40     2     src_as       -> raw IE 16
 *                                                      42     2     dst_as       -> raw IE 17
 *                                                      44     1     src_mask     -> raw IE 9
 *                                                      45     1     dst_mask     -> raw IE 13
 *                                                      46     2     pad
 *
 * v7 (Catalyst switches): the same header with count 1..28 and bytes 20..23 reserved (no
 * engine, no sampling), and the v5 record with a "valid fields" byte at 36, flags at 46 and
 * the router shortcut address at 48..51: 52 bytes. Its flow_sequence counts flows, as v5's.
 *
 * v1: a 16-byte header (version, count 1..24, sysUptime, unix_secs, unix_nsecs: no sequence,
 * so no loss accounting, and no engine) and 48-byte records that match v5's up to dstport,
 * then pad (36..37), protocol (38), tos (39), tcp_flags (40) and padding to 48; no AS numbers
 * or masks, so only the next hop is kept raw.
 *
 * A header count that disagrees with the datagram's size is counted (DEC_R_V5_COUNT, for all
 * three) and the records that are really there are decoded, as tshark does (nfcapd drops the
 * datagram). The domain is engine_type << 8 | engine_id for v5, 0 for v1 and v7.
 */
#include <string.h>

#include "dec_int.h"

#define V5_HDR 24u
#define V5_REC 48u

/* What tells the three fixed formats apart. */
struct fixed_fmt {
    uint8_t version;
    uint8_t max_count;
    uint8_t hdr_len;
    uint8_t rec_len;
    uint8_t off_flags; /* tcp_flags; protocol and tos follow v5's or v1's order below */
    uint8_t off_proto;
    uint8_t off_tos;
    bool has_seq;    /* flow_sequence at 16 */
    bool has_engine; /* engine type/id and sampling at 20..23 */
    bool has_as;     /* AS numbers and masks at 40..45 */
};

static const struct fixed_fmt fmt_v5 = {5, 30, V5_HDR, V5_REC, 37, 38, 39, true, true, true};
static const struct fixed_fmt fmt_v7 = {7, 28, V5_HDR, 52, 37, 38, 39, true, false, true};
static const struct fixed_fmt fmt_v1 = {1, 24, 16, 48, 40, 38, 39, false, false, false};

/*
 * The v5 fields that have no flow_rec field, kept as raw IANA IEs (flow.h's layout): a fixed
 * 50-byte block whose value bytes are patched in per record.
 */
#define V5_RAW_LEN 50
static const uint8_t v5_raw_tmpl[V5_RAW_LEN] = {
    0, 0, 0, 0, 0, 15, 0, 4, 0, 0, 0, 0, /* ipNextHopIPv4Address, at 8 */
    0, 0, 0, 0, 0, 16, 0, 2, 0, 0,       /* bgpSourceAsNumber, at 20 */
    0, 0, 0, 0, 0, 17, 0, 2, 0, 0,       /* bgpDestinationAsNumber, at 30 */
    0, 0, 0, 0, 0, 9,  0, 1, 0,          /* sourceIPv4PrefixLength, at 40 */
    0, 0, 0, 0, 0, 13, 0, 1, 0,          /* destinationIPv4PrefixLength, at 49 */
};
_Static_assert(V5_RAW_LEN <= FLOW_RAW_MAX, "v5 raw block fits flow_rec.raw");

/* v1 has no AS numbers or masks: its raw block is the first entry only (next hop). */
#define V1_RAW_LEN 12

static void
v5_raw(struct flow_rec *r, const uint8_t *p, bool has_as)
{
    if (!has_as) {
        memcpy(r->raw, v5_raw_tmpl, V1_RAW_LEN);
        memcpy(r->raw + 8, p + 8, 4);
        r->raw_len = V1_RAW_LEN;
        return;
    }
    memcpy(r->raw, v5_raw_tmpl, V5_RAW_LEN);
    memcpy(r->raw + 8, p + 8, 4);
    memcpy(r->raw + 20, p + 40, 2);
    memcpy(r->raw + 30, p + 42, 2);
    r->raw[40] = p[44];
    r->raw[49] = p[45];
    r->raw_len = V5_RAW_LEN;
}

static void
v5_record(struct dec_msgctx *m, struct flow_rec *r, const uint8_t *p, uint32_t sampling,
          const struct fixed_fmt *f)
{
    memset(r, 0, offsetof(struct flow_rec, instance_id));
    r->instance_id[0] = r->snid[0] = r->account_id[0] = '\0';
    flow_addr_set_v4(r->srcaddr, p);
    flow_addr_set_v4(r->dstaddr, p + 4);
    r->inport = rd_be16_at(p + 12);
    r->outport = rd_be16_at(p + 14);
    r->packets = rd_be32_at(p + 16);
    r->bytes = rd_be32_at(p + 20);
    r->start_ms = m->export_ms - (uint64_t) (int64_t) (int32_t) (m->uptime_ms - rd_be32_at(p + 24));
    r->end_ms = m->export_ms - (uint64_t) (int64_t) (int32_t) (m->uptime_ms - rd_be32_at(p + 28));
    r->srcport = rd_be16_at(p + 32);
    r->dstport = rd_be16_at(p + 34);
    r->tcp_flags = p[f->off_flags];
    r->protocol = p[f->off_proto];
    r->tos = p[f->off_tos];
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS |
                 FLOW_HAS_TOS | FLOW_HAS_INPORT | FLOW_HAS_OUTPORT;
    if (sampling > 1) {
        r->sampling = sampling;
        r->present |= FLOW_HAS_SAMPLING;
    }
    r->version = f->version;
    r->domain = m->dom->id;
    memcpy(r->exporter, m->exp->src.addr, 16);
    r->exporter_port = m->exp->src.port;
    v5_raw(r, p, f->has_as);
}

static int
decode_fixed(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg,
             const struct fixed_fmt *f)
{
    struct rd r = rd_make(buf, len);
    (void) rd_u16(&r);
    uint16_t count = rd_u16(&r);
    m->uptime_ms = rd_u32(&r);
    uint32_t secs = rd_u32(&r);
    uint32_t nsecs = rd_u32(&r);
    uint32_t seq = 0;
    uint8_t engine_type = 0, engine_id = 0;
    uint16_t sampling = 0;
    if (f->has_seq) {
        seq = rd_u32(&r);
        engine_type = rd_u8(&r);
        engine_id = rd_u8(&r);
        sampling = rd_u16(&r);
    }
    if (!f->has_engine) {
        engine_type = engine_id = 0; /* v7: bytes 20..23 are reserved */
        sampling = 0;
    }

    if (r.err) {
        dec__count(m, DEC_R_SHORT, DEC_E_TRUNCATED);
        return m->rc;
    }
    m->export_ms = (uint64_t) secs * 1000u + nsecs / 1000000u;
    if (!dec__msg_begin(m, (uint32_t) engine_type << 8 | engine_id, len)) {
        return m->rc;
    }
    size_t avail = (len - f->hdr_len) / f->rec_len;
    size_t n = count;
    if (count == 0 || count > f->max_count || avail != count) {
        dec__count(m, DEC_R_V5_COUNT, DEC_E_MALFORMED);
        n = count < avail ? count : avail;
    }
    uint32_t interval = sampling & 0x3fffu;
    m->dom->sampling = interval;
    const uint8_t *p = buf + f->hdr_len;
    for (size_t i = 0; i < n; i++, p += f->rec_len) {
        struct flow_rec *slot = dec__slot(m);
        if (slot == NULL) {
            dec__count(m, DEC_R_OUT_FULL, DEC_E_FULL);
            continue;
        }
        v5_record(m, slot, p, interval, f);
        dec__commit(m);
    }
    msg->domain = m->dom->id;
    msg->seq = seq;
    msg->export_ms = m->export_ms;
    if (f->has_seq) {
        dec__seq_check_uptime(m, seq, (uint32_t) n, msg);
    }
    return m->rc;
}

int
dec__nf5(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg)
{
    return decode_fixed(m, buf, len, msg, &fmt_v5);
}

int
dec__nf7(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg)
{
    return decode_fixed(m, buf, len, msg, &fmt_v7);
}

int
dec__nf1(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg)
{
    return decode_fixed(m, buf, len, msg, &fmt_v1);
}
