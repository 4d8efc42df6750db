/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's log: one line per call, to stderr ("flowlogd: ..." in the foreground) and/or to
 * syslog (facility daemon, when daemonised), filtered by the configured level. Levels are
 * syslog's priorities. Single-threaded use (the loop thread), like the rest of the daemon.
 */
#define _DEFAULT_SOURCE /* vsyslog */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "coll.h"

static bool log_stderr = true, log_syslog;
static int log_level = COLL_LOG_INFO;

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
        fputs("flowlogd: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    if (log_syslog) {
        va_start(ap, fmt);
        vsyslog(level, fmt, ap);
        va_end(ap);
    }
}
