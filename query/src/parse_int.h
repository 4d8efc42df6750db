/* SPDX-License-Identifier: MIT */
/*
 * The parser's state and token helpers, shared by parse.c (range and filter expression) and
 * stage.c (the stages after '|'). Private to query/.
 */
#ifndef FLOWLOG_PARSE_INT_H
#define FLOWLOG_PARSE_INT_H

#include <errno.h>
#include <stdarg.h>
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

static inline void
advance(struct parser *p)
{
    p->cur = p->nxt;
    if (p->cur.kind != T_EOF) {
        qry__lex_next(&p->lx, &p->nxt);
    }
}

static inline bool
failed(const struct parser *p)
{
    return p->rc != 0;
}

__attribute__((format(printf, 3, 4))) static inline void
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

static inline void *
palloc(struct parser *p, size_t n)
{
    void *m = qry__alloc(&p->q->arena, n);
    if (m == NULL && p->rc == 0) {
        p->rc = -ENOMEM;
        snprintf(p->err->msg, sizeof(p->err->msg), "out of memory");
    }
    return m;
}

static inline bool
word_is(const struct qry__tok *t, const char *w)
{
    return t->kind == T_WORD && t->len == strlen(w) && strncasecmp(t->text, w, t->len) == 0;
}

/* Token as a printable snippet for messages. */
static inline const char *
tok_desc(const struct qry__tok *t, char *buf, size_t cap)
{
    if (t->kind == T_EOF) {
        return "end of query";
    }
    size_t n = t->len > 40 ? 40 : t->len;
    snprintf(buf, cap, "'%.*s%s'", (int) n, t->text, t->len > 40 ? "..." : "");
    return buf;
}

static inline void
unknown_field(struct parser *p, int col, const char *name, size_t len)
{
    char list[512];
    qry__field_list(list, sizeof(list));
    fail(p, col, "unknown field '%.*s'; known fields: %s", (int) (len > 40 ? 40 : len), name, list);
}

/* stage.c: one stage after '|' into s (p->cur is its first token). */
void qry__parse_stage(struct parser *p, struct qry__stage *s);

#endif
