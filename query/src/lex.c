/* SPDX-License-Identifier: MIT */
/*
 * The query lexer (docs/query.md "Tokens"). Reentrant: all state is in struct qry__lexer.
 *
 * A WORD is a run of bytes that are not white space, control bytes or one of
 * | ( ) , ~ = ! < > " — so a word may hold ':' (field:value, IPv6 addresses, times), '/' (CIDRs), '*' and '?'
 * (globs), '.' and '-'. The parser splits `field:value` itself, because whether the part
 * before ':' is a field name depends on the field table. A '/' at the start of a token opens
 * a regex that runs to the next unescaped '/'. Strings are double-quoted with \" and \\.
 */
#include <string.h>

#include "qry_int.h"

void
qry__lex_init(struct qry__lexer *lx, const char *src, size_t len, struct qry__arena *a)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->arena = a;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool
is_word(char c)
{
    unsigned char u = (unsigned char) c;
    return u > 0x20 && u != 0x7f && strchr("|(),~=!<>\"", c) == NULL;
}

static void
lex_error(struct qry__tok *t, const char *msg)
{
    t->kind = T_ERROR;
    t->text = msg;
    t->len = strlen(msg);
}

/* A quoted string or a regex body: unescape into the arena. Returns false when unclosed. */
static bool
lex_quoted(struct qry__lexer *lx, struct qry__tok *t, char close)
{
    size_t start = ++lx->pos;
    char *out = qry__alloc(lx->arena, lx->len - start + 1);
    size_t n = 0;

    if (out == NULL) {
        lex_error(t, "out of memory");
        return true;
    }
    while (lx->pos < lx->len && lx->src[lx->pos] != close) {
        char c = lx->src[lx->pos];
        if (c == '\\' && lx->pos + 1 < lx->len) {
            char e = lx->src[lx->pos + 1];
            if (e == close || (close == '"' && e == '\\')) {
                c = e;
                lx->pos++;
            } else if (close == '/') {
                out[n++] = c; /* keep regex escapes for PCRE2 */
                c = e;
                lx->pos++;
            }
        }
        out[n++] = c;
        lx->pos++;
    }
    if (lx->pos >= lx->len) {
        return false;
    }
    lx->pos++;
    out[n] = '\0';
    t->text = out;
    t->len = n;
    return true;
}

void
qry__lex_next(struct qry__lexer *lx, struct qry__tok *t)
{
    size_t before = lx->pos;
    while (lx->pos < lx->len && is_space(lx->src[lx->pos])) {
        lx->pos++;
    }
    t->spaced = lx->pos > before || before == 0;
    t->col = (int) lx->pos + 1;
    t->text = lx->src + lx->pos;
    t->len = 1;
    if (lx->pos >= lx->len) {
        t->kind = T_EOF;
        t->len = 0;
        return;
    }
    char c = lx->src[lx->pos];
    char next = lx->pos + 1 < lx->len ? lx->src[lx->pos + 1] : '\0';
    switch (c) {
    case '|':
        t->kind = T_PIPE;
        break;
    case '(':
        t->kind = T_LPAREN;
        break;
    case ')':
        t->kind = T_RPAREN;
        break;
    case ',':
        t->kind = T_COMMA;
        break;
    case '~':
        t->kind = T_TILDE;
        break;
    case '=':
        t->kind = T_EQ;
        t->len = next == '=' ? 2 : 1;
        break;
    case '!':
        if (next != '=') {
            lex_error(t, "'!' must be followed by '='");
            lx->pos++;
            return;
        }
        t->kind = T_NE;
        t->len = 2;
        break;
    case '<':
        t->kind = next == '=' ? T_LE : T_LT;
        t->len = next == '=' ? 2 : 1;
        break;
    case '>':
        t->kind = next == '=' ? T_GE : T_GT;
        t->len = next == '=' ? 2 : 1;
        break;
    case '"':
    case '/':
        t->kind = c == '"' ? T_STRING : T_REGEX;
        if (!lex_quoted(lx, t, c)) {
            lex_error(t, c == '"' ? "unterminated string (missing '\"')"
                                  : "unterminated regex (missing '/')");
        }
        return;
    default:
        if ((unsigned char) c < 0x20 || c == 0x7f) {
            lex_error(t, "unexpected control byte in the query");
            lx->pos++;
            return;
        }
        t->kind = T_WORD;
        while (lx->pos + t->len < lx->len && is_word(lx->src[lx->pos + t->len])) {
            t->len++;
        }
        break;
    }
    lx->pos += t->len;
}
