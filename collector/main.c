/* SPDX-License-Identifier: MIT */
/*
 * flowlogd: the collector. Wiring only: parse the command line, open the store, bind the
 * listeners, run one libuv loop, stop cleanly on SIGTERM/SIGINT (stop receiving, hand the
 * last batch to the store, save templates, commit, exit).
 *
 * This version ingests NetFlow v5/v9 and IPFIX over UDP and IPFIX over TCP into the store;
 * the config file, the exporter allow-list, per-exporter counters on the query server and
 * syslog come with the rest of issue 4 and issue 5.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coll.h"

#define MAX_LISTENERS 16
#define RCVBUF        (8 << 20)
#define TICK_MS       100
#define LOG_EVERY_MS  60000u

struct daemon {
    uv_loop_t *loop;
    struct stor_env *stor;
    struct coll_pipeline *pipe;
    struct coll_listener *listeners[MAX_LISTENERS];
    size_t nlisteners;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uint64_t logged_ms;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: flowlogd [-d DIR] [-l PROTO:ADDR:PORT]... [-f] [-h]\n"
            "  -d, --data-dir DIR   the store (default /var/lib/flowlog as root,\n"
            "                       else $XDG_DATA_HOME/flowlog or ~/.local/share/flowlog)\n"
            "  -l, --listen SPEC    udp:ADDR:PORT or tcp:ADDR:PORT (IPFIX over TCP), repeatable\n"
            "                       (default udp 2055 and 4739, tcp 4739, on 0.0.0.0 and [::]);\n"
            "                       port 0 picks a free port; each bound listener is printed\n"
            "                       as 'listening PROTO ADDR:PORT' on standard output\n"
            "  -f, --foreground     stay in the foreground (this version always does)\n"
            "  -h, --help           this text\n"
            "Decodes NetFlow v5, v9 and IPFIX over UDP, and IPFIX over TCP, into the store.\n"
            "SIGTERM or SIGINT stops it after committing everything received.\n");
}

/* mkdir -p for the default data directory's parents. */
static void
make_parents(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *s = buf + 1; *s != '\0'; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(buf, 0750);
            *s = '/';
        }
    }
}

static int
default_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (geteuid() == 0) {
        snprintf(buf, len, "/var/lib/flowlog");
    } else if (xdg != NULL && xdg[0] == '/') {
        snprintf(buf, len, "%s/flowlog", xdg);
    } else if (home != NULL) {
        snprintf(buf, len, "%s/.local/share/flowlog", home);
    } else {
        return -1;
    }
    make_parents(buf);
    return 0;
}

static void
log_counters(struct daemon *d)
{
    struct coll_counters c;
    struct stor_stats s;
    const struct dec_stats *ds = coll_pipeline_dec_stats(d->pipe);
    uint64_t errors = 0;

    coll_pipeline_counters(d->pipe, &c);
    stor_stats_get(d->stor, &s);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        errors += ds->err[i];
    }
    fprintf(stderr,
            "flowlogd: datagrams %" PRIu64 " records %" PRIu64 " dropped %" PRIu64
            " decode-errors %" PRIu64 " seq-missed %" PRIu64 " stored %" PRIu64 " late %" PRIu64
            " seals %" PRIu64 " store-errors %" PRIu64 "\n",
            c.datagrams, c.records, c.records_dropped + s.records_dropped, errors, ds->seq_missed,
            s.records_stored, s.late, s.seals, s.full_errors);
}

static void
on_tick(uv_timer_t *t)
{
    struct daemon *d = t->data;
    uint64_t now = coll_now_ms();
    coll_pipeline_flush(d->pipe);
    coll_pipeline_tick(d->pipe, now);
    if (now - d->logged_ms >= LOG_EVERY_MS) {
        log_counters(d);
        d->logged_ms = now;
    }
}

static void
stop(struct daemon *d)
{
    for (size_t i = 0; i < d->nlisteners; i++) {
        coll_listen_close(d->listeners[i]);
    }
    d->nlisteners = 0;
    uv_timer_stop(&d->tick);
    uv_close((uv_handle_t *) &d->tick, NULL);
    uv_close((uv_handle_t *) &d->sigterm, NULL);
    uv_close((uv_handle_t *) &d->sigint, NULL);
}

static void
on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    fprintf(stderr, "flowlogd: signal %d, stopping\n", signum);
    stop(d);
}

static int
bind_all(struct daemon *d, char **specs, size_t nspecs)
{
    static char *defaults[] = {"udp:0.0.0.0:2055", "udp:0.0.0.0:4739", "tcp:0.0.0.0:4739",
                               "udp:[::]:2055",    "udp:[::]:4739",    "tcp:[::]:4739"};
    if (nspecs == 0) {
        specs = defaults;
        nspecs = 6;
    }
    for (size_t i = 0; i < nspecs; i++) {
        struct sockaddr_storage addr;
        char msg[200] = "", name[80];
        struct coll_listener *l = NULL;
        bool tcp = false;
        int rc = coll_listen_parse(specs[i], &addr, &tcp, msg, sizeof(msg));
        if (rc == 0 && tcp) {
            rc = coll_listen_tcp(d->loop, (struct sockaddr *) &addr, d->pipe, &l, msg, sizeof(msg));
        } else if (rc == 0) {
            rc = coll_listen_udp(d->loop, (struct sockaddr *) &addr, RCVBUF, d->pipe, &l, msg,
                                 sizeof(msg));
        }
        if (rc != 0) {
            fprintf(stderr, "flowlogd: %s: %s\n", specs[i], msg);
            return rc;
        }
        if (msg[0] != '\0') {
            fprintf(stderr, "flowlogd: %s: %s\n", specs[i], msg); /* e.g. a capped buffer */
        }
        d->listeners[d->nlisteners++] = l;
        coll_listen_name(l, name, sizeof(name));
        printf("listening %s %s\n", coll_listen_proto(l), name);
    }
    fflush(stdout);
    return 0;
}

static int
run(const char *dir, char **specs, size_t nspecs)
{
    struct daemon d = {.loop = uv_default_loop()};
    struct stor_cfg cfg;
    char msg[512] = "";
    int rc;

    stor_cfg_default(&cfg);
    cfg.dir = dir;
    if ((rc = stor_open(&d.stor, &cfg, msg, sizeof(msg))) != 0) {
        fprintf(stderr, "flowlogd: store %s: %s\n", dir, msg[0] ? msg : stor_strerror(rc));
        return 1;
    }
    if ((rc = coll_pipeline_open(&d.pipe, d.stor, coll_now_ms())) != 0) {
        fprintf(stderr, "flowlogd: %s\n", strerror(-rc));
        stor_close(d.stor);
        return 1;
    }
    uv_timer_init(d.loop, &d.tick);
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    d.tick.data = d.sigterm.data = d.sigint.data = &d;
    d.logged_ms = coll_now_ms();
    if (bind_all(&d, specs, nspecs) != 0) {
        stop(&d);
        uv_run(d.loop, UV_RUN_DEFAULT);
        coll_pipeline_close(d.pipe, coll_now_ms());
        stor_close(d.stor);
        return 1;
    }
    uv_timer_start(&d.tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_run(d.loop, UV_RUN_DEFAULT);

    coll_pipeline_flush(d.pipe); /* the last batch */
    rc = stor_sync(d.stor);
    log_counters(&d);
    coll_pipeline_close(d.pipe, coll_now_ms()); /* saves the templates */
    stor_close(d.stor);                         /* commits what is queued */
    uv_loop_close(d.loop);
    if (rc != 0) {
        fprintf(stderr, "flowlogd: final commit: %s\n", stor_strerror(rc));
        return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"foreground", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *specs[MAX_LISTENERS];
    size_t nspecs = 0;
    char dir[4096] = "";
    int c;

    while ((c = getopt_long(argc, argv, "d:l:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            snprintf(dir, sizeof(dir), "%s", optarg);
            break;
        case 'l':
            if (nspecs == MAX_LISTENERS) {
                fprintf(stderr, "flowlogd: at most %d listeners\n", MAX_LISTENERS);
                return 2;
            }
            specs[nspecs++] = optarg;
            break;
        case 'f':
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (dir[0] == '\0' && default_dir(dir, sizeof(dir)) != 0) {
        fprintf(stderr, "flowlogd: no data directory: give -d DIR\n");
        return 2;
    }
    return run(dir, specs, nspecs);
}
