/* SPDX-License-Identifier: MIT */
/*
 * nfdump compatibility: nfdump's command line (its everyday options and its filter syntax,
 * nfdump(1) FILTER) translated into one query of our language (docs/nfdump.md has the
 * mapping table). Pure: text in, text out, no store, no clock. The NFDUMP verb (session.c)
 * and `flowlog nfdump` use it. Anything without an exact equivalent is refused with a message
 * naming the token, never translated into something that answers differently.
 * Private to query/ and its unit tests.
 */
#ifndef FLOWLOG_NFDUMP_H
#define FLOWLOG_NFDUMP_H

#include <stddef.h>

#define QRY_NFD_DEPTH_MAX 64  /* ( and not nesting in an nfdump filter */
#define QRY_NFD_LIST_MAX  64  /* values in "port in [...]" / "ip in [...]" (our 'in' limit) */
#define QRY_NFD_WORDS_MAX 512 /* words of an NFDUMP request (options and filter) */

/* Output text buffer with an overflow flag (nfdump.c). */
struct qry__nfd_buf {
    char *p;
    size_t len, cap;
    int full; /* set when something did not fit */
};
void qry__nfd_put(struct qry__nfd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Translate an nfdump filter (filter, len bytes, NUL-terminated) into a search of our
 * language, appended to b. 0, or QRY_E_PARSE with msg naming the offending token.
 */
int qry__nfd_filter(const char *filter, struct qry__nfd_buf *b, char *msg, size_t msglen);

/*
 * Translate an NFDUMP request's arguments: options (-t -s -n -A -a -O -o -c -q -N -6 -I)
 * then the filter, as words separated by blanks ('...' and "..." quote, \ escapes in "...").
 * On success *query holds our query (NUL-terminated, at most cap bytes) and *fmt the output
 * format the -o option asks for (enum qry_fmt), or -1 for the session's. QRY_E_PARSE with
 * msg on refusal.
 */
int qry__nfd_translate(const char *args, char *query, size_t cap, int *fmt, char *msg,
                       size_t msglen);

#endif
