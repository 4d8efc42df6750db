/* SPDX-License-Identifier: MIT */
/*
 * The per-exporter counter table: datagrams, bytes, records, decode errors by reason,
 * data that came before its template, sequence gaps and missed records, first and last seen.
 *
 * Bounded: a fixed array of `cap` entries and an open-addressing index of twice that many
 * slots (linear probing, never deleted from), allocated once. When the table is full, new
 * sources are not tracked and their traffic is counted in the totals as untracked. Entries
 * live until the daemon stops: exporters are few and long-lived, and a count that drops
 * back to zero would mislead more than a stale entry does.
 *
 * Errors are charged by difference: the decoder counts its errors per context (and per
 * exporter, but forgets an exporter when its TCP session ends), so after each message the
 * context-wide counters are compared with the last ones seen and what moved belongs to that
 * message's exporter. A sum of the reason counters makes the common no-error case one pass.
 * Pure data: no I/O, no clock (the caller passes now_ms). The counter log line is formatted
 * here too (into a caller's buffer), so its layout is unit-tested with the table.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"

struct coll_extab {
    uint32_t cap, n;
    uint32_t mask;           /* index slots - 1 */
    uint32_t *index;         /* entry number + 1, 0 = empty */
    struct coll_exporter *e; /* cap entries, n in use, in first-seen order */
    struct coll_extab_totals tot;
    struct coll_exporter *last;     /* the last one looked up: most datagrams come in runs */
    uint64_t seen_err[DEC_R_COUNT]; /* the decoder's counters at the last call */
    uint64_t seen_errsum;
    uint64_t seen_pending;
    coll_extab_notice_fn *notice; /* new and untracked exporters, or NULL */
    void *notice_arg;
};

int
coll_extab_create(struct coll_extab **out, uint32_t cap)
{
    struct coll_extab *t;
    uint32_t slots = 2;

    if (cap == 0 || cap > (1u << 20)) {
        return -EINVAL;
    }
    while (slots < 2 * cap) {
        slots *= 2;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) {
        return -ENOMEM;
    }
    if ((t->index = calloc(slots, sizeof(*t->index))) == NULL) {
        goto free_t;
    }
    if ((t->e = calloc(cap, sizeof(*t->e))) == NULL) {
        goto free_index;
    }
    t->cap = cap;
    t->mask = slots - 1;
    *out = t;
    return 0;
free_index:
    free(t->index);
free_t:
    free(t);
    return -ENOMEM;
}

void
coll_extab_destroy(struct coll_extab *t)
{
    if (t == NULL) {
        return;
    }
    free(t->e);
    free(t->index);
    free(t);
}

/* The table's key for a source: TCP sessions from one address share an entry. */
static void
key_of(const struct dec_src *src, uint8_t addr[16], uint16_t *port)
{
    memcpy(addr, src->addr, 16);
    *port = src->transport == DEC_TR_TCP ? 0 : src->port;
}

static uint32_t
hash_of(const uint8_t addr[16], uint16_t port, uint8_t transport)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++) {
        h = (h ^ addr[i]) * 1099511628211ull;
    }
    h = (h ^ port) * 1099511628211ull;
    h = (h ^ transport) * 1099511628211ull;
    return (uint32_t) (h ^ (h >> 32));
}

/* The slot holding the key, or the empty slot where it would go. */
static uint32_t *
slot_of(const struct coll_extab *t, const uint8_t addr[16], uint16_t port, uint8_t transport)
{
    for (uint32_t i = hash_of(addr, port, transport) & t->mask;; i = (i + 1) & t->mask) {
        uint32_t *s = &t->index[i];
        if (*s == 0) {
            return s;
        }
        const struct coll_exporter *e = &t->e[*s - 1];
        if (e->port == port && e->transport == transport && memcmp(e->addr, addr, 16) == 0) {
            return s;
        }
    }
}

/* Find or add; NULL when the table is full. */
static struct coll_exporter *
lookup(struct coll_extab *t, const struct dec_src *src, bool add, uint64_t now_ms)
{
    uint8_t addr[16];
    uint16_t port;
    key_of(src, addr, &port);
    struct coll_exporter *e = t->last;
    if (e != NULL && e->port == port && e->transport == src->transport &&
        memcmp(e->addr, addr, 16) == 0) {
        return e;
    }
    uint32_t *s = slot_of(t, addr, port, src->transport);
    if (*s != 0) {
        return t->last = &t->e[*s - 1];
    }
    if (!add || t->n == t->cap) {
        return NULL;
    }
    e = t->last = &t->e[t->n++];
    memcpy(e->addr, addr, 16);
    e->port = port;
    e->transport = src->transport;
    e->first_ms = now_ms;
    *s = t->n; /* the index never fills: it has twice as many slots as entries */
    t->tot.tracked = t->n;
    if (t->notice != NULL) {
        t->notice(t->notice_arg, COLL_EXTAB_NEW, e);
    }
    return e;
}

/* Charge what the decoder's context counters moved by since the last call to e (or nobody). */
static void
charge(struct coll_extab *t, struct coll_exporter *e, const struct dec_stats *ds)
{
    uint64_t sum = 0;
    for (int r = 0; r < DEC_R_COUNT; r++) {
        sum += ds->err[r];
    }
    if (sum != t->seen_errsum) {
        for (int r = 0; r < DEC_R_COUNT; r++) {
            uint64_t d = ds->err[r] - t->seen_err[r];
            if (e != NULL) {
                e->err[r] += d;
                e->errors += d;
            }
            t->seen_err[r] = ds->err[r];
        }
        t->seen_errsum = sum;
    }
    if (e != NULL) {
        e->no_template += ds->pending_queued - t->seen_pending;
    }
    t->seen_pending = ds->pending_queued;
}

void
coll_extab_set_notice(struct coll_extab *t, coll_extab_notice_fn *fn, void *arg)
{
    t->notice = fn;
    t->notice_arg = arg;
}

void
coll_extab_note(struct coll_extab *t, const struct dec_src *src, const struct dec_msg *msg,
                size_t len, uint64_t now_ms, const struct dec_stats *ds)
{
    struct coll_exporter *e = lookup(t, src, true, now_ms);
    charge(t, e, ds);
    if (e == NULL) {
        if (t->notice != NULL) {
            struct coll_exporter u = {.transport = src->transport};
            key_of(src, u.addr, &u.port);
            t->notice(t->notice_arg, COLL_EXTAB_UNTRACKED, &u);
        }
        t->tot.untracked_datagrams++;
        t->tot.untracked_octets += len;
        t->tot.untracked_records += msg->records;
        return;
    }
    e->datagrams++;
    e->octets += len;
    e->records += msg->records;
    e->last_ms = now_ms;
    if (msg->version != 0) {
        e->version = msg->version;
    }
    if (msg->missed != 0) {
        e->seq_gaps++;
        e->seq_missed += msg->missed;
    }
}

void
coll_extab_resync(struct coll_extab *t, const struct dec_stats *ds)
{
    charge(t, NULL, ds);
}

void
coll_extab_templates_clear(struct coll_extab *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        t->e[i].templates = 0;
    }
}

void
coll_extab_templates_add(struct coll_extab *t, const struct dec_src *src, uint32_t n)
{
    struct coll_exporter *e = lookup(t, src, false, 0);
    if (e != NULL) {
        e->templates += n;
    }
}

const struct coll_exporter *
coll_extab_find(const struct coll_extab *t, const struct dec_src *src)
{
    uint8_t addr[16];
    uint16_t port;
    key_of(src, addr, &port);
    const uint32_t *s = slot_of(t, addr, port, src->transport);
    return *s != 0 ? &t->e[*s - 1] : NULL;
}

int
coll_extab_each(const struct coll_extab *t, coll_exporter_fn *fn, void *arg)
{
    for (uint32_t i = 0; i < t->n; i++) {
        int rc = fn(arg, &t->e[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

size_t
coll_extab_forget(struct coll_extab *t, const uint8_t addr[16], int port)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const struct coll_exporter *e = &t->e[i];
        bool gone = memcmp(e->addr, addr, 16) == 0 && (port < 0 || e->port == port);
        if (!gone) {
            t->e[kept++] = *e; /* first-seen order kept */
        }
    }
    size_t n = t->n - kept;
    if (n == 0) {
        return 0;
    }
    /* Rebuild the index: open addressing has no cheap delete, and this is an admin verb. */
    t->n = kept;
    t->tot.tracked = kept;
    t->last = NULL;
    memset(t->index, 0, ((size_t) t->mask + 1) * sizeof(*t->index));
    for (uint32_t i = 0; i < kept; i++) {
        const struct coll_exporter *e = &t->e[i];
        *slot_of(t, e->addr, e->port, e->transport) = i + 1;
    }
    memset(&t->e[kept], 0, n * sizeof(t->e[0]));
    return n;
}

void
coll_extab_totals(const struct coll_extab *t, struct coll_extab_totals *out)
{
    *out = t->tot;
}

/* ---- the counter log line ---- */

void
coll_exporter_name(const struct coll_exporter *e, char *buf, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char host[INET6_ADDRSTRLEN];
    const char *proto = e->transport == DEC_TR_TCP ? "tcp" : "udp";
    bool v4 = memcmp(e->addr, mapped, 12) == 0;

    inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? e->addr + 12 : e->addr, host, sizeof(host));
    if (e->transport == DEC_TR_TCP) {
        snprintf(buf, len, v4 ? "%s/%s" : "[%s]/%s", host, proto);
    } else {
        snprintf(buf, len, v4 ? "%s:%u/%s" : "[%s]:%u/%s", host, e->port, proto);
    }
}

/* snprintf that appends at *off and never runs past len. */
static void __attribute__((format(printf, 4, 5)))
add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    if (*off >= len) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    *off = n < 0 ? len : *off + (size_t) n;
}

static void
add_exporter(char *buf, size_t len, size_t *off, const struct coll_exporter *e, uint64_t now_ms)
{
    char name[64];
    coll_exporter_name(e, name, sizeof(name));
    add(buf, len, off,
        " | %s v%u datagrams=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64 " errors=%" PRIu64,
        name, e->version, e->datagrams, e->records, e->octets, e->errors);
    if (e->errors != 0) {
        const char *sep = "(";
        for (int r = 0; r < DEC_R_COUNT; r++) {
            if (e->err[r] != 0) {
                add(buf, len, off, "%s%s:%" PRIu64, sep, dec_reason_name((enum dec_reason) r),
                    e->err[r]);
                sep = ",";
            }
        }
        add(buf, len, off, ")");
    }
    add(buf, len, off,
        " no-template=%" PRIu64 " templates=%" PRIu32 " seq-gaps=%" PRIu64 " seq-missed=%" PRIu64
        " last-seen=%" PRIu64 "s",
        e->no_template, e->templates, e->seq_gaps, e->seq_missed,
        now_ms > e->last_ms ? (now_ms - e->last_ms) / 1000 : 0);
}

void
coll_stats_line(const struct coll_totals *t, const struct stor_stats *st,
                const struct coll_exporter *const *ex, size_t n, size_t max_exporters,
                uint64_t now_ms, char *buf, size_t len)
{
    size_t off = 0, pick[64], npick = 0;

    buf[0] = '\0';
    add(buf, len, &off,
        "stats: datagrams=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64 " dropped=%" PRIu64
        " denied=%" PRIu64 " denied-connections=%" PRIu64 " socket-drops=%" PRIu64
        " decode-errors=%" PRIu64 " seq-missed=%" PRIu64 " exporters=%" PRIu64
        " untracked=%" PRIu64,
        t->datagrams, t->records, t->octets, t->records_dropped, t->denied_datagrams,
        t->denied_connections, t->socket_drops, t->decode_errors, t->seq_missed,
        t->exporters.tracked, t->exporters.untracked_datagrams);
    if (st != NULL) {
        add(buf, len, &off,
            " stored=%" PRIu64 " store-dropped=%" PRIu64 " late=%" PRIu64 " time-skew=%" PRIu64
            " seals=%" PRIu64 " store-errors=%" PRIu64,
            st->records_stored, st->records_dropped, st->late, st->time_skew, st->seals,
            st->full_errors);
    }
    if (max_exporters > 64) {
        max_exporters = 64;
    }
    /* The busiest first: repeated selection, as the line shows only a few of them. */
    while (npick < max_exporters && npick < n) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            bool taken = false;
            for (size_t j = 0; j < npick && !taken; j++) {
                taken = pick[j] == i;
            }
            if (!taken && (best == n || ex[i]->datagrams > ex[best]->datagrams)) {
                best = i;
            }
        }
        pick[npick++] = best;
    }
    for (size_t j = 0; j < npick; j++) {
        add_exporter(buf, len, &off, ex[pick[j]], now_ms);
    }
    if (n > npick) {
        add(buf, len, &off, " | +%zu more", n - npick);
    }
}
