/* SPDX-License-Identifier: MIT */
/*
 * flowprobe's exporter: collector and CIDR parsing, direction from the local networks, and a
 * round trip over a loopback UDP socket: flows out of the cache, through the encoder and the
 * socket, back through the decoder, with direction, interfaces, identity and RTT intact,
 * for IPFIX, v9 and v5 (v5 refuses IPv6 and counts it).
 */
#define _DEFAULT_SOURCE /* sockets */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dec.h"
#include "probe.h"

static void
test_collector_parse(void **state)
{
    (void) state;
    char host[64];
    uint16_t port;
    bool tcp;

    assert_int_equal(probe_collector_parse("127.0.0.1:2055", host, sizeof(host), &port, &tcp), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 2055);
    assert_false(tcp);
    assert_int_equal(probe_collector_parse("[::1]:4739/tcp", host, sizeof(host), &port, &tcp), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 4739);
    assert_true(tcp);
    assert_int_equal(probe_collector_parse("localhost:9/udp", host, sizeof(host), &port, &tcp), 0);
    assert_string_equal(host, "localhost");
    static const char *bad[] = {"127.0.0.1", "127.0.0.1:",  ":2055",     "h:0",       "h:65536",
                                "h:12x",     "h:2055/sctp", "[::1]2055", "[::1:2055", "h:-1",
                                ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(probe_collector_parse(bad[i], host, sizeof(host), &port, &tcp),
                         PROBE_E_CONFIG);
    }
}

static void
test_nets_direction(void **state)
{
    (void) state;
    struct probe_net n[2];
    uint8_t in4[16], out4[16], in6[16], out6[16];

    assert_int_equal(probe_net_parse("192.168.0.0/16", &n[0]), 0);
    assert_int_equal(n[0].bits, 112);
    assert_int_equal(probe_net_parse("2001:db8::/33", &n[1]), 0);
    assert_int_equal(n[1].bits, 33);
    flow_addr_set_v4(in4, (uint8_t[4]){192, 168, 7, 1});
    flow_addr_set_v4(out4, (uint8_t[4]){192, 169, 0, 1});
    inet_pton(AF_INET6, "2001:db8:7fff::1", in6);
    inet_pton(AF_INET6, "2001:db8:8000::1", out6); /* outside the /33 */
    assert_int_equal(probe_direction(n, 2, in4, out4), FLOW_DIR_OUT);
    assert_int_equal(probe_direction(n, 2, out4, in4), FLOW_DIR_IN);
    assert_int_equal(probe_direction(n, 2, in4, in4), FLOW_DIR_UNKNOWN);
    assert_int_equal(probe_direction(n, 2, out4, out4), FLOW_DIR_UNKNOWN);
    assert_int_equal(probe_direction(n, 2, in6, out6), FLOW_DIR_OUT);
    assert_int_equal(probe_direction(n, 2, out6, in6), FLOW_DIR_IN);
    assert_int_equal(probe_direction(n, 0, out6, in6), FLOW_DIR_UNKNOWN);
    assert_int_equal(probe_net_parse("10.0.0.1", &n[0]), 0);
    assert_int_equal(n[0].bits, 128);
    static const char *bad[] = {"10.0.0.0/33", "10.0.0.0/", "/8",
                                "nonsense/8",  "::/129",    "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(probe_net_parse(bad[i], &n[0]), PROBE_E_CONFIG);
    }
}

/* A UDP socket on 127.0.0.1 with an ephemeral port. */
static int
sink_open(char *spec, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
    snprintf(spec, len, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

struct decoded {
    struct flow_rec r[16];
    size_t n;
};

static int
keep(void *arg, struct flow_rec *recs, size_t n)
{
    struct decoded *d = arg;
    for (size_t i = 0; i < n && d->n < 16; i++) {
        d->r[d->n++] = recs[i];
    }
    return 0;
}

/* Decode every datagram waiting on fd. */
static void
drain(int fd, struct decoded *out)
{
    struct dec_ctx *d = NULL;
    struct dec_src src = {.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}};
    uint8_t buf[65536];
    struct flow_rec tmp[4];
    ssize_t n;

    assert_int_equal(dec_ctx_create(&d, NULL), 0);
    while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        struct dec_sink sink = {tmp, 4, 0, keep, out};
        assert_int_equal(dec_decode(d, &src, buf, (size_t) n, 1700000100000ull, &sink, NULL), 0);
        keep(out, tmp, sink.n);
    }
    dec_ctx_destroy(d);
}

static struct probe_pkt
pkt4(uint8_t a, uint16_t sport, uint8_t b, uint16_t dport, uint8_t flags)
{
    struct probe_pkt p;
    memset(&p, 0, sizeof(p));
    flow_addr_set_v4(p.src, (uint8_t[4]){192, 168, 1, a});
    flow_addr_set_v4(p.dst, (uint8_t[4]){203, 0, 113, b});
    p.sport = sport;
    p.dport = dport;
    p.proto = 6;
    p.tcp_flags = flags;
    p.len = 60;
    return p;
}

static void
swap(struct probe_pkt *p)
{
    uint8_t a[16];
    uint16_t port = p->sport;
    memcpy(a, p->src, 16);
    memcpy(p->src, p->dst, 16);
    memcpy(p->dst, a, 16);
    p->sport = p->dport;
    p->dport = port;
}

/* One TCP handshake (client 192.168.1.5 local, server outside) plus one IPv6 UDP packet. */
static void
run(uint8_t version, struct decoded *got, const struct probe_export_stats **st_out,
    struct probe_export **xp)
{
    char spec[64];
    int fd = sink_open(spec, sizeof(spec));
    struct probe_export_cfg c = {
        .version = version,
        .instance_id = "sag-1234",
        .snid = "SN-77",
        .account_id = "4242",
        .ifindex = 7,
        .boot_ms = 1700000000000ull,
        .ncollectors = 1,
    };
    struct probe_export *x = NULL;
    struct probe_flowtab *t = NULL;
    struct probe_flowtab_cfg tc = {
        .max_flows = 8, .idle_ms = 1000, .active_ms = 5000, .fin_ms = 100};
    char err[128];

    c.collectors[0] = spec;
    assert_int_equal(probe_net_parse("192.168.0.0/16", &c.nets[0]), 0);
    c.nnets = 1;
    assert_int_equal(probe_export_create(&x, &c, err, sizeof(err)), 0);
    assert_int_equal(probe_flowtab_create(&t, &tc, probe_export_flow, x), 0);
    uint64_t t0 = 1700000050000000ull;
    struct probe_pkt p = pkt4(5, 40000, 9, 443, 0x02);
    probe_export_now(x, t0 / 1000);
    probe_flowtab_add(t, &p, t0);
    swap(&p);
    p.tcp_flags = 0x12;
    probe_flowtab_add(t, &p, t0 + 20000);
    swap(&p);
    p.tcp_flags = 0x10;
    probe_flowtab_add(t, &p, t0 + 41000);
    struct probe_pkt v6 = {.proto = 17, .sport = 1, .dport = 2, .len = 48, .v6 = true};
    v6.src[0] = 0x20;
    v6.dst[0] = 0x30;
    probe_flowtab_add(t, &v6, t0 + 50000);
    probe_flowtab_flush(t);
    probe_export_finish(x, t0 / 1000 + 100, 3);
    drain(fd, got);
    close(fd);
    probe_flowtab_destroy(t);
    *st_out = probe_export_stats(x);
    *xp = x;
}

static const struct flow_rec *
find(const struct decoded *d, uint8_t last_src_byte)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->r[i].srcaddr[15] == last_src_byte && d->r[i].protocol == 6) {
            return &d->r[i];
        }
    }
    fail_msg("no record from .%u", last_src_byte);
    return NULL;
}

static void
test_roundtrip_ipfix(void **state)
{
    (void) state;
    struct decoded d = {.n = 0};
    const struct probe_export_stats *st;
    struct probe_export *x;

    run(10, &d, &st, &x);
    assert_int_equal(d.n, 3); /* two TCP sides + IPv6 UDP */
    const struct flow_rec *out = find(&d, 5);
    assert_int_equal(out->direction, FLOW_DIR_OUT);
    assert_int_equal(out->outport, 7);
    assert_int_equal(out->inport, 0);
    assert_int_equal(out->packets, 2);
    assert_int_equal(out->bytes, 120);
    assert_int_equal(out->rtt_us, 41000);
    assert_true(out->present & FLOW_HAS_RTT);
    assert_string_equal(out->instance_id, "sag-1234");
    assert_string_equal(out->snid, "SN-77");
    assert_string_equal(out->account_id, "4242");
    assert_int_equal(out->start_ms, 1700000050000ull);
    assert_int_equal(out->end_ms, 1700000050041ull);
    assert_int_equal(out->tcp_flags, 0x12);
    const struct flow_rec *in = find(&d, 9);
    assert_int_equal(in->direction, FLOW_DIR_IN);
    assert_int_equal(in->inport, 7);
    assert_int_equal(in->srcport, 443);
    assert_int_equal(st->records, 3);
    assert_int_equal(st->send_errors, 0);
    assert_int_equal(st->not_exportable, 0);
    probe_export_destroy(x);
}

static void
test_roundtrip_v9_v5(void **state)
{
    (void) state;
    struct decoded d = {.n = 0};
    const struct probe_export_stats *st;
    struct probe_export *x;

    run(9, &d, &st, &x);
    assert_int_equal(d.n, 3);
    const struct flow_rec *out = find(&d, 5);
    assert_int_equal(out->direction, FLOW_DIR_OUT);
    assert_int_equal(out->packets, 2);
    assert_int_equal(out->start_ms, 1700000050000ull);
    probe_export_destroy(x);

    memset(&d, 0, sizeof(d));
    run(5, &d, &st, &x);
    assert_int_equal(d.n, 2); /* the IPv6 flow cannot travel in v5 */
    assert_int_equal(st->not_exportable, 1);
    out = find(&d, 5);
    assert_int_equal(out->packets, 2);
    assert_int_equal(out->outport, 7);
    probe_export_destroy(x);
}

/* Many flows over UDP: every message fits a 1500-byte path (loopback's MTU is 64 KB, but
   flowprobe caps at Ethernet's), and full ones come close to it. */
static void
test_message_size(void **state)
{
    (void) state;
    char spec[64];
    int fd = sink_open(spec, sizeof(spec));
    struct probe_export_cfg c = {.version = 10, .ncollectors = 1, .boot_ms = 1700000000000ull};
    struct probe_export *x = NULL;
    struct probe_flowtab *t = NULL;
    struct probe_flowtab_cfg tc = {.max_flows = 512, .idle_ms = 1000, .active_ms = 5000};
    char err[128];

    c.collectors[0] = spec;
    assert_int_equal(probe_export_create(&x, &c, err, sizeof(err)), 0);
    assert_int_equal(probe_flowtab_create(&t, &tc, probe_export_flow, x), 0);
    probe_export_now(x, 1700000050000ull);
    for (uint16_t i = 0; i < 300; i++) {
        struct probe_pkt p = pkt4((uint8_t) i, (uint16_t) (1000 + i), 9, 80, 0x10);
        probe_flowtab_add(t, &p, 1700000050000000ull + i);
    }
    probe_flowtab_flush(t);
    probe_export_finish(x, 1700000050100ull, 0);
    uint8_t buf[65536];
    ssize_t n, max = 0;
    size_t count = 0;
    while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        max = n > max ? n : max;
        count++;
    }
    assert_true(count >= 8);
    assert_true(max <= 1472);
    assert_true(max >= 1400);
    close(fd);
    probe_flowtab_destroy(t);
    probe_export_destroy(x);
}

/* IPFIX over TCP: the collector hangs up; the next sends fail (counted), and a tick two
   seconds later reconnects with a new session that starts with its templates again. */
static void
test_tcp_reconnect(void **state)
{
    (void) state;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    char spec[64], err[128];

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 4), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *) &sa, &sl), 0);
    snprintf(spec, sizeof(spec), "127.0.0.1:%u/tcp", ntohs(sa.sin_port));
    struct probe_export_cfg c = {.version = 10, .ncollectors = 1, .boot_ms = 1700000000000ull};
    struct probe_export *x = NULL;
    c.collectors[0] = spec;
    assert_int_equal(probe_export_create(&x, &c, err, sizeof(err)), 0);
    int a1 = accept(ls, NULL, NULL);
    assert_true(a1 >= 0);
    probe_export_tick(x, 1700000050000ull, 0); /* options records: the session starts */
    uint8_t buf[4096];
    ssize_t n = recv(a1, buf, sizeof(buf), 0);
    assert_true(n >= 20);
    assert_int_equal(buf[0] << 8 | buf[1], 10); /* IPFIX */
    close(a1);
    /* Send until the hang-up shows: the first write after a close may still succeed. */
    for (int i = 0; i < 20 && probe_export_stats(x)->send_errors == 0; i++) {
        probe_export_finish(x, 1700000050000ull + (uint64_t) i, 0);
        usleep(10000);
    }
    assert_true(probe_export_stats(x)->send_errors > 0);
    sleep(2); /* flowprobe retries at most every 2 s */
    probe_export_tick(x, 1700000060000ull, 0);
    int a2 = accept(ls, NULL, NULL);
    assert_true(a2 >= 0);
    assert_int_equal(probe_export_stats(x)->reconnects, 1);
    n = recv(a2, buf, sizeof(buf), 0);
    assert_true(n >= 20);
    /* Message header: sequence 0 again (a new session), then set id 3 (options template). */
    assert_int_equal(buf[8] | buf[9] | buf[10] | buf[11], 0);
    assert_int_equal(buf[16] << 8 | buf[17], 3);
    close(a2);
    close(ls);
    probe_export_destroy(x);
}

static void
test_bad_collectors(void **state)
{
    (void) state;
    struct probe_export *x = NULL;
    struct probe_export_cfg c = {.version = 9, .ncollectors = 1};
    char err[128] = "";

    c.collectors[0] = "127.0.0.1:4739/tcp"; /* TCP is IPFIX only */
    assert_int_equal(probe_export_create(&x, &c, err, sizeof(err)), PROBE_E_CONFIG);
    assert_non_null(strstr(err, "IPFIX only"));
    c.collectors[0] = "127.0.0.1";
    assert_int_equal(probe_export_create(&x, &c, err, sizeof(err)), PROBE_E_CONFIG);
    c.ncollectors = 0;
    assert_int_equal(probe_export_create(&x, &c, err, sizeof(err)), PROBE_E_CONFIG);
    assert_null(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector_parse), cmocka_unit_test(test_nets_direction),
        cmocka_unit_test(test_roundtrip_ipfix), cmocka_unit_test(test_roundtrip_v9_v5),
        cmocka_unit_test(test_message_size),    cmocka_unit_test(test_tcp_reconnect),
        cmocka_unit_test(test_bad_collectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
