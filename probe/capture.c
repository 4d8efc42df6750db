/* SPDX-License-Identifier: MIT */
/*
 * Packet parsing: one captured frame -> struct probe_pkt. Pure (no pcap, no clock) so the unit
 * tests drive it with hand-made frames of every link type.
 *
 * Link layers: Ethernet (with any stack of 802.1Q / 802.1ad / QinQ 0x9100 tags), Linux cooked
 * v1 (SLL, 16-byte header) and v2 (SLL2, 20 bytes), raw IP (DLT_RAW, IPV4, IPV6) and BSD
 * loopback (DLT_NULL in the writer's byte order, DLT_LOOP big-endian). Then IPv4 (RFC 791) or
 * IPv6 (RFC 8200) with its extension headers walked (hop-by-hop, routing, destination
 * options, fragment, AH), then the first bytes of TCP, UDP, SCTP (ports), ICMP and ICMPv6
 * (type and code).
 *
 * Fragments: only the first fragment carries the transport header, so later fragments count
 * with ports 0 (what routers and softflowd do; reassembly would need state per datagram).
 * Bytes counted are the IP packet's own length (IPv4 total length, IPv6 40 + payload
 * length), never the link layer: this is what NetFlow/IPFIX octet counters mean (RFC 7012
 * octetDeltaCount) and what softflowd and routers count.
 *
 * Frame bytes are untrusted: every read is bounds-checked against caplen; no struct casts.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "probe.h"

#define ETH_IPV4 0x0800u
#define ETH_IPV6 0x86ddu

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

bool
probe_dlt_ok(int dlt)
{
    switch (dlt) {
    case PROBE_DLT_NULL:
    case PROBE_DLT_EN10MB:
    case PROBE_DLT_RAW:
    case PROBE_DLT_RAW14:
    case PROBE_DLT_LOOP:
    case PROBE_DLT_LINUX_SLL:
    case PROBE_DLT_IPV4:
    case PROBE_DLT_IPV6:
    case PROBE_DLT_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

/* BSD address families for IPv6 differ by system: NetBSD/OpenBSD 24, FreeBSD 28, macOS 30. */
static uint16_t
af_to_ethertype(uint32_t af)
{
    if (af == 2) {
        return ETH_IPV4;
    }
    if (af == 24 || af == 28 || af == 30) {
        return ETH_IPV6;
    }
    return 0;
}

/* Ethernet: skip any number of VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, old QinQ 0x9100). */
static int
eth_payload(const uint8_t *pkt, size_t caplen, size_t *off, uint16_t *type)
{
    size_t o = 12;

    for (;;) {
        if (o + 2 > caplen) {
            return PROBE_E_TRUNC;
        }
        uint16_t t = be16(pkt + o);
        if (t != 0x8100u && t != 0x88a8u && t != 0x9100u) {
            *type = t;
            *off = o + 2;
            return 0;
        }
        o += 4;
    }
}

/* The link layer: where the IP header starts and which ethertype it claims. */
static int
link_payload(int dlt, const uint8_t *pkt, size_t caplen, size_t *off, uint16_t *type)
{
    switch (dlt) {
    case PROBE_DLT_EN10MB:
        return eth_payload(pkt, caplen, off, type);
    case PROBE_DLT_LINUX_SLL:
        /* 0 type, 2 ARPHRD, 4 addr len, 6 addr[8], 14 protocol */
        if (caplen < 16) {
            return PROBE_E_TRUNC;
        }
        *type = be16(pkt + 14);
        *off = 16;
        return 0;
    case PROBE_DLT_LINUX_SLL2:
        /* 0 protocol, 2 reserved, 4 ifindex, 8 ARPHRD, 10 type, 11 addr len, 12 addr[8] */
        if (caplen < 20) {
            return PROBE_E_TRUNC;
        }
        *type = be16(pkt);
        *off = 20;
        return 0;
    case PROBE_DLT_NULL:
    case PROBE_DLT_LOOP: {
        if (caplen < 4) {
            return PROBE_E_TRUNC;
        }
        /* DLT_NULL is in the writer's byte order, which a file read here need not share:
           a family fits in the low byte, so the order is whichever gives a small value. */
        uint32_t af = dlt == PROBE_DLT_LOOP ? be32(pkt) : le32(pkt);
        af = af > 0xffffu ? be32(pkt) : af;
        *type = af_to_ethertype(af);
        *off = 4;
        return 0;
    }
    case PROBE_DLT_RAW:
    case PROBE_DLT_RAW14:
    case PROBE_DLT_IPV4:
    case PROBE_DLT_IPV6:
        if (caplen < 1) {
            return PROBE_E_TRUNC;
        }
        *type = (pkt[0] >> 4) == 6 ? ETH_IPV6 : (pkt[0] >> 4) == 4 ? ETH_IPV4 : 0;
        *off = 0;
        return 0;
    default:
        return PROBE_E_LINKTYPE;
    }
}

/* Transport header at p (avail bytes captured): ports, ICMP type/code, TCP flags. */
static void
transport(struct probe_pkt *o, const uint8_t *p, size_t avail)
{
    switch (o->proto) {
    case 6:   /* TCP */
    case 17:  /* UDP */
    case 132: /* SCTP */
    case 136: /* UDP-Lite */
        if (avail >= 4) {
            o->sport = be16(p);
            o->dport = be16(p + 2);
        }
        if (o->proto == 6 && avail >= 14) {
            o->tcp_flags = p[13];
        }
        break;
    case 1:  /* ICMP */
    case 58: /* ICMPv6 */
        if (avail >= 2) {
            o->dport = (uint16_t) (p[0] << 8 | p[1]);
        }
        break;
    default:
        break;
    }
}

static int
parse_v4(const uint8_t *ip, size_t avail, struct probe_pkt *o)
{
    /* 0 ver/ihl, 1 tos, 2 total length, 6 flags/fragment offset, 9 protocol, 12 src, 16 dst */
    if (avail < 20) {
        return PROBE_E_TRUNC;
    }
    size_t ihl = (size_t) (ip[0] & 0x0f) * 4;
    uint16_t total = be16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl) {
        return PROBE_E_BADHDR;
    }
    flow_addr_set_v4(o->src, ip + 12);
    flow_addr_set_v4(o->dst, ip + 16);
    o->tos = ip[1];
    o->proto = ip[9];
    o->len = total;
    uint16_t frag = be16(ip + 6);
    o->frag = (frag & 0x3fffu) != 0; /* MF set or an offset */
    if ((frag & 0x1fffu) != 0 || avail < ihl) {
        return 0; /* a later fragment, or options cut short: no transport header */
    }
    size_t end = total < avail ? total : avail;
    transport(o, ip + ihl, end - ihl);
    return 0;
}

/* IPv6 extension headers that flowprobe walks past (RFC 8200 §4, RFC 4302 for AH). */
static bool
v6_ext(uint8_t nh)
{
    return nh == 0 || nh == 43 || nh == 60 || nh == 44 || nh == 51 || nh == 135 || nh == 139 ||
           nh == 140;
}

static int
parse_v6(const uint8_t *ip, size_t avail, size_t wire, struct probe_pkt *o)
{
    /* 0 ver/tc/flow label, 4 payload length, 6 next header, 7 hop limit, 8 src, 24 dst */
    if (avail < 40) {
        return PROBE_E_TRUNC;
    }
    if ((ip[0] >> 4) != 6) {
        return PROBE_E_BADHDR;
    }
    memcpy(o->src, ip + 8, 16);
    memcpy(o->dst, ip + 24, 16);
    o->v6 = true;
    o->tos = (uint8_t) ((be16(ip) >> 4) & 0xffu);
    uint16_t plen = be16(ip + 4);
    /* Payload length 0: a jumbogram (RFC 2675) or a segmentation-offload super-packet;
       the frame itself tells the size. */
    o->len = plen != 0 ? 40u + plen : (uint32_t) (wire > 0xffffffffu ? 0xffffffffu : wire);
    size_t end = plen != 0 && 40u + (size_t) plen < avail ? 40u + plen : avail;
    uint8_t nh = ip[6];
    size_t off = 40;
    bool later_frag = false;
    while (v6_ext(nh)) {
        if (off + 8 > end) {
            o->proto = nh;
            return 0; /* chain cut short: counted with what we know */
        }
        const uint8_t *h = ip + off;
        size_t hl;
        if (nh == 44) {
            hl = 8;
            o->frag = true;
            later_frag = later_frag || (be16(h + 2) & 0xfff8u) != 0;
        } else if (nh == 51) {
            hl = ((size_t) h[1] + 2) * 4;
        } else {
            hl = ((size_t) h[1] + 1) * 8;
        }
        nh = h[0];
        off += hl;
    }
    o->proto = nh;
    if (!later_frag && off <= end) {
        transport(o, ip + off, end - off);
    }
    return 0;
}

int
probe_parse(int dlt, const uint8_t *pkt, size_t caplen, size_t wirelen, struct probe_pkt *out)
{
    size_t off = 0;
    uint16_t type = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = link_payload(dlt, pkt, caplen, &off, &type)) != 0) {
        return rc;
    }
    size_t wire = wirelen > off ? wirelen - off : 0;
    if (type == ETH_IPV4) {
        return parse_v4(pkt + off, caplen - off, out);
    }
    if (type == ETH_IPV6) {
        return parse_v6(pkt + off, caplen - off, wire, out);
    }
    return PROBE_E_NOTIP;
}

const char *
probe_strerror(int err)
{
    switch (err) {
    case PROBE_E_NOTIP:
        return "not an IP packet";
    case PROBE_E_TRUNC:
        return "IP header cut short";
    case PROBE_E_BADHDR:
        return "impossible IP header";
    case PROBE_E_LINKTYPE:
        return "unsupported link type";
    case PROBE_E_CONFIG:
        return "bad configuration";
    default:
        return err < 0 && err > -4096 ? "system error" : "unknown error";
    }
}
