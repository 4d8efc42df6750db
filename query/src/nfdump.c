/* SPDX-License-Identifier: MIT */
/*
 * nfdump's everyday options (nfdump(1): -t -s -n -A -a -O -o -c -q -N -6 -I) translated into
 * the range and stages of one query of ours; the filter after them is nfdump_filter.c's. The
 * result answers as QUERY would (the NFDUMP verb, session.c). Options that read or write
 * files (-r -R -M -w), and those whose output flowlog cannot reproduce exactly, are refused by
 * name. docs/nfdump.md has the mapping table and the deliberate differences.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nfdump.h"
#include "qry.h"

void
qry__nfd_put(struct qry__nfd_buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->full) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= b->cap - b->len) {
        b->full = 1;
        b->p[b->len] = '\0';
        return;
    }
    b->len += (size_t) n;
}

struct nfopts {
    const char *t, *s, *A, *O, *o;
    long long n, c; /* -1: not given */
    bool info;
    char *filter; /* the words after the options, joined */
};

/* Split args into words in place: blanks separate, '...' and "..." quote (\ escapes in "). */
static int
split(char *args, char **w, size_t max, size_t *nw, char *msg, size_t msglen)
{
    char *r = args, *o = args;
    size_t n = 0;
    while (*r != '\0') {
        while (*r == ' ' || *r == '\t') {
            r++;
        }
        if (*r == '\0') {
            break;
        }
        if (n == max) {
            snprintf(msg, msglen, "NFDUMP takes at most %d words", QRY_NFD_WORDS_MAX);
            return QRY_E_PARSE;
        }
        w[n++] = o;
        char q = 0;
        for (; *r != '\0' && (q != 0 || (*r != ' ' && *r != '\t')); r++) {
            if (q == 0 && (*r == '\'' || *r == '"')) {
                q = *r;
            } else if (q != 0 && *r == q) {
                q = 0;
            } else if (q == '"' && *r == '\\' && r[1] != '\0') {
                *o++ = *++r;
            } else {
                *o++ = *r;
            }
        }
        if (q != 0) {
            snprintf(msg, msglen, "NFDUMP: unterminated %c quote", q);
            return QRY_E_PARSE;
        }
        r += *r != '\0';
        *o++ = '\0';
    }
    *nw = n;
    return 0;
}

static int
opt_number(const char *opt, const char *v, long long *out, char *msg, size_t msglen)
{
    char *end;
    long long n = v != NULL ? strtoll(v, &end, 10) : -1;
    if (v == NULL || *v == '\0' || *end != '\0' || n < 0 || n > 1000000000LL) {
        snprintf(msg, msglen, "nfdump option %s: expected a number, got '%.40s'", opt,
                 v != NULL ? v : "");
        return QRY_E_PARSE;
    }
    *out = n;
    return 0;
}

/* One option at w[*i]; *i moves past its value. */
static int
option(char **w, size_t nw, size_t *i, struct nfopts *o, char *msg, size_t msglen)
{
    const char *opt = w[*i];
    const char *val = *i + 1 < nw ? w[*i + 1] : NULL;
    const char **slot = NULL;
    if (strlen(opt) != 2) {
        snprintf(msg, msglen, "nfdump option '%.40s': write options one by one (-s X -n 5)", opt);
        return QRY_E_PARSE;
    }
    switch (opt[1]) {
    case 'q':
    case 'N':
    case '6':
        return 0; /* flowlog prints no header summary and never scales or shortens numbers */
    case 'I':
        o->info = true;
        return 0;
    case 'a':
        o->A = "srcip,dstip,srcport,dstport,proto";
        return 0;
    case 'n':
    case 'c':
        ++*i;
        return opt_number(opt, val, opt[1] == 'n' ? &o->n : &o->c, msg, msglen);
    case 't':
        slot = &o->t;
        break;
    case 's':
        slot = o->s != NULL ? NULL : &o->s;
        break;
    case 'A':
        slot = &o->A;
        break;
    case 'O':
        slot = &o->O;
        break;
    case 'o':
        slot = &o->o;
        break;
    default:
        snprintf(msg, msglen, "nfdump option '%s' is not supported%s", opt,
                 strchr("rRMwf", opt[1]) != NULL ? ": flowlog reads its own store, not files"
                                                 : " (docs/nfdump.md lists what is)");
        return QRY_E_PARSE;
    }
    if (slot == NULL || val == NULL) {
        snprintf(msg, msglen, "nfdump option %s: %s", opt,
                 val == NULL ? "needs a value" : "only one statistic per request");
        return QRY_E_PARSE;
    }
    *slot = val;
    ++*i;
    return 0;
}

/* nfdump's YYYY/MM/dd.hh:mm:ss with trailing parts omitted, read as UTC, or Unix seconds. */
static int
nftime(const char *s, long long *out)
{
    int v[6] = {0, 1, 1, 0, 0, 0}, n = 0, used = 0;
    char *end;
    long long unix_s = strtoll(s, &end, 10);
    if (*s != '\0' && *end == '\0' && strlen(s) >= 9) {
        *out = unix_s;
        return 0;
    }
    n = sscanf(s, "%4d/%2d/%2d%n", &v[0], &v[1], &v[2], &used);
    if (n == 3 && s[used] == '.') {
        int more = 0;
        n += sscanf(s + used + 1, "%2d%n:%2d%n:%2d%n", &v[3], &more, &v[4], &more, &v[5], &more);
        used += 1 + more;
    }
    if (n < 1 || s[used] != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 ||
        v[4] > 59 || v[5] > 60) {
        return -1;
    }
    struct tm tm = {.tm_year = v[0] - 1900,
                    .tm_mon = v[1] - 1,
                    .tm_mday = v[2],
                    .tm_hour = v[3],
                    .tm_min = v[4],
                    .tm_sec = v[5]};
    *out = (long long) timegm(&tm);
    return 0;
}

/* -t T1[-T2] as our range, and nfdump's rule: start >= T1 and end <= T2 (T2.000, as nfdump). */
static int
time_window(const char *t, struct qry__nfd_buf *b, char *msg, size_t msglen)
{
    char a[64], *dash;
    long long t1, t2 = -1;
    snprintf(a, sizeof(a), "%s", t);
    dash = strchr(a, '-');
    if (dash != NULL) {
        *dash = '\0';
    }
    if (strlen(t) >= sizeof(a) || nftime(a, &t1) != 0 ||
        (dash != NULL && nftime(dash + 1, &t2) != 0) || (t2 >= 0 && t2 < t1)) {
        snprintf(msg, msglen,
                 "nfdump option -t '%.60s': expected YYYY/MM/dd.hh:mm:ss"
                 "[-YYYY/MM/dd.hh:mm:ss] (UTC) or Unix seconds",
                 t);
        return QRY_E_PARSE;
    }
    if (t2 >= 0) {
        qry__nfd_put(b, "since %lld until %lld start>=%lld end<=%lld", t1, t2 + 1, t1, t2);
    } else {
        qry__nfd_put(b, "since %lld start>=%lld", t1, t1);
    }
    return 0;
}

/* nfdump element names (-s, -A) as our fields; NULL when we have no such field. */
static const char *
element(const char *e, size_t len)
{
    static const char *const map[][2] = {
        {"srcip", "srcaddr"},
        {"dstip", "dstaddr"},
        {"srcport", "srcport"},
        {"dstport", "dstport"},
        {"proto", "protocol"},
        {"tos", "tos"},
        {"inif", "inport"},
        {"outif", "outport"},
        {"router", "exporter"},
        {"srctos", "tos"},
        {"record", "srcaddr, dstaddr, srcport, dstport, protocol"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i][0]) == len && strncasecmp(e, map[i][0], len) == 0) {
            return map[i][1];
        }
    }
    return NULL;
}

static int
bad_element(const char *opt, const char *e, size_t len, const char *why, char *msg, size_t msglen)
{
    snprintf(msg, msglen, "nfdump option %s: '%.*s' %s", opt, (int) (len > 40 ? 40 : len), e, why);
    return QRY_E_PARSE;
}

/* -O / -s order names as our columns; NULL for computed ones (pps bps bpp). */
static const char *
order_col(const char *o)
{
    static const char *const map[][2] = {
        {"flows", "flows"}, {"packets", "packets"}, {"ipkg", "packets"}, {"bytes", "bytes"},
        {"ibyte", "bytes"}, {"tstart", "start"},    {"tend", "end"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(o, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return NULL;
}

/* -s stat[/order]: the top N groups (all with -n 0), columns fields then flows packets bytes. */
static int
statistic(const struct nfopts *o, struct qry__nfd_buf *b, char *msg, size_t msglen)
{
    const char *s = o->s, *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t) (slash - s) : strlen(s);
    const char *f = element(s, len), *by = slash != NULL ? order_col(slash + 1) : "flows";
    if (memchr(s, ':', len) != NULL) {
        return bad_element("-s", s, len, "(':p' per-protocol split) is not supported", msg, msglen);
    }
    if (f == NULL) {
        return bad_element("-s", s, len,
                           (len == 2 && strncasecmp(s, "ip", 2) == 0) ||
                                   (len == 4 && strncasecmp(s, "port", 4) == 0)
                               ? "(either side) is not supported: use src and "
                                 "dst statistics separately"
                               : "is not a statistic flowlog has",
                           msg, msglen);
    }
    if (by == NULL || strcmp(by, "start") == 0 || strcmp(by, "end") == 0) {
        return bad_element("-s", slash + 1, strlen(slash + 1),
                           "is not an order of statistics flowlog has (flows, packets, bytes)", msg,
                           msglen);
    }
    long long n = o->n < 0 ? 10 : o->n;
    if (n > 0) {
        qry__nfd_put(b, " | top %lld %s by %s", n, f, by);
    } else {
        qry__nfd_put(b,
                     " | stats count as flows, sum(packets) as packets, sum(bytes) as bytes by "
                     "%s | sort %s desc",
                     f, by);
    }
    return 0;
}

/* -A a,b,c (or -a): one row per key, columns the fields then first last flows packets bytes. */
static int
aggregation(const struct nfopts *o, struct qry__nfd_buf *b, char *msg, size_t msglen)
{
    const char *a = o->A;
    qry__nfd_put(b, " | stats min(start) as first, max(end) as last, count as flows, "
                    "sum(packets) as packets, sum(bytes) as bytes by ");
    for (size_t n = 0; *a != '\0'; n++) {
        size_t len = strcspn(a, ",");
        const char *f = element(a, len);
        if (f == NULL || strncasecmp(a, "record", len) == 0) {
            return bad_element("-A", a, len,
                               memchr(a, '/', len) != NULL ? "(a masked address) is not supported"
                                                           : "is not an element flowlog has",
                               msg, msglen);
        }
        qry__nfd_put(b, "%s%s", n > 0 ? ", " : "", f);
        a += len + (a[len] == ',');
    }
    return 0;
}

/* -O order: counters descending, times ascending, as nfdump prints them. */
static int
ordering(const struct nfopts *o, struct qry__nfd_buf *b, char *msg, size_t msglen)
{
    const char *col = order_col(o->O);
    if (col == NULL) {
        snprintf(msg, msglen,
                 "nfdump option -O: '%.40s' is not an order flowlog has (flows, "
                 "packets, bytes, tstart, tend)",
                 o->O);
        return QRY_E_PARSE;
    }
    bool time = strcmp(col, "start") == 0 || strcmp(col, "end") == 0;
    if (o->A != NULL && time) {
        col = strcmp(col, "start") == 0 ? "first" : "last";
    } else if (o->A == NULL && strcmp(col, "flows") == 0) {
        col = "start"; /* every record is one flow: nothing to order by */
        time = true;
    }
    qry__nfd_put(b, " | sort %s %s", col, time ? "asc" : "desc");
    return 0;
}

/* -o: csv and json choose the format; line, long, extended choose the fields (*cols). */
static int
output(const struct nfopts *o, const char **cols, int *fmt, char *msg, size_t msglen)
{
    static const char *const line = " | fields start, end, protocol, srcaddr, srcport, dstaddr, "
                                    "dstport, packets, bytes";
    static const char *const lng = " | fields start, end, protocol, srcaddr, srcport, dstaddr, "
                                   "dstport, tcp-flags, tos, packets, bytes";
    if (strcasecmp(o->o, "csv") == 0 || strcasecmp(o->o, "json") == 0) {
        *fmt = strcasecmp(o->o, "csv") == 0 ? QRY_FMT_CSV : QRY_FMT_JSON;
        return 0;
    }
    *fmt = QRY_FMT_TEXT;
    if (strcasecmp(o->o, "line") == 0) {
        *cols = line;
    } else if (strcasecmp(o->o, "long") == 0 || strcasecmp(o->o, "extended") == 0) {
        *cols = lng;
    } else if (strcasecmp(o->o, "raw") != 0) {
        snprintf(msg, msglen,
                 "nfdump option -o: '%.40s' is not supported (line, long, extended, "
                 "raw, csv, json)",
                 o->o);
        return QRY_E_PARSE;
    }
    return 0;
}

static int
stages(const struct nfopts *o, struct qry__nfd_buf *b, int *fmt, char *msg, size_t msglen)
{
    int rc = 0;
    bool agg = o->s != NULL || o->A != NULL || o->info;
    if ((o->s != NULL) + (o->A != NULL) + o->info > 1) {
        snprintf(msg, msglen, "nfdump options -s, -A/-a and -I: one of them per request");
        return QRY_E_PARSE;
    }
    if (o->c >= 0 && (agg || o->O != NULL)) {
        snprintf(msg, msglen,
                 "nfdump option -c limits the records read before %s; flowlog "
                 "cannot: use -n",
                 o->O != NULL ? "-O" : "-s/-A/-I");
        return QRY_E_PARSE;
    }
    const char *cols = "";
    if (o->o != NULL && (rc = output(o, &cols, fmt, msg, msglen)) != 0) {
        return rc;
    }
    if (o->info) {
        qry__nfd_put(b, " | stats count as flows, sum(packets) as packets, sum(bytes) as bytes, "
                        "min(start) as first, max(end) as last");
    } else if (o->s != NULL) {
        rc = statistic(o, b, msg, msglen);
    } else if (o->A != NULL) {
        rc = aggregation(o, b, msg, msglen);
    }
    if (rc == 0 && o->O != NULL && o->s == NULL && !o->info) {
        rc = ordering(o, b, msg, msglen);
    }
    if (rc == 0 && o->s == NULL && !o->info && (o->n > 0 || o->c > 0)) {
        qry__nfd_put(b, " | limit %lld", o->n > 0 ? o->n : o->c);
    }
    if (!agg) {
        qry__nfd_put(b, "%s", cols); /* statistics have their own columns */
    }
    return rc;
}

/* Options from w[0], up to the first word that is not one; the rest is the filter. */
static int
options(char **w, size_t nw, struct nfopts *o, size_t *first, char *msg, size_t msglen)
{
    size_t i = 0;
    int rc = 0;
    for (; rc == 0 && i < nw && w[i][0] == '-' && w[i][1] != '\0'; i++) {
        rc = option(w, nw, &i, o, msg, msglen);
    }
    if (rc == 0 && i > nw) {
        snprintf(msg, msglen, "nfdump option %s needs a value", w[nw - 1]);
        rc = QRY_E_PARSE;
    }
    *first = i;
    return rc;
}

int
qry__nfd_translate(const char *args, char *query, size_t cap, int *fmt, char *msg, size_t msglen)
{
    struct nfopts o = {.n = -1, .c = -1};
    struct qry__nfd_buf b = {.p = query, .cap = cap};
    size_t len = strlen(args), nw = 0, first = 0;
    char *copy = malloc(len + 1), **w = calloc(QRY_NFD_WORDS_MAX, sizeof(*w));
    int rc = -ENOMEM;
    *fmt = -1;
    if (copy == NULL || w == NULL || cap == 0) {
        goto out;
    }
    query[0] = '\0';
    memcpy(copy, args, len + 1);
    if ((rc = split(copy, w, QRY_NFD_WORDS_MAX, &nw, msg, msglen)) != 0 ||
        (rc = options(w, nw, &o, &first, msg, msglen)) != 0) {
        goto out;
    }
    for (size_t i = first + 1; i < nw; i++) {
        w[i][-1] = ' '; /* the filter's words joined again (split left them in order) */
    }
    if (o.t != NULL && (rc = time_window(o.t, &b, msg, msglen)) != 0) {
        goto out;
    }
    size_t at = b.len;
    qry__nfd_put(&b, "%s(", b.len > 0 ? " " : "");
    size_t open = b.len;
    if (first < nw && (rc = qry__nfd_filter(w[first], &b, msg, msglen)) != 0) {
        goto out;
    }
    if (b.len == open) {
        b.len = at; /* no filter */
        qry__nfd_put(&b, "%s", at == 0 ? "*" : "");
    } else {
        qry__nfd_put(&b, ")");
    }
    rc = stages(&o, &b, fmt, msg, msglen);
    if (rc == 0 && b.full) {
        snprintf(msg, msglen, "NFDUMP: the translated query is longer than %zu bytes", cap - 1);
        rc = QRY_E_PARSE;
    }
out:
    free(w);
    free(copy);
    return rc;
}
