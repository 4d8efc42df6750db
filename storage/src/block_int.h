/* SPDX-License-Identifier: MIT */
/*
 * What the files of the columnar block share, and nothing else of storage needs: the column
 * list, address arithmetic, the column writers and readers (col.c) and the Bloom filter of
 * summaries (sum.c). block.c holds the header, compression and the order of columns; match.c
 * the exact evaluation of conditions. The formats are documented at the top of block.c.
 */
#ifndef FLOWLOG_STOR_BLOCK_INT_H
#define FLOWLOG_STOR_BLOCK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL /* XXH3 on 16-byte keys: inlining is most of its speed */
#include <xxhash.h>

#include "block.h"
#include "flow_bytes.h"

/* The numeric columns of a block body, in body order. */
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

/* How a numeric column is coded. */
enum kind { K_CONST = 0, K_FOR = 1, K_DELTA = 2 };

/* Which key a Bloom filter entry is (its hash seed). */
enum bloom_tag {
    T_SRC = 1,
    T_DST = 2,
    T_EXPORTER = 3,
    T_INSTANCE = 4,
    T_ACCOUNT = 5,
    T_SRCPORT = 6,
    T_DSTPORT = 7,
};

/* Presence-masked value of a field: what the record carries, else 0. */
#define HAS(r, bit)           (((r)->present & (bit)) != 0)
#define MASKED(r, bit, field) (HAS(r, bit) ? (uint64_t) (r)->field : 0)

/* Length of a fixed-size identity string, without its NUL, at most FLOW_ID_MAX - 1. */
static inline size_t
stor__id_len(const char *s)
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

/* ---- the Bloom filter of a summary: filled per record while encoding (block.c), probed by
 * stor__sum_may_match (sum.c); inline, as it runs for every record ---- */

#define BLOOM_BITS (STOR_BLOOM_BYTES * 8u)
#define BLOOM_K    3
_Static_assert((BLOOM_BITS & (BLOOM_BITS - 1)) == 0, "Bloom size must be a power of two");

/* Bloom keys: the tag and prefix length go in the seed, so no key bytes need assembling. */
static inline uint64_t
stor__hash_addr(unsigned tag, unsigned plen, const uint8_t masked[16])
{
    return XXH3_64bits_withSeed(masked, 16, (uint64_t) tag << 8 | plen);
}

static inline uint64_t
stor__hash_text(unsigned tag, const char *s, size_t len)
{
    uint8_t k[FLOW_ID_MAX] = {0}; /* fixed length: identity strings hold no NUL */
    memcpy(k, s, len);
    return XXH3_64bits_withSeed(k, sizeof(k), (uint64_t) tag << 8);
}

/* Ports are 16-bit: a multiplicative mix is hash enough, and much cheaper than XXH3. */
static inline uint64_t
stor__hash_port(unsigned tag, uint64_t port)
{
    uint64_t x = (port | (uint64_t) tag << 16) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29) ^ (x << 23);
}

static inline void
stor__bloom_add(uint8_t *bloom, uint64_t h)
{
    uint32_t h1 = (uint32_t) h, h2 = (uint32_t) (h >> 32) | 1u;
    for (uint32_t i = 0; i < BLOOM_K; i++) {
        uint32_t b = (h1 + i * h2) & (BLOOM_BITS - 1);
        bloom[b >> 3] |= (uint8_t) (1u << (b & 7));
    }
}

static inline bool
stor__bloom_has(const uint8_t *bloom, uint64_t h)
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
static inline const unsigned *
stor__addr_plens(const uint8_t a[16])
{
    static const unsigned v4[3] = {104, 112, 120}, v6[3] = {32, 48, 64};
    return flow_addr_is_v4(a) ? v4 : v6;
}

static inline void
stor__bloom_add_addr(uint8_t *bloom, unsigned tag, const uint8_t a[16], struct a128 last[4],
                     bool *have_last)
{
    struct a128 v = a128_load(a);
    if (*have_last && v.hi == last[0].hi && v.lo == last[0].lo) {
        return;
    }
    last[0] = v;
    stor__bloom_add(bloom, stor__hash_addr(tag, 128, a));
    const unsigned *pl = stor__addr_plens(a);
    for (unsigned i = 0; i < 3; i++) {
        struct a128 m = a128_mask(v, pl[i]);
        if (*have_last && m.hi == last[1 + i].hi && m.lo == last[1 + i].lo) {
            continue;
        }
        last[1 + i] = m;
        uint8_t mb[16];
        a128_store(mb, m);
        stor__bloom_add(bloom, stor__hash_addr(tag, pl[i], mb));
    }
    *have_last = true;
}

/* ---- col.c: columns ---- */

/*
 * A body being written into a buffer of fixed capacity. Every write checks the capacity; one
 * that does not fit sets `overflow` and writes nothing (the caller then fails the block:
 * the capacity is the exact bound, so this is a bug, never silent memory damage).
 */
struct col_writer {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool overflow;
};

/* A bounds-checked reader over a body; err is sticky. */
struct col_reader {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

/* The most bytes each column of n records can take (block.c sums them: body_bound). */
size_t stor__col_num_bound(size_t n);
size_t stor__col_addrs_bound(size_t n);
size_t stor__col_dict_bound(size_t n);

void stor__col_put_byte(struct col_writer *w, unsigned v);
void stor__col_put_varint(struct col_writer *w, uint64_t v);
void stor__col_put_bytes(struct col_writer *w, const void *p, size_t len);
/* One numeric column from v[0..n) (v is scratch, overwritten); *mn, *mx: its range. */
void stor__col_put_numeric(struct col_writer *w, uint64_t *v, size_t n, uint64_t *mn, uint64_t *mx);
/* One address column from a[0..n). */
void stor__col_put_addrs(struct col_writer *w, const uint8_t (*a)[16], size_t n);

/* A per-block string dictionary being built: open addressing over entry indexes. */
struct col_dict_builder {
    const char **s; /* entry strings (point into the records) */
    uint8_t *len;
    size_t k;
    uint32_t *tab; /* index + 1, 0 = empty */
    size_t tabmask;
};
uint64_t stor__col_dict_index(struct col_dict_builder *d, const char *s, size_t len);
void stor__col_put_dict(struct col_writer *w, const struct col_dict_builder *d);

unsigned stor__col_get_byte(struct col_reader *r);
uint64_t stor__col_get_varint(struct col_reader *r);
const uint8_t *stor__col_take(struct col_reader *r, size_t len);

/* A numeric column being read. */
struct col_num {
    uint8_t kind;
    uint8_t w;
    uint64_t base;
    uint64_t prev; /* delta: the last value produced */
    const uint8_t *pl;
};
void stor__col_get_numeric(struct col_reader *r, struct col_num *c, size_t n);
/* Values i0 .. i0+cnt of a column into t[]; returns their OR (for range checks). */
uint64_t stor__col_gather(struct col_num *c, size_t n, size_t i0, size_t cnt, uint64_t *t);

/* An address column being read. */
struct col_addrs {
    size_t m;            /* addresses that are not IPv4-mapped */
    const uint8_t *bits; /* which records they belong to */
    const uint8_t *list; /* m x 16 bytes */
    size_t next;         /* list entries used so far */
    unsigned mask;       /* constant low bytes */
    uint8_t konst[4];
    const uint8_t *pl[4];
};
void stor__col_get_addrs(struct col_reader *r, struct col_addrs *a, size_t n);

/* A dictionary read back: k zero-padded strings (malloc'ed; the reader frees s). */
struct col_dict {
    size_t k;
    char (*s)[FLOW_ID_MAX];
};
int stor__col_get_dict(struct col_reader *r, struct col_dict *d, size_t n);

#endif
