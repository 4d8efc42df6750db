/* SPDX-License-Identifier: MIT */
/*
 * The store's environments: the catalog (format version, metadata blobs, flow-log
 * definitions) and the time partitions, one LMDB environment per partition file, opened on
 * demand, grown when full, deleted whole by retention. Also the LMDB -> stor_err mapping.
 *
 * Durability: environments are opened with MDB_NOMETASYNC. Each commit flushes its data
 * pages; the meta page is flushed by the next commit, so a system crash can undo at most the
 * last commit and never corrupts, and a killed process loses nothing it committed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stor_int.h"

#define CAT_MAP_BYTES (64ull << 20)
#define ENV_FLAGS     (MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC)

void
stor_cfg_default(struct stor_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->partition_s = 3600;
    cfg->map_bytes = 256ull << 20;
    cfg->map_max_bytes = 1ull << 40;
    cfg->commit_ms = 1000;
    cfg->grace_s = 120;
    cfg->silent_s = 60;
    cfg->queue_batches = 64;
    cfg->batch_records = 4096;
    cfg->max_flowlogs = 10;
    cfg->block_records = 4096;
    cfg->seal_rows = 1u << 20;
}

void
stor__msg(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || msglen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

int
stor__err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
    case EFBIG: /* the file-size limit: full, as far as we can tell */
        return STOR_E_FULL;
    case MDB_NOTFOUND:
        return STOR_E_NOTFOUND;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return STOR_E_CORRUPT;
    case MDB_VERSION_MISMATCH:
        return STOR_E_VERSION;
    case EIO: /* LMDB's word for a short write, which a filling disk causes */
        return STOR_E_IO;
    default:
        return rc > 0 ? -rc : STOR_E_LMDB;
    }
}

const char *
stor_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case STOR_E_FULL:
        return "no space left for the store";
    case STOR_E_VERSION:
        return "the store has an unknown format version";
    case STOR_E_CORRUPT:
        return "stored data failed its checks";
    case STOR_E_EXISTS:
        return "a flow log of that name exists";
    case STOR_E_NOTFOUND:
        return "not found";
    case STOR_E_LIMIT:
        return "a limit would be exceeded";
    case STOR_E_INVAL:
        return "invalid argument";
    case STOR_E_CLOSED:
        return "the store is closing";
    case STOR_E_LMDB:
        return "LMDB error";
    case STOR_E_IO:
        return "a write to the store failed or came up short (disk full?)";
    default:
        return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

uint32_t
stor__part_start(const struct stor_env *env, uint32_t t_s)
{
    return t_s - t_s % env->cfg.partition_s;
}

static int
env_make(MDB_env **out, const char *path, uint64_t map_bytes, unsigned maxdbs)
{
    MDB_env *e;
    int rc;

    if ((rc = mdb_env_create(&e)) != 0) {
        return stor__err(rc);
    }
    if ((rc = mdb_env_set_maxdbs(e, maxdbs)) != 0 || (rc = mdb_env_set_maxreaders(e, 512)) != 0 ||
        (rc = mdb_env_set_mapsize(e, map_bytes)) != 0 ||
        (rc = mdb_env_open(e, path, ENV_FLAGS, 0640)) != 0) {
        goto close_env;
    }
    *out = e;
    return 0;
close_env:
    mdb_env_close(e);
    return stor__err(rc);
}

/* Open the named databases of a fresh or existing environment in one write txn. */
static int
dbis_open(MDB_env *e, const char *const *names, MDB_dbi *dbis, size_t n)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(e, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &dbis[i])) != 0) {
            goto abort;
        }
    }
    return stor__err(mdb_txn_commit(txn));
abort:
    mdb_txn_abort(txn);
    return stor__err(rc);
}

static int
part_open(struct stor_env *env, uint32_t start_s, struct stor_part **out)
{
    static const char *const names[4] = {"windows", "runs", "blocks", "sums"};
    MDB_dbi dbis[4];
    char path[4096];
    struct stat st;
    int rc;

    struct stor_part *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", env->dir, start_s);
    p->start_s = start_s;
    p->map_bytes = env->cfg.map_bytes;
    if (stat(path, &st) == 0 && (uint64_t) st.st_size * 2 > p->map_bytes) {
        p->map_bytes = (uint64_t) st.st_size * 2; /* room to keep writing to it */
    }
    if ((rc = env_make(&p->mdb, path, p->map_bytes, 8)) != 0) {
        goto free_p;
    }
    if ((rc = dbis_open(p->mdb, names, dbis, 4)) != 0) {
        goto close_env;
    }
    p->windows = dbis[0];
    p->runs = dbis[1];
    p->blocks = dbis[2];
    p->sums = dbis[3];
    pthread_rwlock_init(&p->grow, NULL);
    *out = p;
    return 0;
close_env:
    mdb_env_close(p->mdb);
free_p:
    free(p);
    return rc;
}

static void
part_close(struct stor_part *p)
{
    mdb_env_close(p->mdb);
    pthread_rwlock_destroy(&p->grow);
    free(p);
}

/* Insert p into the sorted partition list; env->lock held. */
static int
parts_insert(struct stor_env *env, struct stor_part *p)
{
    if (env->nparts == env->parts_cap) {
        size_t cap = env->parts_cap ? env->parts_cap * 2 : 16;
        struct stor_part **a = realloc(env->parts, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        env->parts = a;
        env->parts_cap = cap;
    }
    size_t i = env->nparts;
    while (i > 0 && env->parts[i - 1]->start_s > p->start_s) {
        env->parts[i] = env->parts[i - 1];
        i--;
    }
    env->parts[i] = p;
    env->nparts++;
    return 0;
}

int
stor__part_get(struct stor_env *env, uint32_t start_s, bool create, struct stor_part **out)
{
    int rc = 0;

    pthread_mutex_lock(&env->lock);
    for (size_t i = 0; i < env->nparts; i++) {
        if (env->parts[i]->start_s == start_s && !env->parts[i]->doomed) {
            *out = env->parts[i];
            goto unlock;
        }
    }
    if (!create) {
        rc = STOR_E_NOTFOUND;
        goto unlock;
    }
    struct stor_part *p;
    if ((rc = part_open(env, start_s, &p)) != 0) {
        goto unlock;
    }
    if ((rc = parts_insert(env, p)) != 0) {
        part_close(p);
        goto unlock;
    }
    *out = p;
unlock:
    pthread_mutex_unlock(&env->lock);
    return rc;
}

void
stor__part_ref(struct stor_env *env, struct stor_part *p)
{
    pthread_mutex_lock(&env->lock);
    p->refs++;
    pthread_mutex_unlock(&env->lock);
}

static void
part_unlink(const struct stor_env *env, uint32_t start_s)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/p-%010u.mdb", env->dir, start_s);
    unlink(path);
    snprintf(path, sizeof(path), "%s/p-%010u.mdb-lock", env->dir, start_s);
    unlink(path);
}

void
stor__part_unref(struct stor_env *env, struct stor_part *p)
{
    pthread_mutex_lock(&env->lock);
    bool gone = --p->refs == 0 && p->doomed;
    if (gone) {
        for (size_t i = 0; i < env->nparts; i++) {
            if (env->parts[i] == p) {
                memmove(&env->parts[i], &env->parts[i + 1],
                        (env->nparts - i - 1) * sizeof(env->parts[0]));
                env->nparts--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&env->lock);
    if (gone) {
        uint32_t start = p->start_s;
        part_close(p);
        part_unlink(env, start);
    }
}

int
stor__part_grow(struct stor_part *p, uint64_t max_bytes)
{
    if (p->map_bytes >= max_bytes) {
        return STOR_E_FULL;
    }
    uint64_t want = p->map_bytes * 2 < max_bytes ? p->map_bytes * 2 : max_bytes;
    pthread_rwlock_wrlock(&p->grow);
    int rc = mdb_env_set_mapsize(p->mdb, want);
    if (rc == 0) {
        p->map_bytes = want;
    }
    pthread_rwlock_unlock(&p->grow);
    return stor__err(rc);
}

/* Bytes of pages the partition's databases use (the rest of the file is free pages). */
static uint64_t
part_used_bytes(struct stor_part *p)
{
    MDB_txn *txn;
    MDB_stat st;
    uint64_t used = 0;
    MDB_dbi dbis[4] = {p->windows, p->runs, p->blocks, p->sums};

    pthread_rwlock_rdlock(&p->grow); /* no map growth while a txn is open */
    if (mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn) != 0) {
        pthread_rwlock_unlock(&p->grow);
        return UINT64_MAX;
    }
    for (int i = 0; i < 4; i++) {
        if (mdb_stat(txn, dbis[i], &st) == 0) {
            used += (uint64_t) st.ms_psize *
                    (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + 1u);
        }
    }
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&p->grow);
    return used;
}

/*
 * Rewrite a partition without its free pages when more than a quarter of its file is free
 * (runs deleted by sealing leave their pages behind; LMDB never shrinks a file). Copies with
 * MDB_CP_COMPACT to a temporary file, renames it over the old one and reopens. Only when no
 * snapshot holds the partition; the caller (the writer) holds no transaction on it.
 * Returns 1 when compacted, 0 when not needed or not possible now, negative on error.
 */
int
stor__part_compact(struct stor_env *env, struct stor_part *p)
{
    char path[4096], tmp[4200];
    struct stat st;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/p-%010u.mdb", env->dir, p->start_s);
    snprintf(tmp, sizeof(tmp), "%s.compact", path);
    if (stat(path, &st) != 0) {
        return 0;
    }
    uint64_t file = (uint64_t) st.st_size, used = part_used_bytes(p);
    if (used == UINT64_MAX || file < (1u << 20) || used * 4 >= file * 3) {
        return 0;
    }
    pthread_mutex_lock(&env->lock);
    if (p->refs > 0 || p->doomed) {
        goto unlock; /* a scan is reading it: next time */
    }
    unlink(tmp);
    pthread_rwlock_wrlock(&p->grow); /* nobody is in a transaction on it while it moves */
    if ((rc = mdb_env_copy2(p->mdb, tmp, MDB_CP_COMPACT)) != 0) {
        pthread_rwlock_unlock(&p->grow);
        rc = stor__err(rc);
        unlink(tmp);
        goto unlock;
    }
    mdb_env_close(p->mdb);
    p->mdb = NULL;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
    }
    /* Reopen whatever is at `path` now: the compact copy, or the original if rename failed. */
    static const char *const names[4] = {"windows", "runs", "blocks", "sums"};
    MDB_dbi dbis[4];
    int rc2 = env_make(&p->mdb, path, p->map_bytes, 8);
    if (rc2 == 0 && (rc2 = dbis_open(p->mdb, names, dbis, 4)) == 0) {
        p->windows = dbis[0];
        p->runs = dbis[1];
        p->blocks = dbis[2];
        p->sums = dbis[3];
    }
    pthread_rwlock_unlock(&p->grow);
    if (rc2 != 0) {
        p->doomed = true; /* unusable now: keep it out of every list (file stays on disk) */
        rc = rc2;
    } else if (rc == 0) {
        rc = 1;
    }
unlock:
    pthread_mutex_unlock(&env->lock);
    return rc;
}

/* Partition files already in the directory (p-<start>.mdb), opened now. */
static int
parts_scan(struct stor_env *env)
{
    DIR *d = opendir(env->dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        return -errno;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        unsigned start;
        char tail[8];
        if (sscanf(de->d_name, "p-%10u.mdb%7s", &start, tail) != 1) {
            continue; /* not ours, or the -lock file */
        }
        struct stor_part *p;
        rc = stor__part_get(env, start, true, &p);
    }
    closedir(d);
    return rc;
}

static int
format_check(struct stor_env *env, char *msg, size_t msglen)
{
    MDB_txn *txn;
    MDB_val k = {6, "format"}, v;
    uint8_t want[4];
    int rc;

    stor__put_be(want, STOR_FORMAT_VERSION, 4);
    if ((rc = mdb_txn_begin(env->cat, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    rc = mdb_get(txn, env->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_size = 4;
        v.mv_data = want;
        rc = mdb_put(txn, env->meta, &k, &v, 0);
    } else if (rc == 0 && (v.mv_size != 4 || memcmp(v.mv_data, want, 4) != 0)) {
        uint32_t got = v.mv_size == 4 ? (uint32_t) stor__get_be(v.mv_data, 4) : 0;
        stor__msg(msg, msglen, "store %s has format version %u; this flowlog reads version %u",
                  env->dir, got, STOR_FORMAT_VERSION);
        mdb_txn_abort(txn);
        return STOR_E_VERSION;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return stor__err(rc);
    }
    return stor__err(mdb_txn_commit(txn));
}

static int
catalog_open(struct stor_env *env, char *msg, size_t msglen)
{
    static const char *const names[2] = {"meta", "flowlogs"};
    MDB_dbi dbis[2];
    char path[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/catalog.mdb", env->dir);
    if ((rc = env_make(&env->cat, path, CAT_MAP_BYTES, 4)) != 0) {
        stor__msg(msg, msglen, "cannot open %s: %s", path, stor_strerror(rc));
        return rc;
    }
    if ((rc = dbis_open(env->cat, names, dbis, 2)) != 0) {
        stor__msg(msg, msglen, "cannot read %s: %s", path, stor_strerror(rc));
        return rc;
    }
    env->meta = dbis[0];
    env->flowlogs = dbis[1];
    return format_check(env, msg, msglen);
}

static bool
cfg_valid(const struct stor_cfg *c, char *msg, size_t msglen)
{
    if (c->dir == NULL || c->dir[0] == '\0') {
        stor__msg(msg, msglen, "no data directory given");
        return false;
    }
    if (c->partition_s == 0 || c->partition_s % 600 != 0) {
        stor__msg(msg, msglen, "partition span %u s is not a multiple of 600", c->partition_s);
        return false;
    }
    if (c->map_bytes < (1u << 20) || c->map_max_bytes < c->map_bytes || c->commit_ms == 0 ||
        c->queue_batches == 0 || c->batch_records == 0 || c->block_records == 0 ||
        c->seal_rows == 0 || c->block_records > 65535) {
        stor__msg(msg, msglen, "storage limits out of range");
        return false;
    }
    return true;
}

int
stor_open(struct stor_env **out, const struct stor_cfg *cfg, char *msg, size_t msglen)
{
    int rc;

    if (!cfg_valid(cfg, msg, msglen)) {
        return STOR_E_INVAL;
    }
    if (mkdir(cfg->dir, 0750) != 0 && errno != EEXIST) {
        rc = -errno;
        stor__msg(msg, msglen, "cannot create %s: %s", cfg->dir, strerror(errno));
        return rc;
    }
    struct stor_env *env = calloc(1, sizeof(*env));
    if (env == NULL) {
        return -ENOMEM;
    }
    env->cfg = *cfg;
    env->dir = strdup(cfg->dir);
    env->cfg.dir = env->dir;
    pthread_mutex_init(&env->lock, NULL);
    if (env->dir == NULL) {
        rc = -ENOMEM;
        goto free_env;
    }
    if ((rc = catalog_open(env, msg, msglen)) != 0) {
        goto free_env;
    }
    if ((rc = stor__flowlogs_load(env)) != 0) {
        stor__msg(msg, msglen, "cannot read flow-log definitions: %s", stor_strerror(rc));
        goto free_env;
    }
    if ((rc = parts_scan(env)) != 0) {
        stor__msg(msg, msglen, "cannot open a partition of %s: %s", env->dir, stor_strerror(rc));
        goto free_env;
    }
    if ((rc = stor__writer_start(env)) != 0) {
        stor__msg(msg, msglen, "cannot start the writer: %s", stor_strerror(rc));
        goto free_env;
    }
    *out = env;
    return 0;
free_env:
    stor_close(env);
    return rc;
}

void
stor_close(struct stor_env *env)
{
    if (env == NULL) {
        return;
    }
    stor__writer_stop(env);
    for (size_t i = 0; i < env->nparts; i++) {
        part_close(env->parts[i]);
    }
    free(env->parts);
    if (env->cat != NULL) {
        mdb_env_close(env->cat);
    }
    free(env->defs);
    pthread_mutex_destroy(&env->lock);
    free(env->dir);
    free(env);
}

int
stor_meta_put(struct stor_env *env, const char *key, const void *val, size_t len)
{
    MDB_txn *txn;
    MDB_val k = {strlen(key), (void *) key}, v = {len, (void *) val};
    int rc;

    if (k.mv_size == 0 || k.mv_size > 255) {
        return STOR_E_INVAL;
    }
    if ((rc = mdb_txn_begin(env->cat, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    if ((rc = mdb_put(txn, env->meta, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return stor__err(rc);
    }
    return stor__err(mdb_txn_commit(txn));
}

int
stor_meta_get(struct stor_env *env, const char *key, void **val, size_t *len)
{
    MDB_txn *txn;
    MDB_val k = {strlen(key), (void *) key}, v;
    int rc;

    if ((rc = mdb_txn_begin(env->cat, NULL, MDB_RDONLY, &txn)) != 0) {
        return stor__err(rc);
    }
    if ((rc = mdb_get(txn, env->meta, &k, &v)) != 0) {
        goto abort;
    }
    *val = malloc(v.mv_size ? v.mv_size : 1);
    if (*val == NULL) {
        mdb_txn_abort(txn);
        return -ENOMEM;
    }
    memcpy(*val, v.mv_data, v.mv_size);
    *len = v.mv_size;
abort:
    mdb_txn_abort(txn);
    return stor__err(rc);
}
