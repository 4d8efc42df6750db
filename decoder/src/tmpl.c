/* SPDX-License-Identifier: MIT */
/*
 * Templates: compiling template records into field programs, the per-domain template store
 * (scoped by exporter address and port, observation domain and template id, RFC 7011 §8),
 * withdrawal (§8.1, including withdraw-all), lifetime expiry, and the snapshot format that
 * lets the store keep templates across restarts.
 *
 * The field program maps each field once, when the template arrives, to an enum dec_op, so
 * the per-record loop is a switch over small integers. Lengths that a field's type cannot
 * have (an IPv4 address of 3 bytes, a counter of 9) turn the field into OP_RAW: kept, not
 * misread.
 *
 * Snapshot: only exporters with live templates are saved, most recently heard first, with a
 * kind-1 entry for each of their domains that holds options state, and stops at
 * dec_cfg.snapshot_max bytes (DEC_E_SNAPSHOT; the prefix written is a valid snapshot).
 *
 * Snapshot format (all integers big-endian):
 *
 *   header   offset size  field
 *            0      4     magic "FLTS"
 *            4      2     format version (1)
 *            6      2     reserved, 0
 *   entry    0      1     kind: 1 = domain state, 2 = template
 *            1      16    exporter address (IPv4-mapped for IPv4)
 *            17     2     exporter port
 *            19     1     transport (enum dec_transport)
 *            20     4     observation domain
 *   kind 1   24     8     systemInitTimeMilliseconds (0 = unknown)
 *            32     4     sampling interval (0 = none)
 *            36     40    instance-id, NUL padded
 *            76     40    snid
 *            116    40    account-id                                     (156 bytes)
 *   kind 2   24     2     template id
 *            26     1     version (9 or 10)
 *            27     1     1 = options template
 *            28     2     scope field count
 *            30     2     field count n
 *            32     8*n   fields: enterprise (4), element id (2), length (2)
 */
#include <errno.h>
#include <string.h>

#include "dec_int.h"
#include "flow_bytes.h"

#define SNAP_MAGIC   0x464c5453u /* "FLTS" */
#define SNAP_VERSION 1u

static bool
len_numeric(uint16_t len)
{
    return len >= 1 && len <= 8;
}

static uint8_t
op_iana(uint16_t id, uint16_t len)
{
    switch (id) {
    case 1:
        return len_numeric(len) ? OP_BYTES : OP_RAW;
    case 2:
        return len_numeric(len) ? OP_PKTS : OP_RAW;
    case 85:
        return len_numeric(len) ? OP_BYTES_TOTAL : OP_RAW;
    case 86:
        return len_numeric(len) ? OP_PKTS_TOTAL : OP_RAW;
    case 4:
        return len_numeric(len) ? OP_PROTO : OP_RAW;
    case 5:
        return len_numeric(len) ? OP_TOS : OP_RAW;
    case 6:
        return len_numeric(len) ? OP_TCPFLAGS : OP_RAW;
    case 7:
        return len_numeric(len) ? OP_SPORT : OP_RAW;
    case 11:
        return len_numeric(len) ? OP_DPORT : OP_RAW;
    case 8:
        return len == 4 ? OP_SRC4 : OP_RAW;
    case 12:
        return len == 4 ? OP_DST4 : OP_RAW;
    case 27:
        return len == 16 ? OP_SRC6 : OP_RAW;
    case 28:
        return len == 16 ? OP_DST6 : OP_RAW;
    case 10:
        return len_numeric(len) ? OP_IN : OP_RAW;
    case 14:
        return len_numeric(len) ? OP_OUT : OP_RAW;
    case 32:
    case 139:
        return len_numeric(len) ? OP_ICMP_TC : OP_RAW;
    case 176:
    case 178:
        return len_numeric(len) ? OP_ICMP_TYPE : OP_RAW;
    case 177:
    case 179:
        return len_numeric(len) ? OP_ICMP_CODE : OP_RAW;
    case 61:
        return len_numeric(len) ? OP_DIRECTION : OP_RAW;
    case 89:
        return len_numeric(len) ? OP_FWD_STATUS : OP_RAW;
    case 233:
    case 40005: /* Cisco NSEL NF_F_FW_EVENT, v9 only (above the IPFIX 15-bit range) */
        return len_numeric(len) ? OP_FW_EVENT : OP_RAW;
    case 22:
        return len == 4 ? OP_START_UP : OP_RAW;
    case 21:
        return len == 4 ? OP_END_UP : OP_RAW;
    case 150:
        return len_numeric(len) ? OP_START_S : OP_RAW;
    case 151:
        return len_numeric(len) ? OP_END_S : OP_RAW;
    case 152:
        return len_numeric(len) ? OP_START_MS : OP_RAW;
    case 153:
        return len_numeric(len) ? OP_END_MS : OP_RAW;
    case 154:
    case 156:
        return len == 8 ? OP_START_NTP : OP_RAW;
    case 155:
    case 157:
        return len == 8 ? OP_END_NTP : OP_RAW;
    case 158:
        return len_numeric(len) ? OP_START_DELTA_US : OP_RAW;
    case 159:
        return len_numeric(len) ? OP_END_DELTA_US : OP_RAW;
    case 161:
        return len_numeric(len) ? OP_DUR_MS : OP_RAW;
    case 162:
        return len_numeric(len) ? OP_DUR_US : OP_RAW;
    case 160:
        return len_numeric(len) ? OP_INIT_MS : OP_RAW;
    case 34:
    case 50:
        return len_numeric(len) ? OP_SAMPLING_INTERVAL : OP_RAW;
    case 305:
        return len_numeric(len) ? OP_SAMPLING_PKT_INTERVAL : OP_RAW;
    case 306:
        return len_numeric(len) ? OP_SAMPLING_PKT_SPACE : OP_RAW;
    case 48:
    case 302:
        return len_numeric(len) ? OP_SAMPLER_ID : OP_RAW;
    case 82:
        return OP_IFNAME;
    case 210: /* paddingOctets */
        return OP_SKIP;
    default:
        return OP_RAW;
    }
}

/* RFC 5103 §6.1: an IANA id under the reverse PEN; the counters make a second record. */
static uint8_t
op_reverse(uint16_t id, uint16_t len)
{
    if (!len_numeric(len)) {
        return OP_RAW;
    }
    switch (id) {
    case 1:
        return OP_REV_BYTES;
    case 2:
        return OP_REV_PKTS;
    case 5:
        return OP_REV_TOS;
    case 6:
        return OP_REV_TCPFLAGS;
    case 32:
    case 139:
        return OP_REV_ICMP_TC;
    case 85:
        return OP_REV_BYTES_TOTAL;
    case 86:
        return OP_REV_PKTS_TOTAL;
    default:
        return OP_RAW;
    }
}

/* flowprobe's identity and RTT elements under dec_cfg.identity_pen. */
static uint8_t
op_identity(uint16_t id, uint16_t len)
{
    switch (id) {
    case DEC_IE_INSTANCE_ID:
        return OP_INSTANCE;
    case DEC_IE_SNID:
        return OP_SNID;
    case DEC_IE_ACCOUNT_ID:
        return OP_ACCOUNT;
    case DEC_IE_RTT_US:
        return len_numeric(len) ? OP_RTT : OP_RAW;
    default:
        return OP_RAW;
    }
}

uint8_t
dec__field_op(uint32_t pen, uint16_t id, uint16_t len, uint32_t identity_pen)
{
    if (len == 0) {
        return OP_SKIP; /* a zero-length field carries nothing (seen from Cisco ACI, SRX) */
    }
    if (pen == DEC_PEN_V9_SCOPE) {
        return (id == 2 && len_numeric(len)) ? OP_SCOPE_IFINDEX : OP_SKIP;
    }
    if (pen == 0) {
        return op_iana(id, len);
    }
    if (pen == DEC_PEN_REVERSE) {
        return op_reverse(id, len);
    }
    return pen == identity_pen ? op_identity(id, len) : OP_RAW;
}

/*
 * A domain with few templates is searched linearly (from the last hit: data sets mostly
 * repeat one template). One past DEC_TMPL_INDEX_MIN templates (templates_max raised above
 * it) gets a direct index by id, so that a lookup does not cost a scan of tens of thousands.
 */
struct dec_tmpl *
dec__tmpl_find(struct dec_domain *d, uint16_t id)
{
    if (d->last_hit < d->ntmpl && d->tmpls[d->last_hit]->id == id) {
        return d->tmpls[d->last_hit];
    }
    if (d->tmpl_pos != NULL) {
        uint32_t p = d->tmpl_pos[id];
        if (p == 0) {
            return NULL;
        }
        d->last_hit = p - 1;
        return d->tmpls[p - 1];
    }
    for (uint32_t i = 0; i < d->ntmpl; i++) {
        if (d->tmpls[i]->id == id) {
            d->last_hit = i;
            return d->tmpls[i];
        }
    }
    return NULL;
}

static bool
tmpl_same(const struct dec_tmpl *t, uint8_t version, bool options, uint16_t nscope,
          const struct dec_field *f, uint16_t n)
{
    if (t->version != version || t->options != options || t->nscope != nscope || t->nfields != n) {
        return false;
    }
    for (uint16_t i = 0; i < n; i++) {
        if (t->fields[i].pen != f[i].pen || t->fields[i].id != f[i].id ||
            t->fields[i].len != f[i].len) {
            return false;
        }
    }
    return true;
}

static struct dec_tmpl *
tmpl_compile(struct dec_msgctx *m, uint16_t id, bool options, uint16_t nscope,
             const struct dec_field *f, uint16_t n)
{
    struct dec_tmpl *t = dec__alloc(m->ctx, sizeof(*t) + n * sizeof(t->fields[0]));
    if (t == NULL) {
        return NULL;
    }
    t->id = id;
    t->version = m->version;
    t->options = options;
    t->nscope = nscope;
    t->nfields = n;
    for (uint16_t i = 0; i < n; i++) {
        t->fields[i] = f[i];
        t->fields[i].op = dec__field_op(f[i].pen, f[i].id, f[i].len, m->ctx->cfg.identity_pen);
        t->fields[i].off = (uint16_t) t->min_len;
        if (f[i].len == DEC_VARLEN) {
            t->varlen = true;
            t->min_len += 1;
        } else {
            t->min_len += f[i].len;
        }
    }
    return t;
}

/* Build the domain's id index; without memory for it the domain stays linear. */
static void
index_build(struct dec_ctx *ctx, struct dec_domain *d)
{
    d->tmpl_pos = dec__alloc(ctx, 65536u * sizeof(*d->tmpl_pos));
    for (uint32_t i = 0; d->tmpl_pos != NULL && i < d->ntmpl; i++) {
        d->tmpl_pos[d->tmpls[i]->id] = (uint16_t) (i + 1u);
    }
}

static int
domain_reserve(struct dec_msgctx *m, struct dec_domain *d)
{
    if (d->ntmpl < d->tmpl_cap) {
        return 0;
    }
    /* 32-bit: a domain may hold every id from 256 to 65535 (tmpl_max allows 65535). */
    uint32_t cap = d->tmpl_cap ? d->tmpl_cap * 2u : 8u;
    struct dec_tmpl **a = dec__alloc(m->ctx, (size_t) cap * sizeof(*a));
    if (a == NULL) {
        return dec__nomem(m->ctx);
    }
    if (d->ntmpl > 0) {
        memcpy(a, d->tmpls, d->ntmpl * sizeof(*a));
    }
    dec__free(m->ctx, d->tmpls);
    d->tmpls = a;
    d->tmpl_cap = cap;
    if (d->tmpl_pos == NULL && cap > DEC_TMPL_INDEX_MIN) {
        index_build(m->ctx, d); /* tried when the array grows, not on every add */
    }
    return 0;
}

static void
count_template(struct dec_msgctx *m)
{
    m->ctx->stats.templates++;
    m->exp->stats.templates++;
}

/*
 * Withdrawn ids are remembered (a small ring) until redefined: data that still arrives for
 * one is the exporter's error and is dropped, not parked, so that a later template with the
 * same id but another layout cannot misread it.
 */
static void
withdrawn_mark(struct dec_domain *d, uint16_t id, bool on)
{
    for (uint16_t i = 0; i < DEC_WITHDRAWN_MAX; i++) {
        if (d->withdrawn[i] == id) {
            d->withdrawn[i] = on ? id : 0; /* 0 is never a data template id */
            return;
        }
    }
    if (on) {
        d->withdrawn[d->withdrawn_next] = id;
        d->withdrawn_next = (uint16_t) ((d->withdrawn_next + 1u) % DEC_WITHDRAWN_MAX);
    }
}

bool
dec__tmpl_was_withdrawn(const struct dec_domain *d, uint16_t id)
{
    for (uint16_t i = 0; i < DEC_WITHDRAWN_MAX; i++) {
        if (d->withdrawn[i] == id) {
            return true;
        }
    }
    return false;
}

/*
 * Out of memory or over the budget: the template is lost, and the message's result says so
 * (-ENOMEM, or DEC_E_LIMIT for the budget, which dec__alloc counted).
 */
static int
nomem(struct dec_msgctx *m)
{
    int rc = dec__nomem(m->ctx);
    if (m->rc == 0 || m->rc == DEC_E_NOTEMPLATE) {
        m->rc = rc;
    }
    return rc;
}

int
dec__tmpl_add(struct dec_msgctx *m, uint16_t id, bool options, uint16_t nscope,
              const struct dec_field *fields, uint16_t nfields)
{
    struct dec_domain *d = m->dom;
    struct dec_tmpl *old = dec__tmpl_find(d, id);

    if (old != NULL && tmpl_same(old, m->version, options, nscope, fields, nfields)) {
        old->refreshed_ms = m->now_ms;
        count_template(m);
        dec__unpark(m, old);
        return 0;
    }
    if (old == NULL && m->exp->ntmpl >= m->ctx->cfg.tmpl_max) {
        dec__count(m, DEC_R_TMPL_LIMIT, DEC_E_LIMIT);
        return DEC_E_LIMIT;
    }
    struct dec_tmpl *t = tmpl_compile(m, id, options, nscope, fields, nfields);
    if (t == NULL) {
        return nomem(m);
    }
    if (t->min_len == 0) {
        /* Only zero-length fields: a record would take no space and never end. */
        dec__free(m->ctx, t);
        dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED);
        return DEC_E_MALFORMED;
    }
    t->refreshed_ms = m->now_ms;
    if (old != NULL) {
        m->ctx->stats.tmpl_changed++; /* events_src.c logs it */
        d->tmpls[d->last_hit] = t; /* dec__tmpl_find left last_hit on it */
        dec__free(m->ctx, old);
    } else {
        if (domain_reserve(m, d) != 0) {
            dec__free(m->ctx, t);
            return nomem(m);
        }
        d->tmpls[d->ntmpl++] = t;
        m->exp->ntmpl++;
        if (d->tmpl_pos != NULL) {
            d->tmpl_pos[id] = (uint16_t) d->ntmpl; /* index + 1: ids >= 256, so <= 65280 */
        }
    }
    withdrawn_mark(d, id, false);
    count_template(m);
    dec__unpark(m, t);
    return 0;
}

static void
tmpl_remove(struct dec_ctx *ctx, struct dec_exporter *e, struct dec_domain *d, uint32_t i)
{
    uint16_t id = d->tmpls[i]->id;

    dec__free(ctx, d->tmpls[i]);
    d->tmpls[i] = d->tmpls[--d->ntmpl];
    d->last_hit = 0;
    if (d->tmpl_pos != NULL) {
        d->tmpl_pos[id] = 0;
        if (i < d->ntmpl) {
            d->tmpl_pos[d->tmpls[i]->id] = (uint16_t) (i + 1u); /* moved into the gap */
        }
    }
    e->ntmpl--;
}

/* Withdraw one template, or with `all` every template of that kind (RFC 7011 §8.1). */
void
dec__tmpl_withdraw(struct dec_msgctx *m, uint16_t id, bool all, bool options)
{
    struct dec_domain *d = m->dom;

    for (uint32_t i = d->ntmpl; i > 0; i--) {
        struct dec_tmpl *t = d->tmpls[i - 1];
        if ((all && t->options == options) || (!all && t->id == id)) {
            withdrawn_mark(d, t->id, true);
            tmpl_remove(m->ctx, m->exp, d, i - 1);
            m->ctx->stats.withdrawals++;
            m->exp->stats.withdrawals++;
        }
    }
}

void
dec__tmpl_expire(struct dec_ctx *ctx, struct dec_exporter *e, uint64_t now_ms)
{
    for (uint32_t di = 0; di < e->ndomains; di++) {
        struct dec_domain *d = e->domains[di];
        for (uint32_t i = d->ntmpl; i > 0; i--) {
            if (now_ms > d->tmpls[i - 1]->refreshed_ms + ctx->cfg.tmpl_lifetime_ms) {
                tmpl_remove(ctx, e, d, i - 1);
                ctx->stats.tmpl_expired++;
                e->stats.tmpl_expired++;
            }
        }
    }
}

void
dec__domain_free(struct dec_ctx *ctx, struct dec_domain *d)
{
    for (uint32_t i = 0; i < d->ntmpl; i++) {
        dec__free(ctx, d->tmpls[i]);
    }
    dec__free(ctx, d->tmpls);
    dec__free(ctx, d->tmpl_pos);
    dec__free(ctx, d->ifnames);
    dec__free(ctx, d);
}

/* ---- snapshot ---- */

/* One snapshot entry being built; the longest is a template of DEC_MAX_FIELDS fields. */
struct snap_entry {
    uint8_t b[32 + 8 * DEC_MAX_FIELDS];
    size_t n;
};

/* Where the entries go, and how many bytes may still go there. */
struct snap_out {
    dec_write_fn *write;
    void *arg;
    size_t left;
};

static void
snap_put(struct snap_entry *w, uint64_t v, size_t n)
{
    flow_put_be(w->b + w->n, v, n);
    w->n += n;
}

static void
snap_bytes(struct snap_entry *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static int
snap_emit(struct snap_out *o, const struct snap_entry *w)
{
    if (w->n > o->left) {
        return DEC_E_SNAPSHOT;
    }
    o->left -= w->n;
    return o->write(o->arg, w->b, w->n);
}

static void
snap_head(struct snap_entry *w, uint8_t kind, const struct dec_exporter *e, uint32_t domain)
{
    w->n = 0;
    snap_put(w, kind, 1);
    snap_bytes(w, e->src.addr, 16);
    snap_put(w, e->src.port, 2);
    snap_put(w, e->src.transport, 1);
    snap_put(w, domain, 4);
}

/* A template is saved while its lifetime (UDP) has not run out at the latest now_ms. */
static bool
tmpl_live(const struct dec_ctx *ctx, const struct dec_exporter *e, const struct dec_tmpl *t)
{
    uint32_t life = ctx->cfg.tmpl_lifetime_ms;
    return e->src.transport != DEC_TR_UDP || life == 0 || ctx->now_ms <= t->refreshed_ms + life;
}

static bool
exporter_live(const struct dec_ctx *ctx, const struct dec_exporter *e)
{
    for (uint32_t di = 0; di < e->ndomains; di++) {
        const struct dec_domain *d = e->domains[di];
        for (uint32_t i = 0; i < d->ntmpl; i++) {
            if (tmpl_live(ctx, e, d->tmpls[i])) {
                return true;
            }
        }
    }
    return false;
}

static bool
domain_has_state(const struct dec_domain *d)
{
    return d->init_ms != 0 || d->sampling != 0 || d->instance_id[0] != '\0' || d->snid[0] != '\0' ||
           d->account_id[0] != '\0';
}

static int
save_template(struct snap_out *o, const struct dec_exporter *e, const struct dec_domain *d,
              const struct dec_tmpl *t)
{
    struct snap_entry w;

    snap_head(&w, 2, e, d->id);
    snap_put(&w, t->id, 2);
    snap_put(&w, t->version, 1);
    snap_put(&w, t->options, 1);
    snap_put(&w, t->nscope, 2);
    snap_put(&w, t->nfields, 2);
    for (uint16_t f = 0; f < t->nfields; f++) {
        snap_put(&w, t->fields[f].pen, 4);
        snap_put(&w, t->fields[f].id, 2);
        snap_put(&w, t->fields[f].len, 2);
    }
    return snap_emit(o, &w);
}

static int
save_domain(const struct dec_ctx *ctx, struct snap_out *o, const struct dec_exporter *e,
            const struct dec_domain *d)
{
    struct snap_entry w;
    int rc;

    if (domain_has_state(d)) {
        snap_head(&w, 1, e, d->id);
        snap_put(&w, d->init_ms, 8);
        snap_put(&w, d->sampling, 4);
        snap_bytes(&w, d->instance_id, FLOW_ID_MAX);
        snap_bytes(&w, d->snid, FLOW_ID_MAX);
        snap_bytes(&w, d->account_id, FLOW_ID_MAX);
        if ((rc = snap_emit(o, &w)) != 0) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < d->ntmpl; i++) {
        if (tmpl_live(ctx, e, d->tmpls[i]) && (rc = save_template(o, e, d, d->tmpls[i])) != 0) {
            return rc;
        }
    }
    return 0;
}

int
dec_tmpl_save(struct dec_ctx *ctx, dec_write_fn *write, void *arg)
{
    struct snap_out o = {.write = write, .arg = arg, .left = ctx->cfg.snapshot_max};
    struct snap_entry w = {.n = 0};
    int rc;

    snap_put(&w, SNAP_MAGIC, 4);
    snap_put(&w, SNAP_VERSION, 2);
    snap_put(&w, 0, 2);
    if ((rc = snap_emit(&o, &w)) != 0) {
        goto out;
    }
    /* Most recently heard first, so that a snapshot cut at its bound keeps those. */
    for (const struct dec_exporter *e = ctx->lru_tail; e != NULL; e = e->lru_prev) {
        if (!exporter_live(ctx, e)) {
            continue;
        }
        for (uint32_t d = 0; d < e->ndomains; d++) {
            if ((rc = save_domain(ctx, &o, e, e->domains[d])) != 0) {
                goto out;
            }
        }
    }
out:
    if (rc == DEC_E_SNAPSHOT) {
        ctx->stats.snapshot_truncated++;
    }
    return rc;
}

static void
get_str(struct rd *r, char *dst)
{
    const uint8_t *p = rd_take(r, FLOW_ID_MAX);
    if (p != NULL) {
        memcpy(dst, p, FLOW_ID_MAX);
        dst[FLOW_ID_MAX - 1] = '\0';
    }
}

static int
load_template(struct dec_msgctx *m, struct rd *r)
{
    struct dec_field fields[DEC_MAX_FIELDS];
    uint16_t id = rd_u16(r);
    uint8_t version = rd_u8(r);
    bool options = rd_u8(r) != 0;
    uint16_t nscope = rd_u16(r);
    uint16_t n = rd_u16(r);

    if (r->err || id < 256 || n == 0 || n > DEC_MAX_FIELDS || nscope > n ||
        (version != 9 && version != 10)) {
        return DEC_E_FORMAT; /* ids below 256 are set ids: never saved, never accepted */
    }
    for (uint16_t i = 0; i < n; i++) {
        fields[i].pen = rd_u32(r);
        fields[i].id = rd_u16(r);
        fields[i].len = rd_u16(r);
    }
    if (r->err) {
        return DEC_E_FORMAT;
    }
    m->version = version;
    int rc = dec__tmpl_add(m, id, options, nscope, fields, n);
    return rc == DEC_E_MALFORMED ? DEC_E_FORMAT : rc;
}

static int
load_entry(struct dec_ctx *ctx, struct rd *r, uint64_t now_ms)
{
    struct dec_src src = {0};
    uint8_t kind = rd_u8(r);
    const uint8_t *addr = rd_take(r, 16);

    src.port = rd_u16(r);
    src.transport = rd_u8(r);
    uint32_t domain = rd_u32(r);
    if (r->err || (kind != 1 && kind != 2)) {
        return DEC_E_FORMAT;
    }
    memcpy(src.addr, addr, 16);
    struct dec_msgctx m = {.ctx = ctx, .now_ms = now_ms};
    m.exp = dec__exporter_get(ctx, &src, now_ms, false);
    if (m.exp == NULL) {
        m.exp = dec__exporter_get(ctx, &src, now_ms, true);
        if (m.exp == NULL) {
            return dec__nomem(ctx);
        }
        /* The snapshot lists the most recent first: each newcomer is older than the last. */
        dec__exporter_oldest(ctx, m.exp);
    }
    m.dom = dec__domain_get(ctx, m.exp, domain, true);
    if (m.dom == NULL) {
        return m.exp->ndomains >= DEC_DOMAINS_MAX ? DEC_E_LIMIT : dec__nomem(ctx);
    }
    if (kind == 2) {
        return load_template(&m, r);
    }
    uint64_t init_hi = rd_u32(r);
    m.dom->init_ms = init_hi << 32 | rd_u32(r);
    m.dom->sampling = rd_u32(r);
    get_str(r, m.dom->instance_id);
    get_str(r, m.dom->snid);
    get_str(r, m.dom->account_id);
    return r->err ? DEC_E_FORMAT : 0;
}

int
dec_tmpl_load(struct dec_ctx *ctx, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    struct rd r = rd_make(buf, len);
    uint32_t magic = rd_u32(&r);
    uint16_t version = rd_u16(&r);

    (void) rd_u16(&r);
    if (r.err || magic != SNAP_MAGIC || version != SNAP_VERSION) {
        return DEC_E_FORMAT;
    }
    ctx->now_ms = now_ms > ctx->now_ms ? now_ms : ctx->now_ms;
    while (rd_left(&r) > 0) {
        int rc = load_entry(ctx, &r, now_ms);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
