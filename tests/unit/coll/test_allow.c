/* SPDX-License-Identifier: MIT */
/*
 * The exporter allow-list (collector/config.c): IPv4 and IPv6 addresses and CIDRs, prefix
 * boundaries, host bits, the empty list, bad items, and the listener spec parser.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "coll.h"

static bool
allowed(const struct coll_allow *a, const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(9);
    } else {
        assert_int_equal(inet_pton(AF_INET6, addr, &a6->sin6_addr), 1);
        a6->sin6_family = AF_INET6;
    }
    return coll_allow_match(a, (struct sockaddr *) &ss);
}

static void
test_empty_allows_all(void **state)
{
    struct coll_allow a = {.n = 0};
    char msg[200];
    (void) state;
    assert_true(allowed(&a, "192.0.2.1"));
    assert_true(allowed(&a, "2001:db8::1"));
    assert_true(allowed(NULL, "127.0.0.1"));
    assert_int_equal(coll_allow_parse(&a, " , ,\t", msg, sizeof(msg)), 0);
    assert_int_equal(a.n, 0);
}

static void
test_v4(void **state)
{
    struct coll_allow a = {.n = 0};
    char msg[200];
    (void) state;
    assert_int_equal(
        coll_allow_parse(&a, "10.0.0.0/8, 192.0.2.7 198.51.100.128/25", msg, sizeof(msg)), 0);
    assert_int_equal(a.n, 3);
    assert_true(allowed(&a, "10.0.0.0"));
    assert_true(allowed(&a, "10.255.255.255"));
    assert_false(allowed(&a, "11.0.0.0"));
    assert_false(allowed(&a, "9.255.255.255"));
    assert_true(allowed(&a, "192.0.2.7"));
    assert_false(allowed(&a, "192.0.2.6"));
    assert_false(allowed(&a, "192.0.2.8"));
    assert_true(allowed(&a, "198.51.100.128"));
    assert_true(allowed(&a, "198.51.100.255"));
    assert_false(allowed(&a, "198.51.100.127"));
    /* An IPv4 entry matches the same address written IPv4-mapped, and nothing else in v6. */
    assert_true(allowed(&a, "::ffff:10.1.2.3"));
    assert_false(allowed(&a, "::a01:203"));
    assert_false(allowed(&a, "2001:db8::1"));
}

static void
test_v6_and_odd_prefixes(void **state)
{
    struct coll_allow a = {.n = 0};
    char msg[200];
    (void) state;
    assert_int_equal(coll_allow_parse(&a, "2001:db8::/32,::1,fe80::/10", msg, sizeof(msg)), 0);
    assert_true(allowed(&a, "2001:db8::1"));
    assert_true(allowed(&a, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(allowed(&a, "2001:db9::"));
    assert_true(allowed(&a, "::1"));
    assert_false(allowed(&a, "::2"));
    assert_true(allowed(&a, "febf::1"));
    assert_false(allowed(&a, "fec0::1"));
    assert_false(allowed(&a, "127.0.0.1"));
}

static void
test_host_bits_and_zero_prefix(void **state)
{
    struct coll_allow a = {.n = 0}, b = {.n = 0};
    char msg[200];
    (void) state;
    /* Host bits past the prefix are cleared: 10.1.2.3/8 means 10.0.0.0/8. */
    assert_int_equal(coll_allow_parse(&a, "10.1.2.3/8", msg, sizeof(msg)), 0);
    assert_int_equal(a.net[0].plen, 104);
    assert_int_equal(a.net[0].addr[13], 0);
    assert_true(allowed(&a, "10.200.0.1"));
    /* /0 in IPv4 means every IPv4 address, and no IPv6 one. */
    assert_int_equal(coll_allow_parse(&b, "0.0.0.0/0", msg, sizeof(msg)), 0);
    assert_true(allowed(&b, "203.0.113.9"));
    assert_false(allowed(&b, "2001:db8::1"));
}

static void
test_bad_items(void **state)
{
    static const char *bad[] = {"10.0.0.0/33", "10.0.0/8", "host.example", "/8",        "10.0.0.0/",
                                "10.0.0.0/x",  "::1/129",  "1.2.3.4/-1",   "1.2.3.4/ 8"};
    char msg[200];
    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct coll_allow a = {.n = 0};
        if (coll_allow_parse(&a, bad[i], msg, sizeof(msg)) != -EINVAL ||
            strstr(msg, "is not an address or CIDR") == NULL) {
            fail_msg("'%s' accepted or badly reported: %s", bad[i], msg);
        }
    }
}

static void
test_capacity(void **state)
{
    static struct coll_allow a;
    char msg[200];
    (void) state;
    a.n = 0;
    for (int i = 0; i < COLL_ALLOW_MAX; i++) {
        char item[32];
        snprintf(item, sizeof(item), "10.%d.%d.0/24", i / 256, i % 256);
        assert_int_equal(coll_allow_parse(&a, item, msg, sizeof(msg)), 0);
    }
    assert_int_equal(coll_allow_parse(&a, "192.0.2.1", msg, sizeof(msg)), -ENOSPC);
    assert_true(allowed(&a, "10.0.255.1"));
    assert_false(allowed(&a, "10.1.0.1"));
}

static void
test_listen_parse(void **state)
{
    struct sockaddr_storage ss;
    bool tcp;
    char msg[200];
    (void) state;
    assert_int_equal(coll_listen_parse("udp:0.0.0.0:2055", &ss, &tcp, msg, sizeof(msg)), 0);
    assert_false(tcp);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *) &ss)->sin_port), 2055);
    assert_int_equal(coll_listen_parse("tcp:[::1]:0", &ss, &tcp, msg, sizeof(msg)), 0);
    assert_true(tcp);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(coll_listen_parse("udp:[::]:4739", &ss, &tcp, msg, sizeof(msg)), 0);
    static const char *bad[] = {
        "udp:0.0.0.0",    "udp:0.0.0.0:", "udp:0.0.0.0:70000", "udp:[::1:4739",
        "sctp:1.2.3.4:1", "udp:name:1",   "udp:1.2.3.4:+1",    ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (coll_listen_parse(bad[i], &ss, &tcp, msg, sizeof(msg)) != -EINVAL) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_allows_all),
        cmocka_unit_test(test_v4),
        cmocka_unit_test(test_v6_and_odd_prefixes),
        cmocka_unit_test(test_host_bits_and_zero_prefix),
        cmocka_unit_test(test_bad_items),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_listen_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
