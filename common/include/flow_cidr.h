/* SPDX-License-Identifier: MIT */
/*
 * One CIDR type and one matcher for every module: flow-log exporter lists (storage), query
 * terms and pushed-down conditions (query, storage summaries) and the collector's allow-list.
 *
 * Addresses are on the 16-byte form of struct flow_rec: IPv4 as IPv4-mapped, so an IPv4
 * prefix /p is stored as plen = p + 96 and one comparison serves both families.
 */
#ifndef FLOWLOG_FLOW_CIDR_H
#define FLOWLOG_FLOW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct flow_cidr {
    uint8_t addr[16]; /* host bits cleared by flow_cidr_parse() */
    uint8_t plen;     /* 0..128, counted on the 16-byte form */
};

/* True when addr lies inside c. A plen above 128 is taken as 128. */
static inline bool
flow_cidr_contains(const struct flow_cidr *c, const uint8_t addr[16])
{
    unsigned plen = c->plen > 128 ? 128u : c->plen;
    unsigned full = plen / 8u, rest = plen % 8u;
    if (memcmp(c->addr, addr, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t) (0xffu << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

/* The lowest and highest 16-byte addresses inside c (for range pruning by memcmp). */
static inline void
flow_cidr_range(const struct flow_cidr *c, uint8_t lo[16], uint8_t hi[16])
{
    unsigned plen = c->plen > 128 ? 128u : c->plen;
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = plen > 8 * i ? plen - 8 * i : 0;
        uint8_t mask = (uint8_t) (bits >= 8 ? 0xffu : 0xffu << (8 - bits));
        lo[i] = (uint8_t) (c->addr[i] & mask);
        hi[i] = (uint8_t) (c->addr[i] | (uint8_t) ~mask);
    }
}

/*
 * Parse "a.b.c.d", "a.b.c.d/p", an IPv6 address or "v6/p" from s[0..n) (no NUL needed).
 * A bare address is a host (/32 or /128); *has_plen (may be NULL) says whether a prefix was
 * written. Host bits are cleared. Returns 0, or -EINVAL for anything else (empty, a prefix
 * longer than the family allows, junk after the number).
 */
int flow_cidr_parse(const char *s, size_t n, struct flow_cidr *out, bool *has_plen);

/* Write c as text ("10.0.0.0/8", "2001:db8::/32"); returns snprintf's result. */
int flow_cidr_format(const struct flow_cidr *c, char *buf, size_t len);

#endif
