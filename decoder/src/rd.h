/* SPDX-License-Identifier: MIT */
/*
 * rd: the only way the decoder reads wire bytes. A cursor {p, end, err}: every getter checks
 * the bounds, returns 0 and sets the sticky err on overrun, so callers check err once per
 * header or record. The *_at() helpers read big-endian values at a pointer that the caller
 * has already bounds-checked as a whole (a record whose length was checked against its set).
 */
#ifndef FLOWLOG_RD_H
#define FLOWLOG_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rd {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

static inline struct rd
rd_make(const uint8_t *p, size_t len)
{
    struct rd r = {p, p + len, false};
    return r;
}

static inline size_t
rd_left(const struct rd *r)
{
    return r->err ? 0 : (size_t) (r->end - r->p);
}

static inline bool
rd_need(struct rd *r, size_t n)
{
    if (r->err || (size_t) (r->end - r->p) < n) {
        r->err = true;
        return false;
    }
    return true;
}

static inline uint16_t
rd_be16_at(const uint8_t *p)
{
    return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}

static inline uint32_t
rd_be32_at(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline uint64_t
rd_be64_at(const uint8_t *p)
{
    return (uint64_t) rd_be32_at(p) << 32 | rd_be32_at(p + 4);
}

/*
 * Unsigned big-endian value of 1..8 bytes (reduced-size encoding, RFC 7011 §6.2). Forced
 * inline: it runs once per numeric field of every record.
 */
static inline __attribute__((always_inline)) uint64_t
rd_beN_at(const uint8_t *p, size_t n)
{
    switch (n) {
    case 1:
        return p[0];
    case 2:
        return rd_be16_at(p);
    case 4:
        return rd_be32_at(p);
    case 8:
        return rd_be64_at(p);
    default: {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            v = v << 8 | p[i];
        }
        return v;
    }
    }
}

/* True when the n bytes at p (already bounds-checked) are all zero. */
static inline bool
rd_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

static inline uint8_t
rd_u8(struct rd *r)
{
    if (!rd_need(r, 1)) {
        return 0;
    }
    return *r->p++;
}

static inline uint16_t
rd_u16(struct rd *r)
{
    if (!rd_need(r, 2)) {
        return 0;
    }
    uint16_t v = rd_be16_at(r->p);
    r->p += 2;
    return v;
}

static inline uint32_t
rd_u32(struct rd *r)
{
    if (!rd_need(r, 4)) {
        return 0;
    }
    uint32_t v = rd_be32_at(r->p);
    r->p += 4;
    return v;
}

/* Returns a pointer to the next n bytes and skips them, or NULL (and err) on overrun. */
static inline const uint8_t *
rd_take(struct rd *r, size_t n)
{
    if (!rd_need(r, n)) {
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

#endif
