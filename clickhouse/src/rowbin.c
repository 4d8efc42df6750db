/* SPDX-License-Identifier: MIT */
/*
 * RowBinary encoding of flow records into the flows_local column order (ClickHouse's
 * RowBinary format: fixed-width integers little-endian, String as a LEB128 length and its
 * bytes, FixedString(N) as N bytes, Date as UInt16 days, DateTime as UInt32 seconds).
 * Identical input gives identical bytes, which block deduplication relies on.
 *
 *   column         type               bytes    column         type               bytes
 *   date           Date               2        skipped        UInt32             4
 *   window         DateTime           4        sampling       UInt32             4
 *   window_s       UInt32             4        rtt_us         UInt32             4
 *   flowlog        String             var      version        UInt8              1
 *   start_ms       UInt64             8        domain         UInt32             4
 *   end_ms         UInt64             8        exporter       FixedString(16)    16
 *   srcaddr        FixedString(16)    16       exporter_port  UInt16             2
 *   dstaddr        FixedString(16)    16       present        UInt32             4
 *   srcport        UInt16             2        flags          UInt8              1
 *   dstport        UInt16             2        instance_id    String             var
 *   protocol       UInt8              1        snid           String             var
 *   packets        UInt64             8        account_id     String             var
 *   bytes          UInt64             8        batch_id       UInt64             8
 *   tcp_flags      UInt16             2
 *   tos            UInt8              1
 *   inport         UInt32             4
 *   outport        UInt32             4
 *   direction      UInt8              1
 *   action         UInt8              1
 *   log_status     UInt8              1
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chs.h"
#include "flow_bytes.h"

void
chs_buf_free(struct chs_buf *b)
{
    if (b != NULL) {
        free(b->p);
        b->p = NULL;
        b->len = 0;
        b->cap = 0;
    }
}

static int
buf_reserve(struct chs_buf *b, size_t more)
{
    if (b->cap - b->len >= more) {
        return 0;
    }
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap - b->len < more) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static uint8_t *
put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
    return p + n;
}

static uint8_t *
put_str(uint8_t *p, const char *s, size_t n)
{
    p = flow_varint_put(p, n);
    memcpy(p, s, n);
    return p + n;
}

static size_t
id_len(const char *s)
{
    return strnlen(s, FLOW_ID_MAX - 1);
}

/* The columns from srcaddr to present, fixed width all of them. */
static uint8_t *
put_fixed(uint8_t *p, const struct flow_rec *r)
{
    memcpy(p, r->srcaddr, 16);
    memcpy(p + 16, r->dstaddr, 16);
    p = put_le(p + 32, r->srcport, 2);
    p = put_le(p, r->dstport, 2);
    p = put_le(p, r->protocol, 1);
    p = put_le(p, r->packets, 8);
    p = put_le(p, r->bytes, 8);
    p = put_le(p, r->tcp_flags, 2);
    p = put_le(p, r->tos, 1);
    p = put_le(p, r->inport, 4);
    p = put_le(p, r->outport, 4);
    p = put_le(p, r->direction, 1);
    p = put_le(p, r->action, 1);
    p = put_le(p, r->log_status, 1);
    p = put_le(p, r->skipped, 4);
    p = put_le(p, r->sampling, 4);
    p = put_le(p, r->rtt_us, 4);
    p = put_le(p, r->version, 1);
    p = put_le(p, r->domain, 4);
    memcpy(p, r->exporter, 16);
    p = put_le(p + 16, r->exporter_port, 2);
    return put_le(p, r->present, 4);
}

int
chs_rowbin_append(struct chs_buf *b, const struct flow_rec *r, const struct chs_rowctx *c)
{
    size_t nlog = strnlen(c->flowlog, CHS_NAME_MAX);
    size_t ninst = id_len(r->instance_id);
    size_t nsnid = id_len(r->snid);
    size_t nacct = id_len(r->account_id);
    int rc = buf_reserve(b, CHS_ROW_FIXED + 4 * FLOW_VARINT_MAX + nlog + ninst + nsnid + nacct);

    if (rc != 0) {
        return rc;
    }
    uint8_t *p = b->p + b->len;
    p = put_le(p, r->window / 86400u, 2);
    p = put_le(p, r->window, 4);
    p = put_le(p, c->window_s, 4);
    p = put_str(p, c->flowlog, nlog);
    p = put_le(p, r->start_ms, 8);
    p = put_le(p, r->end_ms, 8);
    p = put_fixed(p, r);
    p = put_le(p, r->flags, 1);
    p = put_str(p, r->instance_id, ninst);
    p = put_str(p, r->snid, nsnid);
    p = put_str(p, r->account_id, nacct);
    p = put_le(p, c->batch_id, 8);
    b->len = (size_t) (p - b->p);
    return 0;
}
