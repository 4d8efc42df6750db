/* SPDX-License-Identifier: MIT */
/*
 * Clock helpers for the modules that may read the clock (storage, query, collector, probe;
 * never the decoder, which is handed now_ms by its caller). Wall time for stamps that are
 * stored or shown; monotonic time for intervals, deadlines and timeouts, so that an NTP step
 * does not stretch or cut them.
 */
#ifndef FLOWLOG_FLOW_CLOCK_H
#define FLOWLOG_FLOW_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
static inline uint64_t
flow_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
static inline uint64_t
flow_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

#endif
