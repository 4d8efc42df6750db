/* SPDX-License-Identifier: MIT */
/*
 * The ingest pipeline: a datagram is decoded straight into the current storage batch (the
 * decoder's flush callback hands a full batch to the store's writer and points the decoder
 * at the next one), and each message's header notes (export time, sequence loss) go with it.
 * Nothing here waits: when the store has no free batch the records are decoded into a
 * scratch buffer and counted as dropped, and coll_pipeline_starved tells the UDP listeners
 * to stop reading until a batch is free (the kernel then drops whole datagrams, counted as
 * socket drops, instead of this thread decoding records only to discard them). Templates are loaded from the store at start and
 * saved at exit, so a restarted collector decodes at once; in between, when they changed, a
 * snapshot is made here every template_save_interval and handed to the saver (the query plane writes
 * it to the store, off this loop: a catalog commit waits on the disk).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coll.h"

#define SCRATCH      256
#define EXPIRE_MS    1000u

struct coll_pipeline {
    struct dec_ctx *dec;
    struct stor_env *stor;
    struct stor_batch *b; /* being filled, or NULL when the store had none free */
    struct dec_sink sink;
    struct flow_rec scratch[SCRATCH];
    struct coll_counters c;
    uint64_t tmpl_saved_ms;
    uint64_t tmpl_seen; /* the decoder's template changes at the last snapshot */
    coll_tmpl_saver_fn *saver;
    uint32_t save_every_ms;
    void *saver_arg;
    struct coll_lograte save_rl;
    uint64_t expired_ms;
    struct coll_extab *ex; /* per-exporter counters, or NULL */
};

/* Point the decoder at a free batch, or at the scratch buffer when there is none. */
static void
take_batch(struct coll_pipeline *p)
{
    p->b = stor_batch_get(p->stor);
    if (p->b != NULL) {
        p->sink.recs = p->b->recs;
        p->sink.cap = p->b->cap;
    } else {
        p->sink.recs = p->scratch;
        p->sink.cap = SCRATCH;
    }
    p->sink.n = 0;
}

static void
submit(struct coll_pipeline *p)
{
    if (p->b != NULL) {
        p->b->n = p->sink.n;
        p->b->recv_ms = flow_wall_ms();
        stor_batch_submit(p->stor, p->b);
        p->c.batches++;
    } else {
        p->c.records_dropped += p->sink.n;
    }
    take_batch(p);
}

/* The decoder's flush: the batch is full. */
static int
on_full(void *arg, struct flow_rec *recs, size_t n)
{
    struct coll_pipeline *p = arg;
    (void) recs;
    p->sink.n = n;
    submit(p);
    return 0;
}

static int
save_write(void *arg, const void *data, size_t n)
{
    struct {
        uint8_t *p;
        size_t len, cap;
    } *buf = arg;
    if (buf->len + n > buf->cap) {
        size_t cap = (buf->len + n) * 2;
        uint8_t *q = realloc(buf->p, cap);
        if (q == NULL) {
            return -ENOMEM;
        }
        buf->p = q;
        buf->cap = cap;
    }
    memcpy(buf->p + buf->len, data, n);
    buf->len += n;
    return 0;
}

/* Everything that changes what a snapshot holds (new or refreshed, withdrawn, expired
 * templates, and exporters forgotten). */
static uint64_t
tmpl_changes(const struct coll_pipeline *p)
{
    const struct dec_stats *ds = dec_ctx_stats(p->dec);
    return ds->templates + ds->withdrawals + ds->tmpl_expired + p->c.exporters_forgotten;
}

/* A snapshot of the templates, malloc'ed into *out; 0 or the decoder's error (logged). */
static int
tmpl_snapshot(struct coll_pipeline *p, void **out, size_t *len)
{
    struct {
        uint8_t *p;
        size_t len, cap;
    } buf = {NULL, 0, 0};
    int rc = dec_tmpl_save(p->dec, save_write, &buf);
    if (rc != 0) {
        p->c.tmpl_save_errors++;
        coll_log_rl(&p->save_rl, COLL_LOG_ERR,
                    "template snapshot not made: %s; a restart would forget templates learned "
                    "since the last one",
                    rc == -ENOMEM ? "out of memory" : dec_strerror(rc));
        free(buf.p);
        return rc;
    }
    p->c.tmpl_snapshots++;
    *out = buf.p;
    *len = buf.len;
    return 0;
}

/* At exit: written here and now (the query plane has stopped). */
static void
templates_save_now(struct coll_pipeline *p)
{
    void *buf;
    size_t len;
    if (tmpl_snapshot(p, &buf, &len) == 0) {
        int rc = stor_meta_put(p->stor, "templates", buf, len);
        if (rc != 0) {
            coll_log(COLL_LOG_ERR, "template snapshot (%zu bytes) not saved: %s", len,
                     stor_strerror(rc));
        }
        free(buf);
    }
}

/* Periodically: a snapshot when templates changed, handed to the saver. */
static void
templates_save(struct coll_pipeline *p, uint64_t now_ms)
{
    void *buf;
    size_t len;
    uint64_t seen = tmpl_changes(p);
    p->tmpl_saved_ms = now_ms;
    if (p->saver == NULL || seen == p->tmpl_seen) {
        return;
    }
    p->tmpl_seen = seen;
    if (tmpl_snapshot(p, &buf, &len) == 0) {
        p->saver(p->saver_arg, buf, len);
    }
}

void
coll_pipeline_set_saver(struct coll_pipeline *p, coll_tmpl_saver_fn *fn, void *arg,
                        uint32_t every_ms)
{
    p->saver = fn;
    p->saver_arg = arg;
    p->save_every_ms = every_ms;
}

int
coll_pipeline_open(struct coll_pipeline **out, struct stor_env *stor, const struct dec_cfg *dcfg,
                   uint64_t now_ms)
{
    struct coll_pipeline *p = calloc(1, sizeof(*p));
    int rc;

    if (p == NULL) {
        return -ENOMEM;
    }
    if ((rc = dec_ctx_create(&p->dec, dcfg)) != 0) {
        free(p);
        return rc;
    }
    p->stor = stor;
    p->sink.flush = on_full;
    p->sink.arg = p;
    void *snap;
    size_t len;
    if (stor_meta_get(stor, "templates", &snap, &len) == 0) {
        dec_tmpl_load(p->dec, snap, len, now_ms); /* a damaged snapshot only costs templates */
        free(snap);
    }
    p->tmpl_saved_ms = now_ms;
    p->tmpl_seen = tmpl_changes(p); /* what was just loaded is saved already */
    take_batch(p);
    *out = p;
    return 0;
}

static void
src_of(const struct sockaddr *from, uint8_t transport, struct dec_src *src)
{
    memset(src, 0, sizeof(*src));
    src->transport = transport;
    coll_addr16(from, src->addr, &src->port);
}

void
coll_pipeline_message(struct coll_pipeline *p, const struct sockaddr *from, uint8_t transport,
                      const uint8_t *data, size_t len, uint64_t now_ms)
{
    struct dec_src src;
    struct dec_msg msg;

    src_of(from, transport, &src);
    p->c.datagrams++;
    p->c.octets += len;
    coll_repeat_tap(data, len); /* the repeater (repeat.c): a copy to each destination */
    dec_decode(p->dec, &src, data, len, now_ms, &p->sink, &msg);
    p->c.records += msg.records;
    if (p->ex != NULL) {
        coll_extab_note(p->ex, &src, &msg, len, now_ms, dec_ctx_stats(p->dec));
    }
    if (msg.version == 0 || p->b == NULL) {
        return; /* nothing parsed, or nowhere to note it */
    }
    if (p->b->nmsgs == p->b->msgs_cap) {
        submit(p);
        if (p->b == NULL) {
            return;
        }
    }
    struct stor_msg *m = &p->b->msgs[p->b->nmsgs++];
    memcpy(m->exporter, src.addr, 16);
    m->exporter_port = src.port;
    m->domain = msg.domain;
    m->export_ms = msg.export_ms;
    m->missed = msg.missed;
    m->instance_id[0] = '\0';
}

void
coll_pipeline_forget(struct coll_pipeline *p, const struct sockaddr *from)
{
    struct dec_src src;
    src_of(from, DEC_TR_TCP, &src);
    dec_exporter_forget(p->dec, &src);
}

struct forget_ctx {
    const uint8_t *addr;
    int port;
    struct dec_src *list;
    size_t n, cap;
};

static int
match_exporter(void *arg, const struct dec_exporter_info *info)
{
    struct forget_ctx *f = arg;
    if (memcmp(info->src.addr, f->addr, 16) != 0 || (f->port >= 0 && info->src.port != f->port)) {
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct dec_src *l = realloc(f->list, cap * sizeof(*l));
        if (l == NULL) {
            return -ENOMEM;
        }
        f->list = l;
        f->cap = cap;
    }
    f->list[f->n++] = info->src;
    return 0;
}

int
coll_pipeline_forget_addr(struct coll_pipeline *p, const uint8_t addr[16], int port,
                          struct dec_src **out, size_t *n)
{
    struct forget_ctx f = {.addr = addr, .port = port};
    int rc = dec_exporter_each(p->dec, match_exporter, &f);
    if (rc != 0) {
        free(f.list);
        return rc;
    }
    (void) dec_exporter_forget_addr(p->dec, addr, port); /* forgets the exporters listed */
    p->c.exporters_forgotten += f.n;
    *out = f.list;
    *n = f.n;
    return 0;
}

void
coll_pipeline_flush(struct coll_pipeline *p)
{
    if (p->sink.n > 0 || (p->b != NULL && p->b->nmsgs > 0)) {
        submit(p);
    } else if (p->b == NULL) {
        take_batch(p); /* try again for a real batch */
    }
}

bool
coll_pipeline_starved(const struct coll_pipeline *p)
{
    return p->b == NULL;
}

void
coll_pipeline_tick(struct coll_pipeline *p, uint64_t now_ms)
{
    if (now_ms - p->expired_ms >= EXPIRE_MS) {
        dec_expire(p->dec, now_ms); /* walks every exporter: once a second is plenty */
        if (p->ex != NULL) {
            coll_extab_resync(p->ex, dec_ctx_stats(p->dec)); /* expiry drops are nobody's */
        }
        p->expired_ms = now_ms;
    }
    if (p->saver != NULL && now_ms - p->tmpl_saved_ms >= p->save_every_ms) {
        templates_save(p, now_ms);
    }
}

void
coll_pipeline_counters(const struct coll_pipeline *p, struct coll_counters *out)
{
    *out = p->c;
}

const struct dec_stats *
coll_pipeline_dec_stats(const struct coll_pipeline *p)
{
    return dec_ctx_stats(p->dec);
}

void
coll_pipeline_set_extab(struct coll_pipeline *p, struct coll_extab *t)
{
    p->ex = t;
    if (t != NULL) {
        coll_extab_resync(t, dec_ctx_stats(p->dec));
    }
}

int
coll_pipeline_exporter_each(const struct coll_pipeline *p, dec_exporter_fn *fn, void *arg)
{
    return dec_exporter_each(p->dec, fn, arg);
}

void
coll_pipeline_close(struct coll_pipeline *p, uint64_t now_ms)
{
    if (p == NULL) {
        return;
    }
    coll_pipeline_flush(p);
    if (p->b != NULL) {
        stor_batch_put(p->stor, p->b);
    }
    (void) now_ms;
    templates_save_now(p);
    dec_ctx_destroy(p->dec);
    free(p);
}
