/* SPDX-License-Identifier: MIT */
/*
 * Byte-order and integer-coding helpers shared by every module: big-endian writers and
 * readers of 1..8 bytes, zigzag for signed deltas, and LEB128-style varints (7 bits a byte,
 * least significant group first, high bit = more follows).
 *
 * These work on memory that the caller has already bounds-checked. Reading bytes from the
 * network goes through the decoder's cursor (decoder/src/rd.h); reading stored bytes goes
 * through flow_varint_get(), which stops at `end` and reports an overrun.
 */
#ifndef FLOWLOG_FLOW_BYTES_H
#define FLOWLOG_FLOW_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Write the low `n` bytes of v (n <= 8) at p, most significant first. */
static inline void
flow_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t) (v >> (8 * (n - 1 - i)));
    }
}

/* Read n <= 8 bytes at p, most significant first. */
static inline uint64_t
flow_get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Signed (two's complement in a u64) to unsigned so small magnitudes stay small. */
static inline uint64_t
flow_zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

static inline uint64_t
flow_unzigzag(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

/* The most bytes flow_varint_put() writes for one value. */
#define FLOW_VARINT_MAX 10

/* Write v as a varint at p (room for FLOW_VARINT_MAX bytes); returns the byte after it. */
static inline uint8_t *
flow_varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

/*
 * Read a varint from *p, never past end. On success advances *p and returns true; on an
 * overrun or a varint longer than 64 bits returns false and leaves *p where it stopped.
 */
static inline bool
flow_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (q >= end) {
            *p = q;
            return false;
        }
        uint8_t b = *q++;
        v |= (uint64_t) (b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *p = q;
            *out = v;
            return true;
        }
    }
    *p = q;
    return false;
}

#endif
