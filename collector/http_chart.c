/* SPDX-License-Identifier: MIT */
/*
 * format=chart: a timechart's rows in the columnar form a chart takes as it is (docs/http.md):
 * {"span_s":S,"field":F,"agg":A,"t":[...],"series":[{"name":N,"values":[...]}],"status":{}}
 * with one t per bucket from the first to the last, and null where a series had no row (the
 * engine emits no empty buckets: a gap stays a gap). The rows are QUERY's FORMAT json rows
 * (flat objects: _time, the by-field if any, the aggregate), collected, then laid out.
 * Bounded: CHART_SERIES_MAX series and CHART_CELLS_MAX buckets x series, else ERR LIMIT.
 */
#define _GNU_SOURCE /* timegm, strcasestr */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_chart.h"

/* A flat JSON object's members: key and value as their raw tokens. */
struct member {
    const char *k, *v;
    size_t klen, vlen;
};

static size_t
token_end(const char *s, size_t i, size_t len)
{
    if (i < len && s[i] == '"') {
        for (i++; i < len && s[i] != '"'; i++) {
            i += s[i] == '\\' ? 1 : 0;
        }
        return i < len ? i + 1 : len;
    }
    while (i < len && s[i] != ',' && s[i] != '}') {
        i++;
    }
    return i;
}

static size_t
members(const char *s, size_t len, struct member *m, size_t cap)
{
    size_t i = 1, n = 0; /* after '{' */
    while (i < len && n < cap && s[i] == '"') {
        size_t ke = token_end(s, i, len);
        if (ke >= len || s[ke] != ':') {
            break;
        }
        size_t ve = token_end(s, ke + 1, len);
        m[n++] = (struct member){s + i, s + ke + 1, ke - i, ve - ke - 1};
        i = ve + 1;
    }
    return n;
}

/* "2026-12-04T16:05:00.000Z" (quotes included) -> Unix seconds. */
static bool
rfc3339_s(const char *v, size_t len, int64_t *out)
{
    char buf[40];
    struct tm tm = {0};
    if (len < 22 || len >= sizeof(buf) || v[0] != '"') {
        return false;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int) len - 2, v + 1);
    if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6) {
        return false;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t) timegm(&tm);
    return true;
}

uint32_t
http_chart_span_s(const char *q)
{
    for (const char *p = q; (p = strcasestr(p, "timechart")) != NULL; p += 9) {
        char *end;
        const char *d = p + 9;
        while (*d == ' ' || *d == '\t') {
            d++;
        }
        unsigned long n = strtoul(d, &end, 10);
        static const struct {
            const char *u;
            uint32_t mul;
        } units[] = {{"ms", 0}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
        for (size_t i = 0; end != d && n > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
            size_t ul = strlen(units[i].u);
            if (strncasecmp(end, units[i].u, ul) == 0 && !isalnum((unsigned char) end[ul])) {
                uint64_t s = units[i].mul != 0 ? n * units[i].mul : n / 1000u;
                return s > 0 && s <= UINT32_MAX ? (uint32_t) s : 0;
            }
        }
    }
    return 0;
}

int
http_chart_row(struct http_chart *c, const char *s, size_t len)
{
    struct member m[4];
    size_t n = members(s, len, m, 4);
    int64_t t;
    if (n < 2 || m[0].klen != 7 || memcmp(m[0].k, "\"_time\"", 7) != 0 ||
        !rfc3339_s(m[0].v, m[0].vlen, &t)) {
        return -EINVAL;
    }
    const struct member *key = n == 3 ? &m[1] : NULL, *val = &m[n - 1];
    if (c->nrows == 0) {
        snprintf(c->agg, sizeof(c->agg), "%.*s", (int) val->klen, val->k);
        snprintf(c->field, sizeof(c->field), "%.*s", key != NULL ? (int) key->klen : 2,
                 key != NULL ? key->k : "\"\"");
    }
    size_t si = 0;
    const char *name = key != NULL ? key->v : "\"\"";
    size_t nlen = key != NULL ? key->vlen : 2;
    while (si < c->nseries && !(strlen(c->series[si]) == nlen &&
                                memcmp(c->series[si], name, nlen) == 0)) {
        si++;
    }
    if (si == c->nseries) {
        if (c->nseries == CHART_SERIES_MAX || nlen >= sizeof(c->series[0])) {
            return -E2BIG;
        }
        snprintf(c->series[c->nseries++], sizeof(c->series[0]), "%.*s", (int) nlen, name);
    }
    if (c->nrows == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 256;
        struct http_chart_pt *p = cap <= CHART_CELLS_MAX ? realloc(c->pt, cap * sizeof(*p)) : NULL;
        if (p == NULL) {
            return cap <= CHART_CELLS_MAX ? -ENOMEM : -E2BIG;
        }
        c->pt = p;
        c->cap = cap;
    }
    char num[64];
    snprintf(num, sizeof(num), "%.*s", (int) val->vlen, val->v);
    char *end;
    double v = strtod(num, &end);
    c->pt[c->nrows++] = (struct http_chart_pt){t, (uint32_t) si, end != num ? v : NAN};
    return 0;
}

/* The value of series si at bucket b, or NAN. Rows are in time order. */
static void
emit_values(struct coll_http_buf *b, const struct http_chart *c, size_t si, int64_t t0,
            size_t nb)
{
    size_t r = 0;
    coll_http_buf_put(b, "[", 1);
    for (size_t k = 0; k < nb; k++) {
        int64_t t = t0 + (int64_t) k * c->span_s;
        double v = NAN;
        while (r < c->nrows && c->pt[r].t < t) {
            r++;
        }
        for (size_t q = r; q < c->nrows && c->pt[q].t == t; q++) {
            v = c->pt[q].series == si ? c->pt[q].v : v;
        }
        coll_http_buf_put(b, ",", k > 0 ? 1 : 0);
        if (isnan(v)) {
            coll_http_buf_put(b, "null", 4);
        } else {
            coll_http_buf_printf(b, "%.17g", v);
        }
    }
    coll_http_buf_put(b, "]", 1);
}

int
http_chart_emit(struct coll_http_buf *b, const struct http_chart *c, const char *status,
                size_t slen)
{
    int64_t t0 = c->nrows > 0 ? c->pt[0].t : 0, t1 = c->nrows > 0 ? c->pt[c->nrows - 1].t : 0;
    size_t nb = c->nrows > 0 && c->span_s > 0 ? (size_t) ((t1 - t0) / c->span_s) + 1 : 0;
    if (nb * (c->nseries > 0 ? c->nseries : 1) > CHART_CELLS_MAX) {
        return -E2BIG;
    }
    coll_http_buf_printf(b, "{\"span_s\":%" PRIu32 ",\"field\":%s,\"agg\":%s,\"t\":[",
                         c->span_s, c->field[0] != '\0' ? c->field : "\"\"",
                         c->agg[0] != '\0' ? c->agg : "\"\"");
    for (size_t k = 0; k < nb; k++) {
        coll_http_buf_printf(b, "%s%" PRId64, k > 0 ? "," : "", t0 + (int64_t) k * c->span_s);
    }
    coll_http_buf_printf(b, "],\"series\":[");
    for (size_t si = 0; si < c->nseries; si++) {
        coll_http_buf_printf(b, "%s{\"name\":%s,\"values\":", si > 0 ? "," : "", c->series[si]);
        emit_values(b, c, si, t0, nb);
        coll_http_buf_put(b, "}", 1);
    }
    coll_http_buf_printf(b, "],\"status\":");
    coll_http_buf_put(b, status, slen);
    coll_http_buf_put(b, "}\n", 2);
    return 0;
}

void
http_chart_free(struct http_chart *c)
{
    free(c->pt);
    c->pt = NULL;
    c->nrows = c->cap = 0;
}
