/* SPDX-License-Identifier: MIT */
/*
 * udptee: copy every UDP datagram it receives to several collectors on the loopback
 * interface, so that two collectors (flowlogd and nfcapd in the interop tests) see exactly
 * the same bytes in the same order from one exporter run. softflowd and nfreplay send to one
 * destination only, and running an exporter twice would not give byte-identical input.
 *
 *   udptee -o ADDR:PORT [-o ADDR:PORT]...
 *     -o ADDR:PORT  a destination; only IPv4 loopback (127.0.0.0/8) is accepted. Up to 8.
 *
 * It binds 127.0.0.1 on an ephemeral port with a large receive buffer and prints
 *   listening udp 127.0.0.1:PORT
 * on stdout. Every datagram goes out unchanged, from that same socket, to each destination in
 * turn (so every collector sees one exporter, 127.0.0.1:PORT). On SIGTERM or SIGINT it
 * forwards what is still queued on its socket, then prints
 *   forwarded datagrams=N bytes=B
 * and exits 0; 1 on a socket error. It neither parses nor changes what it forwards.
 */
#define _DEFAULT_SOURCE /* sockets, getopt, sigaction */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sendutil.h"

#define MAX_DST 8
#define RCVBUF  (8 << 20)

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
    (void) sig;
    stopping = 1;
}

/* "ADDR:PORT" (IPv4 loopback) into *dst; -1 when malformed or not loopback. */
static int
parse_dst(const char *spec, struct sockaddr_storage *dst, socklen_t *len)
{
    char addr[64];
    const char *colon = strrchr(spec, ':');
    char *end;

    if (colon == NULL || (size_t) (colon - spec) >= sizeof(addr)) {
        return -1;
    }
    memcpy(addr, spec, (size_t) (colon - spec));
    addr[colon - spec] = '\0';
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port == 0 || port > 65535) {
        return -1;
    }
    if (sendutil_loopback(addr, (uint16_t) port, dst, len) != 0 || dst->ss_family != AF_INET) {
        return -1;
    }
    return 0;
}

static int
open_socket(uint16_t *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int buf = RCVBUF, fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)); /* capped: fine at test rates */
    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *) &sin, &len) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

struct tee {
    int fd;
    struct sockaddr_storage dst[MAX_DST];
    socklen_t dstlen[MAX_DST];
    int ndst;
    uint64_t datagrams;
    uint64_t bytes;
};

/* Receive one datagram (MSG_DONTWAIT) and copy it out: 1 done, 0 nothing queued, <0 error. */
static int
forward_one(struct tee *t)
{
    static uint8_t buf[65536];
    ssize_t n = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
    }
    for (int i = 0; i < t->ndst; i++) {
        if (sendto(t->fd, buf, (size_t) n, 0, (const struct sockaddr *) &t->dst[i], t->dstlen[i]) <
                0 &&
            errno != ECONNREFUSED) {
            return -errno; /* a refused destination (ICMP from an earlier send) is its loss */
        }
    }
    t->datagrams++;
    t->bytes += (uint64_t) n;
    return 1;
}

static int
run(struct tee *t)
{
    int rc = 0;

    while (!stopping && rc >= 0) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            while ((rc = forward_one(t)) > 0) {
            }
        }
    }
    while (rc >= 0 && (rc = forward_one(t)) > 0) { /* what was queued before the signal */
    }
    return rc;
}

int
main(int argc, char **argv)
{
    struct tee t = {.fd = -1};
    struct sigaction sa = {.sa_handler = on_signal};
    uint16_t port = 0;
    int c;

    while ((c = getopt(argc, argv, "o:")) != -1) {
        if (c != 'o' || t.ndst == MAX_DST || parse_dst(optarg, &t.dst[t.ndst], &t.dstlen[t.ndst])) {
            fprintf(stderr, "usage: udptee -o 127.x.y.z:PORT [-o ...] (at most %d, loopback)\n",
                    MAX_DST);
            return 2;
        }
        t.ndst++;
    }
    if (optind != argc || t.ndst == 0) {
        fprintf(stderr, "usage: udptee -o 127.x.y.z:PORT [-o ...]\n");
        return 2;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if ((t.fd = open_socket(&port)) < 0) {
        fprintf(stderr, "udptee: socket: %s\n", strerror(-t.fd));
        return 1;
    }
    printf("listening udp 127.0.0.1:%u\n", port);
    fflush(stdout);
    int rc = run(&t);
    close(t.fd);
    if (rc < 0) {
        fprintf(stderr, "udptee: %s\n", strerror(-rc));
        return 1;
    }
    printf("forwarded datagrams=%" PRIu64 " bytes=%" PRIu64 "\n", t.datagrams, t.bytes);
    return 0;
}
