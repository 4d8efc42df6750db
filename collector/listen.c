/* SPDX-License-Identifier: MIT */
/*
 * Listeners.
 *
 * UDP: libuv sockets with recvmmsg batching (UV_UDP_RECVMMSG, libuv >= 1.40) and a large
 * receive buffer, each owning one receive slab reused for every batch (records are decoded
 * synchronously in the receive callback, so nothing outlives it). Once a socket is drained
 * the listener stops reading for PAUSE_MS and lets datagrams gather in the receive buffer:
 * waking for every few datagrams cost more than decoding them (bench/ingest: at 50k
 * datagrams/s, 4,500 wake-ups a second and 10% of flowlogd's CPU in the context switches;
 * docs/bench.md). It pauses only with a receive buffer of at least PAUSE_RCVBUF, which holds
 * a pause's worth of datagrams at several hundred thousand a second.
 *
 * Overload: when the store has no free batch (its writer is behind), the pipeline would
 * decode records only to drop them. The listener then stops reading, at once or, inside a
 * recvmmsg batch, after the datagrams libuv already took off the socket (those are decoded
 * and counted as records-dropped: stopping mid-batch would lose them uncounted), and retries
 * every PAUSE_MS. Meanwhile the kernel drops whole datagrams when the receive buffer fills,
 * counted in socket_drops; each stop is counted in overload_pauses. CPU goes to the writer
 * instead of to records that are thrown away (docs/bench.md, bench/ingest).
 *
 * TCP (IPFIX only, RFC 7011 §10.4): each session keeps a reassembly buffer while it holds
 * part of a message (allocated when bytes arrive, freed when empty); whole messages are cut
 * from the stream with dec_msg_len (the decoder reads the header) and decoded as they
 * complete, however the stream was split. A stream that is not IPFIX, a header length under
 * 16, or a message cut at EOF is counted (tcp-bad-streams) and logged, rate-limited; the
 * first two close the session. When a session ends, its exporter's templates are forgotten.
 * Sessions are bounded: max_tcp_sessions over all TCP listeners (more are closed at accept,
 * counted), an idle timeout (a sweep once a second), and COLL_FD_RESERVE descriptors kept
 * for the store.
 *
 * Both check the exporter allow-list before anything is decoded (a UDP datagram from an
 * address not on it is counted and dropped; a TCP connection is accepted and closed at once)
 * and count per listener what they turned away and what the kernel dropped.
 */
#define _DEFAULT_SOURCE /* SO_MEMINFO comes with <asm/socket.h>, under __USE_MISC */
#include <errno.h>
#include <inttypes.h>
#include <linux/sock_diag.h> /* SK_MEMINFO_DROPS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "coll.h"

#define SLAB     (64u * 1024u * 32u) /* 32 datagrams of the largest size per recvmmsg */
#define TCP_BUF  (64u * 1024u)       /* an IPFIX message is at most 65535 bytes */
#define TCP_READ (16u * 1024u)
#define PAUSE_MS     4u
#define PAUSE_RCVBUF (1 << 20)

struct tcp_session;

struct coll_listener {
    bool tcp;
    const struct coll_allow *allow; /* owned by the caller; NULL = everyone */
    struct coll_listen_stats st;
    union {
        uv_udp_t udp;
        uv_tcp_t server;
    } h;
    struct coll_pipeline *pipe;
    char *slab;                   /* UDP receive slab */
    uv_timer_t pause;             /* UDP: resumes reading after a drain; TCP: idle sweep */
    struct coll_tcp_sessions *shared; /* TCP: the session budget of all TCP listeners */
    struct coll_lograte bad_rl;   /* TCP: bad streams' log line */
    bool pausing;                 /* UDP: the buffer is big enough to pause */
    bool starved;                 /* UDP: stop reading at the end of this recvmmsg batch */
    int handles;                  /* open libuv handles, its sessions' included; freed when the
                                     last closes */
    struct tcp_session *sessions; /* TCP: open sessions, to close with the listener */
    bool closing;
};

struct tcp_session {
    uv_tcp_t tcp;
    struct coll_listener *owner;
    struct sockaddr_storage peer;
    uint8_t *buf; /* TCP_BUF + TCP_READ bytes while it holds part of a message, else NULL */
    size_t len;
    uint64_t last_ms; /* last bytes received (loop time) */
    bool counted;     /* in the session budget */
    struct tcp_session *next;
};

/* ---- UDP ---- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct coll_listener *l = h->data;
    (void) suggested;
    buf->base = l->slab;
    buf->len = SLAB;
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags);

static void
on_resume(uv_timer_t *t)
{
    struct coll_listener *l = t->data;
    if (l->closing) {
        return;
    }
    if (coll_pipeline_starved(l->pipe)) {
        coll_pipeline_flush(l->pipe); /* drops what the scratch holds, asks for a batch */
    }
    if (coll_pipeline_starved(l->pipe)) {
        uv_timer_start(&l->pause, on_resume, PAUSE_MS, 0); /* still none: the kernel drops */
        return;
    }
    uv_udp_recv_start(&l->h.udp, on_alloc, on_recv);
}

/* Stop reading for PAUSE_MS: the socket is drained, or the store has no free batch. */
static void
pause_reading(struct coll_listener *l)
{
    l->starved = false;
    uv_udp_recv_stop(&l->h.udp);
    uv_timer_start(&l->pause, on_resume, PAUSE_MS, 0);
}

/* After a datagram: with no free batch, stop now, or at the end of a recvmmsg batch (libuv
 * has read its datagrams already and would drop the rest of it on a stop). */
static void
check_starved(struct coll_listener *l, unsigned flags)
{
    if (l->closing || !coll_pipeline_starved(l->pipe)) {
        return;
    }
    if (!l->starved) {
        l->st.overload_pauses++;
    }
    if (flags & UV_UDP_MMSG_CHUNK) {
        l->starved = true;
    } else {
        pause_reading(l);
    }
}

static void
on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
        unsigned flags)
{
    struct coll_listener *l = u->data;
    if (nread == 0 && from == NULL && !(flags & UV_UDP_MMSG_FREE)) {
        /* The socket is drained (EAGAIN): let the next datagrams gather before reading. */
        if ((l->pausing || l->starved) && !l->closing) {
            pause_reading(l);
        }
        return;
    }
    if ((flags & UV_UDP_MMSG_FREE) || nread < 0 || from == NULL) {
        /* The end of a recvmmsg batch (the slab is ours to reuse), or an error. */
        if (l->starved && !l->closing) {
            pause_reading(l);
        }
        return;
    }
    /* An empty datagram (nread 0 with a sender) is a datagram too: the decoder counts it as
     * truncated. */
    if (!coll_allow_match(l->allow, from)) {
        l->st.denied_datagrams++; /* before decoding: a stranger teaches us no templates */
        l->st.denied_octets += (uint64_t) nread;
        return;
    }
    coll_pipeline_message(l->pipe, from, DEC_TR_UDP, (const uint8_t *) buf->base, (size_t) nread,
                          flow_wall_ms());
    check_starved(l, flags);
}

/* One of the listener's handles (its sockets, its timer, a TCP session) closed; the last
 * frees it. libuv runs close callbacks in no promised order. */
static void
listener_release(struct coll_listener *l)
{
    if (--l->handles > 0) {
        return;
    }
    free(l->slab);
    free(l);
}

static void
on_closed(uv_handle_t *h)
{
    listener_release(h->data);
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
    l->h.udp.data = l;
    l->pause.data = l;
    if ((rc = uv_udp_init_ex(loop, &l->h.udp, (unsigned) addr->sa_family | UV_UDP_RECVMMSG)) != 0) {
        free(l->slab);
        free(l);
        snprintf(msg, msglen, "udp socket: %s", uv_strerror(rc));
        return rc;
    }
    uv_timer_init(loop, &l->pause); /* cannot fail */
    l->handles = 2;
    /* IPv6 sockets are IPv6-only, so udp:0.0.0.0:P and udp:[::]:P can both be bound. */
    unsigned v6only = addr->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
    if ((rc = uv_udp_bind(&l->h.udp, addr, v6only)) != 0 ||
        (rc = uv_udp_recv_start(&l->h.udp, on_alloc, on_recv)) != 0) {
        snprintf(msg, msglen, "udp bind: %s", uv_strerror(rc));
        uv_close((uv_handle_t *) &l->pause, on_closed);
        uv_close((uv_handle_t *) &l->h.udp, on_closed);
        return rc;
    }
    int got = 0;
    coll_listen_set_rcvbuf(l, rcvbuf, &got);
    if (got < rcvbuf) {
        snprintf(msg, msglen, "receive buffer %d bytes: the kernel capped it (net.core.rmem_max)",
                 got);
    }
    *out = l;
    return 0;
}

/* ---- TCP ---- */

static void
session_closed(uv_handle_t *h)
{
    struct tcp_session *s = h->data;
    struct coll_listener *l = s->owner;
    for (struct tcp_session **pp = &l->sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->counted) {
        l->shared->open--;
        l->st.tcp_sessions--;
    }
    free(s->buf);
    free(s);
    listener_release(l); /* each session holds the listener */
}

/* A stream that cannot be framed, or was cut in a message: counted and logged. */
static void
bad_stream(struct tcp_session *s, const char *why)
{
    char peer[80];
    s->owner->st.tcp_bad_streams++;
    coll_sockaddr_name((const struct sockaddr *) &s->peer, peer, sizeof(peer));
    coll_log_rl(&s->owner->bad_rl, COLL_LOG_WARNING,
                "tcp %s: %s; session closed (tcp-bad-streams %" PRIu64 ")", peer, why,
                s->owner->st.tcp_bad_streams);
}

static void
session_end(struct tcp_session *s)
{
    if (!uv_is_closing((uv_handle_t *) &s->tcp)) {
        coll_pipeline_forget(s->owner->pipe, (const struct sockaddr *) &s->peer);
        uv_close((uv_handle_t *) &s->tcp, session_closed);
    }
}

/* The reassembly buffer is allocated when bytes arrive and freed when it is empty again, so
 * an idle session costs no buffer. */
static void
session_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tcp_session *s = h->data;
    (void) suggested;
    if (s->buf == NULL) {
        s->buf = malloc(TCP_BUF + TCP_READ);
    }
    buf->base = s->buf != NULL ? (char *) s->buf + s->len : NULL;
    buf->len = s->buf != NULL ? TCP_READ : 0;
}

/* Cut and decode every whole message at the front of the buffer. */
static void
session_drain(struct tcp_session *s)
{
    size_t off = 0;
    for (;;) {
        long need = dec_msg_len(s->buf + off, s->len - off);
        if (need < 0) {
            bad_stream(s, need == DEC_E_VERSION ? "not IPFIX"
                                                : "IPFIX header length under 16 bytes");
            session_end(s); /* nothing more can be framed */
            return;
        }
        if (need == 0 || (size_t) need > s->len - off) {
            break;
        }
        coll_pipeline_message(s->owner->pipe, (const struct sockaddr *) &s->peer, DEC_TR_TCP,
                              s->buf + off, (size_t) need, flow_wall_ms());
        off += (size_t) need;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
    if (s->len == 0) {
        free(s->buf);
        s->buf = NULL;
    }
}

static void
session_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_session *s = st->data;
    (void) buf;
    if (nread == UV_ENOBUFS) {
        return; /* no memory for the buffer now: libuv asks again */
    }
    if (nread < 0) {
        if (s->len > 0) {
            bad_stream(s, "a message cut off by the end of the stream");
        }
        session_end(s);
        return;
    }
    s->last_ms = uv_now(st->loop);
    s->len += (size_t) nread;
    session_drain(s);
}

/* Once a second: close sessions that sent nothing for the idle timeout. */
static void
on_sweep(uv_timer_t *t)
{
    struct coll_listener *l = t->data;
    uint64_t now = uv_now(t->loop), idle_ms = l->shared->cfg.idle_timeout_s * 1000ull;
    for (struct tcp_session *s = l->sessions; s != NULL; s = s->next) {
        if (s->counted && now - s->last_ms > idle_ms && !uv_is_closing((uv_handle_t *) &s->tcp)) {
            l->st.tcp_idle_closed++;
            session_end(s);
        }
    }
}

/* Why a connection is closed at accept: NULL when it is served. */
static uint64_t *
refusal(struct coll_listener *l, struct tcp_session *s)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *) &s->tcp, &fd) == 0 && coll_fd_scarce(fd)) {
        return &l->st.fd_refused;
    }
    if (!coll_allow_match(l->allow, (const struct sockaddr *) &s->peer)) {
        return &l->st.denied_connections; /* accepted only to be closed: nothing is read */
    }
    if (l->shared->open >= l->shared->cfg.max_sessions) {
        return &l->st.tcp_refused;
    }
    return NULL;
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct coll_listener *l = server->data;
    if (status != 0 || l->closing) {
        return;
    }
    struct tcp_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return;
    }
    s->owner = l;
    s->tcp.data = s;
    uv_tcp_init(server->loop, &s->tcp);
    l->handles++; /* released in session_closed */
    s->next = l->sessions;
    l->sessions = s;
    int n = sizeof(s->peer);
    if (uv_accept(server, (uv_stream_t *) &s->tcp) != 0 ||
        uv_tcp_getpeername(&s->tcp, (struct sockaddr *) &s->peer, &n) != 0) {
        uv_close((uv_handle_t *) &s->tcp, session_closed);
        return;
    }
    uint64_t *why = refusal(l, s);
    if (why != NULL) {
        (*why)++;
        uv_close((uv_handle_t *) &s->tcp, session_closed);
        return;
    }
    s->counted = true;
    s->last_ms = uv_now(server->loop);
    l->shared->open++;
    l->st.tcp_sessions++;
    l->st.tcp_accepted++;
    if (uv_read_start((uv_stream_t *) &s->tcp, session_alloc, session_read) != 0) {
        uv_close((uv_handle_t *) &s->tcp, session_closed);
    }
}

int
coll_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, struct coll_pipeline *p,
                struct coll_tcp_sessions *shared, struct coll_listener **out, char *msg,
                size_t msglen)
{
    struct coll_listener *l = calloc(1, sizeof(*l));
    int rc;

    if (l == NULL) {
        return -ENOMEM;
    }
    l->tcp = true;
    l->pipe = p;
    l->shared = shared;
    l->h.server.data = l;
    l->pause.data = l;
    uv_tcp_init(loop, &l->h.server);
    uv_timer_init(loop, &l->pause);
    l->handles = 2;
    unsigned v6only = addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    if ((rc = uv_tcp_bind(&l->h.server, addr, v6only)) != 0 ||
        (rc = uv_listen((uv_stream_t *) &l->h.server, 128, on_connection)) != 0) {
        snprintf(msg, msglen, "tcp listen: %s", uv_strerror(rc));
        uv_close((uv_handle_t *) &l->pause, on_closed);
        uv_close((uv_handle_t *) &l->h.server, on_closed);
        return rc;
    }
    uv_timer_start(&l->pause, on_sweep, 1000, 1000);
    *out = l;
    return 0;
}

bool
coll_fd_scarce(int fd)
{
    struct rlimit rl;
    /* Read each time (one system call per accepted connection): main.c raises the limit at
     * start, and both loops call this. */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return false;
    }
    return (rlim_t) fd + COLL_FD_RESERVE >= rl.rlim_cur;
}

/* ---- both ---- */

void
coll_listen_set_allow(struct coll_listener *l, const struct coll_allow *allow)
{
    l->allow = allow;
}

int
coll_listen_set_rcvbuf(struct coll_listener *l, int rcvbuf, int *got)
{
    int want = rcvbuf, rc;
    *got = 0;
    if (l->tcp) {
        return 0;
    }
    /* Linux doubles what it is given and reports the doubled size; libuv halves it back. */
    if ((rc = uv_recv_buffer_size((uv_handle_t *) &l->h.udp, &want)) != 0) {
        return rc;
    }
    rc = uv_recv_buffer_size((uv_handle_t *) &l->h.udp, got);
    l->pausing = rc == 0 && *got >= PAUSE_RCVBUF;
    return rc;
}

/*
 * The kernel's drop count for the socket. libuv 1.44 gives no access to control messages
 * (its recvmmsg path passes no msg_control, so SO_RXQ_OVFL's cmsg never reaches us), so the
 * same counter, sk_drops, is read with getsockopt(SO_MEMINFO) (Linux 4.6+). It counts
 * datagrams the kernel dropped because the receive buffer was full (and a few other
 * refusals, such as a bad checksum). Where SO_MEMINFO is missing it reads 0.
 */
#if defined(__linux__) && !defined(SO_MEMINFO)
#error "SO_MEMINFO missing: the socket drop counter would silently read 0"
#endif
static uint64_t
socket_drops(const struct coll_listener *l)
{
#ifdef SO_MEMINFO
    uv_os_fd_t fd;
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof(mem);
    if (l->tcp || uv_fileno((const uv_handle_t *) &l->h.udp, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
        len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) {
        return 0;
    }
    return mem[SK_MEMINFO_DROPS];
#else
    (void) l;
    return 0;
#endif
}

void
coll_listen_stats(const struct coll_listener *l, struct coll_listen_stats *out)
{
    *out = l->st;
    out->socket_drops = socket_drops(l);
}

void
coll_listen_name(const struct coll_listener *l, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    int rc = l->tcp ? uv_tcp_getsockname(&l->h.server, (struct sockaddr *) &ss, &n)
                    : uv_udp_getsockname(&l->h.udp, (struct sockaddr *) &ss, &n);

    if (rc == 0) {
        coll_sockaddr_name((const struct sockaddr *) &ss, buf, len);
    } else {
        snprintf(buf, len, "?:0");
    }
}

const char *
coll_listen_proto(const struct coll_listener *l)
{
    return l->tcp ? "tcp" : "udp";
}

void
coll_listen_close(struct coll_listener *l)
{
    if (l == NULL) {
        return;
    }
    l->closing = true;
    for (struct tcp_session *s = l->sessions; s != NULL; s = s->next) {
        session_end(s); /* each frees itself in its close callback */
    }
    uv_close((uv_handle_t *) &l->pause, on_closed);
    uv_close(l->tcp ? (uv_handle_t *) &l->h.server : (uv_handle_t *) &l->h.udp, on_closed);
}
