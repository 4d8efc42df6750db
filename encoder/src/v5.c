/* SPDX-License-Identifier: MIT */
/*
 * NetFlow v5 export (enc.h): Cisco's fixed format, 30 records of 48 bytes at most per
 * message after a 24-byte header (msg.c writes the header). No templates and no options:
 * the sampling interval rides in every header. IPv6 records are refused; counters and
 * interface indexes that do not fit are clamped and counted.
 */
#include <string.h>

#include "enc_int.h"
#include "flow_bytes.h"

static uint64_t
clamp(uint64_t v, uint64_t max, bool *clamped)
{
    if (v > max) {
        *clamped = true;
        return max;
    }
    return v;
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

    memset(p, 0, ENC_V5_REC);
    memcpy(p, r->srcaddr + 12, 4);
    memcpy(p + 4, r->dstaddr + 12, 4);
    flow_put_be(p + 12, clamp(r->inport, 0xffffu, &clamped), 2);
    flow_put_be(p + 14, clamp(r->outport, 0xffffu, &clamped), 2);
    flow_put_be(p + 16, clamp(r->packets, 0xffffffffu, &clamped), 4);
    flow_put_be(p + 20, clamp(r->bytes, 0xffffffffu, &clamped), 4);
    flow_put_be(p + 24, r->start_ms - e->cfg.boot_ms, 4);
    flow_put_be(p + 28, r->end_ms - e->cfg.boot_ms, 4);
    flow_put_be(p + 32, r->srcport, 2);
    flow_put_be(p + 34, r->dstport, 2);
    p[37] = (uint8_t) r->tcp_flags;
    p[38] = r->protocol;
    p[39] = r->tos;
    if (clamped) {
        e->stats.clamped++;
    }
}

int
enc__v5_add(struct enc_ctx *e, const struct flow_rec *r, uint64_t now_ms, enc_emit_fn *emit,
            void *arg)
{
    int rc = 0;

    if (!enc__rec_is_v4(r)) {
        e->stats.refused_v6++;
        return ENC_E_V6;
    }
    if (e->len == 0) {
        enc__msg_begin(e, now_ms);
    } else if (e->msg_flows == e->v5_max) {
        rc = enc__msg_emit(e, now_ms, emit, arg);
        enc__msg_begin(e, now_ms);
    }
    v5_write(e, e->buf + e->len, r);
    e->len += ENC_V5_REC;
    e->msg_flows++;
    e->stats.records++;
    return rc;
}
