/* SPDX-License-Identifier: MIT */
/*
 * http_info.c: STATS and EXPORTERS for the HTTP server, asked of the query server over its own
 * line protocol on loopback (so the rows are the query server's, computed on its thread).
 */
#ifndef FLOWLOG_HTTP_INFO_H
#define FLOWLOG_HTTP_INFO_H

#include <sys/socket.h>

#include "qry.h"

struct coll_http_info_src {
    struct sockaddr_storage addr; /* the query server's TCP address */
    char token[256];              /* [query] token or admin_token; "" = none */
};

/* From the query server's bound "ADDR:PORT" / "[V6]:PORT" (a wildcard is reached on
 * loopback) and a token ("" for none). 0 or -EINVAL. */
int coll_http_info_src_set(struct coll_http_info_src *src, const char *addr, const char *token);
/*
 * A qry_info_fn (arg: a struct coll_http_info_src that outlives the HTTP server): "stats" and
 * "exporters" as the query server answers them. Any thread; blocks up to a few seconds.
 * -ENOTSUP for other requests and when the server answers UNAVAILABLE; -EIO for another ERR;
 * -EPROTO for an answer it cannot read; -errno for the connection.
 */
int coll_http_info_proto(void *arg, const char *what, qry_row_fn *row, void *row_arg);

#endif
