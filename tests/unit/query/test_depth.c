/* SPDX-License-Identifier: MIT */
/*
 * Hostile query shapes (code review C1): every query is compiled, explained and evaluated on
 * a thread whose stack is as large as a libuv threadpool thread's (8 MiB, or RLIMIT_STACK when
 * that is smaller), as flowlogd runs them. Deep nesting is refused with the column of the
 * first token past QRY_DEPTH_MAX; long and/or chains are legal, compile into one n-ary node
 * and evaluate without recursion; too many terms are refused by QRY_NODES_MAX.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "qry_int.h"

#define NOW                 1763798400000ull
#define UV_THREADPOOL_STACK (8u << 20)

/* The stack size libuv 1.44 gives its threadpool threads. */
static size_t
pool_stack_size(void)
{
    struct rlimit lim;
    size_t size = UV_THREADPOOL_STACK;
    if (getrlimit(RLIMIT_STACK, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < size && lim.rlim_cur >= (1u << 20)) {
        size = (size_t) lim.rlim_cur;
    }
    return size;
}

struct job {
    const char *text;
    size_t len;
    int rc;
    struct qry_error err;
    int matched; /* qry__match on the test record, when it compiled */
    char explain[1024];
    double ms;
};

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void *
run_job(void *arg)
{
    struct job *j = arg;
    struct qry *q = NULL;
    struct qry__names nm = {0};
    struct flow_rec r = {0};
    char line[4096];
    double t0 = now_ms();

    r.dstport = 4000;
    r.srcport = 7;
    r.protocol = 6;
    r.present = FLOW_HAS_SRCPORT | FLOW_HAS_DSTPORT | FLOW_HAS_PROTOCOL;
    j->matched = -2;
    j->rc = qry_compile(&q, j->text, j->len, NOW, &j->err);
    if (j->rc == 0) {
        pcre2_match_data *md = pcre2_match_data_create(4, NULL);
        j->matched = qry__match(q, q->expr, &r, &nm, md, line, sizeof(line));
        qry__node_text(q->expr, j->explain, sizeof(j->explain));
        pcre2_match_data_free(md);
    }
    qry_free(q);
    j->ms = now_ms() - t0;
    return NULL;
}

/* Compile and evaluate text on a thread with the threadpool's stack. */
static void
on_pool_stack(struct job *j)
{
    pthread_attr_t attr;
    pthread_t t;
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, pool_stack_size()), 0);
    assert_int_equal(pthread_create(&t, &attr, run_job, j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&attr);
}

static char *
repeat(const char *head, const char *unit, size_t n, const char *mid, const char *tail, size_t *len)
{
    size_t cap = strlen(head) + n * (strlen(unit) + strlen(tail)) + strlen(mid) + 1;
    char *s = malloc(cap);
    size_t o = 0;
    assert_non_null(s);
    o += (size_t) snprintf(s + o, cap - o, "%s", head);
    for (size_t i = 0; i < n; i++) {
        o += (size_t) snprintf(s + o, cap - o, "%s", unit);
    }
    o += (size_t) snprintf(s + o, cap - o, "%s", mid);
    for (size_t i = 0; i < n; i++) {
        o += (size_t) snprintf(s + o, cap - o, "%s", tail);
    }
    *len = o;
    return s;
}

static void
expect_too_deep(struct job *j, int col)
{
    if (j->rc != QRY_E_PARSE || j->err.col != col || strcmp(j->err.msg, "nesting too deep") != 0) {
        fail_msg("got rc %d col %d '%s'; want col %d 'nesting too deep'", j->rc, j->err.col,
                 j->err.msg, col);
    }
}

static void
test_parens(void **state)
{
    (void) state;
    size_t len;
    /* 32,000 '(' + a word + 32,000 ')': a legal 64 KiB request line. */
    char *s = repeat("", "(", 32000, "x", ")", &len);
    struct job j = {.text = s, .len = len};
    assert_true(len < QRY_LINE_MAX);
    on_pool_stack(&j);
    expect_too_deep(&j, QRY_DEPTH_MAX + 1);
    free(s);

    /* At the limit it compiles and matches ("4000" is a keyword that matches dstport). */
    s = repeat("", "(", QRY_DEPTH_MAX, "4000", ")", &len);
    j = (struct job){.text = s, .len = len};
    on_pool_stack(&j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.matched, 1);
    free(s);
}

static void
test_not_chain(void **state)
{
    (void) state;
    size_t len;
    char *s = repeat("", "not ", 16000, "x", "", &len);
    struct job j = {.text = s, .len = len};
    on_pool_stack(&j);
    expect_too_deep(&j, QRY_DEPTH_MAX * 4 + 1);
    free(s);

    /* Nesting counts '(' and 'not' together. */
    s = repeat("", "not (", QRY_DEPTH_MAX, "x", ")", &len);
    j = (struct job){.text = s, .len = len};
    on_pool_stack(&j);
    expect_too_deep(&j, (QRY_DEPTH_MAX / 2) * 5 + 1);
    free(s);

    /* 128 levels of 'not': an even number, so the record still matches. */
    s = repeat("", "not ", QRY_DEPTH_MAX, "dstport:4000", "", &len);
    j = (struct job){.text = s, .len = len};
    on_pool_stack(&j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.matched, 1);
    free(s);
}

/* A chain of n terms "dstport:1 <op> dstport:2 <op> ..."; the record has dstport 4000. */
static char *
chain(size_t n, const char *op, size_t *len)
{
    size_t cap = n * (12 + strlen(op) + 2) + 1;
    char *s = malloc(cap);
    size_t o = 0;
    assert_non_null(s);
    for (size_t i = 1; i <= n; i++) {
        o += (size_t) snprintf(s + o, cap - o, "%sdstport:%zu", i > 1 ? op : "", i);
    }
    *len = o;
    return s;
}

static void
test_chains(void **state)
{
    (void) state;
    size_t len;
    static const struct {
        size_t n;
        const char *op;
        int want;
    } cases[] = {
        {6000, " or ", 1},  /* term 4000 matches */
        {3999, " or ", 0},  /* no term matches */
        {6000, " and ", 0}, /* dstport cannot be 1 and 2 */
        {6000, " ", 0},     /* implicit and */
        {16000, " or ", 1}, /* a long chain, still under QRY_NODES_MAX */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = chain(cases[i].n, cases[i].op, &len);
        struct job j = {.text = s, .len = len};
        on_pool_stack(&j);
        if (j.rc != 0) {
            fail_msg("%zu terms with '%s': rc %d col %d %s", cases[i].n, cases[i].op, j.rc,
                     j.err.col, j.err.msg);
        }
        assert_int_equal(j.matched, cases[i].want);
        /* An or of equalities on one field is one sorted set (plan.c's fold); an and is not. */
        const char *want =
            strcmp(cases[i].op, " or ") == 0 ? "(dstport in (" : "(dstport:(1 value)";
        if (strncmp(j.explain, want, strlen(want)) != 0) {
            fail_msg("%zu terms with '%s': explain '%.60s'", cases[i].n, cases[i].op, j.explain);
        }
        free(s);
    }

    /* An and-chain of 6,000 terms that all hold: every term is evaluated. */
    char *s = repeat("", "srcport:7 ", 6000, "dstport:4000", "", &len);
    struct job j = {.text = s, .len = len};
    on_pool_stack(&j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.matched, 1);
    free(s);

    /* Mixed: 3,000 (a and b) groups or-ed together; the last group matches. */
    size_t cap = 3000 * 40 + 64, o = 0;
    s = malloc(cap);
    assert_non_null(s);
    for (size_t i = 1; i <= 3000; i++) {
        o += (size_t) snprintf(s + o, cap - o, "%s(srcport:7 dstport:%zu)", i > 1 ? " or " : "",
                               i == 3000 ? (size_t) 4000 : i);
    }
    j = (struct job){.text = s, .len = o};
    on_pool_stack(&j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.matched, 1);
    free(s);
}

static uint64_t rnd_state = 42;

static uint32_t
rnd(uint32_t n)
{
    rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (rnd_state >> 33) % n;
}

/* One random term; foldable ones (equality on numbers, times, enums) most of the time. */
static size_t
random_term(char *buf, size_t cap)
{
    static const char *const protos[] = {"tcp", "udp", "icmp", "6", "17"};
    switch (rnd(8)) {
    case 0:
    case 1:
        return (size_t) snprintf(buf, cap, "dstport:%u", rnd(40));
    case 2:
        return (size_t) snprintf(buf, cap, "dstport in (%u, %u)", rnd(40), rnd(40));
    case 3: /* a time covers its second: overlapping ranges */
        return (size_t) snprintf(buf, cap, "start:%u", 1763798400u + rnd(20));
    case 4:
        return (size_t) snprintf(buf, cap, "protocol:%s", protos[rnd(5)]);
    case 5:
        return (size_t) snprintf(buf, cap, "action:%s", rnd(2) ? "reject" : "accept");
    case 6:
        return (size_t) snprintf(buf, cap, "srcport>%u", 60000 + rnd(5000));
    default:
        return (size_t) snprintf(buf, cap, "dstport:*");
    }
}

/*
 * Folding changes the plan, never the answer: each random or-chain is compiled as written
 * (folded) and with every term behind "not not" (never folded, the same meaning), and both
 * are evaluated on random records, some without the fields.
 */
static void
test_fold(void **state)
{
    (void) state;
    static char text[16384], plain[24576];
    struct qry__names nm = {0};
    char line[4096];
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    for (int round = 0; round < 200; round++) {
        size_t nt = 1 + rnd(60), a = 0, b = 0;
        for (size_t i = 0; i < nt; i++) {
            char term[64];
            random_term(term, sizeof(term));
            a += (size_t) snprintf(text + a, sizeof(text) - a, "%s%s", i ? " or " : "", term);
            b += (size_t) snprintf(plain + b, sizeof(plain) - b, "%snot not %s", i ? " or " : "",
                                   term);
        }
        struct qry *q1, *q2;
        struct qry_error e;
        assert_int_equal(qry_compile(&q1, text, a, NOW, &e), 0);
        assert_int_equal(qry_compile(&q2, plain, b, NOW, &e), 0);
        for (int k = 0; k < 200; k++) {
            struct flow_rec r = {0};
            r.dstport = (uint16_t) rnd(45);
            r.srcport = (uint16_t) (55000 + rnd(10536));
            r.protocol = (uint8_t) (rnd(2) ? 6 : 17);
            r.action = (uint8_t) rnd(2);
            r.start_ms = (1763798400u + rnd(25)) * 1000ull + rnd(1000);
            r.end_ms = r.start_ms;
            r.present = FLOW_HAS_SRCPORT | FLOW_HAS_PROTOCOL | (rnd(4) ? FLOW_HAS_DSTPORT : 0);
            int m1 = qry__match(q1, q1->expr, &r, &nm, md, line, sizeof(line));
            int m2 = qry__match(q2, q2->expr, &r, &nm, md, line, sizeof(line));
            if (m1 != m2) {
                fail_msg("'%s': folded %d, plain %d (dstport %u%s, start %llu)", text, m1, m2,
                         r.dstport, r.present & FLOW_HAS_DSTPORT ? "" : " absent",
                         (unsigned long long) r.start_ms);
            }
        }
        qry_free(q1);
        qry_free(q2);
    }
    pcre2_match_data_free(md);
}

static void
test_node_limit(void **state)
{
    (void) state;
    size_t len;
    /* "x x x ...": 32,000 one-letter terms in 64 KiB, past QRY_NODES_MAX. */
    char *s = repeat("", "x ", 32000, "x", "", &len);
    struct job j = {.text = s, .len = len};
    assert_true(len < QRY_LINE_MAX);
    on_pool_stack(&j);
    assert_int_equal(j.rc, QRY_E_PARSE);
    assert_int_equal(j.err.col, 2 * (QRY_NODES_MAX - 1) + 1);
    assert_string_equal(j.err.msg, "too many terms (at most 16384)");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parens),     cmocka_unit_test(test_not_chain),
        cmocka_unit_test(test_chains),     cmocka_unit_test(test_fold),
        cmocka_unit_test(test_node_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
