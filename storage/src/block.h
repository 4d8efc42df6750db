/* SPDX-License-Identifier: MIT */
/*
 * Blocks: the compact on-disk form of up to STOR_BLOCK_MAX flow records, and their summaries.
 * Private to storage/ and its tests.
 *
 * A block is columnar (one column per flow_rec field, each delta/varint coded as suits it,
 * strings dictionary coded within the block) and then zstd-compressed. Its summary holds per
 * field minima and maxima and a Bloom filter over addresses, address prefixes and identity
 * strings, so a scan can skip blocks that cannot match (stor__sum_may_match).
 * The exact byte layout is documented in docs/storage.md and at the top of block.c.
 */
#ifndef FLOWLOG_STOR_BLOCK_H
#define FLOWLOG_STOR_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "stor.h"

#define STOR_BLOCK_MAX 65535 /* records per block at most */
#define STOR_BLOOM_BYTES                                                                           \
    8192 /* Bloom filter size in a summary: ~1-2% false positives at 4096 records */

/* A growable byte buffer owned by its user; free with stor__buf_free. */
struct stor_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};
int stor__buf_reserve(struct stor_buf *b, size_t extra);
void stor__buf_free(struct stor_buf *b);

/* Per-block summary: what a scan needs to rule a block out without decoding it. */
struct stor_sum {
    uint32_t n;
    uint64_t min[STOR_F_COUNT]; /* numeric fields (enum stor_field); unused for text */
    uint64_t max[STOR_F_COUNT];
    uint8_t srcaddr_min[16], srcaddr_max[16];
    uint8_t dstaddr_min[16], dstaddr_max[16];
    uint8_t bloom[STOR_BLOOM_BYTES];
};

/*
 * Encode recs[0..n) (1 <= n <= STOR_BLOCK_MAX) into out (appending) and fill *sum.
 * Decoding gives back every field that `present` marks, and always version, exporter,
 * exporter_port, domain, direction, action, log_status, flags, flowlog, window, skipped,
 * start_ms, end_ms and raw[0..raw_len); fields whose bit is clear decode as zero.
 * Returns 0 or -ENOMEM.
 */
int stor__block_encode(const struct flow_rec *recs, size_t n, struct stor_buf *out,
                       struct stor_sum *sum);

/*
 * Row blocks (rows.c): records as varint rows, uncompressed, for runs. Cheaper to
 * write than columnar blocks, larger, with no summary. stor__block_count/decode read both.
 */
/* Rows are appended as they arrive and cut into blocks of `per` rows. */
/* What a row may share with the row before it (rows.c). */
struct stor_row_prev {
    uint8_t exporter[16];
    uint16_t exporter_port;
    uint8_t version;
    uint32_t domain;
    uint32_t sampling;
    uint32_t present;
    uint32_t inport;
    uint32_t outport;
    char instance_id[FLOW_ID_MAX];
    char snid[FLOW_ID_MAX];
    char account_id[FLOW_ID_MAX];
};

/* Rows of one window of one flow log (every record added has the same flowlog and window). */
struct stor_rows {
    struct stor_buf buf; /* rows back to back */
    size_t n;            /* rows */
    size_t per;          /* rows per block; set before the first add */
    size_t *cut;         /* byte offset where each block's rows begin */
    size_t ncut;
    size_t cut_cap;
    uint16_t flowlog; /* of the rows, taken from the first */
    uint32_t window;
    struct stor_row_prev prev; /* the last row added, within the current block */
};
int stor__rows_add(struct stor_rows *rs, const struct flow_rec *r);
void stor__rows_clear(struct stor_rows *rs); /* keeps the memory */
void stor__rows_free(struct stor_rows *rs);
/* Block `chunk` (0 .. ncut-1) of rs as a row block: its length, then written to out (that
 * many bytes; the writer reserves them in LMDB, so the rows are copied once). */
size_t stor__rows_block_len(const struct stor_rows *rs, size_t chunk);
void stor__rows_block_write(const struct stor_rows *rs, size_t chunk, uint8_t *out);
bool stor__rows_is(const uint8_t *p, size_t len);
long stor__rows_count(const uint8_t *p, size_t len);
int stor__rows_decode(const uint8_t *p, size_t len, struct flow_rec *recs, size_t cap, size_t *n);

/* Number of records in an encoded block (from its header), or a negative error. */
long stor__block_count(const uint8_t *p, size_t len);

/*
 * Decode a block into recs[0..cap); *n gets the count. STOR_E_CORRUPT for anything that does
 * not check out (never reads out of bounds), STOR_E_INVAL when cap is too small.
 */
int stor__block_decode(const uint8_t *p, size_t len, struct flow_rec *recs, size_t cap, size_t *n);
/* The same, decoding only the columns in cols (STOR_COL_*, 0 = all; stor.h "Projection"). */
int stor__block_decode_cols(const uint8_t *p, size_t len, struct flow_rec *recs, size_t cap,
                            size_t *n, uint64_t cols);

/* Serialise / parse a summary (fixed layout, docs/storage.md). */
#define STOR_SUM_BYTES (4 + 16 * STOR_F_COUNT + 64 + STOR_BLOOM_BYTES)
void stor__sum_write(const struct stor_sum *s, uint8_t out[STOR_SUM_BYTES]);
int stor__sum_read(const uint8_t *p, size_t len, struct stor_sum *s);

/* Can any record of the block satisfy every conjunct? false only when certainly not. */
bool stor__sum_may_match(const struct stor_sum *s, const struct stor_conj *conj, size_t nconj);

/* Does one record satisfy one conjunct exactly (used by tests and by brute-force checks)? */
bool stor__rec_matches(const struct flow_rec *r, const struct stor_conj *c);

#endif
