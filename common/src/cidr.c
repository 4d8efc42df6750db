/* SPDX-License-Identifier: MIT */
/*
 * Parsing and printing of struct flow_cidr (common/include/flow_cidr.h). The matcher itself is
 * inline in the header. Text forms follow inet_pton(3): dotted quad for IPv4, RFC 4291 §2.2
 * for IPv6; the prefix is decimal after one '/'.
 */
#include "flow_cidr.h"
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

static int
parse_plen(const char *s, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (n == 0 || n > 3) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned) (s[i] - '0');
    }
    if (v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static void
clear_host_bits(struct flow_cidr *c)
{
    uint8_t lo[16], hi[16];
    flow_cidr_range(c, lo, hi);
    memcpy(c->addr, lo, 16);
}

int
flow_cidr_parse(const char *s, size_t n, struct flow_cidr *out, bool *has_plen)
{
    char buf[INET6_ADDRSTRLEN + 1];
    const char *slash = memchr(s, '/', n);
    size_t alen = slash != NULL ? (size_t) (slash - s) : n;
    uint8_t v4[4];
    unsigned plen, max;

    if (alen == 0 || alen >= sizeof(buf)) {
        return -EINVAL;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, v4) == 1) {
        flow_addr_set_v4(out->addr, v4);
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        max = 128;
    } else {
        return -EINVAL;
    }
    plen = max;
    if (slash != NULL && parse_plen(slash + 1, n - alen - 1, max, &plen) != 0) {
        return -EINVAL;
    }
    if (has_plen != NULL) {
        *has_plen = slash != NULL;
    }
    out->plen = (uint8_t) (max == 32 ? plen + 96 : plen);
    clear_host_bits(out);
    return 0;
}

int
flow_cidr_format(const struct flow_cidr *c, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    bool v4 = flow_addr_is_v4(c->addr) && c->plen >= 96;
    inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? c->addr + 12 : c->addr, host, sizeof(host));
    return snprintf(buf, len, "%s/%u", host, v4 ? c->plen - 96u : (unsigned) c->plen);
}
