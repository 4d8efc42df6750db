/* SPDX-License-Identifier: MIT */
/* Window records: the value of a partition's "windows" entry (layout in stor_int.h). */
#include <string.h>

#include "flow_bytes.h"
#include "stor_int.h"

void
stor__win_write(const struct stor_win *w, uint8_t out[STOR_WIN_BYTES])
{
    out[0] = 1;
    out[1] = w->sealed ? 1 : 0;
    flow_put_be(out + 2, w->window_s, 4);
    flow_put_be(out + 6, w->next_run, 4);
    flow_put_be(out + 10, w->blocks, 4);
    flow_put_be(out + 14, w->rows, 8);
    flow_put_be(out + 22, w->late, 8);
    flow_put_be(out + 30, w->bytes, 8);
    flow_put_be(out + 38, w->received, 8);
}

int
stor__win_read(const uint8_t *p, size_t len, struct stor_win *w)
{
    if (len != STOR_WIN_BYTES || p[0] != 1 || p[1] > 1) {
        return STOR_E_CORRUPT;
    }
    w->sealed = p[1] == 1;
    w->window_s = (uint32_t) flow_get_be(p + 2, 4);
    w->next_run = (uint32_t) flow_get_be(p + 6, 4);
    w->blocks = (uint32_t) flow_get_be(p + 10, 4);
    w->rows = flow_get_be(p + 14, 8);
    w->late = flow_get_be(p + 22, 8);
    w->bytes = flow_get_be(p + 30, 8);
    w->received = flow_get_be(p + 38, 8);
    return w->window_s == 60 || w->window_s == 600 ? 0 : STOR_E_CORRUPT;
}
