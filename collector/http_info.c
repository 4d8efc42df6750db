/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server's STATS / EXPORTERS hook, taken from the query server itself: a short
 * line-protocol conversation on loopback (`AUTH`, `FORMAT json`, `STATS` or `EXPORTERS`,
 * `QUIT`), its JSON rows handed to the row callback as names and values. So the HTTP API and
 * /metrics read exactly the rows STATS and EXPORTERS give, computed where the collector's
 * counters live (the query server's thread, which reaches the ingest loop as it must), with no
 * second list of counters and no call into another thread's data from HTTP's threads.
 * Blocking, bounded by INFO_TIMEOUT_MS per read and write; one connection per call. (At
 * shutdown a call in flight may wait that long: the query server stops first.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_info.h"

#define INFO_TIMEOUT_MS 2000 /* like the query server's own wait for the ingest loop */
#define INFO_COLS_MAX   32
#define INFO_LINE_MAX   8192 /* a STATS or EXPORTERS row */

/* A flat JSON object's next string or scalar at *p, unescaped into out (null -> "-"). */
static const char *
json_scalar(const char *p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            char c = *p;
            if (c == '\\' && p + 1 < end) {
                c = *++p;
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c; /* \" \\ \/ as they are */
            }
            if (n + 1 < cap) {
                out[n++] = c;
            }
        }
        out[n] = '\0';
        return p < end ? p + 1 : end;
    }
    const char *s = p;
    while (p < end && *p != ',' && *p != '}') {
        p++;
    }
    snprintf(out, cap, "%.*s", (int) (p - s), s);
    if (strcmp(out, "null") == 0) {
        snprintf(out, cap, "-");
    }
    return p;
}

/* One JSON row to the callback. */
static int
json_row(const char *line, size_t len, qry_row_fn *row, void *row_arg)
{
    char keys[INFO_COLS_MAX][128], vals[INFO_COLS_MAX][256];
    const char *names[INFO_COLS_MAX], *values[INFO_COLS_MAX];
    const char *p = line + 1, *end = line + len;
    size_t n = 0;
    while (p < end && *p == '"' && n < INFO_COLS_MAX) {
        p = json_scalar(p, end, keys[n], sizeof(keys[n]));
        if (p >= end || *p != ':') {
            return -EPROTO;
        }
        p = json_scalar(p + 1, end, vals[n], sizeof(vals[n]));
        names[n] = keys[n];
        values[n] = vals[n];
        n++;
        p += p < end && *p == ',' ? 1 : 0;
    }
    return row(row_arg, n, names, values);
}

struct reader {
    int fd;
    char buf[INFO_LINE_MAX];
    size_t len;
};

/* The next line (without its newline) into line; 0, or -errno / -EPROTO. */
static int
read_line(struct reader *r, char *line, size_t cap, size_t *n)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl != NULL) {
            size_t l = (size_t) (nl - r->buf);
            if (l >= cap) {
                return -EPROTO;
            }
            memcpy(line, r->buf, l);
            line[l] = '\0';
            *n = l;
            memmove(r->buf, nl + 1, r->len - l - 1);
            r->len -= l + 1;
            return 0;
        }
        if (r->len == sizeof(r->buf)) {
            return -EPROTO;
        }
        ssize_t got = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
        if (got <= 0) {
            return got == 0 ? -ECONNRESET : -errno;
        }
        r->len += (size_t) got;
    }
}

static int
dial(const struct sockaddr_storage *sa)
{
    struct timeval tv = {INFO_TIMEOUT_MS / 1000, (INFO_TIMEOUT_MS % 1000) * 1000};
    socklen_t len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6);
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *) sa, len) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* Read the answers: `skip` status lines first, then the verb's rows up to its status. */
static int
converse(struct reader *r, unsigned skip, qry_row_fn *row, void *row_arg)
{
    static const size_t cap = INFO_LINE_MAX;
    char *line = malloc(cap);
    size_t n = 0;
    int rc = line != NULL ? 0 : -ENOMEM;
    while (rc == 0 && (rc = read_line(r, line, cap, &n)) == 0) {
        bool ok = strncmp(line, "OK", 2) == 0, err = strncmp(line, "ERR ", 4) == 0;
        if (err) {
            rc = strncmp(line, "ERR UNAVAILABLE", 15) == 0 ? -ENOTSUP : -EIO;
        } else if (ok && skip > 0) {
            skip--;
        } else if (ok) {
            break;
        } else if (n > 1 && line[0] == '{') {
            rc = json_row(line, n, row, row_arg);
        } else {
            rc = -EPROTO;
        }
    }
    free(line);
    return rc;
}

int
coll_http_info_proto(void *arg, const char *what, qry_row_fn *row, void *row_arg)
{
    const struct coll_http_info_src *src = arg;
    const char *verb = strcmp(what, "stats") == 0       ? "STATS"
                       : strcmp(what, "exporters") == 0 ? "EXPORTERS"
                       : strcmp(what, "health") == 0    ? "HEALTH" /* http_health.c */
                                                        : NULL;
    char req[512];
    if (verb == NULL) {
        return -ENOTSUP; /* "forget ..." and the like are not for HTTP */
    }
    int len = snprintf(req, sizeof(req), "%s%s%sFORMAT json\n%s\nQUIT\n",
                       src->token[0] != '\0' ? "AUTH " : "", src->token,
                       src->token[0] != '\0' ? "\n" : "", verb);
    if (len < 0 || (size_t) len >= sizeof(req)) {
        return -EINVAL;
    }
    struct reader *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    int rc = r->fd = dial(&src->addr);
    if (rc >= 0) {
        rc = send(r->fd, req, (size_t) len, MSG_NOSIGNAL) == len ? 0 : -EIO;
        if (rc == 0) {
            rc = converse(r, src->token[0] != '\0' ? 2 : 1, row, row_arg);
        }
        close(r->fd);
    }
    free(r);
    return rc;
}

int
coll_http_info_src_set(struct coll_http_info_src *src, const char *addr, const char *token)
{
    char host[64];
    const char *port;
    memset(src, 0, sizeof(*src));
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (e == NULL || e[1] != ':' || (size_t) (e - addr - 1) >= sizeof(host)) {
            return -EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int) (e - addr - 1), addr + 1);
        port = e + 2;
    } else {
        const char *c = strrchr(addr, ':');
        if (c == NULL || (size_t) (c - addr) >= sizeof(host)) {
            return -EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int) (c - addr), addr);
        port = c + 1;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *) &src->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &src->addr;
    unsigned long p = strtoul(port, NULL, 10);
    if (p == 0 || p > 65535 || strlen(token) >= sizeof(src->token)) {
        return -EINVAL;
    }
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) p);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t) p);
    } else {
        return -EINVAL;
    }
    /* A wildcard address is reached on loopback. */
    if (v4->sin_family == AF_INET && v4->sin_addr.s_addr == htonl(INADDR_ANY)) {
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (v6->sin6_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) {
        v6->sin6_addr = in6addr_loopback;
    }
    snprintf(src->token, sizeof(src->token), "%s", token);
    return 0;
}
