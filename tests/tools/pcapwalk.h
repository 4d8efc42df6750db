/* SPDX-License-Identifier: MIT */
/*
 * Walk the UDP datagrams of a pcap file (Ethernet, 802.1Q/QinQ, Linux SLL/SLL2, raw IP,
 * BSD loopback; IPv4 and IPv6), handing each payload with its source address and port to a
 * callback. Fragments and non-UDP packets are skipped. Test and bench support only: the probe
 * has its own parser.
 */
#ifndef FLOWLOG_PCAPWALK_H
#define FLOWLOG_PCAPWALK_H

#include <stddef.h>
#include <stdint.h>

struct pcapwalk_pkt {
    uint8_t src[16]; /* IPv4-mapped for IPv4 */
    uint16_t sport;
    uint16_t dport;
    uint64_t ts_ms;
    const uint8_t *data;
    size_t len;
};

typedef int pcapwalk_fn(void *arg, const struct pcapwalk_pkt *pkt);

/*
 * Calls fn for each UDP datagram whose destination port is in ports[0..nports) (all when
 * nports is 0). Returns 0, fn's first non-zero result, or -1 when the file cannot be read
 * (errbuf, at least 256 bytes, says why).
 */
int pcapwalk(const char *path, const uint16_t *ports, size_t nports, pcapwalk_fn *fn, void *arg,
             char *errbuf);

#endif
