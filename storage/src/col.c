/* SPDX-License-Identifier: MIT */
/*
 * The columns of a block body and their buffers: numeric columns (constant, frame of
 * reference or zig-zag delta, as 1..8 byte planes), address columns (IPv4-mapped addresses
 * as 4 byte planes with constant planes folded, others listed whole behind a bitmap) and the
 * per-block string dictionaries; writers that never pass their buffer's capacity and readers
 * that never pass the body's end. The byte layouts are the tables at the top of block.c,
 * which decides the order of columns; this file leaves headers and compression to it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block_int.h"

/* ---- buffers ---- */

int
stor__buf_reserve(struct stor_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) {
        return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        return -ENOMEM;
    }
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap - b->len < extra) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void
stor__buf_free(struct stor_buf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

/* ---- writing ---- */

size_t
stor__col_num_bound(size_t n)
{
    return 1 + FLOW_VARINT_MAX + 1 + 8 * n; /* kind, base, planes, 8 planes of n */
}

size_t
stor__col_addrs_bound(size_t n)
{
    /* form, m, bitmap, m <= n listed addresses, mask, 4 constants, 4 planes of n */
    return 1 + FLOW_VARINT_MAX + (n + 7) / 8 + 16 * n + 1 + 4 + 4 * n;
}

size_t
stor__col_dict_bound(size_t n)
{
    return FLOW_VARINT_MAX + n * FLOW_ID_MAX; /* k <= n entries of 1 + (< FLOW_ID_MAX) */
}

/* Room for len more bytes, or the writer is marked overflowed. */
static bool
room(struct col_writer *w, size_t len)
{
    if (w->overflow || w->cap - w->len < len) {
        w->overflow = true;
        return false;
    }
    return true;
}

void
stor__col_put_byte(struct col_writer *w, unsigned v)
{
    if (room(w, 1)) {
        w->p[w->len++] = (uint8_t) v;
    }
}

void
stor__col_put_varint(struct col_writer *w, uint64_t v)
{
    if (room(w, FLOW_VARINT_MAX)) {
        w->len = (size_t) (flow_varint_put(w->p + w->len, v) - w->p);
    }
}

void
stor__col_put_bytes(struct col_writer *w, const void *p, size_t len)
{
    if (len > 0 && room(w, len)) {
        memcpy(w->p + w->len, p, len);
        w->len += len;
    }
}

static unsigned
bytes_for(uint64_t x)
{
    unsigned w = 1;
    while (w < 8 && (x >> (8 * w)) != 0) {
        w++;
    }
    return w;
}

/* Byte planes 0..pw-1 of v[0..n). */
static void
put_planes(struct col_writer *w, const uint64_t *v, size_t n, unsigned pw)
{
    if (!room(w, (size_t) pw * n)) {
        return;
    }
    for (unsigned k = 0; k < pw; k++) {
        uint8_t *o = w->p + w->len;
        for (size_t i = 0; i < n; i++) {
            o[i] = (uint8_t) (v[i] >> (8 * k));
        }
        w->len += n;
    }
}

void
stor__col_put_numeric(struct col_writer *w, uint64_t *v, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint64_t lo = v[0], hi = v[0], dor = 0;
    for (size_t i = 0; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        dor |= i > 0 ? flow_zigzag(v[i] - v[i - 1]) : 0;
    }
    *mn = lo;
    *mx = hi;
    if (lo == hi) {
        stor__col_put_byte(w, K_CONST);
        stor__col_put_varint(w, lo);
        return;
    }
    unsigned wf = bytes_for(hi - lo), wd = bytes_for(dor);
    uint64_t base = wd < wf ? v[0] : lo;
    if (wd < wf) {
        for (size_t i = n - 1; i > 0; i--) {
            v[i] = flow_zigzag(v[i] - v[i - 1]);
        }
        v[0] = 0;
    } else {
        for (size_t i = 0; i < n; i++) {
            v[i] -= lo;
        }
    }
    unsigned pw = wd < wf ? wd : wf;
    stor__col_put_byte(w, wd < wf ? K_DELTA : K_FOR);
    stor__col_put_varint(w, base);
    stor__col_put_byte(w, pw);
    put_planes(w, v, n, pw);
}

void
stor__col_put_addrs(struct col_writer *w, const uint8_t (*a)[16], size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        m += !flow_addr_is_v4(a[i]);
    }
    stor__col_put_byte(w, m > 0);
    if (m > 0) {
        stor__col_put_varint(w, m);
        if (!room(w, (n + 7) / 8 + 16 * m)) {
            return;
        }
        uint8_t *bits = w->p + w->len;
        memset(bits, 0, (n + 7) / 8);
        w->len += (n + 7) / 8;
        for (size_t i = 0; i < n; i++) {
            if (!flow_addr_is_v4(a[i])) {
                bits[i >> 3] |= (uint8_t) (1u << (i & 7));
                memcpy(w->p + w->len, a[i], 16);
                w->len += 16;
            }
        }
    }
    uint8_t c[4];
    unsigned mask = 0;
    for (unsigned k = 0; k < 4; k++) {
        size_t i = 0;
        while (i < n && !flow_addr_is_v4(a[i])) {
            i++;
        }
        c[k] = i < n ? a[i][12 + k] : 0;
        while (i < n && (!flow_addr_is_v4(a[i]) || a[i][12 + k] == c[k])) {
            i++;
        }
        mask |= i == n ? 1u << k : 0;
    }
    stor__col_put_byte(w, mask);
    for (unsigned k = 0; k < 4; k++) {
        if (mask & (1u << k)) {
            stor__col_put_byte(w, c[k]);
        }
    }
    for (unsigned k = 0; k < 4; k++) {
        if ((mask & (1u << k)) == 0 && room(w, n)) {
            for (size_t i = 0; i < n; i++) {
                w->p[w->len + i] = flow_addr_is_v4(a[i]) ? a[i][12 + k] : 0;
            }
            w->len += n;
        }
    }
}

uint64_t
stor__col_dict_index(struct col_dict_builder *d, const char *s, size_t len)
{
    size_t h = (size_t) XXH3_64bits(s, len) & d->tabmask;
    for (;;) {
        uint32_t e = d->tab[h];
        if (e == 0) {
            d->s[d->k] = s;
            d->len[d->k] = (uint8_t) len;
            d->tab[h] = (uint32_t) ++d->k;
            return d->k - 1;
        }
        if (d->len[e - 1] == len && memcmp(d->s[e - 1], s, len) == 0) {
            return e - 1;
        }
        h = (h + 1) & d->tabmask;
    }
}

void
stor__col_put_dict(struct col_writer *w, const struct col_dict_builder *d)
{
    stor__col_put_varint(w, d->k);
    for (size_t i = 0; i < d->k; i++) {
        stor__col_put_byte(w, d->len[i]);
        stor__col_put_bytes(w, d->s[i], d->len[i]);
    }
}

/* ---- reading ---- */

unsigned
stor__col_get_byte(struct col_reader *r)
{
    if (r->p >= r->end) {
        r->err = true;
        return 0;
    }
    return *r->p++;
}

uint64_t
stor__col_get_varint(struct col_reader *r)
{
    uint64_t v = 0;
    if (!flow_varint_get(&r->p, r->end, &v)) {
        r->err = true;
        return 0;
    }
    return v;
}

const uint8_t *
stor__col_take(struct col_reader *r, size_t len)
{
    if ((size_t) (r->end - r->p) < len) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += len;
    return p;
}

void
stor__col_get_numeric(struct col_reader *r, struct col_num *c, size_t n)
{
    c->kind = (uint8_t) stor__col_get_byte(r);
    c->base = stor__col_get_varint(r);
    c->prev = c->base;
    c->w = 0;
    c->pl = NULL;
    if (c->kind == K_CONST) {
        return;
    }
    c->w = (uint8_t) stor__col_get_byte(r);
    if (c->kind > K_DELTA || c->w < 1 || c->w > 8) {
        r->err = true;
        return;
    }
    c->pl = stor__col_take(r, (size_t) c->w * n);
}

uint64_t
stor__col_gather(struct col_num *c, size_t n, size_t i0, size_t cnt, uint64_t *t)
{
    uint64_t acc = 0;
    if (c->kind == K_CONST) {
        for (size_t j = 0; j < cnt; j++) {
            t[j] = c->base;
        }
        return c->base;
    }
    const uint8_t *p = c->pl + i0;
    for (size_t j = 0; j < cnt; j++) {
        t[j] = p[j];
    }
    for (unsigned k = 1; k < c->w; k++) {
        p += n;
        for (size_t j = 0; j < cnt; j++) {
            t[j] |= (uint64_t) p[j] << (8 * k);
        }
    }
    if (c->kind == K_FOR) {
        for (size_t j = 0; j < cnt; j++) {
            t[j] += c->base;
            acc |= t[j];
        }
        return acc;
    }
    uint64_t v = c->prev;
    for (size_t j = 0; j < cnt; j++) {
        v += flow_unzigzag(t[j]);
        t[j] = v;
        acc |= v;
    }
    c->prev = v;
    return acc;
}

/* Count the set bits of the bitmap, which must have none past record n. */
static size_t
count_bits(const uint8_t *bits, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < (n + 7) / 8; i++) {
        for (unsigned b = bits[i]; b != 0; b &= b - 1) {
            c++;
        }
    }
    if (n % 8 != 0 && (bits[n / 8] >> (n % 8)) != 0) {
        return SIZE_MAX;
    }
    return c;
}

void
stor__col_get_addrs(struct col_reader *r, struct col_addrs *a, size_t n)
{
    unsigned form = stor__col_get_byte(r);
    uint64_t m = form == 1 ? stor__col_get_varint(r) : 0;
    a->m = 0;
    a->next = 0;
    if (form > 1 || m > n) {
        r->err = true;
        return;
    }
    if (form == 1) {
        a->m = (size_t) m;
        a->bits = stor__col_take(r, (n + 7) / 8);
        a->list = stor__col_take(r, a->m * 16);
        if (r->err || m == 0 || count_bits(a->bits, n) != a->m) {
            r->err = true;
            return;
        }
    }
    a->mask = stor__col_get_byte(r);
    for (unsigned k = 0; k < 4; k++) {
        a->konst[k] = (a->mask & (1u << k)) ? (uint8_t) stor__col_get_byte(r) : 0;
    }
    for (unsigned k = 0; k < 4; k++) {
        a->pl[k] = (a->mask & (1u << k)) ? NULL : stor__col_take(r, n);
    }
    if (a->mask > 0x0F) {
        r->err = true;
    }
}

int
stor__col_get_dict(struct col_reader *r, struct col_dict *d, size_t n)
{
    uint64_t k = stor__col_get_varint(r);
    if (r->err || k < 1 || k > n) {
        return STOR_E_CORRUPT;
    }
    d->k = (size_t) k;
    d->s = calloc(d->k, FLOW_ID_MAX);
    if (d->s == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->k; i++) {
        unsigned len = stor__col_get_byte(r);
        const uint8_t *p = stor__col_take(r, len);
        if (r->err || len >= FLOW_ID_MAX || memchr(p, 0, len) != NULL) {
            return STOR_E_CORRUPT;
        }
        memcpy(d->s[i], p, len);
    }
    return 0;
}
