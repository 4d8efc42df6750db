/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server's settings, [http] in flowlogd's config (docs/http.md), apart from http.h
 * so that the config library (coll.h) needs neither query/ nor libmicrohttpd.
 */
#ifndef FLOWLOG_HTTP_CFG_H
#define FLOWLOG_HTTP_CFG_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define COLL_HTTP_SPEC_MAX 128

/* [http] (docs/http.md has every key). The tokens are [query]'s. */
struct coll_http_cfg {
    char listen[COLL_HTTP_SPEC_MAX]; /* "ADDR:PORT" or "[V6]:PORT"; "" = none. 127.0.0.1:7780 */
    uint32_t max_connections;        /* at once; more are closed at accept. 32 */
    uint32_t idle_timeout_s;         /* a connection with no traffic is closed. 30 */
    uint32_t header_max;             /* bytes of request headers (the URL apart). 16 KiB */
    uint32_t body_max;               /* bytes of a request body. 64 KiB */
    char hosts[512]; /* Host names accepted besides IP literals and localhost ("" = none) */
};

/* The [http] defaults. */
static inline void
coll_http_cfg_default(struct coll_http_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:7780");
    cfg->max_connections = 32;
    cfg->idle_timeout_s = 30;
    cfg->header_max = 16 * 1024;
    cfg->body_max = 64 * 1024;
}

#endif
