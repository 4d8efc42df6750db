/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's log: one line per call, to stderr ("flowlogd: ..." in the foreground) and/or to
 * syslog (facility daemon, when daemonised), filtered by the configured level. Levels are
 * syslog's priorities. The ingest loop and the query plane both log: the level is atomic, a
 * line goes to stderr under stdio's lock, and syslog(3) is thread-safe. coll_log_open is
 * called before the query plane's thread starts. coll_log_rl limits a repeated message to
 * one line per COLL_LOG_RL_MS, counting what it held back.
 */
#define _DEFAULT_SOURCE /* vsyslog */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <syslog.h>

#include "coll.h"
#include "flow_clock.h"

static atomic_bool log_stderr = true, log_syslog;
static atomic_int log_level = COLL_LOG_INFO;

void
coll_log_open(bool to_stderr, bool to_syslog)
{
    if (to_syslog && !log_syslog) {
        openlog("flowlogd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    } else if (!to_syslog && log_syslog) {
        closelog();
    }
    log_stderr = to_stderr;
    log_syslog = to_syslog;
}

void
coll_log_set_level(int level)
{
    log_level = level;
}

void
coll_log(int level, const char *fmt, ...)
{
    va_list ap;
    if (level > log_level) {
        return;
    }
    if (log_stderr) {
        va_start(ap, fmt);
        flockfile(stderr);
        fputs("flowlogd: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        funlockfile(stderr);
        va_end(ap);
    }
    if (log_syslog) {
        va_start(ap, fmt);
        vsyslog(level, fmt, ap);
        va_end(ap);
    }
}

void
coll_log_rl(struct coll_lograte *r, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    uint64_t now = flow_mono_ms();
    if (r->logged && now - r->last_ms < COLL_LOG_RL_MS) {
        r->held++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (r->held > 0) {
        coll_log(level, "%s (%" PRIu64 " more like it not logged)", line, r->held);
    } else {
        coll_log(level, "%s", line);
    }
    r->logged = true;
    r->last_ms = now;
    r->held = 0;
}
