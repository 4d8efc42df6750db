/* SPDX-License-Identifier: MIT */
/*
 * Power loss, simulated: this test defines fsync() and fdatasync() itself, so the store's
 * calls and LMDB's (through its PLT) land here first. Each completed sync of a file in the
 * store's directory copies the file's content into a shadow image of that inode; each sync of
 * the directory records which names point at which inodes. What a power loss leaves is then
 * exactly the synced state: the names of the last directory sync, each with its inode's last
 * synced content (0 bytes if it never had one). Writes that were never synced are dropped.
 * A copy of that image must open clean, with everything committed before the last completed
 * sync, and nothing else than a prefix of the commits.
 *
 * The model is strict on purpose: a new file's name is durable only after the directory is
 * synced (POSIX; ext4 happens to be kinder), and so is a rename.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor_int.h"

#define T0      1763798400u /* a partition start, long settled (sealing compacts it) */
#define MAXINOS 64
#define MAXNAME 64

struct shadow_ino {
    dev_t dev;
    ino_t ino;
    uint8_t *data; /* NULL: never synced */
    size_t len;
};

struct shadow_name {
    char name[128];
    dev_t dev;
    ino_t ino;
};

static struct {
    pthread_mutex_t mu;
    char dir[64]; /* the store being watched; "" = none */
    struct shadow_ino inos[MAXINOS];
    size_t ninos;
    struct shadow_name names[MAXNAME];
    size_t nnames;
    bool dir_synced;
    uint64_t syncs;
} sh = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct shadow_ino *
shadow_of(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < sh.ninos; i++) {
        if (sh.inos[i].dev == dev && sh.inos[i].ino == ino) {
            return &sh.inos[i];
        }
    }
    if (sh.ninos == MAXINOS) {
        return NULL;
    }
    sh.inos[sh.ninos] = (struct shadow_ino){.dev = dev, .ino = ino};
    return &sh.inos[sh.ninos++];
}

/* The file's whole content as of now becomes its durable image. */
static void
capture_file(int fd, const struct stat *st)
{
    struct shadow_ino *s = shadow_of(st->st_dev, st->st_ino);
    if (s == NULL) {
        return;
    }
    uint8_t *buf = malloc((size_t) st->st_size + 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t) st->st_size) {
        ssize_t r = pread(fd, buf + got, (size_t) st->st_size - got, (off_t) got);
        if (r <= 0) {
            break;
        }
        got += (size_t) r;
    }
    free(s->data);
    s->data = buf;
    s->len = got;
}

/* The directory's names as of now become durable. */
static void
capture_dir(void)
{
    DIR *d = opendir(sh.dir);
    struct dirent *de;
    char path[512];
    struct stat st;
    sh.nnames = 0;
    while (d != NULL && (de = readdir(d)) != NULL && sh.nnames < MAXNAME) {
        snprintf(path, sizeof(path), "%s/%s", sh.dir, de->d_name);
        if (strlen(de->d_name) < sizeof(sh.names[0].name) && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            struct shadow_name *n = &sh.names[sh.nnames++];
            memcpy(n->name, de->d_name, strlen(de->d_name) + 1);
            n->dev = st.st_dev;
            n->ino = st.st_ino;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    sh.dir_synced = true;
}

/* After a completed sync of fd: is it ours, and what does it make durable? */
static void
after_sync(int fd)
{
    char link[64], path[256];
    struct stat st;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0 || fstat(fd, &st) != 0) {
        return;
    }
    path[n] = '\0';
    pthread_mutex_lock(&sh.mu);
    size_t dl = strlen(sh.dir);
    if (dl > 0 && strncmp(path, sh.dir, dl) == 0 && (path[dl] == '/' || path[dl] == '\0')) {
        sh.syncs++;
        if (S_ISDIR(st.st_mode)) {
            capture_dir();
        } else if (S_ISREG(st.st_mode)) {
            capture_file(fd, &st);
        }
    }
    pthread_mutex_unlock(&sh.mu);
}

int
fsync(int fd)
{
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int)) dlsym(RTLD_NEXT, "fsync");
    }
    int rc = real(fd);
    if (rc == 0) {
        after_sync(fd);
    }
    return rc;
}

int
fdatasync(int fd)
{
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int)) dlsym(RTLD_NEXT, "fdatasync");
    }
    int rc = real(fd);
    if (rc == 0) {
        after_sync(fd);
    }
    return rc;
}

static void
shadow_reset(const char *dir)
{
    pthread_mutex_lock(&sh.mu);
    for (size_t i = 0; i < sh.ninos; i++) {
        free(sh.inos[i].data);
    }
    sh.ninos = 0;
    sh.nnames = 0;
    sh.dir_synced = false;
    sh.syncs = 0;
    snprintf(sh.dir, sizeof(sh.dir), "%s", dir);
    pthread_mutex_unlock(&sh.mu);
}

/* Write what a power loss now would leave into `out` (lock files are not data: skipped). */
static size_t
shadow_materialise(const char *out)
{
    char path[512];
    size_t files = 0;
    pthread_mutex_lock(&sh.mu);
    for (size_t i = 0; i < sh.nnames; i++) {
        const struct shadow_name *n = &sh.names[i];
        size_t l = strlen(n->name);
        if (l >= 5 && strcmp(n->name + l - 5, "-lock") == 0) {
            continue;
        }
        if (strcmp(n->name, "store.lock") == 0) {
            continue;
        }
        struct shadow_ino *s = shadow_of(n->dev, n->ino);
        snprintf(path, sizeof(path), "%s/%s", out, n->name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (s != NULL && s->data != NULL && s->len > 0) {
            assert_int_equal(fwrite(s->data, 1, s->len, f), s->len);
        }
        fclose(f);
        files++;
    }
    pthread_mutex_unlock(&sh.mu);
    return files;
}

struct fx {
    char dir[64];
    char img[64];
    struct stor_env *env;
    struct stor_cfg cfg;
    char msg[256];
};

static int notices;

static void
on_notice(void *arg, const char *text)
{
    (void) arg;
    fprintf(stderr, "notice: %s\n", text);
    notices++;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-pl-XXXXXX");
    snprintf(f->img, sizeof(f->img), "/tmp/flowlog-pi-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_non_null(mkdtemp(f->img));
    shadow_reset(f->dir);
    stor_cfg_default(&f->cfg);
    f->cfg.dir = f->dir;
    f->cfg.map_max_bytes = 256u << 20;
    f->cfg.block_records = 4096;
    f->cfg.commit_ms = 50;
    f->cfg.notice = on_notice;
    notices = 0;
    assert_int_equal(stor_open(&f->env, &f->cfg, f->msg, sizeof(f->msg)), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[200];
    shadow_reset("");
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->dir, f->img);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (*s >> 33);
}

/* n records ending in the first window of partition `part`, packets `pk` each. */
static void
submit(struct stor_env *env, uint32_t part, size_t n, uint64_t pk, uint64_t *seed)
{
    struct stor_batch *b = stor_batch_get(env);
    assert_non_null(b);
    assert_true(n <= b->cap);
    for (size_t i = 0; i < n; i++) {
        struct flow_rec *r = &b->recs[i];
        memset(r, 0, sizeof(*r));
        uint32_t k = rnd(seed) % 2000; /* few distinct keys: sealed blocks are small */
        uint8_t a[4] = {10, 1, (uint8_t) (k >> 8), (uint8_t) k};
        uint8_t e[4] = {192, 0, 2, 1};
        flow_addr_set_v4(r->srcaddr, a);
        flow_addr_set_v4(r->dstaddr, a);
        flow_addr_set_v4(r->exporter, e);
        r->srcport = (uint16_t) (1024 + k);
        r->dstport = 53;
        r->protocol = 17;
        r->packets = pk;
        r->bytes = pk * 100;
        r->end_ms = (uint64_t) (part + 1 + i % 500) * 1000u;
        r->start_ms = r->end_ms - 10;
        r->version = 10;
        r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                     FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    }
    b->n = n;
    /* An export time in the window: the records are on time, not late. */
    struct stor_msg *m = &b->msgs[0];
    memset(m, 0, sizeof(*m));
    uint8_t e[4] = {192, 0, 2, 1};
    flow_addr_set_v4(m->exporter, e);
    m->export_ms = (uint64_t) part * 1000u;
    b->nmsgs = 1;
    stor_batch_submit(env, b);
    assert_int_equal(stor_sync(env), 0);
}

/* Open the power-loss image and count its rows and packets. */
static void
image_totals(struct fx *f, uint64_t *rows, uint64_t *packets)
{
    struct stor_env *env = NULL;
    struct stor_cfg cfg = f->cfg;
    char msg[512] = "";
    cfg.dir = f->img;
    int rc = stor_open(&env, &cfg, msg, sizeof(msg));
    if (rc != 0) {
        fail_msg("the power-loss image does not open: %s (%s)", stor_strerror(rc), msg);
    }
    struct stor_snap *snap;
    struct stor_iter *it;
    const struct flow_rec *recs;
    size_t n;
    struct stor_scan sc = {0, UINT64_MAX, -1, 0, NULL};
    *rows = *packets = 0;
    assert_int_equal(stor_snap_begin(env, &snap), 0);
    assert_int_equal(stor_iter_open(snap, &sc, &it), 0);
    while ((rc = stor_iter_next(it, &recs, &n)) == 1) {
        for (size_t i = 0; i < n; i++) {
            *rows += 1;
            *packets += recs[i].packets;
        }
    }
    assert_int_equal(rc, 0);
    stor_iter_close(it);
    stor_snap_end(snap);
    struct stor_stats st;
    stor_stats_get(env, &st);
    assert_int_equal(st.partitions_quarantined, 0);
    assert_int_equal(st.blocks_corrupt, 0);
    stor_close(env);
}

/*
 * Commits to a new partition, then to a second one: after a power loss, everything committed
 * before the last completed sync is there (a later commit may be too: its meta page is
 * flushed by the next commit, MDB_NOMETASYNC), and the image is a prefix of the commits.
 */
static void
test_commits_survive(void **state)
{
    struct fx *f = *state;
    uint64_t seed = 1;
    submit(f->env, T0, 1000, 1, &seed);          /* A: a new partition */
    submit(f->env, T0, 1000, 10, &seed);         /* B: A's meta page is synced with B's data */
    submit(f->env, T0 + 3600, 500, 100, &seed);  /* C: another new partition */
    submit(f->env, T0 + 3600, 500, 1000, &seed); /* D */
    assert_true(shadow_materialise(f->img) >= 2);
    uint64_t rows, pk;
    image_totals(f, &rows, &pk);
    /* A and C were followed by a completed sync of their partition (B's and D's commits);
     * B and D may be there or not, each whole. */
    const uint64_t a = 1000, b = 10000, c = 50000, d = 500000;
    if (pk != a + c && pk != a + b + c && pk != a + c + d && pk != a + b + c + d) {
        fail_msg("after a power loss: %llu rows, %llu packets: not A and C plus whole later "
                 "commits",
                 (unsigned long long) rows, (unsigned long long) pk);
    }
    /* Syncing a partition when it stops being current (the writer's call) makes its last
     * commit durable too. */
    assert_int_equal(stor__part_sync(f->env, T0), 0);
    assert_int_equal(stor__part_sync(f->env, T0 + 3600), 0);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", f->img);
    assert_int_equal(system(cmd), 0);
    shadow_materialise(f->img);
    image_totals(f, &rows, &pk);
    assert_int_equal(pk, a + b + c + d);
}

/* Flow-log definitions: a create is durable when it returns (the catalog is synced). */
static void
test_definitions_survive(void **state)
{
    struct fx *f = *state;
    struct stor_flowlog fl;
    stor_flowlog_default(&fl, "kept");
    assert_int_equal(stor_flowlog_create(f->env, &fl, f->msg, sizeof(f->msg)), 0);
    shadow_materialise(f->img);
    struct stor_env *env = NULL;
    struct stor_cfg cfg = f->cfg;
    cfg.dir = f->img;
    cfg.accept_empty_catalog = false;
    int rc = stor_open(&env, &cfg, f->msg, sizeof(f->msg));
    if (rc != 0) {
        fail_msg("the power-loss image does not open: %s (%s)", stor_strerror(rc), f->msg);
    }
    struct stor_flowlog got;
    assert_int_equal(stor_flowlog_get(env, "kept", &got), 0);
    assert_int_equal(got.id, fl.id);
    stor_close(env);
}

/* Sealing a settled partition compacts it (copy, rename): a power loss right after must
 * leave the compacted file whole, under its name. */
static void
test_compaction_survives(void **state)
{
    struct fx *f = *state;
    uint64_t seed = 7;
    for (int b = 0; b < 12; b++) {
        submit(f->env, T0, 4000, 1, &seed);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now_ms = (uint64_t) ts.tv_sec * 1000u;
    assert_int_equal(stor_seal_due(f->env, now_ms, true), 0);
    /* The writer compacts settled partitions on its own schedule; do it now. */
    struct stor_part *p;
    assert_int_equal(stor__part_acquire(f->env, T0, false, &p), 0);
    stor__part_release(f->env, p); /* still listed: compaction takes only unreferenced ones */
    int rc = stor__part_compact(f->env, p);
    struct stor_stats st;
    stor_stats_get(f->env, &st);
    assert_true(rc == 1 || st.compactions == 1);
    shadow_materialise(f->img);
    uint64_t rows, pk;
    image_totals(f, &rows, &pk);
    /* Sealing aggregates equal keys: count packets, which aggregation keeps. */
    assert_int_equal(pk, 48000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits_survive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_definitions_survive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_survives, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
