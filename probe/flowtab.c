/* SPDX-License-Identifier: MIT */
/*
 * The flow cache. Entries are bidirectional (both directions of a conversation share one
 * entry; each side with packets is exported as its own unidirectional record), which is what
 * lets the cache see FIN in both directions and time the TCP handshake.
 *
 * Layout: one array of max_flows entries allocated up front (calloc'ed, so pages are only
 * touched as entries come into use), a free list threaded through it, and a chained hash
 * table of uint32 indexes with a power-of-two bucket count >= max_flows, hashed with XXH3
 * under the per-process seed cfg.seed (keys are chosen by whoever sends packets). Nothing is
 * allocated per packet or per flow.
 *
 * Expiry, and why record boundaries are exact although expiry is lazy:
 *  - Every packet checks its own entry first: if the entry has been quiet for idle_ms, or the
 *    record started active_ms ago, or a closed flow has been quiet for fin_ms, the old record
 *    is exported and the packet starts a new one. So record boundaries never depend on when
 *    a sweep runs, and the per-packet path does no list surgery at all.
 *  - Sweeps (probe_flowtab_expire, once a second) export the flows that receive nothing
 *    more. Entries sit on one of two FIFO lists, "open" and "closing" (FIN both ways or
 *    RST), in the order they were queued (touch_s). A sweep pops heads whose queue time is
 *    a timeout old: a head that is due is exported; one that saw packets since is queued
 *    again at the tail. Each entry is looked at about once per timeout instead of being moved
 *    on every packet; the price is that an export can come later than due (by less than
 *    one timeout, as for routers that scan their cache), never earlier.
 *  - When the cache is full, the open list's head is evicted, after up to SECOND_CHANCES
 *    heads that saw packets since they were queued have been requeued (CLOCK-style
 *    approximate LRU). Evicted flows are exported at once and counted.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "probe.h"

#define TH_FIN 0x01u
#define TH_SYN 0x02u
#define TH_RST 0x04u
#define TH_ACK 0x10u

enum { LIST_OPEN = 0, LIST_CLOSING = 1 };

#define SECOND_CHANCES 8

struct list {
    uint32_t head; /* index + 1, 0 = empty */
    uint32_t tail;
};

struct probe_flowtab {
    struct probe_flowtab_cfg cfg;
    struct probe_flow *e; /* max_flows entries */
    uint32_t *bucket;     /* index + 1 */
    uint32_t mask;
    uint32_t used; /* entries handed out from the array so far (bump allocation) */
    uint32_t free; /* free list of returned entries, through hnext */
    struct list lists[2];
    uint64_t now_ms; /* latest packet time seen: timestamps never go backwards here */
    probe_expire_fn *fn;
    void *arg;
    struct probe_flowtab_stats st;
};

int
probe_flowtab_create(struct probe_flowtab **out, const struct probe_flowtab_cfg *cfg,
                     probe_expire_fn *fn, void *arg)
{
    if (cfg->max_flows == 0 || cfg->max_flows > (1u << 30) || cfg->idle_ms == 0 ||
        cfg->active_ms == 0) {
        return PROBE_E_CONFIG;
    }
    struct probe_flowtab *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->cfg = *cfg;
    uint32_t nb = 1;
    while (nb < cfg->max_flows) {
        nb <<= 1;
    }
    t->mask = nb - 1;
    t->e = calloc(cfg->max_flows, sizeof(*t->e));
    if (t->e == NULL) {
        goto free_t;
    }
    t->bucket = calloc(nb, sizeof(*t->bucket));
    if (t->bucket == NULL) {
        goto free_e;
    }
    t->fn = fn;
    t->arg = arg;
    *out = t;
    return 0;
free_e:
    free(t->e);
free_t:
    free(t);
    return -ENOMEM;
}

void
probe_flowtab_destroy(struct probe_flowtab *t)
{
    if (t == NULL) {
        return;
    }
    free(t->bucket);
    free(t->e);
    free(t);
}

const struct probe_flowtab_stats *
probe_flowtab_stats(const struct probe_flowtab *t)
{
    return &t->st;
}

/* ---- lists ---- */

static struct probe_flow *
at(const struct probe_flowtab *t, uint32_t ix1)
{
    return &t->e[ix1 - 1];
}

static uint32_t
ix_of(const struct probe_flowtab *t, const struct probe_flow *f)
{
    return (uint32_t) (f - t->e) + 1;
}

static struct list *
list_of(struct probe_flowtab *t, const struct probe_flow *f)
{
    return &t->lists[(f->state & PROBE_ST_CLOSING) ? LIST_CLOSING : LIST_OPEN];
}

static void
list_unlink(struct probe_flowtab *t, struct probe_flow *f)
{
    struct list *l = list_of(t, f);

    if (f->lprev != 0) {
        at(t, f->lprev)->lnext = f->lnext;
    } else {
        l->head = f->lnext;
    }
    if (f->lnext != 0) {
        at(t, f->lnext)->lprev = f->lprev;
    } else {
        l->tail = f->lprev;
    }
    f->lprev = f->lnext = 0;
}

static void
list_append(struct probe_flowtab *t, struct probe_flow *f)
{
    struct list *l = list_of(t, f);
    uint32_t ix = ix_of(t, f);

    f->lprev = l->tail;
    f->lnext = 0;
    if (l->tail != 0) {
        at(t, l->tail)->lnext = ix;
    } else {
        l->head = ix;
    }
    l->tail = ix;
}

/* ---- hash ---- */

static void
hash_unlink(struct probe_flowtab *t, struct probe_flow *f)
{
    uint32_t *pp = &t->bucket[f->hash & t->mask];
    uint32_t ix = ix_of(t, f);

    while (*pp != ix) {
        assert(*pp != 0);
        pp = &at(t, *pp)->hnext;
    }
    *pp = f->hnext;
}

/* Export the flow's record(s) and free the entry. */
static void
entry_expire(struct probe_flowtab *t, struct probe_flow *f, enum probe_why why)
{
    t->st.expired[why]++;
    t->fn(t->arg, f, why);
    list_unlink(t, f);
    hash_unlink(t, f);
    f->hnext = t->free;
    t->free = ix_of(t, f);
    t->st.active--;
}

static uint64_t
last_of(const struct probe_flow *f)
{
    return f->start_ms + (f->last_ms[0] > f->last_ms[1] ? f->last_ms[0] : f->last_ms[1]);
}

/* Back to the tail of its list, queued now (at the latest packet time). */
static void
requeue(struct probe_flowtab *t, struct probe_flow *f)
{
    list_unlink(t, f);
    list_append(t, f);
    f->touch_s = (uint32_t) (t->now_ms / 1000);
}

static struct probe_flow *
entry_new(struct probe_flowtab *t)
{
    if (t->free != 0) {
        struct probe_flow *f = at(t, t->free);
        t->free = f->hnext;
        return f;
    }
    if (t->used < t->cfg.max_flows) {
        return &t->e[t->used++];
    }
    /* Full: evict from the head of the open list (else the closing list), giving a flow
       that saw packets since it was queued a second chance (CLOCK-style approximate LRU,
       at most SECOND_CHANCES requeues per eviction). */
    struct list *l = &t->lists[t->lists[LIST_OPEN].head != 0 ? LIST_OPEN : LIST_CLOSING];
    struct probe_flow *v = at(t, l->head);
    for (int i = 0; i < SECOND_CHANCES && last_of(v) / 1000 > v->touch_s && l->head != l->tail;
         i++) {
        requeue(t, v);
        v = at(t, l->head);
    }
    entry_expire(t, v, PROBE_WHY_EVICTED);
    struct probe_flow *f = at(t, t->free);
    t->free = f->hnext;
    return f;
}

/* ---- packets ---- */

/* The canonical key: side 0 is the (address, port) that sorts lower. Returns the packet's
   side. */
static int
make_key(struct probe_flow *k, const struct probe_pkt *p)
{
    int c = memcmp(p->src, p->dst, 16);
    int s = c < 0 || (c == 0 && p->sport <= p->dport) ? 0 : 1;

    memcpy(k->addr[s], p->src, 16);
    memcpy(k->addr[1 - s], p->dst, 16);
    k->port[s] = p->sport;
    k->port[1 - s] = p->dport;
    k->proto = p->proto;
    return s;
}

/* Start a new record in f (key already set) at ts. */
static void
record_start(struct probe_flowtab *t, struct probe_flow *f, uint64_t now_ms, bool v6)
{
    /* Zero the record's state and counters; the key, hash and links are the caller's. */
    memset(&f->state, 0, offsetof(struct probe_flow, hnext) - offsetof(struct probe_flow, state));
    memset(&f->rtt_us, 0, sizeof(*f) - offsetof(struct probe_flow, rtt_us));
    f->state = v6 ? PROBE_ST_V6 : 0;
    f->start_ms = now_ms;
    f->touch_s = (uint32_t) (now_ms / 1000);
    t->st.flows++;
}

/* Why the packet at now_ms cannot join f's record, or -1 when it can. */
static int
record_due(const struct probe_flowtab *t, const struct probe_flow *f, uint64_t now_ms)
{
    uint64_t last = f->start_ms + (f->last_ms[0] > f->last_ms[1] ? f->last_ms[0] : f->last_ms[1]);

    if ((f->state & PROBE_ST_CLOSING) && now_ms >= last + t->cfg.fin_ms) {
        return PROBE_WHY_CLOSED;
    }
    if (now_ms >= last + t->cfg.idle_ms) {
        return PROBE_WHY_IDLE;
    }
    if (now_ms >= f->start_ms + t->cfg.active_ms || f->packets[0] == UINT32_MAX ||
        f->packets[1] == UINT32_MAX) {
        return PROBE_WHY_ACTIVE;
    }
    return -1;
}

/* TCP: the handshake clock and the closing state. */
static void
tcp_track(struct probe_flowtab *t, struct probe_flow *f, int s, uint8_t fl, uint64_t ts_us)
{
    uint64_t rel_us = ts_us - f->start_ms * 1000;

    if ((fl & (TH_SYN | TH_ACK)) == TH_SYN) {
        /* The client's SYN (a retransmission restarts the clock: Karn's ambiguity). */
        f->state = (uint8_t) ((f->state & ~(PROBE_ST_SYNSIDE | PROBE_ST_SYNACK)) | PROBE_ST_SYN |
                              (s ? PROBE_ST_SYNSIDE : 0));
        f->syn_us = rel_us > UINT32_MAX ? UINT32_MAX : (uint32_t) rel_us;
        f->rtt_us = 0;
    } else if ((f->state & PROBE_ST_SYN) && (fl & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) &&
               s != !!(f->state & PROBE_ST_SYNSIDE)) {
        f->state |= PROBE_ST_SYNACK;
    } else if ((f->state & PROBE_ST_SYNACK) && f->rtt_us == 0 &&
               (fl & (TH_SYN | TH_ACK)) == TH_ACK && s == !!(f->state & PROBE_ST_SYNSIDE)) {
        /* The client's first ACK: SYN -> SYN+ACK -> ACK is one full round trip as seen from
           any point on the path. */
        uint64_t rtt = rel_us > f->syn_us ? rel_us - f->syn_us : 1;
        f->rtt_us = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t) (rtt == 0 ? 1 : rtt);
    }
    f->state |= (fl & TH_FIN) ? (s ? PROBE_ST_FIN1 : PROBE_ST_FIN0) : 0;
    f->state |= (fl & TH_RST) ? PROBE_ST_RST : 0;
    bool closed = (f->state & PROBE_ST_RST) ||
                  (f->state & (PROBE_ST_FIN0 | PROBE_ST_FIN1)) == (PROBE_ST_FIN0 | PROBE_ST_FIN1);
    if (closed && !(f->state & PROBE_ST_CLOSING)) {
        list_unlink(t, f);
        f->state |= PROBE_ST_CLOSING;
        list_append(t, f);
        f->touch_s = (uint32_t) (t->now_ms / 1000);
    }
}

static struct probe_flow *
lookup(struct probe_flowtab *t, const struct probe_flow *k, uint32_t h)
{
    uint32_t ix = t->bucket[h & t->mask];

    while (ix != 0) {
        struct probe_flow *f = at(t, ix);
        if (f->hash == h && memcmp(f, k, PROBE_KEY_LEN) == 0) {
            return f;
        }
        ix = f->hnext;
    }
    return NULL;
}

static struct probe_flow *
insert(struct probe_flowtab *t, const struct probe_flow *k, uint32_t h, uint64_t now_ms, bool v6)
{
    struct probe_flow *f = entry_new(t);

    memcpy(f, k, PROBE_KEY_LEN);
    f->hash = h;
    record_start(t, f, now_ms, v6);
    uint32_t *b = &t->bucket[h & t->mask];
    f->hnext = *b;
    *b = ix_of(t, f);
    list_append(t, f);
    t->st.active++;
    return f;
}

/* Account one packet whose key, hash and side are computed. */
static void
add_keyed(struct probe_flowtab *t, const struct probe_pkt *p, uint64_t ts_us,
          const struct probe_flow *k, uint32_t h, int s)
{
    uint64_t now_ms = ts_us / 1000;

    if (now_ms < t->now_ms) {
        /* A capture's clock stepped back: account the packet at the latest time seen, so
           records and the sweep stay ordered. */
        now_ms = t->now_ms;
        ts_us = now_ms * 1000;
    }
    t->now_ms = now_ms;
    struct probe_flow *f = lookup(t, k, h);
    if (f != NULL) {
        int why = record_due(t, f, now_ms);
        if (why >= 0) {
            entry_expire(t, f, (enum probe_why) why);
            f = NULL;
        }
    }
    if (f == NULL) {
        f = insert(t, k, h, now_ms, p->v6);
    }
    uint32_t rel = (uint32_t) (now_ms - f->start_ms);
    if (f->packets[s] == 0) {
        f->first_ms[s] = rel;
    }
    f->last_ms[s] = rel;
    f->packets[s]++;
    f->bytes[s] += p->len;
    f->tos[s] = p->tos;
    f->tcp_flags[s] |= p->tcp_flags;
    if (p->proto == 6) {
        tcp_track(t, f, s, p->tcp_flags, ts_us);
    }
    t->st.packets++;
}

/*
 * The cache is far bigger than the CPU caches, so each packet would wait on two memory
 * loads in a row (its bucket, then its entry). A batch computes every key and hash first and
 * prefetches the buckets, then prefetches the first entry of each chain, then accounts the
 * packets in order: the loads overlap instead of queueing.
 */
void
probe_flowtab_add_batch(struct probe_flowtab *t, const struct probe_pkt *p, const uint64_t *ts_us,
                        size_t n)
{
    struct probe_flow k[PROBE_BATCH];
    uint32_t h[PROBE_BATCH];
    int s[PROBE_BATCH];

    assert(n <= PROBE_BATCH);
    for (size_t i = 0; i < n; i++) {
        s[i] = make_key(&k[i], &p[i]);
        h[i] = (uint32_t) XXH3_64bits_withSeed(&k[i], PROBE_KEY_LEN, t->cfg.seed);
        __builtin_prefetch(&t->bucket[h[i] & t->mask]);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t ix = t->bucket[h[i] & t->mask];
        if (ix != 0) {
            __builtin_prefetch(at(t, ix));
        }
    }
    for (size_t i = 0; i < n; i++) {
        add_keyed(t, &p[i], ts_us[i], &k[i], h[i], s[i]);
    }
}

void
probe_flowtab_add(struct probe_flowtab *t, const struct probe_pkt *p, uint64_t ts_us)
{
    probe_flowtab_add_batch(t, p, &ts_us, 1);
}

/*
 * Sweep one list. Entries sit in the order they were queued (touch_s, non-decreasing), and
 * an entry is never due before touch_s + its timeout, so the sweep stops at the first head
 * queued too recently to be due; a head that is not due (it saw packets since it was queued)
 * goes back to the tail, queued now. Each entry is requeued at most once per timeout.
 */
static void
sweep(struct probe_flowtab *t, int which, uint32_t timeout_ms, enum probe_why why, uint64_t now_ms)
{
    uint32_t ix;

    while ((ix = t->lists[which].head) != 0) {
        struct probe_flow *f = at(t, ix);
        if ((uint64_t) f->touch_s * 1000 + timeout_ms > now_ms) {
            break;
        }
        if (last_of(f) + timeout_ms <= now_ms) {
            entry_expire(t, f, why);
        } else {
            requeue(t, f);
        }
    }
}

void
probe_flowtab_expire(struct probe_flowtab *t, uint64_t now_ms)
{
    if (now_ms < t->now_ms) {
        now_ms = t->now_ms;
    }
    t->now_ms = now_ms;
    uint32_t fin = t->cfg.fin_ms < t->cfg.idle_ms ? t->cfg.fin_ms : t->cfg.idle_ms;
    sweep(t, LIST_CLOSING, fin, PROBE_WHY_CLOSED, now_ms);
    sweep(t, LIST_OPEN, t->cfg.idle_ms, PROBE_WHY_IDLE, now_ms);
}

void
probe_flowtab_flush(struct probe_flowtab *t)
{
    for (int l = 0; l < 2; l++) {
        while (t->lists[l].head != 0) {
            entry_expire(t, at(t, t->lists[l].head), PROBE_WHY_END);
        }
    }
}

bool
probe_flow_rec(const struct probe_flow *f, int s, struct flow_rec *r)
{
    if (f->packets[s] == 0) {
        return false;
    }
    memset(r, 0, sizeof(*r));
    memcpy(r->srcaddr, f->addr[s], 16);
    memcpy(r->dstaddr, f->addr[1 - s], 16);
    r->srcport = f->port[s];
    r->dstport = f->port[1 - s];
    r->protocol = f->proto;
    r->tos = f->tos[s];
    r->tcp_flags = f->tcp_flags[s];
    r->packets = f->packets[s];
    r->bytes = f->bytes[s];
    r->start_ms = f->start_ms + f->first_ms[s];
    r->end_ms = f->start_ms + f->last_ms[s];
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS |
                 FLOW_HAS_TOS;
    if (f->rtt_us != 0) {
        r->rtt_us = f->rtt_us;
        r->present |= FLOW_HAS_RTT;
    }
    return true;
}
