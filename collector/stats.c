/* SPDX-License-Identifier: MIT */
/*
 * The collector's counters as data, for the query server's STATS and EXPORTERS verbs
 * and for the periodic counter log line: totals gathered from the pipeline, the
 * decoder, the listeners and the exporter table, and the exporter table with each entry's
 * templates refreshed from the decoder. No formatting of protocol lines here.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <stdio.h>

#include "coll.h"

void
coll_stats_totals(const struct coll_stats_src *s, struct coll_totals *out)
{
    struct coll_counters c;
    const struct dec_stats *ds = coll_pipeline_dec_stats(s->pipe);

    memset(out, 0, sizeof(*out));
    coll_pipeline_counters(s->pipe, &c);
    out->datagrams = c.datagrams;
    out->octets = c.octets;
    out->records = c.records;
    out->records_dropped = c.records_dropped;
    out->tmpl_save_errors = c.tmpl_save_errors;
    struct coll_listen_stats sum = s->closed;
    for (size_t i = 0; i < s->nlisteners; i++) {
        struct coll_listen_stats ls;
        coll_listen_stats(s->listeners[i], &ls);
        coll_listen_stats_add(&sum, &ls);
    }
    out->denied_datagrams = sum.denied_datagrams;
    out->denied_octets = sum.denied_octets;
    out->denied_connections = sum.denied_connections;
    out->socket_drops = sum.socket_drops;
    out->listen = sum;
    for (int r = 0; r < DEC_R_COUNT; r++) {
        out->err[r] = ds->err[r];
        out->decode_errors += ds->err[r];
    }
    out->seq_missed = ds->seq_missed;
    out->templates = ds->templates;
    out->dec_exporters_expired = ds->exporters_expired;
    out->dec_exporters_evicted = ds->exporters_evicted;
    out->dec_exporters_forgotten = ds->exporters_forgotten;
    out->dec_snapshot_truncated = ds->snapshot_truncated;
    out->dec_memory_bytes = ds->memory_bytes;
    if (s->extab != NULL) {
        coll_extab_totals(s->extab, &out->exporters);
    }
    coll_repeat_totals(&out->repeat);
}

static int
add_templates(void *arg, const struct dec_exporter_info *info)
{
    coll_extab_templates_add(arg, &info->src, info->templates);
    return 0;
}

void
coll_listen_stats_add(struct coll_listen_stats *sum, const struct coll_listen_stats *add)
{
    sum->denied_datagrams += add->denied_datagrams;
    sum->denied_octets += add->denied_octets;
    sum->denied_connections += add->denied_connections;
    sum->socket_drops += add->socket_drops;
    sum->overload_pauses += add->overload_pauses;
    sum->tcp_sessions += add->tcp_sessions;
    sum->tcp_accepted += add->tcp_accepted;
    sum->tcp_refused += add->tcp_refused;
    sum->tcp_idle_closed += add->tcp_idle_closed;
    sum->tcp_bad_streams += add->tcp_bad_streams;
    sum->fd_refused += add->fd_refused;
}

int
coll_stats_each_exporter(const struct coll_stats_src *s, coll_exporter_fn *fn, void *arg)
{
    if (s->extab == NULL) {
        return 0;
    }
    coll_extab_templates_clear(s->extab);
    coll_pipeline_exporter_each(s->pipe, add_templates, s->extab);
    return coll_extab_each(s->extab, fn, arg);
}

/* Keep copies of the busiest COLL_LOG_EXPORTERS exporters. */
static int
keep_top(void *arg, const struct coll_exporter *e)
{
    struct coll_counter_snap *t = arg;
    if (t->n < COLL_LOG_EXPORTERS) {
        t->top[t->n++] = *e;
        return 0;
    }
    size_t least = 0;
    for (size_t i = 1; i < t->n; i++) {
        if (t->top[i].datagrams < t->top[least].datagrams) {
            least = i;
        }
    }
    if (e->datagrams > t->top[least].datagrams) {
        t->top[least] = *e;
    }
    return 0;
}

void
coll_stats_snap(const struct coll_stats_src *s, struct coll_counter_snap *out)
{
    coll_stats_totals(s, &out->totals);
    out->n = 0;
    coll_stats_each_exporter(s, keep_top, out);
}

void
coll_stats_log(const struct coll_counter_snap *snap, const struct stor_stats *st)
{
    const struct coll_exporter *ex[COLL_LOG_EXPORTERS];
    char line[8192];
    for (size_t i = 0; i < snap->n; i++) {
        ex[i] = &snap->top[i];
    }
    coll_stats_line(&snap->totals, st, ex, snap->n, COLL_LOG_EXPORTERS, flow_wall_ms(), line,
                    sizeof(line));
    coll_log(COLL_LOG_INFO, "%s", line);
}
