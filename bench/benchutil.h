/* SPDX-License-Identifier: MIT */
/*
 * Helpers the benchmarks share: a monotonic clock, a comparison for medians, and a seeded
 * generator (splitmix64, from tests/tools/sendutil.h) with a skewed pick for realistic flow
 * sets. Each benchmark is one
 * program, so the generator's state is simply static here.
 */
#ifndef FLOWLOG_BENCHUTIL_H
#define FLOWLOG_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sendutil.h"

static inline double
now_s(void)
{
    return (double) clock_ns(CLOCK_MONOTONIC) / 1e9;
}

static inline int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static uint64_t rng = 42;

static inline uint64_t
rnd(void)
{
    return splitmix64(&rng);
}

static inline double
unif(void)
{
    return (double) (rnd() >> 11) / 9007199254740992.0;
}

/* A skewed pick in [0, n): small indexes are much more likely. */
static inline size_t
zipfish(size_t n)
{
    double u = unif();
    return (size_t) ((double) n * u * u * u);
}

#endif
