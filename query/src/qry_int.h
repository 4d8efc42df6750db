/* SPDX-License-Identifier: MIT */
/*
 * query/ internals shared by lex.c, parse.c, ast.c, plan.c, exec.c, fmt.c and session.c.
 * Private to query/ and its unit tests.
 */
#ifndef FLOWLOG_QRY_INT_H
#define FLOWLOG_QRY_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "qry.h"

/* ---- arena (ast.c): one per query; everything the AST and plan hold lives in it ---- */

struct qry__chunk;
struct qry__arena {
    struct qry__chunk *head;
    size_t used;
    size_t cap;
};
void *qry__alloc(struct qry__arena *a, size_t n); /* zeroed; NULL on ENOMEM */
char *qry__strndup(struct qry__arena *a, const char *s, size_t n);
void qry__arena_free(struct qry__arena *a);

/* ---- fields (ast.c) ---- */

enum qry__kind {
    K_NUM,  /* u64 */
    K_TIME, /* ms since the epoch; text shows Unix seconds, JSON/CSV RFC 3339 */
    K_ADDR, /* 16 bytes */
    K_TEXT, /* string */
    K_ENUM, /* small number with names (action, log-status, direction) */
    K_FLOAT /* computed (avg) */
};

enum qry__field {
    F_FLOWLOG,
    F_VERSION,
    F_EXPORTER,
    F_DOMAIN,
    F_INSTANCE,
    F_SNID,
    F_ACCOUNT,
    F_REGION,
    F_VPC,
    F_ENI,
    F_SRCADDR,
    F_DSTADDR,
    F_SRCPORT,
    F_DSTPORT,
    F_PROTOCOL,
    F_PACKETS,
    F_BYTES,
    F_START,
    F_END,
    F_TCPFLAGS,
    F_TOS,
    F_INPORT,
    F_OUTPORT,
    F_DIRECTION,
    F_ACTION,
    F_LOGSTATUS,
    F_RTT,
    F_SAMPLING,
    F_WINDOW,
    F_NFIELDS
};

struct qry__fieldinfo {
    const char *name;
    uint8_t kind; /* enum qry__kind */
    int8_t stor;  /* enum stor_field, or -1 when storage has no summary for it */
};
extern const struct qry__fieldinfo qry__fields[F_NFIELDS];
/* The default text columns (DESIGN.md §3). */
extern const uint8_t qry__default_cols[];
extern const size_t qry__ndefault_cols;

/* Field by name (case-insensitive, '_' for '-'); -1 when unknown. */
int qry__field_find(const char *name, size_t len);
/* "flowlog, version, ..." for error messages. */
void qry__field_list(char *buf, size_t cap);

/* A value taken from a record or computed. */
struct qry__val {
    uint8_t kind; /* enum qry__kind */
    bool present;
    uint64_t u; /* NUM, TIME, ENUM */
    double d;   /* FLOAT */
    uint8_t addr[16];
    const char *s; /* TEXT (NUL-terminated) */
};

/* Names of every flow log and their labels, sorted by id, loaded when a query starts. */
struct qry__names {
    size_t n, cap;
    struct qry__flname {
        uint16_t id;
        char name[STOR_NAME_MAX];
        char region[STOR_LABEL_MAX];
        char vpc_id[STOR_LABEL_MAX];
        char eni_id[STOR_LABEL_MAX];
    } * fl; /* owned: qry__names_free() */
};
/* Load them (nm zeroed or freed before). 0, -ENOMEM or storage's code. */
int qry__names_load(struct qry__names *nm, struct stor_env *env);
/* The flow log with this id, or NULL. */
const struct qry__flname *qry__names_get(const struct qry__names *nm, uint16_t id);
void qry__names_free(struct qry__names *nm);

/* The value of field f of r. */
void qry__rec_get(const struct flow_rec *r, int f, const struct qry__names *nm, struct qry__val *v);

/* Value parsing (ast.c). Each returns 0 or -1 (not that kind of value). */
int qry__parse_u64(const char *s, size_t n, bool suffixes, uint64_t *out);
int qry__parse_time(const char *s, size_t n, uint64_t *ms);
int qry__parse_duration(const char *s, size_t n, uint64_t *ms);
int qry__proto_num(const char *s, size_t n); /* tcp -> 6; -1 unknown */
const char *qry__proto_name(unsigned p);     /* NULL when it has none */
/* Names of an enum field's values: action ACCEPT/REJECT, log-status OK/NODATA/SKIPDATA,
 * direction in/out. -1 when the name is not one of them. */
int qry__enum_num(int f, const char *s, size_t n);
const char *qry__enum_name(int f, uint64_t v);
/* Case-insensitive glob with * and ? over s[0..n). */
bool qry__glob(const char *pat, const char *s, size_t n);

/* ---- lexer (lex.c) ---- */

enum qry__tok_kind {
    T_EOF,
    T_WORD,   /* a run of value characters (may hold ':' '.' '/' '*' ...) */
    T_STRING, /* "..." with \" and \\ escapes; text holds the unescaped bytes */
    T_REGEX,  /* /.../ ; text holds the pattern without slashes (\/ unescaped) */
    T_PIPE,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_TILDE,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_ERROR /* text holds the message */
};

struct qry__tok {
    uint8_t kind;
    bool spaced; /* whitespace came before it */
    int col;     /* 1-based */
    const char *text;
    size_t len;
};

struct qry__lexer {
    const char *src;
    size_t len;
    size_t pos;
    struct qry__arena *arena;
};
void qry__lex_init(struct qry__lexer *lx, const char *src, size_t len, struct qry__arena *a);
/* The next token (strings and regexes are unescaped into the arena). */
void qry__lex_next(struct qry__lexer *lx, struct qry__tok *t);

/* ---- AST (parse.c builds it, plan.c compiles it) ---- */

enum qry__node_kind {
    N_AND,
    N_OR,
    N_NOT,
    N_KEYWORD, /* text: the word; glob when it holds * or ? */
    N_FIELD,   /* field op value(s) */
    N_REGEX,   /* field ~ /re/, or field -1 for the whole text line */
};

enum qry__op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN };

/* One value a field term compares with, already typed for the field. */
struct qry__term_val {
    uint8_t how;     /* enum below */
    uint64_t lo, hi; /* V_RANGE: lo <= v <= hi */
    struct flow_cidr cidr;
    const char *text; /* V_TEXT, V_GLOB */
};
enum { V_RANGE, V_CIDR, V_TEXT, V_GLOB, V_PRESENT };

/*
 * An AST node. N_AND and N_OR are n-ary (kids[0..nkids), nkids >= 2): a chain of terms is one
 * node, so walkers loop over it. Only '(' and 'not' nest, at most QRY_DEPTH_MAX deep, which
 * bounds every recursive walk of the tree.
 */
struct qry__node {
    uint8_t kind;
    int col;
    struct qry__node *a;     /* N_NOT: the operand */
    struct qry__node **kids; /* N_AND, N_OR: the operands */
    size_t nkids;
    int field; /* N_FIELD, N_REGEX (-1 = line) */
    uint8_t op;
    size_t nvals;
    struct qry__term_val *vals;
    bool vals_sorted; /* N_FIELD: vals are disjoint V_RANGEs sorted by lo (plan.c's fold) */
    const char *text; /* N_KEYWORD word, N_REGEX pattern */
    /* N_KEYWORD, resolved by the parser */
    bool kw_glob;
    bool kw_addr; /* the word is an address or CIDR: addresses only */
    struct flow_cidr kw_cidr;
    bool kw_num;
    uint64_t kw_u;
    int kw_proto; /* protocol number named by the word, or -1 */
    /* N_REGEX, compiled by the planner */
    pcre2_code *re;
    struct qry__node *next_re; /* the query's next N_REGEX node */
};

enum qry__stage_kind { S_FIELDS, S_SORT, S_LIMIT, S_STATS, S_TOP, S_TIMECHART };
enum qry__agg_kind { A_COUNT, A_SUM, A_AVG, A_MIN, A_MAX, A_DC };

struct qry__agg {
    uint8_t kind;
    int field;        /* -1 for count() */
    const char *name; /* output column */
};

/* A column reference in fields/sort: a record field, or (after an aggregation) any output
 * column by its name. */
struct qry__colref {
    const char *name; /* canonical: field name, or agg text like "sum(bytes)" */
    int field;        /* record field, -1 when it names an aggregate column */
    int col;
};

struct qry__stage {
    uint8_t kind;
    int col;
    size_t ncols;
    struct qry__colref *cols; /* fields; sort (1); stats/top/timechart by-fields */
    bool desc;                /* sort */
    uint64_t n;               /* limit, top N */
    size_t naggs;
    struct qry__agg *aggs; /* stats, timechart (1) */
    uint8_t top_by;        /* top: 0 flows, 1 packets, 2 bytes */
    uint64_t span_ms;      /* timechart */
};

struct qry {
    struct qry__arena arena;
    char *text;
    bool has_range;
    uint64_t from_ms, to_ms;   /* record end in [from, to) */
    struct qry__node *expr;    /* NULL: every record */
    struct qry__node *regexes; /* every N_REGEX node of expr, linked by next_re */
    size_t nstages;
    struct qry__stage *stages;
    /* the plan (plan.c) */
    struct stor_scan scan;
    struct stor_conj conj[32];
    pcre2_match_context *mctx;
    bool line_regex;           /* some regex needs the text line */
    size_t nregex, nregex_jit; /* regexes compiled, of which JIT-compiled */
};

/* parse.c: fills q's range, expr and stages. 0 or QRY_E_PARSE (err filled) or -ENOMEM. */
int qry__parse(struct qry *q, const char *text, size_t len, uint64_t now_ms, struct qry_error *err);
/* plan.c: pushdown and regex compilation. 0, QRY_E_PARSE (bad regex) or -ENOMEM. */
int qry__plan(struct qry *q, struct qry_error *err);
/* plan.c: does r pass the filter? (-1 regex limit hit) */
int qry__match(const struct qry *q, const struct qry__node *n, const struct flow_rec *r,
               const struct qry__names *nm, pcre2_match_data *md, char *line, size_t linecap);
/* plan.c: the conditions as text, for EXPLAIN. */
void qry__cond_text(const struct stor_cond *c, char *buf, size_t cap);
void qry__node_text(const struct qry__node *n, char *buf, size_t cap);
/* plan.c: append s to the text in buf[cap], as far as it fits. */
void qry__cat(char *buf, size_t cap, const char *s);

/* ---- formatting (fmt.c) ---- */

/* A growable output buffer. */
struct qry__buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
};
void qry__buf_reserve(struct qry__buf *b, size_t more);
void qry__buf_put_slow(struct qry__buf *b, const char *s, size_t n);
/* Append n bytes (inline: formatting calls it for every value). */
static inline void
qry__buf_put(struct qry__buf *b, const char *s, size_t n)
{
    if (n == 0) {
        return; /* b->p may still be NULL */
    }
    if (b->len + n <= b->cap) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        return;
    }
    qry__buf_put_slow(b, s, n);
}
void qry__buf_puts(struct qry__buf *b, const char *s);
void qry__buf_printf(struct qry__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qry__buf_free(struct qry__buf *b);

/* Format a value for output (no separators): text, JSON (quoted/escaped, null) or CSV. */
void qry__fmt_val(struct qry__buf *b, enum qry_fmt fmt, const struct qry__val *v, int field);
/* The value's plain text (as the text format shows it, unescaped); returns its length. */
size_t qry__val_text(const struct qry__val *v, int field, char *buf, size_t cap);
/* The default text line of a record (no newline) into buf; returns the length. */
size_t qry__rec_line(const struct flow_rec *r, const struct qry__names *nm, char *buf, size_t cap);
/*
 * One row of n named text values in fmt: text and CSV cells in order (CSV with a header row
 * first, when *header is still false), JSON an object whose all-digit values are numbers and
 * empty values null. The row ends in '\n' and never begins with "OK " or "ERR ".
 */
void qry__fmt_row(struct qry__buf *b, enum qry_fmt fmt, bool *header, size_t n,
                  const char *const *names, const char *const *values);
/* A text/CSV/JSON string with the format's escaping. */
void qry__fmt_str(struct qry__buf *b, enum qry_fmt fmt, const char *s, size_t n);
/* Address as text (dotted IPv4 for mapped addresses, RFC 5952 otherwise). */
size_t qry__addr_text(const uint8_t a[16], char *buf);
/* RFC 3339 UTC with milliseconds. buf >= 32. */
size_t qry__time_text(uint64_t ms, char *buf);

/* ---- EXPLAIN and WINDOWS as streams (explain.c) ---- */

/*
 * A lister: EXPLAIN of q (with the windows of its range), or WINDOWS of [from_ms, to_ms)
 * when q is NULL (rows in fmt, flow-log names from env). Output in chunks of whole lines, as
 * qry_exec_next gives them (1 with a chunk, 0 when done, negative on failure with
 * qry__lister_errmsg), under the rows and time limits of lim and the cancel flag. q, snap
 * and env must outlive it.
 */
struct qry__lister;
int qry__lister_open(struct qry__lister **out, struct stor_env *env, const struct qry *q,
                     uint64_t from_ms, uint64_t to_ms, struct stor_snap *snap, enum qry_fmt fmt,
                     const struct qry_limits *lim, const atomic_bool *cancel);
int qry__lister_next(struct qry__lister *l, uint32_t slice_ms, const char **data, size_t *len);
/* Lines of EXPLAIN so far (all of them), rows of WINDOWS. */
uint64_t qry__lister_rows(const struct qry__lister *l);
const char *qry__lister_errmsg(const struct qry__lister *l);
void qry__lister_close(struct qry__lister *l);

/* ---- the line protocol (session.c, admin.c) ---- */

struct stor_env *qry__session_stor(const struct qry_session *s);
/*
 * Run one FLOWLOG request. Returns 1 when rows went out through row (DESCRIBE), 0 with a
 * confirmation in msg, -EPERM (needs admin), -EINVAL (bad arguments) or storage's code,
 * with the reason in msg.
 */
int qry__flowlog_cmd(struct qry_session *s, const char *arg, bool admin, qry_row_fn *row,
                     void *row_arg, char *msg, size_t msglen);

/* BACKUP <dir> (backup_cmd.c): the whole reply line ("OK ..." or "ERR CODE ...") in reply. */
void qry__backup_cmd(struct stor_env *env, bool admin, const char *arg, char *reply, size_t cap);

#endif
