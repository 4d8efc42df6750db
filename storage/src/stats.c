/* SPDX-License-Identifier: MIT */
/*
 * The store's counters by name (stor_stats_each): one table that STATS and /metrics both
 * read, so a counter added to struct stor_stats shows up everywhere once it is listed here.
 */
#include "stor_int.h"

#include <stddef.h>
#include <string.h>

#define C(name, field, help) {name, offsetof(struct stor_stats, field), STOR_STAT_COUNTER, help}
#define G(name, field, help) {name, offsetof(struct stor_stats, field), STOR_STAT_GAUGE, help}

static const struct stat_def {
    const char *name;
    size_t off;
    enum stor_stat_kind kind;
    const char *help;
} defs[] = {
    C("store-records-in", records_in, "records the store's writer took"),
    C("store-records-stored", records_stored, "rows written to open runs, after aggregation"),
    C("store-records-dropped", records_dropped, "records not stored: pending memory exhausted"),
    C("store-unrouted", records_unrouted, "records that matched no active flow log"),
    C("store-late", late, "records for windows already sealed"),
    C("store-time-skew", time_skew, "records retimed to their receive time"),
    C("store-commits", commits, "write transactions committed"),
    C("store-seals", seals, "windows sealed"),
    C("store-nodata", nodata, "NODATA records written"),
    C("store-skipdata", skipdata, "SKIPDATA records written"),
    C("store-full-errors", full_errors, "commits refused for lack of space"),
    G("store-bytes", bytes, "size of the store's files in bytes"),
    C("store-partitions-dropped", partitions_dropped, "partitions dropped by retention"),
    C("store-compactions", compactions, "settled partitions rewritten without free pages"),
    G("store-last-commit-ms", last_commit_ms, "wall time of the last commit, ms since epoch"),
    G("store-pending-records", pending_records, "records taken and not yet committed"),
    G("store-queue-batches", queue_batches, "batches submitted and not yet taken by the writer"),
    G("store-seal-backlog", seal_backlog, "windows handed to the sealer and not yet sealed"),
    G("store-open-windows", open_windows, "capture windows in the writer's memory"),
    G("store-commit-last-ms", commit_last_ms, "duration of the last commit, ms"),
    G("store-commit-max-ms", commit_max_ms, "the longest commit since start, ms"),
    G("store-commit-failing", commit_failing, "1 while commits fail (see last error), else 0"),
    C("store-expired", expired, "records older than retention, refused"),
    C("store-fanout-retimed", fanout_retimed,
      "records retimed because their exporter had too many open windows"),
    C("store-clocks-evicted", clocks_evicted, "exporter clocks forgotten after falling idle"),
    G("store-late-pending", late_pending, "late rows in runs of sealed windows, not yet resealed"),
    C("store-reseals", reseals, "sealed windows whose late runs were merged into blocks"),
    C("store-clocks-full", clocks_full, "exporters left without a clock: the table was full"),
    C("store-clock-resets", clock_resets, "exporter clocks set back by their headers"),
    C("store-clock-clamped", clock_clamped,
      "export times that would have moved an exporter's clock too far at once"),
    C("store-partitions-quarantined", partitions_quarantined,
      "damaged partition files moved aside as *.bad"),
    C("store-blocks-corrupt", blocks_corrupt, "stored blocks a scan skipped: failed their checks"),
    G("store-open-envs", open_envs, "partition environments open now"),
    G("store-partitions", partitions, "partitions in the store"),
    C("store-partitions-closed", partitions_closed,
      "cold partitions closed to stay within max_open_parts"),
    C("store-meta-full", meta_full, "metadata blobs refused for size (STOR_E_FULL)"),
    C("store-rollups-skipped", rollups_skipped,
      "seal segments stored without a rollup (over STOR_ROLLUP_GROUPS_MAX groups)"),
};

int
stor_stats_each(const struct stor_stats *st, stor_stat_fn *fn, void *arg)
{
    const unsigned char *base = (const unsigned char *) st;
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        uint64_t v;
        memcpy(&v, base + defs[i].off, sizeof(v));
        int rc = fn(arg, defs[i].name, v, defs[i].kind, defs[i].help);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
