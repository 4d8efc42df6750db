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
ipfix_template_set(struct dec_msgctx *m, struct rd *r, bool options)
{
    struct dec_field f[DEC_MAX_FIELDS];
    uint16_t set_id = options ? 3 : 2;

    while (rd_left(r) >= 4) {
        uint16_t id = rd_u16(r);
        uint16_t n = rd_u16(r);
        if (n == 0) {
            if (id == set_id) {
                dec__tmpl_withdraw(m, id, true, options);
            } else if (id >= 256) {
                dec__tmpl_withdraw(m, id, false, options);
            } else {
                dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED);
            }
            continue;
        }
        uint16_t nscope = options ? rd_u16(r) : 0;
        if (id < 256 || n > DEC_MAX_FIELDS || (options && (nscope == 0 || nscope > n)) ||
            !read_fields(r, f, n)) {
            dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED);
            return; /* cannot tell where the next record starts */
        }
        dec__tmpl_add(m, id, options, nscope, f, n);
    }
}

static void
ipfix_set(struct dec_msgctx *m, uint16_t id, const uint8_t *body, size_t len)
{
    struct rd r = rd_make(body, len);

    if (id == 2 || id == 3) {
        ipfix_template_set(m, &r, id == 3);
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
    msg->domain = domain;
    msg->seq = seq;
    msg->export_ms = m->export_ms;
    dec__seq_check(m, seq, m->data_records, msg);
    return m->rc;
}
