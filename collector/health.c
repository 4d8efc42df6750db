/* SPDX-License-Identifier: MIT */
/*
 * HEALTH: is flowlogd doing its job? On the query plane's thread, a report of checks, each
 * OK or not with a reason, and OK overall only when all are:
 *
 *   commits    the store's last commit failed (stor_stats.commit_failing; the error named)
 *   disk       the store's file system has less than [health] disk_free_min % free (statvfs)
 *   exporters  an exporter in the exporter table sent nothing for [health] exporter_silent
 *              (read on the ingest loop through xcall.c; EXPORTERS FORGET drops a retired one)
 *
 *   outbox     the ClickHouse sink's oldest unshipped seal is older than [health]
 *              outbox_lag_max (sink.c; "not-checked" without [clickhouse] url)
 *
 * A new check is one more function in `checks` below. Formatting for HTTP and the CLI is
 * theirs; this file gives rows (check, state, detail).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "qserver_int.h"
#include "sink.h"

#define INGEST_WAIT_MS 2000u /* as for STATS: how long HEALTH waits for the ingest loop */

typedef void check_fn(struct coll_qserver *s, struct coll_health_check *c);

/* Details are one word (key=value,...), so the text format shows them unescaped. */
static void
blanks_to_dashes(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == ' ') {
            *s = '-';
        }
    }
}

static void
check_commits(struct coll_qserver *s, struct coll_health_check *c)
{
    struct stor_stats st;
    stor_stats_get(s->stor, &st);
    c->name = "commits";
    c->ok = st.commit_failing == 0;
    if (c->ok) {
        snprintf(c->detail, sizeof(c->detail), "commits=%" PRIu64, st.commits);
    } else {
        snprintf(c->detail, sizeof(c->detail), "failing=%s,held-records=%" PRIu64,
                 stor_strerror(st.last_error), st.pending_records);
        blanks_to_dashes(c->detail);
    }
}

static void
check_disk(struct coll_qserver *s, struct coll_health_check *c)
{
    struct statvfs v;
    c->name = "disk";
    c->ok = true;
    if (s->in.dir == NULL) {
        snprintf(c->detail, sizeof(c->detail), "not-checked");
        return;
    }
    if (statvfs(s->in.dir, &v) != 0 || v.f_blocks == 0) {
        c->ok = false;
        snprintf(c->detail, sizeof(c->detail), "statvfs=%s", strerror(errno));
        blanks_to_dashes(c->detail);
        return;
    }
    /* f_bavail: what an unprivileged writer may still use. */
    double pct = 100.0 * (double) v.f_bavail / (double) v.f_blocks;
    c->ok = pct >= (double) s->in.health.disk_free_min_pct;
    snprintf(c->detail, sizeof(c->detail), "free=%.1f%%,free-mib=%" PRIu64 ",min=%" PRIu32 "%%",
             pct, (uint64_t) v.f_bavail * v.f_frsize >> 20, s->in.health.disk_free_min_pct);
}

struct silent_req {
    const struct coll_stats_src *src;
    uint64_t before_ms; /* last seen before this: silent */
    uint64_t silent, tracked;
    char first[80]; /* the first silent one's name */
};

static int
count_silent(void *arg, const struct coll_exporter *e)
{
    struct silent_req *q = arg;
    q->tracked++;
    if (e->last_ms < q->before_ms) {
        if (q->silent++ == 0) {
            coll_exporter_name(e, q->first, sizeof(q->first));
        }
    }
    return 0;
}

static int
gather_silent(void *arg)
{
    struct silent_req *q = arg;
    return q->src->extab != NULL ? coll_extab_each(q->src->extab, count_silent, q) : 0;
}

static void
check_exporters(struct coll_qserver *s, struct coll_health_check *c)
{
    uint32_t after_s = s->in.health.exporter_silent_s;
    struct silent_req q = {.src = s->in.stats};
    c->name = "exporters";
    c->ok = true;
    if (after_s == 0 || s->in.stats == NULL) {
        snprintf(c->detail, sizeof(c->detail), "not-checked");
        return;
    }
    q.before_ms = flow_wall_ms() - (uint64_t) after_s * 1000u;
    int rc = coll_xcall_run(s->in.ingest, gather_silent, &q, INGEST_WAIT_MS);
    if (rc != 0) {
        c->ok = false;
        snprintf(c->detail, sizeof(c->detail), "ingest-loop=%s",
                 rc == -ETIMEDOUT ? "no-answer" : strerror(-rc));
        blanks_to_dashes(c->detail);
        return;
    }
    c->ok = q.silent == 0;
    blanks_to_dashes(q.first);
    snprintf(c->detail, sizeof(c->detail), "exporters=%" PRIu64 ",silent=%" PRIu64
             ",after=%" PRIu32 "s%s%s", q.tracked, q.silent, after_s, c->ok ? "" : ",first=",
             c->ok ? "" : q.first);
}

static void
check_outbox(struct coll_qserver *s, struct coll_health_check *c)
{
    bool checked;
    (void) s;
    c->name = "outbox";
    coll_sink_health(&checked, &c->ok, c->detail, sizeof(c->detail));
}

static check_fn *const checks[] = {check_commits, check_disk, check_exporters, check_outbox};

static void
health_report(struct coll_qserver *s, struct coll_health_report *out)
{
    memset(out, 0, sizeof(*out));
    out->ok = true;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        struct coll_health_check *c = &out->c[out->n++];
        checks[i](s, c);
        out->ok = out->ok && c->ok;
    }
}

int
coll_health_rows(struct coll_qserver *s, qry_row_fn *row, void *row_arg)
{
    static const char *const names[3] = {"check", "state", "detail"};
    struct coll_health_report rep;
    char reasons[COLL_HEALTH_DETAIL] = "";
    int rc;

    health_report(s, &rep);
    for (size_t i = 0; i < rep.n; i++) {
        size_t used = strlen(reasons);
        if (!rep.c[i].ok) {
            snprintf(reasons + used, sizeof(reasons) - used, "%s%s", used ? "," : "",
                     rep.c[i].name);
        }
    }
    const char *all[3] = {"health", rep.ok ? "OK" : "not-OK", rep.ok ? "all-checks-pass" : reasons};
    rc = row(row_arg, 3, names, all);
    for (size_t i = 0; rc == 0 && i < rep.n; i++) {
        const char *vals[3] = {rep.c[i].name, rep.c[i].ok ? "OK" : "not-OK", rep.c[i].detail};
        rc = row(row_arg, 3, names, vals);
    }
    return rc;
}
