/* SPDX-License-Identifier: MIT */
/*
 * The ClickHouse schema (version CHS_SCHEMA_VERSION; DDL in docs/scale-out.md): created when
 * missing and migrated from an older recorded version, on each shard. Every statement is
 * CREATE ... IF NOT EXISTS, so several collectors may run it at once and a half-applied run
 * is finished by the next. Kept to what Debian's 18.16.1 takes: no IPv6 type, no CODEC, no
 * TTL, no DateTime64; addresses are FixedString(16) as in struct flow_rec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chs.h"
#include "chs_int.h"

#define SQL_MAX 4096

static const char COLUMNS[] =
    "date Date, window DateTime, window_s UInt32, flowlog String, start_ms UInt64, "
    "end_ms UInt64, srcaddr FixedString(16), dstaddr FixedString(16), srcport UInt16, "
    "dstport UInt16, protocol UInt8, packets UInt64, bytes UInt64, tcp_flags UInt16, "
    "tos UInt8, inport UInt32, outport UInt32, direction UInt8, action UInt8, "
    "log_status UInt8, skipped UInt32, sampling UInt32, rtt_us UInt32, version UInt8, "
    "domain UInt32, exporter FixedString(16), exporter_port UInt16, present UInt32, "
    "flags UInt8, instance_id String, snid String, account_id String, batch_id UInt64";

static const char HOURLY_KEY[] =
    "flowlog, hour, protocol, direction, action, log_status, exporter, instance_id";

/* True for a name we can put in SQL unquoted: [A-Za-z0-9_]{1,CHS_NAME_MAX}, not a digit first. */
bool
chs__name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > CHS_NAME_MAX || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

static int
engine_of(const struct chs_schema_cfg *c, const char *table, const char *kind, char *out,
          size_t cap)
{
    int n =
        c->replicated
            ? snprintf(out, cap, "Replicated%s('/clickhouse/tables/{shard}/%s/%s', '{replica}')",
                       kind, c->database, table)
            : snprintf(out, cap, "%s()", kind);
    return n > 0 && (size_t) n < cap ? 0 : CHS_E_ARG;
}

/* The statements of version 1, in order; each fills `sql` and returns 0, or 1 past the end. */
static int
v1_statement(const struct chs_schema_cfg *c, int i, char *sql, size_t cap)
{
    const char *db = c->database;
    char eng[256];
    int n = 0;

    if (i == 0) {
        if (engine_of(c, "flows_local", "MergeTree", eng, sizeof(eng)) != 0) {
            return CHS_E_ARG;
        }
        n = snprintf(sql, cap,
                     "CREATE TABLE IF NOT EXISTS %s.flows_local (%s) ENGINE = %s "
                     "PARTITION BY date ORDER BY (flowlog, window, dstaddr, srcaddr)",
                     db, COLUMNS, eng);
    } else if (i == 1) {
        if (engine_of(c, "flows_hourly", "SummingMergeTree", eng, sizeof(eng)) != 0) {
            return CHS_E_ARG;
        }
        n = snprintf(sql, cap,
                     "CREATE TABLE IF NOT EXISTS %s.flows_hourly (date Date, hour DateTime, "
                     "flowlog String, protocol UInt8, direction UInt8, action UInt8, "
                     "log_status UInt8, exporter FixedString(16), instance_id String, "
                     "records UInt64, packets UInt64, bytes UInt64) ENGINE = %s "
                     "PARTITION BY date ORDER BY (%s)",
                     db, eng, HOURLY_KEY);
    } else if (i == 2) {
        n = snprintf(sql, cap,
                     "CREATE MATERIALIZED VIEW IF NOT EXISTS %s.flows_hourly_mv TO %s.flows_hourly "
                     "AS SELECT date, toStartOfHour(window) AS hour, flowlog, protocol, direction, "
                     "action, log_status, exporter, instance_id, count() AS records, "
                     "sum(packets) AS packets, sum(bytes) AS bytes FROM %s.flows_local "
                     "GROUP BY date, %s",
                     db, db, db, HOURLY_KEY);
    } else if (i == 3) {
        n = snprintf(sql, cap,
                     "CREATE TABLE IF NOT EXISTS %s.flows AS %s.flows_local "
                     "ENGINE = Distributed(%s, %s, flows_local, rand())",
                     db, db, c->cluster, db);
    } else {
        return 1;
    }
    return n > 0 && (size_t) n < cap ? 0 : CHS_E_ARG;
}

static int
read_version(const struct chs_shard *s, const char *db, uint32_t *out)
{
    char sql[256];
    uint64_t v = 0;

    snprintf(sql, sizeof(sql), "SELECT max(version) FROM %s.schema_version", db);
    int rc = chs_query_u64(s, sql, &v);
    if (rc == 0) {
        *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
    }
    return rc;
}

/* The database and the version table: what reading the version needs. */
static int
ensure_base(const struct chs_shard *s, const char *db)
{
    char sql[512];
    int rc;

    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", db);
    if ((rc = chs_exec(s, sql, NULL, 0, NULL)) != 0) {
        return rc;
    }
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s.schema_version (version UInt32, applied DateTime) "
             "ENGINE = MergeTree() ORDER BY version",
             db);
    return chs_exec(s, sql, NULL, 0, NULL);
}

int
chs_schema_ensure(const struct chs_shard *s, const struct chs_schema_cfg *c, uint32_t *from)
{
    char *sql = NULL;
    uint32_t v = 0;
    int rc;

    if (!chs__name_ok(c->database) || !chs__name_ok(c->cluster)) {
        return CHS_E_ARG;
    }
    if ((rc = ensure_base(s, c->database)) != 0 || (rc = read_version(s, c->database, &v)) != 0) {
        return rc;
    }
    if (v > CHS_SCHEMA_VERSION) {
        return CHS_E_SCHEMA;
    }
    if ((sql = malloc(SQL_MAX)) == NULL) {
        return -ENOMEM;
    }
    /* Version 1 is the first layout: its statements also repair a half-created one. A later
     * version adds its ALTERs here, applied when v is below it. */
    for (int i = 0; (rc = v1_statement(c, i, sql, SQL_MAX)) == 0; i++) {
        if ((rc = chs_exec(s, sql, NULL, 0, NULL)) != 0) {
            goto free_sql;
        }
    }
    rc = rc == 1 ? 0 : rc;
    if (rc == 0 && v < CHS_SCHEMA_VERSION) {
        snprintf(sql, SQL_MAX, "INSERT INTO %s.schema_version VALUES (%u, now())", c->database,
                 CHS_SCHEMA_VERSION);
        rc = chs_exec(s, sql, NULL, 0, NULL);
    }
    if (rc == 0 && from != NULL) {
        *from = v;
    }
free_sql:
    free(sql);
    return rc;
}
