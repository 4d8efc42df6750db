/* SPDX-License-Identifier: MIT */
/*
 * The flow cache. Entries are bidirectional (both directions of a conversation share one
 * entry; each side with packets is exported as its own unidirectional record), which is what
 * lets the cache see FIN in both directions and time the TCP handshake.
 *
 * Layout: one array of max_flows entries allocated up front (calloc'ed, so pages are only
 * touched as entries come into use), a free list threaded through it, and a chained hash
 * table of uint32 indexes with a power-of-two bucket count >= max_flows. Nothing is allocated
 * per packet or per flow.
 *
 * Expiry, and why it is exact although it is lazy:
 *  - Every packet checks its own entry first: if the entry has been quiet for idle_ms, or the
 *    record started active_ms ago, or a closed flow has been quiet for fin_ms, the old record
 *    is exported and the packet starts a new one. So record boundaries never depend on when
 *    a sweep runs.
 *  - Sweeps (probe_flowtab_expire, once a second) export flows that receive nothing more.
 *    Entries sit on one of two lists: "open", ordered by the second they were last moved to
 *    its tail (an entry moves at most once per second of packet time, which keeps list
 *    surgery off the per-packet path), and "closing" (FIN both ways or RST), in closing
 *    order. A sweep pops each list's head while it is due; the order is coarse by one second
 *    so an export may come up to a second late, never early.
 *  - When the cache is full, the head of the open list (least recently moved) is evicted:
 *    exported at once and counted.
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

struct list {
    uint32_t head; /* index + 1, 0 = empty */
    uint32_t tail;
};

struct probe_flowtab {
    struct probe_flowtab_cfg cfg;
    struct probe_flow *e; /* max_flows entries */
    uint32_t *bucket;     /* index + 1 */
    uint32_t mask;
    uint32_t used;     /* entries handed out from the array so far (bump allocation) */
    uint32_t free;     /* free list of returned entries, through hnext */
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
    /* Full: evict the least recently moved open flow (else the oldest closing one). */
    uint32_t victim = t->lists[LIST_OPEN].head != 0 ? t->lists[LIST_OPEN].head
                                                     : t->lists[LIST_CLOSING].head;
    entry_expire(t, at(t, victim), PROBE_WHY_EVICTED);
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
    } else if ((f->state & PROBE_ST_SYNACK) && f->rtt_us == 0 && (fl & (TH_SYN | TH_ACK)) == TH_ACK &&
               s == !!(f->state & PROBE_ST_SYNSIDE)) {
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

void
probe_flowtab_add(struct probe_flowtab *t, const struct probe_pkt *p, uint64_t ts_us)
{
    struct probe_flow k;
    uint64_t now_ms = ts_us / 1000;

    if (now_ms < t->now_ms) {
        /* A capture's clock stepped back: account the packet at the latest time seen, so
           records and the sweep stay ordered. */
        now_ms = t->now_ms;
        ts_us = now_ms * 1000;
    }
    t->now_ms = now_ms;
    int s = make_key(&k, p);
    uint32_t h = (uint32_t) XXH3_64bits(&k, PROBE_KEY_LEN);
    struct probe_flow *f = lookup(t, &k, h);
    if (f != NULL) {
        int why = record_due(t, f, now_ms);
        if (why >= 0) {
            entry_expire(t, f, (enum probe_why) why);
            f = NULL;
        }
    }
    if (f == NULL) {
        f = insert(t, &k, h, now_ms, p->v6);
    } else if (f->touch_s != (uint32_t) (now_ms / 1000) && !(f->state & PROBE_ST_CLOSING)) {
        list_unlink(t, f);
        list_append(t, f);
        f->touch_s = (uint32_t) (now_ms / 1000);
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

static uint64_t
last_of(const struct probe_flow *f)
{
    return f->start_ms + (f->last_ms[0] > f->last_ms[1] ? f->last_ms[0] : f->last_ms[1]);
}

void
probe_flowtab_expire(struct probe_flowtab *t, uint64_t now_ms)
{
    uint32_t ix;

    if (now_ms < t->now_ms) {
        now_ms = t->now_ms;
    }
    while ((ix = t->lists[LIST_CLOSING].head) != 0) {
        struct probe_flow *f = at(t, ix);
        if (now_ms < last_of(f) + t->cfg.fin_ms && now_ms < last_of(f) + t->cfg.idle_ms) {
            break;
        }
        entry_expire(t, f, PROBE_WHY_CLOSED);
    }
    while ((ix = t->lists[LIST_OPEN].head) != 0) {
        struct probe_flow *f = at(t, ix);
        if (now_ms < last_of(f) + t->cfg.idle_ms) {
            break;
        }
        entry_expire(t, f, PROBE_WHY_IDLE);
    }
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
