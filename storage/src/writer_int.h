/* SPDX-License-Identifier: MIT */
/*
 * The writer's private state, cut by the thread that may touch it (docs/threads.md).
 *
 *   struct w_shared   under stor_writer.mu: the batch pool and FIFO, sync and seal requests,
 *                     the hand-over flags between the threads, the sealer's job lists and the
 *                     partition claims of the maintenance thread (queue.c, and the few lines
 *                     of each thread that take mu).
 *   struct w_ingest   the writer thread only: flow-log definitions, windows, exporter clocks,
 *                     instances, routing (ingest.c, the scheduling half of seal.c).
 *   struct w_commit   the commit hand-over: the writer's until it sets commit_go, then the
 *                     committer's until it sets commit_done, then the writer's again
 *                     (commit.c).
 *   struct w_maint    the maintenance thread only: retention and compaction (maint.c).
 *   struct w_pub      counters in atomics: written by their owning thread, read by
 *                     stor_stats_get on any thread without a lock.
 *
 * Private to storage/src and its unit tests. Files: write.c (the writer thread's loop, start
 * and stop), queue.c, ingest.c, wins.c, clocks.c, windex.c, commit.c, seal.c, maint.c
 * (docs/writer.md has what each holds, the decisions and the bounds).
 */
#ifndef FLOWLOG_WRITER_INT_H
#define FLOWLOG_WRITER_INT_H

#include <stdatomic.h>

#include "stor_int.h"

#define W_PENDING_MAX     (4u << 20) /* records held in memory across failed commits */
#define W_LINEAR_MAX      8u         /* a table this small is scanned, not hashed (wins.c) */
#define W_MAINT_PERIOD_MS 1000u      /* the maintenance thread's pass, when not asked */
#define W_BUSY_MAX        4096u      /* partitions the writer publishes as busy (see below) */
/* An exporter clock (the export time of its headers) is taken at most this far ahead of the
 * receive time, and one message moves it at most one window (the longest, 600 s) plus grace:
 * a spoofed or broken export time cannot seal windows early for good. */
#define W_CLOCK_SKEW_MS   60000u
/* An exporter whose headers come this far behind its clock W_CLOCK_BACK_N times in a row
 * has been reset (a reboot, a clock set back): its clock follows them. One header cannot. */
#define W_CLOCK_BACK_MS   3600000u
#define W_CLOCK_BACK_N    3u
#define W_CLOCK_MAX       65534u   /* exporter clocks at once (contributor ids are 16-bit) */
#define W_CLOCK_IDLE_MS   3600000u /* a clock unheard this long, holding no window, is forgotten */
/* Distinct open windows one exporter may have records in (of its first flow log), besides the
 * receive time's; a record for another is retimed to its receive time (FLOW_F_TIME_SKEW,
 * store-fanout-retimed), so one datagram cannot fan out into dozens of windows and
 * partitions. 8: an exporter streaming into 60 s windows with 120 s grace has up to four
 * open, and a replay a few more. */
#define W_FANOUT_MAX      8u
/* Late runs of a sealed window are merged into blocks (resealed) once no late record came for
 * W_RESEAL_IDLE_MS, or the first of them waited W_RESEAL_AGE_MS, or W_RESEAL_ROWS wait; the
 * window stays in the writer's memory until then (store-late-pending counts the rows). */
#define W_RESEAL_IDLE_MS  60000u
#define W_RESEAL_AGE_MS   600000u
#define W_RESEAL_ROWS     65536u

/* An exporter's clock: the export times of its message headers. */
struct w_clock {
    uint8_t addr[16];
    uint16_t port;
    bool used;         /* false: on the free list */
    uint32_t refs;     /* windows that list it as a contributor */
    uint32_t h;        /* its hash in w_ingest.clock_idx */
    uint64_t clock_ms; /* latest export time taken */
    uint64_t heard_ms; /* receive time (wall clock) of its last record or header */
    uint8_t behind;    /* headers in a row far behind the clock (W_CLOCK_BACK_MS) */
    uint8_t nfan;      /* open windows it has records in (W_FANOUT_MAX) */
    uint16_t fan_fl[W_FANOUT_MAX];
    uint32_t fan_start[W_FANOUT_MAX];
};

/* A hash index over an owner's array (windex.c): slots of (hash, value + 1), 0 = empty. */
struct w_slot {
    uint32_t val1;
    uint32_t h;
};
struct w_index {
    struct w_slot *slots;
    size_t mask; /* slots - 1 (a power of two), 0 before the first put */
    size_t n;
};
typedef bool stor__windex_eq(const void *ctx, uint32_t val);

/* An instance id a flow log has seen (writer memory; not kept across restarts). */
struct w_known {
    uint16_t flowlog;
    char id[FLOW_ID_MAX];
};

/* A capture window in the writer's memory: its record (rec, as stored; win.c) and what the
 * writer tracks until it is sealed. */
struct w_win {
    struct stor_win rec;
    struct stor_rows waiting; /* received since the last hand-over to the committer */
    uint64_t waiting_late;    /* late records among them */
    /* Handed to the committer: the committer's (with rec.next_run) between commit_go and
     * commit_done, the writer's otherwise. Rows that failed to commit stay here. */
    struct stor_rows committing;
    uint64_t committing_late;
    uint32_t commit_next_run; /* the commit's next run, applied when it succeeds */
    bool sealing;             /* handed to the sealer, not finished */
    bool relearn;             /* left open by an earlier run: who sent what is in its runs */
    uint64_t late_rows;       /* late rows committed in runs, not yet resealed */
    uint64_t late_first_ms;   /* receive time of the first of them (0: none) */
    uint64_t late_last_ms;    /* and of the last */
    size_t idx;               /* its place in w_ingest.wins */
    uint32_t h;               /* its hash in w_ingest.win_idx */
    /* Contributors: the exporter clocks that sent it records or notes (a set). */
    uint16_t *contrib;
    size_t ncontrib, contrib_cap;
    struct w_index contrib_idx;
    /* Instances (NODATA, SKIPDATA), at most STOR_INST_MAX. */
    struct stor_inst *inst;
    size_t ninst, inst_cap, last_inst;
    struct w_index inst_idx;
};

/* Counters and gauges, published in atomics (relaxed: each is a number on its own). */
struct w_pub {
    _Atomic uint64_t records_in, records_stored, batches_dropped, records_unrouted;
    _Atomic uint64_t records_dropped, late, time_skew, commits, seals, nodata, skipdata;
    _Atomic uint64_t full_errors, partitions_dropped, compactions, bytes, last_commit_ms;
    _Atomic uint64_t pending_records, queue_batches, seal_backlog, open_windows;
    _Atomic uint64_t commit_last_ms, commit_max_ms, commit_failing;
    _Atomic uint64_t expired, fanout_retimed, clocks_evicted, clock_clamped, clocks_full;
    _Atomic uint64_t late_pending, reseals, clock_resets;
    _Atomic int last_error;
};

struct w_shared {
    struct stor_batch *pool;
    struct stor_batch **free_list;
    size_t nfree;
    struct stor_batch **queue; /* ring of submitted batches */
    size_t qhead, qlen, qcap;
    bool stop;
    uint64_t submitted;      /* batches submitted */
    uint64_t taken;          /* batches the writer took from the queue */
    uint64_t synced;         /* `taken` as of the last successful commit */
    uint64_t commits_begun;  /* commits handed to the committer */
    uint64_t commits_landed; /* commits whose result the writer took (in the order begun) */
    unsigned sync_waiters;
    int last_rc; /* the last commit's result: commits only (seal failures are retried) */
    /* stor_seal_due's request to the writer. */
    bool seal_req;
    bool seal_force;
    uint64_t seal_now_ms;
    uint64_t seal_done; /* requests served */
    int seal_rc;        /* the last request's result: its commit's, or its seals' */
    /* The committer. */
    bool commit_go;   /* a commit handed over */
    bool commit_done; /* the committer finished it */
    bool committer_stop;
    /* The sealer. */
    struct stor_seal_job *jobs;     /* queued for the sealer */
    struct stor_seal_job *finished; /* done by the sealer, for the writer to collect */
    size_t jobs_out;                /* handed over and not yet collected */
    bool sealer_stop;
    /* The maintenance thread. busy: partitions the writer has windows in, sorted (published
     * whenever it hands rows or windows to another thread); maintenance claims only a
     * partition outside it, and the writer hands nothing in the claimed one to anyone. */
    uint32_t busy[W_BUSY_MAX];
    size_t nbusy;
    bool busy_overflow; /* more than W_BUSY_MAX: every partition counts as busy */
    bool maint_claimed;
    uint32_t maint_part;
    /* Retention's floor: partitions starting below it were dropped, and records for them are
     * refused (store-expired) so that they never recreate one. Raised by maintenance under
     * mu; read by the writer without it. */
    _Atomic uint32_t floor_s;
    uint64_t maint_req;     /* passes asked for (stor_seal_due) */
    uint64_t maint_served;  /* passes finished */
    uint64_t maint_now_ms;  /* the asked pass's wall clock */
    bool maint_stop;
};

struct w_ingest {
    struct stor_flowlog *defs;
    size_t ndefs;
    uint32_t defs_gen;
    uint16_t *route; /* stor__route's output, sized for every definition */
    size_t route_cap;
    uint64_t seed; /* of every hash index */
    struct w_win **wins;
    size_t nwins, wins_cap;
    struct w_index win_idx;
    struct w_win *last_win;
    struct w_clock *clocks; /* [0, nclocks): used, or free and listed in clock_free */
    size_t nclocks, clocks_cap;
    uint16_t *clock_free;
    size_t nclock_free;
    struct w_index clock_idx;
    struct w_known *known; /* instance ids each flow log has seen (for NODATA) */
    size_t nknown, known_cap;
    struct w_index known_idx;
    size_t pending;           /* records in all windows' waiting and committing rows */
    uint64_t late_pending;    /* late rows in runs of sealed windows, waiting for a reseal */
    uint64_t lookups;         /* clock, window and instance lookups (tests: cost per lookup) */
    uint64_t probes;          /* entries compared by those lookups */
    uint64_t commit_at_ms;    /* monotonic: when the next commit is due */
    bool committing;          /* a commit handed over and not collected */
    struct stor_stats counts; /* the writer's counters, published to w_pub */
};

struct w_commit {
    struct w_win **wins; /* the windows with rows handed over */
    size_t n, cap;
    uint64_t taken; /* w_shared.taken when the rows were handed over */
    bool held;      /* rows in a partition claimed by maintenance were left waiting */
    /* Results, written by the committer before commit_done. */
    int rc;
    uint64_t stored;
    uint64_t late_stored; /* of them, late rows (rows of sealed windows) */
    uint64_t commits;
    uint32_t current_start; /* the newest partition committed to (synced when it changes) */
};

struct w_maint {
    uint64_t next_ms; /* monotonic: the next unasked pass */
};

struct stor_writer {
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* to the writer: work, a request or a finished commit */
    pthread_cond_t done;        /* from the writer, sealer, maint: a request finished */
    pthread_cond_t seal_wake;   /* to the sealer: a job, or stop */
    pthread_cond_t commit_wake; /* to the committer: a commit to write, or stop */
    pthread_cond_t maint_wake;  /* to the maintenance thread: a request, or stop */
    pthread_t writer, committer, sealer, maint;
    struct w_shared sh;
    struct w_ingest in;
    struct w_commit cm;
    struct w_maint mt;
    struct w_pub pub;
};

/* write.c */
int stor__cond_init_mono(pthread_cond_t *c);
void stor__cond_wait_until(pthread_cond_t *c, pthread_mutex_t *mu, uint64_t mono_ms);

/* queue.c: the FIFO and requests (caller holds nothing; takes mu). */
struct stor_batch *stor__queue_take(struct stor_writer *w);
void stor__queue_done(struct stor_writer *w, struct stor_batch *b);
int stor__queue_init(struct stor_writer *w, const struct stor_cfg *cfg);
void stor__queue_free(struct stor_writer *w);

/* ingest.c: the writer thread. */
void stor__ingest(struct stor_env *env, struct stor_writer *w, struct stor_batch *b);
void stor__ingest_load_open(struct stor_env *env, struct stor_writer *w);
const struct stor_flowlog *stor__ingest_def(const struct stor_writer *w, uint16_t id);
bool stor__ingest_expired(const struct stor_env *env, const struct stor_writer *w,
                          uint32_t win_start_s, uint64_t recv_ms);
void stor__ingest_free(struct stor_writer *w);
void stor__ingest_publish(struct stor_writer *w);
void stor__busy_publish(struct stor_env *env, struct stor_writer *w); /* caller holds mu */

/* commit.c: the committer thread and the writer's side of the hand-over. */
void *stor__committer_main(void *arg);
bool stor__commit_handover(struct stor_env *env, struct stor_writer *w);
int stor__commit_collect(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool tick);
int stor__commit_sync(struct stor_env *env, struct stor_writer *w);

/* seal.c: scheduling (writer thread) and the sealer thread. */
void *stor__sealer_main(void *arg);
void stor__seal_schedule(struct stor_env *env, struct stor_writer *w, uint64_t now_ms, bool force);
int stor__seal_collect(struct stor_writer *w);
int stor__seal_drain(struct stor_writer *w);
void stor__seal_jobs_free(struct stor_writer *w);

/* windex.c */
uint64_t stor__windex_seed(void);
uint32_t stor__windex_hash(uint64_t seed, const void *key, size_t len);
long stor__windex_find(const struct w_index *x, uint32_t h, stor__windex_eq *eq, const void *ctx,
                       uint64_t *probes);
int stor__windex_put(struct w_index *x, uint32_t h, uint32_t val);
void stor__windex_move(struct w_index *x, uint32_t h, uint32_t from, uint32_t to);
void stor__windex_del(struct w_index *x, uint32_t h, uint32_t val);
void stor__windex_free(struct w_index *x);

/* wins.c: windows, instances, contributors, known instance ids (writer thread). */
struct w_win *stor__win_get(struct stor_env *env, struct w_ingest *in, uint16_t flowlog,
                            uint32_t start, const struct stor_flowlog *def);
struct w_win *stor__win_find(struct w_ingest *in, uint16_t flowlog, uint32_t start);
void stor__win_drop(struct w_ingest *in, size_t i);
void stor__win_contrib_add(struct w_ingest *in, struct w_win *win, uint16_t clock);
struct stor_inst *stor__win_inst(struct w_ingest *in, struct w_win *win, const char *id,
                                 const uint8_t exporter[16], uint32_t domain);
void stor__known_add(struct w_ingest *in, uint16_t flowlog, const char *id);
void stor__wins_free(struct w_ingest *in);

/* clocks.c: exporter clocks (writer thread). */
uint16_t stor__clock_get(struct w_ingest *in, const uint8_t addr[16], uint16_t port);
void stor__clock_advance(const struct stor_cfg *cfg, struct w_ingest *in, struct w_clock *c,
                         uint64_t export_ms, uint64_t recv_ms);
bool stor__clock_fanout_ok(struct w_ingest *in, struct w_clock *c, uint16_t flowlog,
                           uint32_t start_s);
void stor__clocks_sweep(struct w_ingest *in, uint64_t now_ms);
void stor__clocks_free(struct w_ingest *in);

/* maint.c: the maintenance thread. */
void *stor__maint_main(void *arg);
int stor__maint_pass_wait(struct stor_writer *w, uint64_t now_ms);

#endif
