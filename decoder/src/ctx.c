/* SPDX-License-Identifier: MIT */
/*
 * The decoder context: configuration, the exporter table (open addressing keyed by exporter
 * address and port, hashed with XXH3), observation domains, sequence accounting, counters
 * and the dec_decode() entry point that dispatches on the version number.
 *
 * Sequence accounting (RFC 7011 §3.1, RFC 3954 §5.1, Cisco's v5 header): per exporter and
 * domain we keep the number expected next. A forward step is loss; a small step back is a
 * late (reordered) message, whose records we take back from the loss count; a big jump either
 * way, or a v5/v9 sysUpTime that went backwards, is a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

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
}

void *
dec__alloc(const struct dec_ctx *ctx, size_t n)
{
    if (ctx->cfg.alloc.alloc != NULL) {
        return ctx->cfg.alloc.alloc(ctx->cfg.alloc.arg, n);
    }
    return calloc(1, n);
}

void
dec__free(const struct dec_ctx *ctx, void *p)
{
    if (p == NULL) {
        return;
    }
    if (ctx->cfg.alloc.release != NULL) {
        ctx->cfg.alloc.release(ctx->cfg.alloc.arg, p);
        return;
    }
    free(p);
}

int
dec_ctx_create(struct dec_ctx **out, const struct dec_cfg *cfg)
{
    struct dec_cfg def;

    if (cfg == NULL) {
        dec_cfg_default(&def);
        cfg = &def;
    }
    struct dec_ctx boot = {.cfg = *cfg};
    struct dec_ctx *ctx = dec__alloc(&boot, sizeof(*ctx));
    if (ctx == NULL) {
        return -ENOMEM;
    }
    ctx->cfg = *cfg;
    ctx->nslots = 64;
    ctx->slots = dec__alloc(ctx, ctx->nslots * sizeof(*ctx->slots));
    if (ctx->slots == NULL) {
        goto free_ctx;
    }
    *out = ctx;
    return 0;
free_ctx:
    dec__free(ctx, ctx);
    return -ENOMEM;
}

static void
exporter_free(const struct dec_ctx *ctx, struct dec_exporter *e)
{
    for (uint16_t i = 0; i < e->ndomains; i++) {
        dec__domain_free(ctx, e->domains[i]);
    }
    dec__free(ctx, e->domains);
    dec__parked_free_all(ctx, e);
    dec__free(ctx, e->parked);
    dec__free(ctx, e);
}

void
dec_ctx_destroy(struct dec_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    for (uint32_t i = 0; i < ctx->nslots; i++) {
        if (ctx->slots[i] != NULL) {
            exporter_free(ctx, ctx->slots[i]);
        }
    }
    dec__free(ctx, ctx->slots);
    dec__free(ctx, ctx);
}

const struct dec_stats *
dec_ctx_stats(const struct dec_ctx *ctx)
{
    return &ctx->stats;
}

static uint32_t
src_hash(const struct dec_src *s)
{
    uint8_t key[18];
    memcpy(key, s->addr, 16);
    key[16] = (uint8_t) (s->port >> 8);
    key[17] = (uint8_t) s->port;
    return (uint32_t) XXH3_64bits(key, sizeof(key));
}

static bool
src_eq(const struct dec_src *a, const struct dec_src *b)
{
    return a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

static uint32_t
slot_find(const struct dec_ctx *ctx, const struct dec_src *s)
{
    uint32_t mask = ctx->nslots - 1;
    uint32_t i = src_hash(s) & mask;
    while (ctx->slots[i] != NULL && !src_eq(&ctx->slots[i]->src, s)) {
        i = (i + 1) & mask;
    }
    return i;
}

static int
table_grow(struct dec_ctx *ctx)
{
    uint32_t old_n = ctx->nslots;
    struct dec_exporter **old = ctx->slots;
    struct dec_exporter **slots = dec__alloc(ctx, 2u * old_n * sizeof(*slots));

    if (slots == NULL) {
        return -ENOMEM;
    }
    ctx->slots = slots;
    ctx->nslots = 2u * old_n;
    for (uint32_t i = 0; i < old_n; i++) {
        if (old[i] != NULL) {
            ctx->slots[slot_find(ctx, &old[i]->src)] = old[i];
        }
    }
    dec__free(ctx, old);
    return 0;
}

struct dec_exporter *
dec__exporter_get(struct dec_ctx *ctx, const struct dec_src *src, uint64_t now_ms, bool create)
{
    uint32_t i = slot_find(ctx, src);
    if (ctx->slots[i] != NULL || !create) {
        return ctx->slots[i];
    }
    if (ctx->nexp >= ctx->cfg.exporters_max) {
        return NULL;
    }
    if (2u * (ctx->nexp + 1) > ctx->nslots) {
        if (table_grow(ctx) != 0) {
            return NULL;
        }
        i = slot_find(ctx, src);
    }
    struct dec_exporter *e = dec__alloc(ctx, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->parked = dec__alloc(ctx, (ctx->cfg.pending_sets + 1u) * sizeof(*e->parked));
    if (e->parked == NULL) {
        dec__free(ctx, e);
        return NULL;
    }
    e->src = *src;
    e->first_ms = now_ms;
    e->last_ms = now_ms;
    ctx->slots[i] = e;
    ctx->nexp++;
    return e;
}

void
dec_exporter_forget(struct dec_ctx *ctx, const struct dec_src *src)
{
    uint32_t mask = ctx->nslots - 1;
    uint32_t i = slot_find(ctx, src);

    if (ctx->slots[i] == NULL) {
        return;
    }
    exporter_free(ctx, ctx->slots[i]);
    ctx->slots[i] = NULL;
    ctx->nexp--;
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    for (uint32_t j = (i + 1) & mask; ctx->slots[j] != NULL; j = (j + 1) & mask) {
        uint32_t home = src_hash(&ctx->slots[j]->src) & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            ctx->slots[i] = ctx->slots[j];
            ctx->slots[j] = NULL;
            i = j;
        }
    }
}

struct dec_domain *
dec__domain_get(struct dec_ctx *ctx, struct dec_exporter *e, uint32_t id, bool create)
{
    for (uint16_t i = 0; i < e->ndomains; i++) {
        if (e->domains[i]->id == id) {
            return e->domains[i];
        }
    }
    if (!create || e->ndomains >= DEC_DOMAINS_MAX) {
        return NULL;
    }
    if (e->ndomains == e->dom_cap) {
        uint16_t cap = e->dom_cap ? (uint16_t) (e->dom_cap * 2u) : 4u;
        struct dec_domain **d = dec__alloc(ctx, cap * sizeof(*d));
        if (d == NULL) {
            return NULL;
        }
        if (e->ndomains > 0) {
            memcpy(d, e->domains, e->ndomains * sizeof(*d));
        }
        dec__free(ctx, e->domains);
        e->domains = d;
        e->dom_cap = cap;
    }
    struct dec_domain *dom = dec__alloc(ctx, sizeof(*dom));
    if (dom == NULL) {
        return NULL;
    }
    dom->id = id;
    e->domains[e->ndomains++] = dom;
    return dom;
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
        m->rc = -ENOMEM;
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
count_seq(struct dec_msgctx *m, uint64_t *field_ctx, uint64_t *field_exp, uint64_t n)
{
    (void) m;
    *field_ctx += n;
    *field_exp += n;
}

/*
 * Called after a message is decoded (so the IPFIX step, its data record count, is known).
 * step_unit: the number this message advances the sequence by.
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
        if (diff > 0 && diff <= DEC_SEQ_MAX_GAP && m->version == 10 && d->parked > 0) {
            d->gap_held += (uint64_t) diff; /* maybe the parked sets: settled in parked.c */
        } else if (diff > 0 && diff <= DEC_SEQ_MAX_GAP) {
            msg->missed = (uint32_t) diff;
            count_seq(m, &cs->seq_missed, &es->seq_missed, (uint64_t) diff);
        } else if (diff < 0 && diff >= -DEC_SEQ_MAX_BACK) {
            /* A late message: what we counted as missed has arrived after all. */
            msg->ooo = true;
            count_seq(m, &cs->seq_ooo, &es->seq_ooo, 1);
            uint64_t back = step <= es->seq_missed ? step : es->seq_missed;
            es->seq_missed -= back;
            cs->seq_missed -= back <= cs->seq_missed ? back : cs->seq_missed;
            return; /* keep expecting what we expected */
        } else if (diff != 0) {
            msg->reset = true;
            count_seq(m, &cs->seq_reset, &es->seq_reset, 1);
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
    m.exp = dec__exporter_get(ctx, src, now_ms, true);
    if (m.exp == NULL) {
        if (ctx->nexp < ctx->cfg.exporters_max) {
            return -ENOMEM; /* not the exporter's fault: no reason to count */
        }
        dec__count(&m, DEC_R_EXPORTER_LIMIT, DEC_E_LIMIT);
        return m.rc;
    }
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

int
dec_exporter_each(const struct dec_ctx *ctx, dec_exporter_fn *fn, void *arg)
{
    for (uint32_t i = 0; i < ctx->nslots; i++) {
        const struct dec_exporter *e = ctx->slots[i];
        if (e == NULL) {
            continue;
        }
        struct dec_exporter_info info = {
            .src = e->src,
            .version = e->version,
            .first_ms = e->first_ms,
            .last_ms = e->last_ms,
            .templates = e->ntmpl,
            .domains = e->ndomains,
            .pending_sets = e->nparked,
            .stats = e->stats,
        };
        for (uint16_t d = 0; d < e->ndomains; d++) {
            if (e->domains[d]->sampling > 1) {
                info.sampling = e->domains[d]->sampling;
            }
        }
        int rc = fn(arg, &info);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

const char *
dec_ifname(const struct dec_ctx *ctx, const struct dec_src *src, uint32_t domain, uint32_t ifindex)
{
    struct dec_exporter *e = dec__exporter_get((struct dec_ctx *) ctx, src, 0, false);
    if (e == NULL) {
        return NULL;
    }
    struct dec_domain *d = dec__domain_get((struct dec_ctx *) ctx, e, domain, false);
    if (d == NULL || d->ifnames == NULL) {
        return NULL;
    }
    for (uint16_t i = 0; i < d->nifnames; i++) {
        if (d->ifnames[i].ifindex == ifindex) {
            return d->ifnames[i].name;
        }
    }
    return NULL;
}

void
dec_expire(struct dec_ctx *ctx, uint64_t now_ms)
{
    for (uint32_t i = 0; i < ctx->nslots; i++) {
        struct dec_exporter *e = ctx->slots[i];
        if (e == NULL) {
            continue;
        }
        dec__parked_expire(ctx, e, now_ms);
        if (e->src.transport == DEC_TR_UDP && ctx->cfg.tmpl_lifetime_ms != 0) {
            dec__tmpl_expire(ctx, e, now_ms);
        }
    }
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
        return "not NetFlow v5, v9 or IPFIX";
    case DEC_E_MALFORMED:
        return "message breaks its RFC";
    case DEC_E_FULL:
        return "output full; records lost";
    case DEC_E_FORMAT:
        return "not a flowlog template snapshot, or damaged";
    case -ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
