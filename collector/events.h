/* SPDX-License-Identifier: MIT */
/*
 * Operational events in the log (events.c, docs/collector.md "Events"), each kind behind its
 * own token bucket: at most COLL_EVENT_BURST lines at once and one more per
 * COLL_EVENT_REFILL_MS after that; the next line logged says how many were suppressed. Any
 * thread.
 */
#ifndef FLOWLOG_EVENTS_H
#define FLOWLOG_EVENTS_H

#define COLL_EVENT_BURST     10u
#define COLL_EVENT_REFILL_MS 6000u

enum coll_event_kind {
    COLL_EV_EXPORTER_NEW,       /* a new exporter (address, port, transport) */
    COLL_EV_EXPORTER_UNTRACKED, /* traffic from an exporter the full table cannot track */
    COLL_EV_KINDS,
};

/* Log one event (notice level) if its bucket has a token; else count it as suppressed. */
void coll_event(enum coll_event_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Events suppressed so far, per kind (for STATS and tests). */
unsigned long long coll_event_suppressed(enum coll_event_kind kind);

#endif
