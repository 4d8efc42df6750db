/* SPDX-License-Identifier: MIT */
/*
 * UDP listeners: libuv sockets with recvmmsg batching (UV_UDP_RECVMMSG, libuv >= 1.40) and a
 * large receive buffer, each owning one receive slab that is reused for every batch (records
 * are decoded synchronously in the receive callback, so nothing outlives it).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"

#define SLAB (64u * 1024u * 32u) /* 32 datagrams of the largest size per recvmmsg */

struct coll_listener {
    uv_udp_t udp;
    struct coll_pipeline *pipe;
    char *slab;
};

int
coll_listen_parse(const char *spec, struct sockaddr_storage *addr, char *msg, size_t msglen)
{
    char host[64];
    unsigned port;
    const char *rest;

    memset(addr, 0, sizeof(*addr));
    if (strncmp(spec, "udp:", 4) != 0) {
        snprintf(msg, msglen, "listener %s: only udp:ADDR:PORT is supported yet", spec);
        return -EINVAL;
    }
    rest = spec + 4;
    if (rest[0] == '[') {
        const char *end = strchr(rest, ']');
        if (end == NULL || end[1] != ':' || (size_t) (end - rest - 1) >= sizeof(host)) {
            goto bad;
        }
        memcpy(host, rest + 1, (size_t) (end - rest - 1));
        host[end - rest - 1] = '\0';
        rest = end + 2;
    } else {
        const char *colon = strrchr(rest, ':');
        if (colon == NULL || (size_t) (colon - rest) >= sizeof(host)) {
            goto bad;
        }
        memcpy(host, rest, (size_t) (colon - rest));
        host[colon - rest] = '\0';
        rest = colon + 1;
    }
    char *endp;
    unsigned long p = strtoul(rest, &endp, 10);
    if (*rest == '\0' || *endp != '\0' || p > 65535) {
        goto bad;
    }
    port = (unsigned) p;
    if (uv_ip4_addr(host, (int) port, (struct sockaddr_in *) addr) == 0 ||
        uv_ip6_addr(host, (int) port, (struct sockaddr_in6 *) addr) == 0) {
        return 0;
    }
bad:
    snprintf(msg, msglen, "listener %s: expected udp:ADDR:PORT (udp:[::]:4739 for IPv6)", spec);
    return -EINVAL;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct coll_listener *l = h->data;
    (void) suggested;
    buf->base = l->slab;
    buf->len = SLAB;
}

static void
on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
        unsigned flags)
{
    struct coll_listener *l = u->data;
    (void) buf;
    if ((flags & UV_UDP_MMSG_FREE) || nread <= 0 || from == NULL) {
        return; /* end of a recvmmsg batch (the slab is ours to reuse), or nothing */
    }
    coll_pipeline_datagram(l->pipe, from, (const uint8_t *) buf->base, (size_t) nread,
                           coll_now_ms());
}

int
coll_listen_udp(uv_loop_t *loop, const struct sockaddr *addr, int rcvbuf, struct coll_pipeline *p,
                struct coll_listener **out, char *msg, size_t msglen)
{
    struct coll_listener *l = calloc(1, sizeof(*l));
    int rc;

    if (l == NULL || (l->slab = malloc(SLAB)) == NULL) {
        free(l);
        return -ENOMEM;
    }
    l->pipe = p;
    l->udp.data = l;
    if ((rc = uv_udp_init_ex(loop, &l->udp, (unsigned) addr->sa_family | UV_UDP_RECVMMSG)) != 0) {
        free(l->slab);
        free(l);
        snprintf(msg, msglen, "udp socket: %s", uv_strerror(rc));
        return rc;
    }
    if ((rc = uv_udp_bind(&l->udp, addr, 0)) != 0 ||
        (rc = uv_udp_recv_start(&l->udp, on_alloc, on_recv)) != 0) {
        snprintf(msg, msglen, "udp bind: %s", uv_strerror(rc));
        coll_listen_close(l); /* frees l in the close callback */
        return rc;
    }
    int want = rcvbuf, got = 0;
    uv_recv_buffer_size((uv_handle_t *) &l->udp, &want);
    uv_recv_buffer_size((uv_handle_t *) &l->udp, &got);
    if (got < rcvbuf) {
        snprintf(msg, msglen, "receive buffer %d bytes: the kernel capped it (net.core.rmem_max)",
                 got);
    }
    *out = l;
    return 0;
}

void
coll_listen_name(const struct coll_listener *l, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (uv_udp_getsockname(&l->udp, (struct sockaddr *) &ss, &n) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *) &ss;
            uv_ip4_name(a, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) &ss;
            uv_ip6_name(a, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

static void
on_closed(uv_handle_t *h)
{
    struct coll_listener *l = h->data;
    free(l->slab);
    free(l);
}

void
coll_listen_close(struct coll_listener *l)
{
    if (l != NULL) {
        uv_close((uv_handle_t *) &l->udp, on_closed);
    }
}
