/* SPDX-License-Identifier: MIT */
/*
 * The executor's internals, shared by its files and private to them (and query/'s unit
 * tests):
 *
 *   exec.c   the phases: the record scan (filter, record stages), then grouping, then the
 *            table; qry_exec_open/next/close, limits, time and cancel checks, qry_compile
 *   group.c  grouping records by the `by` fields (stats, top, timechart): the strategies
 *   sort.c   the stable merge sort and the record sort's top-k heap
 *   table.c  the table after grouping: its rows, order, top-N cut and the stages after it
 *   out.c    output rows in text, JSON or CSV, with the framing rule for data lines
 */
#ifndef FLOWLOG_EXEC_INT_H
#define FLOWLOG_EXEC_INT_H

#include "qry_int.h"

#define CHUNK_BYTES (64 * 1024)
#define MAX_COLS    64

enum phase { PH_SCAN, PH_EMIT_RECS, PH_EMIT_TABLE, PH_DONE };

struct qry__srec {
    struct flow_rec r;
    uint64_t seq;
};

struct qry__agg_state {
    uint64_t count; /* values seen (records for count()) */
    uint64_t sum;
    uint64_t min, max;
    uint64_t *dc; /* open-addressing set of value hashes (0 = empty slot) */
    size_t dc_n, dc_cap;
};

struct qry__group {
    uint64_t hash;
    size_t klen;
    uint8_t *key;
    struct qry__val *vals; /* by-values (copies; text duplicated) */
    struct qry__agg_state *st;
    uint64_t seq;
};

/* A hash-table slot: the hash beside the pointer, so a probe rarely touches a group. */
struct qry__slot {
    uint64_t hash;
    struct qry__group *g;
};

struct qry_exec {
    const struct qry *q;
    struct stor_snap *snap;
    enum qry_fmt fmt;
    struct qry_limits lim;
    const atomic_bool *cancel;
    struct qry__names nm;
    struct stor_iter *it;
    pcre2_match_data *md;
    char line[2048];
    struct qry__buf out;
    bool out_sent;
    enum phase phase;
    uint64_t rows, scanned, mem, seq;
    uint64_t t0_ms, deadline_ms;
    uint64_t seed; /* of the grouping hashes, drawn per executor */
    char errmsg[256];
    bool header_done;

    /* record phase */
    uint8_t cols[MAX_COLS];
    size_t ncols;
    char jkey[MAX_COLS][32]; /* ,"name": per column, for JSON rows */
    uint8_t jkeylen[MAX_COLS];
    uint64_t pre_limit, pre_count, post_limit;
    bool sorting, sort_desc;
    int sort_field;
    struct qry__srec *recs;
    size_t nrecs, caprecs;
    size_t pos;

    /* aggregation */
    const struct qry__stage *agg;
    size_t agg_idx;
    struct qry__slot *slots; /* open addressing on the key hash, at most half full */
    size_t nslots, ngroups;
    struct qry__group **list; /* every group, in creation order */
    size_t nhashed, listcap;
    struct qry__arena arena;
    struct qry__arena sarena; /* the groups' states, packed: the per-record working set */
    /* Group keys of one or two small-domain fields (ports, protocol, action, ...) index this
     * array directly: no key building, hashing or comparing per record. */
    struct qry__agg_state **direct; /* the group's states */
    /* Keys of small-domain fields too many for the direct array: the same slot number as a
     * packed key (exact, no key bytes to compare) in an open-addressing table. */
    bool packed;
    struct pslot {
        uint64_t key; /* slot number + 1; 0 = empty */
        struct qry__agg_state *st;
    } * pslots;
    size_t npslots, npacked;
    uint32_t dom[2];
    /* top N by one or two address fields: a compact table of addresses and sums
     * (group_addr.c) */
    bool addr_top;
    struct qry__aslot *aslots;
    size_t naslots, naddr;

    /* table phase */
    size_t tcols;
    const char *tnames[MAX_COLS];
    int tfield[MAX_COLS];
    size_t tsrc[MAX_COLS]; /* projection: column of the full row */
    size_t tfull;          /* columns of a full row */
    struct qry__val *trows;
    size_t ntrows;
};

/* exec.c: record the error message and return rc. */
int qry__ex_fail(struct qry_exec *ex, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* QRY_E_CANCELED or QRY_E_TIMEOUT (through qry__ex_fail) when the query must stop, else 0. */
int qry__ex_check_time(struct qry_exec *ex);
/* exec.c: count n more bytes of working memory; QRY_E_LIMIT past lim.mem_bytes. */
int qry__ex_mem(struct qry_exec *ex, size_t n);

/* out.c: one output row of a record (the record columns) or of the table. */
int qry__emit_rec(struct qry_exec *ex, const struct flow_rec *r);
int qry__emit_trow(struct qry_exec *ex, const struct qry__val *row);

/* sort.c */
int qry__val_cmp(const struct qry__val *a, const struct qry__val *b);
typedef int qry__cmp_fn(const void *a, const void *b, const void *ctx);
/* Sort n pointers stably under cmp (ctx passed through). 0 or -ENOMEM. */
int qry__sort_ptrs(struct qry_exec *ex, void **a, size_t n, qry__cmp_fn *cmp, const void *ctx);
/* The record sort: collect r (into a top-k heap when a limit follows), then put in order. */
int qry__sort_add(struct qry_exec *ex, const struct flow_rec *r);
int qry__sort_finish(struct qry_exec *ex);

/* group.c */
/* Pick the grouping strategy for ex->agg (direct array, packed keys or hashed keys). */
int qry__group_setup(struct qry_exec *ex);
/* Add r to its group. */
int qry__group_rec(struct qry_exec *ex, const struct flow_rec *r);
/* group.c: r's group key (the timechart bucket, then each by-value: a presence byte and the
 * value) into key (cap bytes) and its values into vals; -1 when it does not fit. */
int qry__group_key(struct qry_exec *ex, const struct flow_rec *r, uint8_t *key, size_t cap,
                   size_t *klen, struct qry__val *vals);
int qry__group_new(struct qry_exec *ex, const uint8_t *key, size_t klen, uint64_t h,
                   const struct qry__val *vals, bool hashed, struct qry__group **out);
size_t qry__group_nvals(const struct qry__stage *s); /* by-values of a group's row */
size_t qry__group_naggs(const struct qry__stage *s); /* states of a group */
struct qry__val qry__agg_value(const struct qry__agg *a, const struct qry__agg_state *st);
/* Free the groups and their tables. */
void qry__group_free(struct qry_exec *ex);

/* proj.c: the storage columns q's scan must decode (stor_iter_project; 0 = all). */
#define QRY_PROJ_ALL (1ull << 63)
uint64_t qry__projection(const struct qry *q);

/* group_addr.c: top N by one or two address fields. Add r; after the scan, make the N kept. */
int qry__group_addr_rec(struct qry_exec *ex, const struct flow_rec *r);
int qry__group_addr_finish(struct qry_exec *ex);

/* table.c: the table from the groups, in order, with the stages after the grouping. */
int qry__table_build(struct qry_exec *ex);

#endif
