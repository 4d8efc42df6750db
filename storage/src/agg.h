/* SPDX-License-Identifier: MIT */
/* Aggregation of records by key within a window (agg.c). Private to storage/. */
#ifndef FLOWLOG_STOR_AGG_H
#define FLOWLOG_STOR_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

struct stor_agg_slot {
    uint32_t idx1; /* index into recs + 1; 0 = empty */
    uint32_t hash;
};

/* Records in arrival order of their first occurrence; recs[0..n) owned by the agg. */
struct stor_agg {
    bool aggregate; /* false: raw mode, every record kept */
    uint64_t seed;  /* of the key hash, drawn at init */
    struct flow_rec *recs;
    size_t n;
    size_t cap;
    struct stor_agg_slot *slots;
    size_t nslots;
};

void stor__agg_init(struct stor_agg *a, bool aggregate);
/* Add (merging into an equal key when aggregating). 0 or -ENOMEM. */
int stor__agg_add(struct stor_agg *a, const struct flow_rec *r);
/* Forget the records, keep the memory. */
void stor__agg_clear(struct stor_agg *a);
void stor__agg_free(struct stor_agg *a);

#endif
