/* SPDX-License-Identifier: MIT */
/*
 * IPFIX (RFC 7011). Message header, then sets:
 *
 *   header  offset size  field                       set  offset size  field
 *           0      2     version (10)                     0      2     set id: 2 template,
 *           2      2     length, header included                         3 options template,
 *           4      4     export time, Unix seconds                       >= 256 data
 *           8      4     sequence (data records)          2      2     length, header incl.
 *           12     4     observation domain id            4      ...   records, padding
 *
 *   template record (§3.4.1): id (2), field count (2), fields
 *   options template record (§3.4.2.2): id (2), field count (2), scope field count (2), fields
 *   field specifier (§3.2): element id (2, top bit = enterprise), length (2), [enterprise (4)]
 *   A template record with field count 0 withdraws template `id`; id 2 (in a template set) or
 *   3 (in an options template set) withdraws all of that kind (§8.1).
 *
 * Sets 4..255 are reserved (§3.3.2): counted and skipped.
 *
 * A template set that cannot be read to its end (a field count past the set, more than
 * DEC_MAX_FIELDS fields, an id below 256) discards the whole message, counted once as
 * `template`: where its next record starts is unknown, and the message's data sets would
 * otherwise be decoded, or parked, against a template set read by half. So the template sets
 * are checked before anything in the message is applied.
 */
#include <string.h>

#include "dec_int.h"

#define IPFIX_HDR 16u

/* Read n field specifiers; false when they overrun the set. */
static bool
read_fields(struct rd *r, struct dec_field *f, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        uint16_t id = rd_u16(r);
        f[i].len = rd_u16(r);
        f[i].pen = (id & 0x8000u) ? rd_u32(r) : 0;
        f[i].id = id & 0x7fffu;
    }
    return !r->err;
}

static void
withdraw(struct dec_msgctx *m, uint16_t id, bool options)
{
    if (id == (options ? 3 : 2)) {
        dec__tmpl_withdraw(m, id, true, options);
    } else if (id >= 256) {
        dec__tmpl_withdraw(m, id, false, options);
    } else {
        dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED); /* the next record is still readable */
    }
}

/*
 * Walk a template set: with `apply`, add and withdraw its templates; without, only check that
 * every record can be read. False when one cannot: the message is to be discarded.
 */
static bool
ipfix_template_set(struct dec_msgctx *m, struct rd *r, bool options, bool apply)
{
    struct dec_field f[DEC_MAX_FIELDS];

    while (rd_left(r) >= 4) {
        uint16_t id = rd_u16(r);
        uint16_t n = rd_u16(r);
        if (n == 0) {
            if (apply) {
                withdraw(m, id, options);
            }
            continue;
        }
        uint16_t nscope = options ? rd_u16(r) : 0;
        if (id < 256 || n > DEC_MAX_FIELDS || (options && (nscope == 0 || nscope > n)) ||
            !read_fields(r, f, n)) {
            return false;
        }
        if (apply) {
            dec__tmpl_add(m, id, options, nscope, f, n);
        }
    }
    return true;
}

/* Every template set of the message (sets from r on) can be read to its end. */
static bool
ipfix_templates_readable(struct dec_msgctx *m, struct rd r)
{
    while (rd_left(&r) >= 4) {
        uint16_t id = rd_u16(&r);
        uint16_t slen = rd_u16(&r);
        if (slen < 4 || slen - 4u > rd_left(&r)) {
            return true; /* broken set framing: the decoding loop counts it there */
        }
        struct rd body = rd_make(rd_take(&r, slen - 4u), slen - 4u);
        if ((id == 2 || id == 3) && !ipfix_template_set(m, &body, id == 3, false)) {
            return false;
        }
    }
    return true;
}

static void
ipfix_set(struct dec_msgctx *m, uint16_t id, const uint8_t *body, size_t len)
{
    struct rd r = rd_make(body, len);

    if (id == 2 || id == 3) {
        if (!ipfix_template_set(m, &r, id == 3, true)) {
            dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED); /* checked before: not reached */
        }
    } else if (id < 256) {
        dec__count(m, DEC_R_SET_ID, DEC_E_MALFORMED);
    } else {
        dec__data_or_park(m, id, body, len);
    }
}

int
dec__ipfix(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg)
{
    struct rd r = rd_make(buf, len);
    (void) rd_u16(&r);
    uint16_t mlen = rd_u16(&r);
    uint32_t secs = rd_u32(&r);
    uint32_t seq = rd_u32(&r);
    uint32_t domain = rd_u32(&r);

    if (r.err) {
        dec__count(m, DEC_R_SHORT, DEC_E_TRUNCATED);
        return m->rc;
    }
    if (mlen < IPFIX_HDR || mlen > len) {
        dec__count(m, DEC_R_LENGTH, DEC_E_TRUNCATED);
        return m->rc;
    }
    r.end = buf + mlen; /* bytes after the message are not ours (§10.3.3: one per datagram) */
    m->export_ms = (uint64_t) secs * 1000u;
    if (!dec__msg_begin(m, domain, mlen)) {
        return m->rc;
    }
    msg->domain = domain;
    msg->seq = seq;
    msg->export_ms = m->export_ms;
    if (!ipfix_templates_readable(m, r)) {
        /* Discarded whole; the sequence is not advanced, so its records show as missed. */
        dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED);
        return m->rc;
    }
    bool bad = false;
    while (rd_left(&r) >= 4 && !m->stop) {
        uint16_t id = rd_u16(&r);
        uint16_t slen = rd_u16(&r);
        if (slen < 4 || slen - 4u > rd_left(&r)) {
            dec__count(m, DEC_R_SET, DEC_E_TRUNCATED); /* dec.h: length < 4 or past the end */
            bad = true;
            break;
        }
        ipfix_set(m, id, rd_take(&r, slen - 4u), slen - 4u);
    }
    if (!bad && !m->stop && rd_left(&r) > 0) {
        dec__count(m, DEC_R_SET, DEC_E_MALFORMED); /* 1..3 stray bytes: not a set */
    }
    dec__seq_check(m, seq, m->data_records, msg);
    return m->rc;
}
