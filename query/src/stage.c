/* SPDX-License-Identifier: MIT */
/*
 * The stages after '|' (docs/query.md §Stages): fields, sort, limit/head, stats, top and
 * timechart, with the columns each makes available to the stages after it, so that a sort or
 * fields after an aggregation names its output columns (`sort total desc`) and errors list
 * them. parse.c parses the range and the filter and calls qry__parse_stage for each stage.
 */
#define _POSIX_C_SOURCE 200809L
#include "parse_int.h"

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

void
qry__parse_stage(struct parser *p, struct qry__stage *s)
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
