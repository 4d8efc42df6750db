/* SPDX-License-Identifier: MIT */
/*
 * Block summaries: their fixed layout (stor__sum_write / stor__sum_read), the Bloom filter
 * over addresses, address prefixes, ports and identity strings that encoding fills, and
 * stor__sum_may_match, which rules a block out only when no record of it can match. The
 * layout and the Bloom keys are the tables at the top of block.c; filling a summary while
 * encoding is block.c's, the exact per-record semantics are match.c's.
 */
#include <string.h>

#define XXH_INLINE_ALL /* XXH3 on 16-byte keys: inlining is most of its speed */
#include <xxhash.h>

#include "block_int.h"

#define BLOOM_BITS (STOR_BLOOM_BYTES * 8u)
#define BLOOM_K    3

_Static_assert((BLOOM_BITS & (BLOOM_BITS - 1)) == 0, "Bloom size must be a power of two");
_Static_assert(STOR_SUM_BYTES == 4 + 16 * STOR_F_COUNT + 64 + STOR_BLOOM_BYTES, "sum layout");

/* Bloom keys: the tag and prefix length go in the seed, so no key bytes need assembling. */
uint64_t
stor__hash_addr(unsigned tag, unsigned plen, const uint8_t masked[16])
{
    return XXH3_64bits_withSeed(masked, 16, (uint64_t) tag << 8 | plen);
}

uint64_t
stor__hash_text(unsigned tag, const char *s, size_t len)
{
    uint8_t k[FLOW_ID_MAX] = {0}; /* fixed length: identity strings hold no NUL */
    memcpy(k, s, len);
    return XXH3_64bits_withSeed(k, sizeof(k), (uint64_t) tag << 8);
}

/* Ports are 16-bit: a multiplicative mix is hash enough, and much cheaper than XXH3. */
uint64_t
stor__hash_port(unsigned tag, uint64_t port)
{
    uint64_t x = (port | (uint64_t) tag << 16) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29) ^ (x << 23);
}

void
stor__bloom_add(uint8_t *bloom, uint64_t h)
{
    uint32_t h1 = (uint32_t) h, h2 = (uint32_t) (h >> 32) | 1u;
    for (uint32_t i = 0; i < BLOOM_K; i++) {
        uint32_t b = (h1 + i * h2) & (BLOOM_BITS - 1);
        bloom[b >> 3] |= (uint8_t) (1u << (b & 7));
    }
}

bool
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
static const unsigned *
addr_plens(const uint8_t a[16])
{
    static const unsigned v4[3] = {104, 112, 120}, v6[3] = {32, 48, 64};
    return flow_addr_is_v4(a) ? v4 : v6;
}

void
stor__bloom_add_addr(uint8_t *bloom, unsigned tag, const uint8_t a[16], struct a128 last[4],
                     bool *have_last)
{
    struct a128 v = a128_load(a);
    if (*have_last && v.hi == last[0].hi && v.lo == last[0].lo) {
        return;
    }
    last[0] = v;
    stor__bloom_add(bloom, stor__hash_addr(tag, 128, a));
    const unsigned *pl = addr_plens(a);
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

static bool
addr_is_zero(const uint8_t a[16])
{
    static const uint8_t zero[16];
    return memcmp(a, zero, 16) == 0;
}

/* ---- summaries ---- */

void
stor__sum_write(const struct stor_sum *s, uint8_t out[STOR_SUM_BYTES])
{
    uint8_t *p = out;
    flow_put_be(p, s->n, 4);
    p += 4;
    for (int f = 0; f < STOR_F_COUNT; f++, p += 16) {
        flow_put_be(p, s->min[f], 8);
        flow_put_be(p + 8, s->max[f], 8);
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
    s->n = (uint32_t) flow_get_be(p, 4);
    p += 4;
    for (int f = 0; f < STOR_F_COUNT; f++, p += 16) {
        s->min[f] = flow_get_be(p, 8);
        s->max[f] = flow_get_be(p + 8, 8);
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
    return !probe_ok(lo, plen) || stor__bloom_has(s->bloom, stor__hash_addr(tag, plen, lo));
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
        if (stor__bloom_has(s->bloom, stor__hash_port(tag, v))) {
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
        return plen != 128 || stor__bloom_has(s->bloom, stor__hash_addr(T_EXPORTER, 128, lo));
    }
    case STOR_F_SRCPORT:
    case STOR_F_DSTPORT:
        return port_may(s, c);
    case STOR_F_INSTANCE:
        return stor__bloom_has(s->bloom,
                               stor__hash_text(T_INSTANCE, c->text, stor__id_len(c->text)));
    case STOR_F_ACCOUNT:
        return stor__bloom_has(s->bloom,
                               stor__hash_text(T_ACCOUNT, c->text, stor__id_len(c->text)));
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
