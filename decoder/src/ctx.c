/* SPDX-License-Identifier: MIT */
/*
 * The decoder context: configuration, the memory budget every allocation is counted against,
 * sequence accounting, counters and the dec_decode() entry point that dispatches on the
 * version number. The exporter table and its eviction order are in exporter.c.
 *
 * Memory: each allocation carries a DEC_MEM_HDR-byte header holding its size, so that what is
 * freed is given back to the budget exactly. An allocation that would pass
 * dec_cfg.memory_max is refused and counted (DEC_R_MEMORY_LIMIT); exporter.c keeps the
 * context below 3/4 of the budget by forgetting the least recently heard exporters first.
 *
 * Sequence accounting (RFC 7011 §3.1, RFC 3954 §5.1, Cisco's v5 header): per exporter and
 * domain we keep the number expected next. A forward step, of any size, is loss; a small
 * step back is a late (reordered) message, whose records we take back from the loss count;
 * a restart needs evidence: the sequence went back further than reordering explains (an
 * exporter starts over near zero), or a v5/v9 sysUpTime went backwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dec_int.h"

void
dec_cfg_default(struct dec_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->tmpl_lifetime_ms = 30u * 60u * 1000u; /* RFC 6728 templateLifeTime default */
    cfg->tmpl_max = 512;
    cfg->exporters_max = 4096;
    cfg->pending_sets = 16;
    cfg->pending_bytes = 64u * 1024u;
    cfg->pending_age_ms = 60u * 1000u;
    cfg->identity_pen = DEC_PEN_DEFAULT;
    cfg->memory_max = DEC_MEMORY_DEFAULT;
    cfg->snapshot_max = DEC_SNAPSHOT_DEFAULT;
}

static void *
raw_alloc(const struct dec_cfg *cfg, size_t n)
{
    if (cfg->alloc.alloc != NULL) {
        return cfg->alloc.alloc(cfg->alloc.arg, n);
    }
    return calloc(1, n);
}

static void
raw_free(const struct dec_cfg *cfg, void *p)
{
    if (cfg->alloc.release != NULL) {
        cfg->alloc.release(cfg->alloc.arg, p);
        return;
    }
    free(p);
}

void *
dec__alloc(struct dec_ctx *ctx, size_t n)
{
    size_t total = DEC_MEM_HDR + n;

    ctx->mem_refused = false;
    if (total > ctx->cfg.memory_max - ctx->mem_used) {
        ctx->mem_refused = true;
        ctx->stats.err[DEC_R_MEMORY_LIMIT]++;
        return NULL;
    }
    uint8_t *p = raw_alloc(&ctx->cfg, total);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &total, sizeof(total));
    ctx->mem_used += total;
    ctx->stats.memory_bytes = ctx->mem_used;
    return p + DEC_MEM_HDR;
}

void
dec__free(struct dec_ctx *ctx, void *p)
{
    if (p == NULL) {
        return;
    }
    size_t total;
    uint8_t *base = (uint8_t *) p - DEC_MEM_HDR;
    memcpy(&total, base, sizeof(total));
    ctx->mem_used -= total;
    ctx->stats.memory_bytes = ctx->mem_used;
    raw_free(&ctx->cfg, base);
}

int
dec__nomem(const struct dec_ctx *ctx)
{
    return ctx->mem_refused ? DEC_E_LIMIT : -ENOMEM;
}

int
dec_ctx_create(struct dec_ctx **out, const struct dec_cfg *cfg)
{
    struct dec_cfg c;

    if (cfg == NULL) {
        dec_cfg_default(&c);
    } else {
        c = *cfg;
    }
    c.memory_max = c.memory_max == 0 ? DEC_MEMORY_DEFAULT : c.memory_max;
    c.memory_max = c.memory_max < DEC_MEMORY_MIN ? DEC_MEMORY_MIN : c.memory_max;
    c.snapshot_max = c.snapshot_max == 0 ? DEC_SNAPSHOT_DEFAULT : c.snapshot_max;
    struct dec_ctx *ctx = raw_alloc(&c, sizeof(*ctx));
    if (ctx == NULL) {
        return -ENOMEM;
    }
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = c;
    ctx->nslots = 64;
    ctx->slots = dec__alloc(ctx, ctx->nslots * sizeof(*ctx->slots));
    if (ctx->slots == NULL) {
        goto free_ctx;
    }
    *out = ctx;
    return 0;
free_ctx:
    raw_free(&c, ctx);
    return -ENOMEM;
}

void
dec_ctx_destroy(struct dec_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    dec__exporters_free(ctx);
    dec__free(ctx, ctx->slots);
    raw_free(&ctx->cfg, ctx);
}

const struct dec_stats *
dec_ctx_stats(const struct dec_ctx *ctx)
{
    return &ctx->stats;
}

bool
dec__msg_begin(struct dec_msgctx *m, uint32_t id, size_t octets)
{
    m->dom = dec__domain_get(m->ctx, m->exp, id, true);
    if (m->dom != NULL) {
        m->ctx->stats.messages++;
        m->exp->stats.messages++;
        m->ctx->stats.octets += octets;
        m->exp->stats.octets += octets;
        return true;
    }
    if (m->exp->ndomains >= DEC_DOMAINS_MAX) {
        dec__count(m, DEC_R_EXPORTER_LIMIT, DEC_E_LIMIT);
    } else if (m->rc == 0) {
        m->rc = dec__nomem(m->ctx); /* a budget refusal is counted where it happened */
    }
    return false;
}

void
dec__count(struct dec_msgctx *m, enum dec_reason r, int rc)
{
    m->ctx->stats.err[r]++;
    if (m->exp != NULL) {
        m->exp->stats.err[r]++;
    }
    if (m->rc == 0) {
        m->rc = rc;
    }
}

static void
count_seq(uint64_t *field_ctx, uint64_t *field_exp, uint64_t n)
{
    *field_ctx += n;
    *field_exp += n;
}

/*
 * Called after a message is decoded (so the IPFIX step, its data record count, is known).
 * step: the number this message advances the sequence by. A forward jump of any size is
 * loss: a collector stopped for a minute at 100k flows/s misses millions of records, and that
 * is what must be reported. Only a step back says restart (or reordering, when small).
 */
void
dec__seq_check(struct dec_msgctx *m, uint32_t seq, uint32_t step, struct dec_msg *msg)
{
    struct dec_domain *d = m->dom;
    struct dec_stats *cs = &m->ctx->stats;
    struct dec_stats *es = &m->exp->stats;

    d->seq_epoch++;
    if (d->seq_valid) {
        /* Unsigned difference, read as signed: handles wraparound at 2^32. */
        int64_t diff = (int32_t) (seq - d->seq_next);
        if (diff > 0 && m->version == 10 && d->parked > 0) {
            d->gap_held += (uint64_t) diff; /* maybe the parked sets: settled in parked.c */
        } else if (diff > 0) {
            msg->missed = (uint32_t) diff;
            count_seq(&cs->seq_missed, &es->seq_missed, (uint64_t) diff);
        } else if (diff < 0 && diff >= -DEC_SEQ_MAX_BACK) {
            /* A late message: what we counted as missed has arrived after all. */
            msg->ooo = true;
            count_seq(&cs->seq_ooo, &es->seq_ooo, 1);
            uint64_t back = step <= es->seq_missed ? step : es->seq_missed;
            es->seq_missed -= back;
            cs->seq_missed -= back <= cs->seq_missed ? back : cs->seq_missed;
            return; /* keep expecting what we expected */
        } else if (diff < 0) {
            /* Back further than reordering explains: the exporter started over. */
            msg->reset = true;
            count_seq(&cs->seq_reset, &es->seq_reset, 1);
        }
    }
    d->seq_valid = true;
    d->seq_next = seq + step;
}

void
dec__seq_check_uptime(struct dec_msgctx *m, uint32_t seq, uint32_t step, struct dec_msg *msg)
{
    struct dec_domain *d = m->dom;
    if (d->seq_valid && m->uptime_ms + 60000u < d->last_uptime) {
        d->seq_valid = false; /* sysUpTime went back: the exporter rebooted */
        msg->reset = true;
        m->ctx->stats.seq_reset++;
        m->exp->stats.seq_reset++;
    }
    d->last_uptime = m->uptime_ms;
    dec__seq_check(m, seq, step, msg);
}

long
dec_msg_len(const uint8_t *buf, size_t len)
{
    if (len < 4) {
        return 0;
    }
    struct rd r = rd_make(buf, len);
    uint16_t version = rd_u16(&r);
    uint16_t mlen = rd_u16(&r);
    if (version != 10) {
        return DEC_E_VERSION;
    }
    if (mlen < 16) {
        return DEC_E_MALFORMED;
    }
    return mlen;
}

int
dec_decode(struct dec_ctx *ctx, const struct dec_src *src, const uint8_t *buf, size_t len,
           uint64_t now_ms, struct dec_sink *out, struct dec_msg *msg)
{
    struct dec_msg scratch;
    struct dec_msgctx m = {.ctx = ctx, .out = out, .now_ms = now_ms};
    struct rd r = rd_make(buf, len);
    uint16_t version = rd_u16(&r);

    if (msg == NULL) {
        msg = &scratch;
    }
    memset(msg, 0, sizeof(*msg));
    if (r.err) {
        dec__count(&m, DEC_R_SHORT, DEC_E_TRUNCATED);
        return m.rc;
    }
    if (version != 1 && version != 5 && version != 7 && version != 9 && version != 10) {
        dec__count(&m, DEC_R_VERSION, DEC_E_VERSION);
        return m.rc;
    }
    ctx->now_ms = now_ms > ctx->now_ms ? now_ms : ctx->now_ms;
    m.exp = dec__exporter_get(ctx, src, now_ms, true);
    if (m.exp == NULL) {
        return dec__nomem(ctx); /* a budget refusal is counted (memory-limit); ENOMEM is not */
    }
    dec__mem_reclaim(ctx, m.exp);
    m.exp->last_ms = now_ms;
    m.exp->version = (uint8_t) version;
    m.version = (uint8_t) version;
    msg->version = (uint8_t) version;
    if (version == 5) {
        dec__nf5(&m, buf, len, msg);
    } else if (version == 7) {
        dec__nf7(&m, buf, len, msg);
    } else if (version == 1) {
        dec__nf1(&m, buf, len, msg);
    } else if (version == 9) {
        dec__nf9(&m, buf, len, msg);
    } else {
        dec__ipfix(&m, buf, len, msg);
    }
    msg->records = m.records;
    return m.rc;
}

static const char *const reason_names[DEC_R_COUNT] = {
    [DEC_R_SHORT] = "short",
    [DEC_R_VERSION] = "version",
    [DEC_R_LENGTH] = "length",
    [DEC_R_SET] = "set",
    [DEC_R_TEMPLATE] = "template",
    [DEC_R_NO_TEMPLATE] = "no-template",
    [DEC_R_TMPL_LIMIT] = "template-limit",
    [DEC_R_EXPORTER_LIMIT] = "exporter-limit",
    [DEC_R_RECORD] = "record",
    [DEC_R_OUT_FULL] = "output-full",
    [DEC_R_V5_COUNT] = "v5-count",
    [DEC_R_SET_ID] = "set-id",
    [DEC_R_MEMORY_LIMIT] = "memory-limit",
};

const char *
dec_reason_name(enum dec_reason r)
{
    if ((unsigned) r >= DEC_R_COUNT) {
        return "unknown";
    }
    return reason_names[r];
}

const char *
dec_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case DEC_E_TRUNCATED:
        return "a length field points past the end of the message";
    case DEC_E_NOTEMPLATE:
        return "data set arrived before its template";
    case DEC_E_LIMIT:
        return "exporter or template limit reached";
    case DEC_E_VERSION:
        return "not NetFlow v1, v5, v7, v9 or IPFIX";
    case DEC_E_MALFORMED:
        return "message breaks its RFC";
    case DEC_E_FULL:
        return "output full; records lost";
    case DEC_E_FORMAT:
        return "not a flowlog template snapshot, or damaged";
    case DEC_E_SNAPSHOT:
        return "template snapshot reached its size bound; the most recent exporters were saved";
    case -ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
