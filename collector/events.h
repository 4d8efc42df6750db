/* SPDX-License-Identifier: MIT */
/*
 * Operational events in the log (events.c, docs/collector.md "Events"), each kind behind its
 * own token bucket: at most COLL_EVENT_BURST lines at once and one more per
 * COLL_EVENT_REFILL_MS after that; the next line logged says how many were suppressed. Any
 * thread.
 */
#ifndef FLOWLOG_EVENTS_H
#define FLOWLOG_EVENTS_H

#include <stdint.h>

#define COLL_EVENT_BURST     10u
#define COLL_EVENT_REFILL_MS 6000u

enum coll_event_kind {
    COLL_EV_EXPORTER_NEW,       /* a new exporter (address, port, transport) */
    COLL_EV_EXPORTER_UNTRACKED, /* traffic from an exporter the full table cannot track */
    COLL_EV_TEMPLATES,          /* templates withdrawn or changed (events_src.c, polled) */
    COLL_EV_EXPORTER_EVICTED,   /* exporters the decoder forgot to make room (polled) */
    COLL_EV_STORE,              /* storage's notices: partitions dropped, compacted, damaged */
    COLL_EV_SLOW_QUERY,         /* a request that took [query] slow_ms or longer */
    COLL_EV_KINDS,
};

/* Log one event (notice level) if its bucket has a token; else count it as suppressed. */
void coll_event(enum coll_event_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Events suppressed so far, per kind (for STATS and tests). */
unsigned long long coll_event_suppressed(enum coll_event_kind kind);

struct coll_pipeline;
/* events_src.c: the decoder's template and eviction counters, compared with the last look at
 * most once per COLL_EVENT_POLL_MS; the ingest loop's tick calls it (it owns the decoder). */
#define COLL_EVENT_POLL_MS 1000u
void coll_events_poll(const struct coll_pipeline *pipe);
/* stor_cfg.notice: storage's notices as COLL_EV_STORE events (any thread). */
void coll_events_stor_notice(void *arg, const char *text);
/* A finished request that took slow_ms or longer (query threads): qry_session_cfg.slow. */
void coll_events_slow_query(void *arg, const char *text, uint64_t ms, uint64_t rows);

#endif
