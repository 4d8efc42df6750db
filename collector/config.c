/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's configuration: defaults, the INI file (read with libinih), the exporter
 * allow-list and the listener specs. Pure data: no sockets, no logging; main.c decides what
 * to do with a bad file and which changed keys a reload can apply.
 *
 * Every key is one row of the table below: section, name, kind of value, where it goes in
 * struct coll_cfg, its range, and whether a reload (SIGHUP) can change it live. The file
 * syntax is libinih's: `[section]`, `key = value`, comments start a line with `#` or `;`
 * (or follow a value after ` ;`). docs/collector.md documents every key.
 *
 * libinih calls the handler without the line number (unless built with INI_HANDLER_LINENO,
 * which Debian's is not), so the file is fed through our own reader, which counts lines and
 * refuses lines longer than libinih's buffer instead of letting it split them.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coll.h"

enum kind {
    K_PATH,   /* a path or address (a char array of the field's size), "" allowed */
    K_TOKEN,  /* a secret: "" (none) or at least COLL_TOKEN_MIN characters, no blanks */
    K_LISTEN, /* adds a listener spec */
    K_ALLOW,  /* adds to the allow-list */
    K_LEVEL,  /* log level name */
    K_U32,    /* plain count */
    K_SIZE32, /* bytes with an optional k, M, G, T suffix (powers of 1024) */
    K_SIZE64,
    K_SEC32, /* a duration stored in seconds: 90, 90s, 15m, 2h, 30d */
    K_MS32,  /* a duration stored in milliseconds: 500ms, 1s, 30m */
};

struct key {
    const char *section, *name;
    enum kind kind;
    size_t off, size;
    uint64_t min, max; /* in stored units */
    bool live;         /* a reload applies it at once */
    uint32_t step;     /* the value must be a multiple of this (0 = any) */
};

#define F(field) offsetof(struct coll_cfg, field), sizeof(((struct coll_cfg *) 0)->field)
#define DAY_S    86400u

static const struct key keys[] = {
    {"collector", "data_dir", K_PATH, F(data_dir), 0, 0, false, 0},
    {"collector", "listen", K_LISTEN, F(listen), 0, 0, false, 0},
    {"collector", "rcvbuf", K_SIZE32, F(rcvbuf_bytes), 4096, INT_MAX, true, 0},
    {"collector", "allow", K_ALLOW, F(allow), 0, 0, true, 0},
    {"collector", "log_interval", K_SEC32, F(log_interval_s), 0, DAY_S, true, 0},
    {"collector", "log_level", K_LEVEL, F(log_level), 0, 0, true, 0},
    {"collector", "pid_file", K_PATH, F(pid_file), 0, 0, false, 0},
    {"collector", "exporter_rows_max", K_U32, F(exporter_rows_max), 1, 1u << 20, false, 0},
    {"collector", "max_tcp_sessions", K_U32, F(tcp.max_sessions), 1, 1u << 20, false, 0},
    {"collector", "tcp_idle_timeout", K_SEC32, F(tcp.idle_timeout_s), 1, DAY_S, false, 0},
    {"collector", "template_save_interval", K_SEC32, F(tmpl_save_s), 1, 3600, false, 0},
    {"store", "partition", K_SEC32, F(stor.partition_s), 600, 30 * DAY_S, false, 600},
    {"store", "map_max", K_SIZE64, F(stor.map_max_bytes), 1u << 20, 1ull << 42, false, 0},
    {"store", "commit_interval", K_MS32, F(stor.commit_ms), 1, 60000, false, 0},
    {"store", "grace", K_SEC32, F(stor.grace_s), 0, DAY_S, false, 0},
    {"store", "silent", K_SEC32, F(stor.silent_s), 1, DAY_S, false, 0},
    {"store", "retention", K_SEC32, F(stor.retention_s), 0, 3660 * DAY_S, true, 0},
    {"store", "max_size", K_SIZE64, F(stor.max_bytes), 0, 1ull << 50, true, 0},
    {"store", "time_past", K_SEC32, F(stor.time_past_s), 0, 3660 * DAY_S, false, 0},
    {"store", "time_future", K_SEC32, F(stor.time_future_s), 0, 3660 * DAY_S, false, 0},
    {"store", "queue_batches", K_U32, F(stor.queue_batches), 1, 65536, false, 0},
    {"store", "batch_records", K_U32, F(stor.batch_records), 1, 1u << 20, false, 0},
    {"store", "max_flowlogs", K_U32, F(stor.max_flowlogs), 1, 65535, false, 0},
    {"store", "block_records", K_U32, F(stor.block_records), 1, 65535, false, 0},
    {"store", "seal_rows", K_U32, F(stor.seal_rows), 1, 1u << 28, false, 0},
    {"decoder", "template_lifetime", K_MS32, F(dec.tmpl_lifetime_ms), 0, 30 * DAY_S * 1000ull,
     false, 0},
    {"decoder", "templates_max", K_U32, F(dec.tmpl_max), 1, 65535, false, 0},
    {"decoder", "exporters_max", K_U32, F(dec.exporters_max), 1, 1u << 20, false, 0},
    {"decoder", "pending_sets", K_U32, F(dec.pending_sets), 0, 1024, false, 0},
    {"decoder", "pending_bytes", K_SIZE32, F(dec.pending_bytes), 0, 64u << 20, false, 0},
    {"decoder", "pending_age", K_MS32, F(dec.pending_age_ms), 0, 3600000, false, 0},
    {"decoder", "identity_pen", K_U32, F(dec.identity_pen), 0, UINT32_MAX, false, 0},
    {"decoder", "memory_max", K_SIZE64, F(dec.memory_max), 1u << 20, 1ull << 40, false, 0},
    {"decoder", "snapshot_max", K_SIZE32, F(dec.snapshot_max), 64u << 10, 256u << 20, false, 0},
    {"query", "listen", K_PATH, F(query.tcp), 0, 0, false, 0},
    {"query", "unix", K_PATH, F(query.unix_path), 0, 0, false, 0},
    {"query", "token", K_TOKEN, F(query.token), 0, 0, false, 0},
    {"query", "admin_token", K_TOKEN, F(query.admin_token), 0, 0, false, 0},
    {"query", "max_clients", K_U32, F(query.max_clients), 1, 65536, true, 0},
    {"query", "unix_max_clients", K_U32, F(query.unix_max_clients), 1, 65536, true, 0},
    {"query", "idle_timeout", K_SEC32, F(query.idle_timeout_s), 1, DAY_S, true, 0},
    {"query", "auth_timeout", K_SEC32, F(query.auth_timeout_s), 1, 3600, true, 0},
    {"query", "line_timeout", K_SEC32, F(query.line_timeout_s), 1, 3600, true, 0},
    {"query", "time_limit", K_MS32, F(query.time_limit_ms), 0, DAY_S * 1000ull, true, 0},
    {"query", "memory_limit", K_SIZE64, F(query.memory_limit), 0, 1ull << 44, true, 0},
    {"query", "row_limit", K_U32, F(query.row_limit), 0, UINT32_MAX, true, 0},
    {"query", "slow_ms", K_U32, F(query.slow_ms), 0, DAY_S * 1000u, true, 0}, /* events */
    /* [http]: docs/http.md */
    {"http", "listen", K_PATH, F(http.listen), 0, 0, false, 0},
    {"http", "max_connections", K_U32, F(http.max_connections), 1, 4096, false, 0},
    {"http", "idle_timeout", K_SEC32, F(http.idle_timeout_s), 1, 3600, false, 0},
    {"http", "header_max", K_SIZE32, F(http.header_max), 1024, 1u << 20, false, 0},
    {"http", "body_max", K_SIZE32, F(http.body_max), 1024, 16u << 20, false, 0},
    {"http", "hosts", K_PATH, F(http.hosts), 0, 0, false, 0},
    /* [repeat]: the repeater (repeat.c) */
    {"repeat", "to", K_PATH, F(repeat.to), 0, 0, false, 0},
    /* [health]: health.c */
    {"health", "disk_free_min", K_U32, F(health.disk_free_min_pct), 0, 100, false, 0},
    {"health", "exporter_silent", K_SEC32, F(health.exporter_silent_s), 0, DAY_S, false, 0},
    {"repeat", "sndbuf", K_SIZE32, F(repeat.sndbuf_bytes), 4096, INT_MAX, false, 0},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const level_names[] = {
    [COLL_LOG_ERR] = "error", [COLL_LOG_WARNING] = "warning", [COLL_LOG_NOTICE] = "notice",
    [COLL_LOG_INFO] = "info", [COLL_LOG_DEBUG] = "debug",
};

void
coll_cfg_default(struct coll_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->rcvbuf_bytes = 8u << 20;
    cfg->log_interval_s = 60;
    cfg->log_level = COLL_LOG_INFO;
    cfg->exporter_rows_max = 1024;
    cfg->tcp.max_sessions = 256;
    cfg->tcp.idle_timeout_s = 600;
    cfg->tmpl_save_s = 30;
    cfg->repeat.sndbuf_bytes = 4u << 20;
    cfg->health.disk_free_min_pct = 5;
    cfg->health.exporter_silent_s = 900;
    coll_chq_default(&cfg->query.chq); /* [clickhouse]: config_chquery.c */
    stor_cfg_default(&cfg->stor);
    cfg->stor.dir = NULL;
    cfg->stor.time_past_s = 30u * DAY_S; /* facing the network: see docs/storage.md */
    cfg->stor.time_future_s = DAY_S;
    dec_cfg_default(&cfg->dec);
    snprintf(cfg->query.tcp, sizeof(cfg->query.tcp), "127.0.0.1:7739");
    cfg->query.max_clients = 64;
    cfg->query.unix_max_clients = 16;
    cfg->query.idle_timeout_s = 300;
    cfg->query.auth_timeout_s = 10;
    cfg->query.line_timeout_s = 30;
    cfg->query.time_limit_ms = 60000;
    cfg->query.memory_limit = 256u << 20;
    cfg->query.slow_ms = 2000; /* events_src.c */
    coll_http_cfg_default(&cfg->http);
}

const char *
coll_log_level_name(int level)
{
    if (level < COLL_LOG_ERR || level > COLL_LOG_DEBUG) {
        return "?";
    }
    return level_names[level];
}

int
coll_log_level_parse(const char *name)
{
    for (int l = COLL_LOG_ERR; l <= COLL_LOG_DEBUG; l++) {
        if (strcasecmp(name, level_names[l]) == 0) {
            return l;
        }
    }
    return -1;
}

/* ---- values ---- */

/* An unsigned decimal with nothing before it; *end is left after the digits. */
static int
parse_num(const char *s, uint64_t *v, const char **end)
{
    char *e;
    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    errno = 0;
    unsigned long long n = strtoull(s, &e, 10);
    if (errno != 0) {
        return -ERANGE;
    }
    *v = n;
    *end = e;
    return 0;
}

static int
scale(uint64_t *v, uint64_t mult)
{
    if (mult != 0 && *v > UINT64_MAX / mult) {
        return -ERANGE;
    }
    *v *= mult;
    return 0;
}

/* Bytes: a number and an optional k/K, M, G or T (powers of 1024), then an optional B/iB. */
static int
parse_size(const char *s, uint64_t *v)
{
    const char *u;
    uint64_t mult = 1;
    int rc = parse_num(s, v, &u);
    if (rc != 0) {
        return rc;
    }
    switch (*u) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        break;
    case 'M':
        mult = 1ull << 20;
        break;
    case 'G':
        mult = 1ull << 30;
        break;
    case 'T':
        mult = 1ull << 40;
        break;
    default:
        break;
    }
    if (mult != 1) {
        u++;
        if (strcmp(u, "iB") == 0 || strcmp(u, "B") == 0) {
            u += strlen(u);
        }
    } else if (strcmp(u, "B") == 0) {
        u++;
    }
    return *u != '\0' ? -EINVAL : scale(v, mult);
}

/* A duration in milliseconds: a number and an optional ms, s, m, h or d (seconds when bare). */
static int
parse_duration_ms(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *u;
    int rc = parse_num(s, ms, &u);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(u, units[i].unit) == 0) {
            return scale(ms, units[i].ms);
        }
    }
    return -EINVAL;
}

static const char *
kind_hint(enum kind k)
{
    switch (k) {
    case K_SIZE32:
    case K_SIZE64:
        return "a size in bytes, e.g. 8M";
    case K_SEC32:
        return "a duration in whole seconds, e.g. 90, 15m, 2h, 30d";
    case K_MS32:
        return "a duration, e.g. 500ms, 30s, 15m";
    case K_LEVEL:
        return "error, warning, notice, info or debug";
    default:
        return "a whole number";
    }
}

/* A number-valued key: parse, convert to its stored unit, range-check, store. */
static int
set_number(struct coll_cfg *cfg, const struct key *k, const char *value, char *msg, size_t msglen)
{
    uint64_t v = 0;
    int rc;
    switch (k->kind) {
    case K_SIZE32:
    case K_SIZE64:
        rc = parse_size(value, &v);
        break;
    case K_SEC32:
        rc = parse_duration_ms(value, &v);
        if (rc == 0 && v % 1000 != 0) {
            rc = -EINVAL;
        }
        v /= 1000;
        break;
    case K_MS32:
        rc = parse_duration_ms(value, &v);
        break;
    default: {
        const char *end;
        rc = parse_num(value, &v, &end);
        if (rc == 0 && *end != '\0') {
            rc = -EINVAL;
        }
    }
    }
    if (rc != 0) {
        snprintf(msg, msglen, "%s.%s: '%s' is not %s", k->section, k->name, value,
                 kind_hint(k->kind));
        return -EINVAL;
    }
    if (v < k->min || v > k->max) {
        snprintf(msg, msglen, "%s.%s: %s is out of range (%" PRIu64 " ... %" PRIu64 "%s)",
                 k->section, k->name, value, k->min, k->max,
                 k->kind == K_SEC32  ? " s"
                 : k->kind == K_MS32 ? " ms"
                                     : "");
        return -EINVAL;
    }
    if (k->step != 0 && v % k->step != 0) {
        snprintf(msg, msglen, "%s.%s: %s is not a multiple of %" PRIu32 "%s", k->section, k->name,
                 value, k->step, k->kind == K_SEC32 ? " s" : "");
        return -EINVAL;
    }
    void *p = (char *) cfg + k->off;
    if (k->size == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(p, &x, sizeof(x));
    } else {
        uint32_t x = (uint32_t) v;
        memcpy(p, &x, sizeof(x));
    }
    return 0;
}

static int
set_listen(struct coll_cfg *cfg, const char *value, char *msg, size_t msglen)
{
    struct sockaddr_storage ss;
    bool tcp;
    char why[300];
    if (coll_listen_parse(value, &ss, &tcp, why, sizeof(why)) != 0) {
        snprintf(msg, msglen, "collector.listen: %s", why);
        return -EINVAL;
    }
    if (cfg->listen.n == COLL_LISTEN_MAX) {
        snprintf(msg, msglen, "collector.listen: at most %d listeners", COLL_LISTEN_MAX);
        return -EINVAL;
    }
    snprintf(cfg->listen.spec[cfg->listen.n++], COLL_SPEC_MAX, "%s", value);
    return 0;
}

/* A token: empty (none), or long enough that guessing it over the query port is hopeless. */
static int
set_token(struct coll_cfg *cfg, const struct key *k, const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    if (len >= k->size) {
        snprintf(msg, msglen, "%s.%s: longer than %zu characters", k->section, k->name,
                 k->size - 1);
        return -EINVAL;
    }
    if (len > 0 && len < COLL_TOKEN_MIN) {
        snprintf(msg, msglen, "%s.%s: shorter than %d characters", k->section, k->name,
                 COLL_TOKEN_MIN);
        return -EINVAL;
    }
    if (strpbrk(value, " \t") != NULL) {
        snprintf(msg, msglen, "%s.%s: blanks are not allowed in a token", k->section, k->name);
        return -EINVAL;
    }
    snprintf((char *) cfg + k->off, k->size, "%s", value);
    return 0;
}

/* The row of section.key, or NULL with a message saying what is unknown. An old key name
 * is mapped to its new one, with a warning in cfg. */
static const struct key *
find_key(struct coll_cfg *cfg, const char *section, const char *key, char *msg, size_t msglen)
{
    bool section_known = false;
    if (strcmp(section, "collector") == 0 && strcmp(key, "exporters_max") == 0) {
        /* The old name of exporter_rows_max ([decoder] exporters_max is another key). */
        snprintf(cfg->warning, sizeof(cfg->warning),
                 "collector.exporters_max is deprecated: it is now collector.exporter_rows_max "
                 "(decoder.exporters_max is the decoder's exporter cap)");
        key = "exporter_rows_max";
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) == 0) {
            section_known = true;
            if (strcmp(keys[i].name, key) == 0) {
                return &keys[i];
            }
        }
    }
    if (section[0] == '\0') {
        snprintf(msg, msglen,
                 "%s: key outside a section ([collector], [store], [decoder], [query], [http], [repeat], [health])",
                 key);
    } else if (!section_known) {
        snprintf(msg, msglen, "%s: unknown section [%s] (known: collector, store, decoder, query, http, repeat, health)",
                 key, section);
    } else {
        snprintf(msg, msglen, "%s.%s: unknown key", section, key);
    }
    return NULL;
}

int
coll_cfg_set(struct coll_cfg *cfg, const char *section, const char *key, const char *value,
             char *msg, size_t msglen)
{
    if (strcmp(section, "store") == 0 && strcmp(key, "map_size") == 0) {
        /* Maps were grown from map_size; now every map is map_max from the start. */
        size_t used = strlen(cfg->warning);
        snprintf(cfg->warning + used, sizeof(cfg->warning) - used,
                 "%sstore.map_size is ignored: every partition's map is store.map_max from the "
                 "start and never grows",
                 used != 0 ? "; " : "");
        return 0;
    }
    int chq = coll_chq_set(&cfg->query.chq, section, key, value, msg, msglen); /* chquery */
    if (chq <= 0) {
        return chq;
    }
    int q = coll_cfg_query(section, key, value, msg, msglen); /* config_query.c */
    if (q != 0) {
        return q < 0 ? q : 0;
    }
    const struct key *k = find_key(cfg, section, key, msg, msglen);
    if (k == NULL) {
        return -EINVAL;
    }
    switch (k->kind) {
    case K_PATH:
        if (strlen(value) >= k->size) { /* the field's size: [query] strings are shorter */
            snprintf(msg, msglen, "%s.%s: %s too long", section, key,
                     k->size == COLL_PATH_MAX ? "path" : "value");
            return -EINVAL;
        }
        snprintf((char *) cfg + k->off, k->size, "%s", value);
        return 0;
    case K_TOKEN:
        return set_token(cfg, k, value, msg, msglen);
    case K_LISTEN:
        return set_listen(cfg, value, msg, msglen);
    case K_ALLOW: {
        char why[200];
        if (coll_allow_parse(&cfg->allow, value, why, sizeof(why)) != 0) {
            snprintf(msg, msglen, "%s.%s: %s", section, key, why);
            return -EINVAL;
        }
        return 0;
    }
    case K_LEVEL: {
        int l = coll_log_level_parse(value);
        if (l < 0) {
            snprintf(msg, msglen, "%s.%s: '%s' is not %s", section, key, value, kind_hint(K_LEVEL));
            return -EINVAL;
        }
        cfg->log_level = l;
        return 0;
    }
    default:
        return set_number(cfg, k, value, msg, msglen);
    }
}

/* Is the query address ("ADDR:PORT", "[V6]:PORT") loopback? Unparsable ones count as
 * loopback here: the query server reports them when it binds. */
static bool
query_loopback(const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    uint8_t a[16];
    if (colon == NULL || (size_t) (colon - spec) >= sizeof(host)) {
        return true;
    }
    snprintf(host, sizeof(host), "%.*s", (int) (colon - spec), spec);
    if (inet_pton(AF_INET, host, a) == 1) {
        return a[0] == 127;
    }
    size_t n = strlen(host);
    if (n < 2 || host[0] != '[' || host[n - 1] != ']') {
        return true;
    }
    host[n - 1] = '\0';
    return inet_pton(AF_INET6, host + 1, a) != 1 ||
           memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
}

int
coll_cfg_check(const struct coll_cfg *cfg, char *msg, size_t msglen)
{
    if (cfg->query.tcp[0] != '\0' && cfg->query.token[0] == '\0' &&
        !query_loopback(cfg->query.tcp)) {
        snprintf(msg, msglen,
                 "query.listen %s is not loopback: set a token (query.token, at least %d "
                 "characters) to serve it",
                 cfg->query.tcp, COLL_TOKEN_MIN);
        return -EINVAL;
    }
    if (cfg->stor.partition_s % 600 != 0) {
        snprintf(msg, msglen, "store.partition: %" PRIu32 " s is not a multiple of 600 s (10m)",
                 cfg->stor.partition_s);
        return -EINVAL;
    }
    char items[COLL_REPEAT_MAX][COLL_REPEAT_SPEC];
    if (coll_repeat_split(cfg->repeat.to, items, msg, msglen) < 0) {
        return -EINVAL;
    }
    return 0;
}

/* ---- the file ---- */

struct reader {
    FILE *f;
    unsigned line;
    unsigned long_line; /* first line too long for libinih's buffer, 0 = none */
};

struct parse {
    struct coll_cfg *cfg;
    const struct reader *rd;
    unsigned err_line; /* first error the handler saw, 0 = none */
    char err[512];
};

/* libinih's fgets-like reader: one line per call, counted, overlong ones refused. */
static char *
read_line(char *str, int num, void *stream)
{
    struct reader *rd = stream;
    if (fgets(str, num, rd->f) == NULL) {
        return NULL;
    }
    rd->line++;
    size_t len = strlen(str);
    if (len == (size_t) num - 1 && str[len - 1] != '\n' && !feof(rd->f)) {
        int c;
        while ((c = fgetc(rd->f)) != EOF && c != '\n') {
            /* skip the rest of the line */
        }
        if (rd->long_line == 0) {
            rd->long_line = rd->line;
        }
        str[0] = '\0'; /* libinih sees an empty line */
    }
    return str;
}

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse *ps = user;
    char why[400];
    if (coll_cfg_set(ps->cfg, section, name, value, why, sizeof(why)) != 0) {
        if (ps->err_line == 0) {
            ps->err_line = ps->rd->line;
            snprintf(ps->err, sizeof(ps->err), "%s", why);
        }
        return 0;
    }
    return 1;
}

int
coll_cfg_load(struct coll_cfg *cfg, const char *path, char *msg, size_t msglen)
{
    struct reader rd = {.f = fopen(path, "r")};
    struct parse ps = {.cfg = cfg, .rd = &rd};
    int rc;

    if (rd.f == NULL) {
        rc = -errno;
        snprintf(msg, msglen, "%s: %s", path, strerror(errno));
        return rc;
    }
    cfg->listen.n = 0;
    cfg->allow.n = 0;
    int line = ini_parse_stream(read_line, &rd, on_key, &ps);
    bool read_err = ferror(rd.f) != 0;
    fclose(rd.f);
    if (read_err) {
        snprintf(msg, msglen, "%s: read error", path);
        return -EIO;
    }
    /* Report the earliest problem: a line too long, a syntax error, or a bad key. */
    unsigned first = ps.err_line;
    const char *what = ps.err;
    if (rd.long_line != 0 && (first == 0 || rd.long_line < first)) {
        first = rd.long_line;
        what = "line too long (at most 198 characters)";
    }
    if (line > 0 && (first == 0 || (unsigned) line < first)) {
        first = (unsigned) line;
        what = "syntax error: expected [section], key = value, or a # comment";
    }
    if (first != 0) {
        snprintf(msg, msglen, "%s:%u: %s", path, first, what);
        return -EINVAL;
    }
    if (line < 0) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return -ENOMEM;
    }
    char why[400];
    if ((rc = coll_cfg_check(cfg, why, sizeof(why))) != 0) {
        snprintf(msg, msglen, "%s: %s", path, why);
    }
    return rc;
}

/* ---- reloads ---- */

static void
append(char *buf, size_t len, const char *section, const char *name)
{
    size_t n = strlen(buf);
    if (n < len) {
        snprintf(buf + n, len - n, "%s%s.%s", n > 0 ? " " : "", section, name);
    }
}

int
coll_cfg_diff(const struct coll_cfg *old, const struct coll_cfg *cur, char *live, size_t livelen,
              char *restart, size_t restartlen)
{
    int n = 0;
    live[0] = restart[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const char *a = (const char *) old + k->off, *b = (const char *) cur + k->off;
        bool same;
        if (k->kind == K_PATH || k->kind == K_TOKEN) {
            same = strcmp(a, b) == 0;
        } else if (k->kind == K_LISTEN) {
            same = old->listen.n == cur->listen.n;
            for (size_t j = 0; same && j < old->listen.n; j++) {
                same = strcmp(old->listen.spec[j], cur->listen.spec[j]) == 0;
            }
        } else if (k->kind == K_ALLOW) {
            same = old->allow.n == cur->allow.n &&
                   memcmp(old->allow.net, cur->allow.net,
                          old->allow.n * sizeof(old->allow.net[0])) == 0;
        } else {
            same = memcmp(a, b, k->size) == 0;
        }
        if (!same) {
            n++;
            if (k->live) {
                append(live, livelen, k->section, k->name);
            } else {
                append(restart, restartlen, k->section, k->name);
            }
        }
    }
    return n;
}

void
coll_cfg_apply_live(struct coll_cfg *dst, const struct coll_cfg *src)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].live) {
            memcpy((char *) dst + keys[i].off, (const char *) src + keys[i].off, keys[i].size);
        }
    }
}

/* ---- addresses ---- */

void
coll_addr16(const struct sockaddr *sa, uint8_t out[16], uint16_t *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *) sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a->sin_addr, 4);
        *port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) sa;
        memcpy(out, &a->sin6_addr, 16);
        *port = ntohs(a->sin6_port);
    }
}

void
coll_sockaddr_name(const struct sockaddr *sa, char *buf, size_t len)
{
    uint8_t a[16];
    uint16_t port;
    char host[INET6_ADDRSTRLEN];
    coll_addr16(sa, a, &port);
    bool v4 = sa->sa_family == AF_INET;
    inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a + 12 : a, host, sizeof(host));
    snprintf(buf, len, v4 ? "%s:%u" : "[%s]:%u", host, (unsigned) port);
}

bool
coll_allow_match(const struct coll_allow *a, const struct sockaddr *addr)
{
    uint8_t x[16];
    uint16_t port;
    if (a == NULL || a->n == 0) {
        return true;
    }
    coll_addr16(addr, x, &port);
    for (size_t i = 0; i < a->n; i++) {
        if (flow_cidr_contains(&a->net[i], x)) {
            return true;
        }
    }
    return false;
}

int
coll_allow_parse(struct coll_allow *a, const char *list, char *msg, size_t msglen)
{
    const char *p = list;
    for (;;) {
        p += strspn(p, ", \t");
        if (*p == '\0') {
            return 0;
        }
        size_t len = strcspn(p, ", \t");
        char item[80];
        snprintf(item, sizeof(item), "%.*s",
                 (int) (len < sizeof(item) - 1 ? len : sizeof(item) - 1), p);
        if (a->n == COLL_ALLOW_MAX) {
            snprintf(msg, msglen, "more than %d allow-list entries", COLL_ALLOW_MAX);
            return -ENOSPC;
        }
        if (len >= sizeof(item) || flow_cidr_parse(item, len, &a->net[a->n], NULL) != 0) {
            snprintf(msg, msglen,
                     "'%s' is not an address or CIDR (10.0.0.0/8, 192.0.2.7, 2001:db8::/32)", item);
            return -EINVAL;
        }
        a->n++;
        p += len;
    }
}

/* ---- listener specs ---- */

int
coll_listen_parse(const char *spec, struct sockaddr_storage *addr, bool *tcp, char *msg,
                  size_t msglen)
{
    char host[64];
    const char *rest;

    memset(addr, 0, sizeof(*addr));
    if (strncmp(spec, "udp:", 4) == 0 || strncmp(spec, "tcp:", 4) == 0) {
        *tcp = spec[0] == 't';
    } else {
        goto bad;
    }
    rest = spec + 4;
    if (rest[0] == '[') {
        const char *end = strchr(rest, ']');
        if (end == NULL || end[1] != ':' || (size_t) (end - rest - 1) >= sizeof(host)) {
            goto bad;
        }
        memcpy(host, rest + 1, (size_t) (end - rest - 1));
        host[end - rest - 1] = '\0';
        rest = end + 2;
    } else {
        const char *colon = strrchr(rest, ':');
        if (colon == NULL || (size_t) (colon - rest) >= sizeof(host)) {
            goto bad;
        }
        memcpy(host, rest, (size_t) (colon - rest));
        host[colon - rest] = '\0';
        rest = colon + 1;
    }
    uint64_t port;
    const char *endp;
    if (parse_num(rest, &port, &endp) != 0 || *endp != '\0' || port > 65535) {
        goto bad;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t) port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t) port);
        return 0;
    }
bad:
    snprintf(msg, msglen,
             "listener %s: expected udp:ADDR:PORT or tcp:ADDR:PORT "
             "(udp:[::]:4739 for IPv6)",
             spec);
    return -EINVAL;
}
