/* SPDX-License-Identifier: MIT */
/*
 * The collector's counters as data, for the query server's STATS and EXPORTERS verbs
 * and for the periodic counter log line: totals gathered from the pipeline, the
 * decoder, the listeners and the exporter table, and the exporter table with each entry's
 * templates refreshed from the decoder. No formatting of protocol lines here.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

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
    for (int r = 0; r < DEC_R_COUNT; r++) {
        out->err[r] = ds->err[r];
        out->decode_errors += ds->err[r];
    }
    out->seq_missed = ds->seq_missed;
    out->templates = ds->templates;
    if (s->extab != NULL) {
        coll_extab_totals(s->extab, &out->exporters);
    }
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
