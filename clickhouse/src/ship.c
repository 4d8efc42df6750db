/* SPDX-License-Identifier: MIT */
/*
 * Shipping one batch to one shard exactly once, the shard of a record, and retention by whole
 * partitions. The caller (the sink's thread) owns retries and their backoff: a failed
 * chs_ship is called again later with maybe_sent set, and this file decides whether the batch
 * still has to go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "chs.h"
#include "chs_int.h"

/* Ask the shard how many rows of the batch it holds (plain MergeTree's duplicate check). */
static int
batch_rows_held(const struct chs_shard *s, const char *db, uint64_t batch_id, uint64_t *n)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT count() FROM %s.flows_local WHERE batch_id = %llu", db,
             (unsigned long long) batch_id);
    return chs_query_u64(s, sql, n);
}

int
chs_ship(const struct chs_shard *s, const char *database, bool replicated, bool maybe_sent,
         uint64_t batch_id, const struct chs_buf *rows, uint64_t n, bool *sent)
{
    char sql[256];
    int rc;

    *sent = false;
    if (!chs__name_ok(database)) {
        return CHS_E_ARG;
    }
    if (n > CHS_BATCH_ROWS_MAX) {
        return CHS_E_LIMIT;
    }
    if (maybe_sent && !replicated) {
        uint64_t held = 0;
        if ((rc = batch_rows_held(s, database, batch_id, &held)) != 0) {
            return rc;
        }
        if (held == n) {
            return 0; /* an earlier attempt got in although its answer was lost */
        }
        if (held != 0) {
            return CHS_E_REPLY; /* torn: never add rows on top of part of a batch */
        }
    }
    /* With replicated, a repeated byte-identical INSERT is the same block and is dropped by
     * ReplicatedMergeTree's deduplication (insert_deduplicate, on by default). */
    snprintf(sql, sizeof(sql), "INSERT INTO %s.flows_local FORMAT RowBinary", database);
    rc = chs_exec(s, sql, rows->p, rows->len, NULL);
    if (rc == 0) {
        *sent = true;
    }
    return rc;
}

unsigned
chs_shard_of(const struct flow_rec *r, unsigned nshards)
{
    uint8_t key[2 + 4 + 16];

    if (nshards <= 1) {
        return 0;
    }
    memcpy(key, &r->flowlog, 2);
    memcpy(key + 2, &r->window, 4);
    memcpy(key + 6, r->srcaddr, 16);
    return (unsigned) (XXH3_64bits(key, sizeof(key)) % nshards);
}

/* Drop one table's partitions whose days all lie before `cutoff_day` (days since 1970). */
static int
drop_old(const struct chs_shard *s, const char *db, const char *table, uint64_t cutoff_day,
         unsigned *dropped)
{
    char sql[512];
    struct chs_buf reply = {0};

    snprintf(sql, sizeof(sql),
             "SELECT DISTINCT partition FROM system.parts WHERE database = '%s' AND "
             "table = '%s' AND active AND toUInt32(max_date) < %llu ORDER BY partition",
             db, table, (unsigned long long) cutoff_day);
    int rc = chs_exec(s, sql, NULL, 0, &reply);
    char *line = reply.p != NULL ? (char *) reply.p : "";
    while (rc == 0 && *line != 0) {
        char *nl = strchr(line, '\n');
        if (nl == NULL) {
            break;
        }
        *nl = 0;
        /* A Date partition prints as 2026-12-04 in TabSeparated: digits and dashes only. */
        if (strspn(line, "0123456789-") != strlen(line) || strlen(line) > 16) {
            rc = CHS_E_REPLY;
            break;
        }
        snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DROP PARTITION '%s'", db, table, line);
        if ((rc = chs_exec(s, sql, NULL, 0, NULL)) == 0) {
            (*dropped)++;
        }
        line = nl + 1;
    }
    chs_buf_free(&reply);
    return rc;
}

int
chs_retention(const struct chs_shard *s, const char *database, uint32_t keep_days, uint64_t now_s,
              unsigned *dropped)
{
    uint64_t today = now_s / 86400u;
    uint64_t cutoff = today > keep_days ? today - keep_days : 0;
    int rc;

    *dropped = 0;
    if (!chs__name_ok(database)) {
        return CHS_E_ARG;
    }
    if ((rc = drop_old(s, database, "flows_local", cutoff, dropped)) != 0) {
        return rc;
    }
    return drop_old(s, database, "flows_hourly", cutoff, dropped);
}
