/* SPDX-License-Identifier: MIT */
/*
 * Export: expired flows -> struct flow_rec (direction, interfaces, identity added here) ->
 * the encoder (encoder/include/enc.h), one encoder per collector so that each
 * collector gets a complete stream with its own sequence numbers and template state
 * (RFC 7011 §10.3.6: sequence numbers are per transport session and observation domain).
 *
 * Transports:
 *  - UDP: a connected socket per collector, so ICMP errors surface as send errors (counted).
 *    Messages are sized to the path MTU the kernel reports (IP_MTU/IPV6_MTU), at most a
 *    1500-byte Ethernet frame: on loopback or jumbo paths a 64 KB datagram would put
 *    thousands of records at the mercy of one lost packet. Templates are refreshed by
 *    message count and time (enc.h defaults: 20 messages, 60 s).
 *  - TCP (IPFIX only, RFC 7011 §10.4): templates once per connection, never refreshed. A
 *    failed send closes the connection; flowprobe reconnects at most every 2 s (wall clock)
 *    with a fresh encoder, so the new session starts with templates and sequence 0. Records
 *    expired while disconnected are lost and counted in send_errors (whole messages).
 *
 * Options records (exporter statistics, sampling, identity) go out at the first tick, every
 * 60 s of export time after that, and at exit.
 */
#define _GNU_SOURCE /* sockets, getaddrinfo, IP_MTU, clock_gettime */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "probe.h"

#define OPTIONS_EVERY_MS 60000u
#define RECONNECT_NS     2000000000ull

struct coll {
    struct probe_export *x;
    int fd;
    bool tcp;
    bool up; /* TCP: connected */
    struct sockaddr_storage sa;
    socklen_t salen;
    struct enc_ctx *enc;
    uint64_t retry_ns; /* TCP: next connect attempt, CLOCK_MONOTONIC */
    unsigned connects;
};

struct probe_export {
    struct probe_export_cfg cfg;
    struct coll c[PROBE_MAX_COLLECTORS];
    unsigned nc;
    uint64_t now_ms;
    uint64_t next_opt_ms;
    struct probe_export_stats st;
};

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ---- parsing ---- */

int
probe_collector_parse(const char *spec, char *host, size_t hostlen, uint16_t *port, bool *tcp)
{
    const char *slash = strrchr(spec, '/');
    const char *colon;
    size_t hl;

    *tcp = false;
    size_t n = slash != NULL ? (size_t) (slash - spec) : strlen(spec);
    if (slash != NULL) {
        if (strcmp(slash + 1, "tcp") == 0) {
            *tcp = true;
        } else if (strcmp(slash + 1, "udp") != 0) {
            return PROBE_E_CONFIG;
        }
    }
    if (n > 0 && spec[0] == '[') {
        const char *rb = memchr(spec, ']', n);
        if (rb == NULL || rb + 1 >= spec + n || rb[1] != ':') {
            return PROBE_E_CONFIG;
        }
        hl = (size_t) (rb - spec - 1);
        memcpy(host, spec + 1, hl < hostlen ? hl : 0);
        colon = rb + 1;
    } else {
        colon = NULL;
        for (const char *p = spec; p < spec + n; p++) {
            colon = *p == ':' ? p : colon;
        }
        if (colon == NULL) {
            return PROBE_E_CONFIG;
        }
        hl = (size_t) (colon - spec);
        memcpy(host, spec, hl < hostlen ? hl : 0);
    }
    if (hl == 0 || hl >= hostlen) {
        return PROBE_E_CONFIG;
    }
    host[hl] = '\0';
    char digits[8];
    size_t dl = (size_t) (spec + n - colon - 1);
    if (dl == 0 || dl >= sizeof(digits)) {
        return PROBE_E_CONFIG;
    }
    memcpy(digits, colon + 1, dl);
    digits[dl] = '\0';
    char *end;
    unsigned long v = strtoul(digits, &end, 10);
    if (*end != '\0' || v == 0 || v > 65535 || digits[0] == '-' || digits[0] == '+') {
        return PROBE_E_CONFIG;
    }
    *port = (uint16_t) v;
    return 0;
}

int
probe_net_parse(const char *spec, struct probe_net *n)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(spec, '/');
    size_t al = slash != NULL ? (size_t) (slash - spec) : strlen(spec);
    unsigned long bits = 0;

    if (al == 0 || al >= sizeof(buf)) {
        return PROBE_E_CONFIG;
    }
    memcpy(buf, spec, al);
    buf[al] = '\0';
    uint8_t v4[4];
    bool is4 = inet_pton(AF_INET, buf, v4) == 1;
    if (is4) {
        flow_addr_set_v4(n->addr, v4);
    } else if (inet_pton(AF_INET6, buf, n->addr) != 1) {
        return PROBE_E_CONFIG;
    }
    unsigned long max = is4 ? 32 : 128;
    if (slash == NULL) {
        bits = max;
    } else {
        char *end;
        bits = strtoul(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || bits > max || slash[1] == '-') {
            return PROBE_E_CONFIG;
        }
    }
    n->bits = (uint8_t) (is4 ? bits + 96 : bits);
    return 0;
}

static bool
net_has(const struct probe_net *n, const uint8_t a[16])
{
    unsigned full = n->bits / 8u, rest = n->bits % 8u;

    if (memcmp(n->addr, a, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t m = (uint8_t) (0xffu << (8 - rest));
    return (n->addr[full] & m) == (a[full] & m);
}

int
probe_direction(const struct probe_net *nets, unsigned nnets, const uint8_t src[16],
                const uint8_t dst[16])
{
    bool s = false, d = false;

    for (unsigned i = 0; i < nnets; i++) {
        s = s || net_has(&nets[i], src);
        d = d || net_has(&nets[i], dst);
    }
    if (s && !d) {
        return FLOW_DIR_OUT;
    }
    if (d && !s) {
        return FLOW_DIR_IN;
    }
    return FLOW_DIR_UNKNOWN;
}

/* ---- sockets ---- */

static int
emit(void *arg, const uint8_t *msg, size_t len)
{
    struct coll *c = arg;
    size_t off = 0;

    c->x->st.messages++;
    if (c->fd < 0 || (c->tcp && !c->up)) {
        c->x->st.send_errors++;
        return -ENOTCONN;
    }
    while (off < len) {
        ssize_t n = send(c->fd, msg + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int err = -errno;
            c->x->st.send_errors++;
            if (c->tcp) {
                /* The stream is now cut mid-message: start over on a new connection. */
                close(c->fd);
                c->fd = -1;
                c->up = false;
            }
            return err;
        }
        off += (size_t) n;
    }
    return 0;
}

static uint16_t
msg_size(const struct coll *c, uint16_t want)
{
    int mtu = 1500;
    socklen_t ml = sizeof(mtu);
    bool v6 = c->sa.ss_family == AF_INET6;

    if (want != 0) {
        return want;
    }
    if (c->tcp) {
        return ENC_MSG_DEFAULT;
    }
    if (getsockopt(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &ml) != 0 ||
        mtu <= 0 || mtu > 1500) {
        mtu = 1500;
    }
    int size = mtu - (v6 ? 48 : 28);
    return (uint16_t) (size < (int) ENC_MSG_MIN ? (int) ENC_MSG_MIN : size);
}

static int
coll_encoder(struct coll *c)
{
    const struct probe_export_cfg *k = &c->x->cfg;
    struct enc_cfg ec = {
        .version = k->version,
        .domain = k->domain,
        .identity_pen = k->pen,
        .sampling = k->sampling,
        .boot_ms = k->boot_ms,
    };

    ec.max_msg = msg_size(c, k->max_msg);
    if (k->version == 5 && ec.max_msg > ENC_MSG_DEFAULT_V5) {
        ec.max_msg = ENC_MSG_DEFAULT_V5;
    }
    if (c->tcp) {
        ec.tmpl_refresh_msgs = UINT32_MAX;
        ec.tmpl_refresh_ms = UINT32_MAX;
    }
    enc_destroy(c->enc);
    c->enc = NULL;
    return enc_create(&c->enc, &ec);
}

/* TCP: (re)connect when due. A fresh connection gets a fresh encoder (templates first). */
static void
coll_connect(struct coll *c)
{
    uint64_t now = mono_ns();

    if (c->up || now < c->retry_ns) {
        return;
    }
    c->retry_ns = now + RECONNECT_NS;
    if (c->fd < 0) {
        c->fd = socket(c->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            return;
        }
        struct timeval tv = {.tv_sec = 1};
        (void) setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (connect(c->fd, (const struct sockaddr *) &c->sa, c->salen) != 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    if (coll_encoder(c) != 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    c->up = true;
    c->x->st.reconnects += c->connects++ > 0 ? 1u : 0u;
}

static int
coll_open(struct coll *c, const char *spec, char *errbuf, size_t errlen)
{
    char host[256], portstr[8];
    uint16_t port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC}, *ai = NULL;

    if (probe_collector_parse(spec, host, sizeof(host), &port, &c->tcp) != 0) {
        snprintf(errbuf, errlen, "collector '%s': want HOST:PORT[/udp|/tcp]", spec);
        return PROBE_E_CONFIG;
    }
    if (c->tcp && c->x->cfg.version != 10) {
        snprintf(errbuf, errlen, "collector '%s': TCP export is IPFIX only (-v 10)", spec);
        return PROBE_E_CONFIG;
    }
    snprintf(portstr, sizeof(portstr), "%u", port);
    hints.ai_socktype = c->tcp ? SOCK_STREAM : SOCK_DGRAM;
    int g = getaddrinfo(host, portstr, &hints, &ai);
    if (g != 0) {
        snprintf(errbuf, errlen, "collector '%s': %s", spec, gai_strerror(g));
        return PROBE_E_CONFIG;
    }
    memcpy(&c->sa, ai->ai_addr, ai->ai_addrlen);
    c->salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    c->fd = -1;
    if (c->tcp) {
        coll_connect(c);
        return 0;
    }
    c->fd = socket(c->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (const struct sockaddr *) &c->sa, c->salen) != 0) {
        int err = -errno;
        snprintf(errbuf, errlen, "collector '%s': %s", spec, strerror(errno));
        return err;
    }
    int rc = coll_encoder(c);
    if (rc != 0) {
        snprintf(errbuf, errlen, "collector '%s': encoder: %s", spec, enc_strerror(rc));
    }
    return rc;
}

int
probe_export_create(struct probe_export **out, const struct probe_export_cfg *cfg, char *errbuf,
                    size_t errlen)
{
    struct probe_export *x = calloc(1, sizeof(*x));
    int rc = 0;

    if (x == NULL) {
        return -ENOMEM;
    }
    x->cfg = *cfg;
    if (cfg->ncollectors == 0 || cfg->ncollectors > PROBE_MAX_COLLECTORS) {
        snprintf(errbuf, errlen, "give 1 to %d collectors (-c)", PROBE_MAX_COLLECTORS);
        rc = PROBE_E_CONFIG;
        goto destroy;
    }
    for (unsigned i = 0; i < cfg->ncollectors; i++) {
        x->c[i].x = x;
        x->c[i].fd = -1;
        x->nc = i + 1;
        if ((rc = coll_open(&x->c[i], cfg->collectors[i], errbuf, errlen)) != 0) {
            goto destroy;
        }
    }
    *out = x;
    return 0;
destroy:
    probe_export_destroy(x);
    return rc;
}

void
probe_export_destroy(struct probe_export *x)
{
    if (x == NULL) {
        return;
    }
    for (unsigned i = 0; i < x->nc; i++) {
        enc_destroy(x->c[i].enc);
        if (x->c[i].fd >= 0) {
            close(x->c[i].fd);
        }
    }
    free(x);
}

/* ---- records ---- */

static void
set_id(char dst[FLOW_ID_MAX], const char *s)
{
    snprintf(dst, FLOW_ID_MAX, "%s", s);
}

/* Direction, interfaces and identity: what the probe knows beyond the flow itself. */
static void
rec_decorate(const struct probe_export *x, struct flow_rec *r)
{
    const struct probe_export_cfg *k = &x->cfg;
    int dir = probe_direction(k->nets, k->nnets, r->srcaddr, r->dstaddr);

    r->present |= FLOW_HAS_INPORT | FLOW_HAS_OUTPORT;
    if (dir == FLOW_DIR_OUT) {
        r->outport = k->ifindex;
    } else {
        r->inport = k->ifindex; /* inbound, or unknown: it arrived on the capture interface */
    }
    if (dir != FLOW_DIR_UNKNOWN) {
        r->direction = (uint8_t) dir;
        r->present |= FLOW_HAS_DIRECTION;
    }
    if (k->instance_id != NULL) {
        set_id(r->instance_id, k->instance_id);
        r->present |= FLOW_HAS_INSTANCE;
    }
    if (k->snid != NULL) {
        set_id(r->snid, k->snid);
        r->present |= FLOW_HAS_SNID;
    }
    if (k->account_id != NULL) {
        set_id(r->account_id, k->account_id);
        r->present |= FLOW_HAS_ACCOUNT;
    }
}

void
probe_export_flow(void *arg, const struct probe_flow *f, enum probe_why why)
{
    struct probe_export *x = arg;
    struct flow_rec r;

    (void) why;
    for (int s = 0; s < 2; s++) {
        if (!probe_flow_rec(f, s, &r)) {
            continue;
        }
        rec_decorate(x, &r);
        x->st.records++;
        bool refused = false;
        for (unsigned i = 0; i < x->nc; i++) {
            struct coll *c = &x->c[i];
            if (c->enc == NULL) {
                x->st.send_errors++; /* a TCP collector never reached: the record is lost */
                continue;
            }
            refused = enc_add(c->enc, &r, x->now_ms, emit, c) == ENC_E_V6 || refused;
        }
        x->st.not_exportable += refused ? 1u : 0u;
    }
}

void
probe_export_now(struct probe_export *x, uint64_t now_ms)
{
    x->now_ms = now_ms > x->now_ms ? now_ms : x->now_ms;
}

static void
send_options(struct probe_export *x, uint64_t ignored_pkts)
{
    struct enc_stats_opt o = {
        .stats = true,
        .ignored_packets = ignored_pkts,
        .instance_id = x->cfg.instance_id,
        .snid = x->cfg.snid,
        .account_id = x->cfg.account_id,
    };

    if (o.instance_id != NULL || o.snid != NULL || o.account_id != NULL) {
        /* enc.h: all three or none; a part not configured is sent empty. */
        o.instance_id = o.instance_id != NULL ? o.instance_id : "";
        o.snid = o.snid != NULL ? o.snid : "";
        o.account_id = o.account_id != NULL ? o.account_id : "";
    }
    for (unsigned i = 0; i < x->nc; i++) {
        if (x->c[i].enc != NULL) {
            (void) enc_options(x->c[i].enc, &o, x->now_ms, emit, &x->c[i]);
        }
    }
}

void
probe_export_tick(struct probe_export *x, uint64_t now_ms, uint64_t ignored_pkts)
{
    probe_export_now(x, now_ms);
    for (unsigned i = 0; i < x->nc; i++) {
        if (x->c[i].tcp && !x->c[i].up) {
            coll_connect(&x->c[i]);
            if (x->c[i].up) {
                x->next_opt_ms = 0; /* a new session: tell it who we are at once */
            }
        }
    }
    if (x->now_ms >= x->next_opt_ms) {
        send_options(x, ignored_pkts);
        x->next_opt_ms = x->now_ms + OPTIONS_EVERY_MS;
    }
    for (unsigned i = 0; i < x->nc; i++) {
        if (x->c[i].enc != NULL) {
            (void) enc_flush(x->c[i].enc, x->now_ms, emit, &x->c[i]);
        }
    }
}

void
probe_export_finish(struct probe_export *x, uint64_t now_ms, uint64_t ignored_pkts)
{
    probe_export_now(x, now_ms);
    send_options(x, ignored_pkts);
    for (unsigned i = 0; i < x->nc; i++) {
        if (x->c[i].enc != NULL) {
            (void) enc_flush(x->c[i].enc, x->now_ms, emit, &x->c[i]);
        }
    }
}

const struct probe_export_stats *
probe_export_stats(const struct probe_export *x)
{
    return &x->st;
}
