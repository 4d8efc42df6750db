/* SPDX-License-Identifier: MIT */
/*
 * The writer's hash indexes (exporter clocks, windows, instances, known instance ids): open
 * addressing with linear probing over (hash, value) slots, where value is an index into the
 * owner's array and the owner's callback says whether an entry is the key looked for.
 * Deletion shifts the following entries back, so there are no tombstones and a lookup stops
 * at the first empty slot. The load stays at or below one half. Hashes are XXH3 with a seed
 * drawn when the writer starts, so that a sender cannot aim at one chain.
 *
 * Writer thread only (struct w_ingest); no allocation on a lookup.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <xxhash.h>

#include "flow_clock.h"
#include "writer_int.h"

uint64_t
stor__windex_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t) sizeof(seed)) {
        seed = flow_mono_ms() ^ (uint64_t) (uintptr_t) &seed;
    }
    return seed;
}

uint32_t
stor__windex_hash(uint64_t seed, const void *key, size_t len)
{
    return (uint32_t) XXH3_64bits_withSeed(key, len, seed);
}

static int
grow(struct w_index *x)
{
    size_t cap = x->mask ? (x->mask + 1) * 2 : 16;
    struct w_slot *s = calloc(cap, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; x->slots != NULL && i <= x->mask; i++) {
        if (x->slots[i].val1 == 0) {
            continue;
        }
        size_t j = x->slots[i].h & (cap - 1);
        while (s[j].val1 != 0) {
            j = (j + 1) & (cap - 1);
        }
        s[j] = x->slots[i];
    }
    free(x->slots);
    x->slots = s;
    x->mask = cap - 1;
    return 0;
}

/* The value whose entry eq accepts, or -1. Counts the entries it compares in *probes. */
long
stor__windex_find(const struct w_index *x, uint32_t h, stor__windex_eq *eq, const void *ctx,
                  uint64_t *probes)
{
    if (x->slots == NULL) {
        return -1;
    }
    for (size_t i = h & x->mask; x->slots[i].val1 != 0; i = (i + 1) & x->mask) {
        (*probes)++;
        if (x->slots[i].h == h && eq(ctx, x->slots[i].val1 - 1)) {
            return (long) (x->slots[i].val1 - 1);
        }
    }
    return -1;
}

int
stor__windex_put(struct w_index *x, uint32_t h, uint32_t val)
{
    if ((x->n + 1) * 2 > (x->slots ? x->mask + 1 : 0)) {
        int rc = grow(x);
        if (rc != 0) {
            return rc;
        }
    }
    size_t i = h & x->mask;
    while (x->slots[i].val1 != 0) {
        i = (i + 1) & x->mask;
    }
    x->slots[i] = (struct w_slot){val + 1, h};
    x->n++;
    return 0;
}

static size_t
slot_of(const struct w_index *x, uint32_t h, uint32_t val)
{
    size_t i = h & x->mask;
    while (x->slots[i].val1 != val + 1) {
        i = (i + 1) & x->mask; /* the entry is there: the caller put it */
    }
    return i;
}

/* Point the entry (h, from) at value to (the owner moved its element). */
void
stor__windex_move(struct w_index *x, uint32_t h, uint32_t from, uint32_t to)
{
    x->slots[slot_of(x, h, from)].val1 = to + 1;
}

/* Remove the entry (h, val), shifting back the entries after it that may move closer to
 * their home slot. */
void
stor__windex_del(struct w_index *x, uint32_t h, uint32_t val)
{
    size_t i = slot_of(x, h, val);
    for (size_t j = (i + 1) & x->mask; x->slots[j].val1 != 0; j = (j + 1) & x->mask) {
        size_t home = x->slots[j].h & x->mask;
        /* j may move to i when its home is not in the cyclic range (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            x->slots[i] = x->slots[j];
            i = j;
        }
    }
    x->slots[i] = (struct w_slot){0, 0};
    x->n--;
}

void
stor__windex_free(struct w_index *x)
{
    free(x->slots);
    *x = (struct w_index){0};
}
