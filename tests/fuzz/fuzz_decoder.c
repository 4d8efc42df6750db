/* SPDX-License-Identifier: MIT */
/*
 * fuzz_decoder: the libFuzzer target for the decoder (STYLE.md §7).
 *
 * One input is a run of datagrams from a few exporters through ONE dec_ctx, so templates,
 * parked sets, sequence state and options data carry across datagrams. The input format
 * (a header byte, then length-prefixed chunks whose first byte picks exporter, action and
 * clock step) is described in fuzz_decoder.h. The context has small limits (8 templates per
 * exporter, 4 exporters, 4 parked sets) and the sink holds 4 records, so caps, flushes and
 * refused flushes are all reached; an input can also make one allocation fail. Its memory
 * budget is small (fuzz_decoder.h), so eviction by memory and refusals are reached too, and
 * the budget is checked after every call.
 *
 * Checked on every record and call: what the decoder guarantees (flow.h, dec.h), not what
 * exporters promise. Start and end times are not compared: exporters send end < start.
 * After the run the context is saved with dec_tmpl_save and loaded into a second context,
 * which must accept our own snapshot whole and give back a snapshot of the same size.
 *
 * Checks use FZ_CHECK, not assert(), so they stay on in release builds where replay.c runs
 * this file through the regression inputs under gcc.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "fuzz_decoder.h"

#define FZ_REFUSED  (-EPIPE) /* what the refusing flush returns */
#define FZ_SNAP_MAX (1u << 20)

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    struct dec_ctx *dec;
    struct dec_cfg cfg;
    struct flow_rec recs[FZ_CAP];
    struct dec_src src; /* exporter of the message being decoded */
    size_t checked;     /* recs[0..checked) were checked in an earlier call */
    uint64_t flushed;   /* records handed to flush during the current call */
    uint64_t emitted;   /* records emitted over the whole input */
    bool refuse;
    bool clock_back; /* the clock stepped back at least once */
    unsigned long nalloc;
    unsigned long fail_at;
};

static void *
fz_alloc(void *arg, size_t n)
{
    struct fz *fz = arg;
    if (++fz->nalloc == fz->fail_at) {
        return NULL;
    }
    return calloc(1, n);
}

static void
fz_release(void *arg, void *p)
{
    (void) arg;
    free(p);
}

static bool
all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

static void
check_str(const char *s, bool present)
{
    FZ_CHECK(memchr(s, '\0', FLOW_ID_MAX) != NULL);
    FZ_CHECK(present || s[0] == '\0');
}

/* flow.h: "a field whose bit is clear holds zero". */
static void
check_absent(const struct flow_rec *r)
{
    uint32_t p = r->present;
    FZ_CHECK((p & FLOW_HAS_SRCADDR) || all_zero(r->srcaddr, 16));
    FZ_CHECK((p & FLOW_HAS_DSTADDR) || all_zero(r->dstaddr, 16));
    FZ_CHECK((p & FLOW_HAS_SRCPORT) || r->srcport == 0);
    FZ_CHECK((p & FLOW_HAS_DSTPORT) || r->dstport == 0);
    FZ_CHECK((p & FLOW_HAS_PROTOCOL) || r->protocol == 0);
    FZ_CHECK((p & FLOW_HAS_PACKETS) || r->packets == 0);
    FZ_CHECK((p & FLOW_HAS_BYTES) || r->bytes == 0);
    FZ_CHECK((p & FLOW_HAS_TCPFLAGS) || r->tcp_flags == 0);
    FZ_CHECK((p & FLOW_HAS_TOS) || r->tos == 0);
    FZ_CHECK((p & FLOW_HAS_INPORT) || r->inport == 0);
    FZ_CHECK((p & FLOW_HAS_OUTPORT) || r->outport == 0);
    FZ_CHECK((p & FLOW_HAS_DIRECTION) || r->direction == FLOW_DIR_UNKNOWN);
    FZ_CHECK((p & FLOW_HAS_RTT) || r->rtt_us == 0);
    FZ_CHECK((p & FLOW_HAS_SAMPLING) || r->sampling == 0);
}

static void
check_rec(const struct fz *fz, const struct flow_rec *r)
{
    const uint32_t known = (FLOW_HAS_ACCOUNT << 1) - 1u;

    FZ_CHECK(r->version == 1 || r->version == 5 || r->version == 7 || r->version == 9 ||
             r->version == 10);
    FZ_CHECK((r->present & ~known) == 0);
    FZ_CHECK((r->flags & ~(FLOW_F_RAW_TRUNC | FLOW_F_TIME_GUESS)) == 0);
    FZ_CHECK(r->direction <= FLOW_DIR_OUT);
    FZ_CHECK(r->action <= FLOW_ACT_REJECT);
    FZ_CHECK(r->log_status <= FLOW_LS_SKIPDATA);
    FZ_CHECK(r->raw_len <= FLOW_RAW_MAX);
    size_t off = 0;
    struct flow_raw_ie ie;
    while (flow_raw_next(r, &off, &ie)) {
        FZ_CHECK(ie.val + ie.len <= r->raw + r->raw_len);
    }
    FZ_CHECK(off == r->raw_len); /* the walk ends exactly at raw_len: the list is whole */
    check_str(r->instance_id, (r->present & FLOW_HAS_INSTANCE) != 0);
    check_str(r->snid, (r->present & FLOW_HAS_SNID) != 0);
    check_str(r->account_id, (r->present & FLOW_HAS_ACCOUNT) != 0);
    check_absent(r);
    /* Parked sets are per exporter, so every record names the exporter being decoded. */
    FZ_CHECK(memcmp(r->exporter, fz->src.addr, 16) == 0);
    FZ_CHECK(r->exporter_port == fz->src.port);
}

static int
fz_flush(void *arg, struct flow_rec *recs, size_t n)
{
    struct fz *fz = arg;

    FZ_CHECK(recs == fz->recs);
    FZ_CHECK(n > 0 && n <= FZ_CAP);
    FZ_CHECK(fz->checked <= n);
    for (size_t i = fz->checked; i < n; i++) {
        check_rec(fz, &recs[i]);
    }
    fz->checked = 0;
    fz->flushed += n;
    return fz->refuse ? FZ_REFUSED : 0;
}

static bool
rc_valid(int rc)
{
    return rc == 0 || (rc <= -1000 && rc > -1100) || rc == -ENOMEM || rc == FZ_REFUSED;
}

static void
check_ifname(const struct fz *fz, const struct flow_rec *r)
{
    const char *name = dec_ifname(fz->dec, &fz->src, r->domain, r->inport);
    if (name != NULL) {
        FZ_CHECK(memchr(name, '\0', 32) != NULL); /* DEC_IFNAME_LEN, NUL included */
    }
}

static void
fz_decode(struct fz *fz, struct dec_sink *out, const uint8_t *p, size_t len, uint64_t now_ms)
{
    struct dec_msg msg;
    size_t before = out->n;

    fz->flushed = 0;
    fz->checked = out->n;
    int rc = dec_decode(fz->dec, &fz->src, p, len, now_ms, out, &msg);
    FZ_CHECK(rc_valid(rc));
    FZ_CHECK(dec_strerror(rc) != NULL);
    FZ_CHECK(out->n <= out->cap);
    FZ_CHECK(dec_ctx_stats(fz->dec)->memory_bytes <= fz->cfg.memory_max);
    FZ_CHECK(msg.version == 0 || msg.version == 1 || msg.version == 5 || msg.version == 7 ||
             msg.version == 9 || msg.version == 10);
    FZ_CHECK(msg.records == fz->flushed + out->n - before);
    for (size_t i = fz->checked; i < out->n; i++) {
        check_rec(fz, &out->recs[i]);
    }
    if (out->n > 0) {
        check_ifname(fz, &out->recs[out->n - 1]);
    }
    fz->emitted += msg.records;

    long ml = dec_msg_len(p, len);
    if (len < 4) {
        FZ_CHECK(ml == 0);
    } else if (ml > 0) {
        FZ_CHECK(ml >= 16 && ml == (long) (p[2] << 8 | p[3]));
    } else {
        FZ_CHECK(ml == DEC_E_VERSION || ml == DEC_E_MALFORMED);
    }
}

struct each {
    const struct dec_cfg *cfg;
    bool clock_back;
    unsigned n;
    unsigned stop_at; /* return 7 from the nth call; 0 = never */
};

static int
on_exporter(void *arg, const struct dec_exporter_info *info)
{
    struct each *ea = arg;

    ea->n++;
    FZ_CHECK(ea->n <= ea->cfg->exporters_max);
    FZ_CHECK(info->templates <= ea->cfg->tmpl_max);
    FZ_CHECK(info->pending_sets <= ea->cfg->pending_sets);
    FZ_CHECK(info->domains <= 1024);
    FZ_CHECK(info->version == 0 || info->version == 1 || info->version == 5 || info->version == 7 ||
             info->version == 9 || info->version == 10);
    /* An exporter that only came from a snapshot has sent nothing yet: last_ms is 0. */
    FZ_CHECK(ea->clock_back || info->last_ms == 0 || info->first_ms <= info->last_ms);
    return ea->n == ea->stop_at ? 7 : 0;
}

static void
check_exporters(const struct dec_ctx *dec, const struct dec_cfg *cfg, bool clock_back)
{
    struct each ea = {cfg, clock_back, 0, 0};
    FZ_CHECK(dec_exporter_each(dec, on_exporter, &ea) == 0);
    if (ea.n > 0) {
        unsigned all = ea.n;
        ea.n = 0;
        ea.stop_at = 1;
        FZ_CHECK(dec_exporter_each(dec, on_exporter, &ea) == 7);
        FZ_CHECK(ea.n == 1 && all >= 1);
    }
}

struct snap {
    uint8_t *p;
    size_t n;
    size_t cap;
    unsigned calls;
    unsigned fail_at; /* fail the nth write; 0 = never */
};

static int
snap_write(void *arg, const void *p, size_t n)
{
    struct snap *s = arg;

    if (++s->calls == s->fail_at) {
        return -EIO;
    }
    if (s->n + n > FZ_SNAP_MAX) {
        return -EFBIG;
    }
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + n) {
            cap *= 2;
        }
        uint8_t *q = realloc(s->p, cap);
        if (q == NULL) {
            return -ENOMEM;
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
    return 0;
}

/* Save, load into a fresh context, save again: our own snapshot must load whole. */
static void
check_snapshot(const struct fz *fz, uint64_t now_ms)
{
    struct snap s1 = {0}, s2 = {0}, bad = {.fail_at = 2};
    struct dec_cfg cfg = fz->cfg;
    struct dec_ctx *two = NULL;

    FZ_CHECK(dec_tmpl_save(fz->dec, snap_write, &s1) == 0);
    FZ_CHECK(s1.n >= 8 && memcmp(s1.p, "FLTS", 4) == 0);
    int rc = dec_tmpl_save(fz->dec, snap_write, &bad);
    FZ_CHECK(rc == 0 || rc == -EIO);
    FZ_CHECK(rc == -EIO || bad.calls < 2);
    cfg.alloc = (struct dec_alloc){NULL, NULL, NULL};
    cfg.memory_max = 0; /* the default: what one budget held fits, whatever its layout */
    if (dec_ctx_create(&two, &cfg) != 0) {
        goto out;
    }
    FZ_CHECK(dec_tmpl_load(two, s1.p, s1.n, now_ms) == 0);
    FZ_CHECK(dec_tmpl_save(two, snap_write, &s2) == 0);
    FZ_CHECK(s2.n == s1.n);
    check_exporters(two, &cfg, fz->clock_back);
    /* A cut snapshot is refused or taken in part, never misread. */
    rc = dec_tmpl_load(two, s1.p, s1.n / 2, now_ms);
    FZ_CHECK(rc == 0 || rc == DEC_E_FORMAT);
    dec_ctx_destroy(two);
out:
    free(s1.p);
    free(s2.p);
    free(bad.p);
}

static void
fz_chunk(struct fz *fz, struct dec_sink *out, uint8_t ctl, const uint8_t *p, size_t len,
         uint64_t now_ms)
{
    unsigned action = fz_ctl_action(ctl);

    fz_src(fz_ctl_source(ctl), &fz->src);
    fz->refuse = action == FZ_ACT_REFUSE;
    if (action == FZ_ACT_LOAD) {
        int rc = dec_tmpl_load(fz->dec, p, len, now_ms);
        FZ_CHECK(rc == 0 || rc == DEC_E_FORMAT || rc == DEC_E_LIMIT || rc == -ENOMEM);
        return;
    }
    if (action == FZ_ACT_FORGET && (ctl & 0x80u)) {
        int n = dec_exporter_forget_addr(fz->dec, fz->src.addr, -1);
        FZ_CHECK(n >= 0 && (unsigned) n <= fz->cfg.exporters_max);
    } else if (action == FZ_ACT_FORGET) {
        dec_exporter_forget(fz->dec, &fz->src);
    }
    fz_decode(fz, out, p, len, now_ms);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz fz;
    uint64_t now_ms = FZ_T0_MS;

    if (size < FZ_HDR) {
        return 0;
    }
    memset(&fz, 0, sizeof(fz));
    fz.fail_at = data[0];
    fz_cfg(&fz.cfg);
    fz.cfg.alloc = (struct dec_alloc){fz_alloc, fz_release, &fz};
    if (dec_ctx_create(&fz.dec, &fz.cfg) != 0) {
        FZ_CHECK(fz.fail_at != 0);
        return 0;
    }
    struct dec_sink out = {fz.recs, FZ_CAP, 0, fz_flush, &fz};
    size_t off = FZ_HDR;
    while (size - off >= FZ_CHUNK) {
        uint8_t ctl = data[off];
        size_t len = (size_t) data[off + 1] << 8 | data[off + 2];
        off += FZ_CHUNK;
        if (len > size - off) {
            len = size - off;
        }
        int32_t step = fz_steps_ms[fz_ctl_step(ctl)];
        fz.clock_back |= step < 0;
        now_ms = (uint64_t) ((int64_t) now_ms + step);
        dec_expire(fz.dec, now_ms);
        fz_chunk(&fz, &out, ctl, data + off, len, now_ms);
        off += len;
        check_exporters(fz.dec, &fz.cfg, fz.clock_back);
    }
    const struct dec_stats *st = dec_ctx_stats(fz.dec);
    FZ_CHECK(st->records == fz.emitted);
    for (int i = 0; i < DEC_R_COUNT; i++) {
        FZ_CHECK(dec_reason_name((enum dec_reason) i) != NULL);
    }
    check_snapshot(&fz, now_ms);
    dec_ctx_destroy(fz.dec);
    return 0;
}
