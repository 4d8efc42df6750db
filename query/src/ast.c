/* SPDX-License-Identifier: MIT */
/*
 * The vocabulary the parser and the engine share: the query arena, the record's fields
 * (DESIGN.md §3) with their types and how to read them from a struct flow_rec, and the
 * typed value syntaxes (numbers with k/M/G suffixes, CIDRs, RFC 3339 times, durations,
 * protocol and enum names, globs).
 *
 * A field whose `present` bit is clear has no value: it prints as '-' and no comparison on it
 * is true (docs/query.md "Missing values").
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qry_int.h"

/* ---- arena ---- */

struct qry__chunk {
    struct qry__chunk *next;
    size_t cap;
    _Alignas(16) unsigned char mem[];
};

void *
qry__alloc(struct qry__arena *a, size_t n)
{
    n = (n + 15u) & ~(size_t) 15u;
    if (a->head == NULL || a->used + n > a->cap) {
        size_t cap = n > 8192 ? n : 8192;
        struct qry__chunk *c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            return NULL;
        }
        c->next = a->head;
        c->cap = cap;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->mem + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *
qry__strndup(struct qry__arena *a, const char *s, size_t n)
{
    char *p = qry__alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void
qry__arena_free(struct qry__arena *a)
{
    struct qry__chunk *c = a->head;
    while (c != NULL) {
        struct qry__chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = a->cap = 0;
}

/* ---- fields ---- */

const struct qry__fieldinfo qry__fields[F_NFIELDS] = {
    [F_FLOWLOG] = {"flowlog", K_TEXT, -1},
    [F_VERSION] = {"version", K_NUM, -1},
    [F_EXPORTER] = {"exporter", K_ADDR, STOR_F_EXPORTER},
    [F_DOMAIN] = {"domain", K_NUM, -1},
    [F_INSTANCE] = {"instance-id", K_TEXT, STOR_F_INSTANCE},
    [F_SNID] = {"snid", K_TEXT, -1},
    [F_ACCOUNT] = {"account-id", K_TEXT, STOR_F_ACCOUNT},
    [F_REGION] = {"region", K_TEXT, -1},
    [F_VPC] = {"vpc-id", K_TEXT, -1},
    [F_ENI] = {"eni-id", K_TEXT, -1},
    [F_SRCADDR] = {"srcaddr", K_ADDR, STOR_F_SRCADDR},
    [F_DSTADDR] = {"dstaddr", K_ADDR, STOR_F_DSTADDR},
    [F_SRCPORT] = {"srcport", K_NUM, STOR_F_SRCPORT},
    [F_DSTPORT] = {"dstport", K_NUM, STOR_F_DSTPORT},
    [F_PROTOCOL] = {"protocol", K_NUM, STOR_F_PROTOCOL},
    [F_PACKETS] = {"packets", K_NUM, STOR_F_PACKETS},
    [F_BYTES] = {"bytes", K_NUM, STOR_F_BYTES},
    [F_START] = {"start", K_TIME, STOR_F_START},
    [F_END] = {"end", K_TIME, STOR_F_END},
    [F_TCPFLAGS] = {"tcp-flags", K_NUM, STOR_F_TCPFLAGS},
    [F_TOS] = {"tos", K_NUM, STOR_F_TOS},
    [F_INPORT] = {"inport", K_NUM, STOR_F_INPORT},
    [F_OUTPORT] = {"outport", K_NUM, STOR_F_OUTPORT},
    [F_DIRECTION] = {"direction", K_ENUM, -1},
    [F_ACTION] = {"action", K_ENUM, STOR_F_ACTION},
    [F_LOGSTATUS] = {"log-status", K_ENUM, STOR_F_LOG_STATUS},
    [F_RTT] = {"rtt", K_NUM, -1},
    [F_SAMPLING] = {"sampling", K_NUM, -1},
    [F_WINDOW] = {"window", K_TIME, -1},
};

const uint8_t qry__default_cols[] = {F_VERSION, F_ACCOUNT, F_INSTANCE, F_SRCADDR,  F_DSTADDR,
                                     F_SRCPORT, F_DSTPORT, F_PROTOCOL, F_PACKETS,  F_BYTES,
                                     F_START,   F_END,     F_ACTION,   F_LOGSTATUS};
const size_t qry__ndefault_cols = sizeof(qry__default_cols);

int
qry__field_find(const char *name, size_t len)
{
    /* Case-insensitive, and '-' and '_' are ignored: dst_port, src-addr, logstatus. */
    for (int f = 0; f < F_NFIELDS; f++) {
        const char *fn = qry__fields[f].name;
        size_t i = 0;
        for (;;) {
            while (i < len && (name[i] == '-' || name[i] == '_')) {
                i++;
            }
            while (*fn == '-') {
                fn++;
            }
            if (i == len || *fn == '\0' || tolower((unsigned char) name[i]) != *fn) {
                break;
            }
            i++;
            fn++;
        }
        if (i == len && *fn == '\0') {
            return f;
        }
    }
    return -1;
}

void
qry__field_list(char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int f = 0; f < F_NFIELDS && off < cap; f++) {
        int n = snprintf(buf + off, cap - off, "%s%s", f ? ", " : "", qry__fields[f].name);
        if (n < 0) {
            break;
        }
        off += (size_t) n;
    }
}

static int
names_one(void *arg, const struct stor_flowlog *fl)
{
    struct qry__names *nm = arg;
    if (nm->n == nm->cap) {
        size_t cap = nm->cap ? nm->cap * 2 : 16;
        struct qry__flname *p = realloc(nm->fl, cap * sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        nm->fl = p;
        nm->cap = cap;
    }
    struct qry__flname *e = &nm->fl[nm->n++];
    e->id = fl->id;
    snprintf(e->name, sizeof(e->name), "%s", fl->name);
    snprintf(e->region, sizeof(e->region), "%s", fl->region);
    snprintf(e->vpc_id, sizeof(e->vpc_id), "%s", fl->vpc_id);
    snprintf(e->eni_id, sizeof(e->eni_id), "%s", fl->eni_id);
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    const struct qry__flname *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int
qry__names_load(struct qry__names *nm, struct stor_env *env)
{
    nm->n = 0;
    if (env == NULL) {
        return 0;
    }
    int rc = stor_flowlog_each(env, names_one, nm);
    if (rc == 0 && nm->n > 1) {
        qsort(nm->fl, nm->n, sizeof(nm->fl[0]), name_cmp);
    }
    return rc;
}

void
qry__names_free(struct qry__names *nm)
{
    free(nm->fl);
    memset(nm, 0, sizeof(*nm));
}

const struct qry__flname *
qry__names_get(const struct qry__names *nm, uint16_t id)
{
    size_t lo = 0, hi = nm != NULL ? nm->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nm->fl[mid].id == id) {
            return &nm->fl[mid];
        }
        if (nm->fl[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static void
get_text(struct qry__val *v, const char *s)
{
    v->kind = K_TEXT;
    v->s = s;
    v->present = s != NULL && s[0] != '\0';
}

static void
get_label(const struct flow_rec *r, int f, const struct qry__names *nm, struct qry__val *v)
{
    const struct qry__flname *e = qry__names_get(nm, r->flowlog);
    if (f == F_FLOWLOG) {
        get_text(v, e != NULL ? e->name : r->flowlog == 0 ? "default" : NULL);
    } else if (e == NULL) {
        get_text(v, NULL);
    } else {
        get_text(v, f == F_REGION ? e->region : f == F_VPC ? e->vpc_id : e->eni_id);
    }
}

static void
get_num(struct qry__val *v, uint8_t kind, uint64_t u, bool present)
{
    v->kind = kind;
    v->u = present ? u : 0;
    v->present = present;
}

#define HASF(bit) ((r->present & (bit)) != 0)

void
qry__rec_get(const struct flow_rec *r, int f, const struct qry__names *nm, struct qry__val *v)
{
    static const uint8_t zero[16];
    switch (f) {
    case F_FLOWLOG:
    case F_REGION:
    case F_VPC:
    case F_ENI:
        get_label(r, f, nm, v);
        break;
    case F_VERSION:
        get_num(v, K_NUM, r->version, r->version != 0);
        break;
    case F_EXPORTER:
    case F_SRCADDR:
    case F_DSTADDR: {
        const uint8_t *a = f == F_EXPORTER ? r->exporter : f == F_SRCADDR ? r->srcaddr : r->dstaddr;
        v->kind = K_ADDR;
        v->present = f == F_EXPORTER  ? memcmp(a, zero, 16) != 0
                     : f == F_SRCADDR ? HASF(FLOW_HAS_SRCADDR)
                                      : HASF(FLOW_HAS_DSTADDR);
        memcpy(v->addr, v->present ? a : zero, 16);
        break;
    }
    case F_DOMAIN:
        get_num(v, K_NUM, r->domain, true);
        break;
    case F_INSTANCE:
        get_text(v, HASF(FLOW_HAS_INSTANCE) ? r->instance_id : NULL);
        break;
    case F_SNID:
        get_text(v, HASF(FLOW_HAS_SNID) ? r->snid : NULL);
        break;
    case F_ACCOUNT:
        get_text(v, HASF(FLOW_HAS_ACCOUNT) ? r->account_id : NULL);
        break;
    case F_SRCPORT:
        get_num(v, K_NUM, r->srcport, HASF(FLOW_HAS_SRCPORT));
        break;
    case F_DSTPORT:
        get_num(v, K_NUM, r->dstport, HASF(FLOW_HAS_DSTPORT));
        break;
    case F_PROTOCOL:
        get_num(v, K_NUM, r->protocol, HASF(FLOW_HAS_PROTOCOL));
        break;
    case F_PACKETS:
        get_num(v, K_NUM, r->packets, HASF(FLOW_HAS_PACKETS));
        break;
    case F_BYTES:
        get_num(v, K_NUM, r->bytes, HASF(FLOW_HAS_BYTES));
        break;
    case F_START:
        get_num(v, K_TIME, r->start_ms, true);
        break;
    case F_END:
        get_num(v, K_TIME, r->end_ms, true);
        break;
    case F_TCPFLAGS:
        get_num(v, K_NUM, r->tcp_flags, HASF(FLOW_HAS_TCPFLAGS));
        break;
    case F_TOS:
        get_num(v, K_NUM, r->tos, HASF(FLOW_HAS_TOS));
        break;
    case F_INPORT:
        get_num(v, K_NUM, r->inport, HASF(FLOW_HAS_INPORT));
        break;
    case F_OUTPORT:
        get_num(v, K_NUM, r->outport, HASF(FLOW_HAS_OUTPORT));
        break;
    case F_DIRECTION:
        get_num(v, K_ENUM, r->direction,
                HASF(FLOW_HAS_DIRECTION) && r->direction != FLOW_DIR_UNKNOWN);
        break;
    case F_ACTION:
        get_num(v, K_ENUM, r->action, true);
        break;
    case F_LOGSTATUS:
        get_num(v, K_ENUM, r->log_status, true);
        break;
    case F_RTT:
        get_num(v, K_NUM, r->rtt_us, HASF(FLOW_HAS_RTT));
        break;
    case F_SAMPLING:
        get_num(v, K_NUM, r->sampling, HASF(FLOW_HAS_SAMPLING));
        break;
    case F_WINDOW:
        get_num(v, K_TIME, (uint64_t) r->window * 1000u, true);
        break;
    default:
        v->kind = K_NUM;
        v->present = false;
        break;
    }
}

/* ---- value syntaxes ---- */

int
qry__parse_u64(const char *s, size_t n, bool suffixes, uint64_t *out)
{
    uint64_t v = 0, frac = 0, fdiv = 1;
    size_t i = 0;
    bool digits = false, dot = false;

    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned) (s[i] - '0');
            if (dot) {
                if (fdiv < 1000000000u) {
                    frac = frac * 10 + d;
                    fdiv *= 10;
                }
            } else {
                if (v > (UINT64_MAX - d) / 10) {
                    return -1;
                }
                v = v * 10 + d;
            }
            digits = true;
        } else if (s[i] == '.' && suffixes && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!digits) {
        return -1;
    }
    uint64_t mul = 1;
    if (i < n && suffixes) {
        switch (s[i]) {
        case 'k':
        case 'K':
            mul = 1000u;
            break;
        case 'M':
            mul = 1000000u;
            break;
        case 'g':
        case 'G':
            mul = 1000000000u;
            break;
        case 'T':
            mul = 1000000000000u;
            break;
        default:
            return -1;
        }
        i++;
    }
    if (i != n || (dot && mul == 1 && frac != 0)) {
        return -1;
    }
    if (v > UINT64_MAX / mul) {
        return -1;
    }
    *out = v * mul + frac * mul / fdiv;
    return 0;
}

static int
digits(const char *s, size_t n, size_t at, size_t cnt, int *out)
{
    int v = 0;
    if (at + cnt > n) {
        return -1;
    }
    for (size_t i = at; i < at + cnt; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned) (y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

/* Time zone suffix at s[i..n): Z, +HH:MM, -HH:MM or nothing (UTC). Offset in minutes. */
static int
parse_zone(const char *s, size_t n, size_t i, int *off_min)
{
    int hh, mm;
    *off_min = 0;
    if (i == n) {
        return 0;
    }
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        return 0;
    }
    if ((s[i] == '+' || s[i] == '-') && digits(s, n, i + 1, 2, &hh) == 0) {
        size_t j = i + 3;
        if (j < n && s[j] == ':') {
            j++;
        }
        if (digits(s, n, j, 2, &mm) != 0 || j + 2 != n || hh > 23 || mm > 59) {
            return -1;
        }
        *off_min = (s[i] == '-' ? -1 : 1) * (hh * 60 + mm);
        return 0;
    }
    return -1;
}

int
qry__parse_time(const char *s, size_t n, uint64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    size_t i = 10;

    if (n > 0 && n <= 12 && memchr(s, '-', n) == NULL) {
        uint64_t u; /* Unix seconds */
        if (qry__parse_u64(s, n, false, &u) != 0 || u > UINT64_MAX / 1000u) {
            return -1;
        }
        *ms = u * 1000u;
        return 0;
    }
    if (digits(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || digits(s, n, 5, 2, &mo) || s[7] != '-' ||
        digits(s, n, 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31) {
        return -1;
    }
    if (i < n && (s[i] == 'T' || s[i] == 't')) {
        if (digits(s, n, 11, 2, &h) || n < 16 || s[13] != ':' || digits(s, n, 14, 2, &mi)) {
            return -1;
        }
        i = 16;
        if (i < n && s[i] == ':') {
            if (digits(s, n, 17, 2, &sec)) {
                return -1;
            }
            i = 19;
            if (i < n && s[i] == '.') {
                int scale = 100;
                for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                    frac += (s[i] - '0') * scale;
                    scale /= 10;
                }
            }
        }
        if (h > 23 || mi > 59 || sec > 60) {
            return -1;
        }
    }
    if (parse_zone(s, n, i, &off) != 0) {
        return -1;
    }
    int64_t t = days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 + h * 3600 + mi * 60 + sec -
                off * 60;
    if (t < 0) {
        return -1;
    }
    *ms = (uint64_t) t * 1000u + (uint64_t) frac;
    return 0;
}

int
qry__parse_duration(const char *s, size_t n, uint64_t *ms)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > 1000000000u) {
            return -1;
        }
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    if (i == 0 || v == 0) {
        return -1;
    }
    uint64_t unit;
    size_t ul = n - i;
    const char *u = s + i;
    if (ul == 2 && strncasecmp(u, "ms", 2) == 0) {
        unit = 1;
    } else if (ul == 1 && (u[0] == 's' || u[0] == 'S')) {
        unit = 1000;
    } else if (ul == 1 && (u[0] == 'm' || u[0] == 'M')) {
        unit = 60000;
    } else if (ul == 1 && (u[0] == 'h' || u[0] == 'H')) {
        unit = 3600000;
    } else if (ul == 1 && (u[0] == 'd' || u[0] == 'D')) {
        unit = 86400000;
    } else if (ul == 1 && (u[0] == 'w' || u[0] == 'W')) {
        unit = 7 * 86400000ull;
    } else {
        return -1;
    }
    *ms = v * unit;
    return 0;
}

static const struct {
    const char *name;
    uint8_t num;
} protos[] = {{"icmp", 1}, {"igmp", 2}, {"tcp", 6},    {"udp", 17},       {"gre", 47},
              {"esp", 50}, {"ah", 51},  {"icmp6", 58}, {"ipv6-icmp", 58}, {"sctp", 132}};

int
qry__proto_num(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        if (strlen(protos[i].name) == n && strncasecmp(protos[i].name, s, n) == 0) {
            return protos[i].num;
        }
    }
    return -1;
}

const char *
qry__proto_name(unsigned p)
{
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        if (protos[i].num == p) {
            return protos[i].name;
        }
    }
    return NULL;
}

static const char *const action_names[] = {"ACCEPT", "REJECT"};
static const char *const ls_names[] = {"OK", "NODATA", "SKIPDATA"};
static const char *const dir_names[] = {"-", "in", "out"};

const char *
qry__enum_name(int f, uint64_t v)
{
    if (f == F_ACTION && v < 2) {
        return action_names[v];
    }
    if (f == F_LOGSTATUS && v < 3) {
        return ls_names[v];
    }
    if (f == F_DIRECTION && v < 3) {
        return dir_names[v];
    }
    return "?";
}

int
qry__enum_num(int f, const char *s, size_t n)
{
    unsigned count = f == F_ACTION ? 2 : f == F_LOGSTATUS ? 3 : f == F_DIRECTION ? 3 : 0;
    for (unsigned i = f == F_DIRECTION ? 1 : 0; i < count; i++) {
        const char *name = qry__enum_name(f, i);
        if (strlen(name) == n && strncasecmp(name, s, n) == 0) {
            return (int) i;
        }
    }
    return -1;
}

bool
qry__glob(const char *pat, const char *s, size_t n)
{
    /* Iterative matcher with one backtrack point: linear for patterns of single stars. */
    size_t si = 0, star_s = 0;
    const char *p = pat, *star_p = NULL;
    while (si < n) {
        if (*p == '*') {
            star_p = ++p;
            star_s = si;
        } else if (*p != '\0' &&
                   (*p == '?' || tolower((unsigned char) *p) == tolower((unsigned char) s[si]))) {
            p++;
            si++;
        } else if (star_p != NULL) {
            p = star_p;
            si = ++star_s;
        } else {
            return false;
        }
    }
    while (*p == '*') {
        p++;
    }
    return *p == '\0';
}
