/* SPDX-License-Identifier: MIT */
/* The canonical record dump shared by golden tests and decdump (see recfmt.h). */
#define _DEFAULT_SOURCE /* u_char in pcap.h, inet_ntop */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "recfmt.h"

void
recfmt_addr(char *buf, size_t cap, const uint8_t addr[16])
{
    if (flow_addr_is_v4(addr)) {
        inet_ntop(AF_INET, addr + 12, buf, (socklen_t) cap);
    } else {
        inet_ntop(AF_INET6, addr, buf, (socklen_t) cap);
    }
}

static const char *
num(char *buf, size_t cap, const struct flow_rec *r, uint32_t bit, uint64_t v)
{
    if (!(r->present & bit)) {
        return "-";
    }
    snprintf(buf, cap, "%" PRIu64, v);
    return buf;
}

int
recfmt_line(char *buf, size_t cap, const struct flow_rec *r)
{
    char exp[64], src[64], dst[64];
    char n[10][24];
    const char *dir = "-";

    recfmt_addr(exp, sizeof(exp), r->exporter);
    if (r->present & FLOW_HAS_SRCADDR) {
        recfmt_addr(src, sizeof(src), r->srcaddr);
    } else {
        strcpy(src, "-");
    }
    if (r->present & FLOW_HAS_DSTADDR) {
        recfmt_addr(dst, sizeof(dst), r->dstaddr);
    } else {
        strcpy(dst, "-");
    }
    if (r->present & FLOW_HAS_DIRECTION) {
        dir = r->direction == FLOW_DIR_IN ? "in" : "out";
    }
    return snprintf(
        buf, cap,
        "v=%u exp=%s:%u dom=%" PRIu32 " src=%s dst=%s sport=%s dport=%s proto=%s "
        "pkts=%s bytes=%s tos=%s flags=%s in=%s out=%s dir=%s start=%" PRIu64 " end=%" PRIu64,
        r->version, exp, r->exporter_port, r->domain, src, dst,
        num(n[0], 24, r, FLOW_HAS_SRCPORT, r->srcport),
        num(n[1], 24, r, FLOW_HAS_DSTPORT, r->dstport),
        num(n[2], 24, r, FLOW_HAS_PROTOCOL, r->protocol),
        num(n[3], 24, r, FLOW_HAS_PACKETS, r->packets), num(n[4], 24, r, FLOW_HAS_BYTES, r->bytes),
        num(n[5], 24, r, FLOW_HAS_TOS, r->tos), num(n[6], 24, r, FLOW_HAS_TCPFLAGS, r->tcp_flags),
        num(n[7], 24, r, FLOW_HAS_INPORT, r->inport),
        num(n[8], 24, r, FLOW_HAS_OUTPORT, r->outport), dir, r->start_ms, r->end_ms);
}

static const char *
text(const struct flow_rec *r, uint32_t bit, const char *s)
{
    return (r->present & bit) ? s : "-";
}

int
recfmt_line_full(char *buf, size_t cap, const struct flow_rec *r)
{
    char n[2][24];
    int len = recfmt_line(buf, cap, r);
    if (len < 0 || (size_t) len >= cap) {
        return len;
    }
    len += snprintf(
        buf + len, cap - (size_t) len, " act=%s samp=%s inst=%s snid=%s acct=%s rtt=%s raw=",
        r->action == FLOW_ACT_REJECT ? "REJECT" : "ACCEPT",
        num(n[0], 24, r, FLOW_HAS_SAMPLING, r->sampling),
        text(r, FLOW_HAS_INSTANCE, r->instance_id), text(r, FLOW_HAS_SNID, r->snid),
        text(r, FLOW_HAS_ACCOUNT, r->account_id), num(n[1], 24, r, FLOW_HAS_RTT, r->rtt_us));
    size_t off = 0;
    struct flow_raw_ie ie;
    const char *sep = "";
    if (r->raw_len == 0) {
        len += snprintf(buf + len, cap - (size_t) len, "-");
    }
    while ((size_t) len < cap && flow_raw_next(r, &off, &ie)) {
        len += snprintf(buf + len, cap - (size_t) len, "%s%" PRIu32 ".%u:", sep, ie.pen, ie.id);
        for (uint16_t i = 0; i < ie.len && (size_t) len < cap; i++) {
            len += snprintf(buf + len, cap - (size_t) len, "%02x", ie.val[i]);
        }
        sep = ",";
    }
    if (r->flags & FLOW_F_RAW_TRUNC) {
        len += snprintf(buf + len, cap - (size_t) len, "+trunc");
    }
    return len;
}
