/* SPDX-License-Identifier: MIT */
/*
 * [repeat] config: splitting the destination list into HOST:PORT items and checking their
 * form. Resolving names and opening sockets is repeat.c's, in flowlogd; this file is part of
 * library coll (no I/O), unit-tested in tests/unit/coll/test_repeat.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repeat.h"

/* Is spec HOST:PORT or [V6]:PORT with a port 1..65535? */
static int
check_item(const char *spec, char *msg, size_t msglen)
{
    const char *colon = strrchr(spec, ':');
    char *end = NULL;
    long port;

    if (colon == NULL || colon == spec || (spec[0] == '[' && colon[-1] != ']')) {
        snprintf(msg, msglen, "repeat.to: '%s' is not HOST:PORT or [V6]:PORT", spec);
        return -EINVAL;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535) {
        snprintf(msg, msglen, "repeat.to: '%s' has no port 1..65535", spec);
        return -EINVAL;
    }
    return 0;
}

int
coll_repeat_split(const char *list, char items[][COLL_REPEAT_SPEC], char *msg, size_t msglen)
{
    int n = 0;
    const char *p = list;

    while (*p != '\0') {
        size_t len = strcspn(p, ", \t");
        if (len == 0) {
            p++;
            continue;
        }
        if (n == COLL_REPEAT_MAX) {
            snprintf(msg, msglen, "repeat.to: more than %d destinations", COLL_REPEAT_MAX);
            return -EINVAL;
        }
        if (len >= COLL_REPEAT_SPEC) {
            snprintf(msg, msglen, "repeat.to: an item longer than %d characters",
                     COLL_REPEAT_SPEC - 1);
            return -EINVAL;
        }
        memcpy(items[n], p, len);
        items[n][len] = '\0';
        int rc = check_item(items[n], msg, msglen);
        if (rc != 0) {
            return rc;
        }
        n++;
        p += len;
    }
    return n;
}

int
coll_repeat_append(struct coll_repeat_cfg *cfg, const char *spec)
{
    size_t used = strlen(cfg->to);
    int w = snprintf(cfg->to + used, sizeof(cfg->to) - used, "%s%s", used != 0 ? ", " : "",
                     spec);
    if (w < 0 || (size_t) w >= sizeof(cfg->to) - used) {
        cfg->to[used] = '\0';
        return -ENOSPC;
    }
    return 0;
}
