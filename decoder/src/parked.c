/* SPDX-License-Identifier: MIT */
/*
 * Parked data sets: a data set whose template has not arrived yet (a template lost or
 * reordered on UDP, a collector restarted mid-stream) waits here, per exporter, in a bounded
 * FIFO. When its template arrives the set is decoded with the header values of the message
 * it came in; what overflows the queue or outlives dec_cfg.pending_age_ms is counted under
 * DEC_R_NO_TEMPLATE.
 *
 * IPFIX sequence numbers count data records, and a parked set's records are unknown until it
 * is decoded. So a gap seen while sets are parked is held, not reported (dec__seq_check), and
 * settled here: decoded records fill the gap, dropped sets turn what is held into loss.
 */
#include <string.h>

#include "dec_int.h"

static void
settle_held(struct dec_ctx *ctx, struct dec_exporter *e, struct dec_domain *d)
{
    if (d->parked == 0 && d->gap_held > 0) {
        ctx->stats.seq_missed += d->gap_held;
        e->stats.seq_missed += d->gap_held;
        d->gap_held = 0;
    }
}

/* Remove parked entry i (dropped unless `decoded`), keeping FIFO order. */
static void
parked_remove(struct dec_ctx *ctx, struct dec_exporter *e, uint32_t i, bool decoded)
{
    struct dec_parked *p = e->parked[i];
    struct dec_domain *d = dec__domain_get(ctx, e, p->domain, false);

    if (d != NULL && d->parked > 0) {
        d->parked--;
    }
    if (!decoded) {
        ctx->stats.err[DEC_R_NO_TEMPLATE]++;
        e->stats.err[DEC_R_NO_TEMPLATE]++;
        if (d != NULL) {
            settle_held(ctx, e, d);
        }
    }
    e->parked_bytes -= p->len;
    dec__free(ctx, p);
    memmove(&e->parked[i], &e->parked[i + 1], (e->nparked - i - 1) * sizeof(e->parked[0]));
    e->nparked--;
}

void
dec__data_or_park(struct dec_msgctx *m, uint16_t set_id, const uint8_t *body, size_t len)
{
    const struct dec_tmpl *t = dec__tmpl_find(m->dom, set_id);
    if (t != NULL) {
        dec__data_set(m, t, body, len);
    } else {
        dec__park(m, set_id, body, len);
    }
}

void
dec__park(struct dec_msgctx *m, uint16_t set_id, const uint8_t *body, size_t len)
{
    struct dec_exporter *e = m->exp;
    const struct dec_cfg *cfg = &m->ctx->cfg;

    if (m->rc == 0) {
        m->rc = DEC_E_NOTEMPLATE;
    }
    if (cfg->pending_sets == 0 || len > cfg->pending_bytes ||
        dec__tmpl_was_withdrawn(m->dom, set_id)) {
        dec__count(m, DEC_R_NO_TEMPLATE, DEC_E_NOTEMPLATE);
        return;
    }
    while (e->nparked > 0 &&
           (e->nparked >= cfg->pending_sets || e->parked_bytes + len > cfg->pending_bytes)) {
        parked_remove(m->ctx, e, 0, false);
    }
    struct dec_parked *p = dec__alloc(m->ctx, sizeof(*p) + len);
    if (p == NULL) {
        dec__count(m, DEC_R_NO_TEMPLATE, DEC_E_NOTEMPLATE);
        return;
    }
    p->domain = m->dom->id;
    p->set_id = set_id;
    p->version = m->version;
    p->uptime_ms = m->uptime_ms;
    p->export_ms = m->export_ms;
    p->parked_ms = m->now_ms;
    p->epoch = m->dom->seq_epoch;
    p->len = (uint32_t) len;
    memcpy(p->data, body, len);
    e->parked[e->nparked++] = p;
    e->parked_bytes += (uint32_t) len;
    m->dom->parked++;
    m->ctx->stats.pending_queued++;
    m->exp->stats.pending_queued++;
}

/* Account a released set's data records against the sequence (see the file comment). */
static void
settle_seq(struct dec_msgctx *m, const struct dec_parked *p, uint32_t k)
{
    struct dec_domain *d = m->dom;

    if (p->version != 10) {
        return; /* v9 sequence numbers count packets, which we did count */
    }
    if (p->epoch == d->seq_epoch) {
        m->data_records += k; /* same message: part of its step */
    } else if (p->epoch + 1 == d->seq_epoch) {
        d->seq_next += k; /* the next message has not been checked yet */
    } else {
        uint64_t c = k < d->gap_held ? k : d->gap_held;
        d->gap_held -= c;
    }
}

void
dec__unpark(struct dec_msgctx *m, const struct dec_tmpl *t)
{
    struct dec_exporter *e = m->exp;

    if (m->out == NULL) {
        return;
    }
    for (uint32_t i = 0; i < e->nparked;) {
        struct dec_parked *p = e->parked[i];
        if (p->domain != m->dom->id || p->set_id != t->id || p->version != t->version) {
            i++;
            continue;
        }
        struct dec_msgctx pm = *m;
        pm.export_ms = p->export_ms;
        pm.uptime_ms = p->uptime_ms;
        pm.records = 0;
        pm.data_records = 0;
        dec__data_set(&pm, t, p->data, p->len);
        m->records += pm.records;
        m->stop = pm.stop;
        if (m->rc == 0 || m->rc == DEC_E_NOTEMPLATE) {
            m->rc = pm.rc == DEC_E_NOTEMPLATE ? 0 : pm.rc;
        }
        settle_seq(m, p, pm.data_records);
        m->ctx->stats.pending_decoded++;
        e->stats.pending_decoded++;
        parked_remove(m->ctx, e, i, true);
        settle_held(m->ctx, e, m->dom);
    }
}

void
dec__parked_expire(struct dec_ctx *ctx, struct dec_exporter *e, uint64_t now_ms)
{
    /* Compared by addition: a clock that stepped back must not expire everything. */
    while (e->nparked > 0 && now_ms > e->parked[0]->parked_ms + ctx->cfg.pending_age_ms) {
        parked_remove(ctx, e, 0, false);
    }
}

void
dec__parked_free_all(struct dec_ctx *ctx, struct dec_exporter *e)
{
    for (uint32_t i = 0; i < e->nparked; i++) {
        dec__free(ctx, e->parked[i]);
    }
    e->nparked = 0;
}
