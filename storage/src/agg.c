/* SPDX-License-Identifier: MIT */
/*
 * Aggregation within a capture window (DESIGN.md §4): records with the same key — identity
 * (exporter address and port, export version, domain, instance-id), sampling rate, 5-tuple,
 * direction, action, inport, outport, tos and log-status — become one: packets and bytes
 * summed, start the minimum, end the maximum, tcp-flags and flags OR'ed (a merged record is
 * FLOW_F_TIME_SKEW when any part was), and an optional field that only a later record carries
 * (RTT, snid, account-id, sampling) is copied with its presence bit, so a merged record never
 * claims a value it does not have. A field both carry keeps the first value; raw[] is the
 * first record's.
 *
 * Sampling is in the key because DESIGN §3 stores raw counters to be renormalised at query
 * time: sums of two sampling rates under one rate would be wrong.
 *
 * An open-addressing table (linear probing) of indexes into a growing record array, keyed by
 * XXH3 of the packed key with a seed drawn per table, so a sender cannot aim keys at one run
 * of slots.
 */
#define _DEFAULT_SOURCE /* getentropy */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    p[21] = r->version;
    memcpy(p + 22, &r->exporter_port, 2);
    memcpy(p + 24, &r->sampling, 4);
    p += 28;
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
           a->domain == b->domain && a->version == b->version &&
           a->exporter_port == b->exporter_port && a->sampling == b->sampling &&
           memcmp(a->srcaddr, b->srcaddr, 16) == 0 && memcmp(a->dstaddr, b->dstaddr, 16) == 0 &&
           memcmp(a->exporter, b->exporter, 16) == 0 && strcmp(a->instance_id, b->instance_id) == 0;
}

void
stor__agg_init(struct stor_agg *a, bool aggregate)
{
    memset(a, 0, sizeof(*a));
    a->aggregate = aggregate;
    if (getentropy(&a->seed, sizeof(a->seed)) != 0) {
        /* No entropy source: any per-table value still differs between runs. */
        a->seed = XXH3_64bits(&a, sizeof(a)) ^ (uint64_t) getpid();
    }
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

/* Copy the optional fields that r carries and into does not. */
static void
merge_new_fields(struct flow_rec *into, const struct flow_rec *r)
{
    uint32_t fresh = r->present & ~into->present;
    if (fresh & FLOW_HAS_RTT) {
        into->rtt_us = r->rtt_us;
    }
    if (fresh & FLOW_HAS_SAMPLING) {
        into->sampling = r->sampling; /* equal by the key; kept for clarity */
    }
    if (fresh & FLOW_HAS_SNID) {
        memcpy(into->snid, r->snid, sizeof(into->snid));
    }
    if (fresh & FLOW_HAS_ACCOUNT) {
        memcpy(into->account_id, r->account_id, sizeof(into->account_id));
    }
    /* The other optional fields are in the key (ports, protocol, tos, inport, outport,
     * direction, instance-id) or summed and OR'ed from zero (packets, bytes, tcp-flags). */
    into->present |= r->present;
}

static void
merge(struct flow_rec *into, const struct flow_rec *r)
{
    into->packets += r->packets;
    into->bytes += r->bytes;
    merge_new_fields(into, r);
    into->flags |= r->flags;
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
    uint32_t h = (uint32_t) XXH3_64bits_withSeed(key, key_pack(r, key), a->seed);
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
