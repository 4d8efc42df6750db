/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the query language (STYLE.md §7): the input is a query text. It is
 * compiled; when it compiles, EXPLAIN and the executor run it, in the format picked by the
 * input's length, over a small store made once per process (records in sealed blocks and in
 * open runs), with tight limits so no input runs long. The input is also fed, as bytes, to a
 * session with a token configured (framing, AUTH, verbs), without a store.
 *
 * Inputs up to QRY_LINE_MAX bytes (smoke.sh runs -max_len=65536), each on a thread whose
 * stack is as large as a libuv threadpool thread's (8 MiB, or RLIMIT_STACK when smaller),
 * because that is where flowlogd compiles and runs queries: a recursion that a 64 KiB line
 * can drive past that stack is a crash here (code review C1).
 *
 * Invariants checked (abort on failure): a parse error has a column inside the text (or just
 * past it) and a message; every output chunk is whole lines; a session's responses end in a
 * status line.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "qry.h"

static struct stor_env *env;
static char dir[64];

static void
cleanup(void)
{
    char cmd[128];
    stor_close(env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz_query: could not remove %s\n", dir);
    }
}

static void
make_store(void)
{
    struct stor_cfg cfg;
    char msg[256];
    snprintf(dir, sizeof(dir), "/tmp/fuzz-query-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    cfg.block_records = 32;
    cfg.commit_ms = 10;
    if (stor_open(&env, &cfg, msg, sizeof(msg)) != 0) {
        abort();
    }
    atexit(cleanup);
    for (int half = 0; half < 2; half++) {
        struct stor_batch *b = stor_batch_get(env);
        for (size_t i = 0; i < 200; i++) {
            struct flow_rec *r = &b->recs[i];
            memset(r, 0, sizeof(*r));
            uint8_t a[4] = {10, 0, (uint8_t) half, (uint8_t) i};
            uint8_t d[4] = {192, 168, (uint8_t) (i % 7), (uint8_t) (i % 13)};
            flow_addr_set_v4(r->srcaddr, a);
            flow_addr_set_v4(r->dstaddr, d);
            r->srcport = (uint16_t) (1024 + i + 200 * half);
            r->dstport = (uint16_t) (i % 5 == 0 ? 22 : 443);
            r->protocol = i % 3 == 0 ? 17 : 6;
            r->packets = i + 1;
            r->bytes = (i + 1) * 1000;
            r->end_ms = 1763798400000ull + i * 7000u;
            r->start_ms = r->end_ms - 500;
            r->version = 10;
            r->action = i % 4 == 0;
            r->present = 0x7f;
            if (i % 3 == 0) {
                r->present |= FLOW_HAS_INSTANCE;
                snprintf(r->instance_id, FLOW_ID_MAX, "sag-%zu", i % 10);
            }
        }
        b->n = 200;
        b->nmsgs = 0;
        stor_batch_submit(env, b);
        if (stor_sync(env) != 0 || (half == 0 && stor_seal_due(env, UINT64_MAX / 2, true) != 0)) {
            abort();
        }
    }
}

static int
null_line(void *arg, const char *line, size_t len)
{
    (void) arg;
    (void) line;
    (void) len;
    return 0;
}

struct sink {
    size_t len;
    char last;
};

static int
sink_out(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;
    s->len += len;
    if (len > 0) {
        s->last = data[len - 1];
    }
    return 0;
}

static void
run_query(const char *text, size_t len)
{
    struct qry *q = NULL;
    struct qry_error e;
    int rc = qry_compile(&q, text, len, 1763798400000ull, &e);
    if (rc == QRY_E_PARSE) {
        if (e.col < 1 || (size_t) e.col > len + 1 || e.msg[0] == '\0') {
            abort();
        }
        return;
    }
    if (rc != 0) {
        return;
    }
    struct stor_snap *snap;
    struct qry_exec *ex;
    struct qry_limits lim = {.time_ms = 200, .mem_bytes = 8u << 20, .rows = 5000};
    if (stor_snap_begin(env, &snap) != 0) {
        abort();
    }
    qry_explain(q, snap, null_line, NULL);
    if (qry_exec_open(&ex, env, q, snap, (enum qry_fmt)(len % 3), &lim, NULL) == 0) {
        const char *d;
        size_t n;
        while ((rc = qry_exec_next(ex, 0, &d, &n)) == 1) {
            if (n > 0 && d[n - 1] != '\n') {
                abort(); /* chunks are whole lines */
            }
        }
        qry_exec_close(ex);
    }
    stor_snap_end(snap);
    qry_free(q);
}

static void
run_session(const uint8_t *data, size_t size)
{
    struct qry_session_cfg cfg = {.token = "t0k", .slice_ms = 5};
    struct qry_session *s;
    struct sink out = {0};
    if (qry_session_create(&s, &cfg, sink_out, &out) != 0) {
        return;
    }
    size_t off = 0;
    int st = QRY_STEP_MORE;
    while (st != QRY_STEP_CLOSE) {
        off += qry_session_feed(s, (const char *) data + off, size - off);
        st = qry_session_step(s);
        if (st == QRY_STEP_IDLE && off == size) {
            break;
        }
    }
    if (out.len > 0 && out.last != '\n') {
        abort();
    }
    qry_session_destroy(s);
}

struct input {
    const uint8_t *data;
    size_t size;
};

static void *
run_input(void *arg)
{
    const struct input *in = arg;
    run_query((const char *) in->data, in->size);
    run_session(in->data, in->size);
    return NULL;
}

/* libuv 1.44's threadpool stack: 8 MiB, or RLIMIT_STACK when that is smaller. */
static size_t
pool_stack_size(void)
{
    struct rlimit lim;
    size_t size = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < size && lim.rlim_cur >= (1u << 20)) {
        size = (size_t) lim.rlim_cur;
    }
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    pthread_attr_t attr;
    pthread_t t;
    if (env == NULL) {
        make_store();
    }
    if (size > QRY_LINE_MAX) {
        return 0; /* the session refuses longer lines before parsing them */
    }
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, pool_stack_size()) != 0 ||
        pthread_create(&t, &attr, run_input, &in) != 0 || pthread_join(t, NULL) != 0) {
        abort();
    }
    pthread_attr_destroy(&attr);
    return 0;
}
