/* SPDX-License-Identifier: MIT */
/*
 * Aggregation within a capture window (DESIGN.md §4): records with the same key — identity
 * (exporter, domain, instance-id), 5-tuple, direction, action, inport, outport, tos and
 * log-status — become one: packets and bytes summed, start the minimum, end the maximum,
 * tcp-flags OR'ed. An open-addressing table of indexes into a growing record array, keyed by
 * XXH3 of the packed key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "agg.h"

/* The bytes that make a record's key, packed; returns the length. */
static size_t
key_pack(const struct flow_rec *r, uint8_t *k)
{
    uint8_t *p = k;
    memcpy(p, r->exporter, 16);
    memcpy(p + 16, r->srcaddr, 16);
    memcpy(p + 32, r->dstaddr, 16);
    p += 48;
    memcpy(p, &r->domain, 4);
    memcpy(p + 4, &r->inport, 4);
    memcpy(p + 8, &r->outport, 4);
    memcpy(p + 12, &r->srcport, 2);
    memcpy(p + 14, &r->dstport, 2);
    p[16] = r->protocol;
    p[17] = r->direction;
    p[18] = r->action;
    p[19] = r->tos;
    p[20] = r->log_status;
    p += 21;
    size_t n = strnlen(r->instance_id, FLOW_ID_MAX - 1);
    memcpy(p, r->instance_id, n);
    return (size_t) (p - k) + n;
}

static bool
same_key(const struct flow_rec *a, const struct flow_rec *b)
{
    return a->srcport == b->srcport && a->dstport == b->dstport && a->protocol == b->protocol &&
           a->direction == b->direction && a->action == b->action && a->tos == b->tos &&
           a->log_status == b->log_status && a->inport == b->inport && a->outport == b->outport &&
           a->domain == b->domain && memcmp(a->srcaddr, b->srcaddr, 16) == 0 &&
           memcmp(a->dstaddr, b->dstaddr, 16) == 0 && memcmp(a->exporter, b->exporter, 16) == 0 &&
           strcmp(a->instance_id, b->instance_id) == 0;
}

void
stor__agg_init(struct stor_agg *a, bool aggregate)
{
    memset(a, 0, sizeof(*a));
    a->aggregate = aggregate;
}

void
stor__agg_free(struct stor_agg *a)
{
    free(a->recs);
    free(a->slots);
    memset(a, 0, sizeof(*a));
}

void
stor__agg_clear(struct stor_agg *a)
{
    a->n = 0;
    if (a->slots != NULL) {
        memset(a->slots, 0, a->nslots * sizeof(a->slots[0]));
    }
}

static int
recs_reserve(struct stor_agg *a)
{
    if (a->n < a->cap) {
        return 0;
    }
    size_t cap = a->cap ? a->cap * 2 : 1024;
    struct flow_rec *r = realloc(a->recs, cap * sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    a->recs = r;
    a->cap = cap;
    return 0;
}

/* Slots hold index + 1 (0 = empty) and the hash's high bits to skip most compares. */
static int
slots_grow(struct stor_agg *a)
{
    size_t n = a->nslots ? a->nslots * 2 : 2048;
    struct stor_agg_slot *s = calloc(n, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < a->nslots; i++) {
        if (a->slots[i].idx1 == 0) {
            continue;
        }
        size_t j = a->slots[i].hash & (n - 1);
        while (s[j].idx1 != 0) {
            j = (j + 1) & (n - 1);
        }
        s[j] = a->slots[i];
    }
    free(a->slots);
    a->slots = s;
    a->nslots = n;
    return 0;
}

static void
merge(struct flow_rec *into, const struct flow_rec *r)
{
    into->packets += r->packets;
    into->bytes += r->bytes;
    into->present |= r->present;
    into->tcp_flags |= r->tcp_flags;
    into->skipped += r->skipped;
    if (r->start_ms < into->start_ms) {
        into->start_ms = r->start_ms;
    }
    if (r->end_ms > into->end_ms) {
        into->end_ms = r->end_ms;
    }
}

int
stor__agg_add(struct stor_agg *a, const struct flow_rec *r)
{
    if (!a->aggregate) {
        if (recs_reserve(a) != 0) {
            return -ENOMEM;
        }
        a->recs[a->n++] = *r;
        return 0;
    }
    if (2 * (a->n + 1) > a->nslots && slots_grow(a) != 0) {
        return -ENOMEM;
    }
    uint8_t key[128];
    uint32_t h = (uint32_t) XXH3_64bits(key, key_pack(r, key));
    size_t mask = a->nslots - 1;
    size_t i = h & mask;
    for (; a->slots[i].idx1 != 0; i = (i + 1) & mask) {
        struct flow_rec *o = &a->recs[a->slots[i].idx1 - 1];
        if (a->slots[i].hash == h && same_key(o, r)) {
            merge(o, r);
            return 0;
        }
    }
    if (recs_reserve(a) != 0) {
        return -ENOMEM;
    }
    a->recs[a->n] = *r;
    a->slots[i].idx1 = (uint32_t) ++a->n;
    a->slots[i].hash = h;
    return 0;
}
