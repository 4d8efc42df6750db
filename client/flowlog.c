/* SPDX-License-Identifier: MIT */
/*
 * flowlog: the command-line client of flowlogd's query protocol (DESIGN.md §7,
 * docs/protocol.md).
 *
 *   flowlog [-s HOST:PORT|PATH] [-f text|json|csv] [--token T] COMMAND [ARGS...]
 *
 * Commands map onto protocol requests: query, explain, windows, exporters, stats, ping, and
 * create / describe / modify / start / stop / delete for flow logs (FLOWLOG ...). With no
 * command and a terminal on standard input it opens a prompt with history (libedit).
 *
 * Output: with text format and a terminal on standard output, rows are shown as an aligned
 * table with a header (the client asks the server for CSV, which carries the column names,
 * and lays it out); in a pipe, the server's format is passed through unchanged. The status
 * line goes to standard error on a terminal (and errors always); the exit status is 0 for OK,
 * 1 for ERR, 2 for usage or connection problems. Values are shown as the server escaped them
 * (\xHH), so nothing an exporter sent can drive the terminal.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <editline/readline.h>

#include "import.h"

#define TABLE_ROWS 500 /* rows buffered to size the columns; later rows use those widths */
#define MAX_COLS   64

struct conn {
    FILE *in;
    FILE *out;
};

struct opts {
    const char *server;
    const char *format;
    const char *token;
    const char *backend; /* BACKEND NAME before the first request; NULL: the server's default */
    bool table; /* text on a terminal: aligned table */
    bool status_to_err;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: flowlog [-s HOST:PORT|PATH] [-f text|json|csv] [--token T] [--backend B] COMMAND [ARGS]\n"
            "  -s, --server ADDR   flowlogd's query server (default 127.0.0.1:7739; a path is a\n"
            "                      unix socket)\n"
            "  -f, --format FMT    text (default), json or csv\n"
            "  -t, --token T       send AUTH T first (default: $FLOWLOG_TOKEN)\n"
            "  -b, --backend NAME  run queries on local or clickhouse (default: the server's\n"
            "                      [query] backend)\n"
            "  -h, --help          this text\n"
            "commands:\n"
            "  query QUERY...      records or aggregates (docs/query.md), e.g.\n"
            "                      flowlog query 'last 1h action:REJECT | top 10 srcaddr'\n"
            "  explain QUERY...    the plan: range, pushed-down conditions, windows, blocks\n"
            "  nfdump [OPTS] FILTER  nfdump's options and filter (flowlog(1), docs/nfdump.md)\n"
            "  windows [RANGE]     capture windows (last 1h, since T [until T])\n"
            "  import DIR|FILE...  nfcapd files into flowlogd with their own times, as IPFIX\n"
            "                      over TCP to 127.0.0.1:4739 or HOST:PORT (flowlog(1))\n"
            "  exporters [forget ADDR [PORT]] | stats | ping | help\n"
            "  create NAME [key=value...] | describe [NAME] | modify NAME key=value...\n"
            "  start NAME | stop NAME | delete NAME [purge]     flow logs\n"
            "  backup DIR          admin: hot copy of the store into DIR (absolute, new or\n"
            "                      empty) on the collector's host\n"
            "With no command on a terminal: an interactive prompt (a line that is not a\n"
            "command is run as a query; 'format json' switches the format).\n"
            "Exit status: 0 OK, 1 the server answered ERR, 2 usage or connection failure.\n");
}

/* ---- connection ---- */

static int
dial(const char *server, struct conn *c)
{
    int fd = -1;
    if (strchr(server, '/') != NULL) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(server) >= sizeof(sun.sun_path)) {
            fprintf(stderr, "flowlog: socket path too long\n");
            return -1;
        }
        strcpy(sun.sun_path, server);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
            fprintf(stderr, "flowlog: %s: %s\n", server, strerror(errno));
            goto fail;
        }
    } else {
        char host[256];
        const char *colon = strrchr(server, ':');
        if (colon == NULL || (size_t) (colon - server) >= sizeof(host)) {
            fprintf(stderr, "flowlog: server '%s': expected HOST:PORT\n", server);
            return -1;
        }
        memcpy(host, server, (size_t) (colon - server));
        host[colon - server] = '\0';
        char *h = host;
        if (h[0] == '[' && h[strlen(h) - 1] == ']') {
            h[strlen(h) - 1] = '\0';
            h++;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
        int rc = getaddrinfo(h, colon + 1, &hints, &res);
        if (rc != 0) {
            fprintf(stderr, "flowlog: %s: %s\n", server, gai_strerror(rc));
            return -1;
        }
        for (ai = res; ai != NULL; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                break;
            }
            if (fd >= 0) {
                close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(res);
        if (fd < 0) {
            fprintf(stderr, "flowlog: cannot connect to %s: %s\n", server, strerror(errno));
            return -1;
        }
    }
    int fd2 = dup(fd);
    c->in = fdopen(fd, "r");
    c->out = fd2 >= 0 ? fdopen(fd2, "w") : NULL;
    if (c->in == NULL || c->out == NULL) {
        fprintf(stderr, "flowlog: %s\n", strerror(errno));
        return -1;
    }
    return 0;
fail:
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

static bool
is_status(const char *line)
{
    return strncmp(line, "OK", 2) == 0 && (line[2] == ' ' || line[2] == '\n' || line[2] == '\0')
               ? true
               : strncmp(line, "ERR ", 4) == 0;
}

/* ---- the aligned table ---- */

struct table {
    size_t ncols;
    size_t width[MAX_COLS];
    char **rows; /* buffered lines, split into NUL-separated cells */
    size_t *ncells;
    size_t nrows;
    bool flushed;
};

/* Split a CSV line into cells in place (quotes removed, "" -> "). Returns the count. */
static size_t
csv_split(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *w = line, *r = line;
    while (n < max) {
        cells[n++] = w;
        bool q = *r == '"';
        if (q) {
            r++;
        }
        for (; *r != '\0' && *r != '\n'; r++) {
            if (q && *r == '"') {
                if (r[1] == '"') {
                    *w++ = '"';
                    r++;
                    continue;
                }
                q = false;
                continue;
            }
            if (!q && *r == ',') {
                break;
            }
            *w++ = *r;
        }
        bool more = *r == ',';
        *w++ = '\0';
        if (!more) {
            break;
        }
        r++;
    }
    return n;
}

static void
table_print_row(struct table *t, char **cells, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool last = i + 1 == n;
        printf("%-*s%s", last ? 0 : (int) t->width[i], cells[i], last ? "\n" : "  ");
    }
}

static void
table_flush(struct table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char *cells[MAX_COLS];
        char *p = t->rows[r];
        for (size_t i = 0; i < t->ncells[r]; i++) {
            cells[i] = p;
            p += strlen(p) + 1;
        }
        table_print_row(t, cells, t->ncells[r]);
        free(t->rows[r]);
    }
    t->nrows = 0;
    t->flushed = true;
}

static void
table_add(struct table *t, const char *line)
{
    char buf[65536 + 2], *cells[MAX_COLS];
    snprintf(buf, sizeof(buf), "%s", line);
    size_t n = csv_split(buf, cells, MAX_COLS);
    if (t->flushed) {
        table_print_row(t, cells, n);
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(cells[i]);
        if (i < MAX_COLS && l > t->width[i]) {
            t->width[i] = l;
        }
        len += l + 1;
    }
    char *copy = malloc(len ? len : 1), *p = copy;
    for (size_t i = 0; copy != NULL && i < n; i++) {
        size_t l = strlen(cells[i]) + 1;
        memcpy(p, cells[i], l);
        p += l;
    }
    t->rows[t->nrows] = copy;
    t->ncells[t->nrows++] = copy != NULL ? n : 0;
    if (t->nrows == TABLE_ROWS) {
        table_flush(t);
    }
}

/* ---- requests ---- */

/*
 * The request could not be sent (EPIPE, ECONNRESET: SIGPIPE is ignored). A server that
 * refused the connection said why first (ERR BUSY): that is an ERR, exit status 1.
 */
static int
refused(struct conn *c)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = 2;
    while (getline(&buf, &cap, c->in) > 0) {
        if (is_status(buf)) {
            fprintf(stderr, "%s", buf);
            rc = buf[0] == 'O' ? 2 : 1;
            break;
        }
    }
    if (rc == 2) {
        fprintf(stderr, "flowlog: the server closed the connection\n");
    }
    free(buf);
    return rc;
}

/*
 * Send one request line and print its answer. Returns 0 (OK), 1 (ERR) or 2 (connection).
 * table: the answer is CSV to lay out.
 */
static int
request(struct conn *c, const char *line, bool table, bool status_to_err)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    struct table t = {0};
    bool open_line = false;
    int rc = 2;

    if (fprintf(c->out, "%s\n", line) < 0 || fflush(c->out) != 0) {
        return refused(c);
    }
    if (table) {
        t.rows = calloc(TABLE_ROWS, sizeof(*t.rows));
        t.ncells = calloc(TABLE_ROWS, sizeof(*t.ncells));
    }
    while ((n = getline(&buf, &cap, c->in)) > 0) {
        if (is_status(buf)) {
            if (table) {
                table_flush(&t);
            }
            bool ok = buf[0] == 'O';
            if (!ok || status_to_err) {
                fprintf(stderr, "%s", ok ? buf + 3 : buf);
            }
            rc = ok ? 0 : 1;
            break;
        }
        if (table) {
            table_add(&t, buf);
        } else {
            fwrite(buf, 1, (size_t) n, stdout);
            open_line = buf[n - 1] != '\n';
        }
    }
    if (open_line) {
        putchar('\n'); /* every output ends with a newline, even a server's unended line */
    }
    if (rc == 2) {
        fprintf(stderr, "flowlog: the server closed the connection\n");
    }
    fflush(stdout);
    free(t.rows);
    free(t.ncells);
    free(buf);
    return rc;
}

/* A quiet request whose answer must be OK (FORMAT, AUTH). */
static int
setup_request(struct conn *c, const char *line)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = 2;
    if (fprintf(c->out, "%s\n", line) < 0 || fflush(c->out) != 0) {
        return refused(c);
    }
    while (getline(&buf, &cap, c->in) > 0) {
        if (is_status(buf)) {
            rc = buf[0] == 'O' ? 0 : 1;
            if (rc != 0) {
                fprintf(stderr, "flowlog: %s", buf);
            }
            break;
        }
    }
    if (rc == 2) {
        fprintf(stderr, "flowlog: the server closed the connection\n");
    }
    free(buf);
    return rc;
}

/* Verbs whose rows have column names (so a table makes sense). */
static bool
tabular(const char *verb)
{
    static const char *const v[] = {"QUERY", "WINDOWS", "EXPORTERS", "STATS", "FLOWLOG", "NFDUMP", "HEALTH"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (strcasecmp(verb, v[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* CLI words to protocol lines: "create web window=60" -> "FLOWLOG CREATE web window=60". */
static int
to_request(const char *cmd, const char *args, char *out, size_t cap, const char **verb)
{
    static const struct {
        const char *cmd, *req;
    } map[] = {{"query", "QUERY"},
               {"explain", "EXPLAIN"},
               {"nfdump", "NFDUMP"},
               {"windows", "WINDOWS"},
               {"exporters", "EXPORTERS"},
               {"stats", "STATS"},
               {"health", "HEALTH"}, /* collector/health.c */
               {"backup", "BACKUP"}, /* query/src/backup_cmd.c */
               {"ping", "PING"},
               {"help", "HELP"},
               {"create", "FLOWLOG CREATE"},
               {"describe", "FLOWLOG DESCRIBE"},
               {"modify", "FLOWLOG MODIFY"},
               {"start", "FLOWLOG START"},
               {"stop", "FLOWLOG STOP"},
               {"delete", "FLOWLOG DELETE"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(cmd, map[i].cmd) == 0) {
            int n = snprintf(out, cap, "%s%s%s", map[i].req, args[0] ? " " : "", args);
            *verb = strncmp(map[i].req, "FLOWLOG", 7) == 0 ? "FLOWLOG" : map[i].req;
            return n > 0 && (size_t) n < cap ? 0 : -1;
        }
    }
    return -1;
}

static bool
is_command(const char *cmd)
{
    char tmp[64];
    const char *verb;
    return to_request(cmd, "", tmp, sizeof(tmp), &verb) == 0;
}

/* A shell word for FLOWLOG arguments: key=value with blanks becomes key="value". */
static int
quote_arg(char *out, size_t cap, const char *arg)
{
    if (strpbrk(arg, " \t\"") == NULL) {
        return snprintf(out, cap, "%s", arg);
    }
    size_t o = 0;
    const char *eq = strchr(arg, '=');
    size_t head = eq != NULL ? (size_t) (eq - arg) + 1 : 0;
    if (head + 3 >= cap) {
        return -1;
    }
    memcpy(out, arg, head);
    o = head;
    out[o++] = '"';
    for (const char *p = arg + head; *p != '\0' && o + 3 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
        }
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
    return (int) o;
}

/* A shell word for NFDUMP: one with blanks or quotes goes in "..." (\" and \\ escaped). */
static int
quote_word(char *out, size_t cap, const char *arg)
{
    if (arg[0] != '\0' && strpbrk(arg, " \t\"'\\") == NULL) {
        return snprintf(out, cap, "%s", arg);
    }
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = arg; *p != '\0' && o + 3 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
        }
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
    return (int) o;
}

static int
run_line(struct conn *c, const struct opts *o, const char *cmd, const char *args)
{
    static char req[70000];
    const char *verb;
    if (to_request(cmd, args, req, sizeof(req), &verb) != 0) {
        fprintf(stderr, "flowlog: unknown command '%s' (flowlog -h lists them)\n", cmd);
        return 2;
    }
    /* nfdump's -o picks the answer's format itself: a table would mangle JSON. */
    bool own_fmt = strcasecmp(verb, "NFDUMP") == 0 &&
                   (strncmp(args, "-o ", 3) == 0 || strstr(args, " -o ") != NULL);
    bool table = o->table && tabular(verb) && !own_fmt;
    const char *fmt = table ? "csv" : o->format;
    char set[32];
    snprintf(set, sizeof(set), "FORMAT %s", fmt);
    int rc = setup_request(c, set);
    if (rc != 0) {
        return rc; /* 1: the server said ERR (BUSY), 2: the connection failed */
    }
    return request(c, req, table, o->status_to_err || strcasecmp(verb, "BACKUP") == 0);
}

/* Connect and authenticate: 0, 1 (the server said ERR) or 2 (no connection). */
static int
open_session(struct conn *c, const struct opts *o)
{
    if (dial(o->server, c) != 0) {
        return 2;
    }
    int rc = 0;
    if (o->token != NULL && o->token[0] != '\0') {
        char auth[600];
        snprintf(auth, sizeof(auth), "AUTH %s", o->token);
        rc = setup_request(c, auth);
    }
    if (rc == 0 && o->backend != NULL) {
        char be[80];
        snprintf(be, sizeof(be), "BACKEND %s", o->backend);
        rc = setup_request(c, be);
    }
    return rc;
}

/* ---- interactive ---- */

/* The prompt's line again on a new connection: the server closes idle clients
 * ([query] idle_timeout), and a prompt may sit idle longer. */
static int
retry_connected(struct conn *c, struct opts *o, const char *cmd, const char *args)
{
    fclose(c->out);
    fclose(c->in);
    c->in = c->out = NULL;
    if (open_session(c, o) != 0) {
        return 2; /* the prompt ends: no usable connection */
    }
    fprintf(stderr, "flowlog: reconnected to %s\n", o->server);
    return run_line(c, o, cmd, args);
}

static int
interactive(struct conn *c, struct opts *o)
{
    char hist[4096] = "";
    const char *home = getenv("HOME");
    if (home != NULL) {
        snprintf(hist, sizeof(hist), "%s/.flowlog_history", home);
        read_history(hist);
    }
    char *line;
    int last = 0;
    while ((line = readline("flowlog> ")) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            free(line);
            continue;
        }
        add_history(p);
        char cmd[32];
        size_t w = strcspn(p, " \t");
        const char *args = p + w;
        while (*args == ' ' || *args == '\t') {
            args++;
        }
        snprintf(cmd, sizeof(cmd), "%.*s", (int) (w < 31 ? w : 31), p);
        if (strcasecmp(cmd, "quit") == 0 || strcasecmp(cmd, "exit") == 0) {
            free(line);
            break;
        } else if (strcasecmp(cmd, "format") == 0) {
            if (strcmp(args, "text") && strcmp(args, "json") && strcmp(args, "csv")) {
                fprintf(stderr, "format text|json|csv\n");
            } else {
                o->format = !strcmp(args, "text") ? "text" : !strcmp(args, "json") ? "json" : "csv";
                o->table = strcmp(o->format, "text") == 0;
            }
        } else {
            /* Not a command: a query. */
            const char *verb = is_command(cmd) ? cmd : "query", *rest = is_command(cmd) ? args : p;
            last = run_line(c, o, verb, rest);
            if (last == 2 && c->in != NULL && c->out != NULL) {
                last = retry_connected(c, o, verb, rest);
            }
        }
        free(line);
        if (last == 2) {
            break;
        }
    }
    if (hist[0] != '\0') {
        write_history(hist);
    }
    return last == 2 ? 2 : 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"token", required_argument, NULL, 't'},
        {"backend", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {.server = "127.0.0.1:7739", .format = "text"};
    struct conn c = {0};
    int ch;
    /* A server that refuses us (ERR BUSY) closes while we may still be writing: that must be
     * a write error to report, not death by SIGPIPE (exit 141). */
    signal(SIGPIPE, SIG_IGN);
    o.token = getenv("FLOWLOG_TOKEN");
    while ((ch = getopt_long(argc, argv, "+s:f:t:b:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.server = optarg;
            break;
        case 'f':
            o.format = optarg;
            break;
        case 't':
            o.token = optarg;
            break;
        case 'b':
            o.backend = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(o.format, "text") && strcmp(o.format, "json") && strcmp(o.format, "csv")) {
        fprintf(stderr, "flowlog: -f takes text, json or csv\n");
        return 2;
    }
    if (optind < argc && strcmp(argv[optind], "import") == 0) {
        return flowlog_import(argc - optind, argv + optind); /* IPFIX, not the query server */
    }
    bool tty_out = isatty(STDOUT_FILENO);
    o.table = tty_out && strcmp(o.format, "text") == 0;
    o.status_to_err = tty_out;
    if (optind == argc && !isatty(STDIN_FILENO)) {
        usage(stderr);
        return 2;
    }
    int rc = open_session(&c, &o);
    if (rc != 0) {
        return rc;
    }
    if (optind == argc) {
        o.status_to_err = true;
        rc = interactive(&c, &o);
    } else {
        /* The rest of the command line, joined by spaces, is the request's argument. */
        static char args[66000];
        size_t len = 0;
        bool nfdump = strcasecmp(argv[optind], "nfdump") == 0;
        bool flowlog = !nfdump && strcasecmp(argv[optind], "query") != 0 &&
                       strcasecmp(argv[optind], "explain") != 0 &&
                       strcasecmp(argv[optind], "windows") != 0;
        for (int i = optind + 1; i < argc; i++) {
            char word[4096];
            if (nfdump) {
                quote_word(word, sizeof(word), argv[i]);
            } else if (flowlog) {
                quote_arg(word, sizeof(word), argv[i]);
            } else {
                snprintf(word, sizeof(word), "%s", argv[i]);
            }
            int n = snprintf(args + len, sizeof(args) - len, "%s%s", len ? " " : "", word);
            if (n < 0 || (size_t) n >= sizeof(args) - len) {
                fprintf(stderr, "flowlog: the request is longer than 64 KiB\n");
                return 2;
            }
            len += (size_t) n;
        }
        rc = run_line(&c, &o, argv[optind], args);
    }
    if (c.out != NULL) { /* NULL when a reconnection failed */
        fprintf(c.out, "QUIT\n");
        fclose(c.out);
    }
    if (c.in != NULL) {
        fclose(c.in);
    }
    return rc;
}
