/* SPDX-License-Identifier: MIT */
/*
 * unit.web.chart: format=chart's layout (collector/http_chart.c): the span from the query
 * text, one t per bucket from the first row to the last, null where a series had no row,
 * series without a by-field, rows that are not a timechart's, and the series bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_chart.h"

static void
row(struct http_chart *c, const char *s, int want)
{
    assert_int_equal(http_chart_row(c, s, strlen(s)), want);
}

static void
test_span(void **state)
{
    (void) state;
    assert_int_equal(http_chart_span_s("* | timechart 5m sum(bytes) by protocol"), 300);
    assert_int_equal(http_chart_span_s("* | TimeChart 2h count"), 7200);
    assert_int_equal(http_chart_span_s("* | timechart 30s count"), 30);
    assert_int_equal(http_chart_span_s("* | timechart 1d count"), 86400);
    assert_int_equal(http_chart_span_s("* | timechart 1500ms count"), 1);
    assert_int_equal(http_chart_span_s("* | timechart 500ms count"), 0);
    assert_int_equal(http_chart_span_s("* | top 5 dstport"), 0);
    assert_int_equal(http_chart_span_s("timechart | timechart 10mx count"), 0);
}

static void
test_layout(void **state)
{
    struct http_chart *c = calloc(1, sizeof(*c));
    struct coll_http_buf b = {0};
    static const char st[] = "{\"status\":\"OK\"}";
    (void) state;
    c->span_s = 60;
    row(c, "{\"_time\":\"2026-12-04T16:00:00.000Z\",\"protocol\":6,\"sum(bytes)\":10}", 0);
    row(c, "{\"_time\":\"2026-12-04T16:00:00.000Z\",\"protocol\":17,\"sum(bytes)\":5}", 0);
    row(c, "{\"_time\":\"2026-12-04T16:03:00.000Z\",\"protocol\":17,\"sum(bytes)\":7.5}", 0);
    assert_int_equal(http_chart_emit(&b, c, st, sizeof(st) - 1), 0);
    assert_string_equal(b.p, "{\"span_s\":60,\"field\":\"protocol\",\"agg\":\"sum(bytes)\","
                             "\"t\":[1796400000,1796400060,1796400120,1796400180],"
                             "\"series\":[{\"name\":6,\"values\":[10,null,null,null]},"
                             "{\"name\":17,\"values\":[5,null,null,7.5]}],"
                             "\"status\":{\"status\":\"OK\"}}\n");
    coll_http_buf_free(&b);
    http_chart_free(c);
    free(c);
}

static void
test_no_by_and_text_names(void **state)
{
    struct http_chart *c = calloc(1, sizeof(*c));
    struct coll_http_buf b = {0};
    (void) state;
    c->span_s = 3600;
    row(c, "{\"_time\":\"2026-12-04T15:00:00.000Z\",\"count\":3}", 0);
    row(c, "{\"_time\":\"2026-12-04T17:00:00.000Z\",\"count\":4}", 0);
    assert_int_equal(http_chart_emit(&b, c, "{}", 2), 0);
    assert_non_null(strstr(b.p, "\"field\":\"\",\"agg\":\"count\""));
    assert_non_null(strstr(b.p, "{\"name\":\"\",\"values\":[3,null,4]}"));
    coll_http_buf_free(&b);
    http_chart_free(c);
    memset(c, 0, sizeof(*c));
    c->span_s = 60;
    row(c, "{\"_time\":\"2026-12-04T15:00:00.000Z\",\"action\":\"RE\\\"J\",\"count\":1}", 0);
    row(c, "{\"_time\":\"2026-12-04T15:00:00.000Z\",\"action\":null,\"count\":2}", 0);
    assert_int_equal(http_chart_emit(&b, c, "{}", 2), 0);
    assert_non_null(strstr(b.p, "{\"name\":\"RE\\\"J\",\"values\":[1]},{\"name\":null,\"values\":[2]}"));
    coll_http_buf_free(&b);
    http_chart_free(c);
    free(c);
}

static void
test_refusals(void **state)
{
    struct http_chart *c = calloc(1, sizeof(*c));
    (void) state;
    c->span_s = 60;
    row(c, "{\"srcaddr\":\"10.0.0.1\",\"bytes\":3}", -EINVAL);
    row(c, "{\"_time\":\"yesterday\",\"count\":3}", -EINVAL);
    for (int i = 0; i < CHART_SERIES_MAX; i++) {
        char r[128];
        snprintf(r, sizeof(r), "{\"_time\":\"2026-12-04T15:00:00.000Z\",\"dstport\":%d,\"count\":1}",
                 i);
        row(c, r, 0);
    }
    row(c, "{\"_time\":\"2026-12-04T15:00:00.000Z\",\"dstport\":99999,\"count\":1}", -E2BIG);
    http_chart_free(c);
    memset(c, 0, sizeof(*c));
    /* A year of 1-second buckets is more cells than CHART_CELLS_MAX. */
    struct coll_http_buf b = {0};
    c->span_s = 1;
    row(c, "{\"_time\":\"2025-12-04T15:00:00.000Z\",\"count\":1}", 0);
    row(c, "{\"_time\":\"2026-12-04T15:00:00.000Z\",\"count\":1}", 0);
    assert_int_equal(http_chart_emit(&b, c, "{}", 2), -E2BIG);
    coll_http_buf_free(&b);
    http_chart_free(c);
    free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_no_by_and_text_names),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
