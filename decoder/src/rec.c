/* SPDX-License-Identifier: MIT */
/*
 * Data records: running a compiled template over the records of a data set (RFC 7011 §3.4.3,
 * RFC 3954 §5.3), turning the values into a struct flow_rec, and applying options records
 * (sampling, systemInitTime, interface names, identity) to their exporter's domain state.
 *
 * Times (docs/decoder.md): absolute IEs 150-157 win; sysUpTime IEs 21/22 are taken against
 * the v9 header's sysUpTime and export time, or in IPFIX against systemInitTimeMilliseconds
 * (IE 160, from the record or an options record); deltas 158/159 count back from the export
 * time. With nothing usable both ends are the export time and FLOW_F_TIME_GUESS is set.
 */
#include <errno.h>
#include <string.h>

#include "dec_int.h"

enum tmp_have {
    H_START_ABS = 1u << 0,
    H_END_ABS = 1u << 1,
    H_START_UP = 1u << 2,
    H_END_UP = 1u << 3,
    H_START_DELTA = 1u << 4,
    H_END_DELTA = 1u << 5,
    H_DUR = 1u << 6,
    H_INIT = 1u << 7,
    H_PKTS_TOTAL = 1u << 8,
    H_BYTES_TOTAL = 1u << 9,
    H_ICMP = 1u << 10,
    H_SAMPLING = 1u << 11,
    H_PKT_INTERVAL = 1u << 12,
    H_PKT_SPACE = 1u << 13,
    H_SAMPLER_ID = 1u << 14,
    H_IFINDEX = 1u << 15,
    H_IFNAME = 1u << 16,
    H_FWD_DROP = 1u << 17,
    H_REV_BYTES = 1u << 18,
    H_REV_PKTS = 1u << 19,
    H_REV_TOS = 1u << 20,
    H_REV_FLAGS = 1u << 21,
    H_REV_ICMP = 1u << 22,
    H_REV_BYTES_TOTAL = 1u << 23,
    H_REV_PKTS_TOTAL = 1u << 24,
};

/* Values a record carries that need more than a store into flow_rec. */
struct rec_tmp {
    uint32_t have;
    uint32_t start_up;
    uint32_t end_up;
    uint64_t start_abs;
    uint64_t end_abs;
    uint64_t start_delta_us;
    uint64_t end_delta_us;
    uint64_t dur_ms;
    uint64_t init_ms;
    uint64_t pkts_total;
    uint64_t bytes_total;
    uint64_t sampling;
    uint64_t pkt_interval;
    uint64_t pkt_space;
    uint64_t sampler_id;
    uint32_t ifindex;
    uint64_t rev_bytes; /* RFC 5103 reverse counters and values */
    uint64_t rev_pkts;
    uint64_t rev_bytes_total; /* reverse total counts (YAF): used when the deltas are absent */
    uint64_t rev_pkts_total;
    uint16_t rev_flags;
    uint16_t rev_icmp;
    uint8_t rev_tos;
    uint16_t icmp; /* type << 8 | code */
    uint16_t ifname_len;
    const uint8_t *ifname;
};

/* NTP timestamp (RFC 5905: seconds since 1900, 32-bit fraction) to Unix milliseconds. */
static uint64_t
ntp_to_ms(uint64_t v)
{
    uint64_t secs = v >> 32;
    uint64_t frac = v & 0xffffffffu;
    uint64_t unix_secs = secs >= 2208988800u ? secs - 2208988800u : 0;
    return unix_secs * 1000u + ((frac * 1000u) >> 32);
}

static void
copy_str(char *dst, const uint8_t *v, size_t len)
{
    size_t n = 0;
    while (n < len && n < FLOW_ID_MAX - 1 && v[n] != 0) {
        dst[n] = (char) v[n];
        n++;
    }
    dst[n] = '\0';
}

static void
keep_raw(struct dec_msgctx *m, struct flow_rec *r, const struct dec_field *f, const uint8_t *v,
         size_t len)
{
    if ((size_t) r->raw_len + 8u + len > FLOW_RAW_MAX) {
        r->flags |= FLOW_F_RAW_TRUNC;
        m->ctx->stats.raw_trunc++;
        m->exp->stats.raw_trunc++;
        return;
    }
    uint8_t *p = r->raw + r->raw_len;
    p[0] = (uint8_t) (f->pen >> 24);
    p[1] = (uint8_t) (f->pen >> 16);
    p[2] = (uint8_t) (f->pen >> 8);
    p[3] = (uint8_t) f->pen;
    p[4] = (uint8_t) (f->id >> 8);
    p[5] = (uint8_t) f->id;
    p[6] = (uint8_t) (len >> 8);
    p[7] = (uint8_t) len;
    memcpy(p + 8, v, len);
    r->raw_len = (uint8_t) (r->raw_len + 8u + len);
}

static void
set_addr4(struct flow_rec *r, uint8_t *dst, uint32_t bit, const uint8_t *v)
{
    if ((r->present & bit) && rd_all_zero(v, 4)) {
        return; /* keep the IPv6 address already there */
    }
    flow_addr_set_v4(dst, v);
    r->present |= bit;
}

static void
set_addr6(struct flow_rec *r, uint8_t *dst, uint32_t bit, const uint8_t *v)
{
    if ((r->present & bit) &&
        !(flow_addr_is_v4(dst) && rd_all_zero(dst + 12, 4) && !rd_all_zero(v, 16))) {
        return;
    }
    memcpy(dst, v, 16);
    r->present |= bit;
}

/*
 * Store one field's value; the flat switch over every op is the decoder's hot loop, so it is
 * forced inline into rec_decode (a call per field cost a third of the decode time).
 */
static inline __attribute__((always_inline)) void
apply_field(struct dec_msgctx *m, struct flow_rec *r, struct rec_tmp *x, const struct dec_field *f,
            const uint8_t *v, size_t len)
{
    switch ((enum dec_op) f->op) {
    case OP_SKIP:
        break;
    case OP_RAW:
        keep_raw(m, r, f, v, len);
        break;
    case OP_BYTES:
        r->bytes = rd_beN_at(v, len);
        r->present |= FLOW_HAS_BYTES;
        break;
    case OP_PKTS:
        r->packets = rd_beN_at(v, len);
        r->present |= FLOW_HAS_PACKETS;
        break;
    case OP_BYTES_TOTAL:
        x->bytes_total = rd_beN_at(v, len);
        x->have |= H_BYTES_TOTAL;
        break;
    case OP_PKTS_TOTAL:
        x->pkts_total = rd_beN_at(v, len);
        x->have |= H_PKTS_TOTAL;
        break;
    case OP_PROTO:
        r->protocol = (uint8_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_PROTOCOL;
        break;
    case OP_TOS:
        r->tos = (uint8_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_TOS;
        break;
    case OP_TCPFLAGS:
        r->tcp_flags = (uint16_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_TCPFLAGS;
        break;
    case OP_SPORT:
        r->srcport = (uint16_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_SRCPORT;
        break;
    case OP_DPORT:
        r->dstport = (uint16_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_DSTPORT;
        break;
    /*
     * A record may carry both families (Cisco sends IPv6 flows with zero IPv4 fields): IPv4
     * wins unless it is 0.0.0.0 and the IPv6 address is not ::.
     */
    case OP_SRC4:
        set_addr4(r, r->srcaddr, FLOW_HAS_SRCADDR, v);
        break;
    case OP_DST4:
        set_addr4(r, r->dstaddr, FLOW_HAS_DSTADDR, v);
        break;
    case OP_SRC6:
        set_addr6(r, r->srcaddr, FLOW_HAS_SRCADDR, v);
        break;
    case OP_DST6:
        set_addr6(r, r->dstaddr, FLOW_HAS_DSTADDR, v);
        break;
    case OP_IN:
        r->inport = (uint32_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_INPORT;
        x->ifindex = r->inport;
        x->have |= H_IFINDEX;
        break;
    case OP_OUT:
        r->outport = (uint32_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_OUTPORT;
        break;
    case OP_SCOPE_IFINDEX:
        x->ifindex = (uint32_t) rd_beN_at(v, len);
        x->have |= H_IFINDEX;
        break;
    case OP_ICMP_TC:
        x->icmp = (uint16_t) rd_beN_at(v, len);
        x->have |= H_ICMP;
        break;
    case OP_ICMP_TYPE:
        x->icmp = (uint16_t) ((x->icmp & 0x00ffu) | (rd_beN_at(v, len) & 0xffu) << 8);
        x->have |= H_ICMP;
        break;
    case OP_ICMP_CODE:
        x->icmp = (uint16_t) ((x->icmp & 0xff00u) | (rd_beN_at(v, len) & 0xffu));
        x->have |= H_ICMP;
        break;
    case OP_DIRECTION: {
        /* 0 ingress, 1 egress (IANA IE 61); other values (Cisco sends 255) say nothing. */
        uint64_t d = rd_beN_at(v, len);
        if (d <= 1) {
            r->direction = d == 0 ? FLOW_DIR_IN : FLOW_DIR_OUT;
            r->present |= FLOW_HAS_DIRECTION;
        }
        break;
    }
    case OP_FWD_STATUS:
        /* RFC 7270 §4.12: status in the two bits above the 6-bit reason; 2 = dropped. */
        if (((rd_beN_at(v, len) >> 6) & 3u) == 2u) {
            x->have |= H_FWD_DROP;
        }
        break;
    case OP_FW_EVENT:
        if (rd_beN_at(v, len) == 3) { /* flow denied */
            x->have |= H_FWD_DROP;
        }
        break;
    case OP_START_UP:
        x->start_up = rd_be32_at(v);
        x->have |= H_START_UP;
        break;
    case OP_END_UP:
        x->end_up = rd_be32_at(v);
        x->have |= H_END_UP;
        break;
    case OP_START_S:
        x->start_abs = rd_beN_at(v, len) * 1000u;
        x->have |= H_START_ABS;
        break;
    case OP_END_S:
        x->end_abs = rd_beN_at(v, len) * 1000u;
        x->have |= H_END_ABS;
        break;
    case OP_START_MS:
        x->start_abs = rd_beN_at(v, len);
        x->have |= H_START_ABS;
        break;
    case OP_END_MS:
        x->end_abs = rd_beN_at(v, len);
        x->have |= H_END_ABS;
        break;
    case OP_START_NTP:
        x->start_abs = ntp_to_ms(rd_be64_at(v));
        x->have |= H_START_ABS;
        break;
    case OP_END_NTP:
        x->end_abs = ntp_to_ms(rd_be64_at(v));
        x->have |= H_END_ABS;
        break;
    case OP_START_DELTA_US:
        x->start_delta_us = rd_beN_at(v, len);
        x->have |= H_START_DELTA;
        break;
    case OP_END_DELTA_US:
        x->end_delta_us = rd_beN_at(v, len);
        x->have |= H_END_DELTA;
        break;
    case OP_DUR_MS:
        x->dur_ms = rd_beN_at(v, len);
        x->have |= H_DUR;
        break;
    case OP_DUR_US:
        x->dur_ms = rd_beN_at(v, len) / 1000u;
        x->have |= H_DUR;
        break;
    case OP_INIT_MS:
        x->init_ms = rd_beN_at(v, len);
        x->have |= H_INIT;
        break;
    case OP_SAMPLING_INTERVAL:
        x->sampling = rd_beN_at(v, len);
        x->have |= H_SAMPLING;
        break;
    case OP_SAMPLING_PKT_INTERVAL:
        x->pkt_interval = rd_beN_at(v, len);
        x->have |= H_PKT_INTERVAL;
        break;
    case OP_SAMPLING_PKT_SPACE:
        x->pkt_space = rd_beN_at(v, len);
        x->have |= H_PKT_SPACE;
        break;
    case OP_SAMPLER_ID:
        x->sampler_id = rd_beN_at(v, len);
        x->have |= H_SAMPLER_ID;
        break;
    case OP_IFNAME:
        x->ifname = v;
        x->ifname_len = (uint16_t) len;
        x->have |= H_IFNAME;
        break;
    case OP_INSTANCE:
        copy_str(r->instance_id, v, len);
        r->present |= FLOW_HAS_INSTANCE;
        break;
    case OP_SNID:
        copy_str(r->snid, v, len);
        r->present |= FLOW_HAS_SNID;
        break;
    case OP_ACCOUNT:
        copy_str(r->account_id, v, len);
        r->present |= FLOW_HAS_ACCOUNT;
        break;
    case OP_RTT:
        r->rtt_us = (uint32_t) rd_beN_at(v, len);
        r->present |= FLOW_HAS_RTT;
        break;
    case OP_REV_BYTES:
        x->rev_bytes = rd_beN_at(v, len);
        x->have |= H_REV_BYTES;
        break;
    case OP_REV_PKTS:
        x->rev_pkts = rd_beN_at(v, len);
        x->have |= H_REV_PKTS;
        break;
    case OP_REV_TOS:
        x->rev_tos = (uint8_t) rd_beN_at(v, len);
        x->have |= H_REV_TOS;
        break;
    case OP_REV_TCPFLAGS:
        x->rev_flags = (uint16_t) rd_beN_at(v, len);
        x->have |= H_REV_FLAGS;
        break;
    case OP_REV_ICMP_TC:
        x->rev_icmp = (uint16_t) rd_beN_at(v, len);
        x->have |= H_REV_ICMP;
        break;
    case OP_REV_BYTES_TOTAL:
        x->rev_bytes_total = rd_beN_at(v, len);
        x->have |= H_REV_BYTES_TOTAL;
        break;
    case OP_REV_PKTS_TOTAL:
        x->rev_pkts_total = rd_beN_at(v, len);
        x->have |= H_REV_PKTS_TOTAL;
        break;
    case OP_COUNT:
        break;
    }
}

/*
 * Decode one record starting at p with `left` bytes in its set. Returns the bytes it took,
 * or 0 when a variable-length field runs past the set.
 */
static size_t
rec_decode(struct dec_msgctx *m, const struct dec_tmpl *t, const uint8_t *p, size_t left,
           struct flow_rec *r, struct rec_tmp *x)
{
    size_t off = 0;
    const bool fixed = !t->varlen; /* then the caller checked min_len: no per-field checks */

    for (uint16_t i = 0; i < t->nfields; i++) {
        const struct dec_field *f = &t->fields[i];
        size_t len = f->len;
        if (fixed) {
            apply_field(m, r, x, f, p + f->off, len);
            continue;
        }
        if (len == DEC_VARLEN) {
            /* RFC 7011 §7: one length byte, or 255 and a two-byte length. */
            if (off + 1 > left) {
                return 0;
            }
            len = p[off++];
            if (len == 255) {
                if (off + 2 > left) {
                    return 0;
                }
                len = rd_be16_at(p + off);
                off += 2;
            }
        }
        if (off + len > left) {
            return 0;
        }
        apply_field(m, r, x, f, p + off, len);
        off += len;
    }
    return fixed ? t->min_len : off;
}

/* sysUpTime (ms) to absolute ms, or 0 when there is nothing to anchor it to. */
static uint64_t
uptime_abs(const struct dec_msgctx *m, const struct rec_tmp *x, uint32_t up)
{
    if (m->version == 9) {
        /* Signed 32-bit difference: right across the 49.7-day wrap and for small skew. */
        return m->export_ms - (uint64_t) (int64_t) (int32_t) (m->uptime_ms - up);
    }
    uint64_t init = (x->have & H_INIT) ? x->init_ms : m->dom->init_ms;
    return init != 0 ? init + up : 0;
}

static void
finish_times(const struct dec_msgctx *m, struct flow_rec *r, const struct rec_tmp *x)
{
    uint64_t start = 0, end = 0;

    if (x->have & H_START_ABS) {
        start = x->start_abs;
    } else if (x->have & H_START_UP) {
        start = uptime_abs(m, x, x->start_up);
    } else if (x->have & H_START_DELTA) {
        start = m->export_ms - x->start_delta_us / 1000u;
    }
    if (x->have & H_END_ABS) {
        end = x->end_abs;
    } else if (x->have & H_END_UP) {
        end = uptime_abs(m, x, x->end_up);
    } else if (x->have & H_END_DELTA) {
        end = m->export_ms - x->end_delta_us / 1000u;
    }
    if (start == 0 && end != 0) {
        start = (x->have & H_DUR) ? end - x->dur_ms : end;
    } else if (end == 0 && start != 0) {
        end = (x->have & H_DUR) ? start + x->dur_ms : start;
    } else if (start == 0) {
        start = end = m->export_ms;
        r->flags |= FLOW_F_TIME_GUESS;
    }
    r->start_ms = start;
    r->end_ms = end;
}

static uint32_t
sampling_of(const struct rec_tmp *x)
{
    if (x->have & H_SAMPLING) {
        return (uint32_t) x->sampling;
    }
    if ((x->have & H_PKT_INTERVAL) && x->pkt_interval > 0) {
        /* RFC 5476: select `interval` packets out of every `interval + space`. */
        uint64_t space = (x->have & H_PKT_SPACE) ? x->pkt_space : 0;
        return (uint32_t) ((x->pkt_interval + space) / x->pkt_interval);
    }
    return 0;
}

static uint32_t
sampler_lookup(const struct dec_domain *d, uint64_t id)
{
    for (uint16_t i = 0; i < d->nsamplers; i++) {
        if (d->samplers[i].id == id) {
            return d->samplers[i].interval;
        }
    }
    return d->sampling;
}

/* RFC 5103 reverse totals (YAF sends 29305/85 and 29305/86) stand in for absent deltas. */
static void
reverse_totals(struct rec_tmp *x)
{
    if (!(x->have & H_REV_PKTS) && (x->have & H_REV_PKTS_TOTAL)) {
        x->rev_pkts = x->rev_pkts_total;
        x->have |= H_REV_PKTS;
    }
    if (!(x->have & H_REV_BYTES) && (x->have & H_REV_BYTES_TOTAL)) {
        x->rev_bytes = x->rev_bytes_total;
        x->have |= H_REV_BYTES;
    }
}

static void
finish_record(struct dec_msgctx *m, struct flow_rec *r, const struct rec_tmp *x)
{
    const struct dec_domain *d = m->dom;

    if (!(r->present & FLOW_HAS_PACKETS) && (x->have & H_PKTS_TOTAL)) {
        r->packets = x->pkts_total;
        r->present |= FLOW_HAS_PACKETS;
    }
    if (!(r->present & FLOW_HAS_BYTES) && (x->have & H_BYTES_TOTAL)) {
        r->bytes = x->bytes_total;
        r->present |= FLOW_HAS_BYTES;
    }
    if ((x->have & H_ICMP) && (r->protocol == 1 || r->protocol == 58)) {
        r->srcport = 0;
        r->dstport = x->icmp;
        r->present |= FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT;
    }
    if (x->have & H_FWD_DROP) {
        r->action = FLOW_ACT_REJECT;
    }
    finish_times(m, r, x);
    uint32_t s = (x->have & H_SAMPLER_ID) ? sampler_lookup(d, x->sampler_id) : sampling_of(x);
    if (s == 0) {
        s = d->sampling;
    }
    if (s != 0) {
        r->sampling = s;
        r->present |= FLOW_HAS_SAMPLING;
    }
    if (d->instance_id[0] != '\0' && !(r->present & FLOW_HAS_INSTANCE)) {
        memcpy(r->instance_id, d->instance_id, FLOW_ID_MAX);
        r->present |= FLOW_HAS_INSTANCE;
    }
    if (d->snid[0] != '\0' && !(r->present & FLOW_HAS_SNID)) {
        memcpy(r->snid, d->snid, FLOW_ID_MAX);
        r->present |= FLOW_HAS_SNID;
    }
    if (d->account_id[0] != '\0' && !(r->present & FLOW_HAS_ACCOUNT)) {
        memcpy(r->account_id, d->account_id, FLOW_ID_MAX);
        r->present |= FLOW_HAS_ACCOUNT;
    }
}

static void
remember_ifname(struct dec_msgctx *m, const struct rec_tmp *x)
{
    struct dec_domain *d = m->dom;

    if (d->ifnames == NULL) {
        d->ifnames = dec__alloc(m->ctx, DEC_IFNAMES_MAX * sizeof(*d->ifnames));
        if (d->ifnames == NULL) {
            if (m->rc == 0 || m->rc == DEC_E_NOTEMPLATE) {
                m->rc = dec__nomem(m->ctx); /* the name is lost: say so (dec.h) */
            }
            return;
        }
    }
    uint16_t i = 0;
    while (i < d->nifnames && d->ifnames[i].ifindex != x->ifindex) {
        i++;
    }
    if (i == d->nifnames) {
        if (d->nifnames == DEC_IFNAMES_MAX) {
            return; /* table full: keep the first ones, they stay right */
        }
        d->nifnames++;
    }
    d->ifnames[i].ifindex = x->ifindex;
    size_t n = 0;
    while (n < x->ifname_len && n < DEC_IFNAME_LEN - 1 && x->ifname[n] != 0) {
        d->ifnames[i].name[n] = (char) x->ifname[n];
        n++;
    }
    d->ifnames[i].name[n] = '\0';
}

static void
set_sampler(struct dec_domain *d, uint32_t id, uint32_t interval)
{
    uint16_t i = 0;
    while (i < d->nsamplers && d->samplers[i].id != id) {
        i++;
    }
    if (i == d->nsamplers) {
        if (d->nsamplers == DEC_SAMPLERS_MAX) {
            i = 0; /* overwrite the oldest slot rather than lose the newest */
        } else {
            d->nsamplers++;
        }
    }
    d->samplers[i].id = id;
    d->samplers[i].interval = interval;
}

static void
apply_options(struct dec_msgctx *m, const struct flow_rec *r, const struct rec_tmp *x)
{
    struct dec_domain *d = m->dom;

    if (x->have & H_INIT) {
        d->init_ms = x->init_ms;
    }
    uint32_t s = sampling_of(x);
    if (s != 0) {
        if (x->have & H_SAMPLER_ID) {
            set_sampler(d, (uint32_t) x->sampler_id, s);
        } else {
            d->sampling = s;
        }
    }
    if ((x->have & (H_IFNAME | H_IFINDEX)) == (H_IFNAME | H_IFINDEX)) {
        remember_ifname(m, x);
    }
    if (r->present & FLOW_HAS_INSTANCE) {
        memcpy(d->instance_id, r->instance_id, FLOW_ID_MAX);
    }
    if (r->present & FLOW_HAS_SNID) {
        memcpy(d->snid, r->snid, FLOW_ID_MAX);
    }
    if (r->present & FLOW_HAS_ACCOUNT) {
        memcpy(d->account_id, r->account_id, FLOW_ID_MAX);
    }
}

/*
 * RFC 5103 §5-6: the reverse direction of a biflow record, from the forward record `f` once it
 * is finished. The key is swapped (addresses, ports, interfaces, direction); the counters,
 * TCP flags, tos and ICMP type/code are the reverse IEs'; IEs without a reverse counterpart
 * (protocol, times, identity, sampling, raw IEs) are common to both directions (§6.1). A
 * counter the record does not carry in reverse is left out, not set to 0.
 */
static void
reverse_record(struct flow_rec *r, const struct flow_rec *f, const struct rec_tmp *x)
{
    *r = *f;
    memcpy(r->srcaddr, f->dstaddr, 16);
    memcpy(r->dstaddr, f->srcaddr, 16);
    r->present &=
        ~(uint32_t) (FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                     FLOW_HAS_INPORT | FLOW_HAS_OUTPORT | FLOW_HAS_PACKETS | FLOW_HAS_BYTES);
    r->present |= (f->present & FLOW_HAS_SRCADDR ? FLOW_HAS_DSTADDR : 0) |
                  (f->present & FLOW_HAS_DSTADDR ? FLOW_HAS_SRCADDR : 0) |
                  (f->present & FLOW_HAS_INPORT ? FLOW_HAS_OUTPORT : 0) |
                  (f->present & FLOW_HAS_OUTPORT ? FLOW_HAS_INPORT : 0);
    r->inport = f->outport;
    r->outport = f->inport;
    if (f->protocol == 1 || f->protocol == 58) {
        /* ICMP: srcport 0, dstport type/code, as finish_record() set the forward one. */
        r->present |= f->present & (FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT);
        if (x->have & H_REV_ICMP) {
            r->dstport = x->rev_icmp;
            r->present |= FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT;
        }
    } else {
        r->srcport = f->dstport;
        r->dstport = f->srcport;
        r->present |= (f->present & FLOW_HAS_SRCPORT ? FLOW_HAS_DSTPORT : 0) |
                      (f->present & FLOW_HAS_DSTPORT ? FLOW_HAS_SRCPORT : 0);
    }
    if (f->present & FLOW_HAS_DIRECTION) {
        r->direction = f->direction == FLOW_DIR_IN ? FLOW_DIR_OUT : FLOW_DIR_IN;
    }
    r->packets = (x->have & H_REV_PKTS) ? x->rev_pkts : 0;
    r->bytes = (x->have & H_REV_BYTES) ? x->rev_bytes : 0;
    r->present |= ((x->have & H_REV_PKTS) ? FLOW_HAS_PACKETS : 0) |
                  ((x->have & H_REV_BYTES) ? FLOW_HAS_BYTES : 0);
    if (x->have & H_REV_FLAGS) {
        r->tcp_flags = x->rev_flags;
        r->present |= FLOW_HAS_TCPFLAGS;
    }
    if (x->have & H_REV_TOS) {
        r->tos = x->rev_tos;
        r->present |= FLOW_HAS_TOS;
    }
}

static void
rec_reset(struct flow_rec *r)
{
    memset(r, 0, offsetof(struct flow_rec, instance_id));
    r->instance_id[0] = '\0';
    r->snid[0] = '\0';
    r->account_id[0] = '\0';
}

/* dec__slot()'s slow path: no sink, a stopped decode, or a full sink to flush. */
struct flow_rec *
dec__slot_slow(struct dec_msgctx *m)
{
    struct dec_sink *o = m->out;

    if (o == NULL || m->stop) {
        return NULL;
    }
    if (o->n == o->cap && o->flush != NULL && o->n > 0) {
        int rc = o->flush(o->arg, o->recs, o->n);
        o->n = 0;
        if (rc != 0) {
            /* The consumer refused: what follows is counted lost, under its code. */
            m->stop = true;
            m->rc = m->rc != 0 ? m->rc : rc;
            return NULL;
        }
    }
    return o->n < o->cap ? &o->recs[o->n] : NULL;
}

void
dec__data_set(struct dec_msgctx *m, const struct dec_tmpl *t, const uint8_t *p, size_t len)
{
    struct flow_rec scratch;
    size_t off = 0;

    /* Whatever is left shorter than the shortest record is padding (RFC 7011 §3.3.1). */
    while (len - off >= t->min_len) {
        struct flow_rec *r = t->options ? &scratch : dec__slot(m);
        bool lost = r == NULL;
        if (lost) {
            r = &scratch;
        }
        struct rec_tmp x; /* fields are read only where their `have` bit is set */
        x.have = 0;
        x.icmp = 0;
        rec_reset(r);
        size_t used = rec_decode(m, t, p + off, len - off, r, &x);
        if (used == 0) {
            dec__count(m, DEC_R_RECORD, DEC_E_MALFORMED);
            return;
        }
        off += used;
        m->data_records++;
        if (t->options) {
            apply_options(m, r, &x);
            m->ctx->stats.options_records++;
            m->exp->stats.options_records++;
            continue;
        }
        if (lost) {
            dec__count(m, DEC_R_OUT_FULL, DEC_E_FULL);
            continue;
        }
        r->version = m->version;
        memcpy(r->exporter, m->exp->src.addr, 16);
        r->exporter_port = m->exp->src.port;
        r->domain = m->dom->id;
        finish_record(m, r, &x);
        reverse_totals(&x);
        /* A biflow record whose answer carried traffic is two records (RFC 5103). */
        bool rev = ((x.have & H_REV_PKTS) && x.rev_pkts != 0) ||
                   ((x.have & H_REV_BYTES) && x.rev_bytes != 0);
        if (rev) {
            scratch = *r; /* the next slot may come after a flush that reuses the buffer */
        }
        dec__commit(m);
        if (rev) {
            struct flow_rec *r2 = dec__slot(m);
            if (r2 == NULL) {
                dec__count(m, DEC_R_OUT_FULL, DEC_E_FULL);
                continue;
            }
            reverse_record(r2, &scratch, &x);
            dec__commit(m);
        }
    }
}
