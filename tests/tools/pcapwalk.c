/* SPDX-License-Identifier: MIT */
/* pcap -> UDP payloads, for tests, fuzz seeds and benchmarks (see pcapwalk.h). */
#define _DEFAULT_SOURCE /* u_char in pcap.h, inet_ntop */
#include <pcap/pcap.h>
#include <stdbool.h>
#include <string.h>

#include "pcapwalk.h"

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

/* Offset of the network header and its ethertype-like family, or -1 to skip the frame. */
static int
link_skip(int dlt, const uint8_t *p, size_t len, uint16_t *ethertype)
{
    size_t off;
    switch (dlt) {
    case DLT_EN10MB:
        if (len < 14) {
            return -1;
        }
        *ethertype = be16(p + 12);
        off = 14;
        while ((*ethertype == 0x8100 || *ethertype == 0x88a8) && len >= off + 4) {
            *ethertype = be16(p + off + 2);
            off += 4;
        }
        return (int) off;
    case DLT_LINUX_SLL:
        if (len < 16) {
            return -1;
        }
        *ethertype = be16(p + 14);
        return 16;
    case DLT_LINUX_SLL2:
        if (len < 20) {
            return -1;
        }
        *ethertype = be16(p);
        return 20;
    case DLT_NULL:
    case DLT_LOOP:
        if (len < 4) {
            return -1;
        }
        *ethertype = (p[0] == 2 || p[3] == 2) ? 0x0800 : 0x86dd;
        return 4;
    case DLT_RAW:
    case 228: /* DLT_IPV4 */
    case 229: /* DLT_IPV6 */
        if (len < 1) {
            return -1;
        }
        *ethertype = (p[0] >> 4) == 4 ? 0x0800 : 0x86dd;
        return 0;
    default:
        return -1;
    }
}

static bool
parse_ip(const uint8_t *p, size_t len, uint16_t et, struct pcapwalk_pkt *pkt)
{
    size_t hl;
    if (et == 0x0800) {
        if (len < 20 || (p[0] >> 4) != 4 || p[9] != 17) {
            return false;
        }
        if ((be16(p + 6) & 0x3fff) != 0) {
            return false; /* a fragment */
        }
        hl = (size_t) (p[0] & 0xf) * 4;
        size_t tot = be16(p + 2);
        if (tot < len && tot >= hl) {
            len = tot;
        }
        memset(pkt->src, 0, 10);
        pkt->src[10] = pkt->src[11] = 0xff;
        memcpy(pkt->src + 12, p + 12, 4);
    } else if (et == 0x86dd) {
        if (len < 40 || p[6] != 17) {
            return false; /* no extension header walking: exporters do not send them */
        }
        hl = 40;
        memcpy(pkt->src, p + 8, 16);
    } else {
        return false;
    }
    if (len < hl + 8) {
        return false;
    }
    const uint8_t *u = p + hl;
    size_t ulen = be16(u + 4);
    if (ulen < 8 || ulen > len - hl) {
        ulen = len - hl;
    }
    pkt->sport = be16(u);
    pkt->dport = be16(u + 2);
    pkt->data = u + 8;
    pkt->len = ulen - 8;
    return true;
}

int
pcapwalk(const char *path, const uint16_t *ports, size_t nports, pcapwalk_fn *fn, void *arg,
         char *errbuf)
{
    pcap_t *pc = pcap_open_offline(path, errbuf);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = 0;

    if (pc == NULL) {
        return -1;
    }
    int dlt = pcap_datalink(pc);
    while (rc == 0 && pcap_next_ex(pc, &h, &data) == 1) {
        uint16_t et = 0;
        int off = link_skip(dlt, data, h->caplen, &et);
        struct pcapwalk_pkt pkt;
        if (off < 0 || !parse_ip(data + off, h->caplen - (size_t) off, et, &pkt)) {
            continue;
        }
        bool want = nports == 0;
        for (size_t i = 0; i < nports && !want; i++) {
            want = ports[i] == pkt.dport;
        }
        if (!want) {
            continue;
        }
        pkt.ts_ms = (uint64_t) h->ts.tv_sec * 1000u + (uint64_t) h->ts.tv_usec / 1000u;
        rc = fn(arg, &pkt);
    }
    pcap_close(pc);
    return rc;
}
