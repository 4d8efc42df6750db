/* SPDX-License-Identifier: MIT */
/*
 * Exporter clocks, on the writer thread: one per exporter (address, port), in an array with a
 * free list and a seeded hash index (windex.c), so a lookup costs the same with ten exporters
 * or thousands. A clock is the export time of the exporter's headers, taken within bounds
 * (W_CLOCK_SKEW_MS); seal.c asks them whether a window is due.
 *
 * Bounds: at most W_CLOCK_MAX clocks (an exporter beyond it is untracked: it does not hold
 * windows open, and is counted in store-clocks-full); a clock unheard for W_CLOCK_IDLE_MS that
 * no open window lists as a contributor is forgotten (store-clocks-evicted).
 */
#include <stdlib.h>
#include <string.h>

#include "writer_int.h"

struct clock_key {
    const struct w_ingest *in;
    const uint8_t *addr;
    uint16_t port;
};

static bool
clock_is(const void *ctx, uint32_t val)
{
    const struct clock_key *k = ctx;
    const struct w_clock *c = &k->in->clocks[val];
    return c->port == k->port && memcmp(c->addr, k->addr, 16) == 0;
}

static uint32_t
clock_hash(const struct w_ingest *in, const uint8_t addr[16], uint16_t port)
{
    uint8_t key[18];
    memcpy(key, addr, 16);
    key[16] = (uint8_t) (port >> 8);
    key[17] = (uint8_t) port;
    return stor__windex_hash(in->seed, key, sizeof(key));
}

/* A free slot of the array (reused or new), or UINT16_MAX at the bound or without memory. */
static uint16_t
clock_slot(struct w_ingest *in)
{
    if (in->nclock_free > 0) {
        return in->clock_free[--in->nclock_free];
    }
    if (in->nclocks == in->clocks_cap) {
        size_t cap = in->clocks_cap ? in->clocks_cap * 2 : 16;
        cap = cap > W_CLOCK_MAX ? W_CLOCK_MAX : cap;
        if (cap == in->clocks_cap) {
            return UINT16_MAX;
        }
        struct w_clock *c = realloc(in->clocks, cap * sizeof(*c));
        uint16_t *f = c != NULL ? realloc(in->clock_free, cap * sizeof(*f)) : NULL;
        if (c != NULL) {
            in->clocks = c;
        }
        if (f == NULL) {
            return UINT16_MAX;
        }
        in->clock_free = f;
        in->clocks_cap = cap;
    }
    return (uint16_t) in->nclocks++;
}

/* The clock of an exporter (made when first heard of), or UINT16_MAX: untracked. */
uint16_t
stor__clock_get(struct w_ingest *in, const uint8_t addr[16], uint16_t port)
{
    struct clock_key k = {in, addr, port};
    uint32_t h = clock_hash(in, addr, port);
    in->lookups++;
    long found = stor__windex_find(&in->clock_idx, h, clock_is, &k, &in->probes);
    if (found >= 0) {
        return (uint16_t) found;
    }
    uint16_t i = clock_slot(in);
    if (i == UINT16_MAX) {
        in->counts.clocks_full++;
        return UINT16_MAX;
    }
    if (stor__windex_put(&in->clock_idx, h, i) != 0) {
        in->clock_free[in->nclock_free++] = i;
        in->counts.clocks_full++;
        return UINT16_MAX;
    }
    struct w_clock *c = &in->clocks[i];
    memset(c, 0, sizeof(*c));
    memcpy(c->addr, addr, 16);
    c->port = port;
    c->used = true;
    c->h = h;
    return i;
}

/*
 * Move an exporter's clock to a header's export time, within bounds (W_CLOCK_SKEW_MS): never
 * past the receive time plus a small skew, and never by more than one window and its grace
 * in one message. A clamped header is counted (store-clock-clamped); the clock still moves
 * as far as the bounds let it, so a real jump (replay, an exporter back from an outage) is
 * caught up in a few messages. Headers far behind the clock, W_CLOCK_BACK_N in a row, reset
 * it (store-clock-resets): the exporter's clock was set back.
 */
void
stor__clock_advance(const struct stor_cfg *cfg, struct w_ingest *in, struct w_clock *c,
                    uint64_t export_ms, uint64_t recv_ms)
{
    uint64_t t = export_ms;
    uint64_t step_ms = (600u + (uint64_t) cfg->grace_s) * 1000u;
    if (export_ms != 0 && export_ms + W_CLOCK_BACK_MS < c->clock_ms) {
        if (++c->behind < W_CLOCK_BACK_N) {
            return; /* one late header (reordering, a spoof) does not move it back */
        }
        c->clock_ms = 0; /* reset: taken from these headers on */
        in->counts.clock_resets++;
    }
    c->behind = 0;
    if (t > recv_ms + W_CLOCK_SKEW_MS) {
        t = recv_ms + W_CLOCK_SKEW_MS;
    }
    if (c->clock_ms != 0 && t > c->clock_ms + step_ms) {
        t = c->clock_ms + step_ms;
    }
    in->counts.clock_clamped += t != export_ms;
    if (t > c->clock_ms) {
        c->clock_ms = t;
    }
}

/*
 * May the exporter add records to window (flowlog, start_s)? Yes when it already has records
 * there or has fewer than W_FANOUT_MAX open windows; windows the writer has forgotten since
 * (sealed and committed) no longer count.
 */
bool
stor__clock_fanout_ok(struct w_ingest *in, struct w_clock *c, uint16_t flowlog, uint32_t start_s)
{
    for (unsigned i = 0; i < c->nfan; i++) {
        if (c->fan_start[i] == start_s && c->fan_fl[i] == flowlog) {
            return true;
        }
    }
    if (c->nfan == W_FANOUT_MAX) {
        unsigned keep = 0;
        for (unsigned i = 0; i < c->nfan; i++) {
            if (stor__win_find(in, c->fan_fl[i], c->fan_start[i]) != NULL) {
                c->fan_fl[keep] = c->fan_fl[i];
                c->fan_start[keep++] = c->fan_start[i];
            }
        }
        c->nfan = (uint8_t) keep;
    }
    if (c->nfan == W_FANOUT_MAX) {
        return false;
    }
    c->fan_fl[c->nfan] = flowlog;
    c->fan_start[c->nfan++] = start_s;
    return true;
}

/* Forget clocks unheard for W_CLOCK_IDLE_MS that hold no window (once per writer tick). */
void
stor__clocks_sweep(struct w_ingest *in, uint64_t now_ms)
{
    for (size_t i = 0; i < in->nclocks; i++) {
        struct w_clock *c = &in->clocks[i];
        if (!c->used || c->refs > 0 || c->heard_ms + W_CLOCK_IDLE_MS > now_ms) {
            continue;
        }
        stor__windex_del(&in->clock_idx, c->h, (uint32_t) i);
        c->used = false;
        in->clock_free[in->nclock_free++] = (uint16_t) i;
        in->counts.clocks_evicted++;
    }
}

void
stor__clocks_free(struct w_ingest *in)
{
    free(in->clocks);
    free(in->clock_free);
    stor__windex_free(&in->clock_idx);
}
