/* SPDX-License-Identifier: MIT */
/*
 * The console's files, embedded at build (web/embed.cmake writes web_assets.c): web/src/X as
 * /X, uPlot from npm as /vendor/X. Read-only, static lifetime.
 */
#ifndef FLOWLOG_HTTP_ASSETS_H
#define FLOWLOG_HTTP_ASSETS_H

#include <stddef.h>

struct http_asset {
    const char *path; /* "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct http_asset http_assets[];
extern const size_t http_assets_n;

#endif
