/* SPDX-License-Identifier: MIT */
/*
 * probe_udpcap: a loopback collector stand-in for the interop tests. It binds a UDP socket
 * on 127.0.0.1 with an ephemeral port, prints "listening PORT", and writes every datagram it
 * receives into a pcap file (raw IPv4 + UDP headers made up around the payload, source
 * 127.0.0.1:50000, destination 127.0.0.1:PORT), so tshark can decode flowprobe's export
 * offline. It stops after IDLE_MS without a datagram once at least one arrived, or on
 * SIGTERM. Test support only.
 *
 * usage: probe_udpcap OUT.pcap [IDLE_MS]
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <pcap/pcap.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
    (void) sig;
    stop = 1;
}

static void
frame(uint8_t *b, size_t len, uint16_t dport)
{
    /* IPv4: 0 ver/ihl, 2 total length, 8 ttl, 9 proto, 12 src, 16 dst; UDP: ports, length. */
    memset(b, 0, 28);
    b[0] = 0x45;
    b[2] = (uint8_t) ((len + 28) >> 8);
    b[3] = (uint8_t) (len + 28);
    b[8] = 64;
    b[9] = 17;
    b[12] = b[16] = 127;
    b[15] = b[19] = 1;
    b[20] = 50000 >> 8;
    b[21] = 50000 & 0xff;
    b[22] = (uint8_t) (dport >> 8);
    b[23] = (uint8_t) dport;
    b[24] = (uint8_t) ((len + 8) >> 8);
    b[25] = (uint8_t) (len + 8);
}

int
main(int argc, char **argv)
{
    static uint8_t buf[65536 + 28];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int idle_ms = argc > 2 ? atoi(argv[2]) : 2000;

    if (argc < 2) {
        fprintf(stderr, "usage: probe_udpcap OUT.pcap [IDLE_MS]\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &sl) != 0) {
        perror("probe_udpcap: socket");
        return 1;
    }
    pcap_t *dead = pcap_open_dead(DLT_RAW, 65535);
    pcap_dumper_t *d = pcap_dump_open(dead, argv[1]);
    if (d == NULL) {
        fprintf(stderr, "probe_udpcap: %s: %s\n", argv[1], pcap_geterr(dead));
        return 1;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    uint16_t port = ntohs(sa.sin_port);
    printf("listening %u\n", port);
    fflush(stdout);
    unsigned long n = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (!stop) {
        int r = poll(&pfd, 1, n > 0 ? idle_ms : 30000);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            continue;
        }
        ssize_t len = recv(fd, buf + 28, sizeof(buf) - 28, 0);
        if (len <= 0) {
            continue;
        }
        struct pcap_pkthdr h = {.caplen = (bpf_u_int32) len + 28, .len = (bpf_u_int32) len + 28};
        gettimeofday(&h.ts, NULL);
        frame(buf, (size_t) len, port);
        pcap_dump((u_char *) d, &h, buf);
        n++;
    }
    pcap_dump_close(d);
    pcap_close(dead);
    fprintf(stderr, "probe_udpcap: %lu datagrams\n", n);
    return 0;
}
