/* SPDX-License-Identifier: MIT */
/*
 * The query server: libuv TCP and unix socket listeners on the query plane's loop
 * (qplane.c), each with its own client budget, so that TCP clients cannot lock the unix
 * socket out; a once-a-second timer that closes stalled, idle, unauthenticated and
 * slowloris clients (qclient_check); an idle handle that gives clients whose burst of
 * pipelined requests ran out their next turn. The protocol is query/session.c, one client's
 * I/O is qclient.c, the host's counters are qinfo.c. docs/protocol.md is the reference.
 *
 * Beyond a budget a new connection is told `ERR BUSY` and closed. A non-loopback TCP
 * address needs a token. The unix socket's path is replaced only if it is a socket, made
 * mode 0600, and removed at stop only if it is still the socket we bound.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qserver_int.h"

void
qserver_release(struct coll_qserver *s)
{
    if (--s->nopen == 0 && s->stopping) {
        free(s->ex);
        free(s);
    }
}

static void
on_handle_closed(uv_handle_t *h)
{
    qserver_release(h->data);
}

static void
on_connection(uv_stream_t *lis, int status)
{
    struct coll_qserver *s = lis->data;
    if (status < 0 || s->stopping) {
        return;
    }
    qclient_accept(s, lis, lis->type == UV_NAMED_PIPE ? QS_UNIX : QS_TCP);
}

static void
on_timer(uv_timer_t *t)
{
    struct coll_qserver *s = t->data;
    uint64_t now = uv_now(s->loop), last = s->tick_ms;
    struct client *c = s->clients, *next;
    s->tick_ms = now;
    if (now - last > 2 * QS_TICK_MS) {
        /* The loop itself was held up (a slow store call, a busy ingest loop): what clients
         * sent meanwhile is not read yet, so their clocks would lie. Check next time. */
        return;
    }
    for (; c != NULL; c = next) {
        next = c->next; /* closing c unlinks it; its memory stays until its close callback */
        qclient_check(c, now);
    }
}

static void
on_idle(uv_idle_t *h)
{
    struct coll_qserver *s = h->data;
    bool more = false;
    struct client *c = s->clients, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (c->yielded) {
            c->yielded = false;
            qclient_pump(c);
            more |= c->yielded;
        }
    }
    if (!more) {
        uv_idle_stop(&s->idle);
        s->idle_on = false;
    }
}

void
qserver_yielded(struct coll_qserver *s)
{
    if (!s->idle_on && !s->stopping) {
        uv_idle_start(&s->idle, on_idle);
        s->idle_on = true;
    }
}

static bool
is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

/* "ADDR:PORT" or "[V6]:PORT" into addr. */
static int
parse_addr(const char *spec, struct sockaddr_storage *addr)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t) (colon - spec) >= sizeof(host)) {
        return -EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535) {
        return -EINVAL;
    }
    memcpy(host, spec, (size_t) (colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
        return uv_ip6_addr(host, (int) port, (struct sockaddr_in6 *) addr) == 0 ? 0 : -EINVAL;
    }
    return uv_ip4_addr(host, (int) port, (struct sockaddr_in *) addr) == 0 ? 0 : -EINVAL;
}

static int
listen_tcp(struct coll_qserver *s, char *msg, size_t msglen)
{
    struct sockaddr_storage addr;
    int rc;
    memset(&addr, 0, sizeof(addr));
    if (parse_addr(s->cfg.tcp, &addr) != 0) {
        snprintf(msg, msglen, "query address '%s': expected ADDR:PORT or [V6]:PORT", s->cfg.tcp);
        return -EINVAL;
    }
    if (!is_loopback((struct sockaddr *) &addr) && s->cfg.token[0] == '\0') {
        snprintf(msg, msglen,
                 "query address %s is not loopback: set a token (query.token) to serve it",
                 s->cfg.tcp);
        return -EPERM;
    }
    uv_tcp_init(s->loop, &s->lis[QS_TCP].tcp);
    s->lis[QS_TCP].handle.data = s;
    s->lis_open[QS_TCP] = true;
    s->nopen++;
    if ((rc = uv_tcp_bind(&s->lis[QS_TCP].tcp, (struct sockaddr *) &addr, 0)) != 0 ||
        (rc = uv_listen(&s->lis[QS_TCP].stream, 64, on_connection)) != 0) {
        snprintf(msg, msglen, "query %s: %s", s->cfg.tcp, uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(&s->lis[QS_TCP].tcp, (struct sockaddr *) &got, &len);
    coll_sockaddr_name((const struct sockaddr *) &got, s->name, sizeof(s->name));
    return 0;
}

/* A socket left at path by an earlier run is removed; anything else there is kept. */
static int
clear_unix_path(const char *path, char *msg, size_t msglen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(msg, msglen, "query socket %s: exists and is not a socket; not replacing it",
                 path);
        return -EEXIST;
    }
    return unlink(path) == 0 ? 0 : -errno;
}

static int
listen_unix(struct coll_qserver *s, char *msg, size_t msglen)
{
    const char *path = s->cfg.unix_path;
    struct stat st;
    int rc;
    uv_pipe_init(s->loop, &s->lis[QS_UNIX].pipe, 0);
    s->lis[QS_UNIX].handle.data = s;
    s->lis_open[QS_UNIX] = true;
    s->nopen++;
    if ((rc = clear_unix_path(path, msg, msglen)) != 0) {
        if (msg[0] == '\0') {
            snprintf(msg, msglen, "query socket %s: %s", path, strerror(-rc));
        }
        return rc;
    }
    if ((rc = uv_pipe_bind(&s->lis[QS_UNIX].pipe, path)) != 0) {
        snprintf(msg, msglen, "query socket %s: %s", path, uv_strerror(rc));
        return rc;
    }
    /* Owner only, whatever the umask: the socket is as good as a token. */
    if (lstat(path, &st) == 0) {
        s->unix_bound = true;
        s->unix_dev = st.st_dev;
        s->unix_ino = st.st_ino;
    }
    if (chmod(path, 0600) != 0 || (rc = uv_listen(&s->lis[QS_UNIX].stream, 64, on_connection))) {
        rc = rc != 0 ? rc : -errno;
        snprintf(msg, msglen, "query socket %s: %s", path, uv_strerror(rc));
        return rc;
    }
    return 0;
}

int
coll_qserver_start(uv_loop_t *loop, struct stor_env *stor, const struct coll_qserver_cfg *cfg,
                   const struct coll_qserver_ingest *in, struct coll_qserver **out, char *msg,
                   size_t msglen)
{
    struct coll_qserver *s = calloc(1, sizeof(*s));
    int rc = 0;
    if (s == NULL) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->stor = stor;
    s->cfg = *cfg;
    s->in = *in;
    s->cfg.max_clients = s->cfg.max_clients != 0 ? s->cfg.max_clients : 64;
    s->cfg.unix_max_clients = s->cfg.unix_max_clients != 0 ? s->cfg.unix_max_clients : 16;
    uv_timer_init(loop, &s->timer);
    uv_idle_init(loop, &s->idle);
    s->timer.data = s->idle.data = s;
    s->nopen += 2;
    s->tick_ms = uv_now(loop);
    uv_timer_start(&s->timer, on_timer, QS_TICK_MS, QS_TICK_MS);
    msg[0] = '\0';
    if (s->cfg.tcp[0] != '\0' && (rc = listen_tcp(s, msg, msglen)) != 0) {
        goto fail;
    }
    if (s->cfg.unix_path[0] != '\0' && (rc = listen_unix(s, msg, msglen)) != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    coll_qserver_stop(s);
    return rc;
}

void
coll_qserver_name(const struct coll_qserver *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", s->name);
}

void
coll_qserver_stats(const struct coll_qserver *s, struct coll_qserver_stats *out)
{
    *out = s->st;
    out->clients = s->nclients[QS_TCP] + s->nclients[QS_UNIX];
}

void
coll_qserver_set_limits(struct coll_qserver *s, const struct coll_qserver_cfg *q)
{
    s->cfg.max_clients = q->max_clients;
    s->cfg.unix_max_clients = q->unix_max_clients;
    s->cfg.idle_timeout_s = q->idle_timeout_s;
    s->cfg.auth_timeout_s = q->auth_timeout_s;
    s->cfg.line_timeout_s = q->line_timeout_s;
    s->cfg.time_limit_ms = q->time_limit_ms;
    s->cfg.memory_limit = q->memory_limit;
    s->cfg.row_limit = q->row_limit;
    s->cfg.slow_ms = q->slow_ms;
}

/* Remove the socket file if it is still the one we bound. */
static void
remove_unix_path(const struct coll_qserver *s)
{
    struct stat st;
    if (s->unix_bound && lstat(s->cfg.unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == s->unix_dev && st.st_ino == s->unix_ino) {
        unlink(s->cfg.unix_path);
    }
}

void
coll_qserver_stop(struct coll_qserver *s)
{
    if (s == NULL || s->stopping) {
        return;
    }
    s->stopping = true;
    s->nopen++; /* held until the end of this function */
    uv_close((uv_handle_t *) &s->timer, on_handle_closed);
    uv_close((uv_handle_t *) &s->idle, on_handle_closed);
    for (int i = 0; i < 2; i++) {
        if (s->lis_open[i]) {
            uv_close(&s->lis[i].handle, on_handle_closed);
        }
    }
    remove_unix_path(s);
    while (s->clients != NULL) {
        qclient_close(s->clients);
    }
    qserver_release(s);
}
