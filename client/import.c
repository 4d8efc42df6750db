/* SPDX-License-Identifier: MIT */
/*
 * flowlog import: an nfdump store (nfcapd files) brought into flowlogd with its own times.
 * Each FILE is read with `nfdump -r FILE -O tend`, each DIR with `nfdump -R DIR -O tend`
 * (nfdump's own reader, so every nfcapd file version and compression it knows works), one
 * record per line in a fixed fmt: format; the records are re-exported as IPFIX over TCP
 * (RFC 7011 §10.4: reliable, no template refresh) to flowlogd's IPFIX listener with the
 * project's encoder, each message's export time that of its records, so flowlogd's exporter
 * clock follows the history and seals its windows in order (docs/nfdump.md, "Import", says
 * what an operator sets first: [store] time_past for history older than 30 days).
 * Records come in end-time order, so at most a couple of windows are open at once
 * (docs/writer.md's per-exporter fan-out bound). The exporter flowlogd records is this
 * connection's, not the original router.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enc.h"
#include "flow.h"
#include "import.h"

/* The fields read from nfdump, in this order (nfdump(1), OUTPUT). */
#define IMPORT_FMT "fmt:%tsr|%ter|%pr|%sa|%da|%sp|%dp|%pkt|%byt|%flg|%tos|%in|%out"

struct totals {
    uint64_t records, packets, bytes, skipped;
    uint64_t last_ms; /* the latest end time sent: the last message's export time */
};

static int
send_all(void *arg, const uint8_t *msg, size_t len)
{
    int fd = *(int *) arg;
    while (len > 0) {
        ssize_t n = send(fd, msg, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -errno;
        }
        msg += n;
        len -= (size_t) n;
    }
    return 0;
}

static int
connect_to(const char *to)
{
    char host[256];
    const char *colon = strrchr(to, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int fd = -1;
    if (colon == NULL || (size_t) (colon - to) >= sizeof(host)) {
        fprintf(stderr, "flowlog import: --to takes HOST:PORT, not '%s'\n", to);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int) (colon - to), to);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "flowlog import: %s: %s\n", to, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr,
                "flowlog import: connect %s: %s (flowlogd's IPFIX TCP listener, "
                "-l tcp:HOST:PORT)\n",
                to, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static bool
parse_addr(char *s, uint8_t out[16])
{
    uint8_t v4[4];
    if (inet_pton(AF_INET, s, v4) == 1) {
        flow_addr_set_v4(out, v4);
        return true;
    }
    return inet_pton(AF_INET6, s, out) == 1;
}

/* nfdump's flag letters (CWR ECE URG ACK PSH RST SYN FIN, '.' for clear) as bits. */
static uint16_t
parse_flags(const char *s)
{
    static const char letters[] = "CEUAPRSF";
    uint16_t v = 0;
    for (size_t i = 0; i < 8 && s[i] != '\0'; i++) {
        if (s[i] == letters[i]) {
            v |= (uint16_t) (0x80u >> i);
        }
    }
    return v;
}

/* Trim blanks in place. */
static char *
trim(char *s)
{
    while (*s == ' ') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

/* One line of IMPORT_FMT as a record; false for a line that is not one (counted). */
static bool
parse_line(char *line, struct flow_rec *r)
{
    char *f[13];
    size_t n = 0;
    for (char *p = line; n < 13; n++) {
        f[n] = p;
        p = strchr(p, '|');
        if (p == NULL) {
            n++;
            break;
        }
        *p++ = '\0';
    }
    if (n != 13) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        f[i] = trim(f[i]);
    }
    memset(r, 0, sizeof(*r));
    double ts = strtod(f[0], NULL), te = strtod(f[1], NULL);
    r->start_ms = (uint64_t) (ts * 1000.0 + 0.5);
    r->end_ms = (uint64_t) (te * 1000.0 + 0.5);
    r->protocol = (uint8_t) strtoul(f[2], NULL, 10);
    if (!parse_addr(f[3], r->srcaddr) || !parse_addr(f[4], r->dstaddr) || te <= 0) {
        return false;
    }
    r->srcport = (uint16_t) strtoul(f[5], NULL, 10);
    char *dot = strchr(f[6], '.'); /* ICMP: TYPE.CODE */
    r->dstport = dot != NULL
                     ? (uint16_t) (strtoul(f[6], NULL, 10) << 8 | strtoul(dot + 1, NULL, 10))
                     : (uint16_t) strtoul(f[6], NULL, 10);
    r->packets = strtoull(f[7], NULL, 10);
    r->bytes = strtoull(f[8], NULL, 10);
    r->tcp_flags = parse_flags(f[9]);
    r->tos = (uint8_t) strtoul(f[10], NULL, 10);
    r->inport = (uint32_t) strtoul(f[11], NULL, 10);
    r->outport = (uint32_t) strtoul(f[12], NULL, 10);
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS |
                 FLOW_HAS_TOS | FLOW_HAS_INPORT | FLOW_HAS_OUTPORT;
    return true;
}

/* nfdump's output for one path, through a pipe; *pid for the wait. */
static FILE *
nfdump_open(const char *path, pid_t *pid)
{
    struct stat st;
    int fds[2];
    if (stat(path, &st) != 0) {
        fprintf(stderr, "flowlog import: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (pipe(fds) != 0 || (*pid = fork()) < 0) {
        fprintf(stderr, "flowlog import: %s\n", strerror(errno));
        return NULL;
    }
    if (*pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("nfdump", "nfdump", S_ISDIR(st.st_mode) ? "-R" : "-r", path, "-q", "-N", "-6", "-O",
               "tend", "-o", IMPORT_FMT, (char *) NULL);
        fprintf(stderr, "flowlog import: nfdump: %s (Debian package nfdump)\n", strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    return fdopen(fds[0], "r");
}

/* Export every record of one path; 0, or -1 (said why). */
static int
import_path(const char *path, struct enc_ctx *e, int fd, struct totals *t)
{
    pid_t pid = -1;
    FILE *in = nfdump_open(path, &pid);
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, status = 0;
    struct flow_rec r;
    if (in == NULL) {
        return -1;
    }
    while (rc == 0 && getline(&line, &cap, in) > 0) {
        if (line[0] == '\n' || line[0] == '\0') {
            continue;
        }
        if (!parse_line(line, &r)) {
            t->skipped++;
            continue;
        }
        rc = enc_add(e, &r, r.end_ms, send_all, &fd);
        t->records++;
        t->packets += r.packets;
        t->bytes += r.bytes;
        t->last_ms = r.end_ms > t->last_ms ? r.end_ms : t->last_ms;
    }
    fclose(in);
    free(line);
    waitpid(pid, &status, 0);
    if (rc != 0) {
        fprintf(stderr, "flowlog import: sending to flowlogd: %s\n", strerror(-rc));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "flowlog import: nfdump failed on %s\n", path);
        return -1;
    }
    return 0;
}

int
flowlog_import(int argc, char **argv)
{
    const char *to = "127.0.0.1:4739";
    int i = 1, rc = 0;
    if (i + 1 < argc && strcmp(argv[i], "--to") == 0) {
        to = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: flowlog import [--to HOST:PORT] DIR|FILE...\n");
        return 2;
    }
    struct enc_cfg cfg = {
        .version = 10, .tmpl_refresh_msgs = UINT32_MAX, .tmpl_refresh_ms = UINT32_MAX};
    struct enc_ctx *e = NULL;
    struct totals t = {0};
    int fd = connect_to(to);
    if (fd < 0) {
        return 2;
    }
    if (enc_create(&e, &cfg) != 0) {
        fprintf(stderr, "flowlog import: out of memory\n");
        close(fd);
        return 2;
    }
    for (; i < argc && rc == 0; i++) {
        rc = import_path(argv[i], e, fd, &t);
    }
    if (rc == 0 && enc_flush(e, t.last_ms, send_all, &fd) != 0) {
        fprintf(stderr, "flowlog import: sending to flowlogd: %s\n", strerror(errno));
        rc = -1;
    }
    enc_destroy(e);
    shutdown(fd, SHUT_WR);
    close(fd);
    printf("imported records=%llu packets=%llu bytes=%llu skipped=%llu\n",
           (unsigned long long) t.records, (unsigned long long) t.packets,
           (unsigned long long) t.bytes, (unsigned long long) t.skipped);
    return rc == 0 && t.skipped == 0 ? 0 : 1;
}
