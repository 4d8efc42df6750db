/* SPDX-License-Identifier: MIT */
/*
 * Row blocks: the form of runs (records of one commit of an open window, and late records).
 * Runs are written on the ingest path and read whole, usually once, by the seal, and their
 * pages are given back by compacting the partition once it settles; so they want cheap
 * encoding more than small size. A row is the record's fields as LEB128 varints and short
 * byte strings; what every row of a block shares (flow log, window) is in the header, and
 * what usually repeats from the row before (the exporter, the identity) is a bit. A typical
 * IPv4 flow takes about 35 bytes. The block is not compressed: LZ4 over fixed-width rows cost
 * twice the instructions for the same bytes written (callgrind on bench/storage), and the
 * bytes written are what the commit pays for (the page-cache copy of LMDB's writev).
 * stor__block_count/decode read row and columnar blocks alike, told apart by the first byte.
 *
 * Header (big-endian):
 *   offset size  field
 *   0      1     magic 0xFC
 *   1      1     format version, 3
 *   2      2     flow log
 *   4      4     record count n
 *   8      4     rows length p
 *   12     4     check: low 32 bits of XXH3_64bits(rows)
 *   16     4     window (seconds)
 *   20     4     reserved, 0
 *   24     p     rows
 *
 * Row, in this order (v = LEB128 varint, z = zig-zag varint, a = address, s = string):
 *   1 byte `same`: bit 0 exporter, bit 1 identity, bit 2 present, bit 3 ports in/out: the
 *     row has the previous row's values for that group, and leaves them out (never set on
 *     a block's first row)
 *   z start_ms - window * 1000, z end_ms - start_ms, v packets, v bytes, a srcaddr, a dstaddr,
 *   exporter group unless same: a exporter, v exporter_port, v domain, v sampling, 1 byte version
 *   v present unless same; v inport, v outport unless same;
 *   v rtt_us, v skipped, v srcport, v dstport, v tcp_flags,
 *   7 bytes: protocol tos direction action log_status flags raw_len,
 *   identity unless same: s instance_id, s snid, s account_id;
 *   raw_len bytes of raw
 *   address: 1 byte 4 then the IPv4 bytes of an IPv4-mapped address, or 16 then 16 bytes
 *   string: 1 byte length (< FLOW_ID_MAX) then the bytes
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "flow_bytes.h"
#include "stor_int.h"

#define ROWS_MAGIC   0xFC
#define ROWS_VERSION 3
#define ROWS_HDR     24
/* The most bytes one row takes: `same`, 15 varints, 3 addresses, version and the 7 single
 * bytes, 3 strings (length byte + at most FLOW_ID_MAX - 1 bytes), raw. */
#define ROW_MAX (1 + 15 * FLOW_VARINT_MAX + 3 * 17 + 1 + 7 + 3 * FLOW_ID_MAX + FLOW_RAW_MAX)

enum { SAME_EXPORTER = 1, SAME_IDENTITY = 2, SAME_PRESENT = 4, SAME_PORTS = 8 };

static uint64_t
zig(int64_t v)
{
    return flow_zigzag((uint64_t) v);
}

static int64_t
unzig(uint64_t z)
{
    return (int64_t) flow_unzigzag(z);
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
    size_t k = s[0] == '\0' ? 0 : strnlen(s, FLOW_ID_MAX - 1);
    *p = (uint8_t) k;
    memcpy(p + 1, s, k);
    return p + 1 + k;
}

/* strcmp's answer, without a call for the usual empty or differing first byte. */
static bool
str_eq(const char *a, const char *b)
{
    return a[0] == b[0] && (a[0] == '\0' || strcmp(a, b) == 0);
}

static bool
same_ids(const struct flow_rec *r, const struct stor_row_prev *q)
{
    return str_eq(r->instance_id, q->instance_id) && str_eq(r->snid, q->snid) &&
           str_eq(r->account_id, q->account_id);
}

/* Encode r after the row q describes (NULL for a block's first row); q becomes r. */
static size_t
row_put(uint8_t *start, const struct flow_rec *r, struct stor_row_prev *q, bool first,
        uint32_t window)
{
    uint8_t *p = start + 1;
    uint8_t same = 0;

    if (!first) {
        if (memcmp(r->exporter, q->exporter, 16) == 0 && r->exporter_port == q->exporter_port &&
            r->domain == q->domain && r->sampling == q->sampling && r->version == q->version) {
            same |= SAME_EXPORTER;
        }
        same |= same_ids(r, q) ? SAME_IDENTITY : 0;
        same |= r->present == q->present ? SAME_PRESENT : 0;
        same |= r->inport == q->inport && r->outport == q->outport ? SAME_PORTS : 0;
    }
    if (!(same & SAME_EXPORTER)) {
        memcpy(q->exporter, r->exporter, 16);
        q->exporter_port = r->exporter_port;
        q->domain = r->domain;
        q->sampling = r->sampling;
        q->version = r->version;
    }
    if (!(same & SAME_IDENTITY)) {
        memcpy(q->instance_id, r->instance_id, FLOW_ID_MAX);
        memcpy(q->snid, r->snid, FLOW_ID_MAX);
        memcpy(q->account_id, r->account_id, FLOW_ID_MAX);
    }
    q->present = r->present;
    q->inport = r->inport;
    q->outport = r->outport;
    *start = same;
    p = flow_varint_put(p, zig((int64_t) (r->start_ms - (uint64_t) window * 1000u)));
    p = flow_varint_put(p, zig((int64_t) (r->end_ms - r->start_ms))); /* end may precede start */
    p = flow_varint_put(p, r->packets);
    p = flow_varint_put(p, r->bytes);
    p = put_a(p, r->srcaddr);
    p = put_a(p, r->dstaddr);
    if (!(same & SAME_EXPORTER)) {
        p = put_a(p, r->exporter);
        p = flow_varint_put(p, r->exporter_port);
        p = flow_varint_put(p, r->domain);
        p = flow_varint_put(p, r->sampling);
        *p++ = r->version;
    }
    if (!(same & SAME_PRESENT)) {
        p = flow_varint_put(p, r->present);
    }
    if (!(same & SAME_PORTS)) {
        p = flow_varint_put(p, r->inport);
        p = flow_varint_put(p, r->outport);
    }
    p = flow_varint_put(p, r->rtt_us);
    p = flow_varint_put(p, r->skipped);
    p = flow_varint_put(p, r->srcport);
    p = flow_varint_put(p, r->dstport);
    p = flow_varint_put(p, r->tcp_flags);
    uint8_t raw_len = r->raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : r->raw_len;
    const uint8_t b[7] = {r->protocol,   r->tos,   r->direction, r->action,
                          r->log_status, r->flags, raw_len};
    memcpy(p, b, 7);
    p += 7;
    if (!(same & SAME_IDENTITY)) {
        p = put_s(p, r->instance_id);
        p = put_s(p, r->snid);
        p = put_s(p, r->account_id);
    }
    memcpy(p, r->raw, raw_len);
    return (size_t) (p + raw_len - start);
}

int
stor__rows_add(struct stor_rows *rs, const struct flow_rec *r)
{
    bool first = rs->n % rs->per == 0;
    if (rs->n == 0) {
        rs->flowlog = r->flowlog;
        rs->window = r->window;
    }
    assert(r->flowlog == rs->flowlog && r->window == rs->window);
    if (first) {
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
    rs->buf.len += row_put(rs->buf.p + rs->buf.len, r, &rs->prev, first, rs->window);
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
    flow_put_be(out + 2, rs->flowlog, 2);
    flow_put_be(out + 4, n, 4);
    flow_put_be(out + 8, len, 4);
    flow_put_be(out + 12, (uint32_t) XXH3_64bits(rs->buf.p + from, len), 4);
    flow_put_be(out + 16, rs->window, 4);
    flow_put_be(out + 20, 0, 4);
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
    uint64_t n = flow_get_be(p + 4, 4), rlen = flow_get_be(p + 8, 4);
    if (n == 0 || n > STOR_BLOCK_MAX || ROWS_HDR + rlen != len) {
        return STOR_E_CORRUPT;
    }
    return (long) n;
}

/* A bounds-checked reader over the rows; err is sticky. */
struct row_reader {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

static uint64_t
get_v(struct row_reader *r)
{
    uint64_t v = 0;
    if (!flow_varint_get(&r->p, r->end, &v)) {
        r->err = true;
        return 0;
    }
    return v;
}

static void
get_a(struct row_reader *r, uint8_t dst[16])
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
get_s(struct row_reader *r, char *dst)
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

/* Decode one row; prev is the block's previous row (NULL for its first). */
static bool
row_get(struct row_reader *rd, struct flow_rec *r, const struct flow_rec *prev, uint16_t flowlog,
        uint32_t window)
{
    if (rd->p >= rd->end || (*rd->p & ~0x0f) != 0 || (*rd->p != 0 && prev == NULL)) {
        return false;
    }
    uint8_t same = *rd->p++;
    r->flowlog = flowlog;
    r->window = window;
    r->start_ms = (uint64_t) window * 1000u + (uint64_t) unzig(get_v(rd));
    r->end_ms = r->start_ms + (uint64_t) unzig(get_v(rd));
    r->packets = get_v(rd);
    r->bytes = get_v(rd);
    get_a(rd, r->srcaddr);
    get_a(rd, r->dstaddr);
    if (same & SAME_EXPORTER) {
        memcpy(r->exporter, prev->exporter, 16);
        r->exporter_port = prev->exporter_port;
        r->domain = prev->domain;
        r->sampling = prev->sampling;
        r->version = prev->version;
    } else {
        get_a(rd, r->exporter);
        r->exporter_port = (uint16_t) get_v(rd);
        r->domain = (uint32_t) get_v(rd);
        r->sampling = (uint32_t) get_v(rd);
        r->version = rd->p < rd->end ? *rd->p++ : (rd->err = true, 0);
    }
    r->present = same & SAME_PRESENT ? prev->present : (uint32_t) get_v(rd);
    if (same & SAME_PORTS) {
        r->inport = prev->inport;
        r->outport = prev->outport;
    } else {
        r->inport = (uint32_t) get_v(rd);
        r->outport = (uint32_t) get_v(rd);
    }
    r->rtt_us = (uint32_t) get_v(rd);
    r->skipped = (uint32_t) get_v(rd);
    r->srcport = (uint16_t) get_v(rd);
    r->dstport = (uint16_t) get_v(rd);
    r->tcp_flags = (uint16_t) get_v(rd);
    if (rd->err || rd->end - rd->p < 7) {
        return false;
    }
    const uint8_t *b = rd->p;
    r->protocol = b[0];
    r->tos = b[1];
    r->direction = b[2];
    r->action = b[3];
    r->log_status = b[4];
    r->flags = b[5];
    r->raw_len = b[6];
    rd->p += 7;
    if (same & SAME_IDENTITY) {
        memcpy(r->instance_id, prev->instance_id, FLOW_ID_MAX);
        memcpy(r->snid, prev->snid, FLOW_ID_MAX);
        memcpy(r->account_id, prev->account_id, FLOW_ID_MAX);
    } else {
        get_s(rd, r->instance_id);
        get_s(rd, r->snid);
        get_s(rd, r->account_id);
    }
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
    if ((uint32_t) XXH3_64bits(p + ROWS_HDR, len - ROWS_HDR) != (uint32_t) flow_get_be(p + 12, 4)) {
        return STOR_E_CORRUPT;
    }
    struct row_reader rd = {p + ROWS_HDR, p + len, false};
    uint16_t flowlog = (uint16_t) flow_get_be(p + 2, 2);
    uint32_t window = (uint32_t) flow_get_be(p + 16, 4);
    for (long i = 0; i < cnt; i++) {
        if (!row_get(&rd, &recs[i], i > 0 ? &recs[i - 1] : NULL, flowlog, window)) {
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
