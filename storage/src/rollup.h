/* SPDX-License-Identifier: MIT */
/*
 * Window rollups, the write side (rollup.c): the sealer builds one rollup per seal segment
 * from the rows it encodes and puts it in the segment's write transaction (seal.c's hook).
 * Private to storage/.
 */
#ifndef FLOWLOG_STOR_ROLLUP_H
#define FLOWLOG_STOR_ROLLUP_H

#include "stor_int.h"

/* A rollup encoded for one segment; p NULL when the segment has none (too many groups). */
struct stor__rollup_buf {
    uint8_t *p;
    size_t len;
};

/* Totals of recs[0..n) by the rollup dimensions, encoded for nblocks blocks (caller frees
 * with stor__rollup_buf_free). Over STOR_ROLLUP_GROUPS_MAX groups: 0 with b->p NULL. */
int stor__rollup_build(const struct flow_rec *recs, size_t n, struct stor__rollup_buf *b);
/* Put it under (flowlog, window, first_block), covering nblocks blocks; no-op without one. */
int stor__rollup_put(MDB_txn *txn, struct stor_part *p, uint16_t flowlog, uint32_t start_s,
                     uint32_t first_block, uint32_t nblocks, const struct stor__rollup_buf *b);
void stor__rollup_buf_free(struct stor__rollup_buf *b);

#endif
