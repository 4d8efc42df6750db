/* SPDX-License-Identifier: MIT */
/*
 * Helpers the benchmarks share: a monotonic clock, a comparison for medians, and a seeded
 * generator (splitmix64) with a skewed pick for realistic flow sets. Each benchmark is one
 * program, so the generator's state is simply static here.
 */
#ifndef FLOWLOG_BENCHUTIL_H
#define FLOWLOG_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
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
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
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
