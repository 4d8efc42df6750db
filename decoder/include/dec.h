/* SPDX-License-Identifier: MIT */
/*
 * The decoder: NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages in,
 * struct flow_rec out.
 *
 * It is pure: no sockets, no clock (the caller passes now_ms), no files, no logging, no
 * globals. All state lives in a caller-owned struct dec_ctx: exporters, their templates
 * (scoped by exporter address and port, observation domain and template id), options data
 * (sampling, systemInitTime, interface names, flowprobe's identity), sequence accounting and
 * counters. Malformed input is an ordinary result: it is counted per reason and skipped.
 *
 * Thread safety: a context is used by one thread at a time.
 */
#ifndef FLOWLOG_DEC_H
#define FLOWLOG_DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

struct dec_ctx; /* opaque */

/* Error codes: the decoder's band is -1000 ... -1099. System errors pass as -errno. */
enum dec_err {
    DEC_E_TRUNCATED = -1000,  /* a length field points past the end of the message */
    DEC_E_NOTEMPLATE = -1001, /* data set arrived before its template; queued or counted */
    DEC_E_LIMIT = -1002,      /* a cap (domains, templates, memory) reached; the item was refused */
    DEC_E_VERSION = -1003,    /* not NetFlow v1, v5, v7, v9 or IPFIX */
    DEC_E_MALFORMED = -1004,  /* a header, set or template breaks its RFC */
    DEC_E_FULL = -1005,       /* output buffer full and no flush callback: records counted lost */
    DEC_E_FORMAT = -1006,     /* a template snapshot (dec_tmpl_load) is not ours or damaged */
    DEC_E_SNAPSHOT = -1007,   /* dec_tmpl_save reached dec_cfg.snapshot_max: what fit is saved */
};

/* Why input was rejected or lost; indexes dec_stats.err[]. */
enum dec_reason {
    DEC_R_SHORT = 0,      /* message shorter than its header */
    DEC_R_VERSION,        /* unknown version number */
    DEC_R_LENGTH,         /* header length disagrees with the datagram */
    DEC_R_SET,            /* set/flowset header malformed (length < 4, past the end) */
    DEC_R_TEMPLATE,       /* template record malformed (zero length, overruns its set) */
    DEC_R_NO_TEMPLATE,    /* data set for an unknown template, dropped from the queue */
    DEC_R_TMPL_LIMIT,     /* template refused: exporter holds its cap */
    DEC_R_EXPORTER_LIMIT, /* message refused: its exporter holds 1024 domains, the cap */
    DEC_R_RECORD,         /* record malformed (variable length past its set) */
    DEC_R_OUT_FULL,       /* record lost: output full and no flush callback */
    DEC_R_V5_COUNT,       /* v1/v5/v7 header count disagrees with the datagram size */
    DEC_R_SET_ID,         /* reserved set id (4..255 in IPFIX, 2..255 in v9) */
    DEC_R_MEMORY_LIMIT,   /* state refused: the context holds dec_cfg.memory_max bytes */
    DEC_R_COUNT
};

struct dec_stats {
    uint64_t messages;            /* messages accepted (header parsed) */
    uint64_t octets;              /* bytes of those messages */
    uint64_t records;             /* flow records emitted */
    uint64_t options_records;     /* options data records applied */
    uint64_t templates;           /* template records accepted (new or refreshed) */
    uint64_t withdrawals;         /* templates withdrawn */
    uint64_t tmpl_changed;        /* templates redefined: a known id with another layout */
    uint64_t tmpl_expired;        /* templates dropped by lifetime */
    uint64_t pending_queued;      /* data sets parked waiting for a template */
    uint64_t pending_decoded;     /* parked sets decoded once their template came */
    uint64_t seq_missed;          /* records (v9: packets) the sequence numbers show lost */
    uint64_t seq_ooo;             /* messages that arrived out of order */
    uint64_t seq_reset;           /* sequence restarts (sequence or sysUpTime went back) */
    uint64_t raw_trunc;           /* unknown IEs that did not fit in flow_rec.raw */
    uint64_t exporters_expired;   /* exporters forgotten after being idle (dec_expire) */
    uint64_t exporters_evicted;   /* least recently used exporters forgotten to make room */
    uint64_t exporters_forgotten; /* by dec_exporter_forget / dec_exporter_forget_addr */
    uint64_t snapshot_truncated;  /* dec_tmpl_save calls that stopped at snapshot_max */
    uint64_t memory_bytes;        /* gauge: bytes of decoder state held now */
    uint64_t err[DEC_R_COUNT];
};

enum dec_transport {
    DEC_TR_UDP = 0, /* templates expire after dec_cfg.tmpl_lifetime_ms */
    DEC_TR_TCP = 1, /* templates live as long as the session */
    DEC_TR_FILE = 2 /* replay from a file: like UDP, but never expired */
};

/* Who sent a message. The (addr, port) pair is the exporter's identity. */
struct dec_src {
    uint8_t addr[16]; /* IPv4 as IPv4-mapped, like flow_rec */
    uint16_t port;
    uint8_t transport; /* enum dec_transport */
};

/* Allocator hook so tests can fail the Nth allocation; NULL members mean libc. */
struct dec_alloc {
    void *(*alloc)(void *arg, size_t n); /* zeroed memory */
    void (*release)(void *arg, void *p);
    void *arg;
};

/* Bounds on the decoder's state (docs/decoder.md, "Bounds"). */
#define DEC_MEMORY_DEFAULT   (256ull << 20) /* dec_cfg.memory_max when 0 */
#define DEC_MEMORY_MIN       (64ull << 10)  /* smaller budgets are raised to this */
#define DEC_SNAPSHOT_DEFAULT (32u << 20)    /* dec_cfg.snapshot_max when 0 */

struct dec_cfg {
    uint32_t tmpl_lifetime_ms; /* UDP template lifetime since last refresh; 0 = forever. A UDP
                                  exporter idle for max(this, pending_age_ms) is forgotten
                                  by dec_expire (never when this is 0) */
    uint32_t tmpl_max;         /* templates per exporter (all domains) */
    uint32_t exporters_max;    /* exporters per context; when full, the least recently used
                                  one is forgotten for a newcomer (exporters_evicted) */
    uint32_t pending_sets;     /* data sets parked per exporter awaiting a template */
    uint32_t pending_bytes;    /* bytes parked per exporter */
    uint32_t pending_age_ms;   /* parked sets older than this are dropped and counted */
    uint32_t identity_pen;     /* enterprise number of flowprobe's identity IEs */
    uint64_t memory_max;       /* bytes of all decoder state (exporters, domains, templates,
                                  interface names, parked sets); 0 = DEC_MEMORY_DEFAULT. Past
                                  3/4 of it the least recently used exporters are forgotten;
                                  what still does not fit is refused (DEC_R_MEMORY_LIMIT) */
    uint32_t snapshot_max;     /* bytes dec_tmpl_save writes at most; 0 = DEC_SNAPSHOT_DEFAULT */
    uint64_t hash_seed;        /* seeds the exporter table's hash (the caller draws a random
                                  one, so that sources cannot be chosen to collide) */
    struct dec_alloc alloc;
};

/* flowprobe's identity and RTT elements under dec_cfg.identity_pen (docs/decoder.md). */
#define DEC_PEN_DEFAULT 32473u /* RFC 5612's documentation number until we register one */
enum dec_pen_ie {
    DEC_IE_INSTANCE_ID = 1, /* string: gateway instance id */
    DEC_IE_SNID = 2,        /* string: gateway serial number */
    DEC_IE_ACCOUNT_ID = 3,  /* string: account id */
    DEC_IE_RTT_US = 4,      /* unsigned32: TCP handshake round trip, microseconds */
};

/*
 * Where decoded records go. The caller owns recs[cap]; the decoder appends at n. When n
 * reaches cap it calls flush(arg, recs, n) (which consumes them; a non-zero return stops the
 * decode with that code) and starts again at 0, in recs[0..cap) as they are after the call:
 * the callback may point recs and cap at a fresh buffer (the collector hands a full batch to
 * storage and decodes on into the next one). With flush NULL, records past cap are counted
 * in err[DEC_R_OUT_FULL] and dec_decode returns DEC_E_FULL. Records left at the end are in
 * recs[0..n).
 */
typedef int dec_flush_fn(void *arg, struct flow_rec *recs, size_t n);
struct dec_sink {
    struct flow_rec *recs;
    size_t cap;
    size_t n;
    dec_flush_fn *flush;
    void *arg;
};

/* What one message said, for window sealing and SKIPDATA. */
struct dec_msg {
    uint8_t version;
    uint32_t domain;
    uint32_t seq;
    uint64_t export_ms; /* export time from the header (v5/v9 with sysUpTime precision) */
    uint32_t records;   /* flow records emitted (including parked sets it released) */
    uint32_t missed;    /* records (v9: packets) lost just before this message */
    bool ooo;           /* arrived out of order */
    bool reset;         /* the sequence restarted here */
};

/* Fill *cfg with the defaults (30 min lifetime, 512 templates, 4096 exporters, 256 MiB, ...). */
void dec_cfg_default(struct dec_cfg *cfg);

/* Create a context; cfg NULL means defaults. *out owned by the caller: dec_ctx_destroy(). */
int dec_ctx_create(struct dec_ctx **out, const struct dec_cfg *cfg);
void dec_ctx_destroy(struct dec_ctx *ctx);

/*
 * Decode one message (a UDP datagram, or one IPFIX message framed from a TCP stream).
 * Records go to *out; *msg (may be NULL) says what the header said.
 * Returns 0, or a negative dec_err for a message that was rejected whole or partly; the
 * records already emitted stay valid and the reason is counted in the stats either way.
 */
int dec_decode(struct dec_ctx *ctx, const struct dec_src *src, const uint8_t *buf, size_t len,
               uint64_t now_ms, struct dec_sink *out, struct dec_msg *msg);

/*
 * For stream framing: given the first bytes of a message, the length of the whole message,
 * or 0 when fewer than 4 bytes are there yet, or DEC_E_VERSION / DEC_E_MALFORMED when the
 * stream is not IPFIX (or its length is below the 16-byte header).
 */
long dec_msg_len(const uint8_t *buf, size_t len);

/*
 * Drop templates past their lifetime and parked sets past their age, and forget UDP exporters
 * idle for longer than max(tmpl_lifetime_ms, pending_age_ms) (all counted).
 */
void dec_expire(struct dec_ctx *ctx, uint64_t now_ms);

/* Forget an exporter and all it taught us (an IPFIX TCP session closed: RFC 7011 §8). */
void dec_exporter_forget(struct dec_ctx *ctx, const struct dec_src *src);

/*
 * Forget every exporter at addr (IPv4-mapped for IPv4) with source port `port`, or with any
 * port when port is -1: their templates, domains, interface names and parked sets. Returns
 * how many exporters were forgotten (0 when none matched).
 */
int dec_exporter_forget_addr(struct dec_ctx *ctx, const uint8_t addr[16], int port);

/* Context-wide counters; valid until dec_ctx_destroy(). */
const struct dec_stats *dec_ctx_stats(const struct dec_ctx *ctx);
const char *dec_reason_name(enum dec_reason r);
const char *dec_strerror(int err);

/* One exporter, as dec_exporter_each() shows it. Pointers valid during the callback only. */
struct dec_exporter_info {
    struct dec_src src;
    uint8_t version; /* of its last message */
    uint64_t first_ms;
    uint64_t last_ms;   /* now_ms of its last message */
    uint64_t idle_ms;   /* since its last message, by the latest now_ms the context was given */
    uint64_t expire_ms; /* idle time after which dec_expire forgets it; 0 = never (TCP, file,
                           or templates that live forever) */
    uint32_t templates; /* held now */
    uint32_t domains;
    uint32_t sampling; /* last known sampling interval (any domain), 0 = none */
    uint32_t pending_sets;
    struct dec_stats stats;
};
typedef int dec_exporter_fn(void *arg, const struct dec_exporter_info *info);
/* Call fn for each exporter; stops at and returns fn's first non-zero result. */
int dec_exporter_each(const struct dec_ctx *ctx, dec_exporter_fn *fn, void *arg);

/* Interface name learned from options data (IE 82), or NULL. Valid until the next decode. */
const char *dec_ifname(const struct dec_ctx *ctx, const struct dec_src *src, uint32_t domain,
                       uint32_t ifindex);

/*
 * Template persistence. dec_tmpl_save writes the live templates of every exporter that has
 * some, most recently heard first, with the per-domain options state (systemInitTime,
 * sampling, identity) of those exporters, through write(arg, p, n) in a versioned format
 * (docs/decoder.md); dec_tmpl_load reads it back into a context (adding to what it holds).
 * Exporters without live templates are not saved. dec_tmpl_save returns write's first
 * non-zero code, or DEC_E_SNAPSHOT when the next entry would pass dec_cfg.snapshot_max: what
 * was written until then is a valid snapshot of the most recent exporters (counted in
 * snapshot_truncated); the caller should log it.
 */
typedef int dec_write_fn(void *arg, const void *p, size_t n);
int dec_tmpl_save(struct dec_ctx *ctx, dec_write_fn *write, void *arg);
int dec_tmpl_load(struct dec_ctx *ctx, const uint8_t *buf, size_t len, uint64_t now_ms);

#endif
