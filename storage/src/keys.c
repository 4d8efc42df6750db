/* SPDX-License-Identifier: MIT */
/*
 * Key layout. Every integer in a key is big-endian, so LMDB's byte order is the order of
 * flow log, then time, then item: a time range is one cursor walk.
 *
 *   catalog.mdb
 *     meta       key: text ("format", "flowlog_next", "templates", ...)   value: blob
 *     flowlogs   key: 0 id u16                                               value: definition
 *   p-<start>.mdb (one per partition; <start> = Unix seconds, 10 digits)
 *     windows    key: 0 flowlog u16 | 2 window start u32                     value: window record
 *     runs       key: 0 flowlog u16 | 2 window u32 | 6 run u32               value: block
 *     blocks     key: 0 flowlog u16 | 2 window u32 | 6 block u32             value: block
 *     sums       key: 0 flowlog u16 | 2 window u32 | 6 block u32             value: summary
 *
 * docs/storage.md has the value layouts.
 */
#include "flow_bytes.h"
#include "stor_int.h"

void
stor__key_win(uint8_t k[STOR_KEY_WIN], uint16_t flowlog, uint32_t window)
{
    flow_put_be(k, flowlog, 2);
    flow_put_be(k + 2, window, 4);
}

void
stor__key_item(uint8_t k[STOR_KEY_ITEM], uint16_t flowlog, uint32_t window, uint32_t item)
{
    flow_put_be(k, flowlog, 2);
    flow_put_be(k + 2, window, 4);
    flow_put_be(k + 6, item, 4);
}

void
stor__key_parse(const uint8_t *k, size_t len, uint16_t *flowlog, uint32_t *window, uint32_t *item)
{
    *flowlog = len >= 2 ? (uint16_t) flow_get_be(k, 2) : 0;
    *window = len >= 6 ? (uint32_t) flow_get_be(k + 2, 4) : 0;
    if (item != NULL) {
        *item = len >= 10 ? (uint32_t) flow_get_be(k + 6, 4) : 0;
    }
}
