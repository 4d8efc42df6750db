/* SPDX-License-Identifier: MIT */
/*
 * fuzz_seedgen: turn the UDP datagrams of pcap files into one seed for fuzz_decoder, in the
 * chunk format of fuzz_decoder.h. make-seeds.sh drives it over the shared captures.
 *
 *   fuzz_seedgen [-m MAXBYTES] [-S PCAP]... OUT PCAP...
 *     -S PCAP   decode PCAP into a context with the fuzz limits and put that context's
 *               template snapshot first in the seed, as an FZ_ACT_LOAD chunk (so data-only
 *               captures find their templates); repeatable
 *     -m N      stop adding datagrams before the seed grows past N bytes (default 8192,
 *               libFuzzer's -max_len in smoke.sh)
 *
 * Exporters get fuzz sources in the order they first appear (the first four are UDP); the
 * clock step of each chunk is the largest forward fz_steps_ms value not above the capture's
 * gap, so seeds never step the clock back.
 * Only the datagram payloads are kept: no pcap, link or IP headers reach the seed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "fuzz_decoder.h"
#include "pcapwalk.h"

struct gen {
    uint8_t *out;
    size_t n;
    size_t max;
    bool full;
    uint8_t seen[FZ_SOURCES][18]; /* address and port of each mapped exporter */
    unsigned nseen;
    uint64_t last_ms;
    bool have_last;
    struct dec_ctx *snap; /* non-NULL while -S captures are decoded */
};

static unsigned
map_source(struct gen *g, const struct pcapwalk_pkt *pkt)
{
    uint8_t key[18];
    memcpy(key, pkt->src, 16);
    key[16] = (uint8_t) (pkt->sport >> 8);
    key[17] = (uint8_t) pkt->sport;
    for (unsigned i = 0; i < g->nseen && i < FZ_SOURCES; i++) {
        if (memcmp(g->seen[i], key, sizeof(key)) == 0) {
            return i;
        }
    }
    unsigned i = g->nseen++ % FZ_SOURCES;
    memcpy(g->seen[i], key, sizeof(key));
    return i;
}

static unsigned
step_code(struct gen *g, uint64_t ts_ms)
{
    unsigned code = 0;
    if (g->have_last && ts_ms > g->last_ms) {
        for (unsigned i = 0; i < 8; i++) {
            if (fz_steps_ms[i] >= 0 && (uint64_t) fz_steps_ms[i] <= ts_ms - g->last_ms) {
                code = i;
            }
        }
    }
    g->last_ms = ts_ms;
    g->have_last = true;
    return code;
}

static int
put_chunk(struct gen *g, uint8_t ctl, const uint8_t *p, size_t len)
{
    if (len > 0xffff || g->n + FZ_CHUNK + len > g->max) {
        g->full = true;
        return 1;
    }
    g->out[g->n++] = ctl;
    g->out[g->n++] = (uint8_t) (len >> 8);
    g->out[g->n++] = (uint8_t) len;
    memcpy(g->out + g->n, p, len);
    g->n += len;
    return 0;
}

static int
on_pkt(void *arg, const struct pcapwalk_pkt *pkt)
{
    struct gen *g = arg;
    unsigned src_i = map_source(g, pkt);
    unsigned step = step_code(g, pkt->ts_ms);

    if (g->snap != NULL) {
        struct flow_rec recs[64];
        struct dec_sink out = {recs, 64, 0, NULL, NULL};
        struct dec_src src;
        fz_src(src_i, &src);
        dec_decode(g->snap, &src, pkt->data, pkt->len, pkt->ts_ms, &out, NULL);
        return 0;
    }
    return put_chunk(g, fz_ctl_make(src_i, FZ_ACT_DECODE, step), pkt->data, pkt->len);
}

struct wbuf {
    uint8_t *p;
    size_t n;
    size_t cap;
};

static int
wbuf_write(void *arg, const void *p, size_t n)
{
    struct wbuf *w = arg;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        while (cap < w->n + n) {
            cap *= 2;
        }
        uint8_t *q = realloc(w->p, cap);
        if (q == NULL) {
            return -ENOMEM;
        }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->n, p, n);
    w->n += n;
    return 0;
}

/* Decode the -S captures and emit their snapshot as the first chunk. */
static int
put_snapshot(struct gen *g, char **paths, size_t npaths)
{
    struct dec_cfg cfg;
    struct wbuf w = {0};
    char err[512];
    int rc = 0;

    fz_cfg(&cfg);
    if (dec_ctx_create(&g->snap, &cfg) != 0) {
        return -1;
    }
    for (size_t i = 0; i < npaths && rc == 0; i++) {
        if (pcapwalk(paths[i], NULL, 0, on_pkt, g, err) < 0) {
            fprintf(stderr, "fuzz_seedgen: %s: %s\n", paths[i], err);
            rc = -1;
        }
    }
    if (rc == 0 && dec_tmpl_save(g->snap, wbuf_write, &w) != 0) {
        rc = -1;
    }
    if (rc == 0 && put_chunk(g, fz_ctl_make(0, FZ_ACT_LOAD, 0), w.p, w.n) != 0) {
        fprintf(stderr, "fuzz_seedgen: snapshot too big\n");
        rc = -1;
    }
    free(w.p);
    dec_ctx_destroy(g->snap);
    g->snap = NULL;
    g->have_last = false;
    return rc;
}

int
main(int argc, char **argv)
{
    static struct gen g;
    char *snaps[16];
    size_t nsnaps = 0;
    int i = 1;

    g.max = 8192;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-S") == 0 && i + 1 < argc && nsnaps < 16) {
            snaps[nsnaps++] = argv[++i];
        } else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
            g.max = (size_t) strtoul(argv[++i], NULL, 10);
        } else {
            break;
        }
    }
    if (argc - i < 2 || g.max < FZ_HDR) {
        fprintf(stderr, "usage: fuzz_seedgen [-m MAXBYTES] [-S PCAP]... OUT PCAP...\n");
        return 2;
    }
    const char *outpath = argv[i++];
    if ((g.out = malloc(g.max)) == NULL) {
        return 1;
    }
    g.out[g.n++] = 0; /* fail_at: no allocation fails */
    int rc = nsnaps > 0 ? put_snapshot(&g, snaps, nsnaps) : 0;
    for (; i < argc && rc == 0 && !g.full; i++) {
        char err[512];
        if (pcapwalk(argv[i], NULL, 0, on_pkt, &g, err) < 0) {
            fprintf(stderr, "fuzz_seedgen: %s: %s\n", argv[i], err);
            rc = -1;
        }
    }
    if (g.full) {
        fprintf(stderr, "fuzz_seedgen: %s: cut at %zu bytes\n", outpath, g.n);
    }
    if (rc == 0) {
        FILE *f = fopen(outpath, "wb");
        bool ok = f != NULL && fwrite(g.out, 1, g.n, f) == g.n;
        if (f != NULL && fclose(f) != 0) {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "fuzz_seedgen: cannot write %s\n", outpath);
            rc = -1;
        }
    }
    free(g.out);
    return rc == 0 ? 0 : 1;
}
