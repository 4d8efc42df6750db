/* SPDX-License-Identifier: MIT */
/*
 * stordump: open a store read-mostly, scan every record of every flow log and window, and
 * print a one-line summary (the end-to-end tests compare it with what nfsend sent):
 *
 *   stordump [-s] [-e ADDR] DIR
 *     -s       also print every row, one canonical line each (recfmt.h); NODATA and SKIPDATA
 *              rows get " log=NODATA" / " log=SKIPDATA" appended
 *     -e ADDR  count (and print) only the rows whose exporter address is ADDR (IPv4 or
 *              IPv6 text), so a test can check one exporter among several; windows still
 *              counts every window
 *
 *   records=R packets=P bytes=B windows=W nodata=X skipdata=Y
 *
 * records, packets and bytes sum the rows whose log_status is OK; W counts the capture
 * windows stor_windows_each() lists. The store is opened with the default configuration
 * (which starts its writer, as any stor_open does); nothing is written by this tool, but the
 * writer may seal windows that are due, which never changes these sums. Exits 1 with a
 * message on any error. It is a plain client of stor.h and knows nothing of the layout.
 */
#define _DEFAULT_SOURCE /* getopt, stat */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recfmt.h"
#include "stor.h"

struct sums {
    uint64_t records;
    uint64_t packets;
    uint64_t bytes;
    uint64_t windows;
    uint64_t nodata;
    uint64_t skipdata;
};

static int show_rows;
static bool only_exporter;   /* -e given */
static uint8_t exporter[16]; /* -e ADDR as stored: IPv4-mapped or IPv6 */

static int
count_window(void *arg, const struct stor_window_info *w)
{
    struct sums *s = arg;
    (void) w;
    s->windows++;
    return 0;
}

static void
add_row(struct sums *s, const struct flow_rec *r)
{
    const char *tag = "";

    if (only_exporter && memcmp(r->exporter, exporter, sizeof(exporter)) != 0) {
        return;
    }
    switch (r->log_status) {
    case FLOW_LS_OK:
        s->records++;
        s->packets += r->packets;
        s->bytes += r->bytes;
        break;
    case FLOW_LS_NODATA:
        s->nodata++;
        tag = " log=NODATA";
        break;
    default:
        s->skipdata++;
        tag = " log=SKIPDATA";
        break;
    }
    if (show_rows) {
        char line[2048];
        recfmt_line(line, sizeof(line), r);
        printf("%s%s\n", line, tag);
    }
}

/* Scan everything in one snapshot: rows, then the window catalog. */
static int
scan_all(struct stor_env *env, struct sums *s)
{
    const struct stor_scan scan = {0, UINT64_MAX, -1, 0, NULL};
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    int rc = stor_snap_begin(env, &snap);

    if (rc != 0) {
        return rc;
    }
    if ((rc = stor_iter_open(snap, &scan, &it)) != 0) {
        goto end_snap;
    }
    while ((rc = stor_iter_next(it, &recs, &n)) > 0) {
        for (size_t i = 0; i < n; i++) {
            add_row(s, &recs[i]);
        }
    }
    stor_iter_close(it);
    if (rc == 0) {
        rc = stor_windows_each(snap, 0, UINT64_MAX, count_window, s);
    }
end_snap:
    stor_snap_end(snap);
    return rc;
}

/* -e ADDR into the stored 16-byte form (flow.h: IPv4 as IPv4-mapped). */
static int
parse_exporter(const char *text)
{
    uint8_t v4[4];

    if (inet_pton(AF_INET, text, v4) == 1) {
        flow_addr_set_v4(exporter, v4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, exporter) == 1) {
        return 0;
    }
    fprintf(stderr, "stordump: -e %s: not an IPv4 or IPv6 address\n", text);
    return -1;
}

int
main(int argc, char **argv)
{
    struct stor_cfg cfg;
    struct stor_env *env;
    struct sums s = {0};
    struct stat st;
    char msg[256] = "";
    int c;

    while ((c = getopt(argc, argv, "se:")) != -1) {
        if (c == 's') {
            show_rows = 1;
        } else if (c == 'e' && parse_exporter(optarg) == 0) {
            only_exporter = true;
        } else {
            fprintf(stderr, "usage: stordump [-s] [-e ADDR] DIR\n");
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: stordump [-s] [-e ADDR] DIR\n");
        return 2;
    }
    /* stor_open would create a missing store; an empty dump of a typo helps nobody. */
    if (stat(argv[optind], &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "stordump: %s: not a directory\n", argv[optind]);
        return 1;
    }
    stor_cfg_default(&cfg);
    cfg.dir = argv[optind];
    int rc = stor_open(&env, &cfg, msg, sizeof(msg));
    if (rc != 0) {
        fprintf(stderr, "stordump: %s: %s%s%s\n", argv[optind], stor_strerror(rc),
                msg[0] ? ": " : "", msg);
        return 1;
    }
    rc = scan_all(env, &s);
    stor_close(env);
    if (rc != 0) {
        fprintf(stderr, "stordump: %s: scan: %s\n", argv[optind], stor_strerror(rc));
        return 1;
    }
    printf("records=%" PRIu64 " packets=%" PRIu64 " bytes=%" PRIu64 " windows=%" PRIu64
           " nodata=%" PRIu64 " skipdata=%" PRIu64 "\n",
           s.records, s.packets, s.bytes, s.windows, s.nodata, s.skipdata);
    return 0;
}
