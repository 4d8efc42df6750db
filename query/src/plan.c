/* SPDX-License-Identifier: MIT */
/*
 * The planner and the exact filter.
 *
 * Planning turns the time range into the scan's [from, to) on record end times (storage then
 * visits only the windows and partitions that overlap it) and pushes every top-level conjunct
 * it can express as stor_cond alternatives (field:value, ranges, `in` lists, CIDRs, address
 * keywords, instance/account ids, ORs of those) down to storage, which skips whole blocks
 * whose summaries (min/max, Bloom filters) rule them out. Storage only skips: every record it
 * returns is still checked here against the whole expression, so pushdown can never change a
 * result, only its cost.
 *
 * PCRE2 patterns are compiled once here, JIT-compiled when the platform allows, with match
 * and depth limits so a pathological pattern fails one record's match (QRY_E_REGEX) instead of
 * stalling the server.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qry_int.h"

#define RE_MATCH_LIMIT 100000u
#define RE_DEPTH_LIMIT 10000u

bool
qry_regex_jit(void)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR) "a+", 2, PCRE2_UTF, &ec, &off, NULL);
    bool jit = re != NULL && pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    pcre2_code_free(re);
    return jit;
}

/* ---- folding: an or of many equality terms on one field becomes one sorted set ---- */

/*
 * `dstport:1 or dstport:2 or ... or dstport:6000` is checked term by term, each reading the
 * field again: 6,000 steps per record. An or of at least FOLD_MIN terms that compare one
 * number or time field for equality (`:`, `=`, `in`) is planned as one `in` whose values are
 * disjoint ranges sorted by their start, matched by binary search. The same records match: a
 * record matches the or exactly when its value lies in one of the ranges.
 */
#define FOLD_MIN 8

static bool
foldable(const struct qry__node *n)
{
    if (n->kind != N_FIELD || n->vals_sorted || (n->op != OP_EQ && n->op != OP_IN)) {
        return false;
    }
    uint8_t k = qry__fields[n->field].kind;
    if (k != K_NUM && k != K_TIME && k != K_ENUM) {
        return false;
    }
    for (size_t i = 0; i < n->nvals; i++) {
        if (n->vals[i].how != V_RANGE) {
            return false;
        }
    }
    return true;
}

static int
range_cmp(const void *pa, const void *pb)
{
    const struct qry__term_val *a = pa, *b = pb;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

/* Sort by start and merge ranges that overlap; returns how many are left. */
static size_t
ranges_merge(struct qry__term_val *v, size_t n)
{
    size_t m = 0;
    qsort(v, n, sizeof(*v), range_cmp);
    for (size_t i = 0; i < n; i++) {
        if (v[i].lo > v[i].hi) {
            continue; /* empty */
        }
        if (m > 0 && v[i].lo <= v[m - 1].hi) {
            v[m - 1].hi = v[i].hi > v[m - 1].hi ? v[i].hi : v[m - 1].hi;
            continue;
        }
        v[m++] = v[i];
    }
    return m;
}

/* Fold the foldable kids of or on field f into one set node (when there are enough). */
static int
fold_field(struct qry *q, struct qry__node * or, int f)
{
    size_t terms = 0, nvals = 0, k = 0;
    for (size_t i = 0; i < or->nkids; i++) {
        if (or->kids[i]->field == f && foldable(or->kids[i])) {
            terms++;
            nvals += or->kids[i]->nvals;
        }
    }
    if (terms < FOLD_MIN) {
        return 0;
    }
    struct qry__node *set = qry__alloc(&q->arena, sizeof(*set));
    struct qry__term_val *vals = qry__alloc(&q->arena, nvals * sizeof(*vals));
    if (set == NULL || vals == NULL) {
        return -ENOMEM;
    }
    *set = (struct qry__node){.kind = N_FIELD, .field = f, .op = OP_IN, .kw_proto = -1};
    size_t at = SIZE_MAX, n = 0;
    for (size_t i = 0; i < or->nkids; i++) {
        struct qry__node *kid = or->kids[i];
        if (kid->field != f || !foldable(kid)) {
            or->kids[k++] = kid;
            continue;
        }
        memcpy(vals + n, kid->vals, kid->nvals * sizeof(*vals));
        n += kid->nvals;
        if (at == SIZE_MAX) {
            at = k++;
            set->col = kid->col;
        }
    }
    set->vals = vals;
    set->nvals = ranges_merge(vals, n);
    set->vals_sorted = true;
    or->kids[at] = set;
    or->nkids = k;
    return 0;
}

/* Fold every or of the tree (recursion as deep as '(' and 'not' nest). */
static int
fold(struct qry *q, struct qry__node *n)
{
    int rc = 0;
    if (n == NULL) {
        return 0;
    }
    if (n->kind == N_NOT) {
        return fold(q, n->a);
    }
    if (n->kind != N_AND && n->kind != N_OR) {
        return 0;
    }
    for (size_t i = 0; i < n->nkids && rc == 0; i++) {
        rc = fold(q, n->kids[i]);
    }
    for (size_t i = 0; n->kind == N_OR && i < n->nkids && rc == 0; i++) {
        if (foldable(n->kids[i])) {
            rc = fold_field(q, n, n->kids[i]->field);
        }
    }
    return rc;
}

/* ---- pushdown ---- */

static bool
push_val(int f, const struct qry__term_val *v, struct stor_cond *c)
{
    int sf = qry__fields[f].stor;
    memset(c, 0, sizeof(*c));
    if (sf < 0) {
        return false;
    }
    c->field = (uint8_t) sf;
    switch (v->how) {
    case V_RANGE:
        c->lo = v->lo;
        c->hi = v->hi;
        return qry__fields[f].kind != K_ADDR && qry__fields[f].kind != K_TEXT;
    case V_CIDR:
        c->cidr = v->cidr;
        return true;
    case V_TEXT:
        if (strlen(v->text) >= FLOW_ID_MAX) {
            return false;
        }
        snprintf(c->text, sizeof(c->text), "%s", v->text);
        return true;
    default:
        return false;
    }
}

/*
 * Add the alternatives that cover every record n can match to cj; false when it cannot. The
 * alternatives of one conjunct may be on different fields (`srcaddr:a or dstport:22`, and an
 * address keyword is srcaddr, dstaddr or exporter in its CIDR): storage tests each condition
 * on its own field and keeps a block when any holds (stor__sum_may_match), so a conjunct is
 * an OR of conditions on any fields. stor.h's "on one field" says less than storage does.
 */
static bool
push_node(const struct qry__node *n, struct stor_conj *cj)
{
    switch (n->kind) {
    case N_FIELD:
        if (n->op == OP_NE) {
            return false;
        }
        for (size_t i = 0; i < n->nvals; i++) {
            if (cj->n == STOR_MATCH_MAX || !push_val(n->field, &n->vals[i], &cj->any[cj->n])) {
                return false;
            }
            cj->n++;
        }
        return true;
    case N_KEYWORD: {
        static const uint8_t af[3] = {STOR_F_SRCADDR, STOR_F_DSTADDR, STOR_F_EXPORTER};
        if (!n->kw_addr || cj->n + 3 > STOR_MATCH_MAX) {
            return false;
        }
        for (int i = 0; i < 3; i++) {
            struct stor_cond *c = &cj->any[cj->n++];
            memset(c, 0, sizeof(*c));
            c->field = af[i];
            c->cidr = n->kw_cidr;
        }
        return true;
    }
    case N_OR:
        for (size_t i = 0; i < n->nkids; i++) {
            if (!push_node(n->kids[i], cj)) {
                return false;
            }
        }
        return true;
    default:
        return false;
    }
}

static void
push_and(struct qry *q, const struct qry__node *n)
{
    if (n == NULL) {
        return;
    }
    if (n->kind == N_AND) {
        for (size_t i = 0; i < n->nkids; i++) {
            push_and(q, n->kids[i]);
        }
        return;
    }
    if (q->scan.nconj == sizeof(q->conj) / sizeof(q->conj[0])) {
        return;
    }
    struct stor_conj *cj = &q->conj[q->scan.nconj];
    memset(cj, 0, sizeof(*cj));
    if (push_node(n, cj) && cj->n > 0) {
        q->scan.nconj++;
    }
}

/* Compile every regex of the query (the parser linked them in q->regexes). */
static int
compile_regex(struct qry *q, struct qry_error *err)
{
    int ec;
    PCRE2_SIZE off;
    for (struct qry__node *n = q->regexes; n != NULL; n = n->next_re) {
        n->re =
            pcre2_compile((PCRE2_SPTR) n->text, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
        if (n->re == NULL) {
            char msg[200];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *) msg, sizeof(msg));
            err->col = n->col;
            snprintf(err->msg, sizeof(err->msg), "bad regex at offset %zu: %s", (size_t) off, msg);
            return QRY_E_PARSE;
        }
        /* Without JIT (a platform without it, or MemoryDenyWriteExecute=yes in the systemd
         * unit) PCRE2 interprets the pattern: slower, the same matches. EXPLAIN says so. */
        q->nregex++;
        q->nregex_jit += pcre2_jit_compile(n->re, PCRE2_JIT_COMPLETE) == 0;
        q->line_regex = q->line_regex || n->field < 0;
    }
    return 0;
}

int
qry__plan(struct qry *q, struct qry_error *err)
{
    q->scan.from_ms = q->from_ms;
    q->scan.to_ms = q->to_ms;
    q->scan.flowlog = -1;
    q->scan.nconj = 0;
    q->scan.conj = q->conj;
    if (fold(q, q->expr) != 0) {
        return -ENOMEM;
    }
    push_and(q, q->expr);
    q->mctx = pcre2_match_context_create(NULL);
    if (q->mctx == NULL) {
        return -ENOMEM;
    }
    pcre2_set_match_limit(q->mctx, RE_MATCH_LIMIT);
    pcre2_set_depth_limit(q->mctx, RE_DEPTH_LIMIT);
    return compile_regex(q, err);
}

/* ---- the exact filter ---- */

static bool
val_match(const struct qry__val *v, int f, const struct qry__term_val *t)
{
    char buf[64];
    switch (t->how) {
    case V_PRESENT:
        return true;
    case V_RANGE:
        return t->lo <= v->u && v->u <= t->hi;
    case V_CIDR:
        return flow_cidr_contains(&t->cidr, v->addr);
    case V_TEXT:
        return v->kind == K_TEXT && strcmp(v->s, t->text) == 0;
    case V_GLOB:
        if (v->kind == K_TEXT) {
            return qry__glob(t->text, v->s, strlen(v->s));
        }
        return qry__glob(t->text, buf, qry__val_text(v, f, buf, sizeof(buf)));
    default:
        return false;
    }
}

static bool
field_match(const struct qry__node *n, const struct flow_rec *r, const struct qry__names *nm)
{
    struct qry__val v;
    qry__rec_get(r, n->field, nm, &v);
    if (!v.present) {
        return false;
    }
    if (n->vals_sorted) {
        /* The last range that starts at or before the value is the only one that can hold
         * it (they are disjoint and sorted). */
        size_t lo = 0, hi = n->nvals;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (n->vals[mid].lo <= v.u) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo > 0 && v.u <= n->vals[lo - 1].hi;
    }
    bool any = false;
    for (size_t i = 0; i < n->nvals && !any; i++) {
        any = val_match(&v, n->field, &n->vals[i]);
    }
    return n->op == OP_NE ? !any : any;
}

static bool
keyword_field(const struct qry__node *n, int f, const struct qry__val *v)
{
    char buf[64];
    switch (v->kind) {
    case K_NUM:
        if (f == F_PROTOCOL && n->kw_proto >= 0 && v->u == (uint64_t) n->kw_proto) {
            return true;
        }
        return n->kw_num && v->u == n->kw_u;
    case K_TIME:
        return n->kw_num && v->u / 1000u == n->kw_u;
    case K_TEXT:
        return strcasecmp(v->s, n->text) == 0;
    case K_ENUM:
        return strcasecmp(qry__enum_name(f, v->u), n->text) == 0;
    default:
        (void) buf;
        return false;
    }
}

static bool
keyword_match(const struct qry__node *n, const struct flow_rec *r, const struct qry__names *nm)
{
    struct qry__val v;
    char buf[64];
    if (n->kw_addr) {
        static const uint8_t af[3] = {F_SRCADDR, F_DSTADDR, F_EXPORTER};
        for (int i = 0; i < 3; i++) {
            qry__rec_get(r, af[i], nm, &v);
            if (v.present && flow_cidr_contains(&n->kw_cidr, v.addr)) {
                return true;
            }
        }
        return false;
    }
    for (int f = 0; f < F_NFIELDS; f++) {
        qry__rec_get(r, f, nm, &v);
        if (!v.present) {
            continue;
        }
        if (!n->kw_glob) {
            if (keyword_field(n, f, &v)) {
                return true;
            }
            continue;
        }
        const char *s = v.kind == K_TEXT ? v.s : buf;
        size_t len = v.kind == K_TEXT ? strlen(v.s) : qry__val_text(&v, f, buf, sizeof(buf));
        if (qry__glob(n->text, s, len)) {
            return true;
        }
        const char *pn = f == F_PROTOCOL ? qry__proto_name((unsigned) v.u) : NULL;
        if (pn != NULL && qry__glob(n->text, pn, strlen(pn))) {
            return true;
        }
    }
    return false;
}

static int
regex_match(const struct qry *q, const struct qry__node *n, const struct flow_rec *r,
            const struct qry__names *nm, pcre2_match_data *md, char *line, size_t linecap)
{
    const char *s = line;
    size_t len;
    struct qry__val v;
    if (n->field < 0) {
        len = qry__rec_line(r, nm, line, linecap);
    } else {
        qry__rec_get(r, n->field, nm, &v);
        if (!v.present) {
            return 0;
        }
        if (v.kind == K_TEXT) {
            s = v.s;
            len = strlen(s);
        } else {
            len = qry__val_text(&v, n->field, line, linecap);
        }
    }
    int rc = pcre2_match(n->re, (PCRE2_SPTR) s, len, 0, 0, md, q->mctx);
    if (rc >= 0) {
        return 1;
    }
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

int
qry__match(const struct qry *q, const struct qry__node *n, const struct flow_rec *r,
           const struct qry__names *nm, pcre2_match_data *md, char *line, size_t linecap)
{
    int a = 1;
    if (n == NULL) {
        return 1;
    }
    switch (n->kind) {
    case N_AND:
        /* Loops over the chain; recursion goes only as deep as '(' and 'not' nest. */
        for (size_t i = 0; i < n->nkids && a > 0; i++) {
            a = qry__match(q, n->kids[i], r, nm, md, line, linecap);
        }
        return a;
    case N_OR:
        a = 0;
        for (size_t i = 0; i < n->nkids && a == 0; i++) {
            a = qry__match(q, n->kids[i], r, nm, md, line, linecap);
        }
        return a;
    case N_NOT:
        a = qry__match(q, n->a, r, nm, md, line, linecap);
        return a < 0 ? a : !a;
    case N_FIELD:
        return field_match(n, r, nm);
    case N_KEYWORD:
        return keyword_match(n, r, nm);
    case N_REGEX:
        return regex_match(q, n, r, nm, md, line, linecap);
    default:
        return 0;
    }
}

/* ---- text for EXPLAIN ---- */

static const char *const sfield_names[STOR_F_COUNT] = {
    "srcaddr",    "dstaddr",  "srcport",   "dstport", "protocol",   "packets",
    "bytes",      "start",    "end",       "action",  "log-status", "instance-id",
    "account-id", "exporter", "tcp-flags", "tos",     "inport",     "outport"};

void
qry__cond_text(const struct stor_cond *c, char *buf, size_t cap)
{
    const char *name = c->field < STOR_F_COUNT ? sfield_names[c->field] : "?";
    char a[64];
    switch (c->field) {
    case STOR_F_SRCADDR:
    case STOR_F_DSTADDR:
    case STOR_F_EXPORTER:
        qry__addr_text(c->cidr.addr, a);
        snprintf(buf, cap, "%s in %s/%u", name, a,
                 flow_addr_is_v4(c->cidr.addr) && c->cidr.plen >= 96 ? c->cidr.plen - 96u
                                                                     : c->cidr.plen);
        break;
    case STOR_F_INSTANCE:
    case STOR_F_ACCOUNT:
        snprintf(buf, cap, "%s = \"%s\"", name, c->text);
        break;
    default:
        if (c->lo == c->hi) {
            snprintf(buf, cap, "%s = %llu", name, (unsigned long long) c->lo);
        } else {
            snprintf(buf, cap, "%s in [%llu, %llu]", name, (unsigned long long) c->lo,
                     (unsigned long long) c->hi);
        }
        break;
    }
}

/* Append s to the NUL-terminated text in buf[cap], as far as it fits. */
void
qry__cat(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf);
    if (l + 1 < cap) {
        snprintf(buf + l, cap - l, "%s", s);
    }
}

void
qry__node_text(const struct qry__node *n, char *buf, size_t cap)
{
    static const char *const ops[] = {":", "!=", "<", "<=", ">", ">=", " in "};
    char tmp[128];
    if (n == NULL) {
        qry__cat(buf, cap, "*");
        return;
    }
    switch (n->kind) {
    case N_AND:
    case N_OR:
        qry__cat(buf, cap, "(");
        for (size_t i = 0; i < n->nkids && strlen(buf) + 1 < cap; i++) {
            qry__cat(buf, cap, i == 0 ? "" : n->kind == N_AND ? " and " : " or ");
            qry__node_text(n->kids[i], buf, cap);
        }
        qry__cat(buf, cap, ")");
        break;
    case N_NOT:
        qry__cat(buf, cap, "not ");
        qry__node_text(n->a, buf, cap);
        break;
    case N_KEYWORD:
        snprintf(tmp, sizeof(tmp), "keyword \"%.100s\"", n->text);
        qry__cat(buf, cap, tmp);
        break;
    case N_REGEX:
        snprintf(tmp, sizeof(tmp), "%s ~ /%.100s/",
                 n->field < 0 ? "line" : qry__fields[n->field].name, n->text);
        qry__cat(buf, cap, tmp);
        break;
    default:
        snprintf(tmp, sizeof(tmp), "%s%s%s(%zu value%s)", qry__fields[n->field].name, ops[n->op],
                 n->op == OP_IN ? "" : "", n->nvals, n->nvals == 1 ? "" : "s");
        qry__cat(buf, cap, tmp);
        break;
    }
}
