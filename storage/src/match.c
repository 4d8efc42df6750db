/* SPDX-License-Identifier: MIT */
/*
 * The exact meaning of a pushed-down condition on one record (stor__rec_matches): the
 * reference semantics that summaries (sum.c) may only approximate from above and that tests
 * compare scans against. A field a record does not carry counts as 0, "" or ::.
 */
#include <string.h>

#include "block_int.h"

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
    size_t l = has ? stor__id_len(rs) : 0, wl = stor__id_len(want);
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
