/* SPDX-License-Identifier: MIT */
/*
 * The line protocol as pure logic: framing (partial lines, CRLF, over-long lines), the verbs,
 * tokens and the admin token, formats, FLOWLOG administration, and back-pressure: an output
 * callback that refuses most offers must still receive every byte exactly once, in order.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include <cmocka.h>

#include "qry.h"

#define T0 1763798400u

#define assert_prefix(s, p)                                                                        \
    do {                                                                                           \
        if (strncmp((s), (p), strlen(p)) != 0) {                                                   \
            fail_msg("'%s' does not begin with '%s'", (s), (p));                                   \
        }                                                                                          \
    } while (0)

struct fx {
    char dir[64];
    struct stor_env *env;
    char *out;
    size_t len, cap;
    unsigned refuse; /* refuse every Nth... offer with QRY_E_AGAIN (0 = never) */
    unsigned offers;
    size_t biggest; /* the largest offer seen */
};

static int
out_fn(void *arg, const char *data, size_t len)
{
    struct fx *f = arg;
    f->biggest = len > f->biggest ? len : f->biggest;
    if (f->refuse != 0 && f->offers++ % f->refuse != 0) {
        return QRY_E_AGAIN;
    }
    while (f->len + len + 1 > f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4096;
        f->out = realloc(f->out, f->cap);
    }
    memcpy(f->out + f->len, data, len);
    f->len += len;
    f->out[f->len] = '\0';
    return 0;
}

/* The host's info hook. "forget ADDR PORT" answers one row per exporter it knows at ADDR
 * (two at 192.0.2.1, ports 2055 and 9995; one at 2001:db8::1, port 4739), none elsewhere,
 * and -EIO for 203.0.113.66; every request is remembered in last_what. */
static char last_what[128];

static int
info_fn(void *arg, const char *what, qry_row_fn *row, void *row_arg)
{
    (void) arg;
    snprintf(last_what, sizeof(last_what), "%s", what);
    if (strncmp(what, "forget ", 7) != 0) {
        const char *names[2] = {"name", "value"};
        const char *v1[2] = {what, "42"};
        return row(row_arg, 2, names, v1);
    }
    static const char *const known[][2] = {
        {"192.0.2.1", "2055"}, {"192.0.2.1", "9995"}, {"2001:db8::1", "4739"}};
    const char *names[2] = {"exporter", "port"};
    char addr[64], port[16];
    if (sscanf(what + 7, "%63s %15s", addr, port) != 2) {
        return -EINVAL;
    }
    if (strcmp(addr, "203.0.113.66") == 0) {
        return -EIO;
    }
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(addr, known[i][0]) == 0 &&
            (strcmp(port, "*") == 0 || strcmp(port, known[i][1]) == 0)) {
            const char *v[2] = {known[i][0], known[i][1]};
            row(row_arg, 2, names, v);
        }
    }
    return 0;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct stor_cfg cfg;
    char msg[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/flowlog-s-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    stor_cfg_default(&cfg);
    cfg.dir = f->dir;
    cfg.commit_ms = 20;
    assert_int_equal(stor_open(&f->env, &cfg, msg, sizeof(msg)), 0);
    struct stor_batch *b = stor_batch_get(f->env);
    for (size_t i = 0; i < 3000; i++) {
        struct flow_rec *r = &b->recs[i];
        memset(r, 0, sizeof(*r));
        uint8_t a[4] = {10, 0, (uint8_t) (i >> 8), (uint8_t) i};
        uint8_t d[4] = {10, 9, 9, 9};
        flow_addr_set_v4(r->srcaddr, a);
        flow_addr_set_v4(r->dstaddr, d);
        r->srcport = (uint16_t) (1000 + i);
        r->dstport = i % 2 ? 22 : 443;
        r->protocol = 6;
        r->packets = 1 + i;
        r->bytes = 100 * (1 + i);
        r->end_ms = (uint64_t) (T0 + i % 600) * 1000u;
        r->start_ms = r->end_ms - 10;
        r->version = 10;
        r->action = i % 3 == 0;
        r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT |
                     FLOW_HAS_PROTOCOL | FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
        if (i == 7) {
            r->present |= FLOW_HAS_INSTANCE;
            snprintf(r->instance_id, FLOW_ID_MAX, "OK \"x\"\n");
        }
    }
    b->n = 3000;
    b->nmsgs = 0;
    stor_batch_submit(f->env, b);
    assert_int_equal(stor_sync(f->env), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    stor_close(f->env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->out);
    free(f);
    return 0;
}

static struct qry_session *
session(struct fx *f, const char *token, const char *admin)
{
    struct qry_session_cfg cfg = {
        .stor = f->env, .token = token, .admin_token = admin, .info = info_fn, .slice_ms = 5};
    struct qry_session *s;
    cfg.limits.rows = 100000;
    assert_int_equal(qry_session_create(&s, &cfg, out_fn, f), 0);
    f->len = 0;
    if (f->out != NULL) {
        f->out[0] = '\0';
    }
    return s;
}

/* Feed everything, step until idle (or closed); returns the last step result. */
static int
talk(struct qry_session *s, const char *in, size_t len)
{
    size_t off = 0;
    int st;
    for (;;) {
        off += qry_session_feed(s, in + off, len - off);
        st = qry_session_step(s);
        if (st == QRY_STEP_CLOSE || (st == QRY_STEP_IDLE && off == len)) {
            return st;
        }
    }
}

static int
say(struct fx *f, struct qry_session *s, const char *in)
{
    f->len = 0;
    if (f->out != NULL) {
        f->out[0] = '\0';
    }
    return talk(s, in, strlen(in));
}

static const char *
last_line(const struct fx *f)
{
    const char *end = f->out + f->len - 1, *p = end;
    while (p > f->out && p[-1] != '\n') {
        p--;
    }
    return p;
}

static void
test_verbs(void **state)
{
    struct fx *f = *state;
    struct qry_session *s = session(f, NULL, NULL);
    say(f, s, "PING\n");
    assert_string_equal(f->out, "OK PONG\n");
    say(f, s, "ping\r\n");
    assert_string_equal(f->out, "OK PONG\n");
    say(f, s, "FROB x\n");
    assert_string_equal(f->out, "ERR VERB unknown verb 'FROB'; verbs: QUERY EXPLAIN FORMAT "
                                "WINDOWS EXPORTERS STATS FLOWLOG NFDUMP BACKUP PING HELP QUIT AUTH\n");
    say(f, s, "QUERY dstport: 22\n");
    assert_string_equal(f->out, "ERR PARSE col 9: expected a value after ':'\n");
    say(f, s, "QUERY dstport:22 | stats count, sum(bytes)\n");
    assert_prefix(f->out, "1500 225150000\nOK 1 rows 3000 scanned ");
    say(f, s, "FORMAT json\n");
    assert_string_equal(f->out, "OK format json\n");
    say(f, s, "QUERY srcport:1007 | fields srcaddr, instance-id, start\n");
    assert_prefix(f->out, "{\"srcaddr\":\"10.0.0.7\",\"instance-id\":\"OK \\\"x\\\"\\n\","
                          "\"start\":\"2025-11-22T08:00:06.990Z\"}\nOK 1 rows");
    say(f, s, "FORMAT csv\n");
    say(f, s, "QUERY srcport:1007 | fields instance-id, bytes\n");
    assert_prefix(f->out, "instance-id,bytes\n\"OK \"\"x\"\"\\x0a\",800\nOK 1 rows");
    say(f, s, "FORMAT text\n");
    say(f, s, "QUERY srcport:1007 | fields instance-id, bytes\n");
    assert_prefix(f->out, "OK\\x20\"x\"\\x0a 800\nOK 1 rows");
    say(f, s, "FORMAT xml\n");
    assert_string_equal(f->out, "ERR ARGS FORMAT takes text, json or csv\n");
    say(f, s, "STATS\n");
    assert_prefix(f->out, "stats 42\nOK 1 rows 0 scanned ");
    say(f, s, "EXPLAIN dstport:22 and srcaddr:10.0.0.0/24\n");
    assert_non_null(strstr(f->out, "pushdown dstport = 22\n"));
    assert_non_null(strstr(f->out, "pushdown srcaddr in 10.0.0.0/24\n"));
    size_t nl = 0;
    for (const char *c = f->out; *c != '\0'; c++) {
        nl += *c == '\n';
    }
    char ok[32];
    snprintf(ok, sizeof(ok), "OK %zu rows ", nl - 1); /* every line of the plan is a row */
    assert_prefix(last_line(f), ok);
    say(f, s, "WINDOWS\n");
    assert_prefix(f->out, "default 1763798400 600 ");
    assert_non_null(strstr(f->out, " 3000 0 "));
    say(f, s, "NFDUMP -o csv -I\n"); /* -o csv for this request only */
    assert_prefix(f->out, "flows,packets,bytes,first,last\n3000,");
    say(f, s, "NFDUMP -I proto 255\n");
    assert_prefix(f->out, "0 - - - -\n");
    say(f, s, "NFDUMP src as 64512\n");
    assert_string_equal(f->out, "ERR PARSE nfdump filter col 5 'as': AS numbers are not in "
                                "flowlog records\n");
    say(f, s, "HELP\n");
    assert_prefix(last_line(f), "OK 14 rows");
    /* BACKEND: local unless [clickhouse] url is set (tests/clickhouse/query_diff.c runs it). */
    say(f, s, "BACKEND\n");
    assert_string_equal(f->out, "OK backend local\n");
    say(f, s, "BACKEND clickhouse\n");
    assert_string_equal(f->out, "ERR UNAVAILABLE no ClickHouse configured ([clickhouse] url)\n");
    say(f, s, "BACKEND mysql\n");
    assert_string_equal(f->out, "ERR ARGS unknown backend 'mysql': local or clickhouse\n");
    say(f, s, "BACKEND LOCAL\n");
    assert_string_equal(f->out, "OK backend local\n");
    assert_int_equal(say(f, s, "QUIT\nPING\n"), QRY_STEP_CLOSE);
    assert_string_equal(f->out, "OK bye\n");
    qry_session_destroy(s);
}

static void
test_framing(void **state)
{
    struct fx *f = *state;
    struct qry_session *s = session(f, NULL, NULL);
    /* byte by byte */
    const char *in = "PI";
    talk(s, in, 2);
    assert_int_equal(f->len, 0);
    talk(s, "NG\nPING\n", 8);
    assert_string_equal(f->out, "OK PONG\nOK PONG\n");
    /* a line of exactly QRY_LINE_MAX bytes is read; one byte more is TOOLONG */
    size_t n = QRY_LINE_MAX + 1;
    char *big = malloc(n + 16);
    memset(big, ' ', n + 16);
    memcpy(big, "PING", 4);
    big[QRY_LINE_MAX] = '\n';
    f->len = 0;
    talk(s, big, QRY_LINE_MAX + 1);
    assert_string_equal(f->out, "OK PONG\n");
    big[QRY_LINE_MAX] = ' ';
    big[QRY_LINE_MAX + 1] = '\n';
    memcpy(big + QRY_LINE_MAX + 2, "PING\n", 5);
    f->len = 0;
    talk(s, big, QRY_LINE_MAX + 7);
    assert_string_equal(f->out, "ERR TOOLONG a request line is at most 65536 bytes\nOK PONG\n");
    /* a megabyte without a newline: one error, then the session still works */
    char *huge = malloc(1 << 20);
    memset(huge, 'x', 1 << 20);
    f->len = 0;
    talk(s, huge, 1 << 20);
    talk(s, "\nPING\n", 6);
    assert_string_equal(f->out, "ERR TOOLONG a request line is at most 65536 bytes\nOK PONG\n");
    f->len = 0;
    talk(s, "\n", 1);
    assert_string_equal(f->out, "ERR VERB empty request; try HELP\n");
    free(huge);
    free(big);
    qry_session_destroy(s);
}

static void
test_auth(void **state)
{
    struct fx *f = *state;
    struct qry_session *s = session(f, "sesame", "root");
    say(f, s, "QUERY *\n");
    assert_string_equal(f->out, "ERR AUTH authenticate first: AUTH <token>\n");
    say(f, s, "PING\n");
    assert_string_equal(f->out, "OK PONG\n");
    say(f, s, "AUTH wrong\n");
    assert_string_equal(f->out, "ERR AUTH wrong token\n");
    say(f, s, "AUTH sesame\n");
    assert_string_equal(f->out, "OK authenticated\n");
    say(f, s, "FLOWLOG CREATE web\n");
    assert_string_equal(f->out, "ERR DENIED FLOWLOG CREATE needs the admin token (AUTH <admin "
                                "token>)\n");
    say(f, s, "FLOWLOG DESCRIBE\n");
    assert_prefix(last_line(f), "OK ");
    say(f, s, "BACKUP /nonexistent/flowlog-backup\n");
    assert_string_equal(f->out, "ERR DENIED BACKUP needs the admin token (AUTH <admin token>)\n");
    say(f, s, "AUTH root\n");
    assert_string_equal(f->out, "OK authenticated (admin)\n");
    say(f, s, "BACKUP relative/dir\n");
    assert_prefix(f->out, "ERR ARGS the backup directory must be an absolute path");
    say(f, s, "BACKUP\n");
    assert_prefix(f->out, "ERR ARGS BACKUP takes one absolute directory");
    say(f, s, "BACKUP /a /b\n");
    assert_prefix(f->out, "ERR ARGS BACKUP takes one absolute directory");
    say(f, s,
        "FLOWLOG CREATE web window=60 traffic=reject description=\"web tier\" "
        "exporters=192.0.2.0/24 region=eu\n");
    assert_prefix(f->out, "OK flow log web created (id ");
    say(f, s, "FLOWLOG CREATE web\n");
    assert_prefix(f->out, "ERR EXISTS ");
    say(f, s, "FLOWLOG MODIFY web colour=red\n");
    assert_prefix(f->out, "ERR ARGS unknown key 'colour'");
    say(f, s, "FLOWLOG MODIFY web window=600\n"); /* stored windows would overlap */
    assert_prefix(f->out, "ERR ARGS the capture window of flow log web is 60 s and cannot change");
    say(f, s, "FLOWLOG MODIFY web description=\"web tier\"\n");
    assert_prefix(f->out, "OK flow log web modified");
    say(f, s, "FLOWLOG STOP web\n");
    assert_string_equal(f->out, "OK flow log web stopped\n");
    say(f, s, "FLOWLOG DESCRIBE web\n");
    assert_prefix(f->out, "web ");
    assert_non_null(strstr(f->out, " 60 reject on off 192.0.2.0/24 - - - - eu - - web\\x20tier "));
    say(f, s, "FLOWLOG DELETE web\n");
    assert_string_equal(f->out, "OK flow log web deleted\n");
    say(f, s, "FLOWLOG DESCRIBE web\n");
    assert_string_equal(f->out, "ERR NOTFOUND no flow log named 'web'\n");
    qry_session_destroy(s);
}

/* Three wrong tokens on one session: the third is answered and the session closes; the
 * failures are counted for the host. */
static void
test_auth_failures(void **state)
{
    struct fx *f = *state;
    struct qry_session_stats st;
    struct qry_session *s = session(f, "sesame", NULL);
    say(f, s, "AUTH a\n");
    assert_string_equal(f->out, "ERR AUTH wrong token\n");
    assert_int_equal(say(f, s, "AUTH b\n"), QRY_STEP_IDLE);
    qry_session_stats_get(s, &st);
    assert_int_equal(st.auth_failures, 2);
    assert_int_equal(st.auth_closed, 0);
    assert_int_equal(say(f, s, "AUTH c\nPING\n"), QRY_STEP_CLOSE);
    assert_string_equal(f->out, "ERR AUTH wrong token; closing after 3 failures\n");
    qry_session_stats_get(s, &st);
    assert_int_equal(st.auth_failures, 3);
    assert_int_equal(st.auth_closed, 1);
    qry_session_destroy(s);

    /* A right token in between does not reset the count: failures add up per session. */
    s = session(f, "sesame", "root");
    say(f, s, "AUTH a\nAUTH sesame\nAUTH b\n");
    assert_string_equal(f->out, "ERR AUTH wrong token\nOK authenticated\nERR AUTH wrong token\n");
    assert_int_equal(say(f, s, "AUTH c\n"), QRY_STEP_CLOSE);
    qry_session_destroy(s);

    /* Queries refused by the nesting bound are counted too. */
    s = session(f, NULL, NULL);
    char q[QRY_DEPTH_MAX + 32];
    memset(q, '(', sizeof(q));
    memcpy(q, "QUERY ", 6);
    q[sizeof(q) - 1] = '\n';
    talk(s, q, sizeof(q));
    assert_prefix(f->out, "ERR PARSE col 129: nesting too deep");
    qry_session_stats_get(s, &st);
    assert_int_equal(st.parse_limited, 1);
    assert_int_equal(st.auth_failures, 0);
    qry_session_destroy(s);
}

/* EXPORTERS FORGET: admin only, a host address and an optional port, the host's answer. */
static void
test_exporters_forget(void **state)
{
    struct fx *f = *state;
    struct qry_session *s = session(f, "sesame", "root");
    say(f, s, "AUTH sesame\n");
    say(f, s, "EXPORTERS FORGET 192.0.2.1\n");
    assert_string_equal(f->out, "ERR DENIED EXPORTERS FORGET needs the admin token (AUTH <admin "
                                "token>)\n");
    say(f, s, "EXPORTERS\n");
    assert_prefix(f->out, "exporters 42\nOK 1 rows 0 scanned ");
    say(f, s, "AUTH root\n");
    last_what[0] = '\0';
    say(f, s, "EXPORTERS FORGET 192.0.2.1\n");
    assert_string_equal(last_what, "forget 192.0.2.1 *");
    assert_prefix(f->out, "192.0.2.1 2055\n192.0.2.1 9995\nOK 2 rows 0 scanned ");
    say(f, s, "exporters forget 192.0.2.1 9995\n");
    assert_string_equal(last_what, "forget 192.0.2.1 9995");
    assert_prefix(f->out, "192.0.2.1 9995\nOK 1 rows 0 scanned ");
    say(f, s, "EXPORTERS FORGET 2001:0db8:0:0::1\n");
    assert_string_equal(last_what, "forget 2001:db8::1 *");
    assert_prefix(f->out, "2001:db8::1 4739\nOK 1 rows");
    say(f, s, "EXPORTERS FORGET 192.0.2.7 2055\n");
    assert_string_equal(f->out, "ERR NOTFOUND no exporter 192.0.2.7 port 2055\n");
    say(f, s, "EXPORTERS FORGET 203.0.113.66\n");
    assert_prefix(f->out, "ERR INTERNAL ");
    last_what[0] = '\0';
    static const char *const bad[] = {
        "EXPORTERS FORGET\n",
        "EXPORTERS FORGET 192.0.2.0/24\n",
        "EXPORTERS FORGET host.example\n",
        "EXPORTERS FORGET 192.0.2.1 0\n",
        "EXPORTERS FORGET 192.0.2.1 65536\n",
        "EXPORTERS FORGET 192.0.2.1 20x\n",
        "EXPORTERS FORGET 192.0.2.1 2055 x\n",
        "EXPORTERS FROB\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        say(f, s, bad[i]);
        assert_prefix(f->out, "ERR ARGS ");
    }
    assert_string_equal(last_what, ""); /* none reached the host */
    say(f, s, "FORMAT json\n");
    say(f, s, "EXPORTERS FORGET 192.0.2.1 2055\n");
    assert_prefix(f->out, "{\"exporter\":\"192.0.2.1\",\"port\":2055}\nOK 1 rows");
    say(f, s, "HELP\n");
    assert_non_null(strstr(f->out, "EXPORTERS FORGET <addr> [port]"));
    qry_session_destroy(s);

    /* No tokens at all: everyone is admin, as for FLOWLOG. */
    s = session(f, NULL, NULL);
    say(f, s, "EXPORTERS FORGET 192.0.2.1\n");
    assert_prefix(f->out, "192.0.2.1 2055\n");
    qry_session_destroy(s);
}

/*
 * WINDOWS and EXPLAIN stream (code review M14): 1,500 windows (a 60 s flow log over 25 hours,
 * which takes the default's place) come in chunks of at most 64 KiB plus a row, through a host that
 * refuses most offers, complete and in order; the rows and time limits apply.
 */
static void
test_stream_listing(void **state)
{
    struct fx *f = *state, g = {0};
    struct stor_cfg cfg;
    char msg[256];
    (void) f;
    snprintf(g.dir, sizeof(g.dir), "/tmp/flowlog-w-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    stor_cfg_default(&cfg);
    cfg.dir = g.dir;
    cfg.commit_ms = 20;
    cfg.partition_s = 2 * 86400; /* one partition file */
    assert_int_equal(stor_open(&g.env, &cfg, msg, sizeof(msg)), 0);
    struct qry_session *s = session(&g, NULL, NULL);
    say(&g, s, "FLOWLOG CREATE minute window=60\n");
    assert_prefix(g.out, "OK flow log minute created");
    struct stor_batch *b = stor_batch_get(g.env);
    for (size_t i = 0; i < 1500; i++) {
        struct flow_rec *r = &b->recs[i];
        memset(r, 0, sizeof(*r));
        uint8_t a[4] = {10, 1, (uint8_t) (i >> 8), (uint8_t) i};
        flow_addr_set_v4(r->srcaddr, a);
        /* One exporter per window: the writer retimes an exporter's records beyond
         * W_FANOUT_MAX open windows (code review M10). */
        uint8_t e[4] = {192, 0, (uint8_t) (i >> 8), (uint8_t) i};
        flow_addr_set_v4(r->exporter, e);
        r->end_ms = (uint64_t) (T0 + 60 * i) * 1000u;
        r->start_ms = r->end_ms;
        r->packets = 1;
        r->version = 10;
        r->present = FLOW_HAS_SRCADDR | FLOW_HAS_PACKETS;
    }
    b->n = 1500;
    b->nmsgs = 0;
    stor_batch_submit(g.env, b);
    assert_int_equal(stor_sync(g.env), 0);
    /* Sealed now, so no background seal changes the listing between two runs. */
    assert_int_equal(stor_seal_due(g.env, UINT64_MAX / 2, true), 0);

    say(&g, s, "FORMAT json\nWINDOWS\nFORMAT text\n"); /* about 190 KB of rows */
    assert_non_null(strstr(g.out, "\nOK 1500 rows"));
    assert_true(g.biggest <= 65536 + 256);
    say(&g, s, "WINDOWS\n");
    assert_prefix(last_line(&g), "OK 1500 rows");
    char *want = strdup(g.out);
    g.refuse = 5;
    say(&g, s, "WINDOWS\n");
    g.refuse = 0;
    assert_int_equal(strchr(last_line(&g), ' ') - last_line(&g), 2);
    assert_memory_equal(want, g.out, (size_t) (strstr(want, "OK 1500") - want));
    free(want);

    say(&g, s, "EXPLAIN *\n");
    assert_prefix(last_line(&g), "OK ");
    assert_non_null(strstr(g.out, "total windows=1500 blocks="));
    /* The estimate, summed over hour slices, equals one stor_scan_plan over the range. */
    struct stor_scan sc = {.from_ms = 0, .to_ms = UINT64_MAX, .flowlog = -1};
    struct stor_scan_stats st;
    struct stor_snap *snap;
    char scan[256];
    assert_int_equal(stor_snap_begin(g.env, &snap), 0);
    assert_int_equal(stor_scan_plan(snap, &sc, &st), 0);
    stor_snap_end(snap);
    snprintf(scan, sizeof(scan), "scan windows=%llu blocks=%llu skipped=%llu records-to-read=%llu ",
             (unsigned long long) st.windows, (unsigned long long) st.blocks,
             (unsigned long long) st.blocks_skipped, (unsigned long long) st.records);
    assert_int_equal(st.windows, 1500);
    assert_non_null(strstr(g.out, scan));
    assert_true(g.biggest <= 65536 + 256);
    qry_session_destroy(s);

    struct qry_session_cfg scfg = {.stor = g.env, .limits = {.rows = 1000}};
    assert_int_equal(qry_session_create(&s, &scfg, out_fn, &g), 0);
    say(&g, s, "WINDOWS\n");
    assert_string_equal(last_line(&g), "ERR LIMIT rows: more than 1000 rows (narrow the range)\n");
    say(&g, s, "WINDOWS since 1763798400 until 1763802000\n"); /* one hour: 60 windows */
    assert_prefix(last_line(&g), "OK 60 rows");
    qry_session_destroy(s);

    stor_close(g.env);
    snprintf(msg, sizeof(msg), "rm -rf '%s'", g.dir);
    assert_int_equal(system(msg), 0);
    free(g.out);
}

/*
 * Names and labels of every flow log reach queries and WINDOWS, not only the first 64 (code
 * review M5, query side): 70 flow logs, one exporter each; the records of the 70th.
 */
static void
test_many_flowlogs(void **state)
{
    struct fx g = {0};
    struct stor_cfg cfg;
    char msg[256], req[160];
    (void) state;
    snprintf(g.dir, sizeof(g.dir), "/tmp/flowlog-n-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    stor_cfg_default(&cfg);
    cfg.dir = g.dir;
    cfg.commit_ms = 20;
    cfg.max_flowlogs = 100;
    assert_int_equal(stor_open(&g.env, &cfg, msg, sizeof(msg)), 0);
    struct qry_session *s = session(&g, NULL, NULL);
    for (int i = 1; i <= 70; i++) {
        snprintf(req, sizeof(req), "FLOWLOG CREATE log%d exporters=192.0.2.%d/32 region=r%d\n", i,
                 i, i);
        say(&g, s, req);
        assert_prefix(g.out, "OK flow log");
    }
    struct stor_batch *b = stor_batch_get(g.env);
    static const uint8_t e[4] = {192, 0, 2, 70};
    for (size_t i = 0; i < 100; i++) {
        struct flow_rec *r = &b->recs[i];
        memset(r, 0, sizeof(*r));
        flow_addr_set_v4(r->exporter, e);
        r->srcport = (uint16_t) i;
        r->end_ms = (uint64_t) T0 * 1000u + i;
        r->start_ms = r->end_ms;
        r->version = 10;
        r->present = FLOW_HAS_SRCPORT;
    }
    b->n = 100;
    b->nmsgs = 0;
    stor_batch_submit(g.env, b);
    assert_int_equal(stor_sync(g.env), 0);
    say(&g, s, "QUERY flowlog:log70 region:r70 | stats count\n");
    assert_prefix(g.out, "100\nOK 1 rows");
    say(&g, s, "QUERY * | stats count by flowlog, region\n");
    assert_prefix(g.out, "log70 r70 100\nOK 1 rows");
    say(&g, s, "WINDOWS\n");
    assert_prefix(g.out, "log70 1763798400 600 ");
    qry_session_destroy(s);
    stor_close(g.env);
    snprintf(msg, sizeof(msg), "rm -rf '%s'", g.dir);
    assert_int_equal(system(msg), 0);
    free(g.out);
}

/* Back-pressure: refuse 4 offers in 5; the output must be complete and in order. */
static void
test_backpressure(void **state)
{
    struct fx *f = *state;
    struct qry_session *s = session(f, NULL, NULL);
    say(f, s, "QUERY * | fields srcport\n");
    char *want = strdup(f->out);
    size_t lines = 0;
    for (char *p = want; *p; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, 3001);
    f->refuse = 5;
    say(f, s, "QUERY * | fields srcport\n");
    f->refuse = 0;
    char *a = strstr(want, "OK 3000 rows"), *b = strstr(f->out, "OK 3000 rows");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a - want, b - f->out);
    assert_memory_equal(want, f->out, (size_t) (a - want));
    free(want);
    /* the rows limit */
    qry_session_destroy(s);
    struct qry_session_cfg cfg = {.stor = f->env, .limits = {.rows = 10}};
    assert_int_equal(qry_session_create(&s, &cfg, out_fn, f), 0);
    say(f, s, "QUERY *\n");
    assert_string_equal(last_line(f), "ERR LIMIT rows: more than 10 rows (add a limit)\n");
    say(f, s, "QUERY * | limit 10\n");
    assert_prefix(last_line(f), "OK 10 rows");
    qry_session_destroy(s);
    cfg.limits = (struct qry_limits){.mem_bytes = 100000};
    assert_int_equal(qry_session_create(&s, &cfg, out_fn, f), 0);
    say(f, s, "QUERY * | sort bytes\n");
    assert_prefix(last_line(f), "ERR LIMIT memory: ");
    say(f, s, "QUERY * | sort bytes desc | limit 3 | fields bytes\n");
    assert_prefix(f->out, "300000\n299900\n299800\nOK 3 rows");
    qry_session_destroy(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_auth_failures),
        cmocka_unit_test(test_exporters_forget),
        cmocka_unit_test(test_stream_listing),
        cmocka_unit_test(test_many_flowlogs),
        cmocka_unit_test(test_backpressure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
