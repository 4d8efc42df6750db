/* SPDX-License-Identifier: MIT */
/*
 * One HTTP request to one ClickHouse shard with libcurl's easy interface (blocking; the sink
 * calls it from its own thread). The statement travels in the URL's `query` parameter and an
 * INSERT's data as the POST body, as ClickHouse's HTTP interface takes them; user and password
 * go as HTTP basic authentication, so they never show in a URL or a server's query log.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "chs.h"

const char *
chs_strerror(int err)
{
    switch (err) {
    case CHS_E_HTTP:
        return "ClickHouse answered with an error";
    case CHS_E_CONNECT:
        return "ClickHouse did not answer";
    case CHS_E_REPLY:
        return "unexpected reply from ClickHouse";
    case CHS_E_SCHEMA:
        return "ClickHouse schema is newer than this flowlogd";
    case CHS_E_LIMIT:
        return "batch larger than the row limit";
    case CHS_E_ARG:
        return "name refused";
    default:
        return err < 0 && err > -1000 ? strerror(-err) : "unknown error";
    }
}

int
chs_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void
chs_fini(void)
{
    curl_global_cleanup();
}

static size_t
on_reply(char *data, size_t size, size_t n, void *arg)
{
    struct chs_buf *b = arg;
    size_t len = size * n;
    size_t keep = len;

    if (b == NULL) {
        return len;
    }
    if (b->len + keep > CHS_REPLY_MAX) {
        keep = CHS_REPLY_MAX - b->len;
    }
    if (b->cap - b->len < keep + 1) {
        uint8_t *p = realloc(b->p, b->len + keep + 1);
        if (p == NULL) {
            return 0; /* curl then fails the transfer with CURLE_WRITE_ERROR */
        }
        b->p = p;
        b->cap = b->len + keep + 1;
    }
    memcpy(b->p + b->len, data, keep);
    b->len += keep;
    b->p[b->len] = 0; /* a reply is text: keep it a C string */
    return len;
}

/* Build "<url>?query=<escaped sql>" (or with & when the URL has a query already). */
static char *
make_url(CURL *h, const char *url, const char *sql)
{
    char *esc = curl_easy_escape(h, sql, 0);
    char *out = NULL;

    if (esc == NULL) {
        return NULL;
    }
    size_t n = strlen(url) + strlen(esc) + 8;
    out = malloc(n);
    if (out != NULL) {
        snprintf(out, n, "%s%cquery=%s", url, strchr(url, '?') != NULL ? '&' : '?', esc);
    }
    curl_free(esc);
    return out;
}

static void
set_options(CURL *h, const struct chs_shard *s, const void *body, size_t len, struct chs_buf *reply)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms > 0 ? s->timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? (const char *) body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (body != NULL ? len : 0));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    if (s->user != NULL && s->user[0] != 0) {
        curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, s->password != NULL ? s->password : "");
    }
}

int
chs_exec(const struct chs_shard *s, const char *sql, const void *body, size_t len,
         struct chs_buf *reply)
{
    CURL *h = curl_easy_init();
    int rc = -ENOMEM;

    if (h == NULL) {
        return -ENOMEM;
    }
    char *url = make_url(h, s->url, sql);
    if (url == NULL) {
        goto cleanup;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    set_options(h, s, body, len, reply);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_WRITE_ERROR) {
        rc = -ENOMEM;
    } else if (cc != CURLE_OK) {
        rc = CHS_E_CONNECT;
    } else {
        rc = status == 200 ? 0 : CHS_E_HTTP;
    }
    free(url);
cleanup:
    curl_easy_cleanup(h);
    return rc;
}

int
chs_query_u64(const struct chs_shard *s, const char *sql, uint64_t *out)
{
    struct chs_buf reply = {0};
    int rc = chs_exec(s, sql, NULL, 0, &reply);

    if (rc != 0) {
        goto free_reply;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = reply.p != NULL ? strtoull((char *) reply.p, &end, 10) : 0;
    if (reply.p == NULL || end == (char *) reply.p || errno != 0 || (*end != '\n' && *end != 0)) {
        rc = CHS_E_REPLY;
        goto free_reply;
    }
    *out = v;
free_reply:
    chs_buf_free(&reply);
    return rc;
}
