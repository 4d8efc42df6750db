/* SPDX-License-Identifier: MIT */
/*
 * The writer's capture windows, their instances and contributors, and the instance ids each
 * flow log has seen: writer thread only (struct w_ingest). Every table has a seeded hash
 * index (windex.c) beside its array, so a lookup costs the same with a handful of entries or
 * thousands; a one-entry cache in front (the last window, the last instance, the last
 * contributor) serves the usual run of records from one exporter into one window, and a
 * window with at most W_LINEAR_MAX instances or contributors is scanned without hashing.
 *
 * Bounds: STOR_INST_MAX instances per window and instance ids per writer (beyond them an
 * instance gets no NODATA/SKIPDATA row). Contributors are bounded by W_CLOCK_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writer_int.h"

/* ---- windows ---- */

struct win_key {
    const struct w_ingest *in;
    uint16_t flowlog;
    uint32_t start_s;
};

static bool
win_is(const void *ctx, uint32_t val)
{
    const struct win_key *k = ctx;
    const struct w_win *win = k->in->wins[val];
    return win->rec.flowlog == k->flowlog && win->rec.start_s == k->start_s;
}

static uint32_t
win_hash(const struct w_ingest *in, uint16_t flowlog, uint32_t start_s)
{
    uint8_t key[6] = {(uint8_t) (flowlog >> 8), (uint8_t) flowlog, (uint8_t) (start_s >> 24),
                      (uint8_t) (start_s >> 16), (uint8_t) (start_s >> 8), (uint8_t) start_s};
    return stor__windex_hash(in->seed, key, sizeof(key));
}

static void
win_free(struct w_ingest *in, struct w_win *win)
{
    for (size_t i = 0; in != NULL && i < win->ncontrib; i++) {
        in->clocks[win->contrib[i]].refs--;
    }
    stor__rows_free(&win->waiting);
    stor__rows_free(&win->committing);
    free(win->contrib);
    stor__windex_free(&win->contrib_idx);
    free(win->inst);
    stor__windex_free(&win->inst_idx);
    free(win);
}

/* Load a window's record from its partition, if both exist: a partition is created only by
 * a commit (commit.c), never by reading. */
static int
win_load(struct stor_env *env, struct w_win *win)
{
    struct stor_part *p;
    MDB_txn *txn;
    uint8_t k[STOR_KEY_WIN];
    MDB_val key = {STOR_KEY_WIN, k}, val;
    int rc = stor__part_acquire(env, stor__part_start(env, win->rec.start_s), false, &p);

    if (rc == STOR_E_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    stor__key_win(k, win->rec.flowlog, win->rec.start_s);
    if ((rc = mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn)) == 0) {
        rc = mdb_get(txn, p->windows, &key, &val);
        if (rc == 0) {
            rc = stor__win_read(val.mv_data, val.mv_size, &win->rec);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        } else {
            rc = stor__err(rc);
        }
        mdb_txn_abort(txn);
    } else {
        rc = stor__err(rc);
    }
    stor__part_release(env, p);
    return rc;
}

/* A new window: its record loaded, every instance its flow log knows listed, none seen. */
static struct w_win *
win_new(struct stor_env *env, struct w_ingest *in, uint16_t flowlog, uint32_t start,
        const struct stor_flowlog *def)
{
    static const uint8_t none[16];
    struct w_win *win = calloc(1, sizeof(*win));
    if (win == NULL) {
        return NULL;
    }
    win->rec.flowlog = flowlog;
    win->rec.start_s = start;
    win->rec.window_s = def->window_s;
    win->waiting.per = env->cfg.block_records;
    win->committing.per = env->cfg.block_records;
    for (int i = 0; i < def->ninstances; i++) {
        stor__win_inst(in, win, def->instances[i], none, 0);
    }
    for (size_t i = 0; i < in->nknown; i++) {
        if (in->known[i].flowlog == flowlog) {
            stor__win_inst(in, win, in->known[i].id, none, 0);
        }
    }
    if (win_load(env, win) != 0) {
        win_free(NULL, win);
        return NULL;
    }
    return win;
}

/* The window if the writer has it, without loading or making one. */
struct w_win *
stor__win_find(struct w_ingest *in, uint16_t flowlog, uint32_t start)
{
    struct win_key k = {in, flowlog, start};
    long found = stor__windex_find(&in->win_idx, win_hash(in, flowlog, start), win_is, &k,
                                   &in->probes);
    return found >= 0 ? in->wins[found] : NULL;
}

struct w_win *
stor__win_get(struct stor_env *env, struct w_ingest *in, uint16_t flowlog, uint32_t start,
              const struct stor_flowlog *def)
{
    struct w_win *win = in->last_win;
    if (win != NULL && win->rec.flowlog == flowlog && win->rec.start_s == start) {
        return win;
    }
    struct win_key k = {in, flowlog, start};
    uint32_t h = win_hash(in, flowlog, start);
    in->lookups++;
    long found = stor__windex_find(&in->win_idx, h, win_is, &k, &in->probes);
    if (found >= 0) {
        return in->last_win = in->wins[found];
    }
    if (in->nwins == in->wins_cap) {
        size_t cap = in->wins_cap ? in->wins_cap * 2 : 16;
        struct w_win **a = realloc(in->wins, cap * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        in->wins = a;
        in->wins_cap = cap;
    }
    if ((win = win_new(env, in, flowlog, start, def)) == NULL) {
        return NULL;
    }
    win->h = h;
    win->idx = in->nwins;
    if (stor__windex_put(&in->win_idx, h, (uint32_t) win->idx) != 0) {
        win_free(in, win);
        return NULL;
    }
    in->wins[in->nwins++] = win;
    return in->last_win = win;
}

/* Forget window i (sealed, or in a dropped partition): the last one takes its place. */
void
stor__win_drop(struct w_ingest *in, size_t i)
{
    struct w_win *win = in->wins[i];
    if (in->last_win == win) {
        in->last_win = NULL;
    }
    stor__windex_del(&in->win_idx, win->h, (uint32_t) i);
    size_t last = --in->nwins;
    if (i != last) {
        struct w_win *moved = in->wins[last];
        stor__windex_move(&in->win_idx, moved->h, (uint32_t) last, (uint32_t) i);
        moved->idx = i;
        in->wins[i] = moved;
    }
    win_free(in, win);
}

void
stor__wins_free(struct w_ingest *in)
{
    for (size_t i = 0; i < in->nwins; i++) {
        win_free(NULL, in->wins[i]); /* the clocks go too: no refs to keep */
    }
    free(in->wins);
    stor__windex_free(&in->win_idx);
    free(in->known);
    stor__windex_free(&in->known_idx);
}

/* ---- contributors ---- */

struct contrib_key {
    const struct w_win *win;
    uint16_t clock;
};

static bool
contrib_is(const void *ctx, uint32_t val)
{
    const struct contrib_key *k = ctx;
    return k->win->contrib[val] == k->clock;
}

/* Add an exporter clock to the window's contributors (a set); it then holds the window open
 * until its clock passes the window's close (seal.c). */
void
stor__win_contrib_add(struct w_ingest *in, struct w_win *win, uint16_t clock)
{
    if (clock == UINT16_MAX ||
        (win->ncontrib > 0 && win->contrib[win->ncontrib - 1] == clock)) {
        return;
    }
    for (size_t i = 0; i < win->ncontrib && win->ncontrib <= W_LINEAR_MAX; i++) {
        if (win->contrib[i] == clock) {
            return;
        }
    }
    struct contrib_key k = {win, clock};
    uint32_t h = stor__windex_hash(in->seed, &clock, sizeof(clock));
    if (win->ncontrib > W_LINEAR_MAX &&
        stor__windex_find(&win->contrib_idx, h, contrib_is, &k, &in->probes) >= 0) {
        return;
    }
    if (win->ncontrib == win->contrib_cap) {
        size_t cap = win->contrib_cap ? win->contrib_cap * 2 : 4;
        uint16_t *a = realloc(win->contrib, cap * sizeof(*a));
        if (a == NULL) {
            return; /* it does not hold the window open: sealed on the others' clocks */
        }
        win->contrib = a;
        win->contrib_cap = cap;
    }
    if (stor__windex_put(&win->contrib_idx, h, (uint32_t) win->ncontrib) != 0) {
        return;
    }
    win->contrib[win->ncontrib++] = clock;
    in->clocks[clock].refs++;
}

/* ---- instances ---- */

struct inst_key {
    const struct w_win *win;
    const char *id;
    const uint8_t *exporter;
    uint32_t domain;
};

static bool
inst_matches(const struct stor_inst *s, const char *id, const uint8_t exporter[16],
             uint32_t domain)
{
    /* Identified by instance-id; without one, by exporter and domain. */
    return s->id[0] == id[0] && (id[0] == '\0' || strcmp(s->id, id) == 0) &&
           (id[0] != '\0' || (s->domain == domain && memcmp(s->exporter, exporter, 16) == 0));
}

static bool
inst_is(const void *ctx, uint32_t val)
{
    const struct inst_key *k = ctx;
    return inst_matches(&k->win->inst[val], k->id, k->exporter, k->domain);
}

static uint32_t
inst_hash(uint64_t seed, const char *id, const uint8_t exporter[16], uint32_t domain)
{
    if (id[0] != '\0') {
        return stor__windex_hash(seed, id, strnlen(id, FLOW_ID_MAX));
    }
    uint8_t key[20];
    memcpy(key, exporter, 16);
    memcpy(key + 16, &domain, 4);
    return stor__windex_hash(seed, key, sizeof(key));
}

/* The window's instance of (id) or (exporter, domain), added when new; NULL at the bound
 * (STOR_INST_MAX) or without memory. */
struct stor_inst *
stor__win_inst(struct w_ingest *in, struct w_win *win, const char *id, const uint8_t exporter[16],
               uint32_t domain)
{
    if (win->last_inst < win->ninst &&
        inst_matches(&win->inst[win->last_inst], id, exporter, domain)) {
        return &win->inst[win->last_inst];
    }
    long found = -1;
    for (size_t i = 0; i < win->ninst && win->ninst <= W_LINEAR_MAX && found < 0; i++) {
        found = inst_matches(&win->inst[i], id, exporter, domain) ? (long) i : -1;
    }
    if (found >= 0) {
        win->last_inst = (size_t) found;
        return &win->inst[found];
    }
    struct inst_key k = {win, id, exporter, domain};
    uint32_t h = inst_hash(in->seed, id, exporter, domain);
    if (win->ninst > W_LINEAR_MAX &&
        (found = stor__windex_find(&win->inst_idx, h, inst_is, &k, &in->probes)) >= 0) {
        win->last_inst = (size_t) found;
        return &win->inst[found];
    }
    if (win->ninst >= STOR_INST_MAX) {
        return NULL;
    }
    if (win->ninst == win->inst_cap) {
        size_t cap = win->inst_cap ? win->inst_cap * 2 : 4; /* geometric: no copy per add */
        struct stor_inst *a = realloc(win->inst, cap * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        win->inst = a;
        win->inst_cap = cap;
    }
    if (stor__windex_put(&win->inst_idx, h, (uint32_t) win->ninst) != 0) {
        return NULL;
    }
    struct stor_inst *s = &win->inst[win->ninst++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    memcpy(s->exporter, exporter, 16);
    s->domain = domain;
    return s;
}

/* ---- instance ids each flow log has seen ---- */

struct known_key {
    const struct w_ingest *in;
    uint16_t flowlog;
    const char *id;
};

static bool
known_is(const void *ctx, uint32_t val)
{
    const struct known_key *k = ctx;
    const struct w_known *e = &k->in->known[val];
    return e->flowlog == k->flowlog && strcmp(e->id, k->id) == 0;
}

/* Remember an instance id a flow log has seen, so later windows can report NODATA for it. */
void
stor__known_add(struct w_ingest *in, uint16_t flowlog, const char *id)
{
    struct known_key k = {in, flowlog, id};
    uint32_t h = stor__windex_hash(in->seed ^ flowlog, id, strnlen(id, FLOW_ID_MAX));
    if (stor__windex_find(&in->known_idx, h, known_is, &k, &in->probes) >= 0 ||
        in->nknown >= STOR_INST_MAX) {
        return;
    }
    if (in->nknown == in->known_cap) {
        size_t cap = in->known_cap ? in->known_cap * 2 : 16;
        struct w_known *a = realloc(in->known, cap * sizeof(*a));
        if (a == NULL) {
            return;
        }
        in->known = a;
        in->known_cap = cap;
    }
    if (stor__windex_put(&in->known_idx, h, (uint32_t) in->nknown) != 0) {
        return;
    }
    in->known[in->nknown].flowlog = flowlog;
    snprintf(in->known[in->nknown].id, FLOW_ID_MAX, "%s", id);
    in->nknown++;
}
