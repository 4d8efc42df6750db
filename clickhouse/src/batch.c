/* SPDX-License-Identifier: MIT */
/*
 * Cutting one window's records into batches per shard and shipping each exactly once
 * (chs_ship with maybe_sent): the part shared by the live sink in flowlogd
 * (collector/sink.c) and the backfill tool (tools/chexport.c). The caller says where a
 * window's records start and end (chs_batcher_begin / chs_batcher_end) and names the batches
 * (id_fn), so the same records always make the same batches with the same ids; this file
 * keeps no state across windows beyond its buffers and counters.
 */
#include <errno.h>
#include <string.h>

#include "chs.h"

/* Ship what shard s holds of the current window as one batch, then start the next. */
static int
flush(struct chs_batcher *b, unsigned s)
{
    bool did = false;
    int rc;

    if (b->rows[s] == 0) {
        return 0;
    }
    rc = chs_ship(&b->shards[s], b->database, b->replicated, true, b->cur_id[s], &b->buf[s],
                  b->rows[s], &did);
    if (rc != 0) {
        b->failed_shard = (int) s;
        return rc;
    }
    b->batches++;
    b->sent += did;
    b->skipped += !did;
    b->rows_sent += did ? b->rows[s] : 0;
    b->chunk[s]++;
    b->rows[s] = 0;
    b->buf[s].len = 0;
    return 0;
}

void
chs_batcher_begin(struct chs_batcher *b, const char *flowlog, uint32_t window_s)
{
    for (unsigned s = 0; s < b->nshards; s++) {
        b->rows[s] = 0;
        b->chunk[s] = 0;
        b->buf[s].len = 0;
    }
    b->ctx.flowlog = flowlog;
    b->ctx.window_s = window_s;
    b->failed_shard = -1;
}

int
chs_batcher_add(struct chs_batcher *b, const struct flow_rec *r)
{
    unsigned s = chs_shard_of(r, b->nshards);
    int rc;

    if (b->rows[s] == 0) {
        b->cur_id[s] = b->id_fn(b->id_arg, s, b->chunk[s]);
    }
    b->ctx.batch_id = b->cur_id[s];
    if ((rc = chs_rowbin_append(&b->buf[s], r, &b->ctx)) != 0) {
        return rc;
    }
    b->records++;
    return ++b->rows[s] >= b->batch_rows ? flush(b, s) : 0;
}

int
chs_batcher_end(struct chs_batcher *b)
{
    int rc = 0;

    for (unsigned s = 0; s < b->nshards && rc == 0; s++) {
        rc = flush(b, s);
    }
    return rc;
}

void
chs_batcher_free(struct chs_batcher *b)
{
    for (unsigned s = 0; s < CHS_SHARDS_MAX; s++) {
        chs_buf_free(&b->buf[s]);
    }
}
