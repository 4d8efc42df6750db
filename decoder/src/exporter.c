/* SPDX-License-Identifier: MIT */
/*
 * The exporter table: open addressing keyed by exporter address and port, hashed with XXH3
 * under the context's seed (dec_cfg.hash_seed, so that a sender cannot choose sources that
 * collide), with backward-shift deletion. Every exporter is also on a list ordered by when it
 * was last heard (least recently first), which decides who goes when room is needed:
 *
 *  - a UDP exporter idle for max(tmpl_lifetime_ms, pending_age_ms) is forgotten by
 *    dec_expire (its templates would have expired and its parked sets aged out anyway);
 *  - a newcomer to a full table (exporters_max) takes the place of the least recently heard
 *    exporter, never of the one whose message is being decoded, and of a TCP one only when
 *    no other can go;
 *  - past 3/4 of the memory budget, least recently heard exporters are forgotten until the
 *    context is below it again (dec__mem_reclaim).
 *
 * Forgetting an exporter frees everything it taught us: domains, templates, interface names
 * and parked sets. Observation domains are found by a linear scan: at most DEC_DOMAINS_MAX,
 * and nearly always one.
 */
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "dec_int.h"

static uint32_t
src_hash(const struct dec_ctx *ctx, const struct dec_src *s)
{
    uint8_t key[18];
    memcpy(key, s->addr, 16);
    key[16] = (uint8_t) (s->port >> 8);
    key[17] = (uint8_t) s->port;
    return (uint32_t) XXH3_64bits_withSeed(key, sizeof(key), ctx->cfg.hash_seed);
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
    uint32_t i = src_hash(ctx, s) & mask;
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
        return dec__nomem(ctx);
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

static void
lru_unlink(struct dec_ctx *ctx, struct dec_exporter *e)
{
    if (e->lru_prev != NULL) {
        e->lru_prev->lru_next = e->lru_next;
    } else {
        ctx->lru_head = e->lru_next;
    }
    if (e->lru_next != NULL) {
        e->lru_next->lru_prev = e->lru_prev;
    } else {
        ctx->lru_tail = e->lru_prev;
    }
    e->lru_prev = e->lru_next = NULL;
}

static void
lru_append(struct dec_ctx *ctx, struct dec_exporter *e)
{
    e->lru_prev = ctx->lru_tail;
    e->lru_next = NULL;
    if (ctx->lru_tail != NULL) {
        ctx->lru_tail->lru_next = e;
    } else {
        ctx->lru_head = e;
    }
    ctx->lru_tail = e;
}

/* The exporter was heard from: it goes to the end of the eviction order. */
static void
lru_touch(struct dec_ctx *ctx, struct dec_exporter *e)
{
    if (ctx->lru_tail != e) {
        lru_unlink(ctx, e);
        lru_append(ctx, e);
    }
}

void
dec__exporter_oldest(struct dec_ctx *ctx, struct dec_exporter *e)
{
    lru_unlink(ctx, e);
    e->lru_next = ctx->lru_head;
    if (ctx->lru_head != NULL) {
        ctx->lru_head->lru_prev = e;
    } else {
        ctx->lru_tail = e;
    }
    ctx->lru_head = e;
}

static void
exporter_free(struct dec_ctx *ctx, struct dec_exporter *e)
{
    for (uint32_t i = 0; i < e->ndomains; i++) {
        dec__domain_free(ctx, e->domains[i]);
    }
    dec__free(ctx, e->domains);
    dec__parked_free_all(ctx, e);
    dec__free(ctx, e->parked);
    dec__free(ctx, e);
}

/* Take the exporter in slot i out of the table and the list, and free it. */
static void
slot_remove(struct dec_ctx *ctx, uint32_t i)
{
    uint32_t mask = ctx->nslots - 1;

    lru_unlink(ctx, ctx->slots[i]);
    exporter_free(ctx, ctx->slots[i]);
    ctx->slots[i] = NULL;
    ctx->nexp--;
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    for (uint32_t j = (i + 1) & mask; ctx->slots[j] != NULL; j = (j + 1) & mask) {
        uint32_t home = src_hash(ctx, &ctx->slots[j]->src) & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            ctx->slots[i] = ctx->slots[j];
            ctx->slots[j] = NULL;
            i = j;
        }
    }
}

static void
exporter_remove(struct dec_ctx *ctx, struct dec_exporter *e)
{
    slot_remove(ctx, slot_find(ctx, &e->src));
}

/*
 * The exporter to evict: the least recently heard one other than `keep`, a UDP or file one
 * before any TCP one (a TCP exporter sends its templates once per session, so evicting it
 * would leave the rest of its session undecodable; TCP sessions are few, the collector caps
 * them, and they are forgotten when they close). NULL when only `keep` is left.
 */
static struct dec_exporter *
victim(const struct dec_ctx *ctx, const struct dec_exporter *keep)
{
    struct dec_exporter *tcp = NULL;

    for (struct dec_exporter *e = ctx->lru_head; e != NULL; e = e->lru_next) {
        if (e == keep) {
            continue;
        }
        if (e->src.transport != DEC_TR_TCP) {
            return e;
        }
        tcp = tcp != NULL ? tcp : e;
    }
    return tcp;
}

/* Forget the exporter victim() picks; false when none can go. */
static bool
evict_lru(struct dec_ctx *ctx, const struct dec_exporter *keep)
{
    struct dec_exporter *e = victim(ctx, keep);
    if (e == NULL) {
        return false;
    }
    exporter_remove(ctx, e);
    ctx->stats.exporters_evicted++;
    return true;
}

void
dec__mem_reclaim(struct dec_ctx *ctx, const struct dec_exporter *keep)
{
    uint64_t high = ctx->cfg.memory_max - ctx->cfg.memory_max / 4u;
    while (ctx->mem_used > high && evict_lru(ctx, keep)) {
    }
}

static struct dec_exporter *
exporter_new(struct dec_ctx *ctx, const struct dec_src *src, uint64_t now_ms)
{
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
    return e;
}

/*
 * Find the exporter of src, with create making it when it is new. Finding one counts as
 * hearing from it (it moves to the end of the eviction order). A newcomer to a full table
 * takes the place of the least recently heard exporter.
 */
struct dec_exporter *
dec__exporter_get(struct dec_ctx *ctx, const struct dec_src *src, uint64_t now_ms, bool create)
{
    uint32_t i = slot_find(ctx, src);
    if (ctx->slots[i] != NULL) {
        if (create) {
            lru_touch(ctx, ctx->slots[i]);
        }
        return ctx->slots[i];
    }
    if (!create) {
        return NULL;
    }
    dec__mem_reclaim(ctx, NULL);
    while (ctx->nexp >= ctx->cfg.exporters_max && evict_lru(ctx, NULL)) {
    }
    if (2u * (ctx->nexp + 1) > ctx->nslots && table_grow(ctx) != 0) {
        return NULL;
    }
    struct dec_exporter *e = exporter_new(ctx, src, now_ms);
    if (e == NULL) {
        return NULL;
    }
    ctx->slots[slot_find(ctx, src)] = e; /* found again: the table may have grown */
    ctx->nexp++;
    lru_append(ctx, e);
    return e;
}

void
dec_exporter_forget(struct dec_ctx *ctx, const struct dec_src *src)
{
    uint32_t i = slot_find(ctx, src);

    if (ctx->slots[i] != NULL) {
        slot_remove(ctx, i);
        ctx->stats.exporters_forgotten++;
    }
}

int
dec_exporter_forget_addr(struct dec_ctx *ctx, const uint8_t addr[16], int port)
{
    int n = 0;

    for (struct dec_exporter *e = ctx->lru_head, *next; e != NULL; e = next) {
        next = e->lru_next;
        if (memcmp(e->src.addr, addr, 16) == 0 && (port < 0 || e->src.port == port)) {
            exporter_remove(ctx, e);
            ctx->stats.exporters_forgotten++;
            n++;
        }
    }
    return n;
}

struct dec_domain *
dec__domain_get(struct dec_ctx *ctx, struct dec_exporter *e, uint32_t id, bool create)
{
    for (uint32_t i = 0; i < e->ndomains; i++) {
        if (e->domains[i]->id == id) {
            return e->domains[i];
        }
    }
    if (!create || e->ndomains >= DEC_DOMAINS_MAX) {
        return NULL;
    }
    if (e->ndomains == e->dom_cap) {
        uint32_t cap = e->dom_cap ? e->dom_cap * 2u : 4u;
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

/* How long the exporter may be idle before dec_expire forgets it; 0 = never. */
static uint64_t
idle_limit_ms(const struct dec_ctx *ctx, const struct dec_exporter *e)
{
    const struct dec_cfg *c = &ctx->cfg;
    if (e->src.transport != DEC_TR_UDP || c->tmpl_lifetime_ms == 0) {
        return 0;
    }
    return c->tmpl_lifetime_ms > c->pending_age_ms ? c->tmpl_lifetime_ms : c->pending_age_ms;
}

void
dec_expire(struct dec_ctx *ctx, uint64_t now_ms)
{
    ctx->now_ms = now_ms > ctx->now_ms ? now_ms : ctx->now_ms;
    for (struct dec_exporter *e = ctx->lru_head, *next; e != NULL; e = next) {
        next = e->lru_next;
        uint64_t limit = idle_limit_ms(ctx, e);
        /* Compared by addition: a clock that stepped back must not expire everyone. */
        if (limit != 0 && now_ms > e->last_ms + limit) {
            exporter_remove(ctx, e);
            ctx->stats.exporters_expired++;
            continue;
        }
        dec__parked_expire(ctx, e, now_ms);
        if (e->src.transport == DEC_TR_UDP && ctx->cfg.tmpl_lifetime_ms != 0) {
            dec__tmpl_expire(ctx, e, now_ms);
        }
    }
}

static void
info_fill(const struct dec_ctx *ctx, const struct dec_exporter *e, struct dec_exporter_info *info)
{
    memset(info, 0, sizeof(*info));
    info->src = e->src;
    info->version = e->version;
    info->first_ms = e->first_ms;
    info->last_ms = e->last_ms;
    info->idle_ms = ctx->now_ms > e->last_ms ? ctx->now_ms - e->last_ms : 0;
    info->expire_ms = idle_limit_ms(ctx, e);
    info->templates = e->ntmpl;
    info->domains = e->ndomains;
    info->pending_sets = e->nparked;
    info->stats = e->stats;
    for (uint32_t d = 0; d < e->ndomains; d++) {
        if (e->domains[d]->sampling > 1) {
            info->sampling = e->domains[d]->sampling;
        }
    }
}

int
dec_exporter_each(const struct dec_ctx *ctx, dec_exporter_fn *fn, void *arg)
{
    for (uint32_t i = 0; i < ctx->nslots; i++) {
        if (ctx->slots[i] == NULL) {
            continue;
        }
        struct dec_exporter_info info;
        info_fill(ctx, ctx->slots[i], &info);
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
dec__exporters_free(struct dec_ctx *ctx)
{
    for (struct dec_exporter *e = ctx->lru_head, *next; e != NULL; e = next) {
        next = e->lru_next;
        exporter_free(ctx, e);
    }
    ctx->lru_head = ctx->lru_tail = NULL;
    ctx->nexp = 0;
}
