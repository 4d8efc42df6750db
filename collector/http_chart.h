/* SPDX-License-Identifier: MIT */
/*
 * format=chart (http_chart.c): timechart rows laid out in columns. Pure; unit-tested in
 * tests/web.
 */
#ifndef FLOWLOG_HTTP_CHART_H
#define FLOWLOG_HTTP_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define CHART_SERIES_MAX 100     /* series (values of the by-field) in one chart */
#define CHART_CELLS_MAX  1000000 /* buckets x series, and rows collected */

struct http_chart_pt {
    int64_t t; /* bucket start, Unix seconds */
    uint32_t series;
    double v; /* NAN: no value */
};

struct http_chart {
    uint32_t span_s;
    char field[128], agg[128];  /* JSON string tokens, quotes included */
    char series[CHART_SERIES_MAX][128]; /* the by-field's values as JSON tokens */
    size_t nseries;
    struct http_chart_pt *pt;
    size_t nrows, cap;
};

/* The bucket span of `timechart SPAN` in a query's text, in seconds; 0 when there is none. */
uint32_t http_chart_span_s(const char *q);
/* Take one FORMAT json row. -EINVAL: not a timechart row; -E2BIG: a bound; -ENOMEM. */
int http_chart_row(struct http_chart *c, const char *s, size_t len);
/* The document, status being the status object. -E2BIG when it would pass CHART_CELLS_MAX. */
int http_chart_emit(struct coll_http_buf *b, const struct http_chart *c, const char *status,
                    size_t slen);
void http_chart_free(struct http_chart *c);

#endif
