/* SPDX-License-Identifier: MIT */
/*
 * Shared by the programs that send test traffic (nfsend, bench_ingest) and the benchmarks:
 * the loopback-only destination check (tests and benchmarks never send anywhere else), a
 * clock in nanoseconds and a seeded generator (splitmix64).
 */
#ifndef FLOWLOG_SENDUTIL_H
#define FLOWLOG_SENDUTIL_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/*
 * Fill *dst for addr:port when addr is a loopback address (127.0.0.0/8 or ::1); -1 for
 * anything else, which callers refuse to send to.
 */
int sendutil_loopback(const char *addr, uint16_t port, struct sockaddr_storage *dst,
                      socklen_t *len);

static inline uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* splitmix64: small, fast, and the stream depends on the seed only. */
static inline uint64_t
splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
