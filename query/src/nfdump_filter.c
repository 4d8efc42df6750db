/* SPDX-License-Identifier: MIT */
/*
 * nfdump's filter syntax (nfdump(1), FILTER, version 1.7) translated into a search of our
 * query language (docs/query.md). The grammar is nfdump's: 'not' binds tighter than 'and',
 * 'and' tighter than 'or', parentheses group; a primitive is an optional direction (src, dst;
 * in, out for interfaces) and a keyword with its value. Each primitive becomes an equivalent
 * term of ours; one with no exact equivalent (AS numbers, MACs, computed rates, ...) is
 * refused with a message naming it. docs/nfdump.md has the table. Options (-s, -A, ...) are
 * nfdump.c's.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nfdump.h"
#include "qry.h"

enum dir { DIR_ANY, DIR_SRC, DIR_DST, DIR_IN, DIR_OUT };

struct nfp {
    const char *s;
    size_t pos;    /* start of the current token */
    size_t tlen;   /* its length; 0 at the end */
    char tok[256]; /* its text, NUL-terminated (longer tokens are refused) */
    int depth;
    bool neg; /* inside an odd number of 'not's (flags tests depend on it) */
    struct qry__nfd_buf *b;
    char *msg;
    size_t msglen;
};

static int or_expr(struct nfp *p);

static int
fail(struct nfp *p, const char *why)
{
    if (p->tlen == 0) {
        snprintf(p->msg, p->msglen, "nfdump filter: %s at the end of the filter", why);
    } else {
        snprintf(p->msg, p->msglen, "nfdump filter col %zu '%s': %s", p->pos + 1, p->tok, why);
    }
    return QRY_E_PARSE;
}

/* Next token: ( ) [ ] , a run of = < > !, or a word; '#' starts a comment to the line end. */
static int
next(struct nfp *p)
{
    const char *s = p->s;
    size_t i = p->pos + p->tlen;
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            i++;
        }
        if (s[i] != '#') {
            break;
        }
        i += strcspn(s + i, "\n");
    }
    size_t n = 0;
    if (s[i] != '\0' && strchr("()[],", s[i]) != NULL) {
        n = 1;
    } else if (s[i] != '\0' && strchr("=<>!", s[i]) != NULL) {
        n = strspn(s + i, "=<>!");
    } else {
        n = strcspn(s + i, " \t\r\n()[],=<>!#");
    }
    p->pos = i;
    p->tlen = n;
    if (n >= sizeof(p->tok)) {
        snprintf(p->tok, sizeof(p->tok), "%.40s...", s + i);
        return fail(p, "token too long");
    }
    memcpy(p->tok, s + i, n);
    p->tok[n] = '\0';
    return 0;
}

static bool
is(const struct nfp *p, const char *w)
{
    return p->tlen > 0 && strcasecmp(p->tok, w) == 0;
}

/* A number with nfdump's scale suffixes (k, m, g: x1000^n). */
static int
number(struct nfp *p, unsigned long long *out)
{
    const char *t = p->tok;
    char *end;
    if (!isdigit((unsigned char) t[0])) {
        return fail(p, "expected a number");
    }
    errno = 0;
    unsigned long long v = strtoull(t, &end, 10), scale = 1;
    if (*end == 'k' || *end == 'K') {
        scale = 1000ULL;
    } else if (*end == 'm' || *end == 'M') {
        scale = 1000000ULL;
    } else if (*end == 'g' || *end == 'G') {
        scale = 1000000000ULL;
    }
    end += scale != 1;
    if (errno != 0 || *end != '\0' || v > UINT64_MAX / scale) {
        return fail(p, "expected a number (with an optional k, m or g)");
    }
    *out = v * scale;
    return next(p);
}

/* nfdump's comparators (=, ==, >, <, >=, <=, eq, gt, lt, ge, le; none means =) as ours. */
static const char *
comparator(struct nfp *p)
{
    static const char *const from[] = {
        "==", "=", ">", "<", ">=", "<=", "eq", "gt", "lt", "ge", "le"};
    static const char *const to[] = {":", ":", ">", "<", ">=", "<=", ":", ">", "<", ">=", "<="};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        if (is(p, from[i])) {
            return next(p) == 0 ? to[i] : NULL;
        }
    }
    return isdigit((unsigned char) p->tok[0]) ? ":" : NULL;
}

/* Emit "(src<op>v or dst<op>v)", "src<op>v" or "dst<op>v" for a pair of fields. */
static void
pair(struct nfp *p, enum dir d, const char *src, const char *dst, const char *op, const char *v)
{
    if (d == DIR_SRC || d == DIR_IN) {
        qry__nfd_put(p->b, "%s%s%s", src, op, v);
    } else if (d == DIR_DST || d == DIR_OUT) {
        qry__nfd_put(p->b, "%s%s%s", dst, op, v);
    } else {
        qry__nfd_put(p->b, "(%s%s%s or %s%s%s)", src, op, v, dst, op, v);
    }
}

/*
 * An address or a network in canonical text. nfdump's abbreviated IPv4 networks ("172.16/16")
 * are completed with zero bytes; "a.b.c.d m.m.m.m" (mask) becomes a prefix length; host bits
 * must be zero in a network, as nfdump requires.
 */
static int
address(struct nfp *p, bool net, char *out, size_t cap)
{
    char a[256];
    snprintf(a, sizeof(a), "%s", p->tok);
    char *slash = strchr(a, '/');
    long bits = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (!net || *end != '\0' || slash[1] == '\0' || bits < 0 || bits > 128) {
            return fail(p, net ? "expected a prefix length after '/'" : "expected an address");
        }
    }
    unsigned char bin[16];
    bool v6 = strchr(a, ':') != NULL;
    if (!v6 && net && slash != NULL) {
        int dots = 0;
        for (const char *c = a; *c != '\0'; c++) {
            dots += *c == '.';
        }
        for (; dots < 3 && strlen(a) + 2 < sizeof(a); dots++) {
            strcat(a, ".0"); /* 172.16/16 is 172.16.0.0/16 */
        }
    }
    if (inet_pton(v6 ? AF_INET6 : AF_INET, a, bin) != 1) {
        return fail(p, net ? "expected a network (a.b.c.d/n, a.b/n, v6::/n)"
                           : "expected an "
                             "IPv4 or IPv6 address");
    }
    int rc = next(p);
    if (rc == 0 && net && slash == NULL && !v6) {
        unsigned char m[4];
        if (inet_pton(AF_INET, p->tok, m) != 1) {
            return fail(p, "expected a netmask (a.b.c.d) or write the network as a.b.c.d/n");
        }
        uint32_t mask = (uint32_t) m[0] << 24 | (uint32_t) m[1] << 16 | (uint32_t) m[2] << 8 | m[3];
        bits = __builtin_popcount(mask);
        if (mask != (bits == 0 ? 0 : UINT32_MAX << (32 - bits))) {
            return fail(p, "not a contiguous netmask");
        }
        rc = next(p);
    } else if (rc == 0 && net && slash == NULL) {
        return fail(p, "an IPv6 network needs /n");
    }
    if (rc != 0) {
        return rc;
    }
    if (bits > (v6 ? 128 : 32)) {
        snprintf(p->msg, p->msglen, "nfdump filter: prefix length /%ld too long for %s", bits, a);
        return QRY_E_PARSE;
    }
    if (bits >= 0) {
        snprintf(out, cap, "%s/%ld", a, bits);
    } else {
        snprintf(out, cap, "%s", a);
    }
    return 0;
}

/* [ v v, v ... ]: values for ours 'in ( ... )'; kind 'a' addresses/networks, 'n' numbers. */
static int
list(struct nfp *p, char kind, char *out, size_t cap)
{
    size_t n = 0, len = 0;
    int rc = next(p); /* past 'in' */
    if (rc != 0 || !is(p, "[")) {
        return rc != 0 ? rc : fail(p, "expected '[' after 'in'");
    }
    if ((rc = next(p)) != 0) {
        return rc;
    }
    while (rc == 0 && !is(p, "]")) {
        char v[80];
        unsigned long long num;
        if (p->tlen == 0 || ++n > QRY_NFD_LIST_MAX) {
            return fail(p, p->tlen == 0 ? "expected ']'" : "more than 64 values in a list");
        }
        if (kind == 'a') {
            rc = address(p, strchr(p->tok, '/') != NULL, v, sizeof(v));
        } else if ((rc = number(p, &num)) == 0) {
            snprintf(v, sizeof(v), "%llu", num);
        }
        if (rc == 0) {
            int w = snprintf(out + len, cap - len, "%s%s", n > 1 ? ", " : "", v);
            len += w > 0 && (size_t) w < cap - len ? (size_t) w : 0;
            rc = is(p, ",") ? next(p) : 0;
        }
    }
    if (rc == 0 && n == 0) {
        return fail(p, "an empty list");
    }
    return rc != 0 ? rc : next(p);
}

/* ip|host A, ip in [..], net N; for the src/dst pair. */
static int
prim_addr(struct nfp *p, enum dir d, bool net)
{
    char v[4096];
    int rc = next(p);
    if (rc == 0 && !net && is(p, "in")) {
        char l[QRY_NFD_LIST_MAX * 52];
        if ((rc = list(p, 'a', l, sizeof(l))) == 0) {
            snprintf(v, sizeof(v), " in (%s)", l);
            pair(p, d, "srcaddr", "dstaddr", "", v);
        }
        return rc;
    }
    if (rc == 0 && (rc = address(p, net, v, sizeof(v))) == 0) {
        pair(p, d, "srcaddr", "dstaddr", ":", v);
    }
    return rc;
}

/* port [comp] N, port in [..]; also tos, packets, bytes (no pair). */
static int
prim_num(struct nfp *p, enum dir d, const char *src, const char *dst)
{
    char v[QRY_NFD_LIST_MAX * 24];
    unsigned long long num;
    int rc = next(p);
    if (rc == 0 && is(p, "in")) {
        char l[sizeof(v) - 8];
        if ((rc = list(p, 'n', l, sizeof(l))) == 0) {
            snprintf(v, sizeof(v), " in (%s)", l);
            pair(p, d, src, dst != NULL ? dst : src, "", v);
        }
        return rc;
    }
    const char *op = rc == 0 ? comparator(p) : NULL;
    if (rc == 0 && op == NULL) {
        return fail(p, "expected a comparator (= == > < >= <= eq gt lt ge le) or a number");
    }
    if (rc == 0 && (rc = number(p, &num)) == 0) {
        snprintf(v, sizeof(v), "%llu", num);
        if (dst == NULL) {
            qry__nfd_put(p->b, "%s%s%s", src, op, v);
        } else {
            pair(p, d, src, dst, op, v);
        }
    }
    return rc;
}

/* proto NAME|N: the names our protocol field knows, and numbers 0-255. */
static int
prim_proto(struct nfp *p)
{
    static const char *const names[][2] = {
        {"tcp", "tcp"},         {"udp", "udp"},  {"icmp", "icmp"}, {"icmp6", "icmp6"},
        {"ipv6-icmp", "icmp6"}, {"gre", "gre"},  {"esp", "esp"},   {"ah", "ah"},
        {"sctp", "sctp"},       {"igmp", "igmp"}};
    int rc = next(p);
    for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        if (is(p, names[i][0])) {
            qry__nfd_put(p->b, "protocol:%s", names[i][1]);
            return next(p);
        }
    }
    unsigned long long n;
    if (rc == 0 && !isdigit((unsigned char) p->tok[0])) {
        return fail(p, "unknown protocol name (use its number, or one of tcp udp icmp icmp6 "
                       "gre esp ah sctp igmp)");
    }
    if (rc == 0 && (rc = number(p, &n)) == 0) {
        if (n > 255) {
            snprintf(p->msg, p->msglen, "nfdump filter: protocol %llu is not 0-255", n);
            return QRY_E_PARSE;
        }
        qry__nfd_put(p->b, "protocol:%llu", n);
    }
    return rc;
}

/*
 * flags LETTERS: nfdump (nftree.c, CMP_FLAGS) tests (flags & mask) == mask, all the flags
 * set, but inside an odd number of 'not's it tests (flags & mask) != 0, so that "not flags
 * AFRPU" means none of them (its man page's "flags S and not flags AFRPU"). No protocol test:
 * nfdump has none. Our language has no bit test, so the values with those bits are listed:
 * an 'or' of equalities on one field, which the planner folds into one 'in' (docs/query.md).
 */
static int
prim_flags(struct nfp *p)
{
    static const char letters[] = "FSRPAUEC"; /* bit 0 (FIN) to bit 7 (CWR) */
    unsigned mask = 0;
    int rc = next(p);
    for (const char *c = p->tok; rc == 0 && *c != '\0'; c++) {
        const char *at = strchr(letters, toupper((unsigned char) *c));
        if (toupper((unsigned char) *c) == 'X') {
            mask |= 0x3f;
        } else if (at == NULL) {
            return fail(p, "unknown TCP flag (A S F R P U X, and E C)");
        } else {
            mask |= 1u << (at - letters);
        }
    }
    if (rc == 0 && mask == 0) {
        return fail(p, "expected TCP flags (A S F R P U X)");
    }
    if (rc == 0) {
        qry__nfd_put(p->b, "(");
        for (unsigned v = 0, first = 1; v < 256; v++) {
            if (p->neg ? (v & mask) != 0 : (v & mask) == mask) {
                qry__nfd_put(p->b, "%stcp-flags:%u", first ? "" : " or ", v);
                first = 0;
            }
        }
        qry__nfd_put(p->b, ")");
        rc = next(p);
    }
    return rc;
}

/* inet/ipv4, inet6/ipv6, any, router ip A, flowdir D. */
static int
prim_misc(struct nfp *p, bool *done)
{
    char v[256];
    int rc = 0;
    *done = true;
    if (is(p, "inet") || is(p, "ipv4")) {
        qry__nfd_put(p->b, "(srcaddr:0.0.0.0/0 and dstaddr:0.0.0.0/0)");
        rc = next(p);
    } else if (is(p, "inet6") || is(p, "ipv6")) {
        qry__nfd_put(p->b, "(not srcaddr:0.0.0.0/0 and not dstaddr:0.0.0.0/0)");
        rc = next(p);
    } else if (is(p, "any")) {
        qry__nfd_put(p->b, "(version:* or not version:*)");
        rc = next(p);
    } else if (is(p, "router")) {
        if ((rc = next(p)) == 0 && !is(p, "ip")) {
            return fail(p, "expected 'ip' after 'router'");
        }
        if (rc == 0 && (rc = next(p)) == 0 && (rc = address(p, false, v, sizeof(v))) == 0) {
            qry__nfd_put(p->b, "exporter:%s", v);
        }
    } else if (is(p, "flowdir")) {
        if ((rc = next(p)) == 0 && (is(p, "ingress") || is(p, "0"))) {
            qry__nfd_put(p->b, "direction:in");
        } else if (rc == 0 && (is(p, "egress") || is(p, "1"))) {
            qry__nfd_put(p->b, "direction:out");
        } else if (rc == 0) {
            return fail(p, "expected ingress, egress, 0 or 1");
        }
        rc = rc == 0 ? next(p) : rc;
    } else {
        *done = false;
    }
    return rc;
}

static int
unsupported(struct nfp *p)
{
    static const char *const why[][2] = {
        {"as", "AS numbers are not in flowlog records"},
        {"mac", "MAC addresses are not in flowlog records"},
        {"vlan", "VLANs are not in flowlog records"},
        {"mpls", "MPLS labels are not in flowlog records"},
        {"pps", "rates (pps, bps, bpp) are computed by nfdump; flowlog cannot filter on them"},
        {"bps", "rates (pps, bps, bpp) are computed by nfdump; flowlog cannot filter on them"},
        {"bpp", "rates (pps, bps, bpp) are computed by nfdump; flowlog cannot filter on them"},
        {"duration", "flowlog cannot filter on end - start"},
        {"count", "record numbers depend on nfdump's file order"},
        {"flow", "flowlog records carry no flow counter (each is one flow)"},
    };
    for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++) {
        if (is(p, why[i][0])) {
            return fail(p, why[i][1]);
        }
    }
    return fail(p, p->tlen == 0 ? "expected a filter primitive"
                                : "not supported (docs/nfdump.md lists what is)");
}

/* One primitive with its optional direction. */
static int
primitive(struct nfp *p)
{
    enum dir d = DIR_ANY;
    bool done;
    int rc = prim_misc(p, &done);
    if (done) {
        return rc;
    }
    if (is(p, "src") || is(p, "dst") || is(p, "in") || is(p, "out")) {
        d = is(p, "src") ? DIR_SRC : is(p, "dst") ? DIR_DST : is(p, "in") ? DIR_IN : DIR_OUT;
        if ((rc = next(p)) != 0) {
            return rc;
        }
    }
    bool io = d == DIR_IN || d == DIR_OUT;
    if (io && (is(p, "packets") || is(p, "bytes"))) {
        return d == DIR_IN ? prim_num(p, DIR_ANY, is(p, "packets") ? "packets" : "bytes", NULL)
                           : fail(p, "'out' counters of bidirectional flows are not in flowlog");
    } else if (is(p, "if")) {
        return prim_num(p, d, "inport", "outport");
    } else if (io) {
        return fail(p, "expected 'if' (or packets/bytes) after in/out");
    } else if (is(p, "ip") || is(p, "host") || is(p, "net")) {
        return prim_addr(p, d, is(p, "net"));
    } else if (is(p, "port")) {
        return prim_num(p, d, "srcport", "dstport");
    } else if (is(p, "tos")) {
        return prim_num(p, DIR_ANY, "tos", NULL);
    } else if (d == DIR_ANY && (is(p, "packets") || is(p, "bytes"))) {
        return prim_num(p, DIR_ANY, is(p, "packets") ? "packets" : "bytes", NULL);
    } else if (d == DIR_ANY && is(p, "proto")) {
        return prim_proto(p);
    } else if (d == DIR_ANY && is(p, "flags")) {
        return prim_flags(p);
    }
    return unsupported(p);
}

/* Wrap what was written since start in parentheses. */
static void
wrap(struct qry__nfd_buf *b, size_t start)
{
    if (b->full || b->len + 2 >= b->cap) {
        b->full = 1;
        return;
    }
    memmove(b->p + start + 1, b->p + start, b->len - start + 1);
    b->p[start] = '(';
    b->len++;
    qry__nfd_put(b, ")");
}

static int
not_expr(struct nfp *p)
{
    int rc;
    if (++p->depth > QRY_NFD_DEPTH_MAX) {
        return fail(p, "nesting too deep (at most 64)");
    }
    if (is(p, "not") || is(p, "!")) {
        qry__nfd_put(p->b, "not ");
        p->neg = !p->neg;
        rc = next(p);
        rc = rc == 0 ? not_expr(p) : rc;
        p->neg = !p->neg;
    } else if (is(p, "(")) {
        qry__nfd_put(p->b, "(");
        rc = next(p);
        rc = rc == 0 ? or_expr(p) : rc;
        if (rc == 0 && !is(p, ")")) {
            rc = fail(p, "expected ')'");
        }
        qry__nfd_put(p->b, ")");
        rc = rc == 0 ? next(p) : rc;
    } else {
        rc = primitive(p);
    }
    p->depth--;
    return rc;
}

static int
and_expr(struct nfp *p)
{
    size_t start = p->b->len;
    bool chain = false;
    int rc = not_expr(p);
    while (rc == 0 && (is(p, "and") || is(p, "&&"))) {
        chain = true;
        qry__nfd_put(p->b, " and ");
        rc = next(p);
        rc = rc == 0 ? not_expr(p) : rc;
    }
    if (rc == 0 && chain) {
        wrap(p->b, start);
    }
    return rc;
}

static int
or_expr(struct nfp *p)
{
    size_t start = p->b->len;
    bool chain = false;
    int rc = and_expr(p);
    while (rc == 0 && (is(p, "or") || is(p, "||"))) {
        chain = true;
        qry__nfd_put(p->b, " or ");
        rc = next(p);
        rc = rc == 0 ? and_expr(p) : rc;
    }
    if (rc == 0 && chain) {
        wrap(p->b, start);
    }
    return rc;
}

int
qry__nfd_filter(const char *filter, struct qry__nfd_buf *b, char *msg, size_t msglen)
{
    struct nfp p = {.s = filter, .b = b, .msg = msg, .msglen = msglen};
    int rc = next(&p);
    if (rc != 0 || p.tlen == 0) {
        return rc; /* an empty filter: every record */
    }
    if ((rc = or_expr(&p)) == 0 && p.tlen != 0) {
        rc = fail(&p, is(&p, ")") ? "')' without '('" : "expected 'and', 'or' or the end");
    }
    if (rc == 0 && b->full) {
        snprintf(msg, msglen, "nfdump filter: the translation is longer than a request line");
        rc = QRY_E_PARSE;
    }
    return rc;
}
