/* SPDX-License-Identifier: MIT */
/*
 * The repeater: every message the listeners accept (after the allow-list, before decoding)
 * goes on, byte for byte, as one UDP datagram to each [repeat] destination, the way
 * nfcapd -R and samplicator do. A message framed from an IPFIX-over-TCP stream goes as a
 * datagram too (RFC 7011 §10.3: the same message over UDP); one over 65507 bytes cannot and
 * is counted as an error.
 *
 * Ingest never waits for a destination: each has a connected UDP socket opened with
 * SOCK_NONBLOCK, and its kernel send buffer ([repeat] sndbuf) is the bounded queue. When it
 * is full the copy is dropped and counted; a destination with nothing listening answers with
 * ICMP port unreachable, which the connected socket reports on a later send (ECONNREFUSED),
 * counted as an error and logged rate-limited. Nothing else is affected.
 *
 * One repeater per process, used from the ingest loop's thread only: pipeline.c calls
 * coll_repeat_tap for every message, so the receive path needs no pointer to it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coll.h"
#include "repeat.h"

struct dest {
    int fd;
    struct coll_repeat_stats st;
    struct coll_lograte rl; /* send errors */
};

struct coll_repeat {
    size_t n;
    struct dest d[COLL_REPEAT_MAX];
};

/* The open repeater (ingest loop's thread only), or NULL. */
static struct coll_repeat *active;

/* "HOST:PORT" or "[V6]:PORT" into host and port strings (coll_repeat_split checked the form). */
static void
split_host(const char *spec, char *host, size_t hostlen, const char **port)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec;
    size_t len = (size_t) (colon - spec);
    if (spec[0] == '[') {
        h++;
        len -= 2;
    }
    if (len >= hostlen) {
        len = hostlen - 1;
    }
    memcpy(host, h, len);
    host[len] = '\0';
    *port = colon + 1;
}

/* Resolve spec and open d's non-blocking socket connected to it. */
static int
dest_open(struct dest *d, const char *spec, uint32_t sndbuf, char *msg, size_t msglen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char host[COLL_REPEAT_SPEC];
    const char *port;
    int sb = (int) sndbuf;
    int rc;

    split_host(spec, host, sizeof(host), &port);
    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
        snprintf(msg, msglen, "repeat.to: %s: %s", spec, gai_strerror(rc));
        return -EINVAL;
    }
    d->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        rc = -errno;
        goto free_ai;
    }
    /* The kernel may give less (net.core.wmem_max); what it gives is the queue. */
    (void) setsockopt(d->fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
    if (connect(d->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = -errno;
        goto close_fd;
    }
    coll_sockaddr_name(ai->ai_addr, d->st.name, sizeof(d->st.name));
    freeaddrinfo(ai);
    return 0;
close_fd:
    close(d->fd);
    d->fd = -1;
free_ai:
    snprintf(msg, msglen, "repeat.to: %s: %s", spec, strerror(-rc));
    freeaddrinfo(ai);
    return rc;
}

int
coll_repeat_open(const struct coll_repeat_cfg *cfg, struct coll_repeat **out, char *msg,
                 size_t msglen)
{
    char items[COLL_REPEAT_MAX][COLL_REPEAT_SPEC];
    struct coll_repeat *r;
    int n = coll_repeat_split(cfg->to, items, msg, msglen);
    int rc = 0;

    *out = NULL;
    if (n <= 0) {
        return n;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        if ((rc = dest_open(&r->d[i], items[i], cfg->sndbuf_bytes, msg, msglen)) != 0) {
            goto close_r;
        }
        r->n++;
    }
    active = r;
    *out = r;
    return 0;
close_r:
    coll_repeat_close(r);
    return rc;
}

static void
dest_send(struct dest *d, const uint8_t *data, size_t len)
{
    ssize_t n = send(d->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
        d->st.sent++;
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        d->st.dropped++;
        return;
    }
    d->st.errors++;
    coll_log_rl(&d->rl, COLL_LOG_WARNING, "repeat: %s: %s (copies to it are lost)", d->st.name,
                strerror(errno));
}

void
coll_repeat_tap(const uint8_t *data, size_t len)
{
    if (active == NULL) {
        return;
    }
    for (size_t i = 0; i < active->n; i++) {
        dest_send(&active->d[i], data, len);
    }
}

void
coll_repeat_totals(struct coll_repeat_totals *out)
{
    memset(out, 0, sizeof(*out));
    if (active == NULL) {
        return;
    }
    out->n = active->n;
    for (size_t i = 0; i < active->n; i++) {
        out->d[i] = active->d[i].st;
    }
}

void
coll_repeat_close(struct coll_repeat *r)
{
    if (r == NULL) {
        return;
    }
    if (active == r) {
        active = NULL;
    }
    for (size_t i = 0; i < r->n; i++) {
        close(r->d[i].fd);
    }
    free(r);
}
