/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's parts, private to collector/: the ingest pipeline (datagrams -> decoder ->
 * storage batches), the listeners (libuv UDP and TCP sockets feeding it, behind the exporter
 * allow-list), the config (config.c), the per-exporter counter table (exporters.c), the
 * counters as data for the query server (stats.c) and the log (log.c). main.c wires them.
 * config.c and exporters.c form the library `coll` (no sockets, no clock, no I/O besides
 * reading the config file), unit-tested in tests/unit/coll. docs/collector.md is the
 * operator's page.
 */
#ifndef FLOWLOG_COLL_H
#define FLOWLOG_COLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_cidr.h"
#include <sys/socket.h>

#include <uv.h>

#include "dec.h"
#include "http_cfg.h"
#include "stor.h"

/* ---- pipeline.c ---- */

struct coll_counters {
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
/* Periodic work: template expiry, template snapshot to the store. */
void coll_pipeline_tick(struct coll_pipeline *p, uint64_t now_ms);
void coll_pipeline_counters(const struct coll_pipeline *p, struct coll_counters *out);
const struct dec_stats *coll_pipeline_dec_stats(const struct coll_pipeline *p);
/* Charge every decoded message to its exporter in t (NULL: stop); t outlives p's use of it. */
struct coll_extab;
void coll_pipeline_set_extab(struct coll_pipeline *p, struct coll_extab *t);
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
};
/* Bind a UDP listener on the loop feeding p; rcvbuf is the receive buffer to ask for. */
int coll_listen_udp(uv_loop_t *loop, const struct sockaddr *addr, int rcvbuf,
                    struct coll_pipeline *p, struct coll_listener **out, char *msg, size_t msglen);
/* Bind an IPFIX-over-TCP listener (RFC 7011 §10.4): many exporters at once, messages framed
 * from the stream however it is cut. */
int coll_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, struct coll_pipeline *p,
                    struct coll_listener **out, char *msg, size_t msglen);
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
    uint32_t max_clients;            /* 64 */
    uint32_t time_limit_ms;          /* per query; 0 = none. 60 s */
    uint64_t memory_limit;           /* bytes per query for sorting and grouping. 256 MiB */
    uint32_t row_limit;              /* rows per answer; 0 = none */
};

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
    uint32_t exporters_max;       /* exporters with their own counters (coll_extab) */
    struct stor_cfg stor;         /* stor.dir is left NULL: the caller points it at data_dir */
    struct dec_cfg dec;
    /* [query]: the query server (qserver.c) */
    struct coll_qserver_cfg query;
    /* [http]: the HTTP API and console (http.c, docs/http.md) */
    struct coll_http_cfg http;
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
int coll_cfg_set(struct coll_cfg *cfg, const char *section, const char *key, const char *value,
                 char *msg, size_t msglen);
/* Cross-key checks once everything is set (store.map_max >= store.map_size, ...). */
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
void coll_extab_totals(const struct coll_extab *t, struct coll_extab_totals *out);

/* ---- stats.c: what STATS / EXPORTERS (issue 5) and the counter log line read ---- */

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
    uint64_t decode_errors;    /* sum of err[] */
    uint64_t err[DEC_R_COUNT]; /* context-wide, by enum dec_reason */
    uint64_t seq_missed;
    uint64_t templates; /* template records accepted */
    struct coll_extab_totals exporters;
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
/* "127.0.0.1:2055/udp", "[2001:db8::1]/tcp" (IPv4-mapped shown as IPv4). */
void coll_exporter_name(const struct coll_exporter *e, char *buf, size_t len);

/* ---- log.c ---- */

/* Where log lines go: stderr (foreground) and/or syslog (daemon, facility daemon). */
void coll_log_open(bool to_stderr, bool to_syslog);
void coll_log_set_level(int level);
void coll_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- qserver.c: the query server (issue 5; docs/protocol.md) ---- */

struct coll_qserver;
/*
 * Serve the query protocol on cfg's TCP address and/or unix socket: sessions of query/, store
 * work on libuv's threadpool, STATS and EXPORTERS from stats (may be NULL) on the loop thread.
 * A non-loopback address without a token is refused (-EPERM). msg says why on failure.
 */
int coll_qserver_start(uv_loop_t *loop, struct stor_env *stor, const struct coll_qserver_cfg *cfg,
                       const struct coll_stats_src *stats, struct coll_qserver **out, char *msg,
                       size_t msglen);
/* "ADDR:PORT" of the TCP listener (port 0 resolved), for the startup line. */
void coll_qserver_name(const struct coll_qserver *qs, char *buf, size_t len);
/* Stop listening, cancel running queries, close clients; memory goes in close callbacks. */
void coll_qserver_stop(struct coll_qserver *qs);

/* Wall-clock milliseconds, the `now` given to the decoder and the store. */
uint64_t coll_now_ms(void);

#endif
