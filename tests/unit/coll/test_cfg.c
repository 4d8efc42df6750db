/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's config file (collector/config.c): every kind of value, defaults kept for keys a
 * file does not name, errors that name file, line and key, command-line style overrides
 * through coll_cfg_set, and the reload diff (live keys vs keys that need a restart).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coll.h"

static char path[64];

/* Write text to a fresh temporary file (its name in path). */
static void
write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/flowlog-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
}

/* Load text over the defaults; returns the result, message in msg. */
static int
load(struct coll_cfg *cfg, const char *text, char *msg, size_t msglen)
{
    coll_cfg_default(cfg);
    write_file(text);
    msg[0] = '\0';
    int rc = coll_cfg_load(cfg, path, msg, msglen);
    unlink(path);
    return rc;
}

static void
test_defaults(void **state)
{
    struct coll_cfg c;
    struct stor_cfg s;
    struct dec_cfg d;
    (void) state;
    coll_cfg_default(&c);
    stor_cfg_default(&s);
    dec_cfg_default(&d);
    assert_string_equal(c.data_dir, "");
    assert_int_equal(c.listen.n, 0);
    assert_int_equal(c.allow.n, 0);
    assert_int_equal(c.rcvbuf_bytes, 8u << 20);
    assert_int_equal(c.log_interval_s, 60);
    assert_int_equal(c.log_level, COLL_LOG_INFO);
    assert_int_equal(c.stor.partition_s, s.partition_s);
    assert_int_equal(c.stor.commit_ms, s.commit_ms);
    assert_int_equal(c.dec.tmpl_lifetime_ms, d.tmpl_lifetime_ms);
    assert_int_equal(c.dec.tmpl_max, d.tmpl_max);
}

static void
test_good_file(void **state)
{
    struct coll_cfg c;
    char msg[600];
    (void) state;
    int rc = load(&c,
                  "# comment\n"
                  "; another\n"
                  "[collector]\n"
                  "data_dir = /srv/flowlog\n"
                  "listen = udp:127.0.0.1:2055\n"
                  "listen = tcp:[::1]:4739\n"
                  "rcvbuf = 16M\n"
                  "allow = 10.0.0.0/8, 192.0.2.7\n"
                  "allow = 2001:db8::/32\n"
                  "log_interval = 5m\n"
                  "log_level = debug\n"
                  "pid_file = /run/flowlogd.pid\n"
                  "exporters_max = 64\n"
                  "max_tcp_sessions = 100\n"
                  "tcp_idle_timeout = 2m\n"
                  "\n"
                  "[store]\n"
                  "partition = 2h\n"
                  "map_size = 64MiB\n"
                  "map_max = 1T\n"
                  "commit_interval = 250ms\n"
                  "grace = 3m\n"
                  "silent = 90\n"
                  "retention = 30d\n"
                  "max_size = 100G\n"
                  "queue_batches = 32\n"
                  "batch_records = 2048\n"
                  "max_flowlogs = 20\n"
                  "block_records = 1024\n"
                  "seal_rows = 65536\n"
                  "[decoder]\n"
                  "template_lifetime = 1h\n"
                  "templates_max = 100\n"
                  "exporters_max = 500\n"
                  "pending_sets = 4\n"
                  "pending_bytes = 32k\n"
                  "pending_age = 10s\n"
                  "identity_pen = 12345  ; inline comment\n",
                  msg, sizeof(msg));
    assert_int_equal(rc, 0);
    assert_string_equal(c.data_dir, "/srv/flowlog");
    assert_int_equal(c.listen.n, 2);
    assert_string_equal(c.listen.spec[1], "tcp:[::1]:4739");
    assert_int_equal(c.rcvbuf_bytes, 16u << 20);
    assert_int_equal(c.allow.n, 3);
    assert_int_equal(c.log_interval_s, 300);
    assert_int_equal(c.log_level, COLL_LOG_DEBUG);
    assert_string_equal(c.pid_file, "/run/flowlogd.pid");
    assert_int_equal(c.exporter_rows_max, 64); /* the deprecated name still works */
    assert_non_null(strstr(c.warning, "collector.exporters_max is deprecated"));
    assert_int_equal(c.tcp.max_sessions, 100);
    assert_int_equal(c.tcp.idle_timeout_s, 120);
    assert_int_equal(c.stor.partition_s, 7200);
    assert_non_null(strstr(c.warning, "store.map_size is ignored")); /* read, not used */
    assert_int_equal(c.stor.map_max_bytes, 1ull << 40);
    assert_int_equal(c.stor.commit_ms, 250);
    assert_int_equal(c.stor.grace_s, 180);
    assert_int_equal(c.stor.silent_s, 90);
    assert_int_equal(c.stor.retention_s, 30 * 86400);
    assert_int_equal(c.stor.max_bytes, 100ull << 30);
    assert_int_equal(c.stor.queue_batches, 32);
    assert_int_equal(c.stor.batch_records, 2048);
    assert_int_equal(c.stor.max_flowlogs, 20);
    assert_int_equal(c.stor.block_records, 1024);
    assert_int_equal(c.stor.seal_rows, 65536);
    assert_int_equal(c.dec.tmpl_lifetime_ms, 3600000);
    assert_int_equal(c.dec.tmpl_max, 100);
    assert_int_equal(c.dec.exporters_max, 500);
    assert_int_equal(c.dec.pending_sets, 4);
    assert_int_equal(c.dec.pending_bytes, 32768);
    assert_int_equal(c.dec.pending_age_ms, 10000);
    assert_int_equal(c.dec.identity_pen, 12345);
}

/* A file that names few keys leaves the rest at their defaults; an empty file is fine. */
static void
test_partial_and_empty(void **state)
{
    struct coll_cfg c, def;
    char msg[600];
    (void) state;
    coll_cfg_default(&def);
    assert_int_equal(load(&c, "", msg, sizeof(msg)), 0);
    assert_memory_equal(&c, &def, sizeof(c));
    assert_int_equal(load(&c, "[store]\nretention = 7d\n", msg, sizeof(msg)), 0);
    assert_int_equal(c.stor.retention_s, 7 * 86400);
    assert_int_equal(c.stor.commit_ms, def.stor.commit_ms);
    assert_int_equal(c.log_interval_s, 60);
    /* log_interval 0 turns the counter line off; an empty allow-list allows everyone. */
    assert_int_equal(load(&c, "[collector]\nlog_interval = 0\nallow =\n", msg, sizeof(msg)), 0);
    assert_int_equal(c.log_interval_s, 0);
    assert_int_equal(c.allow.n, 0);
}

struct bad {
    const char *text;
    const char *want; /* substring of the message after "FILE:" */
};

static void
test_bad_values(void **state)
{
    static const struct bad cases[] = {
        {"[collector]\nfoo = 1\n", ":2: collector.foo: unknown key"},
        {"[nope]\nfoo = 1\n", ":2: foo: unknown section [nope]"},
        {"foo = 1\n", ":1: foo: key outside a section"},
        {"[collector]\n\nlog_interval = 5x\n", ":3: collector.log_interval: '5x' is not"},
        {"[collector]\nlog_interval = -1\n", ":2: collector.log_interval"},
        {"[collector]\nlog_interval = 2d\n", ":2: collector.log_interval: 2d is out of range"},
        {"[collector]\nlog_interval = 1500ms\n", ":2: collector.log_interval"},
        {"[collector]\nlog_level = loud\n", ":2: collector.log_level: 'loud'"},
        {"[collector]\nrcvbuf = 1k\n", ":2: collector.rcvbuf: 1k is out of range"},
        {"[collector]\nrcvbuf = 8Q\n", ":2: collector.rcvbuf: '8Q' is not a size"},
        {"[collector]\nrcvbuf = 99999999999999999999999\n", ":2: collector.rcvbuf"},
        {"[collector]\nrcvbuf = 17179869184T\n", ":2: collector.rcvbuf"},
        {"[collector]\nexporters_max = 0\n", ":2: collector.exporter_rows_max: 0 is out of range"},
        {"[collector]\nexporter_rows_max = 12 apples\n", ":2: collector.exporter_rows_max"},
        {"[collector]\nmax_tcp_sessions = 0\n", ":2: collector.max_tcp_sessions: 0 is out"},
        {"[query]\ntoken = x\n", ":2: query.token: shorter than 16 characters"},
        {"[query]\nadmin_token = 123456789012345\n", ":2: query.admin_token: shorter than 16"},
        {"[query]\ntoken = 0123456789abcdef 0\n", ":2: query.token: blanks are not allowed"},
        {"[query]\nidle_timeout = 0\n", ":2: query.idle_timeout: 0 is out of range"},
        {"[query]\nlisten = 0.0.0.0:7739\n", "query.listen 0.0.0.0:7739 is not loopback"},
        {"[query]\nlisten = [2001:db8::1]:7739\n", "query.listen [2001:db8::1]:7739 is not"},
        {"[query]\nunix_max_clients = 0\n", ":2: query.unix_max_clients: 0 is out of range"},
        {"[collector]\nallow = 10.0.0.0/33\n", ":2: collector.allow: '10.0.0.0/33'"},
        {"[collector]\nallow = 10.0.0.0/8, host.example\n", ":2: collector.allow: 'host.example'"},
        {"[collector]\nallow = 2001:db8::/129\n", ":2: collector.allow"},
        {"[collector]\nallow = /8\n", ":2: collector.allow"},
        {"[collector]\nlisten = udp:1.2.3.4\n", ":2: collector.listen: listener udp:1.2.3.4"},
        {"[collector]\nlisten = sctp:1.2.3.4:5\n", ":2: collector.listen: listener sctp"},
        {"[collector]\nlisten = udp:1.2.3.4:65536\n", ":2: collector.listen: listener"},
        {"[store]\npartition = 700\n", ":2: store.partition: 700 is not a multiple of 600"},
        {"[store]\npartition = 0\n", ":2: store.partition: 0 is out of range"},
        {"[store]\ncommit_interval = 0\n", ":2: store.commit_interval"},
        {"[store]\nmap_max = 5T\n", ":2: store.map_max: 5T is out of range"},
        {"[decoder]\ntemplates_max = 70000\n", ":2: decoder.templates_max"},
        {"[decoder]\nidentity_pen = 4294967296\n", ":2: decoder.identity_pen"},
        {"[store]\nnoequals\n", ":2: syntax error"},
        {"[store\n", ":1: syntax error"},
        /* The first error wins: a bad key before a syntax error, and the other way round. */
        {"[store]\nbad = 1\nbroken\n", ":2: store.bad: unknown key"},
        {"[store]\nbroken\nbad = 1\n", ":2: syntax error"},
    };
    char msg[600];
    struct coll_cfg c;
    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = load(&c, cases[i].text, msg, sizeof(msg));
        if (rc != -EINVAL || strncmp(msg, path, strlen(path)) != 0 ||
            strstr(msg, cases[i].want) == NULL) {
            fail_msg("case %zu (%s): rc %d, message '%s', wanted '%s'", i, cases[i].text, rc, msg,
                     cases[i].want);
        }
    }
}

static void
test_long_line(void **state)
{
    char text[600], msg[600];
    struct coll_cfg c;
    (void) state;
    snprintf(text, sizeof(text), "[collector]\npid_file = /%0400d\nlog_level = info\n", 0);
    assert_int_equal(load(&c, text, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, ":2: line too long"));
}

static void
test_missing_file(void **state)
{
    struct coll_cfg c;
    char msg[600];
    (void) state;
    coll_cfg_default(&c);
    assert_int_equal(coll_cfg_load(&c, "/nonexistent/flowlogd.conf", msg, sizeof(msg)), -ENOENT);
    assert_non_null(strstr(msg, "/nonexistent/flowlogd.conf: "));
}

/* Command-line overrides go through coll_cfg_set after the file. */
static void
test_overrides(void **state)
{
    struct coll_cfg c;
    char msg[600];
    (void) state;
    assert_int_equal(
        load(&c, "[collector]\ndata_dir = /a\nlisten = udp:0.0.0.0:2055\n", msg, sizeof(msg)), 0);
    assert_int_equal(coll_cfg_set(&c, "collector", "data_dir", "/b", msg, sizeof(msg)), 0);
    assert_string_equal(c.data_dir, "/b");
    c.listen.n = 0; /* -l replaces the file's listeners */
    assert_int_equal(coll_cfg_set(&c, "collector", "listen", "tcp:127.0.0.1:0", msg, sizeof(msg)),
                     0);
    assert_int_equal(c.listen.n, 1);
    assert_string_equal(c.listen.spec[0], "tcp:127.0.0.1:0");
    assert_int_equal(coll_cfg_set(&c, "collector", "listen", "bogus", msg, sizeof(msg)), -EINVAL);
    assert_int_equal(coll_cfg_set(&c, "store", "nope", "1", msg, sizeof(msg)), -EINVAL);
    assert_string_equal(msg, "store.nope: unknown key");
    /* A repeated scalar key: the last one wins. */
    assert_int_equal(
        load(&c, "[collector]\nlog_level = error\nlog_level = notice\n", msg, sizeof(msg)), 0);
    assert_int_equal(c.log_level, COLL_LOG_NOTICE);
}

static void
test_too_many_listeners(void **state)
{
    char text[4096] = "[collector]\n", msg[600];
    struct coll_cfg c;
    (void) state;
    for (int i = 0; i <= COLL_LISTEN_MAX; i++) {
        size_t n = strlen(text);
        snprintf(text + n, sizeof(text) - n, "listen = udp:127.0.0.1:%d\n", 1000 + i);
    }
    assert_int_equal(load(&c, text, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, ":18: collector.listen: at most 16"));
}

static void
test_diff(void **state)
{
    struct coll_cfg a, b;
    char live[512], restart[512], msg[200];
    (void) state;
    coll_cfg_default(&a);
    b = a;
    assert_int_equal(coll_cfg_diff(&a, &b, live, sizeof(live), restart, sizeof(restart)), 0);
    assert_string_equal(live, "");
    assert_string_equal(restart, "");
    assert_int_equal(coll_allow_parse(&b.allow, "10.0.0.0/8", msg, sizeof(msg)), 0);
    b.log_interval_s = 5;
    b.log_level = COLL_LOG_DEBUG;
    b.stor.retention_s = 3600; /* live since SIGHUP applies retention (stor_set_retention) */
    b.stor.partition_s = 7200;
    snprintf(b.data_dir, sizeof(b.data_dir), "/elsewhere");
    assert_int_equal(coll_cfg_set(&b, "collector", "listen", "udp:127.0.0.1:1", msg, sizeof(msg)),
                     0);
    b.dec.tmpl_max = 7;
    assert_int_equal(coll_cfg_diff(&a, &b, live, sizeof(live), restart, sizeof(restart)), 8);
    assert_string_equal(live,
                        "collector.allow collector.log_interval collector.log_level store.retention");
    assert_string_equal(
        restart, "collector.data_dir collector.listen store.partition decoder.templates_max");
    coll_cfg_apply_live(&a, &b);
    assert_int_equal(a.allow.n, 1);
    assert_int_equal(a.log_interval_s, 5);
    assert_int_equal(a.log_level, COLL_LOG_DEBUG);
    assert_int_equal(a.stor.retention_s, 3600);
    assert_int_equal(a.stor.partition_s, 3600);
    assert_string_equal(a.data_dir, "");
    assert_int_equal(a.listen.n, 0);
    assert_int_equal(a.dec.tmpl_max, 512);
    assert_int_equal(coll_cfg_diff(&a, &b, live, sizeof(live), restart, sizeof(restart)), 4);
    assert_string_equal(live, "");
}

/* etc/flowlogd.conf with every key uncommented gives the built-in defaults (the example's
 * listeners are the default ones; its allow-list, data_dir and pid_file are examples). */
static void
test_example_is_defaults(void **state)
{
    char line[512], msg[600];
    static char text[65536];
    size_t len = 0;
    struct coll_cfg c, def;
    FILE *f = fopen(SRC_DIR "/etc/flowlogd.conf", "r");
    (void) state;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = line;
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " = ") != NULL) {
            p = line + 1; /* "#key = value" -> "key = value" */
        }
        len += (size_t) snprintf(text + len, sizeof(text) - len, "%s", p);
        assert_true(len < sizeof(text));
    }
    fclose(f);
    assert_int_equal(load(&c, text, msg, sizeof(msg)), 0);
    assert_int_equal(c.listen.n, 6);
    assert_int_equal(c.allow.n, 3);
    assert_string_equal(c.data_dir, "/var/lib/flowlog");
    coll_cfg_default(&def);
    def.listen = c.listen;
    def.allow = c.allow;
    memcpy(def.data_dir, c.data_dir, sizeof(def.data_dir));
    memcpy(def.pid_file, c.pid_file, sizeof(def.pid_file));
    assert_memory_equal(&c, &def, sizeof(c));
}

/* The new [query] keys and a token of the minimum length; no token at all stays fine. */
static void
test_query_keys(void **state)
{
    struct coll_cfg c;
    char msg[600];
    (void) state;
    coll_cfg_default(&c);
    assert_int_equal(c.query.unix_max_clients, 16);
    assert_int_equal(c.query.idle_timeout_s, 300);
    assert_int_equal(c.query.auth_timeout_s, 10);
    assert_int_equal(c.query.line_timeout_s, 30);
    assert_int_equal(c.tcp.max_sessions, 256);
    assert_string_equal(c.warning, "");
    assert_int_equal(load(&c,
                          "[query]\ntoken = 0123456789abcdef\nunix_max_clients = 4\n"
                          "idle_timeout = 5m\nauth_timeout = 3\nline_timeout = 2s\n"
                          "[collector]\nexporter_rows_max = 9\n",
                          msg, sizeof(msg)),
                     0);
    assert_string_equal(c.query.token, "0123456789abcdef");
    assert_int_equal(c.query.unix_max_clients, 4);
    assert_int_equal(c.query.idle_timeout_s, 300);
    assert_int_equal(c.query.auth_timeout_s, 3);
    assert_int_equal(c.query.line_timeout_s, 2);
    assert_int_equal(c.exporter_rows_max, 9);
    assert_string_equal(c.warning, "");
    assert_int_equal(load(&c, "[query]\ntoken =\n", msg, sizeof(msg)), 0);
    assert_string_equal(c.query.token, "");
    /* Loopback needs no token; elsewhere one is enough. */
    assert_int_equal(load(&c, "[query]\nlisten = [::1]:7739\n", msg, sizeof(msg)), 0);
    assert_int_equal(load(&c, "[query]\nlisten = 127.0.0.2:7739\n", msg, sizeof(msg)), 0);
    assert_int_equal(load(&c, "[query]\nlisten = 0.0.0.0:7739\ntoken = 0123456789abcdef\n", msg,
                          sizeof(msg)),
                     0);
}

static void
test_levels(void **state)
{
    (void) state;
    assert_int_equal(coll_log_level_parse("WARNING"), COLL_LOG_WARNING);
    assert_int_equal(coll_log_level_parse("warn"), -1);
    assert_string_equal(coll_log_level_name(COLL_LOG_ERR), "error");
    assert_string_equal(coll_log_level_name(99), "?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_partial_and_empty),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_too_many_listeners),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_query_keys),
        cmocka_unit_test(test_example_is_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
