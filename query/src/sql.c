/* SPDX-License-Identifier: MIT */
/*
 * Query filters and field values as ClickHouse SQL expressions over the scale-out schema
 * (docs/scale-out.md). Each field's value is the column when the record carries it
 * (the `present` bits of struct flow_rec, the same test as ast.c's qry__rec_get) and NULL
 * otherwise, so that no comparison is true on a missing value, as in the local engine
 * (docs/query.md, "Missing values"). Addresses are FixedString(16) in the record's byte
 * order, so a CIDR is a byte range. Globs are case-insensitive LIKE over the value's text
 * as the text format shows it. What does not translate exactly is refused with QRY_E_PARSE:
 * the flow-log labels (region, vpc-id, eni-id: not in the schema) and a /regex/ on the whole
 * text line. The stages are sql_stage.c's.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "flow.h"
#include "flow_cidr.h"
#include "sql_int.h"

/* A field's column expression and the condition under which the record carries it. */
struct sqlfield {
    const char *col;  /* NULL: not in the schema */
    const char *pres; /* NULL: always present */
};

#define BIT(b) "bitAnd(present, " #b ") != 0"

static const struct sqlfield sqlfields[F_NFIELDS] = {
    [F_FLOWLOG] = {"flowlog", "flowlog != ''"},
    [F_VERSION] = {"version", "version != 0"},
    [F_EXPORTER] = {"exporter", "exporter != toFixedString(unhex('"
                                "00000000000000000000000000000000'), 16)"},
    [F_DOMAIN] = {"domain", NULL},
    [F_INSTANCE] = {"instance_id", BIT(16384) " AND instance_id != ''"},
    [F_SNID] = {"snid", BIT(32768) " AND snid != ''"},
    [F_ACCOUNT] = {"account_id", BIT(65536) " AND account_id != ''"},
    [F_REGION] = {NULL, NULL},
    [F_VPC] = {NULL, NULL},
    [F_ENI] = {NULL, NULL},
    [F_SRCADDR] = {"srcaddr", BIT(1)},
    [F_DSTADDR] = {"dstaddr", BIT(2)},
    [F_SRCPORT] = {"srcport", BIT(4)},
    [F_DSTPORT] = {"dstport", BIT(8)},
    [F_PROTOCOL] = {"protocol", BIT(16)},
    [F_PACKETS] = {"packets", BIT(32)},
    [F_BYTES] = {"bytes", BIT(64)},
    [F_START] = {"start_ms", NULL},
    [F_END] = {"end_ms", NULL},
    [F_TCPFLAGS] = {"tcp_flags", BIT(128)},
    [F_TOS] = {"tos", BIT(256)},
    [F_INPORT] = {"inport", BIT(512)},
    [F_OUTPORT] = {"outport", BIT(1024)},
    [F_DIRECTION] = {"direction", BIT(2048) " AND direction != 0"},
    [F_ACTION] = {"action", NULL},
    [F_LOGSTATUS] = {"log_status", NULL},
    [F_RTT] = {"rtt_us", BIT(4096)},
    [F_SAMPLING] = {"sampling", BIT(8192)},
    [F_WINDOW] = {"(toUInt64(window) * 1000)", NULL},
};

static int
refuse(struct qry_error *err, int col, const char *fmt, const char *what)
{
    err->col = col;
    err->limited = false;
    snprintf(err->msg, sizeof(err->msg), fmt, what);
    return QRY_E_PARSE;
}

static int
no_column(struct qry_error *err, int col, int f)
{
    return refuse(err, col, "'%s' is a flow-log label, not stored in ClickHouse; use BACKEND local",
                  f < 0 ? "line" : qry__fields[f].name);
}

void
qry__sql_str(struct qry__buf *b, const char *s, size_t n)
{
    qry__buf_put(b, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'' || s[i] == '\\') {
            qry__buf_put(b, "\\", 1);
        }
        qry__buf_put(b, &s[i], 1);
    }
    qry__buf_put(b, "'", 1);
}

static void
put_present(struct qry__buf *b, int f)
{
    qry__buf_puts(b, sqlfields[f].pres != NULL ? sqlfields[f].pres : "1");
}

void
qry__sql_present(struct qry__buf *b, int f)
{
    put_present(b, f);
}

const char *
qry__sql_col(int f)
{
    return f >= 0 && f < F_NFIELDS ? sqlfields[f].col : NULL;
}

int
qry__sql_field(struct qry__buf *b, int f)
{
    if (f < 0 || f >= F_NFIELDS || sqlfields[f].col == NULL) {
        return -1;
    }
    if (sqlfields[f].pres == NULL) {
        qry__buf_puts(b, sqlfields[f].col);
        return 0;
    }
    /* Addresses as hex text: clean in TabSeparated and JSON, and ordered as the bytes. */
    qry__buf_printf(b, qry__fields[f].kind == K_ADDR ? "if(%s, hex(%s), NULL)" : "if(%s, %s, NULL)",
                    sqlfields[f].pres, sqlfields[f].col);
    return 0;
}

/* The value's text as qry__val_text shows it (addresses dotted or RFC 5952, times in
 * seconds, enums by name); only used where the field is present. */
static void
put_text(struct qry__buf *b, int f)
{
    const char *c = sqlfields[f].col;
    switch (qry__fields[f].kind) {
    case K_TEXT:
        qry__buf_puts(b, c);
        break;
    case K_TIME:
        qry__buf_printf(b, "toString(intDiv(%s, 1000))", c);
        break;
    case K_ADDR:
        qry__buf_printf(b, "replaceRegexpOne(IPv6NumToString(%s), '^::ffff:', '')", c);
        break;
    case K_ENUM: {
        unsigned n = f == F_ACTION ? 2 : 3;
        qry__buf_printf(b, "transform(toUInt64(%s), [0, 1, 2], [", c);
        for (unsigned i = 0; i < 3; i++) {
            const char *name = i < n ? qry__enum_name(f, i) : "?";
            qry__buf_printf(b, "%s'%s'", i > 0 ? ", " : "", name);
        }
        qry__buf_puts(b, "], '?')");
        break;
    }
    default:
        qry__buf_printf(b, "toString(%s)", c);
        break;
    }
}

/* A glob (* and ?, case-insensitive) as a LIKE pattern over lower-case text. */
static void
put_like(struct qry__buf *b, const char *glob)
{
    qry__buf_put(b, "'", 1);
    for (const char *p = glob; *p != '\0'; p++) {
        char c = (char) tolower((unsigned char) *p);
        if (c == '*') {
            qry__buf_put(b, "%", 1);
        } else if (c == '?') {
            qry__buf_put(b, "_", 1);
        } else if (c == '%' || c == '_' || c == '\\') {
            /* LIKE's escape, itself escaped in the string literal. */
            qry__buf_puts(b, c == '\\' ? "\\\\\\\\" : "\\\\");
            if (c != '\\') {
                qry__buf_put(b, &c, 1);
            }
        } else if (c == '\'') {
            qry__buf_puts(b, "\\'");
        } else {
            qry__buf_put(b, &c, 1);
        }
    }
    qry__buf_put(b, "'", 1);
}

static void
put_glob(struct qry__buf *b, int f, const char *glob)
{
    qry__buf_puts(b, "lower(");
    put_text(b, f);
    qry__buf_puts(b, ") LIKE ");
    put_like(b, glob);
}

static void
put_bytes(struct qry__buf *b, const uint8_t a[16])
{
    qry__buf_puts(b, "toFixedString(unhex('");
    for (int i = 0; i < 16; i++) {
        qry__buf_printf(b, "%02x", a[i]);
    }
    qry__buf_puts(b, "'), 16)");
}

static void
put_cidr(struct qry__buf *b, const char *col, const struct flow_cidr *c)
{
    uint8_t lo[16], hi[16];
    flow_cidr_range(c, lo, hi);
    qry__buf_printf(b, "%s BETWEEN ", col);
    put_bytes(b, lo);
    qry__buf_puts(b, " AND ");
    put_bytes(b, hi);
}

static void
put_val(struct qry__buf *b, int f, const struct qry__term_val *v)
{
    const char *c = sqlfields[f].col;
    switch (v->how) {
    case V_RANGE:
        if (v->lo == v->hi) {
            qry__buf_printf(b, "%s = %llu", c, (unsigned long long) v->lo);
        } else {
            qry__buf_printf(b, "%s BETWEEN %llu AND %llu", c, (unsigned long long) v->lo,
                            (unsigned long long) v->hi);
        }
        break;
    case V_CIDR:
        put_cidr(b, c, &v->cidr);
        break;
    case V_TEXT:
        qry__buf_printf(b, "%s = ", c);
        qry__sql_str(b, v->text, strlen(v->text));
        break;
    case V_GLOB:
        put_glob(b, f, v->text);
        break;
    default:
        qry__buf_puts(b, "1");
        break;
    }
}

static int
put_field_term(struct qry__buf *b, const struct qry__node *n, struct qry_error *err)
{
    if (sqlfields[n->field].col == NULL) {
        return no_column(err, n->col, n->field);
    }
    qry__buf_puts(b, "((");
    put_present(b, n->field);
    qry__buf_puts(b, n->op == OP_NE ? ") AND NOT (" : ") AND (");
    for (size_t i = 0; i < n->nvals; i++) {
        qry__buf_puts(b, i > 0 ? " OR (" : "(");
        put_val(b, n->field, &n->vals[i]);
        qry__buf_puts(b, ")");
    }
    if (n->nvals == 0) {
        qry__buf_puts(b, "1");
    }
    qry__buf_puts(b, "))");
    return 0;
}

/* One field's part of a plain keyword (keyword_field in plan.c), or nothing (0). */
static int
put_kw_field(struct qry__buf *b, const struct qry__node *n, int f)
{
    const char *c = sqlfields[f].col;
    int e;
    switch (qry__fields[f].kind) {
    case K_NUM:
        if (f == F_PROTOCOL && n->kw_proto >= 0) {
            qry__buf_printf(b, "%s = %d", c, n->kw_proto);
            return 1;
        }
        if (n->kw_num) {
            qry__buf_printf(b, "%s = %llu", c, (unsigned long long) n->kw_u);
        }
        return n->kw_num;
    case K_TIME:
        if (n->kw_num) {
            qry__buf_printf(b, "intDiv(%s, 1000) = %llu", c, (unsigned long long) n->kw_u);
        }
        return n->kw_num;
    case K_TEXT:
        qry__buf_printf(b, "lower(%s) = lower(", c);
        qry__sql_str(b, n->text, strlen(n->text));
        qry__buf_puts(b, ")");
        return 1;
    case K_ENUM:
        e = qry__enum_num(f, n->text, strlen(n->text));
        if (e >= 0) {
            qry__buf_printf(b, "%s = %d", c, e);
        }
        return e >= 0;
    default:
        return 0;
    }
}

/* One field's part of a glob keyword: its text, and for protocol also its name. */
static int
put_kw_glob(struct qry__buf *b, const struct qry__node *n, int f)
{
    put_glob(b, f, n->text);
    if (f == F_PROTOCOL) {
        qry__buf_puts(b, " OR lower(transform(toUInt64(protocol), [");
        const char *sep = "";
        struct qry__buf names = {0};
        for (unsigned p = 0; p < 256; p++) {
            const char *pn = qry__proto_name(p);
            if (pn != NULL) {
                qry__buf_printf(b, "%s%u", sep, p);
                qry__buf_printf(&names, "%s'%s'", sep, pn);
                sep = ", ";
            }
        }
        qry__buf_put(b, "], [", 4);
        qry__buf_put(b, names.p, names.len);
        b->oom |= names.oom;
        qry__buf_free(&names);
        qry__buf_puts(b, "], '')) LIKE ");
        put_like(b, n->text);
    }
    return 1;
}

/* A keyword (plan.c's keyword_match): an address or CIDR over the three address fields;
 * otherwise any field whose text equals the word (or matches the glob), ignoring case. */
static int
put_keyword(struct qry__buf *b, const struct qry__node *n)
{
    static const uint8_t af[3] = {F_SRCADDR, F_DSTADDR, F_EXPORTER};
    qry__buf_puts(b, "(0");
    for (int i = 0; n->kw_addr && i < 3; i++) {
        qry__buf_puts(b, " OR ((");
        put_present(b, af[i]);
        qry__buf_puts(b, ") AND ");
        put_cidr(b, sqlfields[af[i]].col, &n->kw_cidr);
        qry__buf_puts(b, ")");
    }
    for (int f = 0; !n->kw_addr && f < F_NFIELDS; f++) {
        if (sqlfields[f].col == NULL) {
            continue;
        }
        struct qry__buf t = {0};
        int put = n->kw_glob ? put_kw_glob(&t, n, f) : put_kw_field(&t, n, f);
        if (put) {
            qry__buf_puts(b, " OR ((");
            put_present(b, f);
            qry__buf_puts(b, ") AND (");
            qry__buf_put(b, t.p, t.len);
            qry__buf_puts(b, "))");
        }
        b->oom |= t.oom;
        qry__buf_free(&t);
    }
    qry__buf_puts(b, ")");
    return 0;
}

static int
put_regex(struct qry__buf *b, const struct qry__node *n, struct qry_error *err)
{
    if (n->field < 0) {
        return refuse(err, n->col, "%s",
                      "a /regex/ on the whole text line does not translate to ClickHouse; "
                      "use field ~ /regex/ or BACKEND local");
    }
    if (sqlfields[n->field].col == NULL) {
        return no_column(err, n->col, n->field);
    }
    qry__buf_puts(b, "((");
    put_present(b, n->field);
    qry__buf_puts(b, ") AND match(");
    put_text(b, n->field);
    qry__buf_puts(b, ", '");
    int rc = qry__sql_regex(b, n->text, err);
    if (rc < 0) {
        err->col = n->col;
        return rc;
    }
    qry__buf_puts(b, "'))");
    return 0;
}

static int
put_node(struct qry__buf *b, const struct qry__node *n, struct qry_error *err)
{
    int rc = 0;
    switch (n->kind) {
    case N_AND:
    case N_OR:
        /* Recursion goes only as deep as '(' and 'not' nest (QRY_DEPTH_MAX). */
        qry__buf_puts(b, "(");
        for (size_t i = 0; i < n->nkids && rc == 0; i++) {
            if (i > 0) {
                qry__buf_puts(b, n->kind == N_AND ? " AND " : " OR ");
            }
            rc = put_node(b, n->kids[i], err);
        }
        qry__buf_puts(b, ")");
        return rc;
    case N_NOT:
        qry__buf_puts(b, "NOT ");
        return put_node(b, n->a, err);
    case N_KEYWORD:
        return put_keyword(b, n);
    case N_FIELD:
        return put_field_term(b, n, err);
    case N_REGEX:
        return put_regex(b, n, err);
    default:
        return refuse(err, n->col, "%s", "this term does not translate to ClickHouse");
    }
}

int
qry__sql_where(struct qry__buf *b, const struct qry *q, struct qry_error *err)
{
    if (q->has_range) {
        qry__buf_printf(b, "end_ms >= %llu AND end_ms < %llu", (unsigned long long) q->from_ms,
                        (unsigned long long) q->to_ms);
    }
    if (q->expr == NULL) {
        if (!q->has_range) {
            qry__buf_puts(b, "1");
        }
        return 0;
    }
    if (q->has_range) {
        qry__buf_puts(b, " AND ");
    }
    return put_node(b, q->expr, err);
}
