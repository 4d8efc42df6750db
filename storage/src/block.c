/* SPDX-License-Identifier: MIT */
/*
 * Blocks: the compact on-disk form of up to STOR_BLOCK_MAX flow records (block.h), their
 * summaries, and the exact evaluation of pushed-down conditions on one record.
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
 *                       end(=zigzag(end_ms - start_ms)) raw_len instance# snid# account#
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
 *            (kind 1) or value[i] = value[i-1] + unzigzag(x[i]) with value[-1] = base (kind 2)
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
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* XXH3 on 16-byte keys: inlining is most of its speed */
#include <xxhash.h>
#include <zstd.h>

#include "block.h"

#define HDR_BYTES   20
#define MAGIC       0xFB
#define FMT_VERSION 1
#define F_ZSTD      0x01
#ifndef ZLEVEL
#define ZLEVEL 1 /* level 3 measured ~1% smaller and 25-40% slower to encode */
#endif
#define CHUNK      64 /* records decoded together: the chunk's records stay in L1 */
#define BLOOM_BITS (STOR_BLOOM_BYTES * 8u)
#define BLOOM_K    3

_Static_assert((BLOOM_BITS & (BLOOM_BITS - 1)) == 0, "Bloom size must be a power of two");
_Static_assert(STOR_SUM_BYTES == 4 + 16 * STOR_F_COUNT + 64 + STOR_BLOOM_BYTES, "sum layout");

enum col {
    C_PRESENT,
    C_VERSION,
    C_FLAGS,
    C_DIRECTION,
    C_ACTION,
    C_LOG_STATUS,
    C_PROTOCOL,
    C_TOS,
    C_TCPFLAGS,
    C_SRCPORT,
    C_DSTPORT,
    C_EXPPORT,
    C_DOMAIN,
    C_INPORT,
    C_OUTPORT,
    C_SAMPLING,
    C_RTT,
    C_SKIPPED,
    C_FLOWLOG,
    C_WINDOW,
    C_PACKETS,
    C_BYTES,
    C_START,
    C_END,
    C_RAWLEN,
    C_INSTANCE,
    C_SNID,
    C_ACCOUNT,
    C_NUM
};

enum kind { K_CONST = 0, K_FOR = 1, K_DELTA = 2 };

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

enum bloom_tag {
    T_SRC = 1,
    T_DST = 2,
    T_EXPORTER = 3,
    T_INSTANCE = 4,
    T_ACCOUNT = 5,
    T_SRCPORT = 6,
    T_DSTPORT = 7,
};

/* ---- small helpers ---- */

static inline uint64_t
zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

static inline uint64_t
unzigzag(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

static unsigned
bytes_for(uint64_t x)
{
    unsigned w = 1;
    while (w < 8 && (x >> (8 * w)) != 0) {
        w++;
    }
    return w;
}

static void
put_be(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t) (v >> (8 * (size - 1 - i)));
    }
}

static uint64_t
get_be(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Length of a fixed-size identity string, without its NUL, at most FLOW_ID_MAX - 1. */
static size_t
id_len(const char *s)
{
    const char *z = memchr(s, 0, FLOW_ID_MAX - 1);
    return z != NULL ? (size_t) (z - s) : FLOW_ID_MAX - 1;
}

/* An address as two big-endian halves, so that integer order is memcmp order. */
struct a128 {
    uint64_t hi, lo;
};

static inline struct a128
a128_load(const uint8_t a[16])
{
    struct a128 v = {0, 0};
    for (int i = 0; i < 8; i++) {
        v.hi = v.hi << 8 | a[i];
        v.lo = v.lo << 8 | a[8 + i];
    }
    return v;
}

static inline void
a128_store(uint8_t out[16], struct a128 v)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t) (v.hi >> (56 - 8 * i));
        out[8 + i] = (uint8_t) (v.lo >> (56 - 8 * i));
    }
}

static inline bool
a128_lt(struct a128 a, struct a128 b)
{
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

static inline struct a128
a128_mask(struct a128 v, unsigned plen)
{
    uint64_t mh = plen >= 64 ? UINT64_MAX : plen == 0 ? 0 : UINT64_MAX << (64 - plen);
    uint64_t ml = plen <= 64 ? 0 : plen >= 128 ? UINT64_MAX : UINT64_MAX << (128 - plen);
    v.hi &= mh;
    v.lo &= ml;
    return v;
}

static bool
addr_is_zero(const uint8_t a[16])
{
    static const uint8_t zero[16];
    return memcmp(a, zero, 16) == 0;
}

/* ---- buffers ---- */

int
stor__buf_reserve(struct stor_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) {
        return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        return -ENOMEM;
    }
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap - b->len < extra) {
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

void
stor__buf_free(struct stor_buf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

/* ---- Bloom filter ---- */

/* Bloom keys: the tag and prefix length go in the seed, so no key bytes need assembling. */
static uint64_t
hash_addr(unsigned tag, unsigned plen, const uint8_t masked[16])
{
    return XXH3_64bits_withSeed(masked, 16, (uint64_t) tag << 8 | plen);
}

static uint64_t
hash_text(unsigned tag, const char *s, size_t len)
{
    uint8_t k[FLOW_ID_MAX] = {0}; /* fixed length: identity strings hold no NUL */
    memcpy(k, s, len);
    return XXH3_64bits_withSeed(k, sizeof(k), (uint64_t) tag << 8);
}

/* Ports are 16-bit: a multiplicative mix is hash enough, and much cheaper than XXH3. */
static uint64_t
hash_port(unsigned tag, uint64_t port)
{
    uint64_t x = (port | (uint64_t) tag << 16) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29) ^ (x << 23);
}

static void
bloom_add(uint8_t *bloom, uint64_t h)
{
    uint32_t h1 = (uint32_t) h, h2 = (uint32_t) (h >> 32) | 1u;
    for (uint32_t i = 0; i < BLOOM_K; i++) {
        uint32_t b = (h1 + i * h2) & (BLOOM_BITS - 1);
        bloom[b >> 3] |= (uint8_t) (1u << (b & 7));
    }
}

static bool
bloom_has(const uint8_t *bloom, uint64_t h)
{
    uint32_t h1 = (uint32_t) h, h2 = (uint32_t) (h >> 32) | 1u;
    for (uint32_t i = 0; i < BLOOM_K; i++) {
        uint32_t b = (h1 + i * h2) & (BLOOM_BITS - 1);
        if ((bloom[b >> 3] & (1u << (b & 7))) == 0) {
            return false;
        }
    }
    return true;
}

/* The prefix lengths inserted for an address: /104 /112 /120 (IPv4-mapped) or /32 /48 /64. */
static const unsigned *
addr_plens(const uint8_t a[16])
{
    static const unsigned v4[3] = {104, 112, 120}, v6[3] = {32, 48, 64};
    return flow_addr_is_v4(a) ? v4 : v6;
}

/*
 * Insert an address (host and prefixes) unless it equals the previous one of its kind; last
 * holds the previous host and the three previous prefixes.
 */
static void
bloom_add_addr(uint8_t *bloom, unsigned tag, const uint8_t a[16], struct a128 last[4],
               bool *have_last)
{
    struct a128 v = a128_load(a);
    if (*have_last && v.hi == last[0].hi && v.lo == last[0].lo) {
        return;
    }
    last[0] = v;
    bloom_add(bloom, hash_addr(tag, 128, a));
    const unsigned *pl = addr_plens(a);
    for (unsigned i = 0; i < 3; i++) {
        struct a128 m = a128_mask(v, pl[i]);
        if (*have_last && m.hi == last[1 + i].hi && m.lo == last[1 + i].lo) {
            continue;
        }
        last[1 + i] = m;
        uint8_t mb[16];
        a128_store(mb, m);
        bloom_add(bloom, hash_addr(tag, pl[i], mb));
    }
    *have_last = true;
}

/* ---- encoding ---- */

struct wbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static void
w_byte(struct wbuf *w, unsigned v)
{
    assert(w->len < w->cap);
    w->p[w->len++] = (uint8_t) v;
}

static void
w_varint(struct wbuf *w, uint64_t v)
{
    while (v >= 0x80) {
        w_byte(w, (unsigned) (v & 0x7F) | 0x80);
        v >>= 7;
    }
    w_byte(w, (unsigned) v);
}

/* Upper bound of the body of n records (the decoder refuses larger declared bodies). */
static size_t
body_bound(size_t n)
{
    return 1024 + C_NUM * (12 + 8 * n) + 3 * (18 + 16 * n) + 3 * (10 + n * FLOW_ID_MAX) + 10 +
           n * FLOW_RAW_MAX;
}

/*
 * Write one numeric column. v[] is used as scratch (overwritten). *mn, *mx get the minimum
 * and maximum of the values.
 */
static void
put_numeric(struct wbuf *w, uint64_t *v, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint64_t lo = v[0], hi = v[0], dor = 0;
    for (size_t i = 0; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        dor |= i > 0 ? zigzag(v[i] - v[i - 1]) : 0;
    }
    *mn = lo;
    *mx = hi;
    if (lo == hi) {
        w_byte(w, K_CONST);
        w_varint(w, lo);
        return;
    }
    unsigned wf = bytes_for(hi - lo), wd = bytes_for(dor);
    uint64_t base = wd < wf ? v[0] : lo;
    if (wd < wf) {
        for (size_t i = n - 1; i > 0; i--) {
            v[i] = zigzag(v[i] - v[i - 1]);
        }
        v[0] = 0;
    } else {
        for (size_t i = 0; i < n; i++) {
            v[i] -= lo;
        }
    }
    unsigned pw = wd < wf ? wd : wf;
    w_byte(w, wd < wf ? K_DELTA : K_FOR);
    w_varint(w, base);
    w_byte(w, pw);
    assert(w->len + pw * n <= w->cap);
    for (unsigned k = 0; k < pw; k++) {
        uint8_t *o = w->p + w->len;
        for (size_t i = 0; i < n; i++) {
            o[i] = (uint8_t) (v[i] >> (8 * k));
        }
        w->len += n;
    }
}

/* Write one address column from a[n][16]: IPv4 as 4 byte planes, others listed whole. */
static void
put_addrs(struct wbuf *w, const uint8_t (*a)[16], size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        m += !flow_addr_is_v4(a[i]);
    }
    w_byte(w, m > 0);
    if (m > 0) {
        w_varint(w, m);
        uint8_t *bits = w->p + w->len;
        memset(bits, 0, (n + 7) / 8);
        w->len += (n + 7) / 8;
        for (size_t i = 0; i < n; i++) {
            if (!flow_addr_is_v4(a[i])) {
                bits[i >> 3] |= (uint8_t) (1u << (i & 7));
                memcpy(w->p + w->len, a[i], 16);
                w->len += 16;
            }
        }
    }
    uint8_t c[4];
    unsigned mask = 0;
    for (unsigned k = 0; k < 4; k++) {
        size_t i = 0;
        while (i < n && !flow_addr_is_v4(a[i])) {
            i++;
        }
        c[k] = i < n ? a[i][12 + k] : 0;
        while (i < n && (!flow_addr_is_v4(a[i]) || a[i][12 + k] == c[k])) {
            i++;
        }
        mask |= i == n ? 1u << k : 0;
    }
    w_byte(w, mask);
    for (unsigned k = 0; k < 4; k++) {
        if (mask & (1u << k)) {
            w_byte(w, c[k]);
        }
    }
    for (unsigned k = 0; k < 4; k++) {
        if ((mask & (1u << k)) == 0) {
            assert(w->len + n <= w->cap);
            for (size_t i = 0; i < n; i++) {
                w->p[w->len + i] = flow_addr_is_v4(a[i]) ? a[i][12 + k] : 0;
            }
            w->len += n;
        }
    }
}

/* A per-block string dictionary being built: open addressing over entry indexes. */
struct sdict {
    const char **s; /* entry strings (point into the records) */
    uint8_t *len;
    size_t k;
    uint32_t *tab; /* index + 1, 0 = empty */
    size_t tabmask;
};

static uint64_t
sdict_index(struct sdict *d, const char *s, size_t len)
{
    size_t h = (size_t) XXH3_64bits(s, len) & d->tabmask;
    for (;;) {
        uint32_t e = d->tab[h];
        if (e == 0) {
            d->s[d->k] = s;
            d->len[d->k] = (uint8_t) len;
            d->tab[h] = (uint32_t) ++d->k;
            return d->k - 1;
        }
        if (d->len[e - 1] == len && memcmp(d->s[e - 1], s, len) == 0) {
            return e - 1;
        }
        h = (h + 1) & d->tabmask;
    }
}

static void
put_dict(struct wbuf *w, const struct sdict *d)
{
    w_varint(w, d->k);
    for (size_t i = 0; i < d->k; i++) {
        w_byte(w, d->len[i]);
        memcpy(w->p + w->len, d->s[i], d->len[i]);
        w->len += d->len[i];
    }
}

/* Scratch for one encode: column values, addresses, dictionaries. */
struct enc {
    uint64_t *v[C_NUM];
    uint8_t (*addr[3])[16];
    struct sdict dict[3];
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
    return has ? sdict_index(&e->dict[d], s, id_len(s)) : sdict_index(&e->dict[d], "", 0);
}

/* Presence-masked value of a field: what the record carries, else 0. */
#define HAS(r, bit)           (((r)->present & (bit)) != 0)
#define MASKED(r, bit, field) (HAS(r, bit) ? (uint64_t) (r)->field : 0)

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
    v[C_END][i] = zigzag(r->end_ms - r->start_ms);
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
    bloom_add_addr(s->bloom, T_SRC, src, st->last[0], &st->have[0]);
    bloom_add_addr(s->bloom, T_DST, dst, st->last[1], &st->have[1]);
    if (st->last_exp == SIZE_MAX || memcmp(e->addr[2][i], e->addr[2][st->last_exp], 16) != 0) {
        bloom_add(s->bloom, hash_addr(T_EXPORTER, 128, e->addr[2][i]));
        st->last_exp = i;
    }
    const uint64_t *sp = e->v[C_SRCPORT], *dp = e->v[C_DSTPORT];
    if (i == 0 || sp[i] != sp[i - 1]) {
        bloom_add(s->bloom, hash_port(T_SRCPORT, sp[i]));
    }
    if (i == 0 || dp[i] != dp[i - 1]) {
        bloom_add(s->bloom, hash_port(T_DSTPORT, dp[i]));
    }
    const uint64_t *inst = e->v[C_INSTANCE], *acct = e->v[C_ACCOUNT];
    if (st->last_inst == SIZE_MAX || inst[i] != inst[st->last_inst]) {
        const struct sdict *d = &e->dict[0];
        bloom_add(s->bloom, hash_text(T_INSTANCE, d->s[inst[i]], d->len[inst[i]]));
        st->last_inst = i;
    }
    if (st->last_acct == SIZE_MAX || acct[i] != acct[st->last_acct]) {
        const struct sdict *d = &e->dict[2];
        bloom_add(s->bloom, hash_text(T_ACCOUNT, d->s[acct[i]], d->len[acct[i]]));
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
write_body(struct wbuf *w, struct enc *e, size_t n, struct stor_sum *s, const struct flow_rec *recs)
{
    uint64_t mn[C_NUM], mx[C_NUM];
    for (int c = 0; c < C_NUM; c++) {
        put_numeric(w, e->v[c], n, &mn[c], &mx[c]);
    }
    for (int a = 0; a < 3; a++) {
        put_addrs(w, (const uint8_t(*)[16]) e->addr[a], n);
    }
    for (int d = 0; d < 3; d++) {
        put_dict(w, &e->dict[d]);
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += recs[i].raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : recs[i].raw_len;
    }
    w_varint(w, total);
    for (size_t i = 0; i < n && total > 0; i++) {
        size_t l = recs[i].raw_len > FLOW_RAW_MAX ? FLOW_RAW_MAX : recs[i].raw_len;
        memcpy(w->p + w->len, recs[i].raw, l);
        w->len += l;
    }
    sum_fields(s, mn, mx, e);
}

/* Compress body into out behind a header. */
static int
put_block(const struct wbuf *body, size_t n, struct stor_buf *out)
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
    put_be(h + 4, n, 4);
    put_be(h + 8, body->len, 4);
    put_be(h + 12, plen, 4);
    put_be(h + 16, (uint32_t) XXH3_64bits(pay, plen), 4);
    out->len += HDR_BYTES + plen;
    return 0;
}

int
stor__block_encode(const struct flow_rec *recs, size_t n, struct stor_buf *out,
                   struct stor_sum *sum)
{
    struct enc e;
    struct wbuf w;
    int rc;

    assert(n >= 1 && n <= STOR_BLOCK_MAX);
    if ((rc = enc_alloc(&e, n)) != 0) {
        return rc;
    }
    w.cap = body_bound(n);
    w.len = 0;
    if ((w.p = malloc(w.cap)) == NULL) {
        rc = -ENOMEM;
        goto free_enc;
    }
    extract(&e, recs, n, sum);
    write_body(&w, &e, n, sum, recs);
    rc = put_block(&w, n, out);
    free(w.p);
free_enc:
    free(e.mem);
    return rc;
}

/* ---- decoding ---- */

/* A bounds-checked reader over the body; sticky error. */
struct rbuf {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

static unsigned
r_byte(struct rbuf *r)
{
    if (r->p >= r->end) {
        r->err = true;
        return 0;
    }
    return *r->p++;
}

static uint64_t
r_varint(struct rbuf *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        unsigned b = r_byte(r);
        v |= (uint64_t) (b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    r->err = true;
    return 0;
}

static const uint8_t *
r_take(struct rbuf *r, size_t len)
{
    if ((size_t) (r->end - r->p) < len) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += len;
    return p;
}

struct ncol {
    uint8_t kind;
    uint8_t w;
    uint64_t base;
    uint64_t prev; /* delta: the last value produced */
    const uint8_t *pl;
};

static void
get_numeric(struct rbuf *r, struct ncol *c, size_t n)
{
    c->kind = (uint8_t) r_byte(r);
    c->base = r_varint(r);
    c->prev = c->base;
    c->w = 0;
    c->pl = NULL;
    if (c->kind == K_CONST) {
        return;
    }
    c->w = (uint8_t) r_byte(r);
    if (c->kind > K_DELTA || c->w < 1 || c->w > 8) {
        r->err = true;
        return;
    }
    c->pl = r_take(r, (size_t) c->w * n);
}

/* Values i0 .. i0+cnt of a column into t[]; returns their OR (for range checks). */
static uint64_t
gather(struct ncol *c, size_t n, size_t i0, size_t cnt, uint64_t *t)
{
    uint64_t acc = 0;
    if (c->kind == K_CONST) {
        for (size_t j = 0; j < cnt; j++) {
            t[j] = c->base;
        }
        return c->base;
    }
    const uint8_t *p = c->pl + i0;
    for (size_t j = 0; j < cnt; j++) {
        t[j] = p[j];
    }
    for (unsigned k = 1; k < c->w; k++) {
        p += n;
        for (size_t j = 0; j < cnt; j++) {
            t[j] |= (uint64_t) p[j] << (8 * k);
        }
    }
    if (c->kind == K_FOR) {
        for (size_t j = 0; j < cnt; j++) {
            t[j] += c->base;
            acc |= t[j];
        }
        return acc;
    }
    uint64_t v = c->prev;
    for (size_t j = 0; j < cnt; j++) {
        v += unzigzag(t[j]);
        t[j] = v;
        acc |= v;
    }
    c->prev = v;
    return acc;
}

struct dcol_addr {
    size_t m;            /* addresses that are not IPv4-mapped */
    const uint8_t *bits; /* which records they belong to */
    const uint8_t *list; /* m x 16 bytes */
    size_t next;         /* list entries used so far */
    unsigned mask;       /* constant low bytes */
    uint8_t konst[4];
    const uint8_t *pl[4];
};

/* Count the set bits of the bitmap, which must have none past record n. */
static size_t
count_bits(const uint8_t *bits, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < (n + 7) / 8; i++) {
        for (unsigned b = bits[i]; b != 0; b &= b - 1) {
            c++;
        }
    }
    if (n % 8 != 0 && (bits[n / 8] >> (n % 8)) != 0) {
        return SIZE_MAX;
    }
    return c;
}

static void
get_addrs(struct rbuf *r, struct dcol_addr *a, size_t n)
{
    unsigned form = r_byte(r);
    uint64_t m = form == 1 ? r_varint(r) : 0;
    a->m = 0;
    a->next = 0;
    if (form > 1 || m > n) {
        r->err = true;
        return;
    }
    if (form == 1) {
        a->m = (size_t) m;
        a->bits = r_take(r, (n + 7) / 8);
        a->list = r_take(r, a->m * 16);
        if (r->err || m == 0 || count_bits(a->bits, n) != a->m) {
            r->err = true;
            return;
        }
    }
    a->mask = r_byte(r);
    for (unsigned k = 0; k < 4; k++) {
        a->konst[k] = (a->mask & (1u << k)) ? (uint8_t) r_byte(r) : 0;
    }
    for (unsigned k = 0; k < 4; k++) {
        a->pl[k] = (a->mask & (1u << k)) ? NULL : r_take(r, n);
    }
    if (a->mask > 0x0F) {
        r->err = true;
    }
}

struct ddict {
    size_t k;
    char (*s)[FLOW_ID_MAX]; /* zero padded */
};

static int
get_dict(struct rbuf *r, struct ddict *d, size_t n)
{
    uint64_t k = r_varint(r);
    if (r->err || k < 1 || k > n) {
        return STOR_E_CORRUPT;
    }
    d->k = (size_t) k;
    d->s = calloc(d->k, FLOW_ID_MAX);
    if (d->s == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->k; i++) {
        unsigned len = r_byte(r);
        const uint8_t *p = r_take(r, len);
        if (r->err || len >= FLOW_ID_MAX || memchr(p, 0, len) != NULL) {
            return STOR_E_CORRUPT;
        }
        memcpy(d->s[i], p, len);
    }
    return 0;
}

struct dec {
    size_t n;
    struct ncol num[C_NUM];
    struct dcol_addr addr[3];
    struct ddict dict[3];
    const uint8_t *raw;
    size_t raw_total;
    struct flow_rec tmpl; /* every constant column already in place */
};

/* The raw_len column must give values <= FLOW_RAW_MAX summing to the blob's length. */
static int
check_rawlen(struct dec *d)
{
    struct ncol c = d->num[C_RAWLEN];
    uint64_t t[CHUNK], sum = 0;
    for (size_t i0 = 0; i0 < d->n; i0 += CHUNK) {
        size_t cnt = d->n - i0 < CHUNK ? d->n - i0 : CHUNK;
        gather(&c, d->n, i0, cnt, t);
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
    struct rbuf r = {body, body + len, false};
    int rc;
    for (int c = 0; c < C_NUM; c++) {
        get_numeric(&r, &d->num[c], d->n);
    }
    for (int a = 0; a < 3; a++) {
        get_addrs(&r, &d->addr[a], d->n);
    }
    if (r.err) {
        return STOR_E_CORRUPT;
    }
    for (int k = 0; k < 3; k++) {
        if ((rc = get_dict(&r, &d->dict[k], d->n)) != 0) {
            return rc;
        }
    }
    uint64_t total = r_varint(&r);
    d->raw = r_take(&r, total <= len ? (size_t) total : len + 1);
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
            rec[j].end_ms = rec[j].start_ms + unzigzag(t[j]);
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
        const struct ncol *c = &d->num[C_INSTANCE + k];
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
        struct ncol *c = &d->num[C_INSTANCE + k];
        if (c->kind == K_CONST) {
            continue;
        }
        gather(c, d->n, i0, cnt, t);
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
        struct dcol_addr *c = &d->addr[a];
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

/* Copy a record in 64-byte pieces: compilers turn a struct assignment into a slow rep movs. */
static inline void
copy_rec(struct flow_rec *dst, const struct flow_rec *src)
{
    uint8_t *d = (uint8_t *) dst;
    const uint8_t *p = (const uint8_t *) src;
    size_t k = 0;
    for (; k + 64 <= sizeof(*dst); k += 64) {
        memcpy(d + k, p + k, 64);
    }
    memcpy(d + k, p + k, sizeof(*dst) - k);
}

static int
decode_chunk(struct dec *d, struct flow_rec *rec, size_t i0, size_t cnt, const uint8_t **raw)
{
    uint64_t t[CHUNK];
    for (size_t j = 0; j < cnt; j++) {
        copy_rec(&rec[j], &d->tmpl);
    }
    for (int c = 0; c < C_INSTANCE; c++) {
        if (d->num[c].kind == K_CONST && c != C_END) {
            continue;
        }
        if (gather(&d->num[c], d->n, i0, cnt, t) > col_max[c]) {
            return STOR_E_CORRUPT;
        }
        scatter(rec, c, t, cnt);
    }
    chunk_addrs(d, rec, i0, cnt);
    for (size_t j = 0; j < cnt && d->raw_total > 0; j++) {
        memcpy(rec[j].raw, *raw, rec[j].raw_len);
        *raw += rec[j].raw_len;
    }
    return chunk_strings(d, rec, i0, cnt, t);
}

static int
decode_body(const uint8_t *body, size_t len, size_t n, struct flow_rec *recs)
{
    struct dec *d = calloc(1, sizeof(*d));
    int rc;
    if (d == NULL) {
        return -ENOMEM;
    }
    d->n = n;
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
    h->n = (size_t) get_be(p + 4, 4);
    h->body_len = (size_t) get_be(p + 8, 4);
    h->pay_len = (size_t) get_be(p + 12, 4);
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
    if (stor__rows_is(p, len)) {
        return stor__rows_decode(p, len, recs, cap, n);
    }
    struct hdr h;
    int rc = read_hdr(p, len, &h);
    if (rc != 0) {
        return rc;
    }
    const uint8_t *pay = p + HDR_BYTES;
    if ((uint32_t) XXH3_64bits(pay, h.pay_len) != (uint32_t) get_be(p + 16, 4)) {
        return STOR_E_CORRUPT;
    }
    if (h.n > cap) {
        return STOR_E_INVAL;
    }
    if ((h.flags & F_ZSTD) == 0) {
        rc = decode_body(pay, h.pay_len, h.n, recs);
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
                                                : decode_body(body, h.body_len, h.n, recs);
    free(body);
done:
    if (rc == 0) {
        *n = h.n;
    }
    return rc;
}

/* ---- summaries ---- */

void
stor__sum_write(const struct stor_sum *s, uint8_t out[STOR_SUM_BYTES])
{
    uint8_t *p = out;
    put_be(p, s->n, 4);
    p += 4;
    for (int f = 0; f < STOR_F_COUNT; f++, p += 16) {
        put_be(p, s->min[f], 8);
        put_be(p + 8, s->max[f], 8);
    }
    memcpy(p, s->srcaddr_min, 16);
    memcpy(p + 16, s->srcaddr_max, 16);
    memcpy(p + 32, s->dstaddr_min, 16);
    memcpy(p + 48, s->dstaddr_max, 16);
    memcpy(p + 64, s->bloom, STOR_BLOOM_BYTES);
}

int
stor__sum_read(const uint8_t *p, size_t len, struct stor_sum *s)
{
    if (len < STOR_SUM_BYTES) {
        return STOR_E_CORRUPT;
    }
    s->n = (uint32_t) get_be(p, 4);
    p += 4;
    for (int f = 0; f < STOR_F_COUNT; f++, p += 16) {
        s->min[f] = get_be(p, 8);
        s->max[f] = get_be(p + 8, 8);
        if (s->min[f] > s->max[f]) {
            return STOR_E_CORRUPT;
        }
    }
    memcpy(s->srcaddr_min, p, 16);
    memcpy(s->srcaddr_max, p + 16, 16);
    memcpy(s->dstaddr_min, p + 32, 16);
    memcpy(s->dstaddr_max, p + 48, 16);
    memcpy(s->bloom, p + 64, STOR_BLOOM_BYTES);
    if (s->n < 1 || s->n > STOR_BLOCK_MAX || memcmp(s->srcaddr_min, s->srcaddr_max, 16) > 0 ||
        memcmp(s->dstaddr_min, s->dstaddr_max, 16) > 0) {
        return STOR_E_CORRUPT;
    }
    return 0;
}

/* The CIDR as its lowest and highest address; returns plen clamped to 128. */
static unsigned
cidr_range(const struct flow_cidr *c, uint8_t lo[16], uint8_t hi[16])
{
    flow_cidr_range(c, lo, hi);
    return c->plen > 128 ? 128u : c->plen;
}

/* Was this (prefix, plen) inserted for every address it contains? (see bloom_add_addr) */
static bool
probe_ok(const uint8_t lo[16], unsigned plen)
{
    if (plen == 128) {
        return true;
    }
    if (plen == 104 || plen == 112 || plen == 120) {
        return flow_addr_is_v4(lo);
    }
    /* An all-zero /32../64 prefix also holds the IPv4-mapped range, inserted as /104.. only. */
    return (plen == 32 || plen == 48 || plen == 64) && !addr_is_zero(lo);
}

static bool
addr_may(const struct stor_sum *s, unsigned tag, const uint8_t mn[16], const uint8_t mx[16],
         const struct flow_cidr *c)
{
    uint8_t lo[16], hi[16];
    unsigned plen = cidr_range(c, lo, hi);
    if (memcmp(hi, mn, 16) < 0 || memcmp(lo, mx, 16) > 0) {
        return false;
    }
    return !probe_ok(lo, plen) || bloom_has(s->bloom, hash_addr(tag, plen, lo));
}

/* A port range: min/max first; a short range (a port, `in` lists) then probes each value. */
static bool
port_may(const struct stor_sum *s, const struct stor_cond *c)
{
    uint64_t lo = c->lo > s->min[c->field] ? c->lo : s->min[c->field];
    uint64_t hi = c->hi < s->max[c->field] ? c->hi : s->max[c->field];
    if (c->lo > c->hi || lo > hi) {
        return false;
    }
    if (hi - lo >= 16) {
        return true;
    }
    unsigned tag = c->field == STOR_F_SRCPORT ? T_SRCPORT : T_DSTPORT;
    for (uint64_t v = lo; v <= hi; v++) {
        if (bloom_has(s->bloom, hash_port(tag, v))) {
            return true;
        }
    }
    return false;
}

static bool
cond_may(const struct stor_sum *s, const struct stor_cond *c)
{
    switch (c->field) {
    case STOR_F_SRCADDR:
        return addr_may(s, T_SRC, s->srcaddr_min, s->srcaddr_max, &c->cidr);
    case STOR_F_DSTADDR:
        return addr_may(s, T_DST, s->dstaddr_min, s->dstaddr_max, &c->cidr);
    case STOR_F_EXPORTER: {
        uint8_t lo[16], hi[16];
        unsigned plen = cidr_range(&c->cidr, lo, hi);
        return plen != 128 || bloom_has(s->bloom, hash_addr(T_EXPORTER, 128, lo));
    }
    case STOR_F_SRCPORT:
    case STOR_F_DSTPORT:
        return port_may(s, c);
    case STOR_F_INSTANCE:
        return bloom_has(s->bloom, hash_text(T_INSTANCE, c->text, id_len(c->text)));
    case STOR_F_ACCOUNT:
        return bloom_has(s->bloom, hash_text(T_ACCOUNT, c->text, id_len(c->text)));
    default:
        if (c->field >= STOR_F_COUNT) {
            return true;
        }
        return c->lo <= c->hi && c->lo <= s->max[c->field] && c->hi >= s->min[c->field];
    }
}

bool
stor__sum_may_match(const struct stor_sum *s, const struct stor_conj *conj, size_t nconj)
{
    for (size_t i = 0; i < nconj; i++) {
        size_t n = conj[i].n > STOR_MATCH_MAX ? STOR_MATCH_MAX : conj[i].n;
        bool any = n == 0;
        for (size_t j = 0; j < n && !any; j++) {
            any = cond_may(s, &conj[i].any[j]);
        }
        if (!any) {
            return false;
        }
    }
    return true;
}

/* ---- exact evaluation ---- */

static uint64_t
rec_num(const struct flow_rec *r, unsigned f)
{
    switch (f) {
    case STOR_F_SRCPORT:
        return MASKED(r, FLOW_HAS_SRCPORT, srcport);
    case STOR_F_DSTPORT:
        return MASKED(r, FLOW_HAS_DSTPORT, dstport);
    case STOR_F_PROTOCOL:
        return MASKED(r, FLOW_HAS_PROTOCOL, protocol);
    case STOR_F_PACKETS:
        return MASKED(r, FLOW_HAS_PACKETS, packets);
    case STOR_F_BYTES:
        return MASKED(r, FLOW_HAS_BYTES, bytes);
    case STOR_F_START:
        return r->start_ms;
    case STOR_F_END:
        return r->end_ms;
    case STOR_F_ACTION:
        return r->action;
    case STOR_F_LOG_STATUS:
        return r->log_status;
    case STOR_F_TCPFLAGS:
        return MASKED(r, FLOW_HAS_TCPFLAGS, tcp_flags);
    case STOR_F_TOS:
        return MASKED(r, FLOW_HAS_TOS, tos);
    case STOR_F_INPORT:
        return MASKED(r, FLOW_HAS_INPORT, inport);
    case STOR_F_OUTPORT:
        return MASKED(r, FLOW_HAS_OUTPORT, outport);
    default:
        return 0;
    }
}

static bool
addr_in(const uint8_t a[16], bool has, const struct flow_cidr *c)
{
    static const uint8_t zero[16];
    return flow_cidr_contains(c, has ? a : zero);
}

static bool
text_eq(const char *rs, bool has, const char *want)
{
    size_t l = has ? id_len(rs) : 0, wl = id_len(want);
    return l == wl && memcmp(rs, want, l) == 0;
}

static bool
cond_match(const struct flow_rec *r, const struct stor_cond *c)
{
    switch (c->field) {
    case STOR_F_SRCADDR:
        return addr_in(r->srcaddr, HAS(r, FLOW_HAS_SRCADDR), &c->cidr);
    case STOR_F_DSTADDR:
        return addr_in(r->dstaddr, HAS(r, FLOW_HAS_DSTADDR), &c->cidr);
    case STOR_F_EXPORTER:
        return addr_in(r->exporter, true, &c->cidr);
    case STOR_F_INSTANCE:
        return text_eq(r->instance_id, HAS(r, FLOW_HAS_INSTANCE), c->text);
    case STOR_F_ACCOUNT:
        return text_eq(r->account_id, HAS(r, FLOW_HAS_ACCOUNT), c->text);
    default: {
        if (c->field >= STOR_F_COUNT) {
            return true;
        }
        uint64_t v = rec_num(r, c->field);
        return c->lo <= v && v <= c->hi;
    }
    }
}

bool
stor__rec_matches(const struct flow_rec *r, const struct stor_conj *c)
{
    size_t n = c->n > STOR_MATCH_MAX ? STOR_MATCH_MAX : c->n;
    if (n == 0) {
        return true;
    }
    for (size_t j = 0; j < n; j++) {
        if (cond_match(r, &c->any[j])) {
            return true;
        }
    }
    return false;
}
