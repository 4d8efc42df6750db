/* SPDX-License-Identifier: MIT */
/*
 * The export encoder (library "enc", encoder/): struct flow_rec in, NetFlow v5, NetFlow v9
 * (RFC 3954) or IPFIX (RFC 7011) messages out. It is the other half of dec.h: flowprobe
 * exports with it and the tests feed its output back to the decoder.
 *
 * Like the decoder it is pure: no sockets, no clock (the caller passes now_ms), no files, no
 * logging, no globals. Messages are built in a buffer the context owns and handed to the
 * caller's emit callback, which sends them (or keeps them). All state (templates announced,
 * sequence numbers, the message being filled, counters) lives in a caller-owned enc_ctx.
 *
 * What each version carries (DESIGN.md §3 lists the fields):
 *
 *   field                 IPFIX                         v9                     v5
 *   start, end            152/153 flow*Milliseconds     22/21 sysUpTime ms     First/Last
 *   srcaddr, dstaddr      8/12 or 27/28                 8/12 or 27/28          IPv4 only
 *   srcport, dstport      7/11; ICMP: 32 or 139         7/11; ICMP: 32 or 139  as is
 *   protocol, tos         4, 5                          4, 5                   yes
 *   tcp-flags             6, 2 bytes (all 16 bits)      6, 1 byte              1 byte
 *   inport, outport       10/14, 4 bytes                10/14, 4 bytes         2 bytes, clamped
 *   packets, bytes        2/1, 8 bytes                  2/1, 8 bytes           4 bytes, clamped
 *   direction             61 (when FLOW_HAS_DIRECTION)  61                     no
 *   action                89 forwardingStatus           89                     no
 *   identity, rtt         PEN IEs 1..4 (dec.h)          no (v9 has no PENs)    no
 *   sampling              options 305/306               options 34/35          header
 *
 * The encoder always writes the base fields (addresses, ports, protocol, tos, tcp-flags,
 * interfaces, counters, times, action); a base field whose FLOW_HAS_* bit is clear is written
 * as zero and so decodes as present. For ICMP (protocol 1 or 58) dstport holds
 * type << 8 | code, as the decoder gives it, and srcport is not sent (IPFIX and v9).
 * A record is IPv4 when every address it has is IPv4-mapped; otherwise IPv6. Not written:
 * flow_rec.sampling (cfg.sampling speaks for the whole exporter), exporter, version, domain
 * (the header's), log_status, flags and raw IEs.
 *
 * Over TCP (IPFIX) templates need no refresh: set both tmpl_refresh_* to UINT32_MAX.
 *
 * v5 specifics: IPv6 records are refused (ENC_E_V6, counted, nothing written); counters
 * above 2^32-1 and interface indexes above 65535 are clamped to the field's maximum and the
 * record counted in enc_stats.clamped (splitting a record would double its flow count).
 *
 * Thread safety: a context is used by one thread at a time.
 */
#ifndef FLOWLOG_ENC_H
#define FLOWLOG_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dec.h"
#include "flow.h"

struct enc_ctx; /* opaque */

/* Error codes: the encoder's band is -1300 ... -1399. System errors pass as -errno. */
enum enc_err {
    ENC_E_CONFIG = -1300, /* enc_cfg invalid: version, max_msg out of range, v5 domain/sampling */
    ENC_E_V6 = -1301,     /* v5 cannot carry an IPv6 record: refused and counted */
};

#define ENC_MSG_DEFAULT    1400u /* v9 and IPFIX: fits a 1500-byte MTU with room to spare */
#define ENC_MSG_DEFAULT_V5 1464u /* v5: 24 + 30 * 48, the classic full datagram */
#define ENC_MSG_MIN        512u  /* v9 and IPFIX: the largest template + record fits */
#define ENC_MSG_MIN_V5     72u   /* v5: header + one record */

/* Configuration. Zero in a field means its default, so `struct enc_cfg c = {0}` is valid. */
struct enc_cfg {
    uint8_t version;            /* 10 (default), 9 or 5 */
    uint32_t domain;            /* IPFIX observation domain / v9 source id /
                                   v5 engine_type << 8 | engine_id (at most 0xffff) */
    uint16_t max_msg;           /* bytes per message; 0 = ENC_MSG_DEFAULT(_V5); v5 also stops
                                   at 30 records */
    uint32_t identity_pen;      /* enterprise number of the identity and rtt IEs;
                                   0 = DEC_PEN_DEFAULT */
    uint32_t tmpl_refresh_msgs; /* resend templates every N messages; 0 = 20, UINT32_MAX never */
    uint32_t tmpl_refresh_ms;   /* and every T ms; 0 = 60000, UINT32_MAX never */
    uint64_t boot_ms;           /* exporter's system init time (ms since the epoch): v5/v9
                                   sysUpTime = now - boot_ms; IPFIX IE 160 in the options */
    uint32_t sampling;          /* 1-in-N packet sampling, 0 = none: v5 header (at most
                                   16383), v9/IPFIX options record sent by enc_options() */
    struct dec_alloc alloc;     /* optional allocator hook; NULL members mean libc */
};

/*
 * Values for the options records that the encoder cannot know itself. Every member may be
 * left zero / NULL.
 */
struct enc_stats_opt {
    uint64_t ignored_packets; /* IE 164 ignoredPacketTotalCount: seen but not accounted */
    uint64_t ignored_octets;  /* IE 165 ignoredOctetTotalCount */
    bool stats;               /* send the exporter statistics record (41, 42, 40, 164, 165,
                                 160) */
    /* The probe's identity, sent as one options record under identity_pen (IPFIX only).
       All three NULL: no identity record. Otherwise all three are sent; NULL or "" is sent
       empty, which tells the decoder to forget that part of the identity. */
    const char *instance_id;
    const char *snid;
    const char *account_id;
};

/* Counters, readable any time through enc_ctx_stats(). */
struct enc_stats {
    uint64_t messages;        /* messages handed to emit (including refused ones) */
    uint64_t octets;          /* bytes of those messages */
    uint64_t records;         /* flow records written */
    uint64_t options_records; /* options data records written */
    uint64_t templates;       /* template and options template records written */
    uint64_t refused_v6;      /* v5: IPv6 records refused */
    uint64_t clamped;         /* v5: records with a counter or interface clamped */
    uint64_t emit_errors;     /* messages the emit callback refused */
};

/*
 * Called with each finished message. msg is valid during the call only. A non-zero return
 * is passed back to the caller of enc_add/enc_options/enc_flush; the message counts as sent
 * (and lost): its sequence numbers are used, as for a datagram lost on the wire.
 */
typedef int enc_emit_fn(void *arg, const uint8_t *msg, size_t len);

/*
 * Create a context; cfg NULL means all defaults. *out is owned by the caller until
 * enc_destroy(). Returns 0, ENC_E_CONFIG or -ENOMEM.
 */
int enc_create(struct enc_ctx **out, const struct enc_cfg *cfg);

/* Free a context (NULL is fine). Buffered records are dropped: enc_flush() first. */
void enc_destroy(struct enc_ctx *e);

/*
 * Buffer one record. When it does not fit in the message being filled, that message is
 * emitted first and a new one started (templates are written into a message before the
 * first record that needs them, and again after every refresh). Returns 0, ENC_E_V6 (v5:
 * IPv6 record refused, nothing buffered), or emit's non-zero code (the record is buffered
 * all the same: do not add it again).
 */
int enc_add(struct enc_ctx *e, const struct flow_rec *r, uint64_t now_ms, enc_emit_fn *emit,
            void *arg);

/* Emit the message being filled, if it holds anything. Returns 0 or emit's code. */
int enc_flush(struct enc_ctx *e, uint64_t now_ms, enc_emit_fn *emit, void *arg);

/*
 * Buffer the options records, scoped by the observation domain (v9: the system): exporter
 * statistics when st->stats, sampling when cfg.sampling > 0, and identity when given (IPFIX
 * only). Like enc_add, this emits a message only when one fills up; enc_flush() sends them
 * now. st may be NULL (sampling only). v5 has no options: returns 0 and writes nothing (its
 * sampling rides in every header). Returns 0 or emit's code.
 */
int enc_options(struct enc_ctx *e, const struct enc_stats_opt *st, uint64_t now_ms,
                enc_emit_fn *emit, void *arg);

/* Counters; valid until enc_destroy(). */
const struct enc_stats *enc_ctx_stats(const struct enc_ctx *e);

const char *enc_strerror(int err);

#endif
