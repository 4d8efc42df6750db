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

#include "parse_int.h"

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
        qry__parse_stage(&p, &stages[q->nstages++]);
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
