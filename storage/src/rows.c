/* SPDX-License-Identifier: MIT */
/*
 * Row blocks: the form of runs (records of one commit of an open window, and late records).
 * Runs are written on the ingest path and read whole, usually once, by the seal; they need
 * cheap encoding more than small size, so rows are plain fixed fields compressed with LZ4
 * (half zstd -1's instructions to write and to read, callgrind on bench/storage), not the
 * columnar blocks that sealed data uses (block.c). Their pages are freed by the seal and
 * given back by compacting the partition once it settles. stor__block_count and
 * stor__block_decode read both kinds, told apart by the first byte.
 *
 * Header (big-endian):                       Row (little-endian, fixed part 130 bytes):
 *   offset size  field                         offset size  field
 *   0      1     magic 0xFC                    0      8     start_ms
 *   1      1     format version, 1             8      8     end_ms
 *   2      2     reserved, 0                   16     8     packets
 *   4      4     record count n                24     8     bytes
 *   8      4     rows length (uncompressed)    32     16    srcaddr
 *   12     4     payload length p              48     16    dstaddr
 *   16     4     check: low 32 bits of         64     16    exporter
 *                XXH3_64bits(payload)          80     4     present
 *   20     p     LZ4 block of the rows        84     4     domain
 *                                              88     4     inport
 *                                              92     4     outport
 *                                              96     4     sampling
 *                                              100    4     rtt_us
 *                                              104    4     window
 *                                              108    4     skipped
 *                                              112    2     srcport
 *                                              114    2     dstport
 *                                              116    2     exporter_port
 *                                              118    2     tcp_flags
 *                                              120    2     flowlog
 *                                              122    1     protocol, tos, version,
 *                                                           direction, action, log_status,
 *                                                           flags, raw_len (1 byte each)
 *                                              130    1+k   instance_id: length k, bytes
 *                                              ...    1+k   snid, then account_id likewise
 *                                              ...    r     raw[0..raw_len)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <xxhash.h>

#include "stor_int.h"

#define ROWS_MAGIC   0xFC
#define ROWS_VERSION 1
#define ROWS_HDR     20
#define ROW_FIXED    130
#define ROW_MAX      (ROW_FIXED + 3 * FLOW_ID_MAX + FLOW_RAW_MAX)

static void
le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}

static uint64_t
getle(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--) {
        v = v << 8 | p[i - 1];
    }
    return v;
}

static size_t
put_str(uint8_t *p, const char *s)
{
    size_t k = strnlen(s, FLOW_ID_MAX - 1);
    p[0] = (uint8_t) k;
    memcpy(p + 1, s, k);
    return k + 1;
}

static size_t
row_put(uint8_t *p, const struct flow_rec *r)
{
    le(p, r->start_ms, 8);
    le(p + 8, r->end_ms, 8);
    le(p + 16, r->packets, 8);
    le(p + 24, r->bytes, 8);
    memcpy(p + 32, r->srcaddr, 16);
    memcpy(p + 48, r->dstaddr, 16);
    memcpy(p + 64, r->exporter, 16);
    le(p + 80, r->present, 4);
    le(p + 84, r->domain, 4);
    le(p + 88, r->inport, 4);
    le(p + 92, r->outport, 4);
    le(p + 96, r->sampling, 4);
    le(p + 100, r->rtt_us, 4);
    le(p + 104, r->window, 4);
    le(p + 108, r->skipped, 4);
    le(p + 112, r->srcport, 2);
    le(p + 114, r->dstport, 2);
    le(p + 116, r->exporter_port, 2);
    le(p + 118, r->tcp_flags, 2);
    le(p + 120, r->flowlog, 2);
    uint8_t *b = p + 122;
    b[0] = r->protocol;
    b[1] = r->tos;
    b[2] = r->version;
    b[3] = r->direction;
    b[4] = r->action;
    b[5] = r->log_status;
    b[6] = r->flags;
    b[7] = r->raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : r->raw_len;
    size_t off = ROW_FIXED;
    off += put_str(p + off, r->instance_id);
    off += put_str(p + off, r->snid);
    off += put_str(p + off, r->account_id);
    memcpy(p + off, r->raw, b[7]);
    return off + b[7];
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

int
stor__rows_block(const struct stor_rows *rs, size_t chunk, struct stor_buf *out)
{
    size_t from = rs->cut[chunk];
    size_t to = chunk + 1 < rs->ncut ? rs->cut[chunk + 1] : rs->buf.len;
    size_t n = chunk + 1 < rs->ncut ? rs->per : rs->n - chunk * rs->per;
    size_t len = to - from;
    int bound = LZ4_compressBound((int) len);
    int rc;

    if ((rc = stor__buf_reserve(out, ROWS_HDR + (size_t) bound)) != 0) {
        return rc;
    }
    uint8_t *h = out->p + out->len;
    int lz = LZ4_compress_default((const char *) rs->buf.p + from, (char *) h + ROWS_HDR, (int) len,
                                  bound);
    if (lz <= 0) {
        return -ENOMEM; /* cannot happen with a compressBound buffer */
    }
    size_t plen = (size_t) lz;
    h[0] = ROWS_MAGIC;
    h[1] = ROWS_VERSION;
    h[2] = h[3] = 0;
    stor__put_be(h + 4, n, 4);
    stor__put_be(h + 8, len, 4);
    stor__put_be(h + 12, plen, 4);
    stor__put_be(h + 16, (uint32_t) XXH3_64bits(h + ROWS_HDR, plen), 4);
    out->len += ROWS_HDR + plen;
    return 0;
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
    uint64_t n = stor__get_be(p + 4, 4), plen = stor__get_be(p + 12, 4);
    if (n == 0 || n > STOR_BLOCK_MAX || ROWS_HDR + plen != len) {
        return STOR_E_CORRUPT;
    }
    return (long) n;
}

static bool
get_str(const uint8_t **p, const uint8_t *end, char *dst)
{
    if (*p >= end || **p >= FLOW_ID_MAX || (size_t) (end - *p) < 1u + **p) {
        return false;
    }
    size_t k = **p;
    memcpy(dst, *p + 1, k);
    dst[k] = '\0';
    *p += 1 + k;
    return true;
}

static bool
row_get(const uint8_t **pp, const uint8_t *end, struct flow_rec *r)
{
    const uint8_t *p = *pp;
    if ((size_t) (end - p) < ROW_FIXED) {
        return false;
    }
    r->start_ms = getle(p, 8);
    r->end_ms = getle(p + 8, 8);
    r->packets = getle(p + 16, 8);
    r->bytes = getle(p + 24, 8);
    memcpy(r->srcaddr, p + 32, 16);
    memcpy(r->dstaddr, p + 48, 16);
    memcpy(r->exporter, p + 64, 16);
    r->present = (uint32_t) getle(p + 80, 4);
    r->domain = (uint32_t) getle(p + 84, 4);
    r->inport = (uint32_t) getle(p + 88, 4);
    r->outport = (uint32_t) getle(p + 92, 4);
    r->sampling = (uint32_t) getle(p + 96, 4);
    r->rtt_us = (uint32_t) getle(p + 100, 4);
    r->window = (uint32_t) getle(p + 104, 4);
    r->skipped = (uint32_t) getle(p + 108, 4);
    r->srcport = (uint16_t) getle(p + 112, 2);
    r->dstport = (uint16_t) getle(p + 114, 2);
    r->exporter_port = (uint16_t) getle(p + 116, 2);
    r->tcp_flags = (uint16_t) getle(p + 118, 2);
    r->flowlog = (uint16_t) getle(p + 120, 2);
    const uint8_t *b = p + 122;
    r->protocol = b[0];
    r->tos = b[1];
    r->version = b[2];
    r->direction = b[3];
    r->action = b[4];
    r->log_status = b[5];
    r->flags = b[6];
    r->raw_len = b[7];
    p += ROW_FIXED;
    if (r->raw_len > FLOW_RAW_MAX || !get_str(&p, end, r->instance_id) ||
        !get_str(&p, end, r->snid) || !get_str(&p, end, r->account_id) ||
        (size_t) (end - p) < r->raw_len) {
        return false;
    }
    memcpy(r->raw, p, r->raw_len);
    *pp = p + r->raw_len;
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
    uint64_t rlen = stor__get_be(p + 8, 4), plen = stor__get_be(p + 12, 4);
    if ((uint32_t) XXH3_64bits(p + ROWS_HDR, plen) != (uint32_t) stor__get_be(p + 16, 4) ||
        rlen > (uint64_t) cnt * ROW_MAX) {
        return STOR_E_CORRUPT;
    }
    uint8_t *rows = malloc(rlen ? rlen : 1);
    if (rows == NULL) {
        return -ENOMEM;
    }
    int got =
        LZ4_decompress_safe((const char *) p + ROWS_HDR, (char *) rows, (int) plen, (int) rlen);
    int rc = got >= 0 && (uint64_t) got == rlen ? 0 : STOR_E_CORRUPT;
    const uint8_t *q = rows, *end = rows + rlen;
    for (long i = 0; rc == 0 && i < cnt; i++) {
        if (!row_get(&q, end, &recs[i])) {
            rc = STOR_E_CORRUPT;
        }
    }
    if (rc == 0 && q != end) {
        rc = STOR_E_CORRUPT;
    }
    free(rows);
    *n = rc == 0 ? (size_t) cnt : 0;
    return rc;
}
