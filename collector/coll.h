/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's parts, private to collector/: the ingest pipeline (datagrams -> decoder ->
 * storage batches), the listeners (libuv UDP and TCP sockets feeding it, behind the exporter
 * allow-list), the config (config.c), the per-exporter counter table (exporters.c), the
 * counters as data for the query server (stats.c) and the log (log.c), all on the ingest
 * loop's thread; the query plane (qplane.c: its own thread and loop, with the query server of
 * qserver.c, qclient.c and qinfo.c) and the calls it makes into the ingest loop (xcall.c).
 * main.c wires them. config.c and exporters.c form the library `coll` (no sockets, no clock,
 * no I/O besides reading the config file), unit-tested in tests/unit/coll with xcall.c and
 * pipeline.c. docs/collector.md is the operator's page; its "Threads" section says which
 * thread owns what.
 */
#ifndef FLOWLOG_COLL_H
#define FLOWLOG_COLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_cidr.h"
#include "flow_clock.h"
#include <sys/socket.h>

#include <uv.h>

#include "config_chquery.h"
#include "dec.h"
#include "health.h"
#include "http_cfg.h"
#include "repeat.h"
#include "stor.h"

/* IPFIX-over-TCP ingest sessions ([collector] keys). */
struct coll_tcp_cfg {
    uint32_t max_sessions;   /* open sessions over all TCP listeners; more are refused. 256 */
    uint32_t idle_timeout_s; /* a session that sends nothing for this long is closed. 600 */
};

/* ---- pipeline.c ---- */

struct coll_counters {
    uint64_t tmpl_snapshots;   /* template snapshots made (templates had changed) */
    uint64_t tmpl_save_errors; /* snapshots that could not be made (too big, no memory) */
    uint64_t exporters_forgotten; /* by the exporter admin verb */
    uint64_t datagrams;
    uint64_t octets;
    uint64_t records;         /* decoded */
    uint64_t records_dropped; /* no free storage batch: counted, not stored */
    uint64_t batches;         /* submitted to storage */
};

struct coll_pipeline;

/* Decoder + storage hand-off. Loads the decoder's templates from the store. dcfg NULL means
 * the decoder's defaults. */
int coll_pipeline_open(struct coll_pipeline **out, struct stor_env *stor,
                       const struct dec_cfg *dcfg, uint64_t now_ms);
/* Decode one message (a UDP datagram, or one IPFIX message framed from a TCP stream) from
 * `from` over `transport` (enum dec_transport) and queue its records for storage. */
void coll_pipeline_message(struct coll_pipeline *p, const struct sockaddr *from, uint8_t transport,
                           const uint8_t *data, size_t len, uint64_t now_ms);
/* A TCP session ended: its templates go with it (RFC 7011 §8). */
void coll_pipeline_forget(struct coll_pipeline *p, const struct sockaddr *from);
/* Hand the partly filled batch to storage (a timer calls this so records never wait long). */
void coll_pipeline_flush(struct coll_pipeline *p);
/* True while the store has no free batch and records are decoded only to be dropped: the
 * UDP listeners then stop reading and let the kernel drop whole datagrams (socket_drops). */
bool coll_pipeline_starved(const struct coll_pipeline *p);
/* Who writes the periodic template snapshots: fn takes buf (malloc'ed) and its length. Without
 * one, templates are saved only at close. */
typedef void coll_tmpl_saver_fn(void *arg, void *buf, size_t len);
void coll_pipeline_set_saver(struct coll_pipeline *p, coll_tmpl_saver_fn *fn, void *arg,
                             uint32_t every_ms);
/* Periodic work: template expiry, a template snapshot to the saver when they changed. */
void coll_pipeline_tick(struct coll_pipeline *p, uint64_t now_ms);
void coll_pipeline_counters(const struct coll_pipeline *p, struct coll_counters *out);
const struct dec_stats *coll_pipeline_dec_stats(const struct coll_pipeline *p);
/* Charge every decoded message to its exporter in t (NULL: stop); t outlives p's use of it. */
struct coll_extab;
void coll_pipeline_set_extab(struct coll_pipeline *p, struct coll_extab *t);
/*
 * Forget the decoder's state of every exporter at addr (16-byte form) and port (-1: any
 * port), and their rows in the exporter table. The forgotten exporters are put in *out
 * (malloc'ed, owned by the caller, *n of them). 0 or -ENOMEM.
 */
int coll_pipeline_forget_addr(struct coll_pipeline *p, const uint8_t addr[16], int port,
                              struct dec_src **out, size_t *n);
/* dec_exporter_each on the pipeline's decoder (templates held, per-exporter decoder stats). */
int coll_pipeline_exporter_each(const struct coll_pipeline *p, dec_exporter_fn *fn, void *arg);
/* Flush, save templates, free. NULL ok. The store stays open (the caller closes it). */
void coll_pipeline_close(struct coll_pipeline *p, uint64_t now_ms);

/* ---- listen.c ---- */

struct coll_listener;
struct coll_allow;

/* Per listener: what the allow-list turned away, and what the kernel dropped. */
struct coll_listen_stats {
    uint64_t denied_datagrams;   /* UDP datagrams from addresses not on the allow-list */
    uint64_t denied_octets;      /* their bytes */
    uint64_t denied_connections; /* TCP connections from such addresses, closed at accept */
    uint64_t socket_drops;       /* UDP: datagrams the kernel dropped on this socket (sk_drops,
                                    the counter SO_RXQ_OVFL reports), read with SO_MEMINFO */
    uint64_t overload_pauses;    /* UDP: reading stopped because the store had no free batch */
    /* TCP (IPFIX over TCP) sessions. */
    uint64_t tcp_sessions;       /* gauge: open now */
    uint64_t tcp_accepted;       /* sessions served */
    uint64_t tcp_refused;        /* closed at accept: max_tcp_sessions open already */
    uint64_t tcp_idle_closed;    /* closed: nothing received for tcp_idle_timeout */
    uint64_t tcp_bad_streams;    /* ended on a stream that is not IPFIX, a header length under
                                    16, or a message cut at EOF */
    uint64_t fd_refused;         /* closed at accept: too few descriptors left for the store */
};
/* Bind a UDP listener on the loop feeding p; rcvbuf is the receive buffer to ask for. */
int coll_listen_udp(uv_loop_t *loop, const struct sockaddr *addr, int rcvbuf,
                    struct coll_pipeline *p, struct coll_listener **out, char *msg, size_t msglen);
/* What all TCP listeners share: the session budget and its count (ingest loop). */
struct coll_tcp_sessions {
    struct coll_tcp_cfg cfg;
    uint32_t open; /* sessions open over all TCP listeners */
};
/* Bind an IPFIX-over-TCP listener (RFC 7011 §10.4): many exporters at once, messages framed
 * from the stream however it is cut. `shared` (caller-owned, outlives the listener) holds the
 * session budget all TCP listeners draw from. */
int coll_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, struct coll_pipeline *p,
                    struct coll_tcp_sessions *shared, struct coll_listener **out, char *msg,
                    size_t msglen);
/*
 * File descriptors kept free for the store (partitions are opened on demand, two files
 * each): an accepted socket whose descriptor is this close to RLIMIT_NOFILE is closed and
 * counted (descriptors are allocated lowest first, so fd N means N are in use).
 */
#define COLL_FD_RESERVE 64
bool coll_fd_scarce(int fd);
/* The allow-list checked before decoding; NULL or empty allows everyone. The listener
 * keeps the pointer: the caller keeps the list alive (and swaps it with this call). */
void coll_listen_set_allow(struct coll_listener *l, const struct coll_allow *allow);
/* Ask for a new receive buffer on a UDP listener (a no-op for TCP); 0 or a negative uv error.
 * *got is what the kernel gave. */
int coll_listen_set_rcvbuf(struct coll_listener *l, int rcvbuf, int *got);
/* Fill *out (the socket drop count is read from the kernel now). */
void coll_listen_stats(const struct coll_listener *l, struct coll_listen_stats *out);
/* *sum += add, counter by counter. */
void coll_listen_stats_add(struct coll_listen_stats *sum, const struct coll_listen_stats *add);
/* "ADDR:PORT" actually bound (port 0 resolved), for the startup line. */
void coll_listen_name(const struct coll_listener *l, char *buf, size_t len);
/* "udp" or "tcp". */
const char *coll_listen_proto(const struct coll_listener *l);
/* Close the socket (and a TCP listener's sessions); the memory goes in close callbacks. */
void coll_listen_close(struct coll_listener *l);

/* ---- config.c (library coll, unit-tested) ---- */

#define COLL_SPEC_MAX 128

/* The query server's settings ([query] in the config file; docs/protocol.md). */
struct coll_qserver_cfg {
    char tcp[COLL_SPEC_MAX];         /* "ADDR:PORT" or "[V6]:PORT"; "" = none. 127.0.0.1:7739 */
    char unix_path[4096];            /* a unix socket to serve too; "" = none */
    char token[COLL_SPEC_MAX];       /* "" = none; a non-loopback address requires one */
    char admin_token[COLL_SPEC_MAX]; /* needed for FLOWLOG changes when set */
    uint32_t max_clients;            /* TCP clients at once. 64 */
    uint32_t unix_max_clients;       /* unix socket clients at once, a budget of its own. 16 */
    uint32_t idle_timeout_s;         /* no request and no output for this long: closed. 300 */
    uint32_t auth_timeout_s;         /* with a token: not authenticated by then: closed. 10 */
    uint32_t line_timeout_s;         /* a partial line, no complete one for this long. 30 */
    uint32_t time_limit_ms;          /* per query; 0 = none. 60 s */
    uint64_t memory_limit;           /* bytes per query for sorting and grouping. 256 MiB */
    uint32_t row_limit;              /* rows per answer; 0 = none */
    uint32_t slow_ms;                /* log requests that take this long; 0 = off. 2 s */
    struct coll_chq_cfg chq;         /* [clickhouse] and query.backend (config_chquery.c) */
};

#define COLL_TOKEN_MIN  16 /* characters in query.token and query.admin_token */
#define COLL_LISTEN_MAX 16
#define COLL_ALLOW_MAX  256
#define COLL_PATH_MAX   4096

/* Log levels are syslog's priorities, so they pass straight to syslog(3). */
enum coll_log_level {
    COLL_LOG_ERR = 3,
    COLL_LOG_WARNING = 4,
    COLL_LOG_NOTICE = 5,
    COLL_LOG_INFO = 6,
    COLL_LOG_DEBUG = 7,
};

struct coll_allow {
    size_t n; /* 0 = allow every address */
    struct flow_cidr net[COLL_ALLOW_MAX];
};

struct coll_listen_list {
    size_t n; /* 0 = the defaults: udp 2055 and 4739, tcp 4739 on 0.0.0.0 and [::] */
    char spec[COLL_LISTEN_MAX][COLL_SPEC_MAX];
};

/* Everything flowlogd reads from its config file (docs/collector.md has every key). */
struct coll_cfg {
    char data_dir[COLL_PATH_MAX]; /* "" = the default (root: /var/lib/flowlog) */
    struct coll_listen_list listen;
    uint32_t rcvbuf_bytes; /* UDP receive buffer asked for */
    struct coll_allow allow;
    uint32_t log_interval_s;      /* counter line every so often; 0 = never */
    int log_level;                /* enum coll_log_level: messages above it are not logged */
    char pid_file[COLL_PATH_MAX]; /* "" = none */
    uint32_t exporter_rows_max;   /* exporters with their own counters (coll_extab) */
    struct coll_tcp_cfg tcp;      /* IPFIX-over-TCP sessions (listen.c) */
    uint32_t tmpl_save_s;         /* template snapshots, when templates changed, this often */
    char warning[256];            /* a deprecated key seen while loading: "" = none */
    struct stor_cfg stor;         /* stor.dir is left NULL: the caller points it at data_dir */
    struct dec_cfg dec;
    /* [query]: the query server (qserver.c) */
    struct coll_qserver_cfg query;
    /* [http]: the HTTP API and console (http.c, docs/http.md) */
    struct coll_http_cfg http;
    /* [repeat]: the repeater (repeat.c) */
    struct coll_repeat_cfg repeat;
    /* [health]: what HEALTH calls not OK (health.c) */
    struct coll_health_cfg health;
};

/* The built-in defaults (what flowlogd does with no file). */
void coll_cfg_default(struct coll_cfg *cfg);
/*
 * Read an INI file over *cfg (keys it does not name keep their values; `listen` and `allow`
 * lines add to the lists the file started from, which coll_cfg_load empties first).
 * Returns 0; -EINVAL for a bad file, with "FILE:LINE: ..." naming the key in msg; -errno
 * when it cannot be read. *cfg may be partly written on failure: load into a copy.
 */
int coll_cfg_load(struct coll_cfg *cfg, const char *path, char *msg, size_t msglen);
/* Set one key by section and name, as a file line would ("collector", "allow", "10/8").
 * -EINVAL with a message (without file:line) for an unknown key or a bad value. */
/* config_query.c: [query] rollups. 1 when it took the key, 0 when not its key, -EINVAL. */
int coll_cfg_query(const char *section, const char *key, const char *value, char *msg,
                   size_t msglen);
int coll_cfg_set(struct coll_cfg *cfg, const char *section, const char *key, const char *value,
                 char *msg, size_t msglen);
/* Cross-key checks once everything is set (a token for a non-loopback query address, ...). */
int coll_cfg_check(const struct coll_cfg *cfg, char *msg, size_t msglen);
/*
 * Compare two configs for a reload. Keys that differ go, space-separated as
 * "section.key", into live (those apply at once) and restart (those need a restart).
 * Returns the number of keys that differ.
 */
int coll_cfg_diff(const struct coll_cfg *old, const struct coll_cfg *cur, char *live,
                  size_t livelen, char *restart, size_t restartlen);
/* Copy the keys that can change live from src into dst; the others stay. */
void coll_cfg_apply_live(struct coll_cfg *dst, const struct coll_cfg *src);
/* Name of a level ("info"), and back (-1 when unknown). */
const char *coll_log_level_name(int level);
int coll_log_level_parse(const char *name);

/* Parse "10.0.0.0/8, 192.0.2.7 2001:db8::/32" (commas and/or blanks) and add to *a.
 * -EINVAL with a message naming the bad item; -ENOSPC past COLL_ALLOW_MAX. */
int coll_allow_parse(struct coll_allow *a, const char *list, char *msg, size_t msglen);
/* Is addr (AF_INET or AF_INET6) allowed? An empty list allows everyone. */
bool coll_allow_match(const struct coll_allow *a, const struct sockaddr *addr);
/* The 16-byte form of a socket address (IPv4 as IPv4-mapped) and its port. */
void coll_addr16(const struct sockaddr *sa, uint8_t out[16], uint16_t *port);
/* "ADDR:PORT", or "[ADDR]:PORT" for IPv6, of a bound or peer socket address. */
void coll_sockaddr_name(const struct sockaddr *sa, char *buf, size_t len);

/*
 * Parse "udp:ADDR:PORT" or "tcp:ADDR:PORT" ("udp:[::1]:4739" for IPv6) into *addr and
 * *tcp. Returns 0, or -EINVAL with a message in msg.
 */
int coll_listen_parse(const char *spec, struct sockaddr_storage *addr, bool *tcp, char *msg,
                      size_t msglen);

/* ---- exporters.c (library coll, unit-tested) ---- */

/*
 * Per-exporter counters. An exporter is a UDP source (address and port, the decoder's
 * template scope) or a TCP source address (all its sessions, whatever their ports, so that
 * reconnects add up). The table is bounded: the first exporters_max sources are tracked and
 * the traffic of the others is counted in the totals as untracked.
 */
struct coll_exporter {
    uint8_t addr[16];           /* IPv4 as IPv4-mapped */
    uint16_t port;              /* UDP source port; 0 for TCP */
    uint8_t transport;          /* enum dec_transport */
    uint8_t version;            /* of the last message: 5, 9 or 10; 0 before one parsed */
    uint64_t first_ms, last_ms; /* first and last datagram (wall clock) */
    uint64_t datagrams;         /* UDP datagrams, or IPFIX messages framed from TCP */
    uint64_t octets;
    uint64_t records;          /* flow records decoded */
    uint64_t errors;           /* sum of err[] */
    uint64_t err[DEC_R_COUNT]; /* by enum dec_reason, as the decoder counted them */
    uint64_t no_template;      /* data sets that came before their template (parked; those never
                                  decoded are also in err[DEC_R_NO_TEMPLATE]) */
    uint64_t seq_gaps;         /* messages whose sequence number showed a loss before them */
    uint64_t seq_missed;       /* records (v9: packets) the sequence numbers show lost */
    uint32_t templates;        /* held by the decoder now (filled in by coll_stats_each_exporter) */
};

struct coll_extab_totals {
    uint64_t tracked;             /* exporters in the table */
    uint64_t untracked_datagrams; /* from sources that found the table full */
    uint64_t untracked_octets;
    uint64_t untracked_records;
};

struct coll_extab;

/* cap: how many exporters to track (1 ... 1048576). *out owned by the caller. */
int coll_extab_create(struct coll_extab **out, uint32_t cap);
void coll_extab_destroy(struct coll_extab *t); /* NULL ok */
/*
 * Account one message from src: len bytes, what the decoder said about it (msg; its
 * version 0 when the header did not parse), and the decoder's context-wide stats after the
 * decode (ds), whose error and parking counters moved since the last call are charged to
 * this exporter. Call it after every dec_decode on the same context, in order.
 */
void coll_extab_note(struct coll_extab *t, const struct dec_src *src, const struct dec_msg *msg,
                     size_t len, uint64_t now_ms, const struct dec_stats *ds);
/* Take the decoder's counters as seen without charging anyone (after dec_expire, whose
 * drops are nobody's message). */
void coll_extab_resync(struct coll_extab *t, const struct dec_stats *ds);
/* Set the templates an exporter holds (0 for all first with coll_extab_templates_clear). */
void coll_extab_templates_clear(struct coll_extab *t);
void coll_extab_templates_add(struct coll_extab *t, const struct dec_src *src, uint32_t n);
/* One exporter's counters, or NULL; valid until the next call on t. */
const struct coll_exporter *coll_extab_find(const struct coll_extab *t, const struct dec_src *src);
typedef int coll_exporter_fn(void *arg, const struct coll_exporter *e);
/* Call fn for each tracked exporter (in first-seen order); stops at fn's first non-zero
 * result and returns it. e is valid during the call only. */
int coll_extab_each(const struct coll_extab *t, coll_exporter_fn *fn, void *arg);
/* Told about a new exporter (a row was added) and about each message from one the full table
 * cannot track (e then has only its address, port and transport). The caller's thread. */
enum coll_extab_notice { COLL_EXTAB_NEW, COLL_EXTAB_UNTRACKED };
typedef void coll_extab_notice_fn(void *arg, enum coll_extab_notice what,
                                  const struct coll_exporter *e);
void coll_extab_set_notice(struct coll_extab *t, coll_extab_notice_fn *fn, void *arg);
void coll_extab_totals(const struct coll_extab *t, struct coll_extab_totals *out);
/* Drop the rows of addr (16-byte form) with this port (-1: any; TCP rows have port 0), so
 * the table has room again. Returns how many went. */
size_t coll_extab_forget(struct coll_extab *t, const uint8_t addr[16], int port);

/* ---- stats.c: what STATS / EXPORTERS and the counter log line read ---- */

/* Collector-wide totals. */
struct coll_totals {
    uint64_t datagrams; /* decoded: accepted by the allow-list */
    uint64_t octets;
    uint64_t records;          /* decoded */
    uint64_t records_dropped;  /* no free storage batch */
    uint64_t denied_datagrams; /* all listeners */
    uint64_t denied_octets;
    uint64_t denied_connections;
    uint64_t socket_drops;     /* all UDP listeners */
    struct coll_listen_stats listen; /* all listeners, TCP sessions included */
    uint64_t decode_errors;    /* sum of err[] */
    uint64_t err[DEC_R_COUNT]; /* context-wide, by enum dec_reason */
    uint64_t seq_missed;
    uint64_t templates; /* template records accepted */
    uint64_t tmpl_save_errors; /* template snapshots that could not be made */
    /* The decoder's exporter state (docs/decoder.md): bound reached, memory held. */
    uint64_t dec_exporters_expired;
    uint64_t dec_exporters_evicted;
    uint64_t dec_exporters_forgotten;
    uint64_t dec_snapshot_truncated;
    uint64_t dec_memory_bytes;
    struct coll_extab_totals exporters;
    struct coll_repeat_totals repeat; /* per [repeat] destination */
};

/* What the stats functions read; the daemon fills one and keeps it current. */
struct coll_stats_src {
    struct coll_pipeline *pipe;
    struct coll_extab *extab;
    struct coll_listener *const *listeners;
    size_t nlisteners;
    struct coll_listen_stats closed; /* what listeners counted before they were closed */
};

/* Fill *out now. */
void coll_stats_totals(const struct coll_stats_src *s, struct coll_totals *out);
/* Refresh the templates each exporter holds from the decoder, then call fn for each
 * tracked exporter (coll_extab_each's contract). Receive-path thread only. */
int coll_stats_each_exporter(const struct coll_stats_src *s, coll_exporter_fn *fn, void *arg);
/* The counter log line: totals (and the store's, st may be NULL), then per exporter (at most
 * max_exporters <= 64, busiest first, "+N more" after), into buf (always terminated).
 * Pure formatting: no I/O (it lives in exporters.c with the table, unit-tested). */
void coll_stats_line(const struct coll_totals *t, const struct stor_stats *st,
                     const struct coll_exporter *const *ex, size_t n, size_t max_exporters,
                     uint64_t now_ms, char *buf, size_t len);
/* The counter line's inputs, gathered on the ingest loop and logged from anywhere. */
#define COLL_LOG_EXPORTERS 16 /* exporters shown in the counter line */
struct coll_counter_snap {
    const struct coll_stats_src *src; /* what to gather from (ingest loop) */
    struct coll_totals totals;
    struct coll_exporter top[COLL_LOG_EXPORTERS]; /* the busiest, by datagrams */
    size_t n;
};
/* Fill out's totals and top exporters from s (the ingest loop's thread). */
void coll_stats_snap(const struct coll_stats_src *s, struct coll_counter_snap *out);
/* Log the counter line (info). st may be NULL. */
void coll_stats_log(const struct coll_counter_snap *snap, const struct stor_stats *st);
/* "127.0.0.1:2055/udp", "[2001:db8::1]/tcp" (IPv4-mapped shown as IPv4). */
void coll_exporter_name(const struct coll_exporter *e, char *buf, size_t len);

/* ---- log.c ---- */

/* Where log lines go: stderr (foreground) and/or syslog (daemon, facility daemon). */
void coll_log_open(bool to_stderr, bool to_syslog);
void coll_log_set_level(int level);
void coll_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message that can repeat at network speed: at most one line per COLL_LOG_RL_MS per
 * coll_lograte (each used by one thread), the next line saying how many were held back. */
#define COLL_LOG_RL_MS 10000u
struct coll_lograte {
    bool logged;
    uint64_t last_ms;
    uint64_t held;
};
void coll_log_rl(struct coll_lograte *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- xcall.c: calls into the ingest loop from the query plane ---- */

struct coll_xcall;
typedef int coll_xcall_fn(void *arg);
/* On the ingest loop's thread, before the query plane starts. */
int coll_xcall_open(uv_loop_t *ingest, struct coll_xcall **out);
/* From any thread but the ingest loop's: run fn(arg) on the ingest loop and return its result;
 * -ETIMEDOUT when the loop did not take it within timeout_ms, -ECANCELED after shut. */
int coll_xcall_run(struct coll_xcall *x, coll_xcall_fn *fn, void *arg, uint32_t timeout_ms);
/* Fail queued and later calls (-ECANCELED); any thread. NULL ok. */
void coll_xcall_shut(struct coll_xcall *x);
/* Shut, then free in the handle's close callback (ingest thread, after the query plane
 * stopped). NULL ok. */
void coll_xcall_close(struct coll_xcall *x);

/* ---- qserver.c, qclient.c, qinfo.c: the query server (docs/protocol.md) ---- */

/* The query server's counters, for STATS (written and read on the query plane's thread). */
struct coll_qserver_stats {
    uint64_t clients;         /* gauge: TCP and unix clients connected */
    uint64_t accepted;        /* connections served */
    uint64_t refused;         /* ERR BUSY: a budget (max_clients, unix_max_clients) was full */
    uint64_t fd_refused;      /* closed at accept: too few file descriptors left for the store */
    uint64_t requests;        /* requests run on the threadpool (heavy) */
    uint64_t stalled;         /* closed: their socket took no output for STALL_MS */
    uint64_t idle_closed;     /* closed: idle_timeout */
    uint64_t auth_timeouts;   /* closed: auth_timeout without authenticating */
    uint64_t line_timeouts;   /* closed: a partial line and no complete one for line_timeout */
    uint64_t auth_failures;   /* AUTH with a wrong token */
    uint64_t yields;          /* a client's pipelined requests cut short to let others run */
    uint64_t ingest_timeouts; /* STATS/EXPORTERS/FORGET the ingest loop did not answer in time */
};

/* What the query server reads from the ingest side: every pointer in here is owned by the
 * ingest loop and dereferenced only in functions run there through `ingest`. */
struct coll_qplane;
struct coll_qserver_ingest {
    struct coll_xcall *ingest;
    struct coll_qplane *plane; /* its template-save counters (atomic); NULL: none */
    const struct coll_stats_src *stats; /* may be NULL: STATS and EXPORTERS say less */
    struct coll_health_cfg health;      /* HEALTH's thresholds (a copy) */
    const char *dir;                    /* the store's directory (statvfs); NULL: not checked */
};

struct coll_qserver;
/*
 * Serve the query protocol on cfg's TCP address and/or unix socket, on `loop` (the query
 * plane's): sessions of query/, store work on libuv's threadpool, light verbs on the loop.
 * A non-loopback address without a token is refused (-EPERM). msg says why on failure.
 */
int coll_qserver_start(uv_loop_t *loop, struct stor_env *stor, const struct coll_qserver_cfg *cfg,
                       const struct coll_qserver_ingest *in, struct coll_qserver **out, char *msg,
                       size_t msglen);
/* "ADDR:PORT" of the TCP listener (port 0 resolved), for the startup line; "" for none. */
void coll_qserver_name(const struct coll_qserver *qs, char *buf, size_t len);
void coll_qserver_stats(const struct coll_qserver *qs, struct coll_qserver_stats *out);
/* A reload: the client budgets, timeouts and per-query limits from q (its addresses and
 * tokens are not read). Sessions opened from now on get the new limits; the query plane's
 * thread. */
void coll_qserver_set_limits(struct coll_qserver *qs, const struct coll_qserver_cfg *q);
/* Stop listening, cancel running queries, close clients; memory goes in close callbacks. */
void coll_qserver_stop(struct coll_qserver *qs);

/* ---- qplane.c: the query plane's thread ---- */

struct coll_qplane_cfg {
    struct stor_env *stor;
    struct coll_qserver_cfg query; /* tcp and unix_path both "": no query server */
    struct coll_qserver_ingest in;
    uint32_t log_interval_s; /* the counter line; 0 = never */
};

struct coll_qplane;
/*
 * Start the query plane: its own libuv loop on its own thread, serving queries (when
 * configured), and a control thread logging the counter line, watching commits (a warning
 * when they start failing and when they recover) and writing the decoder's template
 * snapshots to the store. The query server is bound before this returns (errors in msg).
 */
int coll_qplane_start(const struct coll_qplane_cfg *cfg, struct coll_qplane **out, char *msg,
                      size_t msglen);
void coll_qplane_name(const struct coll_qplane *qp, char *buf, size_t len);
/* Any thread. */
void coll_qplane_set_log_interval(struct coll_qplane *qp, uint32_t log_interval_s);
/* A reload of [query]'s limits (coll_qserver_set_limits), applied on the query plane's thread
 * soon after. Any thread. */
void coll_qplane_set_query(struct coll_qplane *qp, const struct coll_qserver_cfg *q);
/* Write this snapshot of the decoder's templates to the store (ownership of buf, malloc'ed,
 * passes to the query plane; a newer one replaces one not yet written). Any thread. */
void coll_qplane_save_templates(struct coll_qplane *qp, void *buf, size_t len);
/* Snapshots written and failed (any thread). */
void coll_qplane_tmpl_counts(struct coll_qplane *qp, uint64_t *saved, uint64_t *failed);
/* Stop serving, wait for the thread. NULL ok. */
void coll_qplane_stop(struct coll_qplane *qp);
/*
 * The query steps on libuv's threadpool (which only the query server uses) run at a lower
 * CPU priority than ingest (nice COLL_QUERY_NICE): on a busy machine the receive path gets
 * the CPU first, queries take longer. Call on the thread itself; once per thread.
 */
#define COLL_QUERY_NICE 10
void coll_thread_background(void);

#endif
