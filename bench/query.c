/* SPDX-License-Identifier: MIT */
/*
 * bench_query: time one query against flowlogd's query server, end to end (request sent to
 * the last byte of the answer read), the way a client sees it.
 *
 *   bench_query -p PORT [-f text|json|csv] [-b local|clickhouse] [-n REPEAT] QUERY
 *
 * Connects to 127.0.0.1:PORT, sets the format (and the backend, -b), runs the query REPEAT times (default 3) and
 * prints one line:
 *   rows=R bytes=B scanned=S median_s=T best_s=T
 * where R and B are the data lines and bytes of the answer, S the records the server looked
 * at (from its status line). Exits 1 when the server answers ERR.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchutil.h"

static char buf[1 << 20];

/* Send a line and read the answer; counts data lines and bytes, returns 0 on OK. */
static int
roundtrip(int fd, const char *line, unsigned long long *rows, unsigned long long *bytes,
          char *status, size_t statuslen)
{
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t) len || write(fd, "\n", 1) != 1) {
        return -1;
    }
    size_t have = 0, start = 0; /* start of the current line in buf */
    *rows = *bytes = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0) {
            return -1;
        }
        size_t end = have + (size_t) n;
        for (size_t i = have; i < end; i++) {
            if (buf[i] != '\n') {
                continue;
            }
            const char *l = buf + start;
            size_t ll = i - start;
            if ((ll >= 2 && memcmp(l, "OK", 2) == 0 && (ll == 2 || l[2] == ' ')) ||
                (ll >= 4 && memcmp(l, "ERR ", 4) == 0)) {
                snprintf(status, statuslen, "%.*s", (int) ll, l);
                return l[0] == 'O' ? 0 : 1;
            }
            (*rows)++;
            *bytes += ll + 1;
            start = i + 1;
        }
        /* keep the partial line */
        memmove(buf, buf + start, end - start);
        have = end - start;
        start = 0;
        if (have == sizeof(buf)) {
            return -1;
        }
    }
}

int
main(int argc, char **argv)
{
    int port = 0, repeat = 3, c;
    const char *fmt = "text", *backend = NULL;
    while ((c = getopt(argc, argv, "p:f:b:n:")) != -1) {
        switch (c) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'b':
            backend = optarg;
            break;
        case 'n':
            repeat = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_query -p PORT [-f FMT] [-b BACKEND] [-n REPEAT] QUERY\n");
            return 2;
        }
    }
    if (port <= 0 || optind + 1 != argc || repeat < 1 || repeat > 100) {
        fprintf(stderr, "usage: bench_query -p PORT [-f FMT] [-b BACKEND] [-n REPEAT] QUERY\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        perror("bench_query: connect");
        return 2;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char line[70000], status[512];
    unsigned long long rows, bytes;
    snprintf(line, sizeof(line), "FORMAT %s", fmt);
    if (roundtrip(fd, line, &rows, &bytes, status, sizeof(status)) != 0) {
        fprintf(stderr, "bench_query: %s\n", status);
        return 1;
    }
    snprintf(line, sizeof(line), "BACKEND %s", backend != NULL ? backend : "");
    if (backend != NULL && roundtrip(fd, line, &rows, &bytes, status, sizeof(status)) != 0) {
        fprintf(stderr, "bench_query: %s\n", status);
        return 1;
    }
    snprintf(line, sizeof(line), "QUERY %s", argv[optind]);
    double t[100], ms[100];
    for (int i = 0; i < repeat; i++) {
        double t0 = now_s();
        int rc = roundtrip(fd, line, &rows, &bytes, status, sizeof(status));
        t[i] = now_s() - t0;
        if (rc != 0) {
            fprintf(stderr, "bench_query: %s\n", rc < 0 ? "connection lost" : status);
            return 1;
        }
        /* The server's own time of the query: "OK ROWS rows SCANNED scanned MS ms". */
        unsigned long long r0, s0, m0;
        ms[i] = sscanf(status, "OK %llu rows %llu scanned %llu ms", &r0, &s0, &m0) == 3
                    ? (double) m0
                    : -1;
    }
    qsort(t, (size_t) repeat, sizeof(t[0]), cmp_d);
    qsort(ms, (size_t) repeat, sizeof(ms[0]), cmp_d);
    unsigned long long scanned = 0;
    const char *sc = strstr(status, " rows ");
    if (sc != NULL) {
        scanned = strtoull(sc + 6, NULL, 10);
    }
    printf("rows=%llu bytes=%llu scanned=%llu median_s=%.4f best_s=%.4f server_ms=%.0f\n", rows,
           bytes, scanned, t[repeat / 2], t[0], ms[repeat / 2]);
    close(fd);
    return 0;
}
