/* SPDX-License-Identifier: MIT */
/*
 * unit.web.metrics: the Prometheus exposition from counters (collector/http_metrics.c): the
 * required names, _total on counters, the store's rows only once, decode errors as one
 * labelled family, milliseconds as seconds, label escaping, and the bound on per-exporter
 * series with its counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

struct fake {
    size_t exporters;
    int fail;
};

static int
kv(qry_row_fn *row, void *arg, const char *name, const char *value)
{
    static const char *const names[2] = {"name", "value"};
    const char *vals[2] = {name, value};
    return row(arg, 2, names, vals);
}

static int
fake_info(void *arg, const char *what, qry_row_fn *row, void *row_arg)
{
    struct fake *f = arg;
    if (f->fail != 0) {
        return f->fail;
    }
    if (strcmp(what, "stats") == 0) {
        kv(row, row_arg, "records", "5");
        kv(row, row_arg, "datagrams", "3");
        kv(row, row_arg, "decode-errors-truncated", "1");
        kv(row, row_arg, "query-clients", "2");
        kv(row, row_arg, "store-records-in", "999"); /* read from stor_stats_each instead */
        kv(row, row_arg, "decode-errors-version", "2");
        kv(row, row_arg, "not-a-number", "-");
        return 0;
    }
    static const char *const names[] = {"exporter", "version", "last-seen", "datagrams",
                                        "templates"};
    for (size_t i = 0; i < f->exporters; i++) {
        char ex[64], dg[24];
        snprintf(ex, sizeof(ex), "10.0.%zu.%zu:2055/udp%s", i / 256, i % 256,
                 i == 0 ? "\"q\\" : "");
        snprintf(dg, sizeof(dg), "%zu", i + 1);
        const char *vals[] = {ex, "10", "1700000000", dg, "4"};
        row(row_arg, 5, names, vals);
    }
    return 0;
}

static size_t
count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void
run(struct fake *f, struct coll_http_buf *b, bool *truncated, int want_rc)
{
    static struct coll_http_stats hs;
    struct stor_stats st;
    memset(&st, 0, sizeof(st));
    st.records_in = 7;
    st.records_stored = 6;
    st.last_commit_ms = 1700000000123u;
    atomic_store(&hs.requests, 4);
    assert_int_equal(coll_http_metrics(b, &st, fake_info, f, &hs, truncated), want_rc);
}

static void
test_names(void **state)
{
    struct fake f = {.exporters = 2};
    struct coll_http_buf b = {0};
    bool truncated;
    (void) state;
    run(&f, &b, &truncated, 0);
    assert_false(truncated);
    assert_non_null(strstr(b.p, "\nflowlog_records_received_total 5\n"));
    assert_non_null(strstr(b.p, "\nflowlog_records_stored_total 6\n"));
    assert_non_null(strstr(b.p, "\nflowlog_datagrams_total 3\n"));
    assert_non_null(strstr(b.p, "# TYPE flowlog_query_clients gauge\nflowlog_query_clients 2\n"));
    assert_int_equal(count(b.p, "flowlog_store_records_in_total 7\n"), 1);
    assert_null(strstr(b.p, "999"));
    assert_null(strstr(b.p, "not_a_number"));
    assert_int_equal(count(b.p, "# TYPE flowlog_decode_errors_by_reason_total counter"), 1);
    assert_non_null(strstr(b.p, "flowlog_decode_errors_by_reason_total{reason=\"truncated\"} 1\n"
                                "flowlog_decode_errors_by_reason_total{reason=\"version\"} 2\n"));
    assert_non_null(strstr(b.p, "\nflowlog_store_last_commit_seconds 1700000000.123\n"));
    assert_non_null(strstr(b.p, "\nflowlog_http_requests_total 4\n"));
    assert_non_null(strstr(b.p, "# TYPE flowlog_exporter_templates gauge\n"));
    assert_non_null(strstr(b.p, "# TYPE flowlog_exporter_last_seen_seconds gauge\n"));
    assert_non_null(
        strstr(b.p, "flowlog_exporter_datagrams_total{exporter=\"10.0.0.0:2055/udp\\\"q\\\\\"} 1\n"));
    coll_http_buf_free(&b);
}

static void
test_exporter_bound(void **state)
{
    struct fake f = {.exporters = COLL_HTTP_METRICS_EXPORTERS_MAX + 50};
    struct coll_http_buf b = {0};
    bool truncated;
    (void) state;
    run(&f, &b, &truncated, 0);
    assert_true(truncated);
    assert_int_equal(count(b.p, "flowlog_exporter_datagrams_total{"),
                     COLL_HTTP_METRICS_EXPORTERS_MAX);
    assert_non_null(strstr(b.p, "\nflowlog_http_metrics_exporters_omitted 50\n"));
    coll_http_buf_free(&b);
}

static void
test_info_error(void **state)
{
    struct fake f = {.fail = -5};
    struct coll_http_buf b = {0};
    bool truncated;
    (void) state;
    run(&f, &b, &truncated, -5);
    coll_http_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_exporter_bound),
        cmocka_unit_test(test_info_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
