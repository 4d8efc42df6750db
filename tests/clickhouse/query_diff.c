/* SPDX-License-Identifier: MIT */
/*
 * Differential test of BACKEND clickhouse's SQL against the local engine, on a real
 * clickhouse-server (tests/clickhouse/query_diff.sh starts it and creates the contract's
 * tables; argv[1] is its HTTP port on 127.0.0.1).
 *
 * Random records go into a temporary store and are sealed; the stored records (read back,
 * so both sides hold the same data) are inserted into flows_local. Then a few hundred
 * generated queries (field terms, CIDRs, `in`, comparisons, globs, keywords, regexes, `not`,
 * `or`, a time range) each run on the local engine and, translated by qry__sql_build, on
 * ClickHouse, with one of these tails: `stats count, sum(bytes), sum(packets)`, `top N f`,
 * `stats count by f`, `timechart 10m count by action`, `sort ... | limit` with a unique key.
 * The text of the rows must be equal (ClickHouse's TabSeparated with \N read as '-', and
 * timechart's milliseconds as the seconds the text format shows).
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "backend_int.h"

#define T0       1763798400u
#define NRECS    3000
#define NQUERIES 400

static uint64_t seed = 4242;
static unsigned http_port;

static uint32_t
rnd(uint32_t n)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (seed >> 33) % n;
}

/* ---- HTTP to ClickHouse ---- */

static size_t
grow(char *p, size_t size, size_t n, void *arg)
{
    struct qry__buf *b = arg;
    qry__buf_put(b, p, size * n);
    return size * n;
}

/* POST body; the answer in out (NUL-terminated). 0, or -1 with the server's message. */
static int
ch_post(const char *body, size_t len, struct qry__buf *out)
{
    char url[64];
    long status = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", http_port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    qry__buf_put(out, "", 1);
    out->len--;
    return rc == CURLE_OK && status == 200 ? 0 : -1;
}

/* ---- the data ---- */

static void
mk(struct flow_rec *r, uint32_t i)
{
    static const uint16_t ports[] = {22, 53, 80, 443, 3389, 8080, 123, 0};
    static const uint8_t protos[] = {6, 17, 1};
    memset(r, 0, sizeof(*r));
    uint8_t a[4] = {10, 0, (uint8_t) rnd(4), (uint8_t) rnd(20)};
    uint8_t b[4] = {172, 16, (uint8_t) rnd(3), (uint8_t) rnd(30)};
    uint8_t e[4] = {192, 0, 2, (uint8_t) (1 + rnd(2))};
    flow_addr_set_v4(r->srcaddr, a);
    flow_addr_set_v4(r->exporter, e);
    if (rnd(5) == 0) {
        static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
        memcpy(r->dstaddr, v6, 16);
        r->dstaddr[5] = (uint8_t) rnd(2);
        r->dstaddr[15] = (uint8_t) rnd(30);
    } else {
        flow_addr_set_v4(r->dstaddr, b);
    }
    r->srcport = (uint16_t) (1024 + i); /* unique 5-tuples: storage never merges two */
    r->dstport = ports[rnd(8)];
    r->protocol = protos[rnd(3)];
    r->packets = 1 + rnd(1000);
    r->bytes = r->packets * (40 + rnd(1400));
    r->end_ms = (uint64_t) (T0 + rnd(1800)) * 1000u + rnd(1000);
    r->start_ms = r->end_ms - rnd(5000);
    r->version = 10;
    r->exporter_port = 2055;
    r->action = (uint8_t) rnd(2);
    r->log_status = (uint8_t) rnd(3);
    r->present = FLOW_HAS_SRCADDR | FLOW_HAS_DSTADDR | FLOW_HAS_SRCPORT | FLOW_HAS_PROTOCOL |
                 FLOW_HAS_PACKETS | FLOW_HAS_BYTES;
    if (rnd(10) != 0) {
        r->present |= FLOW_HAS_DSTPORT;
    } else {
        r->dstport = 0;
    }
    if (rnd(3) != 0) {
        r->present |= FLOW_HAS_INSTANCE;
        snprintf(r->instance_id, FLOW_ID_MAX, "%s-%u", rnd(2) ? "sag" : "Sag", rnd(5));
    }
    if (rnd(3) == 0) {
        r->present |= FLOW_HAS_ACCOUNT;
        snprintf(r->account_id, FLOW_ID_MAX, "acct-%u", rnd(4));
    }
    if (rnd(3) == 0) {
        r->present |= FLOW_HAS_RTT;
        r->rtt_us = 1 + rnd(5000);
    }
    if (rnd(2) == 0) {
        r->present |= FLOW_HAS_DIRECTION | FLOW_HAS_TOS;
        r->direction = (uint8_t) rnd(3);
        r->tos = (uint8_t) (rnd(2) * 4);
    }
}

static void
put_fixed(struct qry__buf *b, const uint8_t a[16])
{
    qry__buf_puts(b, "'");
    for (int i = 0; i < 16; i++) {
        qry__buf_printf(b, "\\x%02x", a[i]);
    }
    qry__buf_puts(b, "'");
}

static void
put_row(struct qry__buf *b, const struct flow_rec *r)
{
    time_t w = (time_t) r->window;
    struct tm tm;
    gmtime_r(&w, &tm);
    qry__buf_printf(b, "('%04d-%02d-%02d', %" PRIu32 ", 600, 'default', %" PRIu64 ", %" PRIu64 ", ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, r->window, r->start_ms,
                    r->end_ms);
    put_fixed(b, r->srcaddr);
    qry__buf_puts(b, ", ");
    put_fixed(b, r->dstaddr);
    qry__buf_printf(b,
                    ", %u, %u, %u, %" PRIu64 ", %" PRIu64 ", %u, %u, %" PRIu32 ", %" PRIu32
                    ", %u, %u, %u, 0, %" PRIu32 ", %" PRIu32 ", %u, %" PRIu32 ", ",
                    r->srcport, r->dstport, r->protocol, r->packets, r->bytes, r->tcp_flags, r->tos,
                    r->inport, r->outport, r->direction, r->action, r->log_status, r->sampling,
                    r->rtt_us, r->version, r->domain);
    put_fixed(b, r->exporter);
    qry__buf_printf(b, ", %u, %" PRIu32 ", %u, ", r->exporter_port, r->present, r->flags);
    qry__sql_str(b, r->instance_id, strlen(r->instance_id));
    qry__buf_puts(b, ", ");
    qry__sql_str(b, r->snid, strlen(r->snid));
    qry__buf_puts(b, ", ");
    qry__sql_str(b, r->account_id, strlen(r->account_id));
    qry__buf_puts(b, ", 1)");
}

/* ---- the local store ---- */

static struct stor_env *
store_open(char *dir)
{
    struct stor_env *env = NULL;
    struct stor_cfg cfg;
    char msg[256];
    if (mkdtemp(dir) == NULL) {
        return NULL;
    }
    stor_cfg_default(&cfg);
    cfg.dir = dir;
    cfg.block_records = 64;
    cfg.commit_ms = 20;
    if (stor_open(&env, &cfg, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "stor_open: %s\n", msg);
        return NULL;
    }
    for (uint32_t i = 0; i < NRECS;) {
        struct stor_batch *b = stor_batch_get(env);
        size_t n = 0;
        for (; n < b->cap && i < NRECS; n++, i++) {
            mk(&b->recs[n], i);
        }
        b->n = n;
        b->nmsgs = 0;
        stor_batch_submit(env, b);
    }
    if (stor_sync(env) != 0 || stor_seal_due(env, (uint64_t) (T0 + 86400) * 1000u, true) != 0) {
        stor_close(env);
        return NULL;
    }
    return env;
}

/* Every stored record into flows_local, 500 a statement. Returns the count, -1 on failure. */
static long
load(struct stor_env *env)
{
    struct stor_snap *snap;
    struct stor_iter *it;
    struct stor_scan scan = {.from_ms = 0, .to_ms = UINT64_MAX, .flowlog = -1};
    const struct flow_rec *r;
    struct qry__buf b = {0}, out = {0};
    size_t n, rows = 0, inbody = 0;
    int rc = 0;
    if (stor_snap_begin(env, &snap) != 0 || stor_iter_open(snap, &scan, &it) != 0) {
        return -1;
    }
    while (rc == 0 && stor_iter_next(it, &r, &n) == 1) {
        for (size_t k = 0; k < n && rc == 0; k++, rows++) {
            if (inbody == 0) {
                qry__buf_puts(&b, "INSERT INTO flowlog.flows_local VALUES ");
            }
            qry__buf_puts(&b, inbody > 0 ? ", " : "");
            put_row(&b, &r[k]);
            if (++inbody == 500) {
                rc = ch_post(b.p, b.len, &out);
                b.len = inbody = 0;
            }
        }
    }
    if (rc == 0 && inbody > 0) {
        rc = ch_post(b.p, b.len, &out);
    }
    if (rc != 0) {
        fprintf(stderr, "insert: %s\n", out.p);
    }
    stor_iter_close(it);
    stor_snap_end(snap);
    qry__buf_free(&b);
    qry__buf_free(&out);
    return rc == 0 ? (long) rows : -1;
}

/* The local engine's rows of q in fmt (status line excluded) into out; 0 or its error. */
static int
run_local(struct stor_env *env, const struct qry *q, enum qry_fmt fmt, struct qry__buf *out)
{
    struct stor_snap *snap;
    struct qry_exec *ex;
    const char *d;
    size_t n;
    int rc = stor_snap_begin(env, &snap);
    if (rc != 0) {
        return rc;
    }
    rc = qry_exec_open(&ex, env, q, snap, fmt, NULL, NULL);
    while (rc == 0 && (rc = qry_exec_next(ex, 0, &d, &n)) == 1) {
        qry__buf_put(out, d, n);
        rc = 0;
    }
    qry_exec_close(ex);
    stor_snap_end(snap);
    qry__buf_put(out, "", 1);
    out->len--;
    return rc;
}

static char churl[64];
static struct qry_ch_cfg chcfg = {.database = "flowlog"};

/* The same through BACKEND clickhouse's executor; 0 or its error (message in msg). */
static int
run_ch(const struct qry *q, enum qry_fmt fmt, const struct qry_limits *lim, bool cancel_now,
       struct qry__buf *out, char *msg, size_t cap)
{
    struct qry__chexec *x;
    struct qry_error err = {0};
    atomic_bool cancel;
    const char *d;
    size_t n;
    atomic_init(&cancel, false);
    int rc = qry__chexec_open(&x, &chcfg, q, fmt, lim, &cancel, false, &err);
    if (rc != 0) {
        snprintf(msg, cap, "%s", err.msg);
        return rc;
    }
    atomic_store(&cancel, cancel_now);
    while ((rc = qry__chexec_next(x, 20, &d, &n)) == 1) {
        qry__buf_put(out, d, n);
    }
    snprintf(msg, cap, "%s", qry__chexec_errmsg(x));
    qry__chexec_close(x);
    qry__buf_put(out, "", 1);
    out->len--;
    return rc;
}

/* ---- the queries ---- */

static const char *const terms[] = {
    "dstport:22",
    "dstport:443",
    "dstport in (22, 53, 80)",
    "dstport != 53",
    "dstport > 1000",
    "dstport:*",
    "srcport < 1500",
    "srcport:10*",
    "protocol:tcp",
    "protocol:udp",
    "not protocol:icmp",
    "bytes > 50k",
    "packets <= 10",
    "srcaddr:10.0.0.0/8",
    "srcaddr:10.0.1.0/24",
    "dstaddr:172.16.0.0/16",
    "dstaddr:2001:db8::/32",
    "dstaddr:2001:db8:0:0:1::/80",
    "exporter:192.0.2.1",
    "10.0.2.0/24",
    "2001:db8::/48",
    "action:REJECT",
    "action:accept",
    "log-status:OK",
    "log-status:NODATA",
    "direction:in",
    "direction:*",
    "direction:o*",
    "tos:4",
    "instance-id:sag-1",
    "instance-id:Sag-*",
    "instance-id:*",
    "sag-3",
    "SAG-2*",
    "account-id:acct-1",
    "acct-*",
    "REJECT",
    "tcp",
    "443",
    "udp",
    "nodata",
    "instance-id ~ /^sag-[0-3]$/",
    "instance-id ~ /(?i)^SAG-[12]/",
    "account-id ~ /acct-(1|2)/",
    "srcaddr ~ /^10\\.0\\.1\\./",
    "action ~ /REJ/",
    "protocol ~ /^(6|17)$/",
    "rtt > 1000",
    "rtt:*",
    "10.0.1.*",
    "172.16.*",
    "start >= 1763799000",
    "end < 1763799600",
    "1763798999",
    "17637990*",
    "*:db8:*",
    "?0",
    "log-status ~ /DATA$/",
};

static void
gen(char *q, size_t cap)
{
    size_t n = 1 + rnd(3), len = 0;
    q[0] = '\0';
    if (rnd(4) == 0) {
        len += (size_t) snprintf(q, cap, "since %u until %u ", T0 + 60 * rnd(10),
                                 T0 + 900 + 60 * rnd(20));
    }
    for (size_t i = 0; i < n && len < cap; i++) {
        static const char *const ops[] = {" and ", " or ", " and not "};
        const char *t = terms[rnd(sizeof(terms) / sizeof(terms[0]))];
        len += (size_t) snprintf(q + len, cap - len, "%s%s%s%s", i > 0 ? ops[rnd(3)] : "",
                                 rnd(6) == 0 ? "not " : "", i == 1 && n == 3 ? "(" : "", t);
    }
    if (n == 3) {
        len += (size_t) snprintf(q + len, cap - len, ")");
    }
    static const char *const tails[] = {
        " | stats count, sum(bytes), sum(packets), dc(srcaddr)",
        " | top 5 dstport",
        " | top 3 protocol, action by flows",
        " | stats count, avg(bytes), max(rtt) by instance-id",
        " | timechart 10m count by action",
        " | timechart 5m sum(bytes)",
        " | sort srcport desc | limit 7 | fields srcport, dstaddr, bytes, instance-id",
        " | sort srcport | limit 20 | stats sum(bytes), min(end)",
        " | top 4 dstaddr by packets | sort dstaddr",
    };
    snprintf(q + len, cap - len, "%s", tails[rnd(sizeof(tails) / sizeof(tails[0]))]);
}

static int nonempty; /* queries whose rows say more than "nothing matched" */

/* One query on both backends, in fmt: 1 when the output is the same, 0 when not (printed). */
static int
one(struct stor_env *env, const char *text, enum qry_fmt fmt)
{
    struct qry *q = NULL;
    struct qry_error err = {0};
    struct qry__buf local = {0}, ch = {0};
    char msg[512] = "";
    int ok = 0, rc = -1;
    if (qry_compile(&q, text, strlen(text), (uint64_t) T0 * 1000u, &err) != 0) {
        fprintf(stderr, "compile '%s': %s\n", text, err.msg);
        return 0;
    }
    if (run_local(env, q, fmt, &local) == 0) {
        rc = run_ch(q, fmt, NULL, false, &ch, msg, sizeof(msg));
        ok = rc == 0 && strcmp(local.p, ch.p) == 0;
        struct qry__buf t = {0};
        if (run_local(env, q, QRY_FMT_TEXT, &t) == 0) {
            nonempty += t.len > 0 && strncmp(t.p, "0 ", 2) != 0 && t.p[0] != '-';
        }
        qry__buf_free(&t);
    }
    if (!ok) {
        fprintf(stderr, "DIFF '%s' format %d (rc %d %s)\n--- local\n%s--- clickhouse\n%s\n", text,
                (int) fmt, rc, msg, local.p != NULL ? local.p : "", ch.p != NULL ? ch.p : "");
    }
    qry__buf_free(&local);
    qry__buf_free(&ch);
    qry_free(q);
    return ok;
}

/* Refusals, limits, cancel and server errors: each gives its error. 1 when all do. */
static int
errors(void)
{
    static const struct {
        const char *q;
        int rc;
        const char *msg;
    } cases[] = {
        {"instance-id ~ /(?<=s)ag/", QRY_E_PARSE, "look-around"},
        {"instance-id ~ /(s)\\1/", QRY_E_PARSE, "back-references"},
        {"/REJECT/", QRY_E_PARSE, "a /regex/ on the whole text line"},
        {"region:x", QRY_E_PARSE, "'region' is a flow-log label"},
        {"*", QRY_E_LIMIT, "Code: 396"}, /* max_result_rows: ClickHouse stops it */
    };
    struct qry_limits lim = {.rows = 10};
    int good = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qry *q = NULL;
        struct qry_error err;
        struct qry__buf out = {0};
        char msg[512];
        qry_compile(&q, cases[i].q, strlen(cases[i].q), (uint64_t) T0 * 1000u, &err);
        int rc = run_ch(q, QRY_FMT_TEXT, &lim, false, &out, msg, sizeof(msg));
        if (rc != cases[i].rc || strstr(msg, cases[i].msg) == NULL) {
            fprintf(stderr, "'%s': rc %d '%s', want %d '%s'\n", cases[i].q, rc, msg, cases[i].rc,
                    cases[i].msg);
            good = 0;
        }
        if (i == 0) {
            rc = run_ch(q, QRY_FMT_TEXT, NULL, true, &out, msg, sizeof(msg)); /* translates */
        }
        qry__buf_free(&out);
        qry_free(q);
    }
    /* A client gone: the request is dropped with QRY_E_CANCELED. */
    struct qry *q = NULL;
    struct qry_error err;
    struct qry__buf out = {0};
    char msg[512];
    qry_compile(&q, "*", 1, (uint64_t) T0 * 1000u, &err);
    int rc = run_ch(q, QRY_FMT_TEXT, NULL, true, &out, msg, sizeof(msg));
    if (rc != QRY_E_CANCELED) {
        fprintf(stderr, "cancel: rc %d '%s'\n", rc, msg);
        good = 0;
    }
    /* A server error (no such database) is -EIO with ClickHouse's message. */
    chcfg.database = "nosuchdb";
    out.len = 0;
    rc = run_ch(q, QRY_FMT_TEXT, NULL, false, &out, msg, sizeof(msg));
    chcfg.database = "flowlog";
    if (rc != -EIO || strstr(msg, "clickhouse: Code: 81") == NULL) {
        fprintf(stderr, "server error: rc %d '%s'\n", rc, msg);
        good = 0;
    }
    qry__buf_free(&out);
    qry_free(q);
    return good;
}

/* ---- through the line protocol: BACKEND, QUERY, EXPLAIN ---- */

static int
sink(void *arg, const char *data, size_t len)
{
    qry__buf_put(arg, data, len);
    return 0;
}

/* Feed the request lines and step until the session is idle; the output in out. */
static void
talk(struct qry_session *s, const char *in, struct qry__buf *out)
{
    out->len = 0;
    qry_session_feed(s, in, strlen(in));
    while (qry_session_step(s) == QRY_STEP_MORE) {
    }
    qry__buf_put(out, "", 1);
    out->len--;
}

/* The output without its status line's "N scanned M ms" (they differ by backend). */
static void
strip_status(struct qry__buf *b)
{
    char *ok = b->len > 0 ? strstr(b->p, "OK ") : NULL;
    char *sc = ok != NULL ? strstr(ok, " rows ") : NULL;
    if (sc != NULL) {
        sc += 5;
        *sc = '\0';
        b->len = (size_t) (sc - b->p);
    }
}

static int
session(struct stor_env *env)
{
    static const char *const qs[] = {
        "QUERY dstport in (22, 443) and not 10.0.1.0/24 | top 5 srcaddr by bytes\n",
        "QUERY SAG-2* | timechart 10m count by protocol\n",
        "QUERY instance-id ~ /(?i)^sag-1/ | stats count, sum(bytes), avg(packets)\n",
    };
    struct qry_session_cfg cfg = {.stor = env, .clickhouse = chcfg};
    struct qry_session *s;
    struct qry__buf a = {0}, b = {0};
    int good = qry_session_create(&s, &cfg, sink, &a) == 0;
    for (size_t i = 0; good && i < sizeof(qs) / sizeof(qs[0]); i++) {
        struct qry__buf l = {0}, c = {0};
        talk(s, "BACKEND local\n", &a);
        talk(s, qs[i], &a);
        qry__buf_put(&l, a.p, a.len + 1);
        talk(s, "BACKEND clickhouse\n", &a);
        good = strcmp(a.p, "OK backend clickhouse\n") == 0;
        talk(s, qs[i], &a);
        qry__buf_put(&c, a.p, a.len + 1);
        strip_status(&l);
        strip_status(&c);
        if (!good || strcmp(l.p, c.p) != 0 || strstr(l.p, "\nOK ") == NULL) {
            fprintf(stderr, "session %s--- local\n%s\n--- clickhouse\n%s\n", qs[i], l.p, c.p);
            good = 0;
        }
        qry__buf_free(&l);
        qry__buf_free(&c);
    }
    talk(s, "EXPLAIN dstport:22 | top 3 srcaddr\n", &a);
    if (strncmp(a.p, "backend clickhouse\nsql SELECT ", 30) != 0 ||
        strstr(a.p, "\nOK 2 rows") == NULL) {
        fprintf(stderr, "EXPLAIN: %s\n", a.p);
        good = 0;
    }
    talk(s, "QUERY /REJECT/\n", &a);
    if (strncmp(a.p, "ERR PARSE col 1: a /regex/ on the whole text line", 48) != 0) {
        fprintf(stderr, "QUERY /REJECT/: %s\n", a.p);
        good = 0;
    }
    qry_session_destroy(s);
    qry__buf_free(&a);
    qry__buf_free(&b);
    return good;
}

int
main(int argc, char **argv)
{
    char dir[] = "/tmp/flowlog-chq-XXXXXX", q[1024], cmd[128];
    int agree = 0;
    if (argc < 2 || (http_port = (unsigned) atoi(argv[1])) == 0) {
        fprintf(stderr, "usage: query_diff HTTP_PORT [QUERY...]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(churl, sizeof(churl), "http://127.0.0.1:%u/", http_port);
    chcfg.url = churl;
    struct stor_env *env = store_open(dir);
    long rows = env != NULL ? load(env) : -1;
    if (rows < NRECS) {
        fprintf(stderr, "load: %ld rows\n", rows);
        return 1;
    }
    int nq = argc > 2 ? argc - 2 : NQUERIES;
    for (int i = 0; i < nq; i++) {
        if (argc > 2) {
            snprintf(q, sizeof(q), "%s", argv[2 + i]);
        } else {
            gen(q, sizeof(q));
        }
        agree += one(env, q, (enum qry_fmt) rnd(3));
    }
    /* Every record, in many chunks and slices (about 1 MB of JSON). */
    int errs_ok = argc > 2 || (one(env, "* | sort srcport", QRY_FMT_JSON) &&
                               one(env, "* | sort srcport desc | fields start, end, exporter, tos",
                                   QRY_FMT_CSV) &&
                               errors() && session(env));
    printf("%d of %d queries agree over %ld records; %d matched some\n", agree, nq, rows, nonempty);
    stor_close(env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        return 1;
    }
    curl_global_cleanup();
    /* Most generated queries must match records, or the comparison says little. */
    return agree == nq && errs_ok && (argc > 2 || nonempty >= nq / 3) ? 0 : 1;
}
