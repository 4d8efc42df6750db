/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/fields: the language's fields (name, type, default column) and, for the fields
 * with few values, the values seen most in the last hour (FIELDS_RANGE), for an editor's
 * completion. The values come from `top FIELDS_VALUES FIELD` queries run by the query engine
 * on this connection's thread, each within the [query] limits; a field whose query fails just
 * has no values.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow_clock.h"
#include "http_int.h"

#define FIELDS_VALUES 20        /* values per field at most */
#define FIELDS_RANGE  "last 1h" /* the records they are taken from */

/* The fields worth completing values for: few distinct values, typed by hand. */
static const char *const valued[] = {"protocol",    "dstport",    "action",   "direction",
                                     "log-status",  "flowlog",    "exporter", "version",
                                     "instance-id", "account-id", NULL};

static bool
is_valued(const char *name)
{
    for (size_t i = 0; valued[i] != NULL; i++) {
        if (strcmp(valued[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Append the JSON values of `name` from the JSON rows in data (each {"name":V,...}). */
static void
row_values(struct coll_http_buf *b, const char *name, const char *data, size_t len, bool *first)
{
    char key[64];
    int kl = snprintf(key, sizeof(key), "{\"%s\":", name);
    const char *end = data + len;
    for (const char *p = data; p < end;) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *le = nl != NULL ? nl : end;
        if (le - p > kl && memcmp(p, key, (size_t) kl) == 0) {
            const char *v = p + kl, *ve = v;
            while (ve < le && !(ve[0] == ',' && ve + 1 < le && ve[1] == '"') && ve[0] != '}') {
                ve++; /* `,"` cannot occur inside a JSON string: its quote would be escaped */
            }
            if (ve - v != 4 || memcmp(v, "null", 4) != 0) { /* no value: nothing to complete */
                coll_http_buf_printf(b, "%s%.*s", *first ? "" : ",", (int) (ve - v), v);
                *first = false;
            }
        }
        p = le + 1;
    }
}

/* `top FIELDS_VALUES name` over FIELDS_RANGE, its values appended to b. */
static void
field_values(struct coll_http *h, struct stor_snap *snap, const char *name, struct coll_http_buf *b)
{
    char text[128];
    struct qry *q = NULL;
    struct qry_exec *ex = NULL;
    struct qry_error err;
    const char *data;
    size_t len;
    bool first = true;

    int n = snprintf(text, sizeof(text), FIELDS_RANGE " | top %d %s", FIELDS_VALUES, name);
    if (qry_compile(&q, text, (size_t) n, flow_wall_ms(), &err) == 0 &&
        qry_exec_open(&ex, h->host.stor, q, snap, QRY_FMT_JSON, &h->host.limits, NULL) == 0) {
        while (qry_exec_next(ex, 100, &data, &len) == 1) {
            row_values(b, name, data, len, &first);
        }
    }
    qry_exec_close(ex);
    qry_free(q);
}

enum MHD_Result
http_fields(struct coll_http *h, struct MHD_Connection *conn)
{
    struct coll_http_buf b = {0};
    struct stor_snap *snap = NULL;
    const char *name, *type;
    bool deflt;

    if (stor_snap_begin(h->host.stor, &snap) != 0) {
        snap = NULL;
    }
    coll_http_buf_printf(&b, "{\"fields\":[");
    for (size_t i = 0; (name = qry_field_info(i, &type, &deflt)) != NULL; i++) {
        coll_http_buf_printf(&b, "%s{\"name\":\"%s\",\"type\":\"%s\",\"default\":%s", i ? "," : "",
                             name, type, deflt ? "true" : "false");
        if (snap != NULL && is_valued(name)) {
            coll_http_buf_printf(&b, ",\"values\":[");
            field_values(h, snap, name, &b);
            coll_http_buf_printf(&b, "]");
        }
        coll_http_buf_printf(&b, "}");
    }
    coll_http_buf_printf(&b, "],\"range\":\"%s\",\"status\":\"OK\"}\n", FIELDS_RANGE);
    stor_snap_end(snap);
    if (b.failed) {
        coll_http_buf_free(&b);
        return MHD_NO;
    }
    return http_text_answer(conn, MHD_HTTP_OK, "application/json", &b);
}
