/* SPDX-License-Identifier: MIT */
/*
 * The projection of a query (exec_int.h, docs/query.md "Projection"): the storage columns
 * its scan must decode. A query that prints records needs every column; one that aggregates
 * needs only the fields its filter, the record stages before the aggregation and the
 * aggregation itself name. A keyword or a regex over the whole line reads every field.
 */
#include <stdint.h>

#include "exec_int.h"

/* The storage columns of a record field; 0 for fields always decoded (times, flow log). */
static uint64_t
field_cols(int f)
{
    switch (f) {
    case F_VERSION:
        return STOR_COL_VERSION;
    case F_EXPORTER:
        return STOR_COL_EXPORTER;
    case F_DOMAIN:
        return STOR_COL_DOMAIN;
    case F_INSTANCE:
        return STOR_COL_INSTANCE;
    case F_SNID:
        return STOR_COL_SNID;
    case F_ACCOUNT:
        return STOR_COL_ACCOUNT;
    case F_SRCADDR:
        return STOR_COL_SRCADDR;
    case F_DSTADDR:
        return STOR_COL_DSTADDR;
    case F_SRCPORT:
        return STOR_COL_SRCPORT;
    case F_DSTPORT:
        return STOR_COL_DSTPORT;
    case F_PROTOCOL:
        return STOR_COL_PROTOCOL;
    case F_PACKETS:
        return STOR_COL_PACKETS;
    case F_BYTES:
        return STOR_COL_BYTES;
    case F_TCPFLAGS:
        return STOR_COL_TCPFLAGS;
    case F_TOS:
        return STOR_COL_TOS;
    case F_INPORT:
        return STOR_COL_INPORT;
    case F_OUTPORT:
        return STOR_COL_OUTPORT;
    case F_DIRECTION:
        return STOR_COL_DIRECTION;
    case F_ACTION:
        return STOR_COL_ACTION;
    case F_LOGSTATUS:
        return STOR_COL_LOGSTATUS;
    case F_RTT:
        return STOR_COL_RTT;
    case F_SAMPLING:
        return STOR_COL_SAMPLING;
    case F_FLOWLOG:
    case F_REGION:
    case F_VPC:
    case F_ENI:
    case F_START:
    case F_END:
    case F_WINDOW:
        return 0;
    default:
        return QRY_PROJ_ALL; /* a field this map does not know: read everything */
    }
}

/* The columns the filter n reads; QRY_PROJ_ALL when it reads any field. The tree is at most
 * QRY_DEPTH_MAX deep (qry_int.h), which bounds the recursion. */
static uint64_t
expr_cols(const struct qry__node *n)
{
    uint64_t c = 0;
    if (n == NULL) {
        return 0;
    }
    switch (n->kind) {
    case N_AND:
    case N_OR:
        for (size_t i = 0; i < n->nkids; i++) {
            c |= expr_cols(n->kids[i]);
        }
        return c;
    case N_NOT:
        return expr_cols(n->a);
    case N_FIELD:
    case N_REGEX:
        return n->field < 0 ? QRY_PROJ_ALL : field_cols(n->field);
    default:
        return QRY_PROJ_ALL; /* keywords match any field */
    }
}

uint64_t
qry__projection(const struct qry *q)
{
    uint64_t c = expr_cols(q->expr);
    for (size_t i = 0; i < q->nstages; i++) {
        const struct qry__stage *s = &q->stages[i];
        for (size_t j = 0; j < s->ncols; j++) {
            c |= s->cols[j].field >= 0 ? field_cols(s->cols[j].field) : 0;
        }
        for (size_t j = 0; j < s->naggs; j++) {
            c |= s->aggs[j].field >= 0 ? field_cols(s->aggs[j].field) : 0;
        }
        if (s->kind == S_TOP) {
            c |= STOR_COL_PACKETS | STOR_COL_BYTES; /* its flows, packets and bytes */
        }
        if (s->kind == S_STATS || s->kind == S_TOP || s->kind == S_TIMECHART) {
            /* The stages after the aggregation read the table, not records. */
            return (c & QRY_PROJ_ALL) != 0 ? 0 : c;
        }
    }
    return 0; /* records are printed: every column */
}
