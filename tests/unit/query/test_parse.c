/* SPDX-License-Identifier: MIT */
/*
 * The parser: valid queries give the expected AST and plan (pushdown), and every error
 * message comes with the right column. Also the value syntaxes (numbers with suffixes, CIDRs,
 * times, durations), the glob matcher and the output escaping.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qry_int.h"

#define NOW 1763798400000ull

struct bad {
    const char *q;
    int col;
    const char *msg; /* the message starts with this */
};

static const struct bad bad[] = {
    {"dstport:", 9, "expected a value after ':'"},
    {"action:REJECT and dstport: 22", 27, "expected a value after ':'"},
    {"foo:1", 1, "unknown field 'foo'; known fields: flowlog, version, exporter"},
    {"srcaddr:10.0.0.1 and color=red", 22, "unknown field 'color'; known fields:"},
    {"bytes>", 7, "expected a value after '>'"},
    {"bytes > lots", 9, "expected a number (10, 10k, 10M, 1G) for 'bytes', got 'lots'"},
    {"protocol:tcpx", 10,
     "expected a number or protocol name (tcp, udp, icmp, ...) for 'protocol', got 'tcpx'"},
    {"srcaddr > 5", 9, "'srcaddr' is not a number or a time"},
    {"srcaddr:10.0.0.300", 9, "expected an address or CIDR for 'srcaddr', got '10.0.0.300'"},
    {"srcaddr:10.0.0.0/33", 9, "expected an address or CIDR for 'srcaddr'"},
    {"action:DROP", 8, "expected ACCEPT or REJECT for 'action', got 'DROP'"},
    {"log-status:bad", 12, "expected OK, NODATA or SKIPDATA for 'log-status'"},
    {"start > yesterday", 9, "expected a time for 'start' (RFC 3339 or Unix seconds)"},
    {"dstport in 22", 12, "expected '(' after 'in', got '22'"},
    {"dstport in (22,", 16, "expected a value in the 'in' list, got end of query"},
    {"dstport in (22 80)", 16, "expected ',' or ')' in the 'in' list, got '80'"},
    {"dstport in (22, x)", 17, "expected a number (10, 10k, 10M, 1G) for 'dstport', got 'x'"},
    {"srcaddr ~ 10", 11, "expected /regex/ after '~', got '10'"},
    {"srcaddr ~ /(/", 1, "bad regex at offset 1: missing closing parenthesis"},
    {"(action:REJECT", 15, "expected ')' to close the '(' at col 1, got end of query"},
    {"action:REJECT)", 14, "unexpected ')' (no '(' to close)"},
    {"bytes ! 5", 7, "'!' must be followed by '='"},
    {"\"abc", 1, "unterminated string (missing '\"')"},
    {"/abc", 1, "unterminated regex (missing '/')"},
    {"dstport\x01:22", 8, "unexpected control byte in the query"},
    {"action:REJECT or", 17, "expected a search term, got end of query"},
    {"last", 5, "expected a duration after 'last' (15m, 1h, 7d), got end of query"},
    {"last 5x", 6, "expected a duration after 'last'"},
    {"since", 6, "expected a time after 'since', got end of query"},
    {"since tomorrow", 7, "bad time 'tomorrow': use RFC 3339"},
    {"since 2026-11-21T10:00Z until 2026-11-21T09:00Z", 25, "'until' must come after 'since'"},
    {"* |", 4, "expected a stage after '|', got end of query"},
    {"* | frobnicate", 5, "unknown stage 'frobnicate'; stages: fields, sort, limit, stats"},
    {"* | limit", 10, "expected a number after 'limit', got end of query"},
    {"* | limit ten", 11, "expected a number after 'limit', got 'ten'"},
    {"* | fields srcaddr, colour", 21, "unknown field 'colour'"},
    {"* | fields", 11, "expected a field name, got end of query"},
    {"* | sort bytes, packets", 17, "sort takes one field"},
    {"* | sort bytes | sort packets", 18, "only one sort before stats, top or timechart"},
    {"* | stats count | top 5 srcaddr", 19, "only one stats, top or timechart per query"},
    {"* | stats median(bytes)", 11, "unknown aggregate 'median'; use count() sum(f)"},
    {"* | stats count(bytes)", 11, "count() takes no field"},
    {"* | stats sum()", 11, "sum() needs a field, as in sum(bytes)"},
    {"* | stats sum(srcaddr)", 11, "sum() needs a number or time field; 'srcaddr' is not one"},
    {"* | stats sum(colour)", 15, "unknown field 'colour'"},
    {"* | stats sum(bytes", 20, "expected ')', got end of query"},
    {"* | stats count as", 19, "expected a name after 'as', got end of query"},
    {"* | stats count, count", 18, "column 'count' named twice"},
    {"* | stats count by srcaddr | sort bytes", 35,
     "unknown column 'bytes'; columns here: "
     "count, srcaddr"},
    {"* | top 0 srcaddr", 9, "top needs N >= 1"},
    {"* | top 5 srcaddr by octets", 22, "expected bytes, packets or flows after 'by'"},
    {"* | timechart sum(bytes)", 15, "expected a span after 'timechart' (1m, 5m, 1h)"},
    {"* | limit 5 now", 13, "unexpected 'now'; stages follow '|'"},
};

static void
test_errors(void **state)
{
    (void) state;
    int wrong = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct qry *q = NULL;
        struct qry_error e;
        int rc = qry_compile(&q, bad[i].q, strlen(bad[i].q), NOW, &e);
        if (rc != QRY_E_PARSE || e.col != bad[i].col ||
            strncmp(e.msg, bad[i].msg, strlen(bad[i].msg)) != 0) {
            print_error("'%s': got rc %d col %d '%s'; want col %d '%s'\n", bad[i].q, rc, e.col,
                        e.msg, bad[i].col, bad[i].msg);
            wrong++;
        }
        assert_null(q);
    }
    assert_int_equal(wrong, 0);
}

/* The errors for lists that are too long, on generated queries. */
static void
expect_error(const char *q, int col, const char *msg)
{
    struct qry *out = NULL;
    struct qry_error e;
    int rc = qry_compile(&out, q, strlen(q), NOW, &e);
    if (rc != QRY_E_PARSE || e.col != col || strncmp(e.msg, msg, strlen(msg)) != 0) {
        fail_msg("'%.60s...': got rc %d col %d '%s'; want col %d '%s'", q, rc, e.col, e.msg, col,
                 msg);
    }
}

static void
test_long_lists(void **state)
{
    static char q[8192];
    size_t n;
    (void) state;
    /* 65 values in an 'in' list: the 65th is refused where it starts */
    n = (size_t) snprintf(q, sizeof(q), "dstport in (");
    int col65 = 0;
    for (int i = 1; i <= 65; i++) {
        if (i == 65) {
            col65 = (int) n + 1;
        }
        n += (size_t) snprintf(q + n, sizeof(q) - n, "%d%s", i, i < 65 ? ", " : ")");
    }
    expect_error(q, col65, "at most 64 values in an 'in' list");
    /* 33 fields */
    n = (size_t) snprintf(q, sizeof(q), "* | fields ");
    int col33 = 0;
    for (int i = 1; i <= 33; i++) {
        n += (size_t) snprintf(q + n, sizeof(q) - n, "%sbytes", i > 1 ? ", " : "");
        if (i == 32) {
            col33 = (int) n + 3; /* after ", " */
        }
    }
    expect_error(q, col33, "at most 32 fields");
    /* 17 aggregates */
    n = (size_t) snprintf(q, sizeof(q), "* | stats ");
    for (int i = 1; i <= 17; i++) {
        n += (size_t) snprintf(q + n, sizeof(q) - n, "%ssum(bytes) as s%d", i > 1 ? ", " : "", i);
    }
    expect_error(q, (int) (strstr(q, "sum(bytes) as s17") - q) + 1, "at most 16 aggregates");
    /* 33 stages */
    n = (size_t) snprintf(q, sizeof(q), "*");
    for (int i = 1; i <= 33; i++) {
        n += (size_t) snprintf(q + n, sizeof(q) - n, " | limit %d", i);
    }
    expect_error(q, (int) (strstr(q, "limit 33") - q) + 1, "at most 32 stages");
    /* an aggregate named like a by-field */
    expect_error("* | stats count as srcaddr by srcaddr", 31, "column 'srcaddr' named twice");
}

static struct qry *
ok(const char *text)
{
    struct qry *q = NULL;
    struct qry_error e;
    int rc = qry_compile(&q, text, strlen(text), NOW, &e);
    if (rc != 0) {
        fail_msg("'%s': col %d: %s", text, e.col, e.msg);
    }
    return q;
}

static void
test_valid(void **state)
{
    (void) state;
    static const char *const good[] = {
        "*",
        "",
        "last 1h action:REJECT and dstport in (22, 3389) | top 10 srcaddr by flows",
        "srcaddr:10.0.0.0/8 and bytes>10M | sort bytes desc | limit 20",
        "* | timechart 1m sum(bytes) by protocol",
        "since 2026-11-21T10:00Z until 2026-11-21T11:30:00.5+01:00 REJECT",
        "sag-12* or instance_id:\"sag 1\" or /10\\.0\\.0\\.[0-9]+/",
        "not (protocol:udp or protocol:icmp) dst_port>=1024 tcp-flags!=2",
        "srcaddr:2001:db8::/32 or 2001:db8::1 or dstaddr:10.1.*",
        "* | stats count, sum(bytes) as total, avg(packets), dc(srcaddr) by dstport | sort total "
        "desc | limit 5 | fields dstport, total",
        "* | fields srcaddr, bytes | head 3",
        "start >= 1763798400 and end < 2026-11-22",
        "srcaddr ~ /^10\\./ and dstport:*",
        "* | stats count by action | sort count()",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        qry_free(ok(good[i]));
    }
}

static void
test_plan(void **state)
{
    (void) state;
    struct qry *q = ok("last 1h action:REJECT and dstport in (22, 3389) and (srcaddr:10.0.0.0/8 "
                       "or 192.0.2.1) and bytes>10k and not protocol:udp | top 10 srcaddr");
    assert_true(q->has_range);
    assert_int_equal(q->from_ms, NOW - 3600000u);
    assert_int_equal(q->scan.nconj, 4);
    assert_int_equal(q->conj[0].n, 1); /* action */
    assert_int_equal(q->conj[0].any[0].field, STOR_F_ACTION);
    assert_int_equal(q->conj[0].any[0].lo, 1);
    assert_int_equal(q->conj[1].n, 2); /* dstport in */
    assert_int_equal(q->conj[1].any[1].lo, 3389);
    assert_int_equal(q->conj[2].n, 4); /* srcaddr or the address keyword's three fields */
    assert_int_equal(q->conj[2].any[0].cidr.plen, 104);
    assert_int_equal(q->conj[3].any[0].field, STOR_F_BYTES);
    assert_int_equal(q->conj[3].any[0].lo, 10001);
    assert_int_equal(q->conj[3].any[0].hi, UINT64_MAX);
    qry_free(q);

    /* EXPLAIN says whether regexes run JIT-compiled, as qry_regex_jit() says for the host. */
    q = ok("srcaddr ~ /^10\\./ or /REJECT/");
    assert_int_equal(q->nregex, 2);
    assert_int_equal(q->nregex_jit, qry_regex_jit() ? 2 : 0);
    qry_free(q);

    q = ok("instance-id:sag-1 or snid:x");
    assert_int_equal(q->scan.nconj, 0); /* snid has no summary: the OR cannot be pushed */
    qry_free(q);
}

static void
test_values(void **state)
{
    (void) state;
    uint64_t v;
    assert_int_equal(qry__parse_u64("10k", 3, true, &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(qry__parse_u64("1.5M", 4, true, &v), 0);
    assert_int_equal(v, 1500000);
    assert_int_equal(qry__parse_u64("2G", 2, true, &v), 0);
    assert_int_equal(v, 2000000000ull);
    assert_int_equal(qry__parse_u64("18446744073709551616", 20, true, &v), -1);
    assert_int_equal(qry__parse_u64("1.5", 3, true, &v), -1);
    assert_int_equal(qry__parse_time("2025-11-22T08:00:00Z", 20, &v), 0);
    assert_int_equal(v, 1763798400000ull);
    assert_int_equal(qry__parse_time("2025-11-22T09:00+01:00", 22, &v), 0);
    assert_int_equal(v, 1763798400000ull);
    assert_int_equal(qry__parse_time("2025-11-22", 10, &v), 0);
    assert_int_equal(v, 1763769600000ull);
    assert_int_equal(qry__parse_duration("15m", 3, &v), 0);
    assert_int_equal(v, 900000);
    char t[32];
    qry__time_text(1763798400123ull, t);
    assert_string_equal(t, "2025-11-22T08:00:00.123Z");
    /* IPv6 text as inet_ntop gives it (RFC 5952), over zero runs of every length */
    uint64_t seed = 99;
    for (int i = 0; i < 20000; i++) {
        uint8_t a[16];
        char mine[64], want[64];
        for (int k = 0; k < 8; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            unsigned x = (unsigned) (seed >> 40);
            a[2 * k] = x % 3 == 0 ? 0 : (uint8_t) (x >> 8);
            a[2 * k + 1] = x % 3 == 0 ? 0 : (uint8_t) x;
        }
        if (a[0] == 0 && a[1] == 0) {
            a[2] = 0x20; /* keep clear of the IPv4-compatible and -mapped forms */
        }
        qry__addr_text(a, mine);
        inet_ntop(AF_INET6, a, want, sizeof(want));
        assert_string_equal(mine, want);
    }
    assert_true(qry__glob("sag-*", "SAG-12", 6));
    assert_true(qry__glob("*a*b?", "xxaxxbz", 7));
    assert_false(qry__glob("*a*b?", "xxaxxb", 6));
}

static void
test_escaping(void **state)
{
    (void) state;
    struct qry__buf b = {0};
    qry__fmt_str(&b, QRY_FMT_TEXT, "a b\\c\n-", 7);
    qry__buf_put(&b, "|", 1);
    qry__fmt_str(&b, QRY_FMT_TEXT, "-", 1);
    qry__buf_put(&b, "|", 1);
    qry__fmt_str(&b, QRY_FMT_CSV, "x,\"y\" z", 7);
    qry__buf_put(&b, "|", 1);
    qry__fmt_str(&b, QRY_FMT_JSON, "q\"\\\n\x01\xff\xc3\xa9", 8);
    qry__buf_put(&b, "", 1);
    assert_string_equal(b.p, "a\\x20b\\\\c\\x0a-|\\x2d|\"x,\"\"y\"\" z\"|"
                             "\"q\\\"\\\\\\n\\u0001\\ufffd\xc3\xa9\"");
    qry__buf_free(&b);
}

/* CSV text cells that start like a spreadsheet formula get a leading ' (OWASP, CSV injection);
 * text and JSON are unchanged, and so is a '-' or '+' inside a cell. */
static void
test_csv_formula(void **state)
{
    (void) state;
    static const struct {
        const char *in, *csv;
    } cases[] = {
        {"=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""},
        {"+1+2", "'+1+2"},
        {"-2+3", "'-2+3"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"a=b", "a=b"},
        {"sag-1", "sag-1"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qry__buf b = {0};
        qry__fmt_str(&b, QRY_FMT_CSV, cases[i].in, strlen(cases[i].in));
        qry__buf_put(&b, "", 1);
        assert_string_equal(b.p, cases[i].csv);
        qry__buf_free(&b);
    }
    struct qry__buf b = {0};
    qry__fmt_str(&b, QRY_FMT_JSON, "=1", 2);
    qry__buf_put(&b, "|", 1);
    qry__fmt_str(&b, QRY_FMT_TEXT, "=1", 2);
    qry__buf_put(&b, "", 1);
    assert_string_equal(b.p, "\"=1\"|=1");
    qry__buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_valid),
        cmocka_unit_test(test_plan),        cmocka_unit_test(test_values),
        cmocka_unit_test(test_escaping),    cmocka_unit_test(test_long_lists),
        cmocka_unit_test(test_csv_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
