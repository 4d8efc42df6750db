/* SPDX-License-Identifier: MIT */
/*
 * Flow-log definitions: create, modify, start/stop, delete (with purge), the limits the cloud
 * APIs have (at most max_flowlogs flow logs; an instance id in at most one active flow log),
 * persistence in the catalog, and routing a record to the flow logs that capture it.
 *
 * The catalog is the truth; env->defs is a copy under env->lock that routing reads, and
 * defs_gen tells the writer when to take a new copy. Ids are never reused (catalog meta
 * "flowlog_next"), so records kept after a delete cannot be claimed by a later flow log.
 *
 * A change (create, modify, start/stop, delete) reads the definitions, checks, allocates an
 * id and writes inside ONE catalog write transaction (LMDB serialises writers), so concurrent
 * changes can neither share an id nor pass a limit together; env->admin orders the copy's
 * reload after each commit, and the catalog is synced to disk (mdb_env_sync) before the
 * change is reported done, so a power loss cannot hand an id out twice.
 *
 * Definition value layout (big-endian), version 1:
 *   offset size      field
 *   0      1         layout version (1)
 *   1      2         id
 *   3      4         window_s
 *   7      1         traffic
 *   8      1         flags: bit 0 aggregate, bit 1 active
 *   9      8         created_ms
 *   17     64        name (NUL padded)
 *   81     256       description
 *   337    40        account_id
 *   377    40        instance_id
 *   417    64        region
 *   481    64        vpc_id
 *   545    64        eni_id
 *   609    1         exporter CIDR count
 *   610    17*16     exporters: address (16), prefix length (1)
 *   882    1         domain count
 *   883    4*16      domains
 *   947    1         instance count
 *   948    40*16     instances                                             (1588 bytes)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "flow_bytes.h"
#include "stor_int.h"

#define DEF_BYTES 1588

static size_t
put_str(uint8_t *p, const char *s, size_t n)
{
    size_t l = strnlen(s, n - 1);
    memset(p, 0, n);
    memcpy(p, s, l);
    return n;
}

static size_t
get_str(char *dst, const uint8_t *p, size_t n)
{
    memcpy(dst, p, n);
    dst[n - 1] = '\0';
    return n;
}

static void
def_write(const struct stor_flowlog *fl, uint8_t out[DEF_BYTES])
{
    uint8_t *p = out;
    *p++ = 1;
    flow_put_be(p, fl->id, 2);
    flow_put_be(p + 2, fl->window_s, 4);
    p[6] = fl->traffic;
    p[7] = (uint8_t) ((fl->aggregate ? 1u : 0u) | (fl->active ? 2u : 0u));
    flow_put_be(p + 8, fl->created_ms, 8);
    p += 16;
    p += put_str(p, fl->name, STOR_NAME_MAX);
    p += put_str(p, fl->description, STOR_DESC_MAX);
    p += put_str(p, fl->account_id, FLOW_ID_MAX);
    p += put_str(p, fl->instance_id, FLOW_ID_MAX);
    p += put_str(p, fl->region, STOR_LABEL_MAX);
    p += put_str(p, fl->vpc_id, STOR_LABEL_MAX);
    p += put_str(p, fl->eni_id, STOR_LABEL_MAX);
    *p++ = fl->nexporters;
    for (int i = 0; i < STOR_MATCH_MAX; i++, p += 17) {
        memcpy(p, fl->exporters[i].addr, 16);
        p[16] = fl->exporters[i].plen;
    }
    *p++ = fl->ndomains;
    for (int i = 0; i < STOR_MATCH_MAX; i++, p += 4) {
        flow_put_be(p, fl->domains[i], 4);
    }
    *p++ = fl->ninstances;
    for (int i = 0; i < STOR_MATCH_MAX; i++) {
        p += put_str(p, fl->instances[i], FLOW_ID_MAX);
    }
}

static int
def_read(const uint8_t *in, size_t len, struct stor_flowlog *fl)
{
    const uint8_t *p = in;

    if (len != DEF_BYTES || in[0] != 1) {
        return STOR_E_CORRUPT;
    }
    memset(fl, 0, sizeof(*fl));
    p++;
    fl->id = (uint16_t) flow_get_be(p, 2);
    fl->window_s = (uint32_t) flow_get_be(p + 2, 4);
    fl->traffic = p[6];
    fl->aggregate = (p[7] & 1u) != 0;
    fl->active = (p[7] & 2u) != 0;
    fl->created_ms = flow_get_be(p + 8, 8);
    p += 16;
    p += get_str(fl->name, p, STOR_NAME_MAX);
    p += get_str(fl->description, p, STOR_DESC_MAX);
    p += get_str(fl->account_id, p, FLOW_ID_MAX);
    p += get_str(fl->instance_id, p, FLOW_ID_MAX);
    p += get_str(fl->region, p, STOR_LABEL_MAX);
    p += get_str(fl->vpc_id, p, STOR_LABEL_MAX);
    p += get_str(fl->eni_id, p, STOR_LABEL_MAX);
    fl->nexporters = *p++;
    for (int i = 0; i < STOR_MATCH_MAX; i++, p += 17) {
        memcpy(fl->exporters[i].addr, p, 16);
        fl->exporters[i].plen = p[16];
    }
    fl->ndomains = *p++;
    for (int i = 0; i < STOR_MATCH_MAX; i++, p += 4) {
        fl->domains[i] = (uint32_t) flow_get_be(p, 4);
    }
    fl->ninstances = *p++;
    for (int i = 0; i < STOR_MATCH_MAX; i++) {
        p += get_str(fl->instances[i], p, FLOW_ID_MAX);
    }
    if (fl->nexporters > STOR_MATCH_MAX || fl->ndomains > STOR_MATCH_MAX ||
        fl->ninstances > STOR_MATCH_MAX) {
        return STOR_E_CORRUPT;
    }
    return 0;
}

void
stor_flowlog_default(struct stor_flowlog *fl, const char *name)
{
    memset(fl, 0, sizeof(*fl));
    snprintf(fl->name, sizeof(fl->name), "%s", name != NULL ? name : "");
    fl->window_s = 600;
    fl->traffic = STOR_TRAFFIC_ALL;
    fl->aggregate = true;
    fl->active = true;
}

/* Every definition in the catalog as txn sees it; *out malloc'ed (owned by the caller). */
static int
defs_read(struct stor_env *env, MDB_txn *txn, struct stor_flowlog **out, size_t *nout)
{
    MDB_cursor *cur;
    MDB_val k, v;
    struct stor_flowlog *defs = NULL;
    size_t n = 0;
    int rc;

    if ((rc = mdb_cursor_open(txn, env->flowlogs, &cur)) != 0) {
        return stor__err(rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct stor_flowlog *d = realloc(defs, (n + 1) * sizeof(*d));
        if (d == NULL) {
            rc = ENOMEM;
            break;
        }
        defs = d;
        if (def_read(v.mv_data, v.mv_size, &defs[n]) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        free(defs);
        return stor__err(rc);
    }
    *out = defs;
    *nout = n;
    return 0;
}

/* Replace env->defs (taking defs) and tell the writer. */
static void
defs_publish(struct stor_env *env, struct stor_flowlog *defs, size_t n)
{
    pthread_mutex_lock(&env->lock);
    free(env->defs);
    env->defs = defs;
    env->ndefs = n;
    env->defs_gen++;
    pthread_mutex_unlock(&env->lock);
}

int
stor__flowlogs_load(struct stor_env *env)
{
    MDB_txn *txn;
    struct stor_flowlog *defs = NULL;
    size_t n = 0;
    int rc;

    if ((rc = mdb_txn_begin(env->cat, NULL, MDB_RDONLY, &txn)) != 0) {
        return stor__err(rc);
    }
    rc = defs_read(env, txn, &defs, &n);
    mdb_txn_abort(txn);
    if (rc == 0) {
        defs_publish(env, defs, n);
    }
    return rc;
}

static bool
name_valid(const char *s)
{
    size_t n = strnlen(s, STOR_NAME_MAX);
    if (n == 0 || n >= STOR_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

static int
def_check(const struct stor_flowlog *fl, char *msg, size_t msglen)
{
    if (!name_valid(fl->name)) {
        stor__msg(msg, msglen, "flow-log name must be 1-%d characters of A-Z a-z 0-9 - _ .",
                  STOR_NAME_MAX - 1);
        return STOR_E_INVAL;
    }
    if (strcmp(fl->name, "default") == 0) {
        stor__msg(msg, msglen, "the name \"default\" is reserved for the built-in flow log");
        return STOR_E_INVAL;
    }
    if (fl->window_s != 60 && fl->window_s != 600) {
        stor__msg(msg, msglen, "capture window must be 60 or 600 seconds, not %u", fl->window_s);
        return STOR_E_INVAL;
    }
    if (fl->traffic > STOR_TRAFFIC_REJECT) {
        stor__msg(msg, msglen, "traffic type must be all, accept or reject");
        return STOR_E_INVAL;
    }
    if (fl->nexporters > STOR_MATCH_MAX || fl->ndomains > STOR_MATCH_MAX ||
        fl->ninstances > STOR_MATCH_MAX) {
        stor__msg(msg, msglen, "at most %d exporters, domains and instances per flow log",
                  STOR_MATCH_MAX);
        return STOR_E_INVAL;
    }
    for (int i = 0; i < fl->nexporters; i++) {
        if (fl->exporters[i].plen > 128) {
            stor__msg(msg, msglen, "exporter prefix length above 128");
            return STOR_E_INVAL;
        }
    }
    return 0;
}

/* An active flow log other than fl (by name) that lists one of fl's instances. */
static const struct stor_flowlog *
instance_clash(const struct stor_flowlog *defs, size_t n, const struct stor_flowlog *fl,
               const char **which)
{
    for (size_t d = 0; d < n; d++) {
        const struct stor_flowlog *o = &defs[d];
        if (!o->active || strcmp(o->name, fl->name) == 0) {
            continue;
        }
        for (int i = 0; i < fl->ninstances; i++) {
            for (int j = 0; j < o->ninstances; j++) {
                if (strcmp(fl->instances[i], o->instances[j]) == 0) {
                    *which = fl->instances[i];
                    return o;
                }
            }
        }
    }
    return NULL;
}

static const struct stor_flowlog *
find_in(const struct stor_flowlog *defs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(defs[i].name, name) == 0) {
            return &defs[i];
        }
    }
    return NULL;
}

static const struct stor_flowlog *
find_locked(const struct stor_env *env, const char *name)
{
    return find_in(env->defs, env->ndefs, name);
}

/* One change: what it asks for, and what it found (the definition as it was). */
enum change_op { CH_CREATE, CH_MODIFY, CH_ACTIVE, CH_DELETE };

struct change {
    enum change_op op;
    struct stor_flowlog fl; /* create/modify: the new definition; others: name (+ active) */
    struct stor_flowlog old;
    char *msg;
    size_t msglen;
};

static int
put_def(struct stor_env *env, MDB_txn *txn, const struct stor_flowlog *fl)
{
    uint8_t key[2], val[DEF_BYTES];
    MDB_val k = {2, key}, v = {DEF_BYTES, val};
    flow_put_be(key, fl->id, 2);
    def_write(fl, val);
    return mdb_put(txn, env->flowlogs, &k, &v, 0);
}

/* Allocate the next id inside txn (meta "flowlog_next"; ids are never reused). */
static int
take_id(struct stor_env *env, MDB_txn *txn, uint16_t *id)
{
    uint8_t next[2];
    MDB_val k = {12, "flowlog_next"}, v;
    int rc = mdb_get(txn, env->meta, &k, &v);
    uint64_t n = rc == MDB_NOTFOUND ? 1 : rc == 0 && v.mv_size == 2 ? flow_get_be(v.mv_data, 2) : 0;
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return stor__err(rc);
    }
    if (n == 0 || n >= 65535) {
        return STOR_E_LIMIT;
    }
    *id = (uint16_t) n;
    flow_put_be(next, n + 1u, 2);
    v.mv_size = 2;
    v.mv_data = next;
    return stor__err(mdb_put(txn, env->meta, &k, &v, 0));
}

static int
change_create(struct stor_env *env, MDB_txn *txn, struct change *c, const struct stor_flowlog *defs,
              size_t n)
{
    const char *which = NULL;
    const struct stor_flowlog *clash =
        c->fl.active ? instance_clash(defs, n, &c->fl, &which) : NULL;
    int rc;

    if (find_in(defs, n, c->fl.name) != NULL) {
        stor__msg(c->msg, c->msglen, "flow log %s exists", c->fl.name);
        return STOR_E_EXISTS;
    }
    if (n >= env->cfg.max_flowlogs) {
        stor__msg(c->msg, c->msglen, "at most %u flow logs may exist (limit max_flowlogs)",
                  env->cfg.max_flowlogs);
        return STOR_E_LIMIT;
    }
    if (clash != NULL) {
        stor__msg(c->msg, c->msglen, "instance %s already belongs to active flow log %s", which,
                  clash->name);
        return STOR_E_LIMIT;
    }
    if ((rc = take_id(env, txn, &c->fl.id)) != 0) {
        stor__msg(c->msg, c->msglen, "no flow-log id left");
        return rc;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->fl.created_ms = (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
    return stor__err(put_def(env, txn, &c->fl));
}

/* Modify, start/stop and delete: the flow log must exist; id and created_ms are kept. */
static int
change_existing(struct stor_env *env, MDB_txn *txn, struct change *c,
                const struct stor_flowlog *defs, size_t n)
{
    const struct stor_flowlog *cur = find_in(defs, n, c->fl.name);
    const char *which = NULL;
    if (cur == NULL) {
        stor__msg(c->msg, c->msglen, "no flow log %s", c->fl.name);
        return STOR_E_NOTFOUND;
    }
    c->old = *cur;
    if (c->op == CH_DELETE) {
        uint8_t key[2];
        MDB_val k = {2, key};
        flow_put_be(key, cur->id, 2);
        return stor__err(mdb_del(txn, env->flowlogs, &k, NULL));
    }
    struct stor_flowlog next = c->op == CH_ACTIVE ? *cur : c->fl;
    next.active = c->fl.active;
    next.id = cur->id;
    next.created_ms = cur->created_ms;
    if (next.window_s != cur->window_s) {
        stor__msg(c->msg, c->msglen,
                  "the capture window of flow log %s is %u s and cannot change (its stored "
                  "windows would overlap); create another flow log",
                  cur->name, cur->window_s);
        return STOR_E_INVAL;
    }
    const struct stor_flowlog *clash = next.active ? instance_clash(defs, n, &next, &which) : NULL;
    if (clash != NULL) {
        stor__msg(c->msg, c->msglen, "instance %s already belongs to active flow log %s", which,
                  clash->name);
        return STOR_E_LIMIT;
    }
    c->fl = next;
    return stor__err(put_def(env, txn, &next));
}

/* Run one change in one catalog write transaction; on success sync the catalog and publish
 * the definitions it committed. */
static int
change_run(struct stor_env *env, struct change *c)
{
    MDB_txn *txn;
    struct stor_flowlog *defs = NULL;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&env->admin);
    if ((rc = mdb_txn_begin(env->cat, NULL, 0, &txn)) != 0) {
        rc = stor__err(rc);
        goto unlock;
    }
    if ((rc = defs_read(env, txn, &defs, &n)) == 0) {
        rc = c->op == CH_CREATE ? change_create(env, txn, c, defs, n)
                                : change_existing(env, txn, c, defs, n);
    }
    free(defs);
    if (rc != 0) {
        mdb_txn_abort(txn);
        goto unlock;
    }
    if ((rc = stor__err_env(env, mdb_txn_commit(txn))) == 0 &&
        (rc = stor__err_env(env, mdb_env_sync(env->cat, 1))) == 0) {
        rc = stor__flowlogs_load(env);
    }
unlock:
    pthread_mutex_unlock(&env->admin);
    return rc;
}

int
stor_flowlog_create(struct stor_env *env, struct stor_flowlog *fl, char *msg, size_t msglen)
{
    struct change c = {.op = CH_CREATE, .fl = *fl, .msg = msg, .msglen = msglen};
    int rc;

    if ((rc = def_check(fl, msg, msglen)) != 0) {
        return rc;
    }
    if ((rc = change_run(env, &c)) == 0) {
        fl->id = c.fl.id;
        fl->created_ms = c.fl.created_ms;
    }
    return rc;
}

int
stor_flowlog_get(struct stor_env *env, const char *name, struct stor_flowlog *out)
{
    pthread_mutex_lock(&env->lock);
    const struct stor_flowlog *fl = find_locked(env, name);
    if (fl != NULL) {
        *out = *fl;
    }
    pthread_mutex_unlock(&env->lock);
    return fl != NULL ? 0 : STOR_E_NOTFOUND;
}

int
stor_flowlog_modify(struct stor_env *env, const struct stor_flowlog *fl, char *msg, size_t msglen)
{
    struct change c = {.op = CH_MODIFY, .fl = *fl, .msg = msg, .msglen = msglen};
    int rc;

    if (stor_flowlog_get(env, fl->name, &c.old) != 0) {
        stor__msg(msg, msglen, "no flow log %s", fl->name);
        return STOR_E_NOTFOUND;
    }
    if ((rc = def_check(fl, msg, msglen)) != 0) {
        return rc;
    }
    return change_run(env, &c);
}

int
stor_flowlog_set_active(struct stor_env *env, const char *name, bool active, char *msg,
                        size_t msglen)
{
    struct change c = {.op = CH_ACTIVE, .msg = msg, .msglen = msglen};
    snprintf(c.fl.name, sizeof(c.fl.name), "%s", name);
    c.fl.active = active;
    return change_run(env, &c);
}

/* Delete every key of one flow log from one partition database. */
static int
purge_dbi(MDB_txn *txn, MDB_dbi dbi, uint16_t id)
{
    MDB_cursor *cur;
    uint8_t key[2];
    MDB_val k = {2, key}, v;
    int rc;

    flow_put_be(key, id, 2);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    /* After mdb_cursor_del, MDB_NEXT yields the record that moved under the cursor. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 2 || flow_get_be(k.mv_data, 2) != id) {
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
purge_part(struct stor_part *p, uint16_t id)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(p->mdb, NULL, 0, &txn)) == 0) {
        MDB_dbi dbis[6] = {p->windows, p->runs, p->blocks, p->sums, p->rollups, p->outbox};
        for (int d = 0; rc == 0 && d < 6; d++) {
            rc = purge_dbi(txn, dbis[d], id);
        }
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
    }
    return stor__err(rc);
}

/* Drop a flow log's records from every partition. Partitions are referenced, not locked,
 * while LMDB write transactions run, so the writer thread is never waited on under lock. */
static int
purge(struct stor_env *env, uint16_t id)
{
    pthread_mutex_lock(&env->lock);
    size_t n = env->nparts;
    struct stor_part **parts = malloc((n ? n : 1) * sizeof(*parts));
    for (size_t i = 0; parts != NULL && i < n; i++) {
        parts[i] = env->parts[i];
        parts[i]->refs++;
    }
    pthread_mutex_unlock(&env->lock);
    if (parts == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && (rc = stor__part_use(env, parts[i])) == 0) {
            rc = purge_part(parts[i], id);
            stor__part_unuse(env, parts[i]);
        }
        stor__part_unref(env, parts[i]);
    }
    free(parts);
    return rc;
}

int
stor_flowlog_delete(struct stor_env *env, const char *name, bool purge_records, char *msg,
                    size_t msglen)
{
    struct change c = {.op = CH_DELETE, .msg = msg, .msglen = msglen};
    int rc;

    snprintf(c.fl.name, sizeof(c.fl.name), "%s", name);
    if ((rc = change_run(env, &c)) != 0) {
        return rc;
    }
    if (purge_records && (rc = purge(env, c.old.id)) != 0) {
        stor__msg(msg, msglen, "flow log %s deleted, but purging its records failed: %s", name,
                  stor_strerror(rc));
    }
    return rc;
}

int
stor_flowlog_each(struct stor_env *env, stor_flowlog_fn *fn, void *arg)
{
    pthread_mutex_lock(&env->lock);
    size_t n = env->ndefs;
    struct stor_flowlog *copy = malloc((n ? n : 1) * sizeof(*copy));
    if (copy != NULL && n > 0) {
        memcpy(copy, env->defs, n * sizeof(*copy));
    }
    pthread_mutex_unlock(&env->lock);
    if (copy == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = fn(arg, &copy[i]);
    }
    free(copy);
    return rc;
}

static bool
captures(const struct stor_flowlog *fl, const struct flow_rec *r)
{
    if (!fl->active) {
        return false;
    }
    if ((fl->traffic == STOR_TRAFFIC_ACCEPT && r->action != FLOW_ACT_ACCEPT) ||
        (fl->traffic == STOR_TRAFFIC_REJECT && r->action != FLOW_ACT_REJECT)) {
        return false;
    }
    bool ok = fl->nexporters == 0;
    for (int i = 0; i < fl->nexporters && !ok; i++) {
        ok = flow_cidr_contains(&fl->exporters[i], r->exporter);
    }
    if (!ok) {
        return false;
    }
    ok = fl->ndomains == 0;
    for (int i = 0; i < fl->ndomains && !ok; i++) {
        ok = fl->domains[i] == r->domain;
    }
    if (!ok) {
        return false;
    }
    ok = fl->ninstances == 0;
    for (int i = 0; i < fl->ninstances && !ok; i++) {
        ok = strcmp(fl->instances[i], r->instance_id) == 0;
    }
    return ok;
}

size_t
stor__route(const struct stor_flowlog *defs, size_t ndefs, const struct flow_rec *r, uint16_t *ids,
            size_t cap)
{
    size_t n = 0;

    if (ndefs == 0) {
        if (cap > 0) {
            ids[0] = 0; /* the built-in default flow log */
        }
        return cap > 0 ? 1 : 0;
    }
    for (size_t i = 0; i < ndefs && n < cap; i++) {
        if (captures(&defs[i], r)) {
            ids[n++] = defs[i].id;
        }
    }
    return n;
}
