/* SPDX-License-Identifier: MIT */
/*
 * Output formats (docs/query.md "Output"): text (DESIGN.md §3: space-separated, '-' for a
 * missing value, times as Unix seconds), JSON lines (one object per row, null for missing,
 * times as RFC 3339 strings) and CSV (RFC 4180 with a header row, times as RFC 3339).
 *
 * Escaping keeps one row on one line, whatever bytes an exporter put in its identity fields:
 *   text: space, backslash, control bytes, DEL and a value that is exactly "-" are written
 *         as \xHH (backslash as \\), so a value never splits or fakes a column;
 *   CSV:  a field holding , " space \ or a control byte is quoted ("" for "), with control
 *         bytes as \xHH and \ as \\ inside the quotes;
 *   JSON: RFC 8259 escapes; bytes that are not valid UTF-8 become U+FFFD.
 * The line protocol's rule that no data line begins with "OK " or "ERR " is kept by exec.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qry_int.h"

void
qry__buf_reserve(struct qry__buf *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void
qry__buf_put_slow(struct qry__buf *b, const char *s, size_t n)
{
    qry__buf_reserve(b, n);
    if (b->len + n <= b->cap) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

void
qry__buf_puts(struct qry__buf *b, const char *s)
{
    qry__buf_put(b, s, strlen(s));
}

void
qry__buf_printf(struct qry__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    qry__buf_reserve(b, (size_t) n + 1);
    if (b->len + (size_t) n + 1 > b->cap) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

void
qry__buf_free(struct qry__buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static size_t
u64_text(uint64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    buf[n] = '\0';
    return n;
}

static const char hexd_addr[] = "0123456789abcdef";

size_t
qry__addr_text(const uint8_t a[16], char *buf)
{
    if (flow_addr_is_v4(a)) {
        size_t n = 0;
        for (int i = 12; i < 16; i++) {
            n += u64_text(a[i], buf + n);
            buf[n++] = '.';
        }
        buf[--n] = '\0';
        return n;
    }
    /* RFC 5952: lower-case hex without leading zeros, the longest run (the first of equal
     * ones) of two or more zero groups as "::". inet_ntop would do, but it is printf-based
     * and this runs for every IPv6 value of every output row. */
    unsigned w[8];
    int best = -1, bestlen = 1;
    for (int i = 0; i < 8; i++) {
        w[i] = (unsigned) a[2 * i] << 8 | a[2 * i + 1];
    }
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && w[j] == 0) {
            j++;
        }
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            buf[n++] = ':';
            if (i == 0) {
                buf[n++] = ':';
            }
            i += bestlen - 1;
            continue;
        }
        bool lead = true;
        for (int sh = 12; sh >= 0; sh -= 4) {
            unsigned d = (w[i] >> sh) & 15;
            if (d != 0 || !lead || sh == 0) {
                buf[n++] = hexd_addr[d];
                lead = false;
            }
        }
        if (i < 7) {
            buf[n++] = ':';
        }
    }
    buf[n] = '\0';
    return n;
}

/* Howard Hinnant's civil_from_days. */
static void
civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned) (z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int) (yoe + era * 400 + (*m <= 2));
}

static void
two(char *p, unsigned v)
{
    p[0] = (char) ('0' + v / 10 % 10);
    p[1] = (char) ('0' + v % 10);
}

size_t
qry__time_text(uint64_t ms, char *buf)
{
    uint64_t s = ms / 1000u;
    int y;
    unsigned m, d, sod = (unsigned) (s % 86400u);
    civil((int64_t) (s / 86400u), &y, &m, &d);
    if (y < 0 || y > 9999) {
        return (size_t) snprintf(buf, 32, "%llu", (unsigned long long) ms);
    }
    memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
    two(buf, (unsigned) y / 100);
    two(buf + 2, (unsigned) y % 100);
    two(buf + 5, m);
    two(buf + 8, d);
    two(buf + 11, sod / 3600);
    two(buf + 14, sod / 60 % 60);
    two(buf + 17, sod % 60);
    unsigned msr = (unsigned) (ms % 1000u);
    buf[20] = (char) ('0' + msr / 100);
    two(buf + 21, msr % 100);
    return 24;
}

size_t
qry__val_text(const struct qry__val *v, int field, char *buf, size_t cap)
{
    if (!v->present) {
        return (size_t) snprintf(buf, cap, "-");
    }
    switch (v->kind) {
    case K_NUM:
        return u64_text(v->u, buf);
    case K_TIME:
        return u64_text(v->u / 1000u, buf);
    case K_ADDR:
        return qry__addr_text(v->addr, buf);
    case K_ENUM:
        return (size_t) snprintf(buf, cap, "%s", qry__enum_name(field, v->u));
    case K_FLOAT:
        return (size_t) snprintf(buf, cap, "%.3f", v->d);
    default: {
        int n = snprintf(buf, cap, "%s", v->s);
        return n < 0 ? 0 : (size_t) n >= cap ? cap - 1 : (size_t) n;
    }
    }
}

static const char hexd[] = "0123456789abcdef";

static void
put_hex(struct qry__buf *b, unsigned char c)
{
    char e[4] = {'\\', 'x', hexd[c >> 4], hexd[c & 15]};
    qry__buf_put(b, e, 4);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    size_t want = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (want == 0 || s[0] > 0xF4 || want > n) {
        return 0;
    }
    for (size_t i = 1; i < want; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return want;
}

static void
json_str(struct qry__buf *b, const char *s, size_t n)
{
    qry__buf_reserve(b, n + 2);
    qry__buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char) c};
            qry__buf_put(b, e, 2);
        } else if (c == '\n') {
            qry__buf_put(b, "\\n", 2);
        } else if (c == '\r') {
            qry__buf_put(b, "\\r", 2);
        } else if (c == '\t') {
            qry__buf_put(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            qry__buf_put(b, e, 6);
        } else if (c < 0x80) {
            qry__buf_put(b, (const char *) &c, 1);
        } else {
            size_t l = utf8_len((const unsigned char *) s + i, n - i);
            if (l == 0) {
                qry__buf_put(b, "\\ufffd", 6);
            } else {
                qry__buf_put(b, s + i, l);
                i += l - 1;
            }
        }
    }
    qry__buf_put(b, "\"", 1);
}

static bool
csv_needs_quotes(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == ',' || c == '"' || c == ' ' || c == '\\' || c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

void
qry__fmt_str(struct qry__buf *b, enum qry_fmt fmt, const char *s, size_t n)
{
    if (fmt == QRY_FMT_JSON) {
        json_str(b, s, n);
        return;
    }
    bool csv = fmt == QRY_FMT_CSV;
    bool quote = csv && csv_needs_quotes(s, n);
    if (!csv && n == 1 && s[0] == '-') {
        put_hex(b, '-');
        return;
    }
    qry__buf_reserve(b, n + 3);
    if (quote) {
        qry__buf_put(b, "\"", 1);
    }
    if (csv && n > 0 && s[0] != '\0' && strchr("=+-@", s[0]) != NULL) {
        /* A spreadsheet would run a cell starting with one of these as a formula (CSV
         * injection): a leading ' makes it text, as OWASP recommends. */
        qry__buf_put(b, "'", 1);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '\\') {
            qry__buf_put(b, "\\\\", 2);
        } else if (c < 0x20 || c == 0x7f || (c == ' ' && !csv)) {
            put_hex(b, c);
        } else if (c == '"' && csv) {
            qry__buf_put(b, "\"\"", 2);
        } else {
            qry__buf_put(b, (const char *) &c, 1);
        }
    }
    if (quote) {
        qry__buf_put(b, "\"", 1);
    }
}

void
qry__fmt_val(struct qry__buf *b, enum qry_fmt fmt, const struct qry__val *v, int field)
{
    char tmp[64];
    size_t n;
    if (!v->present) {
        if (fmt == QRY_FMT_JSON) {
            qry__buf_put(b, "null", 4);
        } else if (fmt == QRY_FMT_TEXT) {
            qry__buf_put(b, "-", 1);
        }
        return;
    }
    switch (v->kind) {
    case K_NUM:
        n = u64_text(v->u, tmp);
        qry__buf_put(b, tmp, n);
        break;
    case K_FLOAT:
        qry__buf_printf(b, "%.3f", v->d);
        break;
    case K_TIME:
        if (fmt == QRY_FMT_TEXT) {
            n = u64_text(v->u / 1000u, tmp);
            qry__buf_put(b, tmp, n);
        } else {
            n = qry__time_text(v->u, tmp + 1);
            tmp[0] = tmp[n + 1] = '"';
            qry__buf_put(b, fmt == QRY_FMT_JSON ? tmp : tmp + 1, fmt == QRY_FMT_JSON ? n + 2 : n);
        }
        break;
    case K_ADDR:
        n = qry__addr_text(v->addr, tmp + 1);
        tmp[0] = tmp[n + 1] = '"';
        qry__buf_put(b, fmt == QRY_FMT_JSON ? tmp : tmp + 1, fmt == QRY_FMT_JSON ? n + 2 : n);
        break;
    case K_ENUM: {
        const char *name = qry__enum_name(field, v->u);
        qry__fmt_str(b, fmt, name, strlen(name));
        break;
    }
    default:
        qry__fmt_str(b, fmt, v->s, strlen(v->s));
        break;
    }
}

size_t
qry__rec_line(const struct flow_rec *r, const struct qry__names *nm, char *buf, size_t cap)
{
    struct qry__buf b = {0};
    struct qry__val v;
    for (size_t i = 0; i < qry__ndefault_cols; i++) {
        if (i > 0) {
            qry__buf_put(&b, " ", 1);
        }
        qry__rec_get(r, qry__default_cols[i], nm, &v);
        qry__fmt_val(&b, QRY_FMT_TEXT, &v, qry__default_cols[i]);
    }
    size_t n = b.len < cap ? b.len : cap - 1;
    if (b.p != NULL) {
        memcpy(buf, b.p, n);
    }
    buf[n] = '\0';
    qry__buf_free(&b);
    return n;
}

/* ---- rows of named text values (WINDOWS, STATS, EXPORTERS, FLOWLOG DESCRIBE) ---- */

static bool
numeric(const char *v)
{
    if (*v == '\0') {
        return false;
    }
    for (; *v; v++) {
        if (!isdigit((unsigned char) *v)) {
            return false;
        }
    }
    return true;
}

void
qry__fmt_row(struct qry__buf *b, enum qry_fmt fmt, bool *header, size_t n, const char *const *names,
             const char *const *values)
{
    if (fmt == QRY_FMT_CSV && !*header) {
        for (size_t i = 0; i < n; i++) {
            qry__buf_put(b, ",", i > 0);
            qry__fmt_str(b, fmt, names[i], strlen(names[i]));
        }
        qry__buf_put(b, "\n", 1);
    }
    *header = true;
    size_t start = b->len;
    qry__buf_put(b, "{", fmt == QRY_FMT_JSON);
    for (size_t i = 0; i < n; i++) {
        if (fmt == QRY_FMT_JSON) {
            qry__buf_put(b, ",", i > 0);
            qry__fmt_str(b, fmt, names[i], strlen(names[i]));
            qry__buf_put(b, ":", 1);
            if (values[i][0] == '\0') {
                qry__buf_puts(b, "null");
            } else if (numeric(values[i])) {
                qry__buf_puts(b, values[i]);
            } else {
                qry__fmt_str(b, fmt, values[i], strlen(values[i]));
            }
            continue;
        }
        qry__buf_put(b, fmt == QRY_FMT_CSV ? "," : " ", i > 0);
        if (values[i][0] == '\0' && fmt == QRY_FMT_TEXT) {
            qry__buf_put(b, "-", 1);
        } else {
            qry__fmt_str(b, fmt, values[i], strlen(values[i]));
        }
    }
    qry__buf_put(b, "}", fmt == QRY_FMT_JSON);
    if ((b->len - start >= 3 && memcmp(b->p + start, "OK ", 3) == 0) ||
        (b->len - start >= 4 && memcmp(b->p + start, "ERR ", 4) == 0)) {
        /* cannot happen with our names, but the framing rule is absolute */
        b->p[start] = '_';
    }
    qry__buf_put(b, "\n", 1);
}
