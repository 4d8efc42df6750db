/* SPDX-License-Identifier: MIT */
/*
 * The query parser: recursive descent over lex.c's tokens into the AST of qry_int.h, with the
 * source column of every node, so that errors say where (`col 17: expected a value after
 * ':'`). Values are typed here, by the field they are compared with (docs/query.md §Terms),
 * so a bad address or number is reported at its own column. Reentrant: all state is in
 * struct parser; everything allocated lives in the query's arena.
 *
 * Grammar (docs/query.md has it in full):
 *   query  := [range] [expr] ('|' stage)*
 *   range  := 'last' DURATION | 'since' TIME ['until' TIME]
 *   expr   := and ('or' and)* ; and := not (['and'] not)* ; not := 'not' not | primary
 *   primary:= '(' expr ')' | REGEX | STRING | '*' | WORD | field ':' value
 *           | field op value | field 'in' '(' value (',' value)* ')' | field '~' REGEX
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "qry_int.h"

struct parser {
    struct qry *q;
    struct qry__lexer lx;
    struct qry__tok cur, nxt;
    struct qry_error *err;
    int rc;
    uint64_t now_ms;
    /* columns available to stages after an aggregation (NULL before one) */
    size_t nout;
    const char *out[64];
    bool aggregated;
    bool sorted;  /* a record-phase sort was seen */
    int depth;    /* '(' and 'not' open around the current token, at most QRY_DEPTH_MAX */
    size_t nodes; /* AST nodes made, at most QRY_NODES_MAX */
};

static void
advance(struct parser *p)
{
    p->cur = p->nxt;
    if (p->cur.kind != T_EOF) {
        qry__lex_next(&p->lx, &p->nxt);
    }
}

static bool
failed(const struct parser *p)
{
    return p->rc != 0;
}

__attribute__((format(printf, 3, 4))) static void
fail(struct parser *p, int col, const char *fmt, ...)
{
    if (p->rc != 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    p->err->col = col;
    p->rc = QRY_E_PARSE;
}

static void *
palloc(struct parser *p, size_t n)
{
    void *m = qry__alloc(&p->q->arena, n);
    if (m == NULL && p->rc == 0) {
        p->rc = -ENOMEM;
        snprintf(p->err->msg, sizeof(p->err->msg), "out of memory");
    }
    return m;
}

static bool
word_is(const struct qry__tok *t, const char *w)
{
    return t->kind == T_WORD && t->len == strlen(w) && strncasecmp(t->text, w, t->len) == 0;
}

/* Token as a printable snippet for messages. */
static const char *
tok_desc(const struct qry__tok *t, char *buf, size_t cap)
{
    if (t->kind == T_EOF) {
        return "end of query";
    }
    size_t n = t->len > 40 ? 40 : t->len;
    snprintf(buf, cap, "'%.*s%s'", (int) n, t->text, t->len > 40 ? "..." : "");
    return buf;
}

static void
unknown_field(struct parser *p, int col, const char *name, size_t len)
{
    char list[512];
    qry__field_list(list, sizeof(list));
    fail(p, col, "unknown field '%.*s'; known fields: %s", (int) (len > 40 ? 40 : len), name, list);
}

/* ---- range ---- */

static bool
token_time(struct parser *p, uint64_t *ms, const char *after)
{
    char b[64];
    if (p->cur.kind != T_WORD && p->cur.kind != T_STRING) {
        fail(p, p->cur.col, "expected a time after '%s', got %s", after,
             tok_desc(&p->cur, b, sizeof(b)));
        return false;
    }
    if (word_is(&p->cur, "now")) {
        *ms = p->now_ms;
    } else if (qry__parse_time(p->cur.text, p->cur.len, ms) != 0) {
        fail(p, p->cur.col,
             "bad time %s: use RFC 3339 (2026-11-21T10:00Z, 2026-11-21) or Unix seconds",
             tok_desc(&p->cur, b, sizeof(b)));
        return false;
    }
    advance(p);
    return true;
}

static void
parse_range(struct parser *p)
{
    struct qry *q = p->q;
    char b[64];
    q->from_ms = 0;
    q->to_ms = UINT64_MAX;
    if (word_is(&p->cur, "last")) {
        uint64_t d;
        advance(p);
        if (p->cur.kind != T_WORD || qry__parse_duration(p->cur.text, p->cur.len, &d) != 0) {
            fail(p, p->cur.col, "expected a duration after 'last' (15m, 1h, 7d), got %s",
                 tok_desc(&p->cur, b, sizeof(b)));
            return;
        }
        q->from_ms = d < p->now_ms ? p->now_ms - d : 0;
        q->has_range = true;
        advance(p);
    } else if (word_is(&p->cur, "since")) {
        advance(p);
        if (!token_time(p, &q->from_ms, "since")) {
            return;
        }
        q->has_range = true;
        if (word_is(&p->cur, "until")) {
            int col = p->cur.col;
            advance(p);
            if (!token_time(p, &q->to_ms, "until")) {
                return;
            }
            if (q->to_ms <= q->from_ms) {
                fail(p, col, "'until' must come after 'since'");
            }
        }
    }
}

/* ---- typed values ---- */

static bool
has_wild(const char *s, size_t n)
{
    return memchr(s, '*', n) != NULL || memchr(s, '?', n) != NULL;
}

static void
op_range(struct qry__term_val *v, uint8_t op, uint64_t x)
{
    v->how = V_RANGE;
    v->lo = x;
    v->hi = x;
    switch (op) {
    case OP_LT:
        v->lo = 0;
        v->hi = x - 1;
        if (x == 0) {
            v->lo = 1;
            v->hi = 0;
        }
        break;
    case OP_LE:
        v->lo = 0;
        break;
    case OP_GT:
        v->lo = x + 1;
        v->hi = UINT64_MAX;
        if (x == UINT64_MAX) {
            v->lo = 1;
            v->hi = 0;
        }
        break;
    case OP_GE:
        v->hi = UINT64_MAX;
        break;
    default:
        break;
    }
}

static void
typed_num(struct parser *p, int f, uint8_t op, const char *s, size_t n, int col,
          struct qry__term_val *v)
{
    const char *name = qry__fields[f].name;
    uint64_t x;
    int pn;
    if (f == F_PROTOCOL && (pn = qry__proto_num(s, n)) >= 0) {
        op_range(v, op, (uint64_t) pn);
    } else if (qry__parse_u64(s, n, true, &x) == 0) {
        op_range(v, op, x);
    } else if ((op == OP_EQ || op == OP_NE || op == OP_IN) && has_wild(s, n)) {
        v->how = V_GLOB;
        v->text = qry__strndup(&p->q->arena, s, n);
    } else {
        fail(p, col, "expected a number%s for '%s', got '%.*s'",
             f == F_PROTOCOL ? " or protocol name (tcp, udp, icmp, ...)" : " (10, 10k, 10M, 1G)",
             name, (int) (n > 40 ? 40 : n), s);
    }
}

static void
typed_value(struct parser *p, int f, uint8_t op, const char *s, size_t n, int col,
            struct qry__term_val *v)
{
    const char *name = qry__fields[f].name;
    uint8_t kind = qry__fields[f].kind;
    bool eq = op == OP_EQ || op == OP_NE || op == OP_IN;
    bool plen;
    uint64_t t;
    int e;

    if (n == 1 && s[0] == '*' && op == OP_EQ) {
        v->how = V_PRESENT;
        return;
    }
    if (!eq && kind != K_NUM && kind != K_TIME) {
        fail(p, col - 1, "'%s' is not a number or a time: compare it with ':', '!=' or 'in'", name);
        return;
    }
    switch (kind) {
    case K_NUM:
        typed_num(p, f, op, s, n, col, v);
        break;
    case K_TIME:
        if (qry__parse_time(s, n, &t) != 0) {
            fail(p, col, "expected a time for '%s' (RFC 3339 or Unix seconds), got '%.*s'", name,
                 (int) (n > 40 ? 40 : n), s);
            break;
        }
        op_range(v, op, t);
        if (eq) {
            v->hi = t + 999; /* a time given to the second covers that second */
        }
        break;
    case K_ADDR:
        if (flow_cidr_parse(s, n, &v->cidr, &plen) == 0) {
            v->how = V_CIDR;
        } else if (has_wild(s, n)) {
            v->how = V_GLOB;
            v->text = qry__strndup(&p->q->arena, s, n);
        } else {
            fail(p, col, "expected an address or CIDR for '%s', got '%.*s'", name,
                 (int) (n > 40 ? 40 : n), s);
        }
        break;
    case K_ENUM:
        if ((e = qry__enum_num(f, s, n)) >= 0) {
            op_range(v, OP_EQ, (uint64_t) e);
        } else if (has_wild(s, n)) {
            v->how = V_GLOB;
            v->text = qry__strndup(&p->q->arena, s, n);
        } else {
            fail(p, col, "expected %s for '%s', got '%.*s'",
                 f == F_ACTION      ? "ACCEPT or REJECT"
                 : f == F_LOGSTATUS ? "OK, NODATA or SKIPDATA"
                                    : "in or out",
                 name, (int) (n > 40 ? 40 : n), s);
        }
        break;
    default:
        v->how = has_wild(s, n) ? V_GLOB : V_TEXT;
        v->text = qry__strndup(&p->q->arena, s, n);
        break;
    }
}

static struct qry__node *
new_node(struct parser *p, uint8_t kind, int col)
{
    if (p->nodes == QRY_NODES_MAX) {
        fail(p, col, "too many terms (at most %d)", QRY_NODES_MAX);
        p->err->limited = true;
        return NULL;
    }
    p->nodes++;
    struct qry__node *n = palloc(p, sizeof(*n));
    if (n != NULL) {
        n->kind = kind;
        n->col = col;
        n->field = -1;
        n->kw_proto = -1;
    }
    return n;
}

/* A regex term, linked into the query's list of them (plan.c compiles, qry_free frees). */
static struct qry__node *
regex_node(struct parser *p, int col)
{
    struct qry__node *n = new_node(p, N_REGEX, col);
    if (n != NULL) {
        n->next_re = p->q->regexes;
        p->q->regexes = n;
    }
    return n;
}

/* A value token for a field term: WORD or STRING. */
static bool
value_token(const struct qry__tok *t)
{
    return t->kind == T_WORD || t->kind == T_STRING;
}

static struct qry__node *
field_term(struct parser *p, int f, uint8_t op, int col, const char *s, size_t n, int vcol)
{
    struct qry__node *node = new_node(p, N_FIELD, col);
    if (node == NULL) {
        return NULL;
    }
    node->field = f;
    node->op = op;
    node->nvals = 1;
    node->vals = palloc(p, sizeof(*node->vals));
    if (node->vals != NULL) {
        typed_value(p, f, op, s, n, vcol, node->vals);
    }
    return node;
}

static struct qry__node *
in_term(struct parser *p, int f, int col)
{
    struct qry__node *node = new_node(p, N_FIELD, col);
    struct qry__term_val vals[STOR_MATCH_MAX * 4];
    char b[64];
    size_t n = 0;

    if (node == NULL) {
        return NULL;
    }
    advance(p); /* 'in' */
    if (p->cur.kind != T_LPAREN) {
        fail(p, p->cur.col, "expected '(' after 'in', got %s", tok_desc(&p->cur, b, sizeof(b)));
        return NULL;
    }
    advance(p);
    for (;;) {
        if (!value_token(&p->cur)) {
            fail(p, p->cur.col, "expected a value in the 'in' list, got %s",
                 tok_desc(&p->cur, b, sizeof(b)));
            return NULL;
        }
        if (n == sizeof(vals) / sizeof(vals[0])) {
            fail(p, p->cur.col, "at most %zu values in an 'in' list", n);
            return NULL;
        }
        memset(&vals[n], 0, sizeof(vals[n]));
        typed_value(p, f, OP_IN, p->cur.text, p->cur.len, p->cur.col, &vals[n++]);
        advance(p);
        if (failed(p) || p->cur.kind != T_COMMA) {
            break;
        }
        advance(p);
    }
    if (!failed(p) && p->cur.kind != T_RPAREN) {
        fail(p, p->cur.col, "expected ',' or ')' in the 'in' list, got %s",
             tok_desc(&p->cur, b, sizeof(b)));
    }
    if (failed(p)) {
        return NULL;
    }
    advance(p);
    node->field = f;
    node->op = OP_IN;
    node->nvals = n;
    node->vals = palloc(p, n * sizeof(*vals));
    if (node->vals != NULL) {
        memcpy(node->vals, vals, n * sizeof(*vals));
    }
    return node;
}

static struct qry__node *
keyword(struct parser *p, const char *s, size_t n, int col)
{
    struct qry__node *node = new_node(p, N_KEYWORD, col);
    bool plen;
    if (node == NULL) {
        return NULL;
    }
    node->text = qry__strndup(&p->q->arena, s, n);
    node->kw_glob = has_wild(s, n);
    if (!node->kw_glob) {
        node->kw_addr = flow_cidr_parse(s, n, &node->kw_cidr, &plen) == 0;
        node->kw_num = qry__parse_u64(s, n, false, &node->kw_u) == 0;
        node->kw_proto = qry__proto_num(s, n);
    }
    return node;
}

static uint8_t
tok_op(uint8_t kind)
{
    switch (kind) {
    case T_EQ:
        return OP_EQ;
    case T_NE:
        return OP_NE;
    case T_LT:
        return OP_LT;
    case T_LE:
        return OP_LE;
    case T_GT:
        return OP_GT;
    case T_GE:
        return OP_GE;
    default:
        return 0xff;
    }
}

static bool
ident_like(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

/* field:value inside one WORD (value may also be the adjacent STRING). */
static struct qry__node *
colon_term(struct parser *p, const char *colon)
{
    struct qry__tok w = p->cur;
    size_t flen = (size_t) (colon - w.text);
    int f = qry__field_find(w.text, flen);
    const char *val = colon + 1;
    size_t vlen = w.len - flen - 1;
    int vcol = w.col + (int) flen + 1;
    bool plen;
    struct flow_cidr c;

    if (f < 0) {
        if (flow_cidr_parse(w.text, w.len, &c, &plen) == 0 || !ident_like(w.text, flen)) {
            advance(p);
            return keyword(p, w.text, w.len, w.col);
        }
        unknown_field(p, w.col, w.text, flen);
        return NULL;
    }
    advance(p);
    if (vlen == 0) {
        if (p->cur.kind == T_STRING && !p->cur.spaced) {
            struct qry__tok s = p->cur;
            advance(p);
            return field_term(p, f, OP_EQ, w.col, s.text, s.len, s.col);
        }
        fail(p, vcol, "expected a value after ':'");
        return NULL;
    }
    return field_term(p, f, OP_EQ, w.col, val, vlen, vcol);
}

static struct qry__node *parse_or(struct parser *p);

/* Enter one level of '(' or 'not'; false (and the error) past QRY_DEPTH_MAX. */
static bool
nest(struct parser *p, int col)
{
    if (p->depth == QRY_DEPTH_MAX) {
        fail(p, col, "nesting too deep");
        p->err->limited = true;
        return false;
    }
    p->depth++;
    return true;
}

static struct qry__node *
word_term(struct parser *p)
{
    struct qry__tok w = p->cur;
    uint8_t op = tok_op(p->nxt.kind);
    char b[64];

    if (op != 0xff || p->nxt.kind == T_TILDE ||
        (word_is(&p->nxt, "in") && qry__field_find(w.text, w.len) >= 0)) {
        int f = qry__field_find(w.text, w.len);
        if (f < 0) {
            unknown_field(p, w.col, w.text, w.len);
            return NULL;
        }
        if (word_is(&p->nxt, "in")) {
            advance(p);
            return in_term(p, f, w.col);
        }
        advance(p);
        if (p->cur.kind == T_TILDE) {
            advance(p);
            if (p->cur.kind != T_REGEX) {
                fail(p, p->cur.col, "expected /regex/ after '~', got %s",
                     tok_desc(&p->cur, b, sizeof(b)));
                return NULL;
            }
            struct qry__node *n = regex_node(p, w.col);
            if (n != NULL) {
                n->field = f;
                n->text = p->cur.text;
            }
            advance(p);
            return n;
        }
        struct qry__tok optok = p->cur;
        uint8_t kind = qry__fields[f].kind;
        if (op != OP_EQ && op != OP_NE && kind != K_NUM && kind != K_TIME) {
            fail(p, optok.col, "'%s' is not a number or a time: compare it with ':', '!=' or 'in'",
                 qry__fields[f].name);
            return NULL;
        }
        advance(p);
        if (!value_token(&p->cur)) {
            fail(p, p->cur.col, "expected a value after '%.*s'", (int) optok.len, optok.text);
            return NULL;
        }
        struct qry__tok v = p->cur;
        advance(p);
        return field_term(p, f, op, w.col, v.text, v.len, v.col);
    }
    const char *colon = memchr(w.text, ':', w.len);
    if (colon != NULL) {
        return colon_term(p, colon);
    }
    advance(p);
    return keyword(p, w.text, w.len, w.col);
}

static struct qry__node *
parse_primary(struct parser *p)
{
    char b[64];
    struct qry__node *n;
    int col = p->cur.col;

    switch (p->cur.kind) {
    case T_LPAREN:
        if (!nest(p, col)) {
            return NULL;
        }
        advance(p);
        n = parse_or(p);
        p->depth--;
        if (!failed(p) && p->cur.kind != T_RPAREN) {
            fail(p, p->cur.col, "expected ')' to close the '(' at col %d, got %s", col,
                 tok_desc(&p->cur, b, sizeof(b)));
        }
        advance(p);
        return n;
    case T_REGEX:
        n = regex_node(p, col);
        if (n != NULL) {
            n->text = p->cur.text;
        }
        advance(p);
        return n;
    case T_STRING: {
        struct qry__tok s = p->cur;
        advance(p);
        return keyword(p, s.text, s.len, s.col);
    }
    case T_WORD:
        return word_term(p);
    case T_ERROR:
        fail(p, col, "%.*s", (int) p->cur.len, p->cur.text);
        return NULL;
    default:
        fail(p, col, "expected a search term, got %s", tok_desc(&p->cur, b, sizeof(b)));
        return NULL;
    }
}

static struct qry__node *
parse_not(struct parser *p)
{
    if (!word_is(&p->cur, "not")) {
        return parse_primary(p);
    }
    int col = p->cur.col;
    if (!nest(p, col)) {
        return NULL;
    }
    advance(p);
    struct qry__node *n = new_node(p, N_NOT, col);
    if (n != NULL) {
        n->a = parse_not(p);
    }
    p->depth--;
    return n;
}

/*
 * An and/or chain becomes one n-ary node (qry_int.h), so a chain of thousands of terms is
 * as deep as one term and every walker loops over it instead of recursing.
 */
struct chain {
    struct qry__node *node; /* the first operand, then the n-ary node from the second on */
    size_t cap;             /* of node->kids */
};

static void
chain_add(struct parser *p, struct chain *c, uint8_t kind, struct qry__node *kid, int col)
{
    if (kid == NULL || failed(p)) {
        return;
    }
    if (c->node == NULL) {
        c->node = kid;
        return;
    }
    if (c->node->kind != kind || c->cap == 0) {
        struct qry__node *n = new_node(p, kind, col);
        if (n == NULL) {
            return;
        }
        c->cap = 4;
        n->kids = palloc(p, c->cap * sizeof(*n->kids));
        if (n->kids == NULL) {
            return;
        }
        n->kids[n->nkids++] = c->node;
        c->node = n;
    }
    struct qry__node *n = c->node;
    if (n->nkids == c->cap) {
        struct qry__node **kids = palloc(p, 2 * c->cap * sizeof(*kids));
        if (kids == NULL) {
            return;
        }
        memcpy(kids, n->kids, n->nkids * sizeof(*kids));
        n->kids = kids; /* the old array stays in the arena until the query is freed */
        c->cap *= 2;
    }
    n->kids[n->nkids++] = kid;
}

static bool
ends_and(const struct parser *p)
{
    uint8_t k = p->cur.kind;
    return k == T_EOF || k == T_PIPE || k == T_RPAREN || word_is(&p->cur, "or") || k == T_ERROR;
}

static struct qry__node *
parse_and(struct parser *p)
{
    struct chain c = {0};
    chain_add(p, &c, N_AND, parse_not(p), 0);
    while (!failed(p) && !ends_and(p)) {
        int col = p->cur.col;
        if (word_is(&p->cur, "and")) {
            advance(p);
        }
        chain_add(p, &c, N_AND, parse_not(p), col);
    }
    if (!failed(p) && p->cur.kind == T_ERROR) {
        fail(p, p->cur.col, "%.*s", (int) p->cur.len, p->cur.text);
    }
    return failed(p) ? NULL : c.node;
}

static struct qry__node *
parse_or(struct parser *p)
{
    struct chain c = {0};
    chain_add(p, &c, N_OR, parse_and(p), 0);
    while (!failed(p) && word_is(&p->cur, "or")) {
        int col = p->cur.col;
        advance(p);
        chain_add(p, &c, N_OR, parse_and(p), col);
    }
    return failed(p) ? NULL : c.node;
}

/* ---- stages ---- */

static const char *
out_find(const struct parser *p, const char *name)
{
    for (size_t i = 0; i < p->nout; i++) {
        if (strcasecmp(p->out[i], name) == 0) {
            return p->out[i];
        }
    }
    return NULL;
}

static void
out_add(struct parser *p, const char *name, int col)
{
    if (out_find(p, name) != NULL) {
        fail(p, col, "column '%s' named twice", name);
    } else if (p->nout == sizeof(p->out) / sizeof(p->out[0])) {
        fail(p, col, "too many columns");
    } else {
        p->out[p->nout++] = name;
    }
}

/* NAME or NAME '(' [NAME] ')' as canonical text; *field is the record field or -1. */
static const char *
colname(struct parser *p, int *field, int *col, bool want_agg, int *aggf)
{
    char b[64], name[160];
    struct qry__tok w = p->cur;
    *col = w.col;
    *field = -1;
    if (w.kind != T_WORD) {
        fail(p, w.col, "expected a field name, got %s", tok_desc(&w, b, sizeof(b)));
        return NULL;
    }
    advance(p);
    if (p->cur.kind == T_LPAREN && !p->cur.spaced) {
        int af = -1;
        advance(p);
        if (p->cur.kind == T_WORD) {
            if ((af = qry__field_find(p->cur.text, p->cur.len)) < 0) {
                unknown_field(p, p->cur.col, p->cur.text, p->cur.len);
                return NULL;
            }
            advance(p);
        }
        if (p->cur.kind != T_RPAREN) {
            fail(p, p->cur.col, "expected ')', got %s", tok_desc(&p->cur, b, sizeof(b)));
            return NULL;
        }
        advance(p);
        snprintf(name, sizeof(name), "%.*s(%s)", (int) (w.len > 40 ? 40 : w.len), w.text,
                 af >= 0 ? qry__fields[af].name : "");
        for (char *c = name; *c != '\0' && *c != '('; c++) {
            *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        }
        if (aggf != NULL) {
            *aggf = af;
        }
        return qry__strndup(&p->q->arena, name, strlen(name));
    }
    if (!want_agg) {
        *field = qry__field_find(w.text, w.len);
        if (*field >= 0) {
            return qry__fields[*field].name;
        }
    }
    if (aggf != NULL) {
        *aggf = -2; /* a bare name, no parentheses */
    }
    return qry__strndup(&p->q->arena, w.text, w.len);
}

/* A column reference for fields/sort/by: a field before aggregation, an output column after. */
static bool
colref(struct parser *p, struct qry__colref *c, bool group)
{
    const char *name = colname(p, &c->field, &c->col, false, NULL);
    if (name == NULL) {
        return false;
    }
    c->name = name;
    if (p->aggregated && !group) {
        const char *o = out_find(p, name);
        if (o == NULL && name[0] != '\0' && name[strlen(name) - 1] != ')') {
            char paren[160];
            snprintf(paren, sizeof(paren), "%s()", name);
            o = out_find(p, paren);
        }
        size_t nl = strlen(name);
        if (o == NULL && nl > 2 && strcmp(name + nl - 2, "()") == 0) {
            char bare[160];
            snprintf(bare, sizeof(bare), "%.*s", (int) (nl - 2), name);
            o = out_find(p, bare);
        }
        if (o == NULL) {
            char list[512] = "";
            for (size_t i = 0; i < p->nout; i++) {
                strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                strncat(list, p->out[i], sizeof(list) - strlen(list) - 1);
            }
            fail(p, c->col, "unknown column '%s'; columns here: %s", name, list);
            return false;
        }
        c->name = o;
        c->field = qry__field_find(o, strlen(o));
        return true;
    }
    if (c->field < 0) {
        unknown_field(p, c->col, name, strlen(name));
        return false;
    }
    return true;
}

static struct qry__colref *
colref_list(struct parser *p, size_t *n, bool group)
{
    struct qry__colref tmp[32];
    *n = 0;
    do {
        if (*n > 0) {
            advance(p); /* ',' */
        }
        if (*n == 32) {
            fail(p, p->cur.col, "at most 32 fields");
            return NULL;
        }
        if (!colref(p, &tmp[*n], group)) {
            return NULL;
        }
        (*n)++;
    } while (p->cur.kind == T_COMMA);
    struct qry__colref *out = palloc(p, *n * sizeof(*out));
    if (out != NULL) {
        memcpy(out, tmp, *n * sizeof(*out));
    }
    return out;
}

static bool
parse_count(struct parser *p, uint64_t *n, const char *after)
{
    char b[64];
    if (p->cur.kind != T_WORD || qry__parse_u64(p->cur.text, p->cur.len, true, n) != 0) {
        fail(p, p->cur.col, "expected a number after '%s', got %s", after,
             tok_desc(&p->cur, b, sizeof(b)));
        return false;
    }
    advance(p);
    return true;
}

static bool
parse_agg(struct parser *p, struct qry__agg *a)
{
    static const char *const names[] = {"count", "sum", "avg", "min", "max", "dc"};
    int col, field, af = -2;
    char b[64];
    struct qry__tok w = p->cur;
    const char *text = colname(p, &field, &col, true, &af);
    if (text == NULL) {
        return false;
    }
    size_t k = 0, wl = w.len;
    for (; k < 6; k++) {
        if (strlen(names[k]) == wl && strncasecmp(names[k], w.text, wl) == 0) {
            break;
        }
    }
    if (k == 6) {
        fail(p, col, "unknown aggregate '%.*s'; use count() sum(f) avg(f) min(f) max(f) dc(f)",
             (int) (wl > 40 ? 40 : wl), w.text);
        return false;
    }
    a->kind = (uint8_t) k;
    a->field = af >= 0 ? af : -1;
    if (k == A_COUNT && af >= 0) {
        fail(p, col, "count() takes no field");
        return false;
    }
    if (k != A_COUNT && af < 0) {
        fail(p, col, "%s() needs a field, as in %s(bytes)", names[k], names[k]);
        return false;
    }
    uint8_t kind = af >= 0 ? qry__fields[af].kind : K_NUM;
    if (k != A_COUNT && k != A_DC && kind != K_NUM && kind != K_TIME) {
        fail(p, col, "%s() needs a number or time field; '%s' is not one", names[k],
             qry__fields[af].name);
        return false;
    }
    a->name = k == A_COUNT ? "count" : text;
    if (word_is(&p->cur, "as")) {
        advance(p);
        if (p->cur.kind != T_WORD) {
            fail(p, p->cur.col, "expected a name after 'as', got %s",
                 tok_desc(&p->cur, b, sizeof(b)));
            return false;
        }
        a->name = qry__strndup(&p->q->arena, p->cur.text, p->cur.len);
        advance(p);
    }
    out_add(p, a->name, col);
    return !failed(p);
}

static void
stage_stats(struct parser *p, struct qry__stage *s)
{
    struct qry__agg tmp[16];
    size_t n = 0;
    p->nout = 0;
    do {
        if (n > 0) {
            advance(p);
        }
        if (n == 16) {
            fail(p, p->cur.col, "at most 16 aggregates");
            return;
        }
        memset(&tmp[n], 0, sizeof(tmp[n]));
        if (!parse_agg(p, &tmp[n++])) {
            return;
        }
    } while (p->cur.kind == T_COMMA);
    s->naggs = n;
    s->aggs = palloc(p, n * sizeof(*s->aggs));
    if (s->aggs != NULL) {
        memcpy(s->aggs, tmp, n * sizeof(*tmp));
    }
    if (word_is(&p->cur, "by")) {
        advance(p);
        s->cols = colref_list(p, &s->ncols, true);
        for (size_t i = 0; i < s->ncols && !failed(p); i++) {
            out_add(p, s->cols[i].name, s->cols[i].col);
        }
    }
}

static void
stage_top(struct parser *p, struct qry__stage *s)
{
    char b[64];
    if (!parse_count(p, &s->n, "top")) {
        return;
    }
    if (s->n == 0) {
        fail(p, p->cur.col - 2, "top needs N >= 1");
        return;
    }
    p->nout = 0;
    s->cols = colref_list(p, &s->ncols, true);
    for (size_t i = 0; i < s->ncols && !failed(p); i++) {
        out_add(p, s->cols[i].name, s->cols[i].col);
    }
    s->top_by = 2;
    if (!failed(p) && word_is(&p->cur, "by")) {
        advance(p);
        if (word_is(&p->cur, "flows")) {
            s->top_by = 0;
        } else if (word_is(&p->cur, "packets")) {
            s->top_by = 1;
        } else if (!word_is(&p->cur, "bytes")) {
            fail(p, p->cur.col, "expected bytes, packets or flows after 'by', got %s",
                 tok_desc(&p->cur, b, sizeof(b)));
            return;
        }
        advance(p);
    }
    out_add(p, "flows", s->col);
    out_add(p, "packets", s->col);
    out_add(p, "bytes", s->col);
}

static void
stage_timechart(struct parser *p, struct qry__stage *s)
{
    char b[64];
    if (p->cur.kind != T_WORD || qry__parse_duration(p->cur.text, p->cur.len, &s->span_ms) != 0) {
        fail(p, p->cur.col, "expected a span after 'timechart' (1m, 5m, 1h), got %s",
             tok_desc(&p->cur, b, sizeof(b)));
        return;
    }
    advance(p);
    p->nout = 0;
    out_add(p, "_time", s->col);
    s->aggs = palloc(p, sizeof(*s->aggs));
    s->naggs = 1;
    if (s->aggs == NULL || !parse_agg(p, s->aggs)) {
        return;
    }
    if (word_is(&p->cur, "by")) {
        advance(p);
        s->ncols = 1;
        s->cols = palloc(p, sizeof(*s->cols));
        if (s->cols != NULL && colref(p, s->cols, true)) {
            out_add(p, s->cols->name, s->cols->col);
        }
    }
}

static void
parse_stage(struct parser *p, struct qry__stage *s)
{
    char b[64];
    struct qry__tok w = p->cur;
    s->col = w.col;
    if (w.kind != T_WORD) {
        fail(p, w.col, "expected a stage after '|', got %s", tok_desc(&w, b, sizeof(b)));
        return;
    }
    advance(p);
    bool agg = word_is(&w, "stats") || word_is(&w, "top") || word_is(&w, "timechart");
    if (agg && p->aggregated) {
        fail(p, w.col, "only one stats, top or timechart per query");
        return;
    }
    if (word_is(&w, "fields")) {
        s->kind = S_FIELDS;
        s->cols = colref_list(p, &s->ncols, false);
    } else if (word_is(&w, "sort")) {
        s->kind = S_SORT;
        if (!p->aggregated && p->sorted) {
            fail(p, w.col, "only one sort before stats, top or timechart");
            return;
        }
        p->sorted = !p->aggregated;
        s->cols = colref_list(p, &s->ncols, false);
        if (!failed(p) && s->ncols != 1) {
            fail(p, s->cols[1].col, "sort takes one field");
            return;
        }
        if (word_is(&p->cur, "desc") || word_is(&p->cur, "asc")) {
            s->desc = word_is(&p->cur, "desc");
            advance(p);
        }
    } else if (word_is(&w, "limit") || word_is(&w, "head")) {
        s->kind = S_LIMIT;
        parse_count(p, &s->n, "limit");
    } else if (word_is(&w, "stats")) {
        s->kind = S_STATS;
        stage_stats(p, s);
    } else if (word_is(&w, "top")) {
        s->kind = S_TOP;
        stage_top(p, s);
    } else if (word_is(&w, "timechart")) {
        s->kind = S_TIMECHART;
        stage_timechart(p, s);
    } else {
        fail(p, w.col, "unknown stage %s; stages: fields, sort, limit, stats, top, timechart",
             tok_desc(&w, b, sizeof(b)));
        return;
    }
    p->aggregated = p->aggregated || agg;
}

int
qry__parse(struct qry *q, const char *text, size_t len, uint64_t now_ms, struct qry_error *err)
{
    struct parser p = {.q = q, .err = err, .now_ms = now_ms};
    struct qry__stage stages[32];
    char b[64];

    err->col = 0;
    err->limited = false;
    err->msg[0] = '\0';
    qry__lex_init(&p.lx, text, len, &q->arena);
    qry__lex_next(&p.lx, &p.nxt);
    advance(&p);
    parse_range(&p);
    if (!failed(&p) && p.cur.kind != T_PIPE && p.cur.kind != T_EOF) {
        if (p.cur.kind == T_WORD && p.cur.len == 1 && p.cur.text[0] == '*' &&
            (p.nxt.kind == T_PIPE || p.nxt.kind == T_EOF)) {
            advance(&p);
        } else {
            q->expr = parse_or(&p);
        }
    }
    q->nstages = 0;
    while (!failed(&p) && p.cur.kind == T_PIPE) {
        advance(&p);
        if (q->nstages == 32) {
            fail(&p, p.cur.col, "at most 32 stages");
            break;
        }
        memset(&stages[q->nstages], 0, sizeof(stages[0]));
        parse_stage(&p, &stages[q->nstages++]);
    }
    if (!failed(&p) && p.cur.kind == T_ERROR) {
        fail(&p, p.cur.col, "%.*s", (int) p.cur.len, p.cur.text);
    }
    if (!failed(&p) && p.cur.kind != T_EOF) {
        fail(&p, p.cur.col, "unexpected %s%s", tok_desc(&p.cur, b, sizeof(b)),
             p.cur.kind == T_RPAREN ? " (no '(' to close)" : "; stages follow '|'");
    }
    if (!failed(&p) && q->nstages > 0) {
        q->stages = palloc(&p, q->nstages * sizeof(*stages));
        if (q->stages != NULL) {
            memcpy(q->stages, stages, q->nstages * sizeof(*stages));
        }
    }
    return p.rc;
}
