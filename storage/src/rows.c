/* SPDX-License-Identifier: MIT */
/*
 * Row blocks: the form of runs (records of one commit of an open window, and late records).
 * Runs are written on the ingest path and read whole, usually once, by the seal, and their
 * pages are given back by compacting the partition once it settles; so they want cheap
 * encoding more than small size. A row is the record's fields as LEB128 varints and short
 * byte strings, about 60 bytes for a typical IPv4 flow, and the block is not compressed: LZ4
 * over fixed-width rows cost twice the instructions for the same bytes written (callgrind on
 * bench/storage). stor__block_count/decode read row and columnar blocks alike, told apart by
 * the first byte.
 *
 * Header (big-endian):
 *   offset size  field
 *   0      1     magic 0xFC
 *   1      1     format version, 2
 *   2      2     reserved, 0
 *   4      4     record count n
 *   8      4     rows length p
 *   12     4     check: low 32 bits of XXH3_64bits(rows)
 *   16     p     rows
 *
 * Row, in this order (v = LEB128 varint, a = address, s = string):
 *   v start_ms, v end_ms - start_ms (zig-zag), v packets, v bytes, a srcaddr, a dstaddr,
 *   a exporter, v present, v domain, v inport, v outport, v sampling, v rtt_us, v window,
 *   v skipped, v srcport, v dstport, v exporter_port, v tcp_flags, v flowlog,
 *   8 bytes: protocol tos version direction action log_status flags raw_len,
 *   s instance_id, s snid, s account_id, raw_len bytes of raw
 *   address: 1 byte 4 then the IPv4 bytes of an IPv4-mapped address, or 16 then 16 bytes
 *   string: 1 byte length (< FLOW_ID_MAX) then the bytes
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "stor_int.h"

#define ROWS_MAGIC   0xFC
#define ROWS_VERSION 2
#define ROWS_HDR     16
#define ROW_MAX      (15 * 10 + 3 * 17 + 8 + 3 * FLOW_ID_MAX + FLOW_RAW_MAX)

static uint8_t *
put_v(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

static uint8_t *
put_a(uint8_t *p, const uint8_t a[16])
{
    if (flow_addr_is_v4(a)) {
        *p = 4;
        memcpy(p + 1, a + 12, 4);
        return p + 5;
    }
    *p = 16;
    memcpy(p + 1, a, 16);
    return p + 17;
}

static uint8_t *
put_s(uint8_t *p, const char *s)
{
    size_t k = strnlen(s, FLOW_ID_MAX - 1);
    *p = (uint8_t) k;
    memcpy(p + 1, s, k);
    return p + 1 + k;
}

static size_t
row_put(uint8_t *start, const struct flow_rec *r)
{
    uint8_t *p = start;
    uint64_t dur = r->end_ms - r->start_ms;
    p = put_v(p, r->start_ms);
    p = put_v(p, (dur << 1) ^ (uint64_t) ((int64_t) dur >> 63)); /* zig-zag: end may precede */
    p = put_v(p, r->packets);
    p = put_v(p, r->bytes);
    p = put_a(p, r->srcaddr);
    p = put_a(p, r->dstaddr);
    p = put_a(p, r->exporter);
    const uint64_t u[13] = {r->present,       r->domain,    r->inport,  r->outport, r->sampling,
                            r->rtt_us,        r->window,    r->skipped, r->srcport, r->dstport,
                            r->exporter_port, r->tcp_flags, r->flowlog};
    for (int i = 0; i < 13; i++) {
        p = put_v(p, u[i]);
    }
    uint8_t raw_len = r->raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : r->raw_len;
    const uint8_t b[8] = {r->protocol, r->tos,        r->version, r->direction,
                          r->action,   r->log_status, r->flags,   raw_len};
    memcpy(p, b, 8);
    p += 8;
    p = put_s(p, r->instance_id);
    p = put_s(p, r->snid);
    p = put_s(p, r->account_id);
    memcpy(p, r->raw, raw_len);
    return (size_t) (p + raw_len - start);
}

int
stor__rows_add(struct stor_rows *rs, const struct flow_rec *r)
{
    if (rs->n % rs->per == 0) {
        if (rs->ncut == rs->cut_cap) {
            size_t cap = rs->cut_cap ? rs->cut_cap * 2 : 16;
            size_t *c = realloc(rs->cut, cap * sizeof(*c));
            if (c == NULL) {
                return -ENOMEM;
            }
            rs->cut = c;
            rs->cut_cap = cap;
        }
        rs->cut[rs->ncut++] = rs->buf.len;
    }
    if (stor__buf_reserve(&rs->buf, ROW_MAX) != 0) {
        return -ENOMEM;
    }
    rs->buf.len += row_put(rs->buf.p + rs->buf.len, r);
    rs->n++;
    return 0;
}

void
stor__rows_clear(struct stor_rows *rs)
{
    rs->buf.len = 0;
    rs->n = 0;
    rs->ncut = 0;
}

void
stor__rows_free(struct stor_rows *rs)
{
    stor__buf_free(&rs->buf);
    free(rs->cut);
    rs->cut = NULL;
    rs->n = rs->ncut = rs->cut_cap = 0;
}

size_t
stor__rows_block_len(const struct stor_rows *rs, size_t chunk)
{
    size_t from = rs->cut[chunk];
    size_t to = chunk + 1 < rs->ncut ? rs->cut[chunk + 1] : rs->buf.len;
    return ROWS_HDR + (to - from);
}

void
stor__rows_block_write(const struct stor_rows *rs, size_t chunk, uint8_t *out)
{
    size_t from = rs->cut[chunk];
    size_t to = chunk + 1 < rs->ncut ? rs->cut[chunk + 1] : rs->buf.len;
    size_t n = chunk + 1 < rs->ncut ? rs->per : rs->n - chunk * rs->per;
    size_t len = to - from;

    out[0] = ROWS_MAGIC;
    out[1] = ROWS_VERSION;
    out[2] = out[3] = 0;
    stor__put_be(out + 4, n, 4);
    stor__put_be(out + 8, len, 4);
    stor__put_be(out + 12, (uint32_t) XXH3_64bits(rs->buf.p + from, len), 4);
    memcpy(out + ROWS_HDR, rs->buf.p + from, len);
}

bool
stor__rows_is(const uint8_t *p, size_t len)
{
    return len >= 1 && p[0] == ROWS_MAGIC;
}

long
stor__rows_count(const uint8_t *p, size_t len)
{
    if (len < ROWS_HDR || p[0] != ROWS_MAGIC || p[1] != ROWS_VERSION) {
        return STOR_E_CORRUPT;
    }
    uint64_t n = stor__get_be(p + 4, 4), rlen = stor__get_be(p + 8, 4);
    if (n == 0 || n > STOR_BLOCK_MAX || ROWS_HDR + rlen != len) {
        return STOR_E_CORRUPT;
    }
    return (long) n;
}

/* A bounds-checked reader over the rows; err is sticky. */
struct rr {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

static uint64_t
get_v(struct rr *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            return v;
        }
    }
    r->err = true;
    return 0;
}

static void
get_a(struct rr *r, uint8_t dst[16])
{
    if (r->p >= r->end || (*r->p != 4 && *r->p != 16) || r->end - r->p < 1 + *r->p) {
        r->err = true;
        return;
    }
    if (*r->p == 4) {
        flow_addr_set_v4(dst, r->p + 1);
    } else {
        memcpy(dst, r->p + 1, 16);
    }
    r->p += 1 + *r->p;
}

static void
get_s(struct rr *r, char *dst)
{
    if (r->p >= r->end || *r->p >= FLOW_ID_MAX || r->end - r->p < 1 + *r->p) {
        r->err = true;
        dst[0] = '\0';
        return;
    }
    memcpy(dst, r->p + 1, *r->p);
    dst[*r->p] = '\0';
    r->p += 1 + *r->p;
}

static bool
row_get(struct rr *rd, struct flow_rec *r)
{
    r->start_ms = get_v(rd);
    uint64_t z = get_v(rd);
    r->end_ms = r->start_ms + ((z >> 1) ^ (~(z & 1) + 1));
    r->packets = get_v(rd);
    r->bytes = get_v(rd);
    get_a(rd, r->srcaddr);
    get_a(rd, r->dstaddr);
    get_a(rd, r->exporter);
    uint64_t u[13];
    for (int i = 0; i < 13; i++) {
        u[i] = get_v(rd);
    }
    r->present = (uint32_t) u[0];
    r->domain = (uint32_t) u[1];
    r->inport = (uint32_t) u[2];
    r->outport = (uint32_t) u[3];
    r->sampling = (uint32_t) u[4];
    r->rtt_us = (uint32_t) u[5];
    r->window = (uint32_t) u[6];
    r->skipped = (uint32_t) u[7];
    r->srcport = (uint16_t) u[8];
    r->dstport = (uint16_t) u[9];
    r->exporter_port = (uint16_t) u[10];
    r->tcp_flags = (uint16_t) u[11];
    r->flowlog = (uint16_t) u[12];
    if (rd->err || rd->end - rd->p < 8) {
        return false;
    }
    const uint8_t *b = rd->p;
    r->protocol = b[0];
    r->tos = b[1];
    r->version = b[2];
    r->direction = b[3];
    r->action = b[4];
    r->log_status = b[5];
    r->flags = b[6];
    r->raw_len = b[7];
    rd->p += 8;
    get_s(rd, r->instance_id);
    get_s(rd, r->snid);
    get_s(rd, r->account_id);
    if (rd->err || r->raw_len > FLOW_RAW_MAX || rd->end - rd->p < r->raw_len) {
        return false;
    }
    memcpy(r->raw, rd->p, r->raw_len);
    rd->p += r->raw_len;
    return true;
}

int
stor__rows_decode(const uint8_t *p, size_t len, struct flow_rec *recs, size_t cap, size_t *n)
{
    long cnt = stor__rows_count(p, len);
    if (cnt < 0) {
        return (int) cnt;
    }
    if ((size_t) cnt > cap) {
        return STOR_E_INVAL;
    }
    if ((uint32_t) XXH3_64bits(p + ROWS_HDR, len - ROWS_HDR) !=
        (uint32_t) stor__get_be(p + 12, 4)) {
        return STOR_E_CORRUPT;
    }
    struct rr rd = {p + ROWS_HDR, p + len, false};
    for (long i = 0; i < cnt; i++) {
        if (!row_get(&rd, &recs[i])) {
            *n = 0;
            return STOR_E_CORRUPT;
        }
    }
    if (rd.p != rd.end) {
        *n = 0;
        return STOR_E_CORRUPT;
    }
    *n = (size_t) cnt;
    return 0;
}
