/* SPDX-License-Identifier: MIT */
/*
 * Decoder internals shared by its source files: exporters, observation domains, compiled
 * templates, parked data sets and the per-message state. Private to decoder/ and its tests.
 */
#ifndef FLOWLOG_DEC_INT_H
#define FLOWLOG_DEC_INT_H

#include "dec.h"
#include "rd.h"

#define DEC_VARLEN         0xffffu     /* field length meaning "variable" (RFC 7011 §7) */
#define DEC_PEN_V9_SCOPE   0xffffffffu /* marks a v9 options scope field (RFC 3954 §6.1) */
#define DEC_PEN_REVERSE    29305u      /* RFC 5103 §6.1: reverse IEs of biflow records */
#define DEC_MAX_FIELDS     512         /* fields per template we accept */
#define DEC_SAMPLERS_MAX   16          /* sampler ids remembered per domain */
#define DEC_IFNAMES_MAX    256         /* interface names remembered per domain */
#define DEC_IFNAME_LEN     32
#define DEC_DOMAINS_MAX    1024  /* observation domains per exporter */
#define DEC_WITHDRAWN_MAX  32    /* recently withdrawn template ids kept per domain */
#define DEC_SEQ_MAX_BACK   10000 /* a smaller step back is reordering, else a restart */
#define DEC_MEM_HDR        16u   /* bytes before each allocation: its size, for the budget */
#define DEC_TMPL_INDEX_MIN 1024u /* a domain this big gets a direct id -> template index */

/* What a template field does to a record; decided once, when the template is compiled. */
enum dec_op {
    OP_SKIP = 0, /* paddingOctets and fields we deliberately ignore */
    OP_RAW,      /* unknown: kept in flow_rec.raw */
    OP_BYTES,
    OP_PKTS,
    OP_BYTES_TOTAL,
    OP_PKTS_TOTAL,
    OP_PROTO,
    OP_TOS,
    OP_TCPFLAGS,
    OP_SPORT,
    OP_DPORT,
    OP_SRC4,
    OP_DST4,
    OP_SRC6,
    OP_DST6,
    OP_IN,
    OP_OUT,
    OP_ICMP_TC, /* icmpTypeCodeIPv4/IPv6: type << 8 | code */
    OP_ICMP_TYPE,
    OP_ICMP_CODE,
    OP_DIRECTION,
    OP_FWD_STATUS,
    OP_FW_EVENT, /* firewallEvent (233) and NSEL NF_F_FW_EVENT (40005) */
    OP_START_UP, /* flowStartSysUpTime, ms */
    OP_END_UP,
    OP_START_S,
    OP_END_S,
    OP_START_MS,
    OP_END_MS,
    OP_START_NTP, /* dateTimeMicroseconds/Nanoseconds: NTP timestamp */
    OP_END_NTP,
    OP_START_DELTA_US, /* flowStartDeltaMicroseconds: before export time */
    OP_END_DELTA_US,
    OP_DUR_MS,
    OP_DUR_US,
    OP_INIT_MS,               /* systemInitTimeMilliseconds */
    OP_SAMPLING_INTERVAL,     /* samplingInterval (34), samplerRandomInterval (50) */
    OP_SAMPLING_PKT_INTERVAL, /* samplingPacketInterval (305) */
    OP_SAMPLING_PKT_SPACE,    /* samplingPacketSpace (306) */
    OP_SAMPLER_ID,            /* samplerId (48), selectorId (302) */
    OP_IFNAME,
    OP_SCOPE_IFINDEX, /* v9 options scope "interface" */
    OP_INSTANCE,
    OP_SNID,
    OP_ACCOUNT,
    OP_RTT,
    OP_REV_BYTES, /* RFC 5103 reverse IEs (PEN 29305): the answer's direction */
    OP_REV_PKTS,
    OP_REV_TOS,
    OP_REV_TCPFLAGS,
    OP_REV_ICMP_TC,
    OP_REV_BYTES_TOTAL, /* reverseOctetTotalCount (29305/85), as YAF sends */
    OP_REV_PKTS_TOTAL,  /* reversePacketTotalCount (29305/86) */
    OP_COUNT
};

struct dec_field {
    uint32_t pen; /* 0 = IANA; DEC_PEN_V9_SCOPE for v9 scope fields */
    uint16_t id;
    uint16_t len; /* DEC_VARLEN for variable length */
    uint16_t off; /* offset in the record; meaningful only in fixed-length templates */
    uint8_t op;   /* enum dec_op */
};

struct dec_tmpl {
    uint16_t id;
    uint8_t version; /* 9 or 10 */
    bool options;
    uint16_t nfields;
    uint16_t nscope;
    uint32_t min_len; /* record length with every variable field empty */
    bool varlen;
    uint64_t refreshed_ms;
    struct dec_field fields[]; /* nfields */
};

struct dec_sampler {
    uint32_t id;
    uint32_t interval;
};

struct dec_ifname {
    uint32_t ifindex;
    char name[DEC_IFNAME_LEN];
};

struct dec_domain {
    uint32_t id;
    uint8_t version;
    bool seq_valid;
    uint32_t seq_next;    /* sequence number expected next */
    uint32_t last_uptime; /* v5/v9 sysUpTime of the last message, to spot reboots */
    uint32_t seq_epoch;   /* sequence checks done so far */
    uint32_t parked;      /* data sets of this domain waiting for a template */
    uint64_t gap_held;    /* IPFIX gap seen while sets were parked: maybe not loss */
    uint64_t init_ms;     /* systemInitTimeMilliseconds, 0 = unknown */
    uint32_t sampling;    /* interval without a sampler id, 0 = none */
    uint32_t ntmpl;       /* 32-bit: up to 65,280 ids per domain, so 16 bits would wrap */
    uint32_t tmpl_cap;
    uint32_t last_hit;
    uint16_t nsamplers;
    uint16_t nifnames;
    uint16_t withdrawn_next;
    uint16_t withdrawn[DEC_WITHDRAWN_MAX]; /* ring; 0 = free. Data for these is not parked */
    struct dec_tmpl **tmpls;
    uint16_t *tmpl_pos; /* 65536 entries: template id -> index + 1 (0 = none); only in
                           domains past DEC_TMPL_INDEX_MIN templates, NULL otherwise */
    struct dec_sampler samplers[DEC_SAMPLERS_MAX];
    struct dec_ifname *ifnames; /* DEC_IFNAMES_MAX, allocated when first needed */
    char instance_id[FLOW_ID_MAX];
    char snid[FLOW_ID_MAX];
    char account_id[FLOW_ID_MAX];
};

/* A data set that came before its template, with what its message header said. */
struct dec_parked {
    uint32_t domain;
    uint16_t set_id;
    uint8_t version;
    uint32_t uptime_ms;
    uint64_t export_ms;
    uint64_t parked_ms;
    uint32_t epoch; /* the domain's seq_epoch when parked */
    uint32_t len;
    uint8_t data[]; /* the set body, without its 4-byte header */
};

struct dec_exporter {
    struct dec_src src;
    uint8_t version;
    uint32_t ndomains;
    uint32_t dom_cap;
    uint32_t ntmpl;
    uint32_t nparked;
    uint32_t parked_bytes;
    uint64_t first_ms;
    uint64_t last_ms;
    struct dec_domain **domains;
    struct dec_parked **parked;    /* FIFO, dec_cfg.pending_sets long */
    struct dec_exporter *lru_prev; /* the context's list, least recently heard first */
    struct dec_exporter *lru_next;
    struct dec_stats stats;
};

struct dec_ctx {
    struct dec_cfg cfg;
    struct dec_exporter **slots; /* open addressing, linear probing; power of two */
    uint32_t nslots;
    uint32_t nexp;
    struct dec_exporter *lru_head; /* least recently heard: evicted first */
    struct dec_exporter *lru_tail;
    uint64_t mem_used; /* bytes allocated through dec__alloc, headers included */
    bool mem_refused;  /* the last dec__alloc failed on the budget, not on malloc */
    uint64_t now_ms;   /* the latest now_ms the context was given */
    struct dec_stats stats;
};

/* State while one message is decoded. */
struct dec_msgctx {
    struct dec_ctx *ctx;
    struct dec_exporter *exp;
    struct dec_domain *dom;
    struct dec_sink *out;
    uint64_t now_ms;
    uint64_t export_ms;
    uint32_t uptime_ms; /* v9 header sysUpTime */
    uint8_t version;
    uint32_t records;      /* flow records emitted */
    uint32_t data_records; /* flow + options data records (IPFIX sequence counts both) */
    int rc;                /* first error met; decoding goes on where it can */
    bool stop;             /* the sink's flush refused: emit nothing more */
};

/* ctx.c and exporter.c: every allocation of decoder state, counted against dec_cfg.memory_max. */
void *dec__alloc(struct dec_ctx *ctx, size_t n);
void dec__free(struct dec_ctx *ctx, void *p);
/* The code for an allocation that just failed: DEC_E_LIMIT (budget) or -ENOMEM. */
int dec__nomem(const struct dec_ctx *ctx);
void dec__count(struct dec_msgctx *m, enum dec_reason r, int rc);
struct dec_exporter *dec__exporter_get(struct dec_ctx *ctx, const struct dec_src *src,
                                       uint64_t now_ms, bool create);
struct dec_domain *dec__domain_get(struct dec_ctx *ctx, struct dec_exporter *e, uint32_t id,
                                   bool create);
/* Room for state: forget least recently used exporters other than `keep` while the context
 * holds more than 3/4 of its memory budget. */
void dec__mem_reclaim(struct dec_ctx *ctx, const struct dec_exporter *keep);
/* Put e first in the eviction order (dec_tmpl_load: the snapshot lists the newest first). */
void dec__exporter_oldest(struct dec_ctx *ctx, struct dec_exporter *e);
/* Free every exporter (dec_ctx_destroy). */
void dec__exporters_free(struct dec_ctx *ctx);
/* A message's header is read: find or create its domain (m->dom) and count the message;
 * false (counted, or -ENOMEM) when the domain cannot be had. */
bool dec__msg_begin(struct dec_msgctx *m, uint32_t domain, size_t octets);
/* v5/v9: a sysUpTime that went back means a reboot (the sequence restarts); then the check. */
void dec__seq_check_uptime(struct dec_msgctx *m, uint32_t seq, uint32_t step, struct dec_msg *msg);
void dec__seq_check(struct dec_msgctx *m, uint32_t seq, uint32_t step_unit, struct dec_msg *msg);

/* tmpl.c */
struct dec_tmpl *dec__tmpl_find(struct dec_domain *d, uint16_t id);
int dec__tmpl_add(struct dec_msgctx *m, uint16_t id, bool options, uint16_t nscope,
                  const struct dec_field *fields, uint16_t nfields);
void dec__tmpl_withdraw(struct dec_msgctx *m, uint16_t id, bool all, bool options);
bool dec__tmpl_was_withdrawn(const struct dec_domain *d, uint16_t id);
void dec__tmpl_expire(struct dec_ctx *ctx, struct dec_exporter *e, uint64_t now_ms);
void dec__domain_free(struct dec_ctx *ctx, struct dec_domain *d);
uint8_t dec__field_op(uint32_t pen, uint16_t id, uint16_t len, uint32_t identity_pen);

/* rec.c */
void dec__data_set(struct dec_msgctx *m, const struct dec_tmpl *t, const uint8_t *p, size_t len);
struct flow_rec *dec__slot_slow(struct dec_msgctx *m);

/* The slot the next flow record goes to (flushing a full sink), or NULL: count it lost. */
static inline struct flow_rec *
dec__slot(struct dec_msgctx *m)
{
    struct dec_sink *o = m->out;
    if (o != NULL && o->n < o->cap && !m->stop) {
        return &o->recs[o->n];
    }
    return dec__slot_slow(m);
}

/* The slot from dec__slot() now holds a finished record. */
static inline void
dec__commit(struct dec_msgctx *m)
{
    m->out->n++;
    m->records++;
    m->ctx->stats.records++;
    m->exp->stats.records++;
}

/* parked.c */
void dec__park(struct dec_msgctx *m, uint16_t set_id, const uint8_t *p, size_t len);
/* A data set: decoded with its template, or parked until the template comes. */
void dec__data_or_park(struct dec_msgctx *m, uint16_t set_id, const uint8_t *body, size_t len);
void dec__unpark(struct dec_msgctx *m, const struct dec_tmpl *t);
void dec__parked_free_all(struct dec_ctx *ctx, struct dec_exporter *e);
void dec__parked_expire(struct dec_ctx *ctx, struct dec_exporter *e, uint64_t now_ms);

/* nf5.c, nf9.c, ipfix.c: one message each, header already checked for its version. */
int dec__nf5(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg);
int dec__nf7(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg);
int dec__nf1(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg);
int dec__nf9(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg);
int dec__ipfix(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg);

#endif
