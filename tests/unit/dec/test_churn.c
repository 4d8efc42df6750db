/* SPDX-License-Identifier: MIT */
/*
 * Exporters that come and go (review C2, R3, R4, R5, R9): short-lived sources beyond
 * exporters_max and across a restart (the template snapshot), idle expiry, the memory budget
 * over many exporters with many templates, 32,800 templates in one domain, what the snapshot
 * keeps and its size bound, and forgetting exporters by address for the admin verb.
 * Messages are written by hand with msgbuild.h.
 */
#include <errno.h>
#include <stdbool.h>

#include "msgbuild.h"

#define SECS 1700000000u
#define DOM  9u

/* A growable byte buffer for snapshots. */
struct snapbuf {
    uint8_t *b;
    size_t n;
    size_t cap;
};

static int
snap_write(void *arg, const void *p, size_t n)
{
    struct snapbuf *s = arg;
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->b = realloc(s->b, s->cap);
        assert_non_null(s->b);
    }
    memcpy(s->b + s->n, p, n);
    s->n += n;
    return 0;
}

/* Source number k: 198.51.(k >> 8).(k & 255), port 2055 + k % 7. */
static void
src_of(struct dec_src *s, uint32_t k, uint8_t transport)
{
    memset(s, 0, sizeof(*s));
    s->addr[10] = 0xff;
    s->addr[11] = 0xff;
    s->addr[12] = 198;
    s->addr[13] = 51;
    s->addr[14] = (uint8_t) (k >> 8);
    s->addr[15] = (uint8_t) k;
    s->port = (uint16_t) (2055 + k % 7);
    s->transport = transport;
}

static void
v5_one(struct mb *m, uint32_t seq)
{
    mb_v5_hdr(m, 1, 10000, SECS, 0, seq, 0, 0, 0);
    mb_ip4(m, 10, 0, 0, 1);
    mb_ip4(m, 10, 0, 0, 2);
    mb_fill(m, 0, 4 + 2 + 2);
    mb_u32(m, 1);
    mb_u32(m, 40);
    mb_u32(m, 9000);
    mb_u32(m, 9500);
    mb_u16(m, 1234);
    mb_u16(m, 80);
    mb_fill(m, 0, 1);
    mb_u8(m, 0);
    mb_u8(m, 6);
    mb_fill(m, 0, 1 + 2 + 2 + 1 + 1 + 2);
}

/* IPFIX: template 256 (packets, 4 bytes) when with_tmpl, then a data record of v packets. */
static void
ipfix_msg(struct mb *m, bool with_tmpl, uint32_t v)
{
    mb_ipfix_hdr(m, SECS, 0, DOM);
    if (with_tmpl) {
        mb_set(m, 2);
        mb_u16(m, 256);
        mb_u16(m, 1);
        mb_field(m, 2, 4);
        mb_set_end(m);
    }
    mb_set(m, 256);
    mb_u32(m, v);
    mb_set_end(m);
    mb_done(m);
}

static int
decode(struct th *t, const struct dec_src *src, const struct mb *m, uint64_t now)
{
    t->sink.n = 0;
    return dec_decode(t->ctx, src, m->b, m->n, now, &t->sink, &t->msg);
}

/* The new exporter's stream decodes whole: template and data, then data alone. */
static void
assert_stream_decodes(struct th *t, const struct dec_src *src, uint64_t now)
{
    struct mb m;

    ipfix_msg(&m, true, 77);
    assert_int_equal(decode(t, src, &m, now), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 77);
    ipfix_msg(&m, false, 78);
    assert_int_equal(decode(t, src, &m, now), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 78);
}

/*
 * 6,000 sources send one v5 datagram each (restarting probes, NAT), more than exporters_max
 * (4096). A new IPFIX exporter must still be decoded, before and after a restart through the
 * template snapshot. Before: DEC_E_LIMIT (exporter-limit) for the newcomer, and the snapshot
 * brought all 4096 dead exporters back.
 */
static void
test_churn_then_restart(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct dec_src s, fresh, fresh2;
    struct mb m;
    struct snapbuf snap = {0};

    for (uint32_t k = 0; k < 6000; k++) {
        src_of(&s, k, DEC_TR_UDP);
        v5_one(&m, 0);
        assert_int_equal(decode(t, &s, &m, 1000 + k), 0);
        assert_int_equal(t->sink.n, 1);
    }
    assert_int_equal(th_stats(t)->exporters_evicted, 6000 - 4096);
    assert_int_equal(th_stats(t)->err[DEC_R_EXPORTER_LIMIT], 0);
    src_of(&fresh, 7000, DEC_TR_UDP);
    assert_stream_decodes(t, &fresh, 8000);

    /* the restart: save, a fresh context, load */
    assert_int_equal(dec_tmpl_save(t->ctx, snap_write, &snap), 0);
    assert_true(snap.n < 200); /* the one exporter with a template, not 4096 v5 ones */
    th_free(t);
    t = th_new(NULL);
    assert_int_equal(dec_tmpl_load(t->ctx, snap.b, snap.n, 9000), 0);
    src_of(&fresh2, 7001, DEC_TR_UDP);
    assert_stream_decodes(t, &fresh2, 9000);
    ipfix_msg(&m, false, 79); /* the saved exporter decodes at once */
    assert_int_equal(decode(t, &fresh, &m, 9000), 0);
    assert_int_equal(t->sink.n, 1);
    free(snap.b);
    th_free(t);
}

/* UDP exporters idle for max(template lifetime, parked age) are forgotten; TCP ones are not. */
static void
test_idle_expiry(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.tmpl_lifetime_ms = 10000;
    cfg.pending_age_ms = 20000;
    struct th *t = th_new(&cfg);
    struct dec_src udp, tcp, late;
    struct mb m;

    src_of(&udp, 1, DEC_TR_UDP);
    src_of(&tcp, 2, DEC_TR_TCP);
    src_of(&late, 3, DEC_TR_UDP);
    ipfix_msg(&m, true, 1);
    assert_int_equal(decode(t, &udp, &m, 1000), 0);
    assert_int_equal(decode(t, &tcp, &m, 1000), 0);
    assert_int_equal(decode(t, &late, &m, 15000), 0);
    dec_expire(t->ctx, 21000); /* udp idle 20 s: not more than the limit */
    assert_int_equal(th_stats(t)->exporters_expired, 0);
    dec_expire(t->ctx, 21001);
    assert_int_equal(th_stats(t)->exporters_expired, 1);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, udp.addr, -1), 0); /* already gone */
    assert_int_equal(dec_exporter_forget_addr(t->ctx, tcp.addr, -1), 1);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, late.addr, -1), 1);
    th_free(t);
}

struct info_acc {
    int n;
    uint8_t want; /* last address byte of the exporter to keep */
    struct dec_exporter_info got;
};

static int
info_cb(void *arg, const struct dec_exporter_info *info)
{
    struct info_acc *a = arg;
    a->n++;
    if (info->src.addr[15] == a->want) {
        a->got = *info;
    }
    return 0;
}

/* dec_exporter_forget_addr: one port, every port, nothing; memory given back. */
static void
test_forget_addr(void **state)
{
    (void) state;
    struct th *t = th_new(NULL);
    struct dec_src s;
    struct mb m;
    const struct dec_stats *st = th_stats(t);
    uint64_t empty = st->memory_bytes;

    ipfix_msg(&m, true, 1);
    for (uint16_t p = 1; p <= 3; p++) {
        th_src(&s, 10, p, DEC_TR_UDP);
        assert_int_equal(decode(t, &s, &m, 1000), 0);
    }
    th_src(&s, 11, 1, DEC_TR_UDP);
    assert_int_equal(decode(t, &s, &m, 5000), 0);
    assert_true(st->memory_bytes > empty);

    struct info_acc acc = {.want = 11};
    assert_int_equal(dec_exporter_forget_addr(t->ctx, s.addr, 2), 0); /* other address */
    th_src(&s, 10, 2, DEC_TR_UDP);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, s.addr, 2), 1);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, s.addr, 2), 0);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, s.addr, -1), 2);
    assert_int_equal(st->exporters_forgotten, 3);
    assert_int_equal(dec_exporter_each(t->ctx, info_cb, &acc), 0);
    assert_int_equal(acc.n, 1);
    assert_int_equal(acc.got.src.addr[15], 11);
    assert_int_equal(acc.got.idle_ms, 0);
    assert_int_equal(acc.got.expire_ms, 30u * 60u * 1000u);
    ipfix_msg(&m, false, 1);
    assert_int_equal(decode(t, &s, &m, 65000), DEC_E_NOTEMPLATE); /* forgotten templates */
    acc.n = 0;
    assert_int_equal(dec_exporter_each(t->ctx, info_cb, &acc), 0);
    assert_int_equal(acc.n, 2);
    assert_int_equal(acc.got.idle_ms, 60000); /* by the latest now_ms the context was given */

    th_src(&s, 11, 1, DEC_TR_UDP);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, s.addr, 1), 1);
    th_src(&s, 10, 2, DEC_TR_UDP);
    assert_int_equal(dec_exporter_forget_addr(t->ctx, s.addr, -1), 1);
    assert_int_equal(st->memory_bytes, empty); /* every byte given back */
    th_free(t);
}

/* A template of n fields, id `id`, in a template set of its own. */
static void
big_template(struct mb *m, uint16_t id, uint16_t n)
{
    mb_set(m, 2);
    mb_u16(m, id);
    mb_u16(m, n);
    for (uint16_t f = 0; f < n; f++) {
        mb_field(m, (uint16_t) (1000 + f), 1);
    }
    mb_set_end(m);
}

/* Interface names (options: ifindex scope, IE 82) make the domain's name table. */
static void
ifname_options(struct mb *m)
{
    mb_set(m, 3);
    mb_u16(m, 400);
    mb_u16(m, 2);
    mb_u16(m, 1);
    mb_field(m, 10, 4);
    mb_field(m, 82, 8);
    mb_set_end(m);
    mb_set(m, 400);
    mb_u32(m, 4);
    mb_bytes(m, "ge-0/0/4", 8);
    mb_set_end(m);
}

/*
 * Many exporters with many templates, interface names and domains stay under the budget
 * (the least recently heard are forgotten), and a new legitimate exporter still works.
 * Before: nothing was ever given back (1.31 GB of RSS from 20 MB of UDP).
 */
static void
test_memory_budget(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.memory_max = 4u << 20;
    struct th *t = th_new(&cfg);
    const struct dec_stats *st = th_stats(t);
    struct dec_src s, legit;
    struct mb m;

    for (uint32_t k = 0; k < 200; k++) {
        src_of(&s, k, DEC_TR_UDP);
        for (uint32_t d = 0; d < 4; d++) {
            for (uint16_t b = 0; b < 4; b++) {
                mb_ipfix_hdr(&m, SECS, 0, d);
                for (uint16_t i = 0; i < 4; i++) {
                    big_template(&m, (uint16_t) (256 + b * 4 + i), 120);
                }
                if (b == 0) {
                    ifname_options(&m);
                }
                mb_done(&m);
                int rc = decode(t, &s, &m, 1000 + k);
                assert_true(rc == 0 || rc == DEC_E_LIMIT);
                assert_true(st->memory_bytes <= cfg.memory_max);
            }
        }
    }
    assert_true(st->exporters_evicted > 0);
    assert_int_equal(st->err[DEC_R_EXPORTER_LIMIT], 0);
    src_of(&legit, 9000, DEC_TR_UDP);
    assert_stream_decodes(t, &legit, 5000);

    /* forgetting everyone gives every byte back (domains and interface names included) */
    struct th *e = th_new(&cfg);
    uint64_t empty = dec_ctx_stats(e->ctx)->memory_bytes;
    th_free(e);
    for (uint32_t k = 0; k <= 9000; k++) {
        src_of(&s, k, DEC_TR_UDP);
        dec_exporter_forget(t->ctx, &s);
    }
    assert_true(st->memory_bytes >= empty); /* the table grew, it does not shrink */
    assert_true(st->memory_bytes < empty + 64u * 1024u);
    th_free(t);
}

/* One exporter alone cannot pass the budget: what does not fit is refused and counted. */
static void
test_memory_limit_refuses(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.memory_max = 1u << 20;
    cfg.tmpl_max = 65535;
    struct th *t = th_new(&cfg);
    const struct dec_stats *st = th_stats(t);
    struct mb m;
    int limited = 0;

    for (uint16_t b = 0; b < 100; b++) {
        mb_ipfix_hdr(&m, SECS, 0, DOM);
        for (uint16_t i = 0; i < 4; i++) {
            big_template(&m, (uint16_t) (256 + b * 4 + i), 400);
        }
        mb_done(&m);
        int rc = th_decode(t, &m, 0);
        assert_true(rc == 0 || rc == DEC_E_LIMIT);
        limited += rc == DEC_E_LIMIT;
        assert_true(st->memory_bytes <= cfg.memory_max);
    }
    assert_true(limited > 0);
    assert_true(st->err[DEC_R_MEMORY_LIMIT] > 0);
    assert_string_equal(dec_reason_name(DEC_R_MEMORY_LIMIT), "memory-limit");
    th_free(t);
}

/*
 * templates_max 65535 and 32,800 templates in one domain: the per-domain capacity doubles
 * past 32,768. Before: a 16-bit capacity wrapped to 0, and ASan saw a heap-buffer-overflow in
 * domain_reserve.
 */
static void
test_templates_past_32768(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.tmpl_max = 65535;
    struct th *t = th_new(&cfg);
    struct mb m;
    uint32_t id = 256;

    while (id < 256 + 32800) {
        mb_ipfix_hdr(&m, SECS, 0, DOM);
        mb_set(&m, 2);
        for (int i = 0; i < 1000 && id < 256 + 32800; i++, id++) {
            mb_u16(&m, id);
            mb_u16(&m, 1);
            mb_field(&m, 2, 4);
        }
        mb_set_end(&m);
        mb_done(&m);
        assert_int_equal(th_decode(t, &m, 0), 0);
    }
    assert_int_equal(th_stats(t)->templates, 32800);
    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, (uint16_t) (256 + 32799));
    mb_u32(&m, 5);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 0), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(t->recs[0].packets, 5);
    th_free(t);
}

static int
data_for(struct th *t, uint16_t id, uint32_t v)
{
    struct mb m;

    mb_ipfix_hdr(&m, SECS, 0, DOM);
    mb_set(&m, id);
    mb_u32(&m, v);
    mb_set_end(&m);
    mb_done(&m);
    return th_decode(t, &m, 0);
}

/*
 * Past DEC_TMPL_INDEX_MIN templates a domain is looked up by a direct index: it must follow
 * every add, redefinition, withdrawal (the last template moves into the gap) and expiry.
 */
static void
test_template_index(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.tmpl_max = 65535;
    cfg.tmpl_lifetime_ms = 1000;
    struct th *t = th_new(&cfg);
    struct mb m;

    for (uint16_t base = 256; base < 256 + 3000; base += 1000) {
        mb_ipfix_hdr(&m, SECS, 0, DOM);
        mb_set(&m, 2);
        for (uint16_t id = base; id < base + 1000; id++) {
            mb_u16(&m, id);
            mb_u16(&m, 1);
            mb_field(&m, id % 2 ? 2 : 1, 4); /* odd ids: packets, even: bytes */
        }
        mb_set_end(&m);
        mb_done(&m);
        assert_int_equal(th_decode(t, &m, 0), 0);
    }
    for (uint16_t id = 256; id < 256 + 3000; id += 97) {
        assert_int_equal(data_for(t, id, id), 0);
        assert_int_equal(t->sink.n, 1);
        assert_int_equal(id % 2 ? t->recs[0].packets : t->recs[0].bytes, id);
    }
    mb_ipfix_hdr(&m, SECS, 0, DOM); /* withdraw 300; redefine 301 as bytes */
    mb_set(&m, 2);
    mb_u16(&m, 300);
    mb_u16(&m, 0);
    mb_u16(&m, 301);
    mb_u16(&m, 1);
    mb_field(&m, 1, 4);
    mb_set_end(&m);
    mb_done(&m);
    assert_int_equal(th_decode(t, &m, 500), 0);
    assert_int_equal(data_for(t, 300, 1), DEC_E_NOTEMPLATE);
    assert_int_equal(data_for(t, 301, 7), 0);
    assert_int_equal(t->recs[0].bytes, 7);
    assert_int_equal(data_for(t, 256 + 2999, 9), 0); /* the last one moved into 300's place */
    assert_int_equal(t->recs[0].packets, 9);
    dec_expire(t->ctx, 1200); /* all but 301 (refreshed at 500) expire */
    assert_int_equal(th_stats(t)->tmpl_expired, 2998);
    assert_int_equal(data_for(t, 301, 8), 0);
    assert_int_equal(t->recs[0].bytes, 8);
    assert_int_equal(data_for(t, 256 + 2999, 9), DEC_E_NOTEMPLATE);
    th_free(t);
}

static int
count_cb(void *arg, const struct dec_exporter_info *info)
{
    (void) info;
    (*(int *) arg)++;
    return 0;
}

/*
 * The snapshot keeps exporters with live templates only: not v5 ones, not one whose
 * templates outlived their lifetime (even before dec_expire ran).
 */
static void
test_snapshot_live_only(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.tmpl_lifetime_ms = 60000;
    struct th *t = th_new(&cfg);
    struct dec_src v5, stale, live;
    struct mb m;
    struct snapbuf snap = {0};

    src_of(&v5, 1, DEC_TR_UDP);
    src_of(&stale, 2, DEC_TR_UDP);
    src_of(&live, 3, DEC_TR_UDP);
    v5_one(&m, 0);
    assert_int_equal(decode(t, &v5, &m, 1000), 0);
    ipfix_msg(&m, true, 1);
    assert_int_equal(decode(t, &stale, &m, 1000), 0);
    assert_int_equal(decode(t, &live, &m, 70000), 0);
    assert_int_equal(dec_tmpl_save(t->ctx, snap_write, &snap), 0);
    th_free(t);

    t = th_new(&cfg);
    assert_int_equal(dec_tmpl_load(t->ctx, snap.b, snap.n, 70000), 0);
    int n = 0;
    assert_int_equal(dec_exporter_each(t->ctx, count_cb, &n), 0);
    assert_int_equal(n, 1);
    ipfix_msg(&m, false, 2);
    assert_int_equal(decode(t, &live, &m, 70000), 0);
    assert_int_equal(t->sink.n, 1);
    free(snap.b);
    th_free(t);
}

/*
 * The snapshot stops at snapshot_max with DEC_E_SNAPSHOT (counted): what was written is a
 * valid snapshot holding the most recently heard exporters.
 */
static void
test_snapshot_bound(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.snapshot_max = 8 + 3 * 40; /* the header and three one-field templates */
    struct th *t = th_new(&cfg);
    struct dec_src s;
    struct mb m;
    struct snapbuf snap = {0};

    ipfix_msg(&m, true, 1);
    for (uint32_t k = 0; k < 5; k++) {
        src_of(&s, k, DEC_TR_UDP);
        assert_int_equal(decode(t, &s, &m, 1000 + k), 0);
    }
    assert_int_equal(dec_tmpl_save(t->ctx, snap_write, &snap), DEC_E_SNAPSHOT);
    assert_int_equal(th_stats(t)->snapshot_truncated, 1);
    assert_true(snap.n <= cfg.snapshot_max);
    assert_string_not_equal(dec_strerror(DEC_E_SNAPSHOT), "unknown error");
    th_free(t);

    t = th_new(NULL);
    assert_int_equal(dec_tmpl_load(t->ctx, snap.b, snap.n, 2000), 0);
    int n = 0;
    assert_int_equal(dec_exporter_each(t->ctx, count_cb, &n), 0);
    assert_int_equal(n, 3);
    ipfix_msg(&m, false, 2);
    src_of(&s, 4, DEC_TR_UDP); /* the most recent: saved */
    assert_int_equal(decode(t, &s, &m, 2000), 0);
    src_of(&s, 0, DEC_TR_UDP); /* the oldest: left out */
    assert_int_equal(decode(t, &s, &m, 2000), DEC_E_NOTEMPLATE);
    free(snap.b);
    th_free(t);
}

/* A reloaded snapshot keeps the eviction order: the oldest saved exporter goes first. */
static void
test_snapshot_keeps_order(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.exporters_max = 3;
    struct th *t = th_new(&cfg);
    struct dec_src s;
    struct mb m;
    struct snapbuf snap = {0};

    ipfix_msg(&m, true, 1);
    for (uint32_t k = 0; k < 3; k++) {
        src_of(&s, k, DEC_TR_UDP);
        assert_int_equal(decode(t, &s, &m, 1000 + k), 0);
    }
    assert_int_equal(dec_tmpl_save(t->ctx, snap_write, &snap), 0);
    th_free(t);
    t = th_new(&cfg);
    assert_int_equal(dec_tmpl_load(t->ctx, snap.b, snap.n, 2000), 0);
    src_of(&s, 3, DEC_TR_UDP); /* a newcomer: exporter 0 makes room */
    assert_int_equal(decode(t, &s, &m, 2000), 0);
    ipfix_msg(&m, false, 2);
    src_of(&s, 1, DEC_TR_UDP);
    assert_int_equal(decode(t, &s, &m, 2000), 0);
    src_of(&s, 0, DEC_TR_UDP);
    assert_int_equal(decode(t, &s, &m, 2000), DEC_E_NOTEMPLATE);
    free(snap.b);
    th_free(t);
}

/* A TCP exporter sends its templates once per session: a UDP one is evicted before it. */
static void
test_evict_udp_before_tcp(void **state)
{
    (void) state;
    struct dec_cfg cfg;
    dec_cfg_default(&cfg);
    cfg.exporters_max = 2;
    struct th *t = th_new(&cfg);
    struct dec_src tcp, udp, udp2;
    struct mb m;

    src_of(&tcp, 1, DEC_TR_TCP);
    src_of(&udp, 2, DEC_TR_UDP);
    src_of(&udp2, 3, DEC_TR_UDP);
    ipfix_msg(&m, true, 1);
    assert_int_equal(decode(t, &tcp, &m, 1000), 0); /* the least recently heard */
    assert_int_equal(decode(t, &udp, &m, 2000), 0);
    assert_int_equal(decode(t, &udp2, &m, 3000), 0); /* udp makes room, not tcp */
    assert_int_equal(th_stats(t)->exporters_evicted, 1);
    ipfix_msg(&m, false, 2);
    assert_int_equal(decode(t, &tcp, &m, 4000), 0);
    assert_int_equal(t->sink.n, 1);
    assert_int_equal(decode(t, &udp2, &m, 4000), 0);
    /* a TCP newcomer also takes the UDP exporter's place, not the older TCP one's */
    struct dec_src tcp2, tcp3;
    src_of(&tcp2, 4, DEC_TR_TCP);
    ipfix_msg(&m, true, 1);
    assert_int_equal(decode(t, &tcp2, &m, 5000), 0);
    assert_int_equal(th_stats(t)->exporters_evicted, 2);
    ipfix_msg(&m, false, 2);
    assert_int_equal(decode(t, &tcp, &m, 6000), 0); /* still known */
    assert_int_equal(t->sink.n, 1);
    /* only TCP exporters left: the least recently heard one (tcp2) goes */
    src_of(&tcp3, 5, DEC_TR_TCP);
    assert_int_equal(decode(t, &tcp3, &m, 7000), DEC_E_NOTEMPLATE);
    assert_int_equal(th_stats(t)->exporters_evicted, 3);
    assert_int_equal(decode(t, &tcp, &m, 8000), 0);
    assert_int_equal(decode(t, &tcp2, &m, 8000), DEC_E_NOTEMPLATE); /* tcp2 was it */
    th_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_churn_then_restart),   cmocka_unit_test(test_idle_expiry),
        cmocka_unit_test(test_forget_addr),          cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_memory_limit_refuses), cmocka_unit_test(test_templates_past_32768),
        cmocka_unit_test(test_snapshot_live_only),   cmocka_unit_test(test_snapshot_bound),
        cmocka_unit_test(test_snapshot_keeps_order), cmocka_unit_test(test_evict_udp_before_tcp),
        cmocka_unit_test(test_template_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
