/* SPDX-License-Identifier: MIT */
/*
 * decdump: decode NetFlow/IPFIX datagrams from pcap files or .hex golden cases and print one
 * canonical line per flow record (recfmt.h). Used by the golden tests and by hand.
 *
 *   decdump [-p PORT]... [-s] [-v] FILE...
 *     -p PORT  only UDP datagrams to this destination port (repeatable; default all)
 *     -s       print decoder counters to stderr at the end
 *     -v       also print action, sampling, identity, rtt and raw IEs
 *
 * A .hex file holds one datagram per line as hex digits (spaces allowed); '#' starts a
 * comment; a line "@ ADDR PORT" sets the exporter for the lines after it (default
 * 192.0.2.1 50000); "@ tcp" / "@ udp" switch the transport.
 */
#define _DEFAULT_SOURCE /* u_char in pcap.h, inet_ntop */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "pcapwalk.h"
#include "recfmt.h"

#define CAP 256

struct run {
    struct dec_ctx *dec;
    struct flow_rec recs[CAP];
    int rc;
};

static int verbose;

static int
print_recs(void *arg, struct flow_rec *recs, size_t n)
{
    (void) arg;
    char line[2048];
    for (size_t i = 0; i < n; i++) {
        if (verbose) {
            recfmt_line_full(line, sizeof(line), &recs[i]);
        } else {
            recfmt_line(line, sizeof(line), &recs[i]);
        }
        puts(line);
    }
    return 0;
}

static void
feed(struct run *run, const struct dec_src *src, const uint8_t *p, size_t len, uint64_t now)
{
    struct dec_sink out = {run->recs, CAP, 0, print_recs, NULL};
    dec_decode(run->dec, src, p, len, now, &out, NULL);
    print_recs(NULL, out.recs, out.n);
}

static int
on_pkt(void *arg, const struct pcapwalk_pkt *pkt)
{
    struct run *run = arg;
    struct dec_src src = {.port = pkt->sport, .transport = DEC_TR_FILE};
    memcpy(src.addr, pkt->src, 16);
    feed(run, &src, pkt->data, pkt->len, pkt->ts_ms);
    return 0;
}

static int
parse_addr(struct dec_src *src, const char *a)
{
    memset(src->addr, 0, 16);
    if (inet_pton(AF_INET6, a, src->addr) == 1) {
        return 0;
    }
    src->addr[10] = src->addr[11] = 0xff;
    return inet_pton(AF_INET, a, src->addr + 12) == 1 ? 0 : -1;
}

static int
hex_line(struct run *run, struct dec_src *src, char *line, uint64_t *now)
{
    uint8_t buf[65536];
    size_t n = 0;
    int hi = -1;

    if (line[0] == '@') {
        char a[64];
        unsigned port;
        if (sscanf(line + 1, " %63s %u", a, &port) == 2) {
            src->port = (uint16_t) port;
            return parse_addr(src, a);
        }
        src->transport = strstr(line, "tcp") ? DEC_TR_TCP : DEC_TR_FILE;
        return 0;
    }
    for (char *c = line; *c && *c != '#'; c++) {
        if (isspace((unsigned char) *c)) {
            continue;
        }
        if (!isxdigit((unsigned char) *c) || n == sizeof(buf)) {
            return -1;
        }
        int v = isdigit((unsigned char) *c) ? *c - '0' : (tolower((unsigned char) *c) - 'a' + 10);
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t) (hi << 4 | v);
            hi = -1;
        }
    }
    if (n > 0) {
        feed(run, src, buf, n, *now);
        *now += 1000;
    }
    return hi < 0 ? 0 : -1;
}

static int
run_hex(struct run *run, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[140000];
    struct dec_src src = {.port = 50000, .transport = DEC_TR_FILE};
    uint64_t now = 1700000000000ull;
    int lineno = 0;

    if (f == NULL) {
        fprintf(stderr, "decdump: %s: %s\n", path, strerror(errno));
        return -1;
    }
    parse_addr(&src, "192.0.2.1");
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (hex_line(run, &src, line, &now) != 0) {
            fprintf(stderr, "decdump: %s:%d: bad hex line\n", path, lineno);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static void
print_stats(const struct dec_stats *s)
{
    fprintf(stderr,
            "messages=%" PRIu64 " records=%" PRIu64 " options=%" PRIu64 " templates=%" PRIu64
            " parked=%" PRIu64 " unparked=%" PRIu64 " missed=%" PRIu64 " ooo=%" PRIu64
            " resets=%" PRIu64 " raw_trunc=%" PRIu64,
            s->messages, s->records, s->options_records, s->templates, s->pending_queued,
            s->pending_decoded, s->seq_missed, s->seq_ooo, s->seq_reset, s->raw_trunc);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        if (s->err[i] != 0) {
            fprintf(stderr, " err.%s=%" PRIu64, dec_reason_name((enum dec_reason) i), s->err[i]);
        }
    }
    fputc('\n', stderr);
}

int
main(int argc, char **argv)
{
    static struct run run;
    uint16_t ports[16];
    size_t nports = 0;
    int stats = 0, rc = 0;
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc && nports < 16) {
            ports[nports++] = (uint16_t) atoi(argv[++i]);
        } else if (strcmp(argv[i], "-s") == 0) {
            stats = 1;
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else {
            fprintf(stderr, "usage: decdump [-p PORT]... [-s] [-v] FILE...\n");
            return 2;
        }
    }
    if (dec_ctx_create(&run.dec, NULL) != 0) {
        return 1;
    }
    for (; i < argc; i++) {
        size_t l = strlen(argv[i]);
        if (l > 4 && strcmp(argv[i] + l - 4, ".hex") == 0) {
            rc |= run_hex(&run, argv[i]);
            continue;
        }
        char err[512];
        if (pcapwalk(argv[i], ports, nports, on_pkt, &run, err) < 0) {
            fprintf(stderr, "decdump: %s: %s\n", argv[i], err);
            rc = 1;
        }
    }
    if (stats) {
        print_stats(dec_ctx_stats(run.dec));
    }
    dec_ctx_destroy(run.dec);
    return rc ? 1 : 0;
}
