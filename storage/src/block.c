/* SPDX-License-Identifier: MIT */
/*
 * Blocks: the compact on-disk form of up to STOR_BLOCK_MAX flow records (block.h): the header,
 * compression, and the order of columns when encoding and decoding. The columns themselves are
 * col.c's, summaries and their Bloom filter sum.c's (filled here while encoding), the exact
 * evaluation of conditions match.c's; the formats of all of them are the tables below.
 *
 * A block is a small header followed by a body that is zstd-compressed (level 1) when that
 * saves space. The body is columnar: every field is turned into one column of unsigned values
 * (presence-masked, so a field whose `present` bit is clear is stored as 0), and each column
 * is written either as one constant or as 1..8 byte planes after a frame-of-reference or a
 * zig-zag delta transform, whichever needs fewer planes. Byte planes keep bytes of like
 * distribution together, which zstd's entropy stage and match finder exploit; decoding them
 * is branch-free. IPv4-mapped addresses are 4 byte planes with constant planes folded to one
 * byte (a column from one /16 costs two planes); other addresses are listed whole behind a
 * bitmap. Identity strings are dictionary coded.
 * This file leaves where blocks live (LMDB keys, partitions) to the rest of storage/.
 *
 * Block header (all integers big-endian):
 *   offset size  field
 *   0      1     magic 0xFB
 *   1      1     format version, 1
 *   2      1     flags: bit 0 = body is one zstd frame; other bits 0
 *   3      1     reserved, 0
 *   4      4     record count n, 1..STOR_BLOCK_MAX
 *   8      4     body length (uncompressed)
 *   12     4     payload length p (bytes after the header; the block is exactly 20 + p)
 *   16     4     check: low 32 bits of XXH3_64bits(payload)
 *   20     p     payload: the body, zstd-compressed when flag bit 0 is set
 *
 * Body: columns back to back, in this order, and nothing after them:
 *   28 numeric columns  present version flags direction action log_status protocol tos
 *                       tcp_flags srcport dstport exporter_port domain inport outport
 *                       sampling rtt_us skipped flowlog window packets bytes start_ms
 *                       end(=flow_zigzag(end_ms - start_ms)) raw_len instance# snid# account#
 *                       (the last three are indexes into the string dictionaries below)
 *   3 address columns   srcaddr dstaddr exporter
 *   3 dictionaries      instance_id snid account_id
 *   raw blob            varint total, then the records' raw[0..raw_len) back to back
 *
 * Numeric column:
 *   1 byte   kind: 0 constant, 1 frame of reference, 2 zig-zag delta
 *   varint   base (LEB128, at most 10 bytes)
 *   -- kinds 1 and 2 only:
 *   1 byte   w, planes 1..8
 *   w * n    plane k holds byte k (least significant first) of x[i]; value[i] = base + x[i]
 *            (kind 1) or value[i] = value[i-1] + flow_unzigzag(x[i]) with value[-1] = base (kind 2)
 *
 * Address column (IPv4-mapped addresses cost their 4 low bytes; others are listed whole):
 *   1 byte   form: 0 = every address IPv4-mapped, 1 = some are not
 *   -- form 1 only:
 *   varint   m, addresses that are not IPv4-mapped (1..n)
 *   (n+7)/8  bitmap: bit i (byte i >> 3, bit i & 7) set = record i's address is listed
 *   16 * m   those addresses, in record order
 *   -- always:
 *   1 byte   mask: bit k (0..3) set = byte 12+k is the same in every IPv4-mapped address
 *   1 byte   for each set bit, ascending: that byte
 *   n bytes  for each clear bit, ascending: plane k (byte 12+k; 0 for listed records)
 *
 * Dictionary: varint k (1..n), then k entries of [1 byte len <= FLOW_ID_MAX-1][len bytes,
 * no NUL]; the column's indexes must be < k.
 *
 * Summary (stor__sum_write; big-endian, STOR_SUM_BYTES):
 *   offset size          field
 *   0      4             n
 *   4      16*F          per enum stor_field f: min u64, max u64 (0, 0 for address/text)
 *   4+16F  16 x 4        srcaddr min, srcaddr max, dstaddr min, dstaddr max
 *   68+16F BLOOM_BYTES   Bloom filter, k = 3 probes, bit b is bloom[b >> 3] & 1 << (b & 7)
 *
 * Bloom keys: h = XXH3_64bits_withSeed(key, len, seed); probe i (0..2) sets bit
 * (lo32(h) + i * (hi32(h) | 1)) mod (8 * STOR_BLOOM_BYTES). Keys:
 *   srcaddr (tag 1), dstaddr (tag 2): the address masked to plen, 16 bytes, seed tag << 8 | plen,
 *     for plen 128 and /104 /112 /120 (IPv4-mapped) or /32 /48 /64 (others); a record without
 *     the address counts as ::
 *   exporter (tag 3): 16 bytes, seed 3 << 8 | 128
 *   instance_id (tag 4), account_id (tag 5): the text zero-padded to 40 bytes, seed tag << 8
 *     ("" when the record lacks it)
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "block_int.h"

#define HDR_BYTES   20
#define MAGIC       0xFB
#define FMT_VERSION 1
#define F_ZSTD      0x01
#ifndef ZLEVEL
#define ZLEVEL 1 /* level 3 measured ~1% smaller and 25-40% slower to encode */
#endif
#define CHUNK 64 /* records decoded together: the chunk's records stay in L1 */

/* Largest value each column may decode to (anything else is corruption). */
static const uint64_t col_max[C_NUM] = {
    [C_PRESENT] = UINT32_MAX,  [C_VERSION] = UINT8_MAX,   [C_FLAGS] = UINT8_MAX,
    [C_DIRECTION] = UINT8_MAX, [C_ACTION] = UINT8_MAX,    [C_LOG_STATUS] = UINT8_MAX,
    [C_PROTOCOL] = UINT8_MAX,  [C_TOS] = UINT8_MAX,       [C_TCPFLAGS] = UINT16_MAX,
    [C_SRCPORT] = UINT16_MAX,  [C_DSTPORT] = UINT16_MAX,  [C_EXPPORT] = UINT16_MAX,
    [C_DOMAIN] = UINT32_MAX,   [C_INPORT] = UINT32_MAX,   [C_OUTPORT] = UINT32_MAX,
    [C_SAMPLING] = UINT32_MAX, [C_RTT] = UINT32_MAX,      [C_SKIPPED] = UINT32_MAX,
    [C_FLOWLOG] = UINT16_MAX,  [C_WINDOW] = UINT32_MAX,   [C_PACKETS] = UINT64_MAX,
    [C_BYTES] = UINT64_MAX,    [C_START] = UINT64_MAX,    [C_END] = UINT64_MAX,
    [C_RAWLEN] = UINT8_MAX,    [C_INSTANCE] = UINT16_MAX, [C_SNID] = UINT16_MAX,
    [C_ACCOUNT] = UINT16_MAX,
};

/* The most bytes the body of n records can take: the sum of its parts' bounds. The encoder
 * writes into a buffer of exactly this size; the decoder refuses larger declared bodies. */
static size_t
body_bound(size_t n)
{
    return C_NUM * stor__col_num_bound(n) + 3 * stor__col_addrs_bound(n) +
           3 * stor__col_dict_bound(n) + FLOW_VARINT_MAX + n * FLOW_RAW_MAX;
}

/* Scratch for one encode: column values, addresses, dictionaries. */
struct enc {
    uint64_t *v[C_NUM];
    uint8_t (*addr[3])[16];
    struct col_dict_builder dict[3];
    uint64_t end_min, end_max;
    void *mem;
};

static int
enc_alloc(struct enc *e, size_t n)
{
    size_t tabsz = 16;
    while (tabsz < 2 * n) {
        tabsz *= 2;
    }
    size_t per = C_NUM * 8 + 3 * 16 + 3 * (sizeof(char *) + 1) + 8;
    e->mem = malloc(n * per + 3 * tabsz * sizeof(uint32_t) + 64);
    if (e->mem == NULL) {
        return -ENOMEM;
    }
    uint8_t *p = e->mem;
    for (int c = 0; c < C_NUM; c++, p += 8 * n) {
        e->v[c] = (uint64_t *) (void *) p;
    }
    for (int a = 0; a < 3; a++, p += 16 * n) {
        e->addr[a] = (uint8_t(*)[16]) p;
    }
    for (int d = 0; d < 3; d++) {
        e->dict[d].s = (const char **) (void *) p;
        p += n * sizeof(char *);
        e->dict[d].tab = (uint32_t *) (void *) p;
        p += tabsz * sizeof(uint32_t);
        memset(e->dict[d].tab, 0, tabsz * sizeof(uint32_t));
        e->dict[d].tabmask = tabsz - 1;
        e->dict[d].k = 0;
    }
    for (int d = 0; d < 3; d++, p += n) {
        e->dict[d].len = p; /* byte arrays last: nothing after them needs alignment */
    }
    return 0;
}

/* Index of a string in a dictionary, with a shortcut for a repeat of the previous record. */
static uint64_t
str_col(struct enc *e, int d, const char *s, bool has, size_t i, const char *prev, bool phas)
{
    uint64_t *idx = e->v[C_INSTANCE + d];
    if (i > 0 && has == phas && (!has || memcmp(s, prev, FLOW_ID_MAX) == 0)) {
        return idx[i - 1];
    }
    return has ? stor__col_dict_index(&e->dict[d], s, stor__id_len(s))
               : stor__col_dict_index(&e->dict[d], "", 0);
}

static void
extract_one(struct enc *e, const struct flow_rec *r, size_t i)
{
    uint64_t **v = e->v;
    v[C_PRESENT][i] = r->present;
    v[C_VERSION][i] = r->version;
    v[C_FLAGS][i] = r->flags;
    v[C_DIRECTION][i] = r->direction;
    v[C_ACTION][i] = r->action;
    v[C_LOG_STATUS][i] = r->log_status;
    v[C_PROTOCOL][i] = MASKED(r, FLOW_HAS_PROTOCOL, protocol);
    v[C_TOS][i] = MASKED(r, FLOW_HAS_TOS, tos);
    v[C_TCPFLAGS][i] = MASKED(r, FLOW_HAS_TCPFLAGS, tcp_flags);
    v[C_SRCPORT][i] = MASKED(r, FLOW_HAS_SRCPORT, srcport);
    v[C_DSTPORT][i] = MASKED(r, FLOW_HAS_DSTPORT, dstport);
    v[C_EXPPORT][i] = r->exporter_port;
    v[C_DOMAIN][i] = r->domain;
    v[C_INPORT][i] = MASKED(r, FLOW_HAS_INPORT, inport);
    v[C_OUTPORT][i] = MASKED(r, FLOW_HAS_OUTPORT, outport);
    v[C_SAMPLING][i] = MASKED(r, FLOW_HAS_SAMPLING, sampling);
    v[C_RTT][i] = MASKED(r, FLOW_HAS_RTT, rtt_us);
    v[C_SKIPPED][i] = r->skipped;
    v[C_FLOWLOG][i] = r->flowlog;
    v[C_WINDOW][i] = r->window;
    v[C_PACKETS][i] = MASKED(r, FLOW_HAS_PACKETS, packets);
    v[C_BYTES][i] = MASKED(r, FLOW_HAS_BYTES, bytes);
    v[C_START][i] = r->start_ms;
    v[C_END][i] = flow_zigzag(r->end_ms - r->start_ms);
    v[C_RAWLEN][i] = r->raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : r->raw_len;
    e->end_min = r->end_ms < e->end_min ? r->end_ms : e->end_min;
    e->end_max = r->end_ms > e->end_max ? r->end_ms : e->end_max;
    if (HAS(r, FLOW_HAS_SRCADDR)) {
        memcpy(e->addr[0][i], r->srcaddr, 16);
    } else {
        memset(e->addr[0][i], 0, 16);
    }
    if (HAS(r, FLOW_HAS_DSTADDR)) {
        memcpy(e->addr[1][i], r->dstaddr, 16);
    } else {
        memset(e->addr[1][i], 0, 16);
    }
    memcpy(e->addr[2][i], r->exporter, 16);
}

/* Bloom filter and address ranges for one record (its columns already extracted). */
struct sumstate {
    struct a128 last[2][4];
    bool have[2];
    struct a128 mn[2], mx[2];
    size_t last_exp, last_inst, last_acct; /* record index of the last insert, SIZE_MAX none */
};

static void
addr_minmax(const uint8_t a[16], struct a128 *mn, struct a128 *mx)
{
    struct a128 v = a128_load(a);
    *mn = a128_lt(v, *mn) ? v : *mn;
    *mx = a128_lt(*mx, v) ? v : *mx;
}

static void
sum_one(struct stor_sum *s, struct sumstate *st, const struct enc *e, size_t i)
{
    const uint8_t *src = e->addr[0][i], *dst = e->addr[1][i];
    addr_minmax(src, &st->mn[0], &st->mx[0]);
    addr_minmax(dst, &st->mn[1], &st->mx[1]);
    stor__bloom_add_addr(s->bloom, T_SRC, src, st->last[0], &st->have[0]);
    stor__bloom_add_addr(s->bloom, T_DST, dst, st->last[1], &st->have[1]);
    if (st->last_exp == SIZE_MAX || memcmp(e->addr[2][i], e->addr[2][st->last_exp], 16) != 0) {
        stor__bloom_add(s->bloom, stor__hash_addr(T_EXPORTER, 128, e->addr[2][i]));
        st->last_exp = i;
    }
    const uint64_t *sp = e->v[C_SRCPORT], *dp = e->v[C_DSTPORT];
    if (i == 0 || sp[i] != sp[i - 1]) {
        stor__bloom_add(s->bloom, stor__hash_port(T_SRCPORT, sp[i]));
    }
    if (i == 0 || dp[i] != dp[i - 1]) {
        stor__bloom_add(s->bloom, stor__hash_port(T_DSTPORT, dp[i]));
    }
    const uint64_t *inst = e->v[C_INSTANCE], *acct = e->v[C_ACCOUNT];
    if (st->last_inst == SIZE_MAX || inst[i] != inst[st->last_inst]) {
        const struct col_dict_builder *d = &e->dict[0];
        stor__bloom_add(s->bloom, stor__hash_text(T_INSTANCE, d->s[inst[i]], d->len[inst[i]]));
        st->last_inst = i;
    }
    if (st->last_acct == SIZE_MAX || acct[i] != acct[st->last_acct]) {
        const struct col_dict_builder *d = &e->dict[2];
        stor__bloom_add(s->bloom, stor__hash_text(T_ACCOUNT, d->s[acct[i]], d->len[acct[i]]));
        st->last_acct = i;
    }
}

static void
extract(struct enc *e, const struct flow_rec *recs, size_t n, struct stor_sum *s)
{
    struct sumstate st = {.last_exp = SIZE_MAX, .last_inst = SIZE_MAX, .last_acct = SIZE_MAX};
    st.mn[0] = st.mn[1] = (struct a128){UINT64_MAX, UINT64_MAX};
    static const uint32_t sbit[3] = {FLOW_HAS_INSTANCE, FLOW_HAS_SNID, FLOW_HAS_ACCOUNT};

    memset(s, 0, sizeof(*s));
    s->n = (uint32_t) n;
    e->end_min = UINT64_MAX;
    e->end_max = 0;
    for (size_t i = 0; i < n; i++) {
        const struct flow_rec *r = &recs[i], *p = i > 0 ? &recs[i - 1] : r;
        extract_one(e, r, i);
        const char *cur[3] = {r->instance_id, r->snid, r->account_id};
        const char *prv[3] = {p->instance_id, p->snid, p->account_id};
        for (int d = 0; d < 3; d++) {
            e->v[C_INSTANCE + d][i] =
                str_col(e, d, cur[d], HAS(r, sbit[d]), i, prv[d], HAS(p, sbit[d]));
        }
        sum_one(s, &st, e, i);
    }
    a128_store(s->srcaddr_min, st.mn[0]);
    a128_store(s->srcaddr_max, st.mx[0]);
    a128_store(s->dstaddr_min, st.mn[1]);
    a128_store(s->dstaddr_max, st.mx[1]);
}

/* Map the column minima / maxima onto the summary's fields. */
static void
sum_fields(struct stor_sum *s, const uint64_t *mn, const uint64_t *mx, const struct enc *e)
{
    static const struct {
        uint8_t f, c;
    } map[] = {
        {STOR_F_SRCPORT, C_SRCPORT},   {STOR_F_DSTPORT, C_DSTPORT},
        {STOR_F_PROTOCOL, C_PROTOCOL}, {STOR_F_PACKETS, C_PACKETS},
        {STOR_F_BYTES, C_BYTES},       {STOR_F_START, C_START},
        {STOR_F_ACTION, C_ACTION},     {STOR_F_LOG_STATUS, C_LOG_STATUS},
        {STOR_F_TCPFLAGS, C_TCPFLAGS}, {STOR_F_TOS, C_TOS},
        {STOR_F_INPORT, C_INPORT},     {STOR_F_OUTPORT, C_OUTPORT},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        s->min[map[i].f] = mn[map[i].c];
        s->max[map[i].f] = mx[map[i].c];
    }
    s->min[STOR_F_END] = e->end_min;
    s->max[STOR_F_END] = e->end_max;
}

static void
write_body(struct col_writer *w, struct enc *e, size_t n, struct stor_sum *s,
           const struct flow_rec *recs)
{
    uint64_t mn[C_NUM], mx[C_NUM];
    for (int c = 0; c < C_NUM; c++) {
        stor__col_put_numeric(w, e->v[c], n, &mn[c], &mx[c]);
    }
    for (int a = 0; a < 3; a++) {
        stor__col_put_addrs(w, (const uint8_t(*)[16]) e->addr[a], n);
    }
    for (int d = 0; d < 3; d++) {
        stor__col_put_dict(w, &e->dict[d]);
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += recs[i].raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : recs[i].raw_len;
    }
    stor__col_put_varint(w, total);
    for (size_t i = 0; i < n && total > 0; i++) {
        size_t l = recs[i].raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : recs[i].raw_len;
        stor__col_put_bytes(w, recs[i].raw, l);
    }
    sum_fields(s, mn, mx, e);
}

/* Compress body into out behind a header. */
static int
put_block(const struct col_writer *body, size_t n, struct stor_buf *out)
{
    size_t bound = ZSTD_compressBound(body->len);
    int rc = stor__buf_reserve(out, HDR_BYTES + (bound > body->len ? bound : body->len));
    if (rc != 0) {
        return rc;
    }
    uint8_t *h = out->p + out->len, *pay = h + HDR_BYTES;
    size_t plen = ZSTD_compress(pay, bound, body->p, body->len, ZLEVEL);
    unsigned flags = F_ZSTD;
    if (ZSTD_isError(plen) || plen >= body->len) {
        memcpy(pay, body->p, body->len);
        plen = body->len;
        flags = 0;
    }
    h[0] = MAGIC;
    h[1] = FMT_VERSION;
    h[2] = (uint8_t) flags;
    h[3] = 0;
    flow_put_be(h + 4, n, 4);
    flow_put_be(h + 8, body->len, 4);
    flow_put_be(h + 12, plen, 4);
    flow_put_be(h + 16, (uint32_t) XXH3_64bits(pay, plen), 4);
    out->len += HDR_BYTES + plen;
    return 0;
}

int
stor__block_encode(const struct flow_rec *recs, size_t n, struct stor_buf *out,
                   struct stor_sum *sum)
{
    struct enc e;
    struct col_writer w = {0};
    int rc;

    if (n < 1 || n > STOR_BLOCK_MAX) {
        return STOR_E_INVAL;
    }
    if ((rc = enc_alloc(&e, n)) != 0) {
        return rc;
    }
    w.cap = body_bound(n);
    if ((w.p = malloc(w.cap)) == NULL) {
        rc = -ENOMEM;
        goto free_enc;
    }
    extract(&e, recs, n, sum);
    write_body(&w, &e, n, sum, recs);
    /* The bound is exact, so an overflow is our bug: refuse the block rather than store it. */
    rc = w.overflow ? -EOVERFLOW : put_block(&w, n, out);
    free(w.p);
free_enc:
    free(e.mem);
    return rc;
}

/* ---- decoding ---- */

struct dec {
    size_t n;
    struct col_num num[C_NUM];
    struct col_addrs addr[3];
    struct col_dict dict[3];
    const uint8_t *raw;
    size_t raw_total;
    struct flow_rec tmpl; /* every constant column already in place */
    bool want[C_NUM];     /* the projection: columns to decode (stor.h "Projection") */
    bool want_addr[3];
    size_t copy; /* bytes of the template each record starts from (stor.h "Projection") */
};

/* The projection bit of each column; 0 for the columns always decoded. */
static const uint64_t col_bit[C_NUM] = {
    [C_VERSION] = STOR_COL_VERSION,
    [C_FLAGS] = STOR_COL_FLAGS,
    [C_DIRECTION] = STOR_COL_DIRECTION,
    [C_ACTION] = STOR_COL_ACTION,
    [C_LOG_STATUS] = STOR_COL_LOGSTATUS,
    [C_PROTOCOL] = STOR_COL_PROTOCOL,
    [C_TOS] = STOR_COL_TOS,
    [C_TCPFLAGS] = STOR_COL_TCPFLAGS,
    [C_SRCPORT] = STOR_COL_SRCPORT,
    [C_DSTPORT] = STOR_COL_DSTPORT,
    [C_EXPPORT] = STOR_COL_EXPPORT,
    [C_DOMAIN] = STOR_COL_DOMAIN,
    [C_INPORT] = STOR_COL_INPORT,
    [C_OUTPORT] = STOR_COL_OUTPORT,
    [C_SAMPLING] = STOR_COL_SAMPLING,
    [C_RTT] = STOR_COL_RTT,
    [C_SKIPPED] = STOR_COL_SKIPPED,
    [C_PACKETS] = STOR_COL_PACKETS,
    [C_BYTES] = STOR_COL_BYTES,
    [C_RAWLEN] = STOR_COL_RAW,
    [C_INSTANCE] = STOR_COL_INSTANCE,
    [C_SNID] = STOR_COL_SNID,
    [C_ACCOUNT] = STOR_COL_ACCOUNT,
};

/* Which columns to decode for the projection cols (0 = all). */
static void
set_want(struct dec *d, uint64_t cols)
{
    static const uint64_t abit[3] = {STOR_COL_SRCADDR, STOR_COL_DSTADDR, STOR_COL_EXPORTER};
    for (int c = 0; c < C_NUM; c++) {
        d->want[c] = cols == 0 || col_bit[c] == 0 || (cols & col_bit[c]) != 0;
    }
    for (int a = 0; a < 3; a++) {
        d->want_addr[a] = cols == 0 || (cols & abit[a]) != 0;
    }
    /* Without strings and raw bytes, the record's tail (two thirds of it) is not written. */
    bool tail = d->want[C_INSTANCE] || d->want[C_SNID] || d->want[C_ACCOUNT] || d->want[C_RAWLEN];
    d->copy = tail ? sizeof(struct flow_rec) : offsetof(struct flow_rec, instance_id);
}

/* The raw_len column must give values <= FLOW_RAW_MAX summing to the blob's length. */
static int
check_rawlen(struct dec *d)
{
    struct col_num c = d->num[C_RAWLEN];
    uint64_t t[CHUNK], sum = 0;
    for (size_t i0 = 0; i0 < d->n; i0 += CHUNK) {
        size_t cnt = d->n - i0 < CHUNK ? d->n - i0 : CHUNK;
        stor__col_gather(&c, d->n, i0, cnt, t);
        for (size_t j = 0; j < cnt; j++) {
            if (t[j] > FLOW_RAW_MAX) {
                return STOR_E_CORRUPT;
            }
            sum += t[j];
        }
    }
    return sum == d->raw_total ? 0 : STOR_E_CORRUPT;
}

static int
parse_body(struct dec *d, const uint8_t *body, size_t len)
{
    struct col_reader r = {body, body + len, false};
    int rc;
    for (int c = 0; c < C_NUM; c++) {
        stor__col_get_numeric(&r, &d->num[c], d->n);
    }
    for (int a = 0; a < 3; a++) {
        stor__col_get_addrs(&r, &d->addr[a], d->n);
    }
    if (r.err) {
        return STOR_E_CORRUPT;
    }
    for (int k = 0; k < 3; k++) {
        if ((rc = stor__col_get_dict(&r, &d->dict[k], d->n)) != 0) {
            return rc;
        }
    }
    uint64_t total = stor__col_get_varint(&r);
    d->raw = stor__col_take(&r, total <= len ? (size_t) total : len + 1);
    d->raw_total = (size_t) total;
    if (r.err || r.p != r.end) {
        return STOR_E_CORRUPT;
    }
    return check_rawlen(d);
}

static void
scatter(struct flow_rec *rec, int c, const uint64_t *t, size_t cnt)
{
#define SCAT(field, type)                                                                          \
    for (size_t j = 0; j < cnt; j++) {                                                             \
        rec[j].field = (type) t[j];                                                                \
    }                                                                                              \
    break
    switch (c) {
    case C_PRESENT:
        SCAT(present, uint32_t);
    case C_VERSION:
        SCAT(version, uint8_t);
    case C_FLAGS:
        SCAT(flags, uint8_t);
    case C_DIRECTION:
        SCAT(direction, uint8_t);
    case C_ACTION:
        SCAT(action, uint8_t);
    case C_LOG_STATUS:
        SCAT(log_status, uint8_t);
    case C_PROTOCOL:
        SCAT(protocol, uint8_t);
    case C_TOS:
        SCAT(tos, uint8_t);
    case C_TCPFLAGS:
        SCAT(tcp_flags, uint16_t);
    case C_SRCPORT:
        SCAT(srcport, uint16_t);
    case C_DSTPORT:
        SCAT(dstport, uint16_t);
    case C_EXPPORT:
        SCAT(exporter_port, uint16_t);
    case C_DOMAIN:
        SCAT(domain, uint32_t);
    case C_INPORT:
        SCAT(inport, uint32_t);
    case C_OUTPORT:
        SCAT(outport, uint32_t);
    case C_SAMPLING:
        SCAT(sampling, uint32_t);
    case C_RTT:
        SCAT(rtt_us, uint32_t);
    case C_SKIPPED:
        SCAT(skipped, uint32_t);
    case C_FLOWLOG:
        SCAT(flowlog, uint16_t);
    case C_WINDOW:
        SCAT(window, uint32_t);
    case C_PACKETS:
        SCAT(packets, uint64_t);
    case C_BYTES:
        SCAT(bytes, uint64_t);
    case C_START:
        SCAT(start_ms, uint64_t);
    case C_RAWLEN:
        SCAT(raw_len, uint8_t);
    case C_END:
        for (size_t j = 0; j < cnt; j++) {
            rec[j].end_ms = rec[j].start_ms + flow_unzigzag(t[j]);
        }
        break;
    default:
        break;
    }
#undef SCAT
}

static char *
rec_str(struct flow_rec *r, int k)
{
    return k == 0 ? r->instance_id : k == 1 ? r->snid : r->account_id;
}

static uint8_t *
rec_addr(struct flow_rec *r, int a)
{
    return a == 0 ? r->srcaddr : a == 1 ? r->dstaddr : r->exporter;
}

/* Build the template record from every constant column; false when one is out of range. */
static bool
make_tmpl(struct dec *d)
{
    memset(&d->tmpl, 0, sizeof(d->tmpl));
    for (int c = 0; c < C_NUM; c++) {
        if (d->num[c].kind == K_CONST && c != C_END && c < C_INSTANCE) {
            if (d->num[c].base > col_max[c]) {
                return false;
            }
            scatter(&d->tmpl, c, &d->num[c].base, 1);
        }
    }
    for (int k = 0; k < 3; k++) {
        const struct col_num *c = &d->num[C_INSTANCE + k];
        if (c->kind == K_CONST) {
            if (c->base >= d->dict[k].k) {
                return false;
            }
            memcpy(rec_str(&d->tmpl, k), d->dict[k].s[c->base], FLOW_ID_MAX);
        }
    }
    for (int a = 0; a < 3; a++) {
        uint8_t *t = rec_addr(&d->tmpl, a);
        flow_addr_set_v4(t, d->addr[a].konst);
    }
    return true;
}

static int
chunk_strings(struct dec *d, struct flow_rec *rec, size_t i0, size_t cnt, uint64_t *t)
{
    for (int k = 0; k < 3; k++) {
        struct col_num *c = &d->num[C_INSTANCE + k];
        if (c->kind == K_CONST || !d->want[C_INSTANCE + k]) {
            continue;
        }
        stor__col_gather(c, d->n, i0, cnt, t);
        for (size_t j = 0; j < cnt; j++) {
            if (t[j] >= d->dict[k].k) {
                return STOR_E_CORRUPT;
            }
            memcpy(rec_str(&rec[j], k), d->dict[k].s[t[j]], FLOW_ID_MAX);
        }
    }
    return 0;
}

static void
chunk_addrs(struct dec *d, struct flow_rec *rec, size_t i0, size_t cnt)
{
    for (int a = 0; a < 3; a++) {
        struct col_addrs *c = &d->addr[a];
        if (!d->want_addr[a]) {
            continue;
        }
        size_t off = (size_t) (rec_addr(rec, a) - (uint8_t *) rec);
        for (unsigned k = 0; k < 4; k++) {
            const uint8_t *pl = c->pl[k];
            for (size_t j = 0; j < cnt && pl != NULL; j++) {
                ((uint8_t *) &rec[j])[off + 12 + k] = pl[i0 + j];
            }
        }
        for (size_t j = 0; j < cnt && c->m > 0; j++) {
            size_t i = i0 + j;
            if (c->bits[i >> 3] & (1u << (i & 7))) {
                memcpy((uint8_t *) &rec[j] + off, c->list + 16 * c->next++, 16);
            }
        }
    }
}

/* Copy the first len bytes of a record in 64-byte pieces: compilers turn a struct assignment
 * into a slow rep movs. */
static inline void
copy_rec(struct flow_rec *dst, const struct flow_rec *src, size_t len)
{
    uint8_t *d = (uint8_t *) dst;
    const uint8_t *p = (const uint8_t *) src;
    size_t k = 0;
    for (; k + 64 <= len; k += 64) {
        memcpy(d + k, p + k, 64);
    }
    memcpy(d + k, p + k, len - k);
}

static int
decode_chunk(struct dec *d, struct flow_rec *rec, size_t i0, size_t cnt, const uint8_t **raw)
{
    uint64_t t[CHUNK];
    for (size_t j = 0; j < cnt; j++) {
        copy_rec(&rec[j], &d->tmpl, d->copy);
    }
    for (int c = 0; c < C_INSTANCE; c++) {
        if ((d->num[c].kind == K_CONST && c != C_END) || !d->want[c]) {
            continue;
        }
        if (stor__col_gather(&d->num[c], d->n, i0, cnt, t) > col_max[c]) {
            return STOR_E_CORRUPT;
        }
        scatter(rec, c, t, cnt);
    }
    chunk_addrs(d, rec, i0, cnt);
    for (size_t j = 0; j < cnt && d->raw_total > 0 && d->want[C_RAWLEN]; j++) {
        memcpy(rec[j].raw, *raw, rec[j].raw_len);
        *raw += rec[j].raw_len;
    }
    return chunk_strings(d, rec, i0, cnt, t);
}

static int
decode_body(const uint8_t *body, size_t len, size_t n, struct flow_rec *recs, uint64_t cols)
{
    struct dec *d = calloc(1, sizeof(*d));
    int rc;
    if (d == NULL) {
        return -ENOMEM;
    }
    d->n = n;
    set_want(d, cols);
    if ((rc = parse_body(d, body, len)) != 0) {
        goto free_dec;
    }
    if (!make_tmpl(d)) {
        rc = STOR_E_CORRUPT;
        goto free_dec;
    }
    const uint8_t *raw = d->raw;
    for (size_t i0 = 0; i0 < n && rc == 0; i0 += CHUNK) {
        rc = decode_chunk(d, recs + i0, i0, n - i0 < CHUNK ? n - i0 : CHUNK, &raw);
    }
free_dec:
    for (int k = 0; k < 3; k++) {
        free(d->dict[k].s);
    }
    free(d);
    return rc;
}

struct hdr {
    unsigned flags;
    size_t n;
    size_t body_len;
    size_t pay_len;
};

static int
read_hdr(const uint8_t *p, size_t len, struct hdr *h)
{
    if (len < HDR_BYTES || p[0] != MAGIC || p[1] != FMT_VERSION || (p[2] & ~F_ZSTD) != 0 ||
        p[3] != 0) {
        return STOR_E_CORRUPT;
    }
    h->flags = p[2];
    h->n = (size_t) flow_get_be(p + 4, 4);
    h->body_len = (size_t) flow_get_be(p + 8, 4);
    h->pay_len = (size_t) flow_get_be(p + 12, 4);
    if (h->n < 1 || h->n > STOR_BLOCK_MAX || h->body_len > body_bound(h->n) ||
        h->pay_len != len - HDR_BYTES) {
        return STOR_E_CORRUPT;
    }
    if ((h->flags & F_ZSTD) == 0 && h->pay_len != h->body_len) {
        return STOR_E_CORRUPT;
    }
    return 0;
}

long
stor__block_count(const uint8_t *p, size_t len)
{
    if (stor__rows_is(p, len)) {
        return stor__rows_count(p, len);
    }
    struct hdr h;
    int rc = read_hdr(p, len, &h);
    return rc != 0 ? rc : (long) h.n;
}

int
stor__block_decode(const uint8_t *p, size_t len, struct flow_rec *recs, size_t cap, size_t *n)
{
    return stor__block_decode_cols(p, len, recs, cap, n, 0);
}

int
stor__block_decode_cols(const uint8_t *p, size_t len, struct flow_rec *recs, size_t cap, size_t *n,
                        uint64_t cols)
{
    if (stor__rows_is(p, len)) {
        return stor__rows_decode(p, len, recs, cap, n);
    }
    struct hdr h;
    int rc = read_hdr(p, len, &h);
    if (rc != 0) {
        return rc;
    }
    const uint8_t *pay = p + HDR_BYTES;
    if ((uint32_t) XXH3_64bits(pay, h.pay_len) != (uint32_t) flow_get_be(p + 16, 4)) {
        return STOR_E_CORRUPT;
    }
    if (h.n > cap) {
        return STOR_E_INVAL;
    }
    if ((h.flags & F_ZSTD) == 0) {
        rc = decode_body(pay, h.pay_len, h.n, recs, cols);
        goto done;
    }
    if (ZSTD_getFrameContentSize(pay, h.pay_len) != h.body_len) {
        return STOR_E_CORRUPT;
    }
    uint8_t *body = malloc(h.body_len + 1);
    if (body == NULL) {
        return -ENOMEM;
    }
    size_t got = ZSTD_decompress(body, h.body_len, pay, h.pay_len);
    rc = ZSTD_isError(got) || got != h.body_len ? STOR_E_CORRUPT
                                                : decode_body(body, h.body_len, h.n, recs, cols);
    free(body);
done:
    if (rc == 0) {
        *n = h.n;
    }
    return rc;
}
