/* SPDX-License-Identifier: MIT */
/*
 * The store's partitions: one LMDB environment per time partition file p-<start>.mdb, opened
 * on demand, checked when opened, closed when cold, compacted when settled, renamed aside and
 * deleted when retention drops them. Leaves scheduling (which partition to compact or drop,
 * and when) to the writer's maintenance code, and the catalog to env.c.
 *
 * Maps never grow. Every partition's map is stor_cfg.map_max_bytes from the start: that is
 * address space, not disk (LMDB without MDB_WRITEMAP grows the file as it writes pages), so a
 * reader never stands in a commit's way, and MDB_MAP_FULL is a real STOR_E_FULL. Address
 * space stays bounded because at most stor_cfg.max_open_parts environments stay open: the
 * least recently used one that nobody uses (no transaction of a snapshot, purge or
 * stor__part_acquire holder on it) is closed, and opened again on demand. A reference
 * (refs) only keeps the partition and its files; a use (users) keeps its environment open.
 *
 * Locking: env->lock guards the list and each partition's bookkeeping and is never held over
 * disk I/O. I/O on one partition outside the lock (create, reopen, close, compact, rename)
 * sets its `busy` mark; others wait on env->cond for that partition only.
 *
 * Generations (M4): a dropped partition's files are renamed to p-<start>.mdb.dead.<gen>
 * before anything can create a new partition with the same start, and only those names are
 * unlinked, when the last reader lets go; a partition is never opened twice.
 *
 * Damaged files (R8): a file whose size is below what its meta page says it holds, a file of
 * 0 bytes, or one LMDB refuses, is renamed to *.bad, counted and named to the host
 * (stor_cfg.notice); the rest of the store keeps serving.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stor_int.h"


static const char *const DB_NAMES[6] = {"windows", "runs", "blocks", "sums", "rollups", "outbox"};

static void
part_path(const struct stor_env *env, uint32_t start_s, const char *suffix, char *out,
          size_t outlen)
{
    snprintf(out, outlen, "%s/p-%010u.mdb%s", env->dir, start_s, suffix);
}

/*
 * The file must hold every page its meta page can reach, or the first reader of a missing
 * page dies of SIGBUS. The meta page names the last page allocated, (last + 1) × page size
 * bytes; but LMDB does not write pages that a transaction allocated and freed again (loose
 * pages), so a sound file can end a few pages short of that after a crash (seen: one page,
 * in unit.stor.crash). A shortfall of up to STOR_TAIL_SLACK_PAGES is filled with zero pages
 * (free pages are never read; a reachable one then reads as a bad page, an error, not a
 * signal); a bigger one is a truncated file.
 */
int
stor__env_size_check(MDB_env *e)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    int fd;

    if (mdb_env_info(e, &info) != 0 || mdb_env_stat(e, &st) != 0 || mdb_env_get_fd(e, &fd) != 0 ||
        fstat(fd, &fst) != 0) {
        return STOR_E_CORRUPT;
    }
    uint64_t need = ((uint64_t) info.me_last_pgno + 1u) * st.ms_psize;
    uint64_t have = (uint64_t) fst.st_size;
    if (have >= need) {
        return 0;
    }
    if (need - have > (uint64_t) STOR_TAIL_SLACK_PAGES * st.ms_psize) {
        return STOR_E_CORRUPT;
    }
    return ftruncate(fd, (off_t) need) == 0 ? 0 : -errno;
}

static int
dbis_open(MDB_env *e, MDB_dbi *dbis)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(e, NULL, 0, &txn)) != 0) {
        return stor__err(rc);
    }
    for (size_t i = 0; i < 6; i++) {
        if ((rc = mdb_dbi_open(txn, DB_NAMES[i], MDB_CREATE, &dbis[i])) != 0) {
            mdb_txn_abort(txn);
            return stor__err(rc);
        }
    }
    return stor__err(mdb_txn_commit(txn));
}

/* Open (or create) the environment at path and check it; fills p's handles. */
static int
part_env_open(struct stor_env *env, struct stor_part *p, const char *path)
{
    MDB_env *e;
    MDB_dbi dbis[6];
    int rc;

    bool existed = access(path, F_OK) == 0;
    if ((rc = stor__mdb_open(&e, path, env->cfg.map_max_bytes, 8)) != 0) {
        return rc;
    }
    if ((rc = stor__env_size_check(e)) != 0 || (rc = dbis_open(e, dbis)) != 0) {
        goto close_env;
    }
    if (!existed && (rc = stor__path_sync(env->dir, true)) != 0) {
        goto close_env; /* a new file's name is durable only once its directory is synced */
    }
    p->mdb = e;
    p->map_bytes = env->cfg.map_max_bytes;
    p->windows = dbis[0];
    p->runs = dbis[1];
    p->blocks = dbis[2];
    p->sums = dbis[3];
    p->rollups = dbis[4];
    p->outbox = dbis[5];
    p->outbox_on = env->cfg.outbox;
    atomic_fetch_add(&env->ctr.open_envs, 1);
    return 0;
close_env:
    mdb_env_close(e);
    return rc;
}

static void
part_env_close(struct stor_env *env, struct stor_part *p)
{
    if (p->mdb != NULL) {
        mdb_env_close(p->mdb);
        p->mdb = NULL;
        atomic_fetch_sub(&env->ctr.open_envs, 1);
    }
}

static void
part_free(struct stor_env *env, struct stor_part *p)
{
    part_env_close(env, p);
    free(p);
}

/* Wait until p is not busy; env->lock held. */
static void
part_wait(struct stor_env *env, struct stor_part *p)
{
    while (p->busy) {
        pthread_cond_wait(&env->cond, &env->lock);
    }
}

static void
part_unbusy(struct stor_env *env, struct stor_part *p)
{
    p->busy = false;
    pthread_cond_broadcast(&env->cond);
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
    atomic_store(&env->ctr.partitions, env->nparts);
    return 0;
}

static void
parts_remove(struct stor_env *env, struct stor_part *p)
{
    for (size_t i = 0; i < env->nparts; i++) {
        if (env->parts[i] == p) {
            memmove(&env->parts[i], &env->parts[i + 1],
                    (env->nparts - i - 1) * sizeof(env->parts[0]));
            env->nparts--;
            break;
        }
    }
    atomic_store(&env->ctr.partitions, env->nparts);
}

static struct stor_part *
part_new(struct stor_env *env, uint32_t start_s)
{
    struct stor_part *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->start_s = start_s;
        p->gen = ++env->gen_next;
    }
    return p;
}

/* The live (not doomed) entry for start_s, waiting out a drop's rename; env->lock held. */
static struct stor_part *
part_find(struct stor_env *env, uint32_t start_s)
{
    for (;;) {
        struct stor_part *live = NULL, *renaming = NULL;
        for (size_t i = 0; i < env->nparts; i++) {
            struct stor_part *q = env->parts[i];
            if (q->start_s != start_s) {
                continue;
            }
            if (!q->doomed) {
                live = q;
            } else if (!q->dead) {
                renaming = q; /* its files still have the live name */
            }
        }
        if (renaming == NULL) {
            return live;
        }
        pthread_cond_wait(&env->cond, &env->lock);
    }
}

/* Make sure p's environment is open; env->lock held (dropped while opening). */
static int
part_open_locked(struct stor_env *env, struct stor_part *p)
{
    char path[4200];
    part_wait(env, p);
    if (p->mdb != NULL) {
        return 0;
    }
    p->busy = true;
    pthread_mutex_unlock(&env->lock);
    if (p->dead) { /* a dropped partition a snapshot still reads: its files moved */
        char sfx[32];
        snprintf(sfx, sizeof(sfx), ".dead.%u", p->gen);
        part_path(env, p->start_s, sfx, path, sizeof(path));
    } else {
        part_path(env, p->start_s, "", path, sizeof(path));
    }
    int rc = part_env_open(env, p, path);
    pthread_mutex_lock(&env->lock);
    part_unbusy(env, p);
    return rc;
}

/* Close least recently used environments nobody holds until at most max_open_parts stay
 * open; env->lock held (dropped while closing). */
static void
parts_evict(struct stor_env *env)
{
    while (atomic_load(&env->ctr.open_envs) > env->cfg.max_open_parts) {
        struct stor_part *lru = NULL;
        for (size_t i = 0; i < env->nparts; i++) {
            struct stor_part *q = env->parts[i];
            if (q->mdb != NULL && q->users == 0 && !q->busy && !q->doomed &&
                (lru == NULL || q->used_tick < lru->used_tick)) {
                lru = q;
            }
        }
        if (lru == NULL) {
            return; /* everything open is in use: over the bound until it is released */
        }
        lru->busy = true;
        pthread_mutex_unlock(&env->lock);
        part_env_close(env, lru);
        pthread_mutex_lock(&env->lock);
        part_unbusy(env, lru);
        atomic_fetch_add(&env->ctr.part_closes, 1);
    }
}

/* Find or create the partition and open it; env->lock held. */
static int
part_lookup(struct stor_env *env, uint32_t start_s, bool create, struct stor_part **out)
{
    struct stor_part *p = part_find(env, start_s);
    bool fresh = p == NULL;
    int rc;

    if (fresh) {
        if (!create) {
            return STOR_E_NOTFOUND;
        }
        if ((p = part_new(env, start_s)) == NULL) {
            return -ENOMEM;
        }
        if ((rc = parts_insert(env, p)) != 0) {
            part_free(env, p);
            return rc;
        }
    }
    p->refs++; /* so that nothing frees it while we open it */
    p->users++;
    rc = part_open_locked(env, p);
    p->users--;
    p->refs--;
    if (rc != 0 && fresh && p->refs == 0 && p->mdb == NULL && !p->busy) {
        parts_remove(env, p); /* failed to create (a full disk, say): the caller retries */
        part_free(env, p);
    } else if (rc != 0) {
        char path[4096]; /* a partition that was open before: the host should hear of it */
        part_path(env, start_s, "", path, sizeof(path));
        stor__notice(env, "cannot reopen partition %s: %s", path, stor_strerror(rc));
    }
    if (rc != 0) {
        return rc;
    }
    p->used_tick = ++env->use_tick;
    *out = p;
    return 0;
}

int
stor__part_acquire(struct stor_env *env, uint32_t start_s, bool create, struct stor_part **out)
{
    pthread_mutex_lock(&env->lock);
    struct stor_part *p = NULL;
    int rc = part_lookup(env, start_s, create, &p);
    if (rc == 0) {
        p->refs++;
        p->users++;
        *out = p;
    }
    parts_evict(env);
    pthread_mutex_unlock(&env->lock);
    return rc;
}

void
stor__part_release(struct stor_env *env, struct stor_part *p)
{
    stor__part_unuse(env, p);
    stor__part_unref(env, p);
}

void
stor__part_ref(struct stor_env *env, struct stor_part *p)
{
    pthread_mutex_lock(&env->lock);
    p->refs++;
    pthread_mutex_unlock(&env->lock);
}

int
stor__part_use(struct stor_env *env, struct stor_part *p)
{
    pthread_mutex_lock(&env->lock);
    p->users++; /* first, so that evicting others cannot close it */
    int rc = part_open_locked(env, p);
    if (rc == 0) {
        p->used_tick = ++env->use_tick;
        parts_evict(env);
    } else {
        p->users--;
    }
    pthread_mutex_unlock(&env->lock);
    return rc;
}

void
stor__part_unuse(struct stor_env *env, struct stor_part *p)
{
    pthread_mutex_lock(&env->lock);
    p->users--;
    parts_evict(env);
    pthread_mutex_unlock(&env->lock);
}

/* Rename a doomed partition's files to their dead names (outside env->lock, p busy). */
static void
part_bury(struct stor_env *env, struct stor_part *p)
{
    char live[4096], dead[4200], sfx[32];
    snprintf(sfx, sizeof(sfx), ".dead.%u", p->gen);
    part_path(env, p->start_s, "", live, sizeof(live));
    part_path(env, p->start_s, sfx, dead, sizeof(dead));
    if (rename(live, dead) != 0 && errno != ENOENT) {
        stor__notice(env, "cannot rename dropped partition %s: %s", live, strerror(errno));
    }
    part_path(env, p->start_s, "-lock", live, sizeof(live));
    unlink(live); /* the lock file carries no data; the open environment keeps its inode */
    stor__path_sync(env->dir, true);
}

static void
part_unlink_dead(const struct stor_env *env, const struct stor_part *p)
{
    char dead[4200], sfx[40];
    snprintf(sfx, sizeof(sfx), ".dead.%u", p->gen);
    part_path(env, p->start_s, sfx, dead, sizeof(dead));
    unlink(dead);
    /* The lock file LMDB made if a reader reopened it under its dead name. */
    snprintf(sfx, sizeof(sfx), ".dead.%u-lock", p->gen);
    part_path(env, p->start_s, sfx, dead, sizeof(dead));
    unlink(dead);
}

void
stor__part_unref(struct stor_env *env, struct stor_part *p)
{
    pthread_mutex_lock(&env->lock);
    if (p->doomed && !p->dead) {
        part_wait(env, p);
    }
    if (p->doomed && !p->dead) {
        /* The first unref after retention doomed it: free the live name now, whoever reads
         * the old files still has them open. */
        p->busy = true;
        pthread_mutex_unlock(&env->lock);
        part_bury(env, p);
        pthread_mutex_lock(&env->lock);
        p->dead = true;
        part_unbusy(env, p);
    }
    bool gone = --p->refs == 0 && p->doomed;
    if (gone) {
        parts_remove(env, p);
    } else {
        parts_evict(env);
    }
    pthread_mutex_unlock(&env->lock);
    if (gone) {
        part_env_close(env, p);
        part_unlink_dead(env, p);
        part_free(env, p);
    }
}

/* Bytes of pages the partition's databases use (the rest of the file is free pages). */
static uint64_t
part_used_bytes(struct stor_part *p)
{
    MDB_txn *txn;
    MDB_stat st;
    uint64_t used = 0;
    MDB_dbi dbis[6] = {p->windows, p->runs, p->blocks, p->sums, p->rollups, p->outbox};

    if (mdb_txn_begin(p->mdb, NULL, MDB_RDONLY, &txn) != 0) {
        return UINT64_MAX;
    }
    for (int i = 0; i < 6; i++) {
        if (mdb_stat(txn, dbis[i], &st) == 0) {
            used += (uint64_t) st.ms_psize *
                    (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + 1u);
        }
    }
    mdb_txn_abort(txn);
    return used;
}

/*
 * Copy p without its free pages to tmp, durably (M3): the copy is fsynced before it is
 * renamed over the partition, and the directory after. A write transaction is held through
 * the copy so that no commit to this partition can slip past it. p is busy.
 */
static int
compact_copy(struct stor_env *env, struct stor_part *p, const char *path, const char *tmp)
{
    MDB_txn *wtxn;
    int rc;

    unlink(tmp);
    if ((rc = mdb_txn_begin(p->mdb, NULL, 0, &wtxn)) != 0) {
        return stor__err(rc);
    }
    rc = stor__err(mdb_env_copy2(p->mdb, tmp, MDB_CP_COMPACT));
    if (rc == 0 && chmod(tmp, 0640) != 0) { /* like the other files, whatever the umask */
        rc = -errno;
    }
    if (rc == 0) {
        rc = stor__path_sync(tmp, false);
    }
    mdb_txn_abort(wtxn);
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    part_env_close(env, p);
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
    } else {
        rc = stor__path_sync(env->dir, true);
    }
    return rc;
}

/*
 * Rewrite a partition without its free pages when more than a quarter of its file is free
 * (runs deleted by sealing leave their pages behind; LMDB never shrinks a file). Safe from
 * any thread while snapshots and the writer run: only a partition nobody references is
 * compacted, it is marked busy meanwhile (new snapshots and stor__part_acquire wait for that
 * partition only), and env->lock is not held over the copy. Returns 1 when compacted, 0 when
 * not needed or not possible now, negative on error (the partition is then closed cold and
 * reopened on its next use).
 */
int
stor__part_compact(struct stor_env *env, struct stor_part *p)
{
    char path[4096], tmp[4200];
    struct stat st;
    int rc = 0;

    pthread_mutex_lock(&env->lock);
    if (p->refs > 0 || p->doomed || p->busy || p->mdb == NULL) {
        pthread_mutex_unlock(&env->lock);
        return 0; /* a scan is reading it, or it is cold: next time */
    }
    p->busy = true;
    pthread_mutex_unlock(&env->lock);
    part_path(env, p->start_s, "", path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.compact", path);
    uint64_t used = part_used_bytes(p);
    if (stat(path, &st) == 0 && used != UINT64_MAX && (uint64_t) st.st_size >= (1u << 20) &&
        used * 4 < (uint64_t) st.st_size * 3) {
        rc = compact_copy(env, p, path, tmp);
        /* Reopen whatever is at `path` now: the compact copy, or the original. */
        int rc2 = p->mdb == NULL ? part_env_open(env, p, path) : 0;
        rc = rc != 0 ? rc : rc2 != 0 ? rc2 : 1;
        if (stat(path, &st) == 0) {
            p->file_bytes = (uint64_t) st.st_size;
        }
    }
    pthread_mutex_lock(&env->lock);
    part_unbusy(env, p);
    pthread_mutex_unlock(&env->lock);
    return rc;
}

int
stor__part_sync(struct stor_env *env, uint32_t start_s)
{
    struct stor_part *p;
    int rc = stor__part_acquire(env, start_s, false, &p);
    if (rc != 0) {
        return rc;
    }
    rc = stor__err(mdb_env_sync(p->mdb, 1));
    stor__part_release(env, p);
    return rc;
}

/* Move a damaged file aside as <path>.bad (or .bad.N), name it to the host, count it. */
static void
quarantine(struct stor_env *env, const char *path, const char *why)
{
    char bad[4200], lock[4200];
    snprintf(bad, sizeof(bad), "%s.bad", path);
    for (int i = 1; i < 100 && access(bad, F_OK) == 0; i++) {
        snprintf(bad, sizeof(bad), "%s.bad.%d", path, i);
    }
    if (rename(path, bad) != 0) {
        stor__notice(env, "damaged partition %s (%s) could not be moved aside: %s", path, why,
                     strerror(errno));
        return;
    }
    snprintf(lock, sizeof(lock), "%s-lock", path);
    unlink(lock);
    stor__path_sync(env->dir, true);
    atomic_fetch_add(&env->ctr.quarantined, 1);
    stor__notice(env, "damaged partition %s (%s): moved to %s; the rest of the store is served",
                 path, why, bad);
}

/* Open and check one partition file found at open; damaged ones are quarantined. */
static int
scan_one(struct stor_env *env, uint32_t start_s)
{
    char path[4096];
    struct stat st;
    part_path(env, start_s, "", path, sizeof(path));
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0; /* not a file of ours after all */
    }
    if (st.st_size == 0) {
        quarantine(env, path, "0 bytes"); /* LMDB would silently make it a new partition */
        return 0;
    }
    struct stor_part *p = part_new(env, start_s);
    if (p == NULL) {
        return -ENOMEM;
    }
    int rc = part_env_open(env, p, path);
    if (rc == STOR_E_CORRUPT || rc == STOR_E_VERSION || rc == -EINVAL) {
        quarantine(env, path,
                   rc == STOR_E_CORRUPT ? "shorter than its pages, or fails LMDB's checks"
                                        : stor_strerror(rc));
        part_free(env, p);
        return 0;
    }
    if (rc != 0) {
        part_free(env, p);
        return rc;
    }
    p->file_bytes = (uint64_t) st.st_size;
    pthread_mutex_lock(&env->lock);
    rc = parts_insert(env, p);
    if (rc == 0) {
        p->used_tick = ++env->use_tick;
        parts_evict(env);
    }
    pthread_mutex_unlock(&env->lock);
    if (rc != 0) {
        part_free(env, p);
    }
    return rc;
}

/* Leftovers of a crash: a compaction's copy, or dropped files not yet unlinked. */
static void
leftover_remove(struct stor_env *env, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(name, "p-", 2) != 0 || (strstr(name, ".mdb.dead.") == NULL &&
                                        (n < 12 || strcmp(name + n - 12, ".mdb.compact") != 0))) {
        return;
    }
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", env->dir, name);
    unlink(path);
}

int
stor__parts_scan(struct stor_env *env)
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
        leftover_remove(env, de->d_name);
        if (sscanf(de->d_name, "p-%10u.mdb%7s", &start, tail) != 1) {
            continue; /* not ours, the -lock file, *.bad */
        }
        rc = scan_one(env, start);
        if (rc != 0) {
            stor__notice(env, "cannot open partition %s/%s: %s", env->dir, de->d_name,
                         stor_strerror(rc));
        }
    }
    closedir(d);
    return rc;
}

void
stor__parts_close(struct stor_env *env)
{
    for (size_t i = 0; i < env->nparts; i++) {
        struct stor_part *p = env->parts[i];
        part_env_close(env, p);
        if (p->doomed) {
            part_unlink_dead(env, p);
        }
        part_free(env, p);
    }
    free(env->parts);
    env->parts = NULL;
    env->nparts = 0;
}
