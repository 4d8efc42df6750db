/* SPDX-License-Identifier: MIT */
/*
 * The service manager's notifications (sd_notify(3), libsystemd) for a Type=notify unit:
 * READY=1 once every listener is bound and the query plane runs, WATCHDOG=1 from the ingest
 * loop's tick at half of $WATCHDOG_USEC (so it proves that loop turns, not just that the
 * process lives), STATUS= with the counters, and STOPPING=1 at SIGTERM. Without
 * $NOTIFY_SOCKET every call is a no-op. Ingest loop's thread only.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "health.h"

#define STATUS_EVERY_MS 10000u

static struct {
    uint64_t watchdog_ms; /* 0: no watchdog */
    uint64_t pinged_ms;
    uint64_t status_ms;
    bool ready;
} nt;

void
coll_notify_open(void)
{
    uint64_t usec = 0;
    /* Only when $WATCHDOG_PID is unset or ours; the variables stay for child processes. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
        nt.watchdog_ms = usec / 2000u;
    }
}

void
coll_notify_ready(const char *status)
{
    nt.ready = true;
    (void) sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
coll_notify_tick(uint64_t now_ms, uint64_t datagrams, uint64_t records)
{
    if (!nt.ready) {
        return;
    }
    if (nt.watchdog_ms != 0 && now_ms - nt.pinged_ms >= nt.watchdog_ms) {
        nt.pinged_ms = now_ms;
        (void) sd_notify(0, "WATCHDOG=1");
    }
    if (now_ms - nt.status_ms >= STATUS_EVERY_MS) {
        nt.status_ms = now_ms;
        (void) sd_notifyf(0, "STATUS=ingesting: %" PRIu64 " datagrams, %" PRIu64 " records",
                          datagrams, records);
    }
}

void
coll_notify_stopping(const char *status)
{
    (void) sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}
