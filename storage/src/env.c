/* SPDX-License-Identifier: MIT */
/*
 * The store as a whole: opening and closing it (the directory's lock, the catalog with its
 * format version, metadata blobs and flow-log definitions, then the partitions, part.c),
 * the LMDB -> stor_err mapping, notices to the host and the store's own counters. Leaves
 * the partitions' life to part.c and writing to the writer (write.c).
 *
 * One process per store: stor_open takes flock(LOCK_EX | LOCK_NB) on <dir>/store.lock and
 * keeps it until stor_close; a second opener is refused with STOR_E_LOCKED and the holder's
 * pid (written into the file).
 *
 * Durability: environments are opened with MDB_NOMETASYNC. Each commit flushes its data
 * pages; the meta page is flushed by the next commit, so a system crash can undo at most the
 * last commit and never corrupts, and a killed process loses nothing it committed. The
 * catalog is synced whole (mdb_env_sync) after every flow-log definition change.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "flow_bytes.h"
#include "stor_int.h"

/* The catalog holds definitions and the decoder's bounded template snapshot: its map is
 * address space, sized for STOR_META_MAX twice over (old and new copy during a put). */
#define CAT_MAP_BYTES (1ull << 30)
#define ENV_FLAGS     (MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC)
#define LOCK_NAME     "store.lock"
#define MAP_LIMIT     (4ull << 40) /* largest map_max_bytes: max_open_parts of them must fit */

void
stor_cfg_default(struct stor_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->partition_s = 3600;
    cfg->map_max_bytes = 64ull << 30;
    cfg->max_open_parts = 64;
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
    case EIO: /* a short write (a filling disk) or a failing device: stor__err_env tells */
        return STOR_E_IO;
    default:
        return rc > 0 ? -rc : STOR_E_LMDB;
    }
}

/*
 * Like stor__err, but an EIO is told apart: LMDB reports a short write (what a filling disk
 * or the file-size limit causes) as EIO, and so does a failing device. With the file system
 * nearly full or a file-size limit set it is STOR_E_IO (retried like a full disk), otherwise
 * STOR_E_DISK: the disk is failing, and retrying will not help.
 */
int
stor__err_env(const struct stor_env *env, int rc)
{
    struct statvfs vfs;
    struct rlimit rl;
    if (rc != EIO) {
        return stor__err(rc);
    }
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        return STOR_E_IO;
    }
    if (statvfs(env->dir, &vfs) != 0 ||
        (uint64_t) vfs.f_bavail * vfs.f_frsize < STOR_FULL_SLACK_BYTES) {
        return STOR_E_IO;
    }
    return STOR_E_DISK;
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
    case STOR_E_DISK:
        return "the disk reported an I/O error";
    case STOR_E_LOCKED:
        return "the store is in use by another process";
    default:
        return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

uint32_t
stor__part_start(const struct stor_env *env, uint32_t t_s)
{
    return t_s - t_s % env->cfg.partition_s;
}

void
stor__notice(struct stor_env *env, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    if (env->cfg.notice == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    env->cfg.notice(env->cfg.notice_arg, text);
}

int
stor__path_sync(const char *path, bool dir)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Take the store's lock file; a second process (or a second open) is refused by name. */
static int
store_lock(struct stor_env *env, char *msg, size_t msglen)
{
    char path[4096], pid[32] = "";
    snprintf(path, sizeof(path), "%s/%s", env->dir, LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int rc = -errno;
        stor__msg(msg, msglen, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (err != EWOULDBLOCK) {
            stor__msg(msg, msglen, "cannot lock %s: %s", path, strerror(err));
            return -err;
        }
        stor__msg(msg, msglen, "store %s is in use by another process (pid %s; lock %s)", env->dir,
                  pid[0] != '\0' ? pid : "unknown", path);
        return STOR_E_LOCKED;
    }
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t) len, 0) != len) {
        /* The pid is a courtesy for the next opener's message; the lock is what counts. */
    }
    env->lock_fd = fd;
    return 0;
}

/*
 * LMDB's lock file is a mapped file: a page of it first touched when the disk is full raises
 * SIGBUS instead of an error (a new partition's lock file when the disk fills, or a reader
 * slot in a page never used before). Its blocks are therefore reserved before LMDB maps it,
 * so a full disk fails here, as ENOSPC. STOR_LOCK_BYTES is more than LMDB 0.9 asks for 512
 * readers (192 + 511 * 64 bytes); LMDB takes a larger file as room for more readers.
 */
#define STOR_LOCK_BYTES (64 * 1024)

static int
lock_reserve(const char *path)
{
    char lock[PATH_MAX];
    int rc = 0;

    if ((size_t) snprintf(lock, sizeof(lock), "%s-lock", path) >= sizeof(lock)) {
        return -ENAMETOOLONG;
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -errno;
    }
    int err = posix_fallocate(fd, 0, STOR_LOCK_BYTES);
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
        rc = -err; /* EINVAL, EOPNOTSUPP: a file system without it; LMDB's own way then */
    }
    close(fd);
    return rc;
}

int
stor__mdb_open(MDB_env **out, const char *path, uint64_t map_bytes, unsigned maxdbs)
{
    MDB_env *e;
    int rc;

    if ((rc = lock_reserve(path)) != 0) {
        return rc;
    }
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

/* How many partition files (p-<start>.mdb) the directory holds. */
static size_t
part_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        unsigned start;
        char tail[8];
        n += sscanf(de->d_name, "p-%10u.mdb%7s", &start, tail) == 1;
    }
    closedir(d);
    return n;
}

/*
 * A missing or empty catalog beside partition files means the flow-log definitions are gone
 * (LMDB would silently start a fresh one): refused unless the operator accepts it.
 */
static int
catalog_precheck(struct stor_env *env, const char *path, char *msg, size_t msglen)
{
    struct stat st;
    bool empty = stat(path, &st) != 0 || st.st_size == 0;
    size_t nparts = empty ? part_files(env->dir) : 0;
    if (!empty || nparts == 0 || env->cfg.accept_empty_catalog) {
        return 0;
    }
    stor__msg(msg, msglen,
              "catalog %s is missing or empty while %zu partition files exist: flow-log "
              "definitions would be lost; restore it, or accept an empty catalog explicitly",
              path, nparts);
    return STOR_E_CORRUPT;
}

static int
format_check(struct stor_env *env, char *msg, size_t msglen)
{
    MDB_txn *txn;
    MDB_val k = {6, "format"}, v;
    uint8_t want[4];
    int rc;

    flow_put_be(want, STOR_FORMAT_VERSION, 4);
    if ((rc = mdb_txn_begin(env->cat, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    rc = mdb_get(txn, env->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_size = 4;
        v.mv_data = want;
        rc = mdb_put(txn, env->meta, &k, &v, 0);
    } else if (rc == 0 && (v.mv_size != 4 || memcmp(v.mv_data, want, 4) != 0)) {
        uint32_t got = v.mv_size == 4 ? (uint32_t) flow_get_be(v.mv_data, 4) : 0;
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
    if ((rc = catalog_precheck(env, path, msg, msglen)) != 0) {
        return rc;
    }
    if ((rc = stor__mdb_open(&env->cat, path, CAT_MAP_BYTES, 4)) != 0) {
        stor__msg(msg, msglen, "cannot open %s: %s", path, stor_strerror(rc));
        return rc;
    }
    if ((rc = stor__env_size_check(env->cat)) != 0) {
        stor__msg(msg, msglen, "cannot open %s: the file is shorter than its pages (truncated)",
                  path);
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
    if (c->map_max_bytes > MAP_LIMIT) {
        stor__msg(msg, msglen, "map_max %llu is above the limit of %llu bytes",
                  (unsigned long long) c->map_max_bytes, (unsigned long long) MAP_LIMIT);
        return false;
    }
    if (c->map_max_bytes < (1u << 20) || c->commit_ms == 0 ||
        c->max_open_parts == 0 || c->queue_batches == 0 || c->batch_records == 0 ||
        c->block_records == 0 || c->seal_rows == 0 || c->block_records > 65535) {
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
    env->lock_fd = -1;
    pthread_mutex_init(&env->lock, NULL);
    pthread_mutex_init(&env->admin, NULL);
    pthread_cond_init(&env->cond, NULL);
    if (env->dir == NULL) {
        rc = -ENOMEM;
        goto free_env;
    }
    if ((rc = store_lock(env, msg, msglen)) != 0 || (rc = catalog_open(env, msg, msglen)) != 0) {
        goto free_env;
    }
    if ((rc = stor__flowlogs_load(env)) != 0) {
        stor__msg(msg, msglen, "cannot read flow-log definitions in %s/catalog.mdb: %s", env->dir,
                  stor_strerror(rc));
        goto free_env;
    }
    if ((rc = stor__parts_scan(env)) != 0) {
        stor__msg(msg, msglen, "cannot open the partitions of %s: %s", env->dir, stor_strerror(rc));
        goto free_env;
    }
    if ((rc = stor__path_sync(env->dir, true)) != 0) { /* the names of files created above */
        stor__msg(msg, msglen, "cannot sync directory %s: %s", env->dir, stor_strerror(rc));
        goto free_env;
    }
    if ((rc = stor__tail_init(env)) != 0 || (rc = stor__writer_start(env)) != 0) {
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
    stor__parts_close(env);
    if (env->cat != NULL) {
        mdb_env_close(env->cat);
    }
    if (env->lock_fd >= 0) {
        close(env->lock_fd); /* releases the flock */
    }
    free(env->defs);
    stor__tail_free(env);
    pthread_cond_destroy(&env->cond);
    pthread_mutex_destroy(&env->admin);
    pthread_mutex_destroy(&env->lock);
    free(env->dir);
    free(env);
}

/* The file's size, or what was known before when it cannot be read now. */
static uint64_t
path_bytes(const char *path, uint64_t known)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t) st.st_size : known;
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
    if (len > STOR_META_MAX) {
        atomic_fetch_add(&env->ctr.meta_full, 1);
        return STOR_E_FULL;
    }
    if ((rc = mdb_txn_begin(env->cat, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    if ((rc = mdb_put(txn, env->meta, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        goto out;
    }
    rc = mdb_txn_commit(txn);
out:
    if (rc == MDB_MAP_FULL) {
        atomic_fetch_add(&env->ctr.meta_full, 1);
    }
    return stor__err_env(env, rc);
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
        goto end_txn;
    }
    *val = malloc(v.mv_size ? v.mv_size : 1);
    if (*val == NULL) {
        rc = ENOMEM;
        goto end_txn;
    }
    memcpy(*val, v.mv_data, v.mv_size);
    *len = v.mv_size;
end_txn:
    mdb_txn_abort(txn);
    return stor__err(rc);
}

/* Sum the sizes of the store's files; the partition list is copied under env->lock, which
 * is free at once or skipped (the caller may be the loop thread), and stat() runs outside. */
static void
bytes_refresh(struct stor_env *env)
{
    if (pthread_mutex_trylock(&env->lock) != 0) {
        return;
    }
    size_t n = env->nparts;
    uint32_t *starts = malloc((n ? n : 1) * sizeof(*starts));
    for (size_t i = 0; starts != NULL && i < n; i++) {
        starts[i] = env->parts[i]->doomed ? 0 : env->parts[i]->start_s;
    }
    pthread_mutex_unlock(&env->lock);
    if (starts == NULL) {
        return;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/catalog.mdb", env->dir);
    uint64_t sum = path_bytes(path, 0);
    for (size_t i = 0; i < n; i++) {
        if (starts[i] != 0) {
            snprintf(path, sizeof(path), "%s/p-%010u.mdb", env->dir, starts[i]);
            sum += path_bytes(path, 0);
        }
    }
    free(starts);
    atomic_store(&env->ctr.bytes, sum);
}

/* The store's own numbers: atomics, and the file sizes (bytes_refresh). */
void
stor__env_stats_fill(struct stor_env *env, struct stor_stats *st)
{
    st->partitions_quarantined = atomic_load(&env->ctr.quarantined);
    st->blocks_corrupt = atomic_load(&env->ctr.blocks_corrupt);
    st->open_envs = atomic_load(&env->ctr.open_envs);
    st->partitions = atomic_load(&env->ctr.partitions);
    st->partitions_closed = atomic_load(&env->ctr.part_closes);
    st->meta_full = atomic_load(&env->ctr.meta_full);
    st->rollups_skipped = stor_rollup_skipped();
    bytes_refresh(env);
    st->bytes = atomic_load(&env->ctr.bytes);
}
