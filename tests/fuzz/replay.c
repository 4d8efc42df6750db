/* SPDX-License-Identifier: MIT */
/*
 * replay: run a libFuzzer target's entry point over saved inputs without libFuzzer, so the
 * regression inputs (tests/fuzz/regress/) and the seed corpus are replayed by ctest in every
 * build, with any compiler and under any sanitizer (STYLE.md §7).
 *
 *   replay PATH...   each PATH is a file, or a directory whose files are all replayed
 *                    (not recursively; names starting with '.' and *.md are skipped)
 *
 * It is linked with one target's source (fuzz_decoder.c), which defines
 * LLVMFuzzerTestOneInput. A broken invariant aborts inside the target; replay prints each
 * input's name first so the culprit is on the log. Exit status: 0 when at least one input
 * was replayed and every path could be read, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L /* opendir, readdir, stat */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path, unsigned long *count)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            uint8_t *p = realloc(buf, ncap);
            if (p == NULL) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                goto close_file;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        goto close_file;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, n);
    (*count)++;
    rc = 0;
close_file:
    fclose(f);
    free(buf);
    return rc;
}

static int
skip_name(const char *name)
{
    size_t l = strlen(name);
    return name[0] == '.' || (l >= 3 && strcmp(name + l - 3, ".md") == 0);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Replays a directory's regular files in name order, so a run is repeatable. */
static int
replay_dir(const char *dir, unsigned long *count)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (skip_name(de->d_name)) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof(*p));
            if (p == NULL) {
                rc = -1;
                break;
            }
            names = p;
        }
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        if ((names[n] = malloc(len)) == NULL) {
            rc = -1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n > 0) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(names[i], count);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    unsigned long count = 0;
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: replay PATH...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc |= replay_dir(argv[i], &count);
        } else {
            rc |= replay_file(argv[i], &count);
        }
    }
    fprintf(stderr, "replay: %lu input(s)\n", count);
    return (rc == 0 && count > 0) ? 0 : 1;
}
