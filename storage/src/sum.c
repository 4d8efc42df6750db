/* SPDX-License-Identifier: MIT */
/*
 * Block summaries: their fixed layout (stor__sum_write / stor__sum_read) and
 * stor__sum_may_match, which rules a block out only when no record of it can match. The
 * layout and the Bloom keys are the tables at the top of block.c; filling a summary while
 * encoding is block.c's, the exact per-record semantics are match.c's.
 */
#include <string.h>

#include "block_int.h"

_Static_assert(STOR_SUM_BYTES == 4 + 16 * STOR_F_COUNT + 64 + STOR_BLOOM_BYTES, "sum layout");

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
