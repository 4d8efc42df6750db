/* SPDX-License-Identifier: MIT */
/*
 * flowlogd: the collector. Wiring only: read the config (file, then command-line overrides),
 * daemonise unless -f, open the store, bind the listeners, run one libuv loop, log the
 * counters every log_interval, reload the config on SIGHUP, stop cleanly on SIGTERM/SIGINT
 * (stop receiving, hand the last batch to the store, save templates, commit, exit).
 *
 * What a reload can change live is decided in config.c (coll_cfg_diff / coll_cfg_apply_live):
 * the allow-list, the log interval and level, the UDP receive buffer. The rest (listeners,
 * data directory, store and decoder settings) is logged as needing a restart and kept.
 * docs/collector.md is the operator's page for all of it.
 */
#define _DEFAULT_SOURCE /* realpath, plus POSIX 2008 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coll.h"
#include "http.h"
#include "http_info.h"
#include "events.h"
#include "sink.h"

#define TICK_MS 100

/* The command line: the file to read and what overrides it. */
struct opts {
    const char *config; /* absolute once main has resolved it; NULL = no file */
    const char *dir;    /* -d */
    const char *specs[COLL_LISTEN_MAX];
    size_t nspecs;
    bool foreground;
    bool check;        /* -t: check the config and exit */
    const char *query; /* -q ADDR:PORT: the query server's address */
    const char *web;   /* -w ADDR:PORT: the HTTP server's address */
    const char *repeats[COLL_REPEAT_MAX]; /* -R HOST:PORT: repeater destinations */
    size_t nrepeats;
};

struct daemon {
    uv_loop_t *loop;
    const struct opts *opt;
    struct coll_cfg cfg;     /* in force; listeners point at cfg.allow */
    char dir[COLL_PATH_MAX]; /* the data directory, absolute */
    struct stor_env *stor;
    struct coll_pipeline *pipe;
    struct coll_extab *extab;
    struct coll_listener *listeners[COLL_LISTEN_MAX];
    size_t nlisteners;
    struct coll_stats_src stats;
    struct coll_tcp_sessions tcp; /* the TCP listeners' session budget */
    struct coll_xcall *xcall;     /* the query plane's way into this loop */
    struct coll_qplane *qp;       /* the query plane's thread (qplane.c) */
    struct coll_http *http;       /* the HTTP API and console (http.c) */
    struct coll_repeat *repeat;   /* the repeater (repeat.c), or NULL */
    struct coll_sink *sink;       /* the ClickHouse sink (sink.c), or NULL */
    struct coll_http_info_src http_info; /* where HTTP asks for STATS (http_info.c) */
    uv_timer_t tick;
    uv_signal_t sigterm, sigint, sighup;
    bool pid_written;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: flowlogd [-c FILE] [-d DIR] [-l PROTO:ADDR:PORT]... [-q ADDR:PORT]\n"
            "                [-w ADDR:PORT] [-R HOST:PORT]... [-f] [-t] [-h]\n"
            "  -c, --config FILE    read settings from FILE (INI; see etc/flowlogd.conf);\n"
            "                       the options below override it. SIGHUP re-reads it\n"
            "  -d, --data-dir DIR   the store (default /var/lib/flowlog as root,\n"
            "                       else $XDG_DATA_HOME/flowlog or ~/.local/share/flowlog)\n"
            "  -l, --listen SPEC    udp:ADDR:PORT or tcp:ADDR:PORT (IPFIX over TCP), repeatable;\n"
            "                       replaces the file's listeners (default udp 2055 and 4739,\n"
            "                       tcp 4739, on 0.0.0.0 and [::]); port 0 picks a free port;\n"
            "                       each bound listener is printed as 'listening PROTO\n"
            "                       ADDR:PORT' on standard output\n"
            "  -R, --repeat HOST:PORT  send a copy of every datagram received (and of every\n"
            "                       IPFIX message from a TCP stream) to HOST:PORT over UDP,\n"
            "                       unchanged; repeatable (at most 8); replaces the file's\n"
            "                       [repeat] to; a slow or dead destination loses copies\n"
            "  -f, --foreground     stay in the foreground and log to standard error\n"
            "                       (without it: detach, log to syslog, facility daemon)\n"
            "  -q, --query ADDR:PORT  the query server (default 127.0.0.1:7739; \"\" for none);\n"
            "                       port 0 picks one, printed as 'listening query ADDR:PORT'\n"
            "  -w, --web ADDR:PORT  the HTTP API, metrics and console (default 127.0.0.1:7780;\n"
            "                       \"\" for none); port 0 picks one, printed as\n"
            "                       'listening http ADDR:PORT'\n"
            "  -t, --check-config   read the config, report the first error, and exit\n"
            "  -h, --help           this text\n"
            "Decodes NetFlow v1, v5, v7, v9 and IPFIX over UDP, and IPFIX over TCP, into\n"
            "the store.\n"
            "SIGTERM or SIGINT stops it after committing everything received; SIGHUP reloads\n"
            "the config (allow-list, log interval and level, receive buffer and [query]'s\n"
            "client budgets, timeouts and limits apply at once; other changes are logged as\n"
            "needing a restart).\n"
            "Exit status: 0 stopped cleanly, 1 runtime failure, 2 bad usage or config.\n");
}

/* mkdir -p for the default data directory's parents. */
static void
make_parents(const char *path)
{
    char buf[COLL_PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *s = buf + 1; *s != '\0'; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(buf, 0750);
            *s = '/';
        }
    }
}

/* The data directory, absolute (the daemon changes to / before it opens it). */
static int
resolve_dir(const char *want, char *buf, size_t len)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char cwd[COLL_PATH_MAX];
    int n;

    if (want[0] == '/') {
        n = snprintf(buf, len, "%s", want);
    } else if (want[0] != '\0') {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            return -errno;
        }
        n = snprintf(buf, len, "%s/%s", cwd, want);
    } else if (geteuid() == 0) {
        n = snprintf(buf, len, "/var/lib/flowlog");
    } else if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(buf, len, "%s/flowlog", xdg);
        make_parents(buf);
    } else if (home != NULL && home[0] == '/') {
        n = snprintf(buf, len, "%s/.local/share/flowlog", home);
        make_parents(buf);
    } else {
        return -ENOENT;
    }
    return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}

/* Defaults, then the file, then the command line. 0, or -EINVAL/-errno with msg. */
static int
load_config(const struct opts *o, struct coll_cfg *cfg, char *msg, size_t msglen)
{
    int rc;
    coll_cfg_default(cfg);
    if (o->config != NULL && (rc = coll_cfg_load(cfg, o->config, msg, msglen)) != 0) {
        return rc;
    }
    if (o->dir != NULL &&
        (rc = coll_cfg_set(cfg, "collector", "data_dir", o->dir, msg, msglen)) != 0) {
        return rc;
    }
    if (o->nspecs > 0) {
        cfg->listen.n = 0;
    }
    for (size_t i = 0; i < o->nspecs; i++) {
        if ((rc = coll_cfg_set(cfg, "collector", "listen", o->specs[i], msg, msglen)) != 0) {
            return rc;
        }
    }
    if (o->nrepeats > 0) {
        cfg->repeat.to[0] = '\0';
    }
    for (size_t i = 0; i < o->nrepeats; i++) {
        if (coll_repeat_append(&cfg->repeat, o->repeats[i]) != 0) {
            snprintf(msg, msglen, "-R: the destinations are longer than %d characters",
                     COLL_REPEAT_TO_MAX - 1);
            return -EINVAL;
        }
    }
    /* -q and -w are part of the config in force, so a reload compares like with like. */
    if (o->query != NULL &&
        (rc = coll_cfg_set(cfg, "query", "listen", o->query, msg, msglen)) != 0) {
        return rc;
    }
    if (o->web != NULL && (rc = coll_cfg_set(cfg, "http", "listen", o->web, msg, msglen)) != 0) {
        return rc;
    }
    return coll_cfg_check(cfg, msg, msglen);
}

/* ---- counters ---- */

/* The counter line at exit (during the run the query plane logs it). */
static void
log_counters(struct daemon *d)
{
    struct coll_counter_snap *snap = calloc(1, sizeof(*snap));
    struct stor_stats st;
    if (snap == NULL) {
        return;
    }
    coll_stats_snap(&d->stats, snap);
    stor_stats_get(d->stor, &st);
    coll_stats_log(snap, &st);
    free(snap);
}

static void
on_tick(uv_timer_t *t)
{
    struct daemon *d = t->data;
    struct coll_counters c;
    coll_pipeline_flush(d->pipe);
    coll_pipeline_tick(d->pipe, flow_wall_ms());
    coll_pipeline_counters(d->pipe, &c);
    coll_notify_tick(flow_mono_ms(), c.datagrams, c.records);
    coll_events_poll(d->pipe); /* events_src.c: templates withdrawn/changed, evictions */
}

/* ---- signals ---- */

static void
stop(struct daemon *d)
{
    coll_notify_stopping("stopping: committing what was received");
    for (size_t i = 0; i < d->nlisteners; i++) {
        /* Keep what it counted for the counter line at exit. */
        struct coll_listen_stats ls;
        coll_listen_stats(d->listeners[i], &ls);
        coll_listen_stats_add(&d->stats.closed, &ls);
        coll_listen_close(d->listeners[i]);
    }
    d->nlisteners = 0;
    d->stats.nlisteners = 0;
    coll_http_stop(d->http); /* cancels its queries and joins its threads */
    d->http = NULL;
    /* The query plane may be waiting on this loop: fail its calls before waiting for it.
     * Templates are saved by coll_pipeline_close from now on. */
    if (d->pipe != NULL) {
        coll_pipeline_set_saver(d->pipe, NULL, NULL, 0);
    }
    coll_xcall_shut(d->xcall);
    coll_qplane_stop(d->qp);
    d->qp = NULL;
    coll_xcall_close(d->xcall);
    d->xcall = NULL;
    uv_timer_stop(&d->tick);
    uv_close((uv_handle_t *) &d->tick, NULL);
    uv_close((uv_handle_t *) &d->sigterm, NULL);
    uv_close((uv_handle_t *) &d->sigint, NULL);
    uv_close((uv_handle_t *) &d->sighup, NULL);
}

static void
on_stop_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    coll_log(COLL_LOG_NOTICE, "signal %d, stopping", signum);
    stop(d);
}

/* Apply what changed live: the allow-list needs nothing (listeners point at d->cfg.allow). */
static void
apply_live(struct daemon *d)
{
    coll_log_set_level(d->cfg.log_level);
    stor_set_retention(d->stor, d->cfg.stor.retention_s, d->cfg.stor.max_bytes);
    if (d->qp != NULL) {
        coll_qplane_set_log_interval(d->qp, d->cfg.log_interval_s);
        coll_qplane_set_query(d->qp, &d->cfg.query);
    }
    for (size_t i = 0; i < d->nlisteners; i++) {
        int got;
        if (coll_listen_set_rcvbuf(d->listeners[i], (int) d->cfg.rcvbuf_bytes, &got) == 0 &&
            got != 0 && got < (int) d->cfg.rcvbuf_bytes) {
            coll_log(COLL_LOG_WARNING,
                     "receive buffer %d bytes: the kernel capped it (net.core.rmem_max)", got);
        }
    }
}

static void
on_sighup(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    struct coll_cfg *next = malloc(sizeof(*next));
    char msg[600], live[512], restart[512];
    (void) signum;

    if (next == NULL) {
        coll_log(COLL_LOG_ERR, "reload: out of memory; keeping the running config");
        return;
    }
    if (load_config(d->opt, next, msg, sizeof(msg)) != 0) {
        coll_log(COLL_LOG_ERR, "reload: %s; keeping the running config", msg);
        goto free_next;
    }
    if (next->warning[0] != '\0') {
        coll_log(COLL_LOG_WARNING, "reload: %s", next->warning);
    }
    if (coll_cfg_diff(&d->cfg, next, live, sizeof(live), restart, sizeof(restart)) == 0) {
        coll_log(COLL_LOG_NOTICE, "reload: %s: no change", d->opt->config ? d->opt->config : "-");
        goto free_next;
    }
    if (restart[0] != '\0') {
        coll_log(COLL_LOG_WARNING, "reload: %s changed: needs a restart (running values kept)",
                 restart);
    }
    if (live[0] != '\0') {
        coll_cfg_apply_live(&d->cfg, next);
        apply_live(d);
        coll_log(COLL_LOG_NOTICE, "reload: applied %s (allow-list: %zu entries)", live,
                 d->cfg.allow.n);
    }
free_next:
    free(next);
}

/* ---- start-up ---- */

static int
bind_all(struct daemon *d)
{
    static const char *defaults[] = {"udp:0.0.0.0:2055", "udp:0.0.0.0:4739", "tcp:0.0.0.0:4739",
                                     "udp:[::]:2055",    "udp:[::]:4739",    "tcp:[::]:4739"};
    size_t n = d->cfg.listen.n != 0 ? d->cfg.listen.n : sizeof(defaults) / sizeof(defaults[0]);
    for (size_t i = 0; i < n; i++) {
        const char *spec = d->cfg.listen.n != 0 ? d->cfg.listen.spec[i] : defaults[i];
        struct sockaddr_storage addr;
        char msg[200] = "", name[80];
        struct coll_listener *l = NULL;
        bool tcp = false;
        int rc = coll_listen_parse(spec, &addr, &tcp, msg, sizeof(msg));
        if (rc == 0 && tcp) {
            rc = coll_listen_tcp(d->loop, (struct sockaddr *) &addr, d->pipe, &d->tcp, &l, msg,
                                 sizeof(msg));
        } else if (rc == 0) {
            rc = coll_listen_udp(d->loop, (struct sockaddr *) &addr, (int) d->cfg.rcvbuf_bytes,
                                 d->pipe, &l, msg, sizeof(msg));
        }
        if (rc != 0) {
            coll_log(COLL_LOG_ERR, "%s: %s", spec, msg);
            return rc;
        }
        if (msg[0] != '\0') {
            coll_log(COLL_LOG_WARNING, "%s: %s", spec, msg); /* e.g. a capped buffer */
        }
        coll_listen_set_allow(l, &d->cfg.allow);
        d->listeners[d->nlisteners++] = l;
        d->stats.nlisteners = d->nlisteners;
        coll_listen_name(l, name, sizeof(name));
        printf("listening %s %s\n", coll_listen_proto(l), name);
        coll_log(COLL_LOG_NOTICE, "listening %s %s", coll_listen_proto(l), name);
    }
    fflush(stdout);
    return 0;
}

static int
write_pid_file(struct daemon *d)
{
    const char *path = d->cfg.pid_file;
    FILE *f;
    if (path[0] == '\0') {
        return 0;
    }
    if ((f = fopen(path, "w")) == NULL || fprintf(f, "%ld\n", (long) getpid()) < 0 ||
        fclose(f) != 0) {
        coll_log(COLL_LOG_ERR, "pid file %s: %s", path, strerror(errno));
        return -1;
    }
    d->pid_written = true;
    return 0;
}

/* 64 random bits from the kernel; the clock and pid if it has none to give. */
static uint64_t
random_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t) sizeof(seed)) {
        return seed;
    }
    return flow_mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t) getpid();
}

/* The exporter table's notices as rate-limited events (events.c). */
static void
on_extab_notice(void *arg, enum coll_extab_notice what, const struct coll_exporter *e)
{
    char name[96];
    (void) arg;
    coll_exporter_name(e, name, sizeof(name));
    if (what == COLL_EXTAB_NEW) {
        coll_event(COLL_EV_EXPORTER_NEW, "new exporter %s", name);
    } else {
        coll_event(COLL_EV_EXPORTER_UNTRACKED,
                   "exporter %s not tracked: the exporter table is full "
                   "([collector] exporter_rows_max)",
                   name);
    }
}

/* Store, pipeline, exporter table. */
static int
open_parts(struct daemon *d)
{
    struct stor_cfg scfg = d->cfg.stor;
    struct dec_cfg dcfg = d->cfg.dec;
    char msg[512] = "";
    int rc;

    scfg.dir = d->dir;
    scfg.notice = coll_events_stor_notice; /* events_src.c: partitions dropped, compacted */
    scfg.outbox = d->cfg.query.chq.nurls > 0; /* [clickhouse] url: seals fill the outbox */
    /* The decoder's exporter hash gets a seed no sender can know, so that sources cannot
     * be chosen to collide. */
    dcfg.hash_seed = random_seed();
    if ((rc = stor_open(&d->stor, &scfg, msg, sizeof(msg))) != 0) {
        coll_log(COLL_LOG_ERR, "store %s: %s", d->dir, msg[0] ? msg : stor_strerror(rc));
        return rc;
    }
    if ((rc = coll_pipeline_open(&d->pipe, d->stor, &dcfg, flow_wall_ms())) != 0 ||
        (rc = coll_extab_create(&d->extab, d->cfg.exporter_rows_max)) != 0) {
        coll_log(COLL_LOG_ERR, "start: %s", strerror(-rc));
        return rc;
    }
    coll_pipeline_set_extab(d->pipe, d->extab);
    coll_extab_set_notice(d->extab, on_extab_notice, d);
    if ((rc = coll_repeat_open(&d->cfg.repeat, &d->repeat, msg, sizeof(msg))) != 0) {
        coll_log(COLL_LOG_ERR, "%s", msg);
        return rc;
    }
    if ((rc = coll_sink_start(d->stor, &d->cfg.query.chq, &d->sink)) != 0) {
        coll_log(COLL_LOG_ERR, "clickhouse sink: %s", strerror(-rc));
        return rc;
    }
    d->stats =
        (struct coll_stats_src){.pipe = d->pipe, .extab = d->extab, .listeners = d->listeners};
    return 0;
}

/* Daemon mode: tell the waiting parent that start-up went well, then let go of the terminal. */
static void
detach(int ready_fd)
{
    int null = open("/dev/null", O_RDWR);
    if (ready_fd >= 0) {
        (void) !write(ready_fd, "R", 1);
        close(ready_fd);
    }
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) {
            close(null);
        }
    }
    coll_log_open(false, true);
}

static void
save_templates(void *arg, void *buf, size_t len)
{
    coll_qplane_save_templates(arg, buf, len);
}

/* The query plane's thread with the query server, after the listeners (so its line comes
 * last). */
static int
start_plane(struct daemon *d)
{
    char msg[300] = "", name[80];
    struct coll_qplane_cfg qc = {.stor = d->stor,
                                 .query = d->cfg.query,
                                 .in = {.stats = &d->stats,
                                        .health = d->cfg.health,
                                        .dir = d->dir},
                                 .log_interval_s = d->cfg.log_interval_s};
    int rc = coll_xcall_open(d->loop, &d->xcall);
    if (rc != 0) {
        coll_log(COLL_LOG_ERR, "start: %s", uv_strerror(rc));
        return -1;
    }
    qc.in.ingest = d->xcall;
    rc = coll_qplane_start(&qc, &d->qp, msg, sizeof(msg));
    /* The default address taken (another flowlogd, parallel tests) is not fatal; an address
     * asked for is. */
    bool dflt = d->opt->query == NULL && strcmp(d->cfg.query.tcp, "127.0.0.1:7739") == 0 &&
                d->cfg.query.unix_path[0] == '\0';
    if (rc == UV_EADDRINUSE && dflt) {
        coll_log(COLL_LOG_WARNING, "no query server: %s (set -q or [query] listen)", msg);
        qc.query.tcp[0] = '\0';
        rc = coll_qplane_start(&qc, &d->qp, msg, sizeof(msg));
    }
    if (rc != 0) {
        coll_log(COLL_LOG_ERR, "%s", msg[0] != '\0' ? msg : uv_strerror(rc));
        return -1;
    }
    coll_pipeline_set_saver(d->pipe, save_templates, d->qp, d->cfg.tmpl_save_s * 1000u);
    coll_qplane_name(d->qp, name, sizeof(name));
    if (name[0] != '\0') {
        printf("listening query %s\n", name);
        coll_log(COLL_LOG_NOTICE, "listening query %s", name);
    }
    fflush(stdout);
    return 0;
}

/* Say it loudly when the defaults leave the collector open. */
static void
warn_open(const struct daemon *d)
{
    if (d->cfg.allow.n == 0) {
        coll_log(COLL_LOG_WARNING,
                 "every exporter is allowed (no [collector] allow list): any host that reaches "
                 "the listeners can send flows and templates");
    }
    if (d->cfg.query.token[0] == '\0' && (d->cfg.query.tcp[0] != '\0')) {
        coll_log(COLL_LOG_WARNING,
                 "the query server has no token ([query] token): every local user can query "
                 "and change flow logs");
    }
}

/* The HTTP server (http.c), after the query server. Its queries run on its own threads. */
static int
start_http(struct daemon *d)
{
    char msg[300] = "", name[80];
    if (d->cfg.http.listen[0] == '\0') {
        return 0;
    }
    /* STATS and EXPORTERS come from the query server, asked over its protocol on loopback:
     * its rows, computed on its thread (none without a TCP query server). */
    char qname[80] = "";
    if (d->qp != NULL) {
        coll_qplane_name(d->qp, qname, sizeof(qname));
    }
    bool info = qname[0] != '\0' &&
                coll_http_info_src_set(&d->http_info, qname, d->cfg.query.token) == 0;
    struct coll_http_host host = {.stor = d->stor,
                                  .token = d->cfg.query.token,
                                  .admin_token = d->cfg.query.admin_token,
                                  .limits = {.time_ms = d->cfg.query.time_limit_ms,
                                             .mem_bytes = d->cfg.query.memory_limit,
                                             .rows = d->cfg.query.row_limit},
                                  .info = info ? coll_http_info_proto : NULL,
                                  .info_arg = &d->http_info};
    struct qry_session_cfg chq = {0};
    coll_chq_session(&d->cfg.query.chq, &chq); /* [clickhouse] and [query] backend */
    host.clickhouse = chq.clickhouse;
    host.backend_clickhouse = chq.backend_clickhouse;
    int rc = coll_http_start(&d->cfg.http, &host, &d->http, msg, sizeof(msg));
    bool dflt = d->opt->web == NULL && strcmp(d->cfg.http.listen, "127.0.0.1:7780") == 0;
    if (rc == -EADDRINUSE && dflt) {
        coll_log(COLL_LOG_WARNING, "no HTTP server: %s (set -w or [http] listen)", msg);
        return 0;
    }
    if (rc != 0) {
        coll_log(COLL_LOG_ERR, "%s", msg);
        return -1;
    }
    coll_http_name(d->http, name, sizeof(name));
    printf("listening http %s\n", name);
    coll_log(COLL_LOG_NOTICE, "listening http %s", name);
    fflush(stdout);
    return 0;
}

/*
 * The store keeps two files open per partition (a partition is an hour by default: a month
 * of retention is 720), and every TCP exporter and query client is a socket: take the whole
 * hard limit on open files rather than the usual soft 1024.
 */
static void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) {
        return;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        coll_log(COLL_LOG_WARNING, "open files limited to %llu: %s",
                 (unsigned long long) rl.rlim_cur, strerror(errno));
    }
}

static int
run(const struct opts *o, struct daemon *d, int ready_fd)
{
    int rc = 1;

    d->loop = uv_default_loop();
    d->opt = o;
    uv_timer_init(d->loop, &d->tick);
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    d->tick.data = d->sigterm.data = d->sigint.data = d->sighup.data = d;
    d->tcp.cfg = d->cfg.tcp;
    raise_nofile();
    coll_notify_open();
    if (open_parts(d) != 0 || bind_all(d) != 0 || write_pid_file(d) != 0) {
        stop(d);
        uv_run(d->loop, UV_RUN_DEFAULT);
        goto close_parts;
    }
    if (start_plane(d) != 0 || start_http(d) != 0) {
        stop(d);
        uv_run(d->loop, UV_RUN_DEFAULT);
        goto close_parts;
    }
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&d->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d->sighup, on_sighup, SIGHUP);
    coll_log(COLL_LOG_NOTICE, "started: store %s, %zu listeners, allow-list %zu entries%s", d->dir,
             d->nlisteners, d->cfg.allow.n, d->cfg.allow.n == 0 ? " (all allowed)" : "");
    warn_open(d);
    if (!o->foreground) {
        detach(ready_fd);
    }
    char status[COLL_PATH_MAX + 64];
    snprintf(status, sizeof(status), "ingesting: %zu listeners, store %s", d->nlisteners, d->dir);
    coll_notify_ready(status);
    uv_run(d->loop, UV_RUN_DEFAULT);

    coll_pipeline_flush(d->pipe); /* the last batch */
    int sync = stor_sync(d->stor);
    log_counters(d);
    rc = 0;
    if (sync != 0) {
        coll_log(COLL_LOG_ERR, "final commit: %s", stor_strerror(sync));
        rc = 1;
    }
close_parts:
    coll_pipeline_close(d->pipe, flow_wall_ms()); /* saves the templates */
    coll_repeat_close(d->repeat);
    coll_sink_stop(d->sink);
    coll_extab_destroy(d->extab);
    stor_close(d->stor); /* commits what is queued */
    uv_loop_close(d->loop);
    if (d->pid_written) {
        unlink(d->cfg.pid_file);
    }
    return rc;
}

/*
 * Fork twice (the daemon is no session leader, so it can never get a controlling terminal)
 * and wait in the original process until the daemon says it started (exit 0) or dies
 * (exit 1: its errors went to our stderr, which it still shares until it detaches).
 * Returns in the daemon with the write end of the ready pipe; never returns in the parent.
 */
static int
daemonise(void)
{
    int fds[2];
    char c;

    if (pipe(fds) != 0) {
        perror("flowlogd: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("flowlogd: fork");
        exit(1);
    }
    if (pid > 0) {
        close(fds[1]);
        ssize_t n;
        while ((n = read(fds[0], &c, 1)) < 0 && errno == EINTR) {
        }
        waitpid(pid, NULL, 0);
        exit(n == 1 ? 0 : 1);
    }
    close(fds[0]);
    if (setsid() < 0 || (pid = fork()) < 0) {
        perror("flowlogd: setsid/fork");
        _exit(1);
    }
    if (pid > 0) {
        _exit(0);
    }
    umask(027);
    if (chdir("/") != 0) {
        perror("flowlogd: chdir /");
        _exit(1);
    }
    return fds[1];
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"foreground", no_argument, NULL, 'f'},
        {"check-config", no_argument, NULL, 't'},
        {"query", required_argument, NULL, 'q'},
        {"web", required_argument, NULL, 'w'},
        {"repeat", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:d:l:ftq:w:R:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'd':
            o->dir = optarg;
            break;
        case 'l':
            if (o->nspecs == COLL_LISTEN_MAX) {
                fprintf(stderr, "flowlogd: at most %d listeners\n", COLL_LISTEN_MAX);
                return 2;
            }
            o->specs[o->nspecs++] = optarg;
            break;
        case 'R':
            if (o->nrepeats == COLL_REPEAT_MAX) {
                fprintf(stderr, "flowlogd: at most %d repeat destinations\n", COLL_REPEAT_MAX);
                return 2;
            }
            o->repeats[o->nrepeats++] = optarg;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 't':
            o->check = true;
            break;
        case 'q':
            o->query = optarg;
            break;
        case 'w':
            o->web = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static struct daemon d; /* large (the config); static keeps it off the stack */
    static struct opts o;
    static char config[PATH_MAX];
    char msg[600];
    int rc;

    if ((rc = parse_args(argc, argv, &o)) != 0) {
        return rc;
    }
    /* Absolute, so that SIGHUP finds it after the daemon changed to /. */
    if (o.config != NULL && realpath(o.config, config) == NULL) {
        fprintf(stderr, "flowlogd: %s: %s\n", o.config, strerror(errno));
        return 2;
    }
    if (o.config != NULL) {
        o.config = config;
    }
    if (load_config(&o, &d.cfg, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "flowlogd: %s\n", msg);
        return 2;
    }
    if ((rc = resolve_dir(d.cfg.data_dir, d.dir, sizeof(d.dir))) != 0) {
        fprintf(stderr, "flowlogd: no data directory (%s): give -d DIR or data_dir\n",
                strerror(-rc));
        return 2;
    }
    if (d.cfg.warning[0] != '\0') {
        fprintf(stderr, "flowlogd: warning: %s\n", d.cfg.warning);
    }
    if (o.check) {
        printf("%s: OK\n", o.config != NULL ? o.config : "(no config file)");
        return 0;
    }
    coll_log_set_level(d.cfg.log_level);
    /* A client or exporter that goes away while we write costs an EPIPE on that socket, not
     * the process (SIGPIPE's default action). Nothing in flowlogd relies on SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    int ready_fd = -1;
    if (!o.foreground) {
        ready_fd = daemonise();
        coll_log_open(true, true); /* start-up errors reach the terminal and syslog */
    }
    return run(&o, &d, ready_fd);
}
