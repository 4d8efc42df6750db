/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/health: HEALTH (collector/health.c) as JSON for load balancers and monitors,
 * with the verdict in the status code as well: 200 when OK, 503 when not OK or when there is
 * no collector to ask.
 *
 *   {"status":"OK","checks":[{"check":"commits","state":"OK","detail":"commits=12"},...]}
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "http_int.h"

struct health_json {
    struct coll_http_buf b;
    bool ok;
    size_t rows;
};

/* Rows "check state detail"; the first ("health") is the verdict. */
static int
health_row(void *arg, size_t n, const char *const *names, const char *const *vals)
{
    struct health_json *j = arg;
    (void) names;
    if (n != 3) {
        return -EPROTO;
    }
    if (j->rows++ == 0) {
        j->ok = strcmp(vals[1], "OK") == 0;
        return 0;
    }
    coll_http_buf_printf(&j->b, "%s{\"check\":", j->rows > 2 ? "," : "");
    http_json_str(&j->b, vals[0], strlen(vals[0]));
    coll_http_buf_printf(&j->b, ",\"state\":");
    http_json_str(&j->b, vals[1], strlen(vals[1]));
    coll_http_buf_printf(&j->b, ",\"detail\":");
    http_json_str(&j->b, vals[2], strlen(vals[2]));
    coll_http_buf_printf(&j->b, "}");
    return 0;
}

enum MHD_Result
http_health(struct coll_http *h, struct MHD_Connection *conn)
{
    struct health_json j = {0};
    struct coll_http_buf out = {0};

    if (h->host.info == NULL) {
        return http_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                          "no collector to ask (no query server)");
    }
    int rc = http_locked_info(h, "health", health_row, &j);
    if (rc != 0 || j.rows == 0 || j.b.failed) {
        coll_http_buf_free(&j.b);
        return http_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                          "the collector did not answer HEALTH");
    }
    coll_http_buf_printf(&out, "{\"status\":\"%s\",\"checks\":[", j.ok ? "OK" : "not-OK");
    coll_http_buf_put(&out, j.b.p != NULL ? j.b.p : "", j.b.len);
    coll_http_buf_printf(&out, "]}\n");
    coll_http_buf_free(&j.b);
    if (out.failed) {
        coll_http_buf_free(&out);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(out.len, out.p, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        coll_http_buf_free(&out);
        return MHD_NO;
    }
    http_add_common(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret =
        MHD_queue_response(conn, j.ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ret;
}
