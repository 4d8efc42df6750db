/* SPDX-License-Identifier: MIT */
/*
 * BACKUP <dir> (docs/protocol.md "BACKUP", docs/operations.md "Backup and restore"): an
 * admin verb that has storage write a hot copy of the store into <dir>, a directory on the
 * collector's host (absolute; created, or empty). It runs on a query worker (a heavy verb)
 * and answers once the copy is complete and synced:
 *
 *   OK backup <dir> <partitions> partitions <bytes> bytes <ms> ms
 */
#include <stdio.h>
#include <string.h>

#include "qry_int.h"

void
qry__backup_cmd(struct stor_env *env, bool admin, const char *arg, char *reply, size_t cap)
{
    char msg[512] = "", dir[4096];
    size_t n = strcspn(arg, " \t");
    if (!admin) {
        snprintf(reply, cap, "ERR DENIED BACKUP needs the admin token (AUTH <admin token>)");
        return;
    }
    if (env == NULL) {
        snprintf(reply, cap, "ERR UNAVAILABLE this session has no store");
        return;
    }
    if (n == 0 || arg[n + strspn(arg + n, " \t")] != '\0' || n >= sizeof(dir)) {
        snprintf(reply, cap, "ERR ARGS BACKUP takes one absolute directory (no blanks)");
        return;
    }
    memcpy(dir, arg, n);
    dir[n] = '\0';
    struct stor_backup_info info;
    int rc = stor_backup(env, dir, &info, msg, sizeof(msg));
    if (rc == 0) {
        snprintf(reply, cap, "OK backup %s %u partitions %llu bytes %llu ms", dir, info.partitions,
                 (unsigned long long) info.bytes, (unsigned long long) info.ms);
    } else {
        snprintf(reply, cap, "ERR %s %s",
                 rc == STOR_E_EXISTS  ? "EXISTS"
                 : rc == STOR_E_INVAL ? "ARGS"
                                      : "STORE",
                 msg[0] != '\0' ? msg : stor_strerror(rc));
    }
}
