/* SPDX-License-Identifier: MIT */
/*
 * The input format of the decoder fuzz target, shared by the target (fuzz_decoder.c) and the
 * seed generator (seedgen.c) so that seeds built from captures decode the way the fuzzer will
 * replay them. Test support only.
 *
 * An input is one header byte and then chunks, until fewer than 3 bytes are left:
 *
 *   input   offset size  field
 *           0      1     fail_at: 0 = allocations never fail; N = the main context's Nth
 *                        allocation (counted from dec_ctx_create) returns NULL, once
 *           1      ...   chunks
 *   chunk   0      1     ctl, see below
 *           1      2     payload length n, big-endian; clipped to the bytes that are left
 *           3      n     payload: one datagram, or a template snapshot for FZ_ACT_LOAD
 *
 *   ctl     bits 0-2     source: one of FZ_SOURCES exporters (sources 0-3 UDP, 4-5 TCP,
 *                        6-7 file); only FZ_CFG_EXPORTERS of them fit in the context
 *           bits 3-4     action (enum fz_action)
 *           bits 5-7     clock step taken before the chunk: index into fz_steps_ms
 *
 * A length prefix keeps the datagram boundaries stable while libFuzzer mutates the bytes
 * inside a datagram; ctl is a single byte so that a mutation there changes exporter,
 * action or clock without moving anything else.
 */
#ifndef FLOWLOG_FUZZ_DECODER_H
#define FLOWLOG_FUZZ_DECODER_H

#include <stdint.h>
#include <string.h>

#include "dec.h"

#define FZ_HDR     1u
#define FZ_CHUNK   3u /* ctl + length */
#define FZ_SOURCES 8u
#define FZ_CAP     4u               /* dec_sink capacity: small, so flushes happen often */
#define FZ_T0_MS   1700000000000ull /* the clock at the start of every input */

enum fz_action {
    FZ_ACT_DECODE = 0, /* dec_decode the payload */
    FZ_ACT_REFUSE = 1, /* dec_decode with a sink whose flush refuses the records */
    FZ_ACT_LOAD = 2,   /* dec_tmpl_load the payload into the main context */
    FZ_ACT_FORGET = 3, /* dec_exporter_forget the source (with ctl bit 7: every port of its
                          address, dec_exporter_forget_addr), then dec_decode the payload */
};

static inline unsigned
fz_ctl_source(uint8_t ctl)
{
    return ctl & 7u;
}

static inline unsigned
fz_ctl_action(uint8_t ctl)
{
    return (ctl >> 3) & 3u;
}

static inline unsigned
fz_ctl_step(uint8_t ctl)
{
    return (ctl >> 5) & 7u;
}

static inline uint8_t
fz_ctl_make(unsigned source, unsigned action, unsigned step)
{
    return (uint8_t) ((source & 7u) | (action & 3u) << 3 | (step & 7u) << 5);
}

/*
 * Clock steps: around the configured template lifetime and parking age, so both expire; the
 * last one steps the clock back (NTP, a VM restored), which the decoder must survive.
 */
static const int32_t fz_steps_ms[8] = {0, 1, 1000, 5000, 11000, 61000, 3600000, -30000};

/* The limits are small so that every cap is reached by short inputs. */
static inline void
fz_cfg(struct dec_cfg *cfg)
{
    dec_cfg_default(cfg);
    cfg->tmpl_lifetime_ms = 60000;
    cfg->tmpl_max = 8;
    cfg->exporters_max = 4;
    cfg->pending_sets = 4;
    cfg->pending_bytes = 4096;
    cfg->pending_age_ms = 10000;
    cfg->memory_max = 96u << 10; /* 4 exporters of 8 large templates pass it: reclaim, refuse */
}

/* Exporter i: 192.0.2.(1 + i/2), port 2055 or 4739; the transport follows from i. */
static inline void
fz_src(unsigned i, struct dec_src *src)
{
    static const uint8_t tr[FZ_SOURCES] = {DEC_TR_UDP, DEC_TR_UDP, DEC_TR_UDP,  DEC_TR_UDP,
                                           DEC_TR_TCP, DEC_TR_TCP, DEC_TR_FILE, DEC_TR_FILE};
    memset(src, 0, sizeof(*src));
    src->addr[10] = 0xff;
    src->addr[11] = 0xff;
    src->addr[12] = 192;
    src->addr[13] = 0;
    src->addr[14] = 2;
    src->addr[15] = (uint8_t) (1u + (i & 7u) / 2u);
    src->port = (i & 1u) ? 4739 : 2055;
    src->transport = tr[i & 7u];
}

#endif
