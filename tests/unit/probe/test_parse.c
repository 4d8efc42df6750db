/* SPDX-License-Identifier: MIT */
/*
 * flowprobe's packet parser: every link type (Ethernet, 802.1Q, QinQ, Linux SLL and SLL2, raw
 * IP, BSD loopback in both byte orders, OpenBSD loop), IPv4 with options and fragments, IPv6
 * with extension headers and fragments, TCP/UDP/ICMP/ICMPv6/other, and the malformed cases
 * (truncated, wrong version, impossible lengths, non-IP). Frames are built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "probe.h"

struct frame {
    uint8_t b[512];
    size_t n;
};

static void
put(struct frame *f, const void *p, size_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void
put16(struct frame *f, uint16_t v)
{
    uint8_t b[2] = {(uint8_t) (v >> 8), (uint8_t) v};
    put(f, b, 2);
}

static void
eth(struct frame *f, const uint16_t *tags, size_t ntags, uint16_t type)
{
    static const uint8_t macs[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    put(f, macs, 12);
    for (size_t i = 0; i < ntags; i++) {
        put16(f, tags[i]);
        put16(f, (uint16_t) (100 + i)); /* TCI: VLAN id */
    }
    put16(f, type);
}

/* IPv4 header (20 bytes + optlen of options) for a payload of plen bytes. */
static void
ipv4(struct frame *f, uint8_t proto, uint16_t plen, uint16_t frag, size_t optlen)
{
    uint8_t h[60] = {0};
    size_t hl = 20 + optlen;
    h[0] = (uint8_t) (0x40 | (hl / 4));
    h[1] = 0x28; /* tos */
    h[2] = (uint8_t) ((hl + plen) >> 8);
    h[3] = (uint8_t) (hl + plen);
    h[6] = (uint8_t) (frag >> 8);
    h[7] = (uint8_t) frag;
    h[8] = 64;
    h[9] = proto;
    memcpy(h + 12, (uint8_t[]){10, 0, 0, 1}, 4);
    memcpy(h + 16, (uint8_t[]){192, 0, 2, 7}, 4);
    for (size_t i = 20; i < hl; i++) {
        h[i] = 1; /* NOP options */
    }
    put(f, h, hl);
}

static void
ipv6(struct frame *f, uint8_t nh, uint16_t plen)
{
    uint8_t h[40] = {0x6a, 0xb0, 0, 0}; /* traffic class 0xab */
    h[4] = (uint8_t) (plen >> 8);
    h[5] = (uint8_t) plen;
    h[6] = nh;
    h[7] = 64;
    h[8] = 0x20;
    h[9] = 0x01;
    h[23] = 1; /* 2001::1 */
    h[24] = 0x20;
    h[25] = 0x01;
    h[39] = 2; /* 2001::2 */
    put(f, h, 40);
}

static void
tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags)
{
    uint8_t h[20] = {0};
    h[0] = (uint8_t) (sport >> 8);
    h[1] = (uint8_t) sport;
    h[2] = (uint8_t) (dport >> 8);
    h[3] = (uint8_t) dport;
    h[12] = 0x50;
    h[13] = flags;
    put(f, h, 20);
}

static void
udp(struct frame *f, uint16_t sport, uint16_t dport)
{
    uint8_t h[8] = {(uint8_t) (sport >> 8),
                    (uint8_t) sport,
                    (uint8_t) (dport >> 8),
                    (uint8_t) dport,
                    0,
                    8,
                    0,
                    0};
    put(f, h, 8);
}

static void
check_v4_tcp(const struct probe_pkt *p)
{
    static const uint8_t src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    assert_memory_equal(p->src, src, 16);
    assert_int_equal(p->dst[12], 192);
    assert_int_equal(p->dst[15], 7);
    assert_int_equal(p->proto, 6);
    assert_int_equal(p->sport, 40000);
    assert_int_equal(p->dport, 443);
    assert_int_equal(p->tcp_flags, 0x12);
    assert_int_equal(p->tos, 0x28);
    assert_int_equal(p->len, 40);
    assert_false(p->v6);
    assert_false(p->frag);
}

static void
test_ethernet_vlan_qinq(void **state)
{
    (void) state;
    static const uint16_t tags[][2] = {{0, 0}, {0x8100, 0}, {0x88a8, 0x8100}, {0x9100, 0x8100}};
    for (size_t i = 0; i < 4; i++) {
        struct frame f = {.n = 0};
        struct probe_pkt p;
        eth(&f, tags[i], i == 0 ? 0 : i == 1 ? 1 : 2, 0x0800);
        ipv4(&f, 6, 20, 0, 0);
        tcp(&f, 40000, 443, 0x12);
        size_t padded = f.n < 60 ? 60 : f.n; /* Ethernet padding is not counted */
        assert_int_equal(probe_parse(PROBE_DLT_EN10MB, f.b, padded, padded, &p), 0);
        check_v4_tcp(&p);
    }
}

static void
test_sll_sll2_raw_null_loop(void **state)
{
    (void) state;
    struct probe_pkt p;
    struct frame f;

    /* SLL: 16-byte header, protocol at 14. */
    f.n = 0;
    put(&f, (uint8_t[14]){0, 0, 0, 1, 0, 6}, 14);
    put16(&f, 0x0800);
    ipv4(&f, 6, 20, 0, 0);
    tcp(&f, 40000, 443, 0x12);
    assert_int_equal(probe_parse(PROBE_DLT_LINUX_SLL, f.b, f.n, f.n, &p), 0);
    check_v4_tcp(&p);
    /* SLL2: 20 bytes, protocol first. */
    f.n = 0;
    put16(&f, 0x0800);
    put(&f, (uint8_t[18]){0}, 18);
    ipv4(&f, 6, 20, 0, 0);
    tcp(&f, 40000, 443, 0x12);
    assert_int_equal(probe_parse(PROBE_DLT_LINUX_SLL2, f.b, f.n, f.n, &p), 0);
    check_v4_tcp(&p);
    /* Raw IP, under each of its link type numbers. */
    static const int raws[] = {PROBE_DLT_RAW, PROBE_DLT_RAW14, PROBE_DLT_IPV4};
    for (size_t i = 0; i < 3; i++) {
        f.n = 0;
        ipv4(&f, 6, 20, 0, 0);
        tcp(&f, 40000, 443, 0x12);
        assert_int_equal(probe_parse(raws[i], f.b, f.n, f.n, &p), 0);
        check_v4_tcp(&p);
    }
    /* BSD loopback: AF_INET 2 in either byte order; OpenBSD loop big-endian. */
    static const uint8_t afs[][4] = {{2, 0, 0, 0}, {0, 0, 0, 2}};
    for (size_t i = 0; i < 2; i++) {
        f.n = 0;
        put(&f, afs[i], 4);
        ipv4(&f, 6, 20, 0, 0);
        tcp(&f, 40000, 443, 0x12);
        assert_int_equal(probe_parse(PROBE_DLT_NULL, f.b, f.n, f.n, &p), 0);
        check_v4_tcp(&p);
    }
    assert_int_equal(probe_parse(PROBE_DLT_LOOP, f.b, f.n, f.n, &p), 0);
    check_v4_tcp(&p);
    /* IPv6 over DLT_NULL: FreeBSD's 28 and macOS's 30. */
    for (uint8_t af = 28; af <= 30; af += 2) {
        f.n = 0;
        put(&f, (uint8_t[4]){af, 0, 0, 0}, 4);
        ipv6(&f, 17, 8);
        udp(&f, 53, 5353);
        assert_int_equal(probe_parse(PROBE_DLT_NULL, f.b, f.n, f.n, &p), 0);
        assert_true(p.v6);
        assert_int_equal(p.dport, 5353);
    }
    assert_int_equal(probe_parse(105 /* 802.11 */, f.b, f.n, f.n, &p), PROBE_E_LINKTYPE);
    assert_false(probe_dlt_ok(105));
    assert_true(probe_dlt_ok(PROBE_DLT_LINUX_SLL2));
}

static void
test_ipv4_options_fragments_icmp_other(void **state)
{
    (void) state;
    struct probe_pkt p;
    struct frame f = {.n = 0};

    ipv4(&f, 17, 8, 0, 8); /* 8 bytes of options */
    udp(&f, 1234, 53);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_int_equal(p.sport, 1234);
    assert_int_equal(p.dport, 53);
    assert_int_equal(p.len, 36);
    /* First fragment (MF): ports known, marked a fragment. */
    f.n = 0;
    ipv4(&f, 17, 8, 0x2000, 0);
    udp(&f, 1234, 53);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_true(p.frag);
    assert_int_equal(p.dport, 53);
    /* A later fragment: ports 0, whatever its payload looks like. */
    f.n = 0;
    ipv4(&f, 17, 8, 185, 0);
    udp(&f, 1234, 53);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_true(p.frag);
    assert_int_equal(p.sport, 0);
    assert_int_equal(p.dport, 0);
    assert_int_equal(p.len, 28);
    /* ICMP echo request: dport = type << 8 | code. */
    f.n = 0;
    ipv4(&f, 1, 8, 0, 0);
    put(&f, (uint8_t[8]){8, 0}, 8);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_int_equal(p.sport, 0);
    assert_int_equal(p.dport, 0x0800);
    /* GRE (47): no ports. */
    f.n = 0;
    ipv4(&f, 47, 4, 0, 0);
    put(&f, (uint8_t[4]){0, 0, 8, 0}, 4);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_int_equal(p.proto, 47);
    assert_int_equal(p.sport, 0);
    assert_int_equal(p.dport, 0);
    /* Snap length cut the TCP header: counted, ports 0, bytes from the IP header. */
    f.n = 0;
    ipv4(&f, 6, 1000, 0, 0);
    tcp(&f, 40000, 443, 0x12);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, 22, 1020, &p), 0);
    assert_int_equal(p.sport, 0);
    assert_int_equal(p.len, 1020);
}

static void
test_ipv6_ext_headers(void **state)
{
    (void) state;
    struct probe_pkt p;
    struct frame f = {.n = 0};

    /* Hop-by-hop (8) -> destination options (16) -> TCP. */
    eth(&f, NULL, 0, 0x86dd);
    ipv6(&f, 0, 8 + 16 + 20);
    put(&f, (uint8_t[8]){60, 0, 5, 2, 0, 0, 1, 0}, 8);
    put(&f, (uint8_t[16]){6, 1}, 16);
    tcp(&f, 5000, 80, 0x02);
    assert_int_equal(probe_parse(PROBE_DLT_EN10MB, f.b, f.n, f.n, &p), 0);
    assert_true(p.v6);
    assert_int_equal(p.proto, 6);
    assert_int_equal(p.sport, 5000);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.tcp_flags, 0x02);
    assert_int_equal(p.tos, 0xab);
    assert_int_equal(p.len, 40 + 44);
    assert_int_equal(p.src[0], 0x20);
    assert_int_equal(p.dst[15], 2);
    /* Routing header then a first fragment then UDP. */
    f.n = 0;
    ipv6(&f, 43, 8 + 8 + 8);
    put(&f, (uint8_t[8]){44, 0}, 8);
    put(&f, (uint8_t[8]){17, 0, 0, 1, 0, 0, 0, 9}, 8); /* offset 0, M=1 */
    udp(&f, 7, 9);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_int_equal(p.proto, 17);
    assert_true(p.frag);
    assert_int_equal(p.dport, 9);
    /* A later fragment: ports 0. */
    f.n = 0;
    ipv6(&f, 44, 8 + 8);
    put(&f, (uint8_t[8]){17, 0, 0, 0x10, 0, 0, 0, 9}, 8); /* offset 2 (x8) */
    udp(&f, 7, 9);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), 0);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.dport, 0);
    /* ICMPv6 router advertisement (134, 0). */
    f.n = 0;
    ipv6(&f, 58, 8);
    put(&f, (uint8_t[8]){134, 0}, 8);
    assert_int_equal(probe_parse(PROBE_DLT_IPV6, f.b, f.n, f.n, &p), 0);
    assert_int_equal(p.proto, 58);
    assert_int_equal(p.dport, 134 << 8);
    /* Payload length 0 (offloaded super-packet): the frame's length counts. */
    f.n = 0;
    ipv6(&f, 6, 0);
    tcp(&f, 1, 2, 0x10);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, 7000, &p), 0);
    assert_int_equal(p.len, 7000);
    assert_int_equal(p.dport, 2);
    /* An extension chain cut short by the capture: counted, protocol as far as known. */
    f.n = 0;
    ipv6(&f, 0, 200);
    put(&f, (uint8_t[4]){6, 0}, 4);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, 240, &p), 0);
    assert_int_equal(p.len, 240);
    assert_int_equal(p.sport, 0);
}

static void
test_malformed(void **state)
{
    (void) state;
    struct probe_pkt p;
    struct frame f = {.n = 0};

    eth(&f, NULL, 0, 0x0806); /* ARP */
    put(&f, (uint8_t[28]){0}, 28);
    assert_int_equal(probe_parse(PROBE_DLT_EN10MB, f.b, f.n, f.n, &p), PROBE_E_NOTIP);
    assert_int_equal(probe_parse(PROBE_DLT_EN10MB, f.b, 10, 10, &p), PROBE_E_TRUNC);
    /* A VLAN tag with nothing after it. */
    f.n = 0;
    eth(&f, (uint16_t[]){0x8100}, 1, 0x0800);
    assert_int_equal(probe_parse(PROBE_DLT_EN10MB, f.b, 16, 16, &p), PROBE_E_TRUNC);
    /* IPv4 header cut short, IHL below 5, total length below the header. */
    f.n = 0;
    ipv4(&f, 6, 20, 0, 0);
    tcp(&f, 1, 2, 0);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, 19, 40, &p), PROBE_E_TRUNC);
    f.b[0] = 0x44;
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), PROBE_E_BADHDR);
    f.b[0] = 0x45;
    f.b[2] = 0;
    f.b[3] = 10;
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, f.n, f.n, &p), PROBE_E_BADHDR);
    /* Ethertype IPv4 but a version 6 header; raw with version 5. */
    f.n = 0;
    eth(&f, NULL, 0, 0x0800);
    ipv6(&f, 17, 8);
    assert_int_equal(probe_parse(PROBE_DLT_EN10MB, f.b, f.n, f.n, &p), PROBE_E_BADHDR);
    f.b[14] = 0x50;
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b + 14, f.n - 14, f.n - 14, &p), PROBE_E_NOTIP);
    assert_int_equal(probe_parse(PROBE_DLT_RAW, f.b, 0, 0, &p), PROBE_E_TRUNC);
    assert_int_equal(probe_parse(PROBE_DLT_NULL, (const uint8_t *) "\x02\x00", 2, 2, &p),
                     PROBE_E_TRUNC);
    assert_int_equal(probe_parse(PROBE_DLT_NULL, (const uint8_t *) "\x07\x00\x00\x00", 4, 4, &p),
                     PROBE_E_NOTIP);
    assert_string_equal(probe_strerror(PROBE_E_TRUNC), "IP header cut short");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_vlan_qinq),
        cmocka_unit_test(test_sll_sll2_raw_null_loop),
        cmocka_unit_test(test_ipv4_options_fragments_icmp_other),
        cmocka_unit_test(test_ipv6_ext_headers),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
