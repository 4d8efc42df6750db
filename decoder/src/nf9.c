/* SPDX-License-Identifier: MIT */
/*
 * NetFlow v9 (RFC 3954). Header, then flowsets:
 *
 *   header  offset size  field                flowset  offset size  field
 *           0      2     version (9)                   0      2     flowset id: 0 template,
 *           2      2     count (ignored)                                1 options template,
 *           4      4     sysUptime, ms                                  >= 256 data
 *           8      4     unix_secs                     2      2     length, header included
 *           12     4     package_sequence (packets)    4      ...   records, then padding
 *           16     4     source id (the domain)
 *
 *   template record: id (2), field count (2), then count x {type (2), length (2)}
 *   options template record: id (2), scope length (2), option length (2), then the scope
 *   fields and the option fields as {type (2), length (2)}, lengths in bytes.
 *
 * The header count is not trusted (exporters get it wrong; nfcapd ignores it too): flowsets
 * are walked by their lengths. Field length 65535 is read as IPFIX variable length, which
 * some exporters (H3C) send in v9. Zero fill after the last flowset is padding, not an error.
 *
 * As in IPFIX (ipfix.c), a template or options template flowset that cannot be read to its
 * end discards the whole message, counted once as `template`; an empty template record
 * (field count 0) is counted and skipped, since the next record can still be found.
 */
#include <string.h>

#include "dec_int.h"

#define V9_HDR 20u

/*
 * Walk a template flowset: with `apply`, add its templates; without, only check that every
 * record can be read. False when one cannot: the message is to be discarded.
 */
static bool
v9_template_set(struct dec_msgctx *m, struct rd *r, bool apply)
{
    struct dec_field f[DEC_MAX_FIELDS];

    while (rd_left(r) >= 4) {
        uint16_t id = rd_u16(r);
        uint16_t n = rd_u16(r);
        if (n == 0 && id >= 256) {
            if (apply) {
                dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED); /* empty: the next may be fine */
            }
            continue;
        }
        if (id < 256 || n == 0 || n > DEC_MAX_FIELDS || rd_left(r) < 4u * n) {
            return false;
        }
        for (uint16_t i = 0; i < n; i++) {
            f[i].pen = 0;
            f[i].id = rd_u16(r);
            f[i].len = rd_u16(r);
        }
        if (apply) {
            dec__tmpl_add(m, id, false, 0, f, n);
        }
    }
    return true;
}

/* The same for an options template flowset. */
static bool
v9_options_set(struct dec_msgctx *m, struct rd *r, bool apply)
{
    struct dec_field f[DEC_MAX_FIELDS];

    while (rd_left(r) >= 6) {
        uint16_t id = rd_u16(r);
        uint16_t scope_len = rd_u16(r);
        uint16_t opt_len = rd_u16(r);
        size_t nscope = scope_len / 4u;
        size_t n = nscope + opt_len / 4u;
        if (id < 256 || scope_len % 4 != 0 || opt_len % 4 != 0 || n == 0 || n > DEC_MAX_FIELDS ||
            rd_left(r) < 4u * n) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            f[i].pen = i < nscope ? DEC_PEN_V9_SCOPE : 0;
            f[i].id = rd_u16(r);
            f[i].len = rd_u16(r);
        }
        if (apply) {
            dec__tmpl_add(m, id, true, (uint16_t) nscope, f, (uint16_t) n);
        }
        if (rd_left(r) < 10) {
            return true; /* what is left is padding to a 32-bit boundary */
        }
    }
    return true;
}

static bool
v9_templates(struct dec_msgctx *m, uint16_t id, const uint8_t *body, size_t len, bool apply)
{
    struct rd r = rd_make(body, len);
    return id == 0 ? v9_template_set(m, &r, apply) : v9_options_set(m, &r, apply);
}

/* Every template flowset of the message (flowsets from r on) can be read to its end. */
static bool
v9_templates_readable(struct dec_msgctx *m, struct rd r)
{
    while (rd_left(&r) >= 4) {
        uint16_t id = rd_u16(&r);
        uint16_t flen = rd_u16(&r);
        if (flen < 4 || flen - 4u > rd_left(&r)) {
            return true; /* broken framing or zero fill: the decoding loop sees to it */
        }
        const uint8_t *body = rd_take(&r, flen - 4u);
        if (id <= 1 && !v9_templates(m, id, body, flen - 4u, false)) {
            return false;
        }
    }
    return true;
}

static void
v9_flowset(struct dec_msgctx *m, uint16_t id, const uint8_t *body, size_t len)
{
    if (id <= 1) {
        if (!v9_templates(m, id, body, len, true)) {
            dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED); /* checked before: not reached */
        }
    } else if (id < 256) {
        dec__count(m, DEC_R_SET_ID, DEC_E_MALFORMED);
    } else {
        dec__data_or_park(m, id, body, len);
    }
}

int
dec__nf9(struct dec_msgctx *m, const uint8_t *buf, size_t len, struct dec_msg *msg)
{
    struct rd r = rd_make(buf, len);
    (void) rd_u16(&r);
    (void) rd_u16(&r);
    m->uptime_ms = rd_u32(&r);
    uint32_t secs = rd_u32(&r);
    uint32_t seq = rd_u32(&r);
    uint32_t source_id = rd_u32(&r);

    if (r.err) {
        dec__count(m, DEC_R_SHORT, DEC_E_TRUNCATED);
        return m->rc;
    }
    m->export_ms = (uint64_t) secs * 1000u;
    if (!dec__msg_begin(m, source_id, len)) {
        return m->rc;
    }
    msg->domain = source_id;
    msg->seq = seq;
    msg->export_ms = m->export_ms;
    if (!v9_templates_readable(m, r)) {
        /* Discarded whole; the sequence is not advanced, so the packet shows as missed. */
        dec__count(m, DEC_R_TEMPLATE, DEC_E_MALFORMED);
        return m->rc;
    }
    bool bad = false;
    while (rd_left(&r) >= 4 && !m->stop) {
        const uint8_t *start = r.p;
        uint16_t id = rd_u16(&r);
        uint16_t flen = rd_u16(&r);
        if (flen < 4 || flen - 4u > rd_left(&r)) {
            if (!rd_all_zero(start, (size_t) (r.end - start))) {
                dec__count(m, DEC_R_SET, DEC_E_TRUNCATED); /* dec.h: length < 4 or past the end */
            }
            bad = true;
            break;
        }
        v9_flowset(m, id, rd_take(&r, flen - 4u), flen - 4u);
    }
    if (!bad && !m->stop && rd_left(&r) > 0 && !rd_all_zero(r.p, rd_left(&r))) {
        dec__count(m, DEC_R_SET, DEC_E_MALFORMED); /* 1..3 stray non-zero bytes: not a flowset */
    }
    dec__seq_check_uptime(m, seq, 1, msg);
    return m->rc;
}
