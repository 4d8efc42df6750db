/* SPDX-License-Identifier: MIT */
/*
 * bench/storage: the storage write path end to end (docs/bench.md, "bench/storage"):
 *   - appends per second on one core: records / (first stor_batch_submit .. stor_sync()),
 *   - seal time per million records: stor_seal_due(env, 0, true) on the windows still open
 *     after ingest, divided by the records those windows received,
 *   - bytes per record: the partition files (p-*.mdb) after sealing, on disk (st_blocks * 512)
 *     and apparent (st_size), divided by the records received.
 * Each run opens a fresh store (stor_cfg defaults) and the median of the runs is printed.
 *
 * The flow set is generated up front, deterministically, so the timed section only copies
 * records into batches and submits them: 50k hosts in 10.0.0.0/16, 20k external peers,
 * Zipf-ish destination ports, mostly TCP/UDP, 1% IPv6, heavy-tailed packets and bytes, end
 * times spread over 20 minutes (three 600 s windows), four exporters with instance ids. Each
 * exporter's records carry a message note (stor_msg) every 25 records, whose export time is
 * the record's end + 1 s, so the exporter clocks advance with the data: a window seals during
 * ingest once every exporter's clock is past its end + grace, the last two stay open until the
 * forced seal.
 *
 * With -u PORT the same records are sent instead as IPFIX (enc.h) over UDP to 127.0.0.1:PORT,
 * paced at -p messages per second, one socket and observation domain per exporter, so that
 * nfcapd can store them for comparison (bench/storage.sh). Nothing is sent anywhere else.
 *
 *   bench_storage [-n RECORDS] [-r RUNS] [-o DIR] [-m agg|raw] [-c live|hold]
 *   bench_storage -u PORT [-p MSGS_PER_S] [-n RECORDS]
 *     -o DIR  keep each run's store in DIR/run-<i> (DIR must exist; run-<i> must not)
 *     -m raw  store into a raw flow log (no aggregation) instead of the built-in default
 *     -c hold export clocks stay at the first window's start, so nothing seals during ingest:
 *             appends/s is then ingest + commits only and the forced seal covers every record
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "enc.h"
#include "stor.h"

#include "benchutil.h"

#define NEXP       4
#define NHOSTS     50000
#define NEXT       20000
#define NOTE_EVERY 25
#define SPAN_MS    1200000ull
#define T0_MS      1763800200000ull /* a multiple of 600 s */

static const uint16_t ports[] = {443, 80, 53, 123, 22, 8080, 3389, 25, 993, 5432, 3306, 6443};
static const char *const inst[NEXP] = {"sag-bj-01", "sag-bj-02", "sag-sh-01", "sag-gz-07"};

struct flowset {
    struct flow_rec *recs;
    size_t n;
    struct stor_msg *notes; /* notes[i] goes with the batch holding record note_at[i] */
    size_t *note_at;
    size_t nnotes;
};

static void
host_addr(uint8_t a[16], size_t h)
{
    uint8_t v4[4] = {10, 0, (uint8_t) (h >> 8), (uint8_t) h};
    flow_addr_set_v4(a, v4);
}

static void
ext_addr(uint8_t a[16], size_t e)
{
    /* A fixed scatter of 20k addresses outside 10/8. */
    uint32_t x = (uint32_t) (e * 2654435761u);
    uint8_t v4[4] = {(uint8_t) (11 + x % 200), (uint8_t) (x >> 8), (uint8_t) (x >> 16),
                     (uint8_t) (1 + (x >> 24) % 254)};
    flow_addr_set_v4(a, v4);
}

static void
synth_ends(struct flow_rec *r, size_t i, size_t n)
{
    uint64_t end =
        T0_MS + 30000u + (uint64_t) ((double) i / (double) n * (double) SPAN_MS) + rnd() % 1000u;
    double d = unif();
    r->end_ms = end;
    r->start_ms = end - (uint64_t) (d * d * d * 120000.0);
}

static void
synth_ports(struct flow_rec *r, bool inbound)
{
    uint64_t u = rnd() % 100;
    r->protocol = u < 78 ? 6 : u < 98 ? 17 : 1;
    uint16_t svc = rnd() % 10 == 0 ? (uint16_t) (1024 + rnd() % 60000)
                                   : ports[zipfish(sizeof(ports) / sizeof(ports[0]))];
    uint16_t eph = (uint16_t) (32768 + rnd() % 28000);
    r->srcport = inbound ? svc : eph;
    r->dstport = inbound ? eph : svc;
    if (r->protocol == 1) {
        r->srcport = 0;
        r->dstport = rnd() % 2 ? 0x0800 : 0x0000;
    }
    r->tcp_flags = r->protocol == 6 ? (rnd() % 3 ? 0x1b : 0x02) : 0;
}

static void
synth(struct flow_rec *r, size_t i, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->present = 0x7FFu | FLOW_HAS_DIRECTION | FLOW_HAS_INSTANCE;
    r->version = 10;
    uint64_t kind = rnd() % 10; /* 0-6 out, 7-8 in, 9 internal */
    size_t h = zipfish(NHOSTS);
    uint8_t peer[16];
    if (kind == 9) {
        host_addr(peer, zipfish(NHOSTS));
    } else {
        ext_addr(peer, zipfish(NEXT));
    }
    bool inbound = kind == 7 || kind == 8;
    host_addr(inbound ? r->dstaddr : r->srcaddr, h);
    memcpy(inbound ? r->srcaddr : r->dstaddr, peer, 16);
    if (rnd() % 100 == 0) {
        static const uint8_t p6[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x14};
        memcpy(r->srcaddr, p6, 8);
        memcpy(r->dstaddr, p6, 8);
        r->srcaddr[15] = (uint8_t) h;
        r->dstaddr[14] = (uint8_t) rnd();
    }
    synth_ends(r, i, n);
    synth_ports(r, inbound);
    r->packets = 1 + (uint64_t) exp(unif() * unif() * 12.0);
    r->bytes = r->packets * (40 + rnd() % 1460);
    r->tos = rnd() % 20 == 0 ? 0x2e << 2 : 0;
    size_t x = rnd() % NEXP;
    uint8_t ex[4] = {192, 0, 2, (uint8_t) (1 + x)};
    flow_addr_set_v4(r->exporter, ex);
    r->exporter_port = (uint16_t) (50001 + x);
    r->domain = (uint32_t) (1 + x);
    r->inport = 1 + (uint32_t) (rnd() % 4);
    r->outport = 5 + (uint32_t) (rnd() % 2);
    r->direction = inbound ? FLOW_DIR_IN : FLOW_DIR_OUT;
    r->action = rnd() % 20 == 0 ? FLOW_ACT_REJECT : FLOW_ACT_ACCEPT;
    strcpy(r->instance_id, inst[x]);
}

static int
flowset_make(struct flowset *fs, size_t n, bool hold)
{
    size_t since[NEXP] = {0};

    fs->n = n;
    fs->recs = malloc(n * sizeof(*fs->recs));
    fs->notes = malloc((n / NOTE_EVERY + NEXP) * sizeof(*fs->notes));
    fs->note_at = malloc((n / NOTE_EVERY + NEXP) * sizeof(*fs->note_at));
    fs->nnotes = 0;
    if (fs->recs == NULL || fs->notes == NULL || fs->note_at == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        synth(&fs->recs[i], i, n);
    }
    for (size_t i = 0; i < n; i++) {
        const struct flow_rec *r = &fs->recs[i];
        size_t x = r->domain - 1;
        if (++since[x] < NOTE_EVERY && i + NEXP < n) {
            continue;
        }
        since[x] = 0;
        struct stor_msg *m = &fs->notes[fs->nnotes];
        memset(m, 0, sizeof(*m));
        memcpy(m->exporter, r->exporter, 16);
        m->exporter_port = r->exporter_port;
        m->domain = r->domain;
        m->export_ms = hold ? T0_MS : r->end_ms + 1000u;
        strcpy(m->instance_id, inst[x]);
        fs->note_at[fs->nnotes++] = i;
    }
    return 0;
}

static void
nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* ---- storage runs ---- */

struct result {
    double appends_s;
    double seal_s;
    uint64_t seal_records; /* received by the windows the forced seal sealed */
    uint64_t disk_bytes;   /* partition files, st_blocks * 512 */
    uint64_t apparent_bytes;
    uint64_t catalog_bytes;
    uint64_t value_bytes; /* stored values, as the windows count them */
    uint64_t rows;
    uint32_t windows, windows_sealed_early, blocks;
    uint64_t get_waits;
    struct stor_stats st;
};

struct win_sum {
    uint64_t open_records, records, bytes;
    uint32_t windows, sealed, blocks;
};

static int
win_add(void *arg, const struct stor_window_info *w)
{
    struct win_sum *s = arg;
    s->windows++;
    s->sealed += w->sealed;
    s->open_records += w->sealed ? 0 : w->records;
    s->records += w->records;
    s->bytes += w->bytes;
    s->blocks += w->blocks;
    return 0;
}

static int
windows_sum(struct stor_env *env, struct win_sum *s)
{
    struct stor_snap *snap;
    int rc = stor_snap_begin(env, &snap);
    memset(s, 0, sizeof(*s));
    if (rc != 0) {
        return rc;
    }
    rc = stor_windows_each(snap, 0, UINT64_MAX, win_add, s);
    stor_snap_end(snap);
    return rc;
}

/* Sizes of the store's files: partitions and catalog; removes them when rm. */
static void
dir_sizes(const char *dir, struct result *res, bool rm)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096 + 512];
    struct stat st;

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0) {
            size_t l = strlen(de->d_name);
            bool lock = l > 5 && strcmp(de->d_name + l - 5, "-lock") == 0;
            if (strncmp(de->d_name, "p-", 2) == 0 && !lock) {
                res->disk_bytes += (uint64_t) st.st_blocks * 512u;
                res->apparent_bytes += (uint64_t) st.st_size;
            } else if (strncmp(de->d_name, "catalog", 7) == 0 && !lock) {
                res->catalog_bytes += (uint64_t) st.st_blocks * 512u;
            }
        }
        if (rm) {
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    if (rm) {
        rmdir(dir);
    }
}

/* Submit every record, waiting (not dropping) when the pool is empty; then sync. */
static int
feed(struct stor_env *env, const struct flowset *fs, struct result *res)
{
    size_t i = 0, m = 0;
    double t0 = now_s();

    while (i < fs->n) {
        struct stor_batch *b = stor_batch_get(env);
        if (b == NULL) {
            res->get_waits++;
            nap_us(100);
            continue;
        }
        size_t k = fs->n - i < b->cap ? fs->n - i : b->cap;
        memcpy(b->recs, fs->recs + i, k * sizeof(*b->recs));
        b->n = k;
        while (m < fs->nnotes && fs->note_at[m] < i + k && b->nmsgs < b->msgs_cap) {
            b->msgs[b->nmsgs++] = fs->notes[m++];
        }
        stor_batch_submit(env, b);
        i += k;
    }
    int rc = stor_sync(env);
    res->appends_s = (double) fs->n / (now_s() - t0);
    return rc;
}

static int
open_store(struct stor_env **env, const char *dir, bool raw)
{
    struct stor_cfg cfg;
    char msg[256] = "";

    stor_cfg_default(&cfg);
    cfg.dir = dir;
    cfg.commit_ms = 1000;
    int rc = stor_open(env, &cfg, msg, sizeof(msg));
    if (rc == 0 && raw) {
        struct stor_flowlog fl;
        stor_flowlog_default(&fl, "raw");
        fl.aggregate = false;
        rc = stor_flowlog_create(*env, &fl, msg, sizeof(msg));
        if (rc != 0) {
            stor_close(*env);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "storage bench: %s: %s %s\n", dir, stor_strerror(rc), msg);
    }
    return rc;
}

static int
run_once(const struct flowset *fs, const char *dir, bool raw, bool keep, struct result *res)
{
    struct stor_env *env;
    struct win_sum ws;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = open_store(&env, dir, raw)) != 0) {
        return rc;
    }
    if ((rc = feed(env, fs, res)) != 0 || (rc = windows_sum(env, &ws)) != 0) {
        goto close;
    }
    res->seal_records = ws.open_records;
    res->windows_sealed_early = ws.sealed;
    double t = now_s();
    if ((rc = stor_seal_due(env, 0, true)) != 0) {
        goto close;
    }
    res->seal_s = now_s() - t;
    /* The sizes are those of a settled partition: one more pass on the wall clock, which
     * compacts it (the seal above ran at time 0, when nothing has settled; without this the
     * size depended on whether a periodic pass happened to run before stor_close). */
    if ((rc = stor_seal_due(env, clock_ns(CLOCK_REALTIME) / 1000000u, false)) != 0) {
        goto close;
    }
    if ((rc = windows_sum(env, &ws)) != 0) {
        goto close;
    }
    res->windows = ws.windows;
    res->value_bytes = ws.bytes;
    res->rows = ws.records;
    res->blocks = ws.blocks;
    stor_stats_get(env, &res->st);
close:
    stor_close(env);
    if (rc != 0) {
        fprintf(stderr, "storage bench: %s\n", stor_strerror(rc));
    }
    dir_sizes(dir, res, !keep);
    return rc;
}

static void
print_run(int i, const struct result *r, size_t n)
{
    const struct stor_stats *s = &r->st;
    printf("run %d: %.0f appends/s, forced seal %.3f s for %" PRIu64 " records (%.3f s/M), "
           "%u windows (%u sealed during ingest), %u blocks\n",
           i, r->appends_s, r->seal_s, r->seal_records,
           r->seal_records ? r->seal_s / ((double) r->seal_records / 1e6) : 0.0, r->windows,
           r->windows_sealed_early, r->blocks);
    printf("  partitions %" PRIu64 " B on disk (%.2f B/rec), %" PRIu64 " B apparent "
           "(%.2f B/rec), values %" PRIu64 " B (%.2f B/rec), catalog %" PRIu64 " B\n",
           r->disk_bytes, (double) r->disk_bytes / (double) n, r->apparent_bytes,
           (double) r->apparent_bytes / (double) n, r->value_bytes,
           (double) r->value_bytes / (double) n, r->catalog_bytes);
    printf("  stats: records_in %" PRIu64 " stored %" PRIu64 " (sealed rows %" PRIu64
           ") batches_dropped %" PRIu64 " (waits %" PRIu64 ") unrouted %" PRIu64 " dropped %" PRIu64
           " late %" PRIu64 " commits %" PRIu64 " seals %" PRIu64 " nodata %" PRIu64
           " skipdata %" PRIu64 " full_errors %" PRIu64 " bytes %" PRIu64 "\n",
           s->records_in, s->records_stored, r->rows, s->batches_dropped, r->get_waits,
           s->records_unrouted, s->records_dropped, s->late, s->commits, s->seals, s->nodata,
           s->skipdata, s->full_errors, s->bytes);
}

static int
bench_store(const struct flowset *fs, int runs, const char *keep, bool raw, bool hold)
{
    double ap[99], seal[99], disk[99], app[99];
    int bad = 0;

    for (int i = 0; i < runs; i++) {
        char dir[4096];
        struct result r;
        if (keep != NULL) {
            snprintf(dir, sizeof(dir), "%s/run-%d", keep, i);
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(dir, sizeof(dir), "%s/bench-storage-XXXXXX", tmp ? tmp : "/tmp");
            if (mkdtemp(dir) == NULL) {
                perror("mkdtemp");
                return 1;
            }
        }
        if (run_once(fs, dir, raw, keep != NULL, &r) != 0) {
            return 1;
        }
        print_run(i, &r, fs->n);
        bad |= r.st.records_in != fs->n || r.st.records_dropped != 0;
        ap[i] = r.appends_s;
        seal[i] = r.seal_records ? r.seal_s / ((double) r.seal_records / 1e6) : 0.0;
        disk[i] = (double) r.disk_bytes / (double) fs->n;
        app[i] = (double) r.apparent_bytes / (double) fs->n;
    }
    qsort(ap, (size_t) runs, sizeof(double), cmp_d);
    qsort(seal, (size_t) runs, sizeof(double), cmp_d);
    qsort(disk, (size_t) runs, sizeof(double), cmp_d);
    qsort(app, (size_t) runs, sizeof(double), cmp_d);
    printf("RESULT records=%zu mode=%s clocks=%s appends_per_s=%.0f seal_s_per_M=%.3f "
           "bytes_per_rec_disk=%.2f bytes_per_rec_apparent=%.2f complete=%s\n",
           fs->n, raw ? "raw" : "agg", hold ? "hold" : "live", ap[runs / 2], seal[runs / 2],
           disk[runs / 2], app[runs / 2], bad ? "NO" : "yes");
    return bad;
}

/* ---- IPFIX over UDP to 127.0.0.1 ---- */

struct sender {
    int fd;
    uint64_t sent, errors;
};

static int
emit_udp(void *arg, const uint8_t *msg, size_t len)
{
    struct sender *s = arg;
    if (send(s->fd, msg, len, 0) != (ssize_t) len) {
        s->errors++;
        return -errno;
    }
    s->sent++;
    return 0;
}

static int
udp_open(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* only ever 127.0.0.1 */
    if (fd < 0 || connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) != 0) {
        perror("udp socket");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static int
bench_send(const struct flowset *fs, uint16_t port, double rate)
{
    struct enc_ctx *enc[NEXP] = {0};
    struct sender snd[NEXP];
    int rc = 0;

    for (int x = 0; x < NEXP; x++) {
        snd[x] = (struct sender){.fd = -1};
    }
    for (int x = 0; x < NEXP; x++) {
        struct enc_cfg cfg = {.version = 10, .domain = (uint32_t) (1 + x)};
        snd[x] = (struct sender){.fd = udp_open(port)};
        if (snd[x].fd < 0 || enc_create(&enc[x], &cfg) != 0) {
            rc = 1;
            goto out;
        }
    }
    double t0 = now_s();
    uint64_t total = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct flow_rec *r = &fs->recs[i];
        size_t x = r->domain - 1;
        uint64_t before = snd[x].sent + snd[x].errors;
        enc_add(enc[x], r, r->end_ms + 1000u, emit_udp, &snd[x]);
        total += snd[x].sent + snd[x].errors - before;
        double ahead = (double) total / rate - (now_s() - t0);
        if (ahead > 0.0005) {
            nap_us((long) (ahead * 1e6));
        }
    }
    uint64_t sent = 0, errors = 0, octets = 0;
    for (int x = 0; x < NEXP; x++) {
        enc_flush(enc[x], fs->recs[fs->n - 1].end_ms + 1000u, emit_udp, &snd[x]);
        sent += snd[x].sent;
        errors += snd[x].errors;
        octets += enc_ctx_stats(enc[x])->octets;
    }
    printf("SENT records=%zu messages=%" PRIu64 " octets=%" PRIu64 " send_errors=%" PRIu64
           " seconds=%.2f\n",
           fs->n, sent, octets, errors, now_s() - t0);
    rc = errors != 0;
out:
    for (int x = 0; x < NEXP; x++) {
        enc_destroy(enc[x]);
        if (snd[x].fd >= 0) {
            close(snd[x].fd);
        }
    }
    return rc;
}

int
main(int argc, char **argv)
{
    size_t n = 2000000;
    int runs = 3, port = 0;
    double rate = 20000;
    const char *keep = NULL;
    bool raw = false, hold = false;
    struct flowset fs;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0) {
            n = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "-r") == 0) {
            runs = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "-o") == 0) {
            keep = argv[i + 1];
        } else if (strcmp(argv[i], "-m") == 0) {
            raw = strcmp(argv[i + 1], "raw") == 0;
        } else if (strcmp(argv[i], "-c") == 0) {
            hold = strcmp(argv[i + 1], "hold") == 0;
        } else if (strcmp(argv[i], "-u") == 0) {
            port = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "-p") == 0) {
            rate = atof(argv[i + 1]);
        } else {
            fprintf(stderr,
                    "usage: bench_storage [-n N] [-r RUNS] [-o DIR] [-m agg|raw] [-c live|hold] "
                    "| -u PORT [-p MSGS_PER_S] [-n N]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 99) {
        runs = 3;
    }
    if (n < 100 || rate <= 0 || port < 0 || port > 65535) {
        fprintf(stderr, "storage bench: bad -n, -p or -u\n");
        return 2;
    }
    if (flowset_make(&fs, n, hold) != 0) {
        fprintf(stderr, "storage bench: out of memory\n");
        return 1;
    }
    int rc = port != 0 ? bench_send(&fs, (uint16_t) port, rate)
                       : bench_store(&fs, runs, keep, raw, hold);
    free(fs.recs);
    free(fs.notes);
    free(fs.note_at);
    return rc;
}
