/* SPDX-License-Identifier: MIT */
/*
 * Sources of the events that other modules detect (docs/collector.md "Events"):
 *
 * - the decoder's template withdrawals, template changes (same id, another layout) and
 *   exporters evicted to make room. The decoder counts them; the ingest loop's tick polls
 *   the counters (coll_events_poll) rather than the decoder calling out per datagram, so a
 *   churning exporter costs one comparison a second and one line per kind at most. The line
 *   says how many since the last one, and the total.
 * - storage's notices (stor_cfg.notice): partitions dropped by retention or the size cap,
 *   compacted, quarantined as damaged, a failed backup.
 * - slow requests on the query server (qry_session_cfg.slow), with the request text cut to
 *   COLL_EVENT_QUERY_TEXT bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>

#include "coll.h"
#include "events.h"

#define COLL_EVENT_QUERY_TEXT 200 /* bytes of a slow request's text in its line */

/* Last values seen; only the ingest loop's thread touches them. */
static struct {
    uint64_t next_ms;
    uint64_t withdrawals, changed, evicted;
} seen;

void
coll_events_poll(const struct coll_pipeline *pipe)
{
    uint64_t now = flow_mono_ms();
    if (pipe == NULL || now < seen.next_ms) {
        return;
    }
    seen.next_ms = now + COLL_EVENT_POLL_MS;
    const struct dec_stats *ds = coll_pipeline_dec_stats(pipe);
    if (ds->withdrawals != seen.withdrawals) {
        coll_event(COLL_EV_TEMPLATES, "templates withdrawn: %llu (total %llu)",
                   (unsigned long long) (ds->withdrawals - seen.withdrawals),
                   (unsigned long long) ds->withdrawals);
        seen.withdrawals = ds->withdrawals;
    }
    if (ds->tmpl_changed != seen.changed) {
        coll_event(COLL_EV_TEMPLATES,
                   "templates changed: %llu redefined with another layout (total %llu)",
                   (unsigned long long) (ds->tmpl_changed - seen.changed),
                   (unsigned long long) ds->tmpl_changed);
        seen.changed = ds->tmpl_changed;
    }
    if (ds->exporters_evicted != seen.evicted) {
        coll_event(COLL_EV_EXPORTER_EVICTED,
                   "exporters evicted: %llu forgotten to make room ([decoder] exporters_max "
                   "or memory_max; total %llu)",
                   (unsigned long long) (ds->exporters_evicted - seen.evicted),
                   (unsigned long long) ds->exporters_evicted);
        seen.evicted = ds->exporters_evicted;
    }
}

void
coll_events_stor_notice(void *arg, const char *text)
{
    (void) arg;
    coll_event(COLL_EV_STORE, "store: %s", text);
}

void
coll_events_slow_query(void *arg, const char *text, uint64_t ms, uint64_t rows)
{
    char shown[COLL_EVENT_QUERY_TEXT + 1];
    size_t n = 0;
    (void) arg;
    /* A client's bytes: control characters would forge or garble log lines. */
    for (; text[n] != '\0' && n < COLL_EVENT_QUERY_TEXT; n++) {
        unsigned char c = (unsigned char) text[n];
        shown[n] = c < 0x20 || c == 0x7f ? '?' : (char) c;
    }
    shown[n] = '\0';
    coll_event(COLL_EV_SLOW_QUERY, "slow query: %llu ms, %llu rows: %s%s", (unsigned long long) ms,
               (unsigned long long) rows, shown, text[n] != '\0' ? "..." : "");
}
