/* SPDX-License-Identifier: MIT */
/*
 * Health (health.c, docs/collector.md "Health"): OK or not-OK with reasons, for the HEALTH
 * verb of the line protocol, /api/v1/health and `flowlog health`; and the service manager's
 * notifications (notify.c: READY, WATCHDOG, STATUS, STOPPING over $NOTIFY_SOCKET).
 */
#ifndef FLOWLOG_HEALTH_H
#define FLOWLOG_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* [health] keys. */
struct coll_health_cfg {
    uint32_t disk_free_min_pct; /* the store's file system under this % free: not OK. 5 */
    uint32_t exporter_silent_s; /* an exporter seen but silent this long: not OK; 0 = off. 15m */
};

#define COLL_HEALTH_CHECKS 8   /* checks in one report */
#define COLL_HEALTH_DETAIL 160 /* characters of one check's detail */

struct coll_health_check {
    const char *name; /* "commits", "disk", "exporters" (static) */
    bool ok;
    char detail[COLL_HEALTH_DETAIL];
};

struct coll_health_report {
    bool ok; /* every check ok */
    size_t n;
    struct coll_health_check c[COLL_HEALTH_CHECKS];
};

/* ---- notify.c: the ingest loop's thread only ---- */

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC (libsystemd); nothing happens without them. */
void coll_notify_open(void);
/* READY=1 with a STATUS= line. */
void coll_notify_ready(const char *status);
/* Every tick of the ingest loop: WATCHDOG=1 at half the watchdog interval, so a stuck ingest
 * loop lets the service manager restart flowlogd; STATUS= with the counters every 10 s. */
void coll_notify_tick(uint64_t now_ms, uint64_t datagrams, uint64_t records);
/* STOPPING=1 with a STATUS= line. */
void coll_notify_stopping(const char *status);

#endif
