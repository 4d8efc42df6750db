/* SPDX-License-Identifier: MIT */
/*
 * Encoder internals shared by its source files: the template variants, the context and the
 * functions one file offers the others. Private to encoder/ and its tests.
 *
 *   tmpl.c  template variants and options templates, writing template and data records
 *   msg.c   message framing (headers, sets, padding, template refresh) and the public API
 *   v5.c    NetFlow v5's fixed format
 */
#ifndef FLOWLOG_ENC_INT_H
#define FLOWLOG_ENC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enc.h"

#define ENC_IPFIX_HDR   16u
#define ENC_V9_HDR      20u
#define ENC_V5_HDR      24u
#define ENC_V5_REC      48u
#define ENC_V5_MAX_RECS 30u
#define ENC_VARLEN      0xffffu /* template field length: variable (RFC 7011 §7) */
#define ENC_STR_MAX     (FLOW_ID_MAX - 1)
#define ENC_TMPL_FIELDS 24u

/* Template variants of a flow record. The data template id is 256 + the variant bits. */
enum enc_variant {
    VAR_V6 = 1u << 0,
    VAR_ICMP = 1u << 1,
    VAR_DIR = 1u << 2,
    VAR_INST = 1u << 3, /* IPFIX only, like the three below */
    VAR_SNID = 1u << 4,
    VAR_ACCT = 1u << 5,
    VAR_RTT = 1u << 6,
    VAR_COUNT = 1u << 7,
};
#define VAR_V9_MASK (VAR_V6 | VAR_ICMP | VAR_DIR)

/* Options templates, indexed after the variants: template id 256 + VAR_COUNT + kind. */
enum enc_opt_kind {
    OPT_STATS = 0,
    OPT_SAMPLING,
    OPT_IDENTITY,
    OPT_COUNT,
};
#define TMPL_COUNT (VAR_COUNT + OPT_COUNT)

struct enc_field {
    uint32_t pen;
    uint16_t id;
    uint16_t len; /* ENC_VARLEN for a variable-length string */
};

struct enc_tmpl {
    uint16_t id;
    bool options;
    uint16_t nscope; /* the first nscope fields are scope fields */
    uint16_t nfields;
    uint16_t wire_len; /* bytes of the template record */
    uint16_t fixed;    /* bytes of a data record, variable fields counted as their 1-byte
                          length */
    struct enc_field f[ENC_TMPL_FIELDS];
};

struct enc_ctx {
    struct enc_cfg cfg;
    struct enc_stats stats;
    uint8_t *buf;              /* cfg.max_msg bytes: the message being filled */
    size_t len;                /* bytes used in buf; 0 = no message begun */
    size_t set_off;            /* where the open set's header is */
    int32_t set_id;            /* the open set's id; -1 = none */
    uint32_t msg_items;        /* v9 header count: template and data records in the message */
    uint32_t msg_data;         /* IPFIX: data records (flow and options) in the message */
    uint32_t msg_flows;        /* v5: records in the message */
    uint32_t v5_max;           /* v5: records per message */
    uint32_t seq;              /* sequence number of the next message */
    uint32_t epoch;            /* template refresh epoch; 0 until the first message */
    uint32_t epoch_msgs;       /* messages emitted in this epoch */
    uint64_t epoch_ms;         /* when this epoch began */
    uint32_t sent[TMPL_COUNT]; /* epoch in which each template was last written */
    struct enc_tmpl tmpls[TMPL_COUNT];
};

/* The values an options record carries. */
struct enc_optvals {
    uint64_t messages;
    uint64_t flows;
    uint64_t octets;
    uint64_t ign_packets;
    uint64_t ign_octets;
    const char *str[3]; /* instance-id, snid, account-id */
};

/* tmpl.c */
void enc__tmpls_build(struct enc_ctx *e);
void enc__tmpl_write(uint8_t *p, const struct enc_tmpl *t, uint8_t version);
unsigned enc__variant_of(const struct enc_ctx *e, const struct flow_rec *r, bool v4);
bool enc__rec_is_v4(const struct flow_rec *r);
size_t enc__rec_len(const struct enc_tmpl *t, const char *const str[3]);
void enc__flow_write(const struct enc_ctx *e, uint8_t *p, const struct enc_tmpl *t,
                     const struct flow_rec *r);
void enc__opt_write(const struct enc_ctx *e, uint8_t *p, const struct enc_tmpl *t,
                    const struct enc_optvals *o);

/* msg.c: begin a message in e->buf; emit the one being filled (0 or emit's code). */
void enc__msg_begin(struct enc_ctx *e, uint64_t now_ms);
int enc__msg_emit(struct enc_ctx *e, uint64_t now_ms, enc_emit_fn *emit, void *arg);

/* v5.c */
int enc__v5_add(struct enc_ctx *e, const struct flow_rec *r, uint64_t now_ms, enc_emit_fn *emit,
                void *arg);

#endif
