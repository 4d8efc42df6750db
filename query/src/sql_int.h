/* SPDX-License-Identifier: MIT */
/*
 * The query language's AST translated into ClickHouse SQL over the scale-out schema contract
 * (docs/scale-out.md): tables `flows` (Distributed over `flows_local`) with columns
 * named after the query fields. Pure text work: no I/O, no server, no clock. sql.c writes the
 * filter and the field expressions, sql_stage.c the SELECT for the stages, sql_re.c checks
 * and rewrites regexes for ClickHouse's RE2. Private to query/ and its unit tests.
 */
#ifndef FLOWLOG_SQL_INT_H
#define FLOWLOG_SQL_INT_H

#include "qry_int.h"

/* Output columns a translated query may have (by-fields, aggregates, record fields). */
#define QRY_SQL_COLS_MAX 64

/*
 * A translated query. The SQL's select list is c0, c1, ... in the order of names[]; the
 * output shows the columns proj[0..nproj) of it (a `fields` stage after an aggregation picks
 * and orders them without another level of SQL). fields[i] is the record field of column i
 * (its formatting), or -1 for an aggregate.
 */
struct qry__sql {
    struct qry__buf text; /* NUL-terminated SQL; owned: qry__sql_free() */
    size_t ncols;
    const char *names[QRY_SQL_COLS_MAX]; /* in q's arena: valid while q lives */
    int fields[QRY_SQL_COLS_MAX];
    uint8_t aggs[QRY_SQL_COLS_MAX]; /* enum qry__agg_kind + 1, 0 for a field */
    size_t nproj;
    uint8_t proj[QRY_SQL_COLS_MAX];
};

/*
 * Translate compiled q into one SELECT over database db (an identifier of [A-Za-z0-9_]).
 * 0; QRY_E_PARSE with err filled when q uses what does not translate exactly (the message
 * says what and why); -EINVAL for a bad db name; -ENOMEM. out is zeroed first and must be
 * freed with qry__sql_free() whatever the result.
 */
int qry__sql_build(const struct qry *q, const char *db, struct qry__sql *out,
                   struct qry_error *err);
void qry__sql_free(struct qry__sql *s);

/*
 * Query limits as ClickHouse settings for the URL's query string ("max_execution_time=5&
 * max_result_rows=..."), appended to out; nothing for a limit of 0.
 */
void qry__sql_settings(const struct qry_limits *lim, struct qry__buf *out);

/* ---- sql.c: expressions ---- */

/* The field's value, NULL when missing (a Nullable expression; addresses as 32 hex digits),
 * into b. -1: the schema has no column for it. */
int qry__sql_field(struct qry__buf *b, int f);
/* The field's column (an expression for window), NULL when the schema has none. */
const char *qry__sql_col(int f);
/* The condition under which a record carries field f ("1" when always). */
void qry__sql_present(struct qry__buf *b, int f);
/* The WHERE condition of q (range and filter) into b; "1" for every record. 0 or QRY_E_PARSE. */
int qry__sql_where(struct qry__buf *b, const struct qry *q, struct qry_error *err);
/* A string literal with ClickHouse escaping ('...' with \\ and \'). */
void qry__sql_str(struct qry__buf *b, const char *s, size_t n);

/* ---- sql_re.c: regexes ---- */

/*
 * The PCRE2 pattern re as an RE2 pattern for ClickHouse's match(), into b (without quotes).
 * QRY_E_PARSE with err->msg when RE2 cannot mean the same: look-around, back-references,
 * atomic groups, possessive quantifiers, recursion, \K, and inline flags past the start. A
 * leading (?i), which 18.16 ignores, becomes case classes ([aA]).
 */
int qry__sql_regex(struct qry__buf *b, const char *re, struct qry_error *err);

#endif
