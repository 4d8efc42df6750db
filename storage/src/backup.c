/* SPDX-License-Identifier: MIT */
/*
 * Hot backup (docs/operations.md "Backup and restore"): a consistent copy of the store
 * written while ingest goes on.
 *
 * The target directory is created (or must be empty). A guard file, backup.partial, is made
 * with O_EXCL first, so that two backups into one directory cannot both run. Then the
 * catalog and each partition are copied with LMDB's mdb_env_copy2(MDB_CP_COMPACT): the copy
 * reads through one read transaction of its own, so commits to that partition go on
 * meanwhile and the copy holds exactly the transactions committed when it began. Each
 * partition is held with stor__part_acquire for its copy (retention cannot unlink it and
 * compaction leaves it alone). env->admin is held throughout, so flow-log definitions do
 * not change between the catalog's copy and the partitions'. Every file is fsynced, and the
 * guard is renamed to backup.done last, with what was copied: a directory without
 * backup.done is not a backup.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flow_clock.h"
#include "stor_int.h"

#define BACKUP_GUARD "backup.partial"
#define BACKUP_DONE  "backup.done"

/* 0 when dir was made or is an empty directory; STOR_E_EXISTS when it holds anything. */
static int
target_prepare(const char *dir, char *msg, size_t msglen)
{
    if (mkdir(dir, 0750) == 0) {
        return 0;
    }
    if (errno != EEXIST) {
        int rc = -errno;
        stor__msg(msg, msglen, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        int rc = -errno;
        stor__msg(msg, msglen, "%s exists and is not a readable directory: %s", dir, strerror(-rc));
        return rc;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            stor__msg(msg, msglen, "%s is not empty (it holds %s); name a new directory", dir,
                      de->d_name);
            rc = STOR_E_EXISTS;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* Copy one LMDB environment to path, compacted, mode 0640, fsynced; adds its size. */
static int
env_copy(MDB_env *e, const char *path, uint64_t *bytes)
{
    struct stat st;
    int rc = stor__err(mdb_env_copy2(e, path, MDB_CP_COMPACT));
    if (rc == 0 && chmod(path, 0640) != 0) {
        rc = -errno;
    }
    if (rc == 0) {
        rc = stor__path_sync(path, false);
    }
    if (rc == 0 && stat(path, &st) == 0) {
        *bytes += (uint64_t) st.st_size;
    }
    return rc;
}

/* The partitions' start times now (a copy: the list changes under ingest). */
static int
part_starts(struct stor_env *env, uint32_t **out, size_t *n)
{
    pthread_mutex_lock(&env->lock);
    size_t cnt = env->nparts;
    uint32_t *v = malloc((cnt > 0 ? cnt : 1) * sizeof(*v));
    for (size_t i = 0; v != NULL && i < cnt; i++) {
        v[i] = env->parts[i]->start_s;
    }
    pthread_mutex_unlock(&env->lock);
    if (v == NULL) {
        return -ENOMEM;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* Copy every partition listed now; one dropped by retention meanwhile is skipped. */
static int
parts_copy(struct stor_env *env, const char *dir, struct stor_backup_info *info, char *msg,
           size_t msglen)
{
    uint32_t *starts = NULL;
    size_t n = 0;
    char path[4200];
    int rc = part_starts(env, &starts, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct stor_part *p;
        int arc = stor__part_acquire(env, starts[i], false, &p);
        if (arc == STOR_E_NOTFOUND) {
            continue;
        }
        if (arc != 0) {
            rc = arc;
            stor__msg(msg, msglen, "cannot open partition %u: %s", starts[i], stor_strerror(rc));
            break;
        }
        snprintf(path, sizeof(path), "%s/p-%010u.mdb", dir, starts[i]);
        rc = env_copy(p->mdb, path, &info->bytes);
        stor__part_release(env, p);
        if (rc != 0) {
            stor__msg(msg, msglen, "cannot copy partition %u to %s: %s", starts[i], path,
                      stor_strerror(rc));
        } else {
            info->partitions++;
        }
    }
    free(starts);
    return rc;
}

/* Fill the guard with what was copied, fsync it, and rename it to backup.done. */
static int
marker_finish(int fd, const char *dir, const struct stor_backup_info *info)
{
    char text[256], from[4200], to[4200];
    int n = snprintf(text, sizeof(text),
                     "flowlog backup\ncreated_unix %lld\npartitions %u\nbytes %llu\n",
                     (long long) time(NULL), info->partitions, (unsigned long long) info->bytes);
    if (write(fd, text, (size_t) n) != n || fsync(fd) != 0) {
        return errno != 0 ? -errno : -EIO;
    }
    snprintf(from, sizeof(from), "%s/%s", dir, BACKUP_GUARD);
    snprintf(to, sizeof(to), "%s/%s", dir, BACKUP_DONE);
    if (rename(from, to) != 0) {
        return -errno;
    }
    int rc = stor__path_sync(dir, true);
    /* The directory's own name, when target_prepare made it. */
    snprintf(to, sizeof(to), "%s", dir);
    char *slash = strrchr(to, '/');
    if (rc == 0 && slash != NULL && slash != to) {
        *slash = '\0';
        rc = stor__path_sync(to, true);
    }
    return rc;
}

/* The catalog, the partitions and the marker, into dir whose guard fd holds. */
static int
backup_run(struct stor_env *env, const char *dir, int fd, struct stor_backup_info *info, char *msg,
           size_t msglen)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/catalog.mdb", dir);
    pthread_mutex_lock(&env->admin);
    int rc = env_copy(env->cat, path, &info->bytes);
    if (rc != 0) {
        stor__msg(msg, msglen, "cannot copy the catalog to %s: %s", path, stor_strerror(rc));
    } else {
        rc = parts_copy(env, dir, info, msg, msglen);
    }
    pthread_mutex_unlock(&env->admin);
    if (rc == 0 && (rc = marker_finish(fd, dir, info)) != 0) {
        stor__msg(msg, msglen, "cannot write %s/%s: %s", dir, BACKUP_DONE, strerror(-rc));
    }
    return rc;
}

int
stor_backup(struct stor_env *env, const char *dir, struct stor_backup_info *info, char *msg,
            size_t msglen)
{
    char guard[4200];
    uint64_t t0 = flow_mono_ms();
    memset(info, 0, sizeof(*info));
    if (dir == NULL || dir[0] != '/' || strlen(dir) > 4000) {
        stor__msg(msg, msglen, "the backup directory must be an absolute path");
        return STOR_E_INVAL;
    }
    int rc = target_prepare(dir, msg, msglen);
    if (rc != 0) {
        return rc;
    }
    snprintf(guard, sizeof(guard), "%s/%s", dir, BACKUP_GUARD);
    int fd = open(guard, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = errno == EEXIST ? STOR_E_EXISTS : -errno;
        stor__msg(msg, msglen, "%s: %s", guard,
                  rc == STOR_E_EXISTS ? "another backup is writing there" : strerror(errno));
        return rc;
    }
    rc = backup_run(env, dir, fd, info, msg, msglen);
    close(fd);
    info->ms = flow_mono_ms() - t0;
    if (rc != 0) {
        stor__notice(env, "backup to %s failed: %s", dir, msg);
    }
    return rc;
}
