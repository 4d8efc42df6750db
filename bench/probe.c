/* SPDX-License-Identifier: MIT */
/*
 * bench_probe: flowprobe against softflowd in pcap file mode (docs/bench.md, "bench/probe").
 *
 *   bench_probe FLOWPROBE [PACKETS [FLOWS]]      (defaults 2000000 and 100000)
 *
 * 1. Writes a deterministic capture (splitmix64, seed 42) to $TMPDIR: PACKETS Ethernet/IPv4
 *    frames over FLOWS unidirectional flows (two thirds TCP, one third UDP), each packet's
 *    flow drawn uniformly, 10 s of packet time, headers captured (snap length 54), wire
 *    lengths 64..1500. Also a 1-flow capture of 10 packets to measure each program's base
 *    memory.
 * 2. Binds a UDP socket on 127.0.0.1 that nobody reads (export datagrams are dropped by the
 *    kernel once its buffer is full: neither program waits on it).
 * 3. Runs `flowprobe -r` and `softflowd -r` (IPFIX, same timeouts: idle 60 s, active 300 s,
 *    both tables sized 262144) one after the other and takes each one's CPU time (user +
 *    system) and peak RSS from wait4(). softflowd 1.1.0 in -r mode reads the file one batch
 *    per event on its control socket, so it is poked with `softflowctl statistics` until it
 *    exits; CPU time, not wall time, is therefore the fair measure for both.
 * Prints packets per CPU-second, bytes per flow (peak RSS / flows, and (peak RSS - the 1-flow
 * run's) / flows), and the ratios. Only 127.0.0.1 is ever sent to.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

struct run {
    double cpu_s;
    double wall_s;
    long rss_kb;
};

static void
put32le(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};
    fwrite(b, 1, 4, f);
}

/* Ethernet + IPv4 + TCP/UDP headers of flow i (54 bytes captured). */
static void
frame(uint8_t *b, uint32_t i, uint16_t wire)
{
    static const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    bool tcp = i % 3 != 0;
    uint16_t iplen = (uint16_t) (wire - 14);

    memset(b, 0, 54);
    memcpy(b, mac, 12);
    b[12] = 0x08;
    b[14] = 0x45;
    b[16] = (uint8_t) (iplen >> 8);
    b[17] = (uint8_t) iplen;
    b[22] = 64;
    b[23] = tcp ? 6 : 17;
    b[26] = 10;
    b[27] = (uint8_t) (i >> 16);
    b[28] = (uint8_t) (i >> 8);
    b[29] = (uint8_t) i;
    b[30] = 172;
    b[31] = 16;
    b[32] = (uint8_t) (i >> 8);
    b[33] = (uint8_t) (i * 7);
    uint16_t sport = (uint16_t) (1024 + i % 60000), dport = tcp ? 443 : 53;
    b[34] = (uint8_t) (sport >> 8);
    b[35] = (uint8_t) sport;
    b[36] = (uint8_t) (dport >> 8);
    b[37] = (uint8_t) dport;
    if (tcp) {
        b[46] = 0x50;
        b[47] = 0x10; /* ACK */
    } else {
        b[39] = 8;
    }
}

static int
write_pcap(const char *path, uint64_t packets, uint32_t flows)
{
    FILE *f = fopen(path, "wb");
    uint8_t b[54];

    if (f == NULL) {
        perror(path);
        return -1;
    }
    /* pcap file header: magic, version 2.4, zone, sigfigs, snaplen, link type Ethernet. */
    put32le(f, 0xa1b2c3d4);
    put32le(f, 0x00040002);
    put32le(f, 0);
    put32le(f, 0);
    put32le(f, 65535);
    put32le(f, 1);
    rng = 42;
    uint64_t t0_us = 1700000000ull * 1000000u, span_us = 10000000u;
    for (uint64_t n = 0; n < packets; n++) {
        uint32_t i = (uint32_t) (rnd() % flows);
        uint16_t wire = (uint16_t) (64 + rnd() % 1437);
        uint64_t ts = t0_us + n * span_us / packets;
        put32le(f, (uint32_t) (ts / 1000000u));
        put32le(f, (uint32_t) (ts % 1000000u));
        put32le(f, 54);
        put32le(f, wire);
        frame(b, i, wire);
        fwrite(b, 1, 54, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static void
poke_softflowd(const char *ctl)
{
    pid_t p = fork();
    if (p == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("softflowctl", "softflowctl", "-c", ctl, "statistics", (char *) NULL);
        _exit(127);
    }
    if (p > 0) {
        waitpid(p, NULL, 0);
    }
}

/* Run argv to completion; softflowd (ctl != NULL) is poked through its control socket. */
static int
run(char *const argv[], const char *ctl, struct run *out)
{
    struct rusage ru;
    int status = 0;
    double t0 = now_s();
    pid_t pid = fork();

    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0) {
        return -1;
    }
    for (;;) {
        pid_t w = wait4(pid, &status, ctl != NULL ? WNOHANG : 0, &ru);
        if (w == pid) {
            break;
        }
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        poke_softflowd(ctl);
    }
    out->wall_s = now_s() - t0;
    out->cpu_s = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
                 (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
    out->rss_kb = ru.ru_maxrss;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_probe: %s failed (status %d)\n", argv[0], status);
        return -1;
    }
    return 0;
}

static int
run_both(const char *flowprobe, const char *pcap, const char *dest, const char *dir,
         struct run r[2])
{
    char ctl[512], pidf[512];
    snprintf(ctl, sizeof(ctl), "%s/sf.ctl", dir);
    snprintf(pidf, sizeof(pidf), "%s/sf.pid", dir);
    char *fp[] = {(char *) flowprobe, "-r",  (char *) pcap, "-c",     (char *) dest, "--idle", "60",
                  "--active",         "300", "--max-flows", "262144", NULL};
    char *sf[] = {"softflowd", "-r",     (char *) pcap, "-n",          (char *) dest, "-v",
                  "10",        "-d",     "-m",          "262144",      "-c",          ctl,
                  "-p",        pidf,     "-t",          "general=60",  "-t",          "tcp=60",
                  "-t",        "udp=60", "-t",          "maxlife=300", NULL};
    if (run(fp, NULL, &r[0]) != 0 || run(sf, ctl, &r[1]) != 0) {
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    uint64_t packets = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000u;
    uint32_t flows = argc > 3 ? (uint32_t) strtoul(argv[3], NULL, 10) : 100000u;
    char dir[] = "/tmp/bench_probe.XXXXXX", big[600], small[600], dest[64];
    struct run r[2], base[2];

    if (argc < 2 || flows == 0 || packets == 0) {
        fprintf(stderr, "usage: bench_probe FLOWPROBE [PACKETS [FLOWS]]\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(big, sizeof(big), "%s/bench.pcap", dir);
    snprintf(small, sizeof(small), "%s/one.pcap", dir);
    double g0 = now_s();
    if (write_pcap(big, packets, flows) != 0 || write_pcap(small, 10, 1) != 0) {
        return 1;
    }
    printf("capture: %llu packets, %u flows, written in %.2f s\n", (unsigned long long) packets,
           flows, now_s() - g0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &sl) != 0) {
        perror("socket");
        return 1;
    }
    snprintf(dest, sizeof(dest), "127.0.0.1:%u", ntohs(sa.sin_port));
    int rc = run_both(argv[1], small, dest, dir, base) != 0 || run_both(argv[1], big, dest, dir, r);
    if (getenv("BENCH_PROBE_KEEP") == NULL) {
        unlink(big);
    }
    unlink(small);
    char path[600];
    snprintf(path, sizeof(path), "%s/sf.pid", dir);
    unlink(path);
    rmdir(dir);
    if (rc != 0) {
        return 1;
    }
    const char *name[2] = {"flowprobe", "softflowd"};
    double pps[2], bpf[2], bpf_net[2];
    printf("%-10s %12s %9s %9s %10s %12s %16s\n", "program", "packets/s", "cpu s", "wall s",
           "peak RSS", "bytes/flow", "(RSS-base)/flow");
    for (int i = 0; i < 2; i++) {
        pps[i] = (double) packets / r[i].cpu_s;
        bpf[i] = (double) r[i].rss_kb * 1024.0 / flows;
        bpf_net[i] = (double) (r[i].rss_kb - base[i].rss_kb) * 1024.0 / flows;
        printf("%-10s %12.0f %9.3f %9.3f %7ld KB %12.0f %16.0f\n", name[i], pps[i], r[i].cpu_s,
               r[i].wall_s, r[i].rss_kb, bpf[i], bpf_net[i]);
    }
    printf("ratio: packet rate flowprobe/softflowd %.2fx; bytes per flow %.2fx (net of base "
           "%.2fx)\n",
           pps[0] / pps[1], bpf[0] / bpf[1], bpf_net[0] / bpf_net[1]);
    return 0;
}
