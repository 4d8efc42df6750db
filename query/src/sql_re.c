/* SPDX-License-Identifier: MIT */
/*
 * PCRE2 patterns checked and rewritten for ClickHouse's match() (RE2 syntax,
 * https://github.com/google/re2/wiki/Syntax). What RE2 lacks is refused, so that a pattern
 * never silently means something else on BACKEND clickhouse: look-around, back-references
 * (\1, \g, \k), atomic groups, possessive quantifiers, recursion and verbs, \K, named groups
 * and inline flags. A leading (?i) is the one flag kept: ClickHouse 18.16 ignores it (its
 * literal prefilter is case-sensitive), so each letter becomes a class of both cases instead
 * ([aA], and [a-zA-Z] for a range in a class). The output is the body of a SQL string
 * literal (quote and backslash escaped).
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>

#include "sql_int.h"

struct rw {
    struct qry__buf *b;
    const char *p; /* next pattern byte */
    bool icase;
    bool quant; /* the last item written was a quantifier */
    struct qry_error *err;
};

static void
emit(struct rw *w, char c)
{
    if (c == '\'' || c == '\\') {
        qry__buf_put(w->b, "\\", 1);
    }
    qry__buf_put(w->b, &c, 1);
}

static int
refuse(struct rw *w, const char *what)
{
    w->err->limited = false;
    snprintf(w->err->msg, sizeof(w->err->msg),
             "%s: ClickHouse's RE2 has no such feature; use BACKEND local", what);
    return QRY_E_PARSE;
}

static char
other_case(char c)
{
    return (char) (islower((unsigned char) c) ? toupper((unsigned char) c)
                                              : tolower((unsigned char) c));
}

/* An escape outside or inside a class: \p{..} and \x{..} are copied whole. */
static int
rw_escape(struct rw *w)
{
    char c = w->p[1];
    if (c == '\0') {
        return refuse(w, "a trailing '\\'");
    }
    if ((c >= '1' && c <= '9') || c == 'g' || c == 'k') {
        return refuse(w, "back-references (\\1, \\g, \\k) are not supported");
    }
    if (c == 'K' || c == 'G' || c == 'R' || c == 'X' || (c == 'Q' && w->icase)) {
        return refuse(w, "this escape is not supported");
    }
    emit(w, '\\');
    emit(w, c);
    w->p += 2;
    if ((c == 'p' || c == 'P' || c == 'x') && *w->p == '{') {
        while (*w->p != '\0' && *w->p != '}') {
            emit(w, *w->p++);
        }
        if (*w->p == '}') {
            emit(w, *w->p++);
        }
    }
    return 0;
}

/* A group opener: '(' and '(?:' pass, every other '(?' and '(*' is refused. */
static int
rw_group(struct rw *w)
{
    const char *p = w->p;
    if (p[1] == '*') {
        return refuse(w, "verbs such as (*UTF) are not supported");
    }
    if (p[1] != '?') {
        emit(w, *w->p++);
        return 0;
    }
    if (p[2] == ':') {
        emit(w, '(');
        emit(w, '?');
        emit(w, ':');
        w->p += 3;
        return 0;
    }
    if (p[2] == '=' || p[2] == '!' || (p[2] == '<' && (p[3] == '=' || p[3] == '!'))) {
        return refuse(w, "look-around ((?=, (?!, (?<=, (?<!) is not supported");
    }
    if (p[2] == '>') {
        return refuse(w, "atomic groups (?>...) are not supported");
    }
    return refuse(w, "groups and flags of the form (?...) other than (?:...) and a leading "
                     "(?i) are not supported");
}

/* A class [...]: copied; with icase each letter gets its other case. */
static int
rw_class(struct rw *w)
{
    emit(w, *w->p++);
    if (*w->p == '^') {
        emit(w, *w->p++);
    }
    if (*w->p == ']') {
        emit(w, *w->p++);
    }
    while (*w->p != ']') {
        const char *p = w->p;
        int rc = 0;
        if (*p == '\0') {
            return refuse(w, "an unclosed '['");
        }
        if (*p == '\\') {
            rc = rw_escape(w);
        } else if (p[0] == '[' && p[1] == ':') {
            const char *e = strstr(p + 2, ":]");
            if (e == NULL) {
                return refuse(w, "an unclosed '[:'");
            }
            while (w->p < e + 2) {
                emit(w, *w->p++);
            }
        } else if (w->icase && isalpha((unsigned char) p[0]) && p[1] == '-' &&
                   isalpha((unsigned char) p[2]) &&
                   !!islower((unsigned char) p[0]) == !!islower((unsigned char) p[2])) {
            emit(w, p[0]), emit(w, '-'), emit(w, p[2]);
            emit(w, other_case(p[0])), emit(w, '-'), emit(w, other_case(p[2]));
            w->p += 3;
        } else {
            emit(w, *w->p++);
            if (w->icase && isalpha((unsigned char) p[0])) {
                emit(w, other_case(p[0]));
            }
        }
        if (rc < 0) {
            return rc;
        }
    }
    emit(w, *w->p++);
    return 0;
}

static int
rw_item(struct rw *w)
{
    char c = *w->p;
    bool q = false;
    int rc = 0;
    if (c == '\\') {
        rc = rw_escape(w);
    } else if (c == '(') {
        rc = rw_group(w);
    } else if (c == '[') {
        rc = rw_class(w);
    } else if (c == '+' && w->quant) {
        return refuse(w, "possessive quantifiers (*+, ++, ?+) are not supported");
    } else if (w->icase && isalpha((unsigned char) c)) {
        emit(w, '['), emit(w, c), emit(w, other_case(c)), emit(w, ']');
        w->p++;
    } else {
        q = c == '*' || c == '+' || c == '?' || c == '}';
        emit(w, *w->p++);
    }
    w->quant = q;
    return rc;
}

int
qry__sql_regex(struct qry__buf *b, const char *re, struct qry_error *err)
{
    struct rw w = {.b = b, .p = re, .err = err};
    int rc = 0;
    if (strncmp(re, "(?i)", 4) == 0) {
        w.icase = true;
        w.p += 4;
    }
    while (*w.p != '\0' && rc == 0) {
        rc = rw_item(&w);
    }
    return rc;
}
