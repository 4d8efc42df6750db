/* SPDX-License-Identifier: MIT */
/*
 * The ClickHouse translator (sql.c, sql_stage.c, sql_re.c): the SQL text of each construct
 * of the query language, and the refusals (flow-log labels, a whole-line regex, regex
 * features RE2 lacks). The SQL itself runs against a real server in
 * tests/clickhouse/query_sql.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include <cmocka.h>

#include "sql_int.h"

#define NOW 1763798400000ull

/* The SQL of query text (a static buffer), or the error message prefixed "ERR ". */
static const char *
sql_of(const char *text)
{
    static char out[16384];
    struct qry *q = NULL;
    struct qry_error err = {0};
    struct qry__sql s;
    int rc = qry_compile(&q, text, strlen(text), NOW, &err);
    assert_int_equal(rc, 0);
    rc = qry__sql_build(q, "flowlog", &s, &err);
    if (rc == 0) {
        snprintf(out, sizeof(out), "%s", s.text.p);
    } else {
        assert_int_equal(rc, QRY_E_PARSE);
        snprintf(out, sizeof(out), "ERR col %d: %s", err.col, err.msg);
    }
    qry__sql_free(&s);
    qry_free(q);
    return out;
}

#define P(b) "bitAnd(present, " #b ") != 0"

/* Whole statements: the shape of each stage. */
struct exact {
    const char *q;
    const char *sql;
};
static const struct exact exact[] = {
    {"dstport:22 | fields dstport",
     "SELECT if(" P(8) ", dstport, NULL) AS c0 FROM flowlog.flows WHERE ((" P(
         8) ") AND ((dstport = 22)))"},
    {"since 1763798400 until 1763802000 | fields srcaddr, end",
     "SELECT if(" P(1) ", hex(srcaddr), NULL) AS c0, end_ms AS c1 FROM flowlog.flows WHERE "
                       "end_ms >= 1763798400000 AND end_ms < 1763802000000"},
    {"* | sort bytes desc | limit 20 | fields bytes",
     "SELECT if(" P(64) ", bytes, NULL) AS c0 FROM flowlog.flows WHERE 1 ORDER BY if(" P(
         64) ", bytes, NULL) DESC NULLS LAST LIMIT 20"},
    {"* | top 3 dstport by packets",
     "SELECT if(" P(8) ", dstport, NULL) AS c0, count() AS c1, sumIf(packets, " P(
         32) ") AS c2, sumIf(bytes, " P(64) ") AS c3 FROM flowlog.flows WHERE 1 GROUP BY c0 ORDER "
                                            "BY "
                                            "c2 DESC NULLS LAST, c0 ASC NULLS FIRST LIMIT 3"},
    {"* | stats count, sum(bytes) as total by protocol | sort total desc | limit 5",
     "SELECT if(" P(16) ", protocol, NULL) AS c0, count() AS c1, if(countIf(" P(
         64) ") = 0, NULL, sumIf(bytes, " P(64) ")) AS c2 FROM flowlog.flows WHERE 1 GROUP BY c0 "
                                                "ORDER BY c2 DESC NULLS LAST, c0 ASC NULLS FIRST "
                                                "LIMIT 5"},
    {"* | timechart 1m count by action",
     "SELECT intDiv(end_ms, 60000) * 60000 AS c0, action AS c1, count() AS c2 FROM "
     "flowlog.flows WHERE 1 GROUP BY c0, c1 ORDER BY c0 ASC NULLS FIRST, c1 ASC NULLS FIRST"},
    /* A sort after a limit, and an aggregation after a sorted limit, wrap what came before. */
    {"* | top 3 protocol | sort protocol",
     "SELECT * FROM (SELECT if(" P(16) ", protocol, NULL) AS c0, count() AS c1, sumIf(packets, " P(
         32) ") AS c2, sumIf(bytes, " P(64) ") AS c3 FROM flowlog.flows WHERE 1 GROUP BY c0 "
                                            "ORDER BY c3 DESC NULLS LAST, c0 ASC NULLS FIRST LIMIT "
                                            "3) ORDER BY c0 ASC NULLS FIRST"},
    {"* | sort bytes desc | limit 10 | stats dc(srcaddr)",
     "SELECT uniqExactIf(srcaddr, " P(1) ") AS c0 FROM (SELECT * FROM flowlog.flows WHERE 1 "
                                         "ORDER BY if(" P(
                                             64) ", bytes, NULL) DESC NULLS LAST LIMIT 10)"},
    {"* | limit 5 | limit 3 | stats count",
     "SELECT count() AS c0 FROM (SELECT * FROM flowlog.flows WHERE 1 LIMIT 3)"},
};

/* Parts of the WHERE clause: each query's SQL contains the text. */
static const struct exact parts[] = {
    {"srcaddr:10.0.0.0/8",
     "((" P(1) ") AND ((srcaddr BETWEEN toFixedString(unhex('00000000000000000000ffff0a000000'), "
               "16) AND toFixedString(unhex('00000000000000000000ffff0affffff'), 16))))"},
    {"dstaddr:2001:db8::/32", "dstaddr BETWEEN toFixedString(unhex("
                              "'20010db8000000000000000000000000'), 16) AND toFixedString(unhex("
                              "'20010db8ffffffffffffffffffffffff'), 16)"},
    {"dstport in (22, 80)", "((" P(8) ") AND ((dstport = 22) OR (dstport = 80)))"},
    {"dstport != 22", "((" P(8) ") AND NOT ((dstport = 22)))"},
    {"bytes > 10k", "((bytes BETWEEN 10001 AND 18446744073709551615))"},
    {"not protocol:udp", "NOT ((" P(16) ") AND ((protocol = 17)))"},
    {"action:REJECT or log-status:NODATA", "(((1) AND ((action = 1))) OR ((1) AND ((log_status "
                                           "= 1))))"},
    {"instance-id:sag-1", "((" P(16384) " AND instance_id != '') AND ((instance_id = 'sag-1')))"},
    {"instance-id:\"it's\"", "instance_id = 'it\\'s'"},
    {"instance-id:sag_1*", "lower(instance_id) LIKE 'sag\\\\_1%'"},
    {"srcaddr:10.1.*", "lower(replaceRegexpOne(IPv6NumToString(srcaddr), '^::ffff:', '')) LIKE "
                       "'10.1.%'"},
    {"dstport:4?3", "lower(toString(dstport)) LIKE '4_3'"},
    {"direction:*", "((" P(2048) " AND direction != 0) AND ((1)))"},
    {"start:1763798400", "start_ms BETWEEN 1763798400000 AND 1763798400999"},
    {"window:1763798400", "(toUInt64(window) * 1000) BETWEEN 1763798400000 AND 1763798400999"},
    /* Keywords: each field with a value that can equal the word. */
    {"REJECT", "((1) AND (action = 1))"},
    {"reject", "((flowlog != '') AND (lower(flowlog) = lower('reject')))"},
    {"tcp", "((" P(16) ") AND (protocol = 6))"},
    {"443", "((" P(8) ") AND (dstport = 443))"},
    {"1763798400", "((1) AND (intDiv(end_ms, 1000) = 1763798400))"},
    {"10.0.0.0/8", "(0 OR ((" P(1) ") AND srcaddr BETWEEN"},
    {"sag-12*", "((" P(16384) " AND instance_id != '') AND (lower(instance_id) LIKE 'sag-12%'))"},
    {"ud*", "lower(transform(toUInt64(protocol), [1, 2, 6, 17, 47, 50, 51, 58, 132], ['icmp', "
            "'igmp', 'tcp', 'udp', 'gre', 'esp', 'ah', 'icmp6', 'sctp'], '')) LIKE 'ud%'"},
    /* Regexes on a field's text. */
    {"instance-id ~ /^sag-[0-9]+$/", "match(instance_id, '^sag-[0-9]+$')"},
    {"action ~ /REJ/", "match(transform(toUInt64(action), [0, 1, 2], ['ACCEPT', 'REJECT', '?'], "
                       "'?'), 'REJ')"},
    {"* | stats avg(rtt), min(bytes), max(end)",
     "if(countIf(" P(4096) ") = 0, NULL, avgIf(rtt_us, " P(4096) ")) AS c0, if(countIf(" P(
         64) ") = 0, NULL, minIf(bytes, " P(64) ")) AS c1, if(countIf(1) = 0, NULL, maxIf(end_ms, "
                                                "1)) "
                                                "AS c2"},
};

/* Queries that do not translate, and the message's start. */
static const struct exact refused[] = {
    {"/REJECT/", "ERR col 1: a /regex/ on the whole text line does not translate"},
    {"region:eu-west-1", "ERR col 1: 'region' is a flow-log label, not stored in ClickHouse"},
    {"dstport:22 and vpc-id:vpc-1*", "ERR col 16: 'vpc-id' is a flow-log label"},
    {"* | stats count by eni-id", "ERR col 20: a flow-log label (region, vpc-id, eni-id)"},
    {"srcaddr ~ /(?=10)/", "ERR col 1: look-around ((?=, (?!, (?<=, (?<!) is not supported"},
    {"instance-id ~ /(?<!x)y/", "ERR col 1: look-around"},
    {"instance-id ~ /(a)\\1/", "ERR col 1: back-references (\\1, \\g, \\k) are not supported"},
    {"instance-id ~ /(?>ab)/", "ERR col 1: atomic groups"},
    {"instance-id ~ /a++/", "ERR col 1: possessive quantifiers"},
    {"instance-id ~ /a(?i)b/", "ERR col 1: groups and flags of the form (?...)"},
};

/* Regexes as ClickHouse gets them (the body of the SQL literal). */
static const struct exact regexes[] = {
    {"^sag-[0-9]+$", "^sag-[0-9]+$"},
    {"(?i)reject", "[rR][eE][jJ][eE][cC][tT]"},
    {"(?i)^sag-[a-f0-9]+\\d$", "^[sS][aA][gG]-[a-fA-F0-9]+\\\\d$"},
    {"(?i)[[:alpha:]x]\\p{Greek}", "[[:alpha:]xX]\\\\p{Greek}"},
    {"(?:a|b)*?c{1,2}", "(?:a|b)*?c{1,2}"},
    {"it's", "it\\'s"},
};

static void
test_exact(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        const char *got = sql_of(exact[i].q);
        if (strcmp(got, exact[i].sql) != 0) {
            fail_msg("'%s':\n got  %s\n want %s", exact[i].q, got, exact[i].sql);
        }
    }
}

static void
test_parts(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *got = sql_of(parts[i].q);
        if (strstr(got, parts[i].sql) == NULL) {
            fail_msg("'%s':\n got  %s\n want ...%s...", parts[i].q, got, parts[i].sql);
        }
    }
}

static void
test_refused(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *got = sql_of(refused[i].q);
        if (strncmp(got, refused[i].sql, strlen(refused[i].sql)) != 0) {
            fail_msg("'%s':\n got  %s\n want %s...", refused[i].q, got, refused[i].sql);
        }
    }
}

static void
test_regex(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(regexes) / sizeof(regexes[0]); i++) {
        struct qry__buf b = {0};
        struct qry_error err = {0};
        assert_int_equal(qry__sql_regex(&b, regexes[i].q, &err), 0);
        qry__buf_put(&b, "", 1);
        if (strcmp(b.p, regexes[i].sql) != 0) {
            fail_msg("/%s/: got %s, want %s", regexes[i].q, b.p, regexes[i].sql);
        }
        qry__buf_free(&b);
    }
}

static void
test_settings(void **state)
{
    (void) state;
    struct qry__buf b = {0};
    struct qry_limits lim = {.time_ms = 1500, .rows = 1000, .mem_bytes = 1 << 20};
    qry__sql_settings(&lim, &b);
    qry__buf_put(&b, "", 1);
    assert_string_equal(b.p, "max_execution_time=2&max_result_rows=1000&result_overflow_mode="
                             "throw&max_memory_usage=1048576");
    qry__buf_free(&b);
    struct qry_limits none = {0};
    qry__sql_settings(&none, &b);
    assert_int_equal(b.len, 0);
}

static void
test_bad_db(void **state)
{
    (void) state;
    struct qry *q = NULL;
    struct qry_error err = {0};
    struct qry__sql s;
    assert_int_equal(qry_compile(&q, "*", 1, NOW, &err), 0);
    assert_int_equal(qry__sql_build(q, "flowlog; DROP TABLE x", &s, &err), -EINVAL);
    qry__sql_free(&s);
    qry_free(q);
}

int
main(int argc, char **argv)
{
    /* With arguments: print each query's SQL (tests/clickhouse/query_diff.sh, debugging). */
    for (int i = 1; i < argc; i++) {
        printf("%s\n", sql_of(argv[i]));
    }
    if (argc > 1) {
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),    cmocka_unit_test(test_parts),
        cmocka_unit_test(test_refused),  cmocka_unit_test(test_regex),
        cmocka_unit_test(test_settings), cmocka_unit_test(test_bad_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
