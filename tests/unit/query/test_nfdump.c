/* SPDX-License-Identifier: MIT */
/*
 * nfdump's command line translated into our language (query/src/nfdump*.c): the exact
 * translation of each filter primitive and option, that every translation compiles, and that
 * what has no exact equivalent is refused with a message naming the token.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nfdump.h"
#include "qry.h"

struct good {
    const char *args;
    const char *query;
    int fmt;
};

static const struct good good[] = {
    {"", "*", -1},
    {"any", "((version:* or not version:*))", -1},
    {"proto tcp", "(protocol:tcp)", -1},
    {"proto 47", "(protocol:47)", -1},
    {"PROTO UDP and port 53", "((protocol:udp and (srcport:53 or dstport:53)))", -1},
    {"src ip 10.0.0.1", "(srcaddr:10.0.0.1)", -1},
    {"dst host 2001:db8::1", "(dstaddr:2001:db8::1)", -1},
    {"host 192.0.2.7", "((srcaddr:192.0.2.7 or dstaddr:192.0.2.7))", -1},
    {"net 172.16/12", "((srcaddr:172.16.0.0/12 or dstaddr:172.16.0.0/12))", -1},
    {"src net 10.1.0.0 255.255.0.0", "(srcaddr:10.1.0.0/16)", -1},
    {"dst net 2001:db8::/32", "(dstaddr:2001:db8::/32)", -1},
    {"dst port > 1023", "(dstport>1023)", -1},
    {"src port gt 1023 and dst port le 80", "((srcport>1023 and dstport<=80))", -1},
    {"dst port in [ 22 80, 443 ]", "(dstport in (22, 80, 443))", -1},
    {"src ip in [10.0.0.1 10.0.0.0/8]", "(srcaddr in (10.0.0.1, 10.0.0.0/8))", -1},
    {"bytes > 1k", "(bytes>1000)", -1},
    {"packets >= 2m", "(packets>=2000000)", -1},
    {"in packets < 5", "(packets<5)", -1},
    {"in if 3 or out if 4", "((inport:3 or outport:4))", -1},
    {"if 3", "((inport:3 or outport:3))", -1},
    {"tos 16", "(tos:16)", -1},
    {"router ip 127.0.0.1", "(exporter:127.0.0.1)", -1},
    {"not (proto udp or proto icmp)", "(not ((protocol:udp or protocol:icmp)))", -1},
    {"! proto tcp && port 80 || proto udp",
     "(((not protocol:tcp and (srcport:80 or dstport:80)) or protocol:udp))", -1},
    {"ipv4", "((srcaddr:0.0.0.0/0 and dstaddr:0.0.0.0/0))", -1},
    {"proto tcp # a comment\n and port 22", "((protocol:tcp and (srcport:22 or dstport:22)))", -1},
    {"-s srcip/bytes -n 5 proto tcp", "(protocol:tcp) | top 5 srcaddr by bytes", -1},
    {"-s dstport", "* | top 10 dstport by flows", -1},
    {"-s record/packets -n 3", "* | top 3 srcaddr, dstaddr, srcport, dstport, protocol by packets",
     -1},
    {"-n 0 -s proto/bytes",
     "* | stats count as flows, sum(packets) as packets, sum(bytes) as bytes by protocol | sort "
     "bytes desc",
     -1},
    {"-A srcip,dstport -O bytes -n 2",
     "* | stats min(start) as first, max(end) as last, count as flows, sum(packets) as packets, "
     "sum(bytes) as bytes by srcaddr, dstport | sort bytes desc | limit 2",
     -1},
    {"-a",
     "* | stats min(start) as first, max(end) as last, count as flows, sum(packets) as "
     "packets, sum(bytes) as bytes by srcaddr, dstaddr, srcport, dstport, protocol",
     -1},
    {"-O tstart -c 4", NULL, 0}, /* -c with -O: refused (below) */
    {"-c 4 -o csv", "* | limit 4", QRY_FMT_CSV},
    {"-q -N -o json dst port 443", "(dstport:443)", QRY_FMT_JSON},
    {"-o line -O packets -n 3 proto udp",
     "(protocol:udp) | sort packets desc | limit 3 | fields start, end, protocol, srcaddr, "
     "srcport, dstaddr, dstport, packets, bytes",
     QRY_FMT_TEXT},
    {"-I",
     "* | stats count as flows, sum(packets) as packets, sum(bytes) as bytes, min(start) "
     "as first, max(end) as last",
     -1},
    {"-t 2026/11/21.10:00:00-2026/11/21.11:00:00 proto tcp",
     "since 1795255200 until 1795258801 start>=1795255200 end<=1795258800 (protocol:tcp)", -1},
    {"-t 2026/11/21", "since 1795219200 start>=1795219200", -1},
    {"\"src ip 10.0.0.1\" and 'dst port 22'", "((srcaddr:10.0.0.1 and dstport:22))", -1},
};

static void
translations(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char q[QRY_LINE_MAX + 1], msg[512] = "";
        int fmt = 99;
        if (good[i].query == NULL) {
            continue;
        }
        int rc = qry__nfd_translate(good[i].args, q, sizeof(q), &fmt, msg, sizeof(msg));
        if (rc != 0 || strcmp(q, good[i].query) != 0 || fmt != good[i].fmt) {
            fail_msg("'%s': rc %d (%s), got '%s' fmt %d, want '%s' fmt %d", good[i].args, rc, msg,
                     q, fmt, good[i].query, good[i].fmt);
        }
        struct qry *c = NULL;
        struct qry_error e;
        rc = qry_compile(&c, q, strlen(q), 1763798400000ull, &e);
        if (rc != 0) {
            fail_msg("'%s' -> '%s' does not compile: col %d %s", good[i].args, q, e.col, e.msg);
        }
        qry_free(c);
    }
}

/* flags: all the bits; under 'not', any of them (nfdump's CMP_FLAGS); it compiles. */
static void
flags(void **state)
{
    (void) state;
    char q[QRY_LINE_MAX + 1], msg[512];
    int fmt;
    assert_int_equal(qry__nfd_translate("flags SA", q, sizeof(q), &fmt, msg, sizeof(msg)), 0);
    assert_non_null(strstr(q, "((tcp-flags:18 or tcp-flags:19 or "));
    assert_non_null(strstr(q, " or tcp-flags:255))"));
    assert_null(strstr(q, "tcp-flags:16 "));
    assert_null(strstr(q, "tcp-flags:2 "));
    assert_null(strstr(q, "protocol"));
    struct qry *c = NULL;
    struct qry_error e;
    assert_int_equal(qry_compile(&c, q, strlen(q), 0, &e), 0);
    qry_free(c);
    assert_int_equal(qry__nfd_translate("not not flags F or not (flags SA)", q, sizeof(q), &fmt,
                                        msg, sizeof(msg)),
                     0);
    assert_non_null(strstr(q, "(not not (tcp-flags:1 or tcp-flags:3 or "));
    assert_non_null(strstr(q, " or not ((tcp-flags:2 or tcp-flags:3 or "));
    assert_null(strstr(q, "tcp-flags:0 "));
}

struct bad {
    const char *args;
    const char *msg;
};

static const struct bad bad[] = {
    {"src as 123", "nfdump filter col 5 'as': AS numbers are not in flowlog records"},
    {"proto tcp and pps > 10", "nfdump filter col 15 'pps': rates (pps, bps, bpp)"},
    {"mac 00:11:22:33:44:55", "nfdump filter col 1 'mac': MAC addresses"},
    {"vlan 5", "nfdump filter col 1 'vlan':"},
    {"duration > 100", "nfdump filter col 1 'duration':"},
    {"frobnicate 3", "nfdump filter col 1 'frobnicate': not supported"},
    {"proto tcp or", "nfdump filter: expected a filter primitive at the end of the filter"},
    {"(proto tcp", "nfdump filter: expected ')' at the end"},
    {"proto tcp)", "nfdump filter col 10 ')': ')' without '('"},
    {"proto tcp port 80", "nfdump filter col 11 'port': expected 'and', 'or' or the end"},
    {"src ip 10.0.0.300", "nfdump filter col 8 '10.0.0.300': expected an IPv4 or IPv6 address"},
    {"net 10.0.0.0/33", "nfdump filter: prefix length /33 too long for 10.0.0.0"},
    {"net 10.0.0.0 255.0.255.0", "nfdump filter col 14 '255.0.255.0': not a contiguous netmask"},
    {"port 80x", "nfdump filter col 6 '80x': expected a number"},
    {"port != 80", "nfdump filter col 6 '!=': expected a comparator"},
    {"proto foo", "nfdump filter col 7 'foo': unknown protocol name"},
    {"proto 300", "nfdump filter: protocol 300 is not 0-255"},
    {"flags SQ", "nfdump filter col 7 'SQ': unknown TCP flag"},
    {"port in [ ]", "nfdump filter col 11 ']': an empty list"},
    {"-r /var/cache/nfdump/nfcapd.202611211000", "nfdump option '-r' is not supported: flowlog "
                                                 "reads its own store"},
    {"-s ip/bytes", "nfdump option -s: 'ip' (either side) is not supported"},
    {"-s srcas", "nfdump option -s: 'srcas' is not a statistic flowlog has"},
    {"-s srcip:p", "nfdump option -s: 'srcip:p' (':p' per-protocol split)"},
    {"-s srcip/bps", "nfdump option -s: 'bps' is not an order of statistics"},
    {"-s srcip -s dstip", "nfdump option -s: only one statistic per request"},
    {"-A srcip4/24", "nfdump option -A: 'srcip4/24' (a masked address) is not supported"},
    {"-O pps", "nfdump option -O: 'pps' is not an order flowlog has"},
    {"-o fmt:%sa", "nfdump option -o: 'fmt:%sa' is not supported"},
    {"-O tstart -c 4", "nfdump option -c limits the records read before -O"},
    {"-s srcip -A srcip", "nfdump options -s, -A/-a and -I: one of them per request"},
    {"-t 2026/13/01", "nfdump option -t '2026/13/01': expected YYYY/MM/dd.hh:mm:ss"},
    {"-n", "nfdump option -n: expected a number"},
    {"-t", "nfdump option -t: needs a value"},
    {"-sx", "nfdump option '-sx': write options one by one"},
    {"'proto tcp", "NFDUMP: unterminated ' quote"},
};

static void
refusals(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char q[4096], msg[512] = "";
        int fmt;
        int rc = qry__nfd_translate(bad[i].args, q, sizeof(q), &fmt, msg, sizeof(msg));
        if (rc != QRY_E_PARSE || strncmp(msg, bad[i].msg, strlen(bad[i].msg)) != 0) {
            fail_msg("'%s': rc %d, message '%s', want '%s...'", bad[i].args, rc, msg, bad[i].msg);
        }
    }
}

/* Bounds: nesting, list length, and an output buffer too small. */
static void
bounds(void **state)
{
    (void) state;
    char q[QRY_LINE_MAX + 1], msg[512], f[4096] = "";
    int fmt;
    for (int i = 0; i < QRY_NFD_DEPTH_MAX + 1; i++) {
        strcat(f, "(");
    }
    strcat(f, "proto tcp");
    assert_int_equal(qry__nfd_translate(f, q, sizeof(q), &fmt, msg, sizeof(msg)), QRY_E_PARSE);
    assert_non_null(strstr(msg, "nesting too deep"));
    strcpy(f, "port in [");
    for (int i = 0; i <= QRY_NFD_LIST_MAX; i++) {
        snprintf(f + strlen(f), sizeof(f) - strlen(f), " %d", i);
    }
    strcat(f, " ]");
    assert_int_equal(qry__nfd_translate(f, q, sizeof(q), &fmt, msg, sizeof(msg)), QRY_E_PARSE);
    assert_non_null(strstr(msg, "more than 64 values"));
    assert_int_equal(qry__nfd_translate("flags A", q, 100, &fmt, msg, sizeof(msg)), QRY_E_PARSE);
    assert_non_null(strstr(msg, "longer than"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(translations),
        cmocka_unit_test(flags),
        cmocka_unit_test(refusals),
        cmocka_unit_test(bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
