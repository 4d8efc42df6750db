/* SPDX-License-Identifier: MIT */
/*
 * Crash safety of the store (DESIGN.md §6, "Durability"): after kill -9 the store opens clean
 * and every record committed before the kill is there.
 *
 * A forked child opens the store and ingests deterministic batches for ever; after each
 * stor_sync() that returns 0 it appends the batches it covered to a "committed log" (write
 * and fsync), so the parent knows what was durably committed. The parent kills the child
 * with SIGKILL at a random moment, reopens the store and checks that it opens, that every
 * logged batch is there in full, that no record is stored twice (a replayed commit) or
 * altered, that a record seen by an earlier check is still there, and that the window
 * catalog (stor_windows_each) agrees with the rows. Every round runs on the store the last
 * kill left behind, so open windows, half-grown maps and interrupted seals carry over.
 * Sealing is interrupted too: windows seal on the exporter clock during ingest, and some
 * rounds force seals. Two deterministic rounds kill the child (it raises SIGKILL itself)
 * right after stor_sync() and right after a forced seal returned, for the exact boundary.
 *
 * Records are a pure function of (round, batch, index) and each has its own aggregation key
 * (source address encodes round and batch, source port the index), so each is its own row.
 * The kill timing is random; the seed is printed and FLOWLOG_CRASH_SEED reruns it.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor.h"

#define KILL_ROUNDS 30   /* rounds killed at a random moment */
#define MAX_ROUNDS  40   /* all rounds, deterministic ones included */
#define MAX_BATCH   2048 /* batches a child submits at most, then it waits to be killed */
#define MAX_RECS    48   /* records per batch at most */
#define ROUND_S     300  /* each round's records start this much later than the last's */
#define SPAN_S      900  /* and spread over this many seconds (two or three windows) */
#define WIN_S       600
#define MAX_WINS    64
#define LOG_ENTRY   20

/* Exit codes of a child that failed on its own (anything but SIGKILL is a failure). */
enum child_err {
    CHILD_E_LOG = 2,
    CHILD_E_OPEN = 3,
    CHILD_E_BATCH = 4,
    CHILD_E_SYNC = 5,
    CHILD_E_SEAL = 6,
};

/* How a round's child seals, and how it ends. */
enum mode {
    MODE_CLOCK,           /* only the writer's own seals, on the exporter clock */
    MODE_FORCE,           /* plus a forced stor_seal_due every 16 batches */
    MODE_DUE,             /* plus an unforced stor_seal_due every 8 batches */
    MODE_KILL_AFTER_SYNC, /* deterministic: raise SIGKILL right after the last stor_sync */
    MODE_KILL_AFTER_SEAL, /* deterministic: raise SIGKILL right after a forced seal */
};

struct crash {
    char dir[64];
    char store[96];
    char log[96];
    struct stor_cfg cfg;
    uint32_t t0_s; /* a partition start two days ahead: wall clock never seals a window */
    uint64_t rng;
    uint32_t rounds;    /* rounds started */
    uint8_t *seen;      /* [round][batch][rec]: found by an earlier check */
    uint8_t *cnt;       /* same index: copies found by this check */
    uint8_t *committed; /* [round][batch]: the child logged it, or it is known synced */
    uint64_t checks, rows, logged, sealed_wins, wins;
};

/* Committed log entry, host byte order (written and read on the same machine):
 *   offset size  field
 *   0      4     round
 *   4      4     batch
 *   8      4     records in the batch
 *   12     8     packets in the batch                                     (20 bytes) */

static uint32_t
mix(uint32_t a, uint32_t b)
{
    uint32_t h = a * 0x9e3779b1u ^ (b + 0x7f4a7c15u) * 0x85ebca6bu;
    h ^= h >> 15;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 13);
}

static uint32_t
batch_recs(uint32_t round, uint32_t batch)
{
    return 1 + mix(round, batch) % MAX_RECS;
}

static size_t
rec_index(uint32_t round, uint32_t batch, uint32_t j)
{
    return ((size_t) round * MAX_BATCH + batch) * MAX_RECS + j;
}

static void
rec_make(struct flow_rec *r, uint32_t t0_s, uint32_t round, uint32_t batch, uint32_t j)
{
    memset(r, 0, sizeof(*r));
    uint8_t src[4] = {10, (uint8_t) round, (uint8_t) (batch >> 8), (uint8_t) batch};
    uint8_t dst[4] = {172, 16, (uint8_t) j, (uint8_t) (mix(batch, j) & 0xff)};
    uint8_t exp[4] = {192, 0, 2, 1};
    flow_addr_set_v4(r->srcaddr, src);
    flow_addr_set_v4(r->dstaddr, dst);
    flow_addr_set_v4(r->exporter, exp);
    r->exporter_port = 4739;
    r->srcport = (uint16_t) (1024 + j);
    r->dstport = (uint16_t) (mix(round, batch + j) % 60000);
    r->protocol = 6;
    r->packets = 1 + (mix(round, batch) ^ mix(j, 7)) % 1000;
    r->bytes = r->packets * 64 + j;
    r->tcp_flags = 0x12;
    r->end_ms = ((uint64_t) t0_s + round * ROUND_S + (batch * 37 + j * 11) % SPAN_S) * 1000u + j;
    r->start_ms = r->end_ms - 1000 - j * 3;
    r->version = 10;
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                 FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES | FLOW_HAS_TCPFLAGS;
}

static uint64_t
batch_packets(uint32_t t0_s, uint32_t round, uint32_t batch)
{
    uint64_t sum = 0;
    struct flow_rec r;
    for (uint32_t j = 0; j < batch_recs(round, batch); j++) {
        rec_make(&r, t0_s, round, batch, j);
        sum += r.packets;
    }
    return sum;
}

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t) (ms / 1000u), (long) (ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (*s >> 33);
}

/* ---- the child ---- */

static int
submit_batch(struct stor_env *env, const struct crash *c, uint32_t round, uint32_t batch)
{
    struct stor_batch *b = stor_batch_get(env);
    if (b == NULL) {
        return -1;
    }
    b->n = batch_recs(round, batch);
    for (uint32_t j = 0; j < b->n; j++) {
        rec_make(&b->recs[j], c->t0_s, round, batch, j);
    }
    /* The exporter clock runs 2 s per batch: windows close (and seal) while later batches
     * still send records into them, which then arrive late. */
    struct stor_msg *m = &b->msgs[0];
    memset(m, 0, sizeof(*m));
    memcpy(m->exporter, b->recs[0].exporter, 16);
    m->exporter_port = 4739;
    m->export_ms = ((uint64_t) c->t0_s + round * ROUND_S + batch * 2u) * 1000u;
    b->nmsgs = 1;
    stor_batch_submit(env, b);
    return 0;
}

static int
log_append(int fd, const struct crash *c, uint32_t round, uint32_t first, uint32_t n)
{
    uint8_t buf[4 * LOG_ENTRY];
    for (uint32_t k = 0; k < n; k++) {
        uint8_t *e = buf + k * LOG_ENTRY;
        uint32_t batch = first + k, recs = batch_recs(round, batch);
        uint64_t packets = batch_packets(c->t0_s, round, batch);
        memcpy(e, &round, 4);
        memcpy(e + 4, &batch, 4);
        memcpy(e + 8, &recs, 4);
        memcpy(e + 12, &packets, 8);
    }
    size_t len = (size_t) n * LOG_ENTRY;
    return write(fd, buf, len) == (ssize_t) len && fsync(fd) == 0 ? 0 : -1;
}

/* After a group of batches ending at `done`: the round's sealing, or its deterministic end. */
static int
child_seal(struct stor_env *env, enum mode mode, uint32_t done, uint32_t g, uint32_t nbatches)
{
    int rc = 0;
    if (mode == MODE_FORCE && done % 16 < g) {
        rc = stor_seal_due(env, wall_ms(), true);
    } else if (mode == MODE_DUE && done % 8 < g) {
        rc = stor_seal_due(env, wall_ms(), false);
    } else if (mode == MODE_KILL_AFTER_SEAL && done == nbatches) {
        if ((rc = stor_seal_due(env, wall_ms(), true)) == 0) {
            raise(SIGKILL);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "child: stor_seal_due: %s\n", stor_strerror(rc));
    }
    return rc;
}

_Noreturn static void
child_run(const struct crash *c, uint32_t round, enum mode mode, uint32_t nbatches)
{
    struct stor_env *env;
    char msg[256] = "";
    int fd = open(c->log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) {
        _exit(CHILD_E_LOG);
    }
    int rc = stor_open(&env, &c->cfg, msg, sizeof(msg));
    if (rc != 0) {
        fprintf(stderr, "child: stor_open: %s (%s)\n", stor_strerror(rc), msg);
        _exit(CHILD_E_OPEN);
    }
    for (uint32_t b = 0; b < nbatches;) {
        uint32_t g = 1 + mix(round, ~b) % 3; /* batches per stor_sync */
        g = b + g > nbatches ? nbatches - b : g;
        for (uint32_t k = 0; k < g; k++) {
            if (submit_batch(env, c, round, b + k) != 0) {
                _exit(CHILD_E_BATCH);
            }
        }
        if ((rc = stor_sync(env)) != 0) {
            fprintf(stderr, "child: stor_sync: %s\n", stor_strerror(rc));
            _exit(CHILD_E_SYNC);
        }
        if (mode == MODE_KILL_AFTER_SYNC && b + g == nbatches) {
            raise(SIGKILL); /* committed, not logged: the parent knows it must all be there */
        }
        if (log_append(fd, c, round, b, g) != 0) {
            _exit(CHILD_E_LOG);
        }
        b += g;
        if (child_seal(env, mode, b, g, nbatches) != 0) {
            _exit(CHILD_E_SEAL);
        }
    }
    for (;;) {
        pause(); /* every batch submitted: wait for the kill */
    }
}

/* ---- the parent ---- */

static void
run_round(struct crash *c, enum mode mode, uint32_t nbatches, unsigned delay_ms)
{
    assert_true(c->rounds < MAX_ROUNDS);
    uint32_t round = c->rounds++;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_run(c, round, mode, nbatches);
    }
    int st = 0;
    if (mode == MODE_KILL_AFTER_SYNC || mode == MODE_KILL_AFTER_SEAL) {
        /* The child kills itself; give it 20 s before calling it hung. */
        pid_t got = 0;
        for (int i = 0; i < 2000 && (got = waitpid(pid, &st, WNOHANG)) == 0; i++) {
            sleep_ms(10);
        }
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("round %u: the child did not reach its own kill in 20 s", round);
        }
    } else {
        sleep_ms(delay_ms);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &st, 0), pid);
    }
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        fail_msg("round %u: the child ended on its own (exit %d, signal %d)", round,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
}

/* Read the committed log into c->committed, checking each entry against the generator. */
static void
read_log(struct crash *c)
{
    int fd = open(c->log, O_RDONLY);
    uint8_t e[LOG_ENTRY];
    ssize_t got;
    uint64_t entries = 0;

    if (fd < 0) {
        assert_int_equal(errno, ENOENT); /* no child got as far as a commit yet */
        return;
    }
    while ((got = read(fd, e, LOG_ENTRY)) == LOG_ENTRY) {
        uint32_t round, batch, recs;
        uint64_t packets;
        memcpy(&round, e, 4);
        memcpy(&batch, e + 4, 4);
        memcpy(&recs, e + 8, 4);
        memcpy(&packets, e + 12, 8);
        if (round >= c->rounds || batch >= MAX_BATCH || recs != batch_recs(round, batch) ||
            packets != batch_packets(c->t0_s, round, batch)) {
            fail_msg("committed log entry %llu is damaged", (unsigned long long) entries);
        }
        c->committed[(size_t) round * MAX_BATCH + batch] = 1;
        entries++;
    }
    close(fd);
    assert_true(got >= 0);
    c->logged = entries;
}

/* One stored row: it must be a record we generated, unchanged, stored once. */
static void
check_row(struct crash *c, const struct flow_rec *r, uint64_t *win_rows)
{
    const uint8_t *a = r->srcaddr;
    if (r->log_status != FLOW_LS_OK || !flow_addr_is_v4(a) || a[12] != 10 || r->srcport < 1024) {
        fail_msg("a row that no child wrote (log_status %u, srcport %u)", r->log_status,
                 r->srcport);
    }
    uint32_t round = a[13], batch = (uint32_t) a[14] << 8 | a[15], j = r->srcport - 1024u;
    if (round >= c->rounds || batch >= MAX_BATCH || j >= batch_recs(round, batch)) {
        fail_msg("row for round %u batch %u record %u was never submitted", round, batch, j);
    }
    struct flow_rec want;
    rec_make(&want, c->t0_s, round, batch, j);
    uint32_t end_s = (uint32_t) (want.end_ms / 1000u);
    if (memcmp(r->dstaddr, want.dstaddr, 16) != 0 || r->dstport != want.dstport ||
        r->protocol != want.protocol || r->packets != want.packets || r->bytes != want.bytes ||
        r->start_ms != want.start_ms || r->end_ms != want.end_ms || r->flowlog != 0 ||
        r->window != end_s - end_s % WIN_S || memcmp(r->exporter, want.exporter, 16) != 0) {
        fail_msg("round %u batch %u record %u: stored fields differ from those submitted "
                 "(packets %llu want %llu, end %llu want %llu)",
                 round, batch, j, (unsigned long long) r->packets,
                 (unsigned long long) want.packets, (unsigned long long) r->end_ms,
                 (unsigned long long) want.end_ms);
    }
    if (++c->cnt[rec_index(round, batch, j)] > 1) {
        fail_msg("round %u batch %u record %u is stored %u times", round, batch, j,
                 c->cnt[rec_index(round, batch, j)]);
    }
    win_rows[(r->window - c->t0_s) / WIN_S]++;
    c->rows++;
}

static void
scan_all(struct crash *c, struct stor_snap *snap, uint64_t *win_rows)
{
    const struct stor_scan all = {0, UINT64_MAX, -1, 0, NULL};
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    int rc;

    memset(c->cnt, 0, (size_t) MAX_ROUNDS * MAX_BATCH * MAX_RECS);
    c->rows = 0;
    assert_int_equal(stor_iter_open(snap, &all, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            check_row(c, &recs[i], win_rows);
        }
    }
    if (rc != 0) {
        fail_msg("scan failed: %s (%d)", stor_strerror(rc), rc);
    }
    stor_iter_close(it);
}

struct wincheck {
    const struct crash *c;
    const uint64_t *rows;
    bool all_sealed;
    uint64_t n, sealed;
    uint8_t seen[MAX_WINS];
};

static int
check_window(void *arg, const struct stor_window_info *w)
{
    struct wincheck *wc = arg;
    uint32_t i = (w->start_s - wc->c->t0_s) / WIN_S;
    if (w->start_s < wc->c->t0_s || w->start_s % WIN_S != 0 || i >= MAX_WINS || w->flowlog != 0 ||
        w->window_s != WIN_S || wc->seen[i]++ != 0) {
        fail_msg("window %u (flow log %u, %u s) should not exist", w->start_s, w->flowlog,
                 w->window_s);
    }
    if (w->records != wc->rows[i]) {
        fail_msg("window %u (%s) says %llu rows, the scan found %llu", w->start_s,
                 w->sealed ? "sealed" : "open", (unsigned long long) w->records,
                 (unsigned long long) wc->rows[i]);
    }
    if (wc->all_sealed && !w->sealed) {
        fail_msg("window %u is still open after a forced seal", w->start_s);
    }
    wc->n++;
    wc->sealed += w->sealed;
    return 0;
}

/* Every committed record present once; everything seen before still there. */
static void
check_durable(struct crash *c)
{
    for (uint32_t r = 0; r < c->rounds; r++) {
        for (uint32_t b = 0; b < MAX_BATCH; b++) {
            bool must = c->committed[(size_t) r * MAX_BATCH + b] != 0;
            for (uint32_t j = 0; j < batch_recs(r, b); j++) {
                size_t k = rec_index(r, b, j);
                if ((must || c->seen[k]) && c->cnt[k] != 1) {
                    fail_msg("round %u batch %u record %u (%s) is lost after %llu checks", r, b, j,
                             must ? "committed" : "seen before", (unsigned long long) c->checks);
                }
                c->seen[k] |= c->cnt[k];
            }
        }
    }
}

/* Open the store the kill left, check it through the public API, and (optionally) seal it. */
static void
check_store(struct crash *c, bool force_seal)
{
    struct stor_env *env;
    struct stor_snap *snap;
    char msg[256] = "";
    uint64_t win_rows[MAX_WINS] = {0};

    read_log(c);
    int rc = stor_open(&env, &c->cfg, msg, sizeof(msg));
    if (rc != 0) {
        fail_msg("reopen after round %u: %s (%s)", c->rounds - 1, stor_strerror(rc), msg);
    }
    if (force_seal) {
        assert_int_equal(stor_seal_due(env, 0, true), 0);
    }
    assert_int_equal(stor_snap_begin(env, &snap), 0);
    scan_all(c, snap, win_rows);
    struct wincheck wc = {.c = c, .rows = win_rows, .all_sealed = force_seal};
    assert_int_equal(stor_windows_each(snap, 0, UINT64_MAX, check_window, &wc), 0);
    for (size_t i = 0; i < MAX_WINS; i++) {
        if (win_rows[i] > 0 && !wc.seen[i]) {
            fail_msg("rows in window %zu, which the catalog does not list", i);
        }
    }
    stor_snap_end(snap);
    stor_close(env);
    check_durable(c);
    c->checks++;
    c->wins = wc.n;
    c->sealed_wins = wc.sealed;
}

static int
setup(void **state)
{
    struct crash *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    snprintf(c->dir, sizeof(c->dir), "/tmp/flowlog-crash-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->store, sizeof(c->store), "%s/store", c->dir);
    snprintf(c->log, sizeof(c->log), "%s/committed.log", c->dir);
    stor_cfg_default(&c->cfg);
    c->cfg.dir = c->store;
    c->cfg.commit_ms = 20;
    c->cfg.block_records = 64;
    c->cfg.batch_records = MAX_RECS;
    c->cfg.queue_batches = 8;
    uint64_t now_s = wall_ms() / 1000u + 2 * 86400u;
    c->t0_s = (uint32_t) (now_s - now_s % 3600u);
    const char *seed = getenv("FLOWLOG_CRASH_SEED");
    c->rng = seed != NULL ? strtoull(seed, NULL, 10) : wall_ms();
    print_message("crash test: FLOWLOG_CRASH_SEED=%llu\n", (unsigned long long) c->rng);
    c->seen = calloc((size_t) MAX_ROUNDS * MAX_BATCH * MAX_RECS, 1);
    c->cnt = calloc((size_t) MAX_ROUNDS * MAX_BATCH * MAX_RECS, 1);
    c->committed = calloc((size_t) MAX_ROUNDS * MAX_BATCH, 1);
    assert_true(c->seen != NULL && c->cnt != NULL && c->committed != NULL);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct crash *c = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
    assert_int_equal(system(cmd), 0);
    free(c->seen);
    free(c->cnt);
    free(c->committed);
    free(c);
    return 0;
}

/* Kill the writer at random moments; check the store after every kill. */
static void
test_kill_mid_ingest(void **state)
{
    struct crash *c = *state;
    uint64_t t = wall_ms();
    for (int i = 0; i < KILL_ROUNDS; i++) {
        /* Now and then a very early kill, inside stor_open or its first commit. */
        unsigned delay = i % 10 == 3 ? 2 + rnd(&c->rng) % 18 : 20 + rnd(&c->rng) % 281;
        run_round(c, (enum mode)(i % 3), MAX_BATCH, delay);
        check_store(c, false);
    }
    print_message("crash test: %d kills in %llu ms; %llu batches logged committed, %llu rows, "
                  "%llu windows (%llu sealed)\n",
                  KILL_ROUNDS, (unsigned long long) (wall_ms() - t), (unsigned long long) c->logged,
                  (unsigned long long) c->rows, (unsigned long long) c->wins,
                  (unsigned long long) c->sealed_wins);
}

/* Mark a deterministic round's batches as committed, whatever the log says. */
static void
expect_round(struct crash *c, uint32_t round, uint32_t nbatches)
{
    for (uint32_t b = 0; b < nbatches; b++) {
        c->committed[(size_t) round * MAX_BATCH + b] = 1;
    }
}

/* The boundary: a kill right after stor_sync() returned loses nothing of what it covered. */
static void
test_kill_right_after_sync(void **state)
{
    struct crash *c = *state;
    uint32_t round = c->rounds;
    run_round(c, MODE_KILL_AFTER_SYNC, 60, 0);
    expect_round(c, round, 60);
    check_store(c, false);
}

/* A kill right after a forced seal returned: every window stays sealed, every row stays. */
static void
test_kill_right_after_seal(void **state)
{
    struct crash *c = *state;
    uint32_t round = c->rounds;
    run_round(c, MODE_KILL_AFTER_SEAL, 45, 0);
    expect_round(c, round, 45);
    check_store(c, false);
    assert_int_equal(c->sealed_wins, c->wins);
}

/* Whatever the kills left open can still be sealed, and sealing loses nothing. */
static void
test_left_open_windows_seal(void **state)
{
    struct crash *c = *state;
    run_round(c, MODE_CLOCK, MAX_BATCH, 150); /* leave some open windows behind */
    check_store(c, true);
    check_store(c, false); /* and the seal itself was durable */
    assert_int_equal(c->sealed_wins, c->wins);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_mid_ingest),
        cmocka_unit_test(test_kill_right_after_sync),
        cmocka_unit_test(test_kill_right_after_seal),
        cmocka_unit_test(test_left_open_windows_seal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
