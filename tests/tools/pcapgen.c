/* SPDX-License-Identifier: MIT */
/*
 * pcapgen: write a deterministic capture of a small site's traffic, for the README's first
 * command (flowprobe reads it and exports the flows) and for tests that want packets with
 * today's timestamps.
 *
 *   pcapgen -o FILE [-n FLOWS] [-s SEED] [-e END_UNIX_S] [-d SPAN_S]
 *
 * FLOWS conversations (default 2000) end within the SPAN_S seconds (default 600) before END
 * (default: now). Clients in 10.0.0.0/24 (and 2001:db8:10::/64) talk to servers in the
 * documentation ranges 198.51.100.0/24, 203.0.113.0/24 and 2001:db8:200::/64, picked with a
 * skew so that a few clients and servers carry most of the bytes: TCP with a handshake (the
 * server answers after a round-trip time of 1-80 ms), data both ways and FINs; UDP DNS
 * queries and answers; ICMP echo. Ethernet frames, IPv4 or IPv6 (one flow in ten). The
 * addresses are only written to the file: nothing is sent anywhere.
 */
#define _DEFAULT_SOURCE
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

#include "flow_bytes.h"

#define SNAP 128 /* headers only: the wire length says how big each packet was */

struct pkt {
    uint64_t ts_us;
    uint32_t flow;
    uint16_t payload; /* transport payload bytes */
    uint8_t dir;      /* 0 client to server, 1 back */
    uint8_t tcp_flags;
};

struct flow {
    bool v6;
    uint8_t proto; /* 6, 17, 1 (58 with v6) */
    uint8_t client[16], server[16];
    uint16_t cport, sport;
};

struct gen {
    uint64_t rng;
    struct pkt *p;
    size_t n, cap;
};

static uint64_t
rnd(struct gen *g)
{
    uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 0 .. n-1, small values far likelier (about Zipf with s = 1). */
static uint32_t
skewed(struct gen *g, uint32_t n)
{
    double u = (double) (rnd(g) >> 11) / 9007199254740992.0;
    uint32_t v = (uint32_t) ((double) n * u * u * u);
    return v < n ? v : n - 1;
}

static int
add(struct gen *g, uint64_t ts_us, uint32_t flow, uint8_t dir, uint8_t flags, uint16_t payload)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        struct pkt *p = realloc(g->p, cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        g->p = p;
        g->cap = cap;
    }
    g->p[g->n++] = (struct pkt){ts_us, flow, payload, dir, flags};
    return 0;
}

static void
make_flow(struct gen *g, struct flow *f)
{
    uint32_t c = skewed(g, 50), s = skewed(g, 400);
    uint64_t kind = rnd(g) % 100;

    memset(f, 0, sizeof(*f));
    f->v6 = rnd(g) % 10 == 0;
    f->proto = kind < 70 ? 6 : kind < 95 ? 17 : (f->v6 ? 58 : 1);
    if (f->v6) {
        static const uint8_t cli[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0, 0};
        static const uint8_t srv[8] = {0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, 0, 0};
        memcpy(f->client, cli, 8);
        memcpy(f->server, srv, 8);
        f->client[15] = (uint8_t) (10 + c);
        f->server[14] = (uint8_t) (s >> 8);
        f->server[15] = (uint8_t) (1 + s % 250);
    } else {
        f->client[0] = 10, f->client[3] = (uint8_t) (10 + c);
        f->server[0] = s % 2 ? 198 : 203;
        f->server[1] = s % 2 ? 51 : 0;
        f->server[2] = s % 2 ? 100 : 113;
        f->server[3] = (uint8_t) (1 + s / 2 % 250);
    }
    static const uint16_t tcp_ports[] = {443, 443, 443, 80, 22, 8443, 3389, 25};
    f->cport = (uint16_t) (32768 + rnd(g) % 28000);
    f->sport = f->proto == 6 ? tcp_ports[rnd(g) % 8] : f->proto == 17 ? 53 : 0;
}

/* The packets of flow i, from t0 (µs). */
static int
flow_packets(struct gen *g, const struct flow *f, uint32_t i, uint64_t t0)
{
    uint64_t rtt = 1000 + rnd(g) % 79000, t = t0;
    int rc = 0;

    if (f->proto == 17) {
        rc |= add(g, t, i, 0, 0, (uint16_t) (30 + rnd(g) % 40));
        rc |= add(g, t + rtt, i, 1, 0, (uint16_t) (60 + rnd(g) % 400));
        return rc;
    }
    if (f->proto != 6) {
        for (int k = 0; k < 4; k++, t += 1000000) {
            rc |= add(g, t, i, 0, 0, 56);
            rc |= add(g, t + rtt, i, 1, 0, 56);
        }
        return rc;
    }
    rc |= add(g, t, i, 0, 0x02, 0);            /* SYN */
    rc |= add(g, t + rtt, i, 1, 0x12, 0);      /* SYN-ACK */
    rc |= add(g, t + rtt + 50, i, 0, 0x10, 0); /* ACK */
    t += rtt + 100;
    /* A request, then a response of 1..~200 segments (heavy tail). */
    rc |= add(g, t, i, 0, 0x18, (uint16_t) (200 + rnd(g) % 600));
    uint32_t segs = 1 + skewed(g, 200);
    for (uint32_t k = 0; k < segs; k++) {
        t += rtt / 4 + 200;
        rc |= add(g, t, i, 1, 0x10, k + 1 < segs ? 1448 : (uint16_t) (1 + rnd(g) % 1448));
        if (k % 2 == 1) {
            rc |= add(g, t + 100, i, 0, 0x10, 0);
        }
    }
    t += rtt;
    rc |= add(g, t, i, 0, 0x11, 0);            /* FIN */
    rc |= add(g, t + rtt, i, 1, 0x11, 0);      /* FIN back */
    rc |= add(g, t + rtt + 50, i, 0, 0x10, 0); /* last ACK */
    return rc;
}

static int
by_time(const void *a, const void *b)
{
    const struct pkt *x = a, *y = b;
    if (x->ts_us != y->ts_us) {
        return x->ts_us < y->ts_us ? -1 : 1;
    }
    return x->flow < y->flow ? -1 : x->flow > y->flow;
}

static uint16_t
ip_sum(const uint8_t *h)
{
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) {
        s += (uint32_t) (h[i] << 8 | h[i + 1]);
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t) ~s;
}

/* Build packet p of flow f into b; returns the captured length, *wire the length on the wire. */
static size_t
frame(const struct flow *f, const struct pkt *p, uint8_t *b, uint32_t *wire)
{
    static const uint8_t mac[12] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
    const uint8_t *src = p->dir ? f->server : f->client, *dst = p->dir ? f->client : f->server;
    uint16_t sp = p->dir ? f->sport : f->cport, dp = p->dir ? f->cport : f->sport;
    size_t l4 = f->proto == 6 ? 20 : 8, ip = f->v6 ? 40 : 20;
    uint32_t iplen = (uint32_t) (ip + l4 + p->payload);

    memset(b, 0, SNAP);
    memcpy(b, mac, 12);
    if (p->dir) { /* swap the MACs for the way back */
        memcpy(b, mac + 6, 6);
        memcpy(b + 6, mac, 6);
    }
    uint8_t *h = b + 14;
    if (f->v6) {
        flow_put_be(b + 12, 0x86dd, 2);
        h[0] = 0x60;
        flow_put_be(h + 4, iplen - 40, 2);
        h[6] = f->proto;
        h[7] = 64;
        memcpy(h + 8, src, 16);
        memcpy(h + 24, dst, 16);
    } else {
        flow_put_be(b + 12, 0x0800, 2);
        h[0] = 0x45;
        flow_put_be(h + 2, iplen, 2);
        h[8] = 64;
        h[9] = f->proto;
        memcpy(h + 12, src, 4);
        memcpy(h + 16, dst, 4);
        flow_put_be(h + 10, ip_sum(h), 2);
    }
    uint8_t *t = h + ip;
    if (f->proto == 6 || f->proto == 17) {
        flow_put_be(t, sp, 2);
        flow_put_be(t + 2, dp, 2);
    }
    if (f->proto == 6) {
        t[12] = 0x50;
        t[13] = p->tcp_flags;
        flow_put_be(t + 14, 64240, 2);
    } else if (f->proto == 17) {
        flow_put_be(t + 4, (uint32_t) (8 + p->payload), 2);
    } else {
        t[0] = f->v6 ? (p->dir ? 129 : 128) : (p->dir ? 0 : 8); /* echo request / reply */
    }
    *wire = (uint32_t) (14 + iplen);
    size_t cap = 14 + ip + l4;
    return cap < SNAP ? cap : SNAP;
}

static void
usage(void)
{
    fprintf(stderr, "usage: pcapgen -o FILE [-n FLOWS] [-s SEED] [-e END_UNIX_S] [-d SPAN_S]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *out = NULL;
    unsigned long flows = 2000, span_s = 600;
    unsigned long long end_s = (unsigned long long) time(NULL);
    struct gen g = {.rng = 1};
    int c;

    while ((c = getopt(argc, argv, "o:n:s:e:d:")) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'n':
            flows = strtoul(optarg, NULL, 10);
            break;
        case 's':
            g.rng = strtoull(optarg, NULL, 10);
            break;
        case 'e':
            end_s = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            span_s = strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (out == NULL || flows == 0 || flows > 10000000 || span_s < 10 || end_s < span_s) {
        usage();
    }
    struct flow *fl = calloc(flows, sizeof(*fl));
    if (fl == NULL) {
        fprintf(stderr, "pcapgen: out of memory\n");
        return 1;
    }
    /* Every flow starts early enough to end (at most ~30 s long) before end_s. */
    uint64_t first_us = (end_s - span_s) * 1000000ull, room_us = (span_s - 40) * 1000000ull;
    int rc = 0;
    for (uint32_t i = 0; i < flows; i++) {
        make_flow(&g, &fl[i]);
        rc |= flow_packets(&g, &fl[i], i, first_us + rnd(&g) % room_us);
    }
    if (rc != 0) {
        fprintf(stderr, "pcapgen: out of memory\n");
        return 1;
    }
    qsort(g.p, g.n, sizeof(*g.p), by_time);

    pcap_t *dead = pcap_open_dead(DLT_EN10MB, SNAP);
    pcap_dumper_t *d = dead ? pcap_dump_open(dead, out) : NULL;
    if (d == NULL) {
        fprintf(stderr, "pcapgen: %s: %s\n", out, dead ? pcap_geterr(dead) : "pcap_open_dead");
        return 1;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < g.n; i++) {
        uint8_t b[SNAP];
        uint32_t wire;
        struct pcap_pkthdr h;
        h.caplen = (uint32_t) frame(&fl[g.p[i].flow], &g.p[i], b, &wire);
        h.len = wire;
        h.ts.tv_sec = (time_t) (g.p[i].ts_us / 1000000u);
        h.ts.tv_usec = (suseconds_t) (g.p[i].ts_us % 1000000u);
        pcap_dump((u_char *) d, &h, b);
        bytes += wire;
    }
    pcap_dump_close(d);
    pcap_close(dead);
    printf("pcapgen: %s: %lu flows, %zu packets, %llu bytes, %llu..%llu\n", out, flows, g.n,
           (unsigned long long) bytes, (unsigned long long) (end_s - span_s), end_s);
    free(g.p);
    free(fl);
    return 0;
}
