/* SPDX-License-Identifier: MIT */
/*
 * flowprobe: libpcap (a live interface in immediate mode, or a pcap file) -> flow cache ->
 * NetFlow v5 / v9 / IPFIX export (DESIGN.md §8; docs/probe.md is the manual).
 *
 * This file is the wiring: options and the config file (libinih; the command line wins for
 * single values, lists add up), the capture loop, the one-second tick that expires flows and
 * flushes export messages (packet time in file mode, the wall clock live, so a quiet
 * interface still expires its flows), signals (SIGINT/SIGTERM stop after a flush, SIGUSR1
 * prints statistics) and the statistics printed at exit.
 */
#define _GNU_SOURCE /* getopt_long, strndup, sigaction, u_char in pcap.h */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <pcap/pcap.h>

#include "flow_clock.h"
#include "probe.h"

#define MAX_IFMAP 32
#define SNAPLEN   256 /* link + IPv6 with a few extension headers + transport ports/flags */

struct if_entry {
    char *name;
    uint32_t index;
};

struct probe_main {
    /* options */
    char *iface;
    char *file;
    char *filter;
    struct probe_flowtab_cfg tab;
    struct probe_export_cfg ex;
    struct if_entry ifmap[MAX_IFMAP];
    unsigned nifmap;
    /* run time */
    pcap_t *pcap;
    int dlt;
    struct probe_flowtab *t;
    struct probe_export *x;
    uint64_t next_tick_ms;
    uint64_t last_ms;
    uint64_t seen, notip, malformed, sampled_out, sample_ctr;
    /* Parsed packets not yet in the cache (see probe_flowtab_add_batch). */
    struct probe_pkt batch[PROBE_BATCH];
    uint64_t batch_us[PROBE_BATCH];
    size_t nbatch;
};

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t stats_flag;
static pcap_t *sig_pcap;

static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        stats_flag = 1; /* printed between dispatch calls: no need to break the loop */
        return;
    }
    stop_flag = 1;
    if (sig_pcap != NULL) {
        pcap_breakloop(sig_pcap);
    }
}

/* A seed for the flow cache's hash, new for each process. */
static uint64_t
hash_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t) sizeof(seed)) {
        seed = flow_mono_ms() ^ ((uint64_t) getpid() << 32); /* no entropy yet: still per process */
    }
    return seed;
}

static void
usage(FILE *f)
{
    fputs("usage: flowprobe (-i IFACE | -r FILE) -c HOST:PORT[/udp|/tcp]... [OPTION]...\n"
          "                 [BPF filter]\n"
          "  -i, --interface IFACE  capture live (promiscuous, immediate mode)\n"
          "  -r, --read FILE        read a pcap or pcapng file, with its packet times; exit at\n"
          "                         its end\n"
          "  -c, --collector HOST:PORT[/udp|/tcp]  export to it, repeatable (at most 8);\n"
          "                         [ADDR]:PORT for IPv6; /tcp is IPFIX over TCP\n"
          "  -v, --version 10|9|5   IPFIX (default), NetFlow v9 or NetFlow v5\n"
          "      --instance-id ID, --snid SN, --account-id ID   identity carried with the\n"
          "                         flows (at most 39 bytes each; default none)\n"
          "      --pen N            enterprise number of the identity and RTT IEs (32473)\n"
          "      --domain N         observation domain (v9 source id, v5 engine; default 0)\n"
          "      --idle S           expire a flow quiet for S seconds (default 15)\n"
          "      --active S         cut a record after S seconds (default 60)\n"
          "      --fin S            expire S seconds after FIN both ways or RST (default 1)\n"
          "      --max-flows N      flow cache entries (default 131072)\n"
          "      --local-net CIDR   a local network, repeatable (at most 32): flows from it\n"
          "                         are out, to it in\n"
          "      --ifindex IFACE=N  interface index reported for IFACE (* = any), repeatable\n"
          "      --sampling N       1-in-N packet sampling (default none)\n"
          "      --max-msg BYTES    export message size (default from the path MTU)\n"
          "      --config FILE      read these options from FILE first (INI, keys = long\n"
          "                         option names; see etc/flowprobe.conf)\n"
          "  -h, --help             this text\n"
          "Words after the options form a BPF filter. SIGUSR1 prints statistics on standard\n"
          "error; SIGINT or SIGTERM exports every flow and stops.\n"
          "Exit status: 0 done, 1 runtime failure, 2 bad usage or config. See docs/probe.md.\n",
          f);
}

/* ---- options (shared by the command line and the config file) ---- */

static int
num(const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;

    if (v == NULL || *v == '\0' || *v == '-' || *v == '+') {
        return PROBE_E_CONFIG;
    }
    errno = 0;
    unsigned long long n = strtoull(v, &end, 0);
    if (errno != 0 || *end != '\0' || n > max) {
        return PROBE_E_CONFIG;
    }
    *out = n;
    return 0;
}

static int
set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
    return *dst != NULL ? 0 : -ENOMEM;
}

static int
set_id(const char **dst, const char *v)
{
    if (strlen(v) >= FLOW_ID_MAX) {
        return PROBE_E_CONFIG;
    }
    free((char *) *dst);
    *dst = strdup(v);
    return *dst != NULL ? 0 : -ENOMEM;
}

static int
add_ifmap(struct probe_main *m, const char *v)
{
    const char *eq = strrchr(v, '=');
    unsigned long long n;

    if (eq == NULL || eq == v || m->nifmap == MAX_IFMAP || num(eq + 1, UINT32_MAX, &n) != 0) {
        return PROBE_E_CONFIG;
    }
    struct if_entry *e = &m->ifmap[m->nifmap];
    e->name = strndup(v, (size_t) (eq - v));
    if (e->name == NULL) {
        return -ENOMEM;
    }
    e->index = (uint32_t) n;
    m->nifmap++;
    return 0;
}

static int
set_seconds(uint32_t *ms, const char *v)
{
    unsigned long long n;
    int rc = num(v, UINT32_MAX / 1000u, &n);
    if (rc == 0 && n == 0) {
        rc = PROBE_E_CONFIG;
    }
    *ms = rc == 0 ? (uint32_t) n * 1000u : *ms;
    return rc;
}

static int
set_list_opt(struct probe_main *m, const char *name, const char *v)
{
    if (strcmp(name, "collector") == 0) {
        char host[256];
        uint16_t port;
        bool tcp;
        if (m->ex.ncollectors == PROBE_MAX_COLLECTORS ||
            probe_collector_parse(v, host, sizeof(host), &port, &tcp) != 0) {
            return PROBE_E_CONFIG; /* a usage error (2), found before anything starts */
        }
        char *s = strdup(v);
        m->ex.collectors[m->ex.ncollectors++] = s;
        return s != NULL ? 0 : -ENOMEM;
    }
    if (strcmp(name, "local-net") == 0) {
        if (m->ex.nnets == PROBE_MAX_NETS) {
            return PROBE_E_CONFIG;
        }
        return probe_net_parse(v, &m->ex.nets[m->ex.nnets++]);
    }
    return add_ifmap(m, v);
}

/* Apply one option by its long name; 0, PROBE_E_CONFIG (with name unknown: 1). */
static int
set_opt(struct probe_main *m, const char *name, const char *v)
{
    unsigned long long n = 0;
    int rc;

    if (strcmp(name, "interface") == 0) {
        return set_str(&m->iface, v);
    }
    if (strcmp(name, "read") == 0) {
        return set_str(&m->file, v);
    }
    if (strcmp(name, "filter") == 0) {
        return set_str(&m->filter, v);
    }
    if (strcmp(name, "collector") == 0 || strcmp(name, "local-net") == 0 ||
        strcmp(name, "ifindex") == 0) {
        return set_list_opt(m, name, v);
    }
    if (strcmp(name, "instance-id") == 0) {
        return set_id(&m->ex.instance_id, v);
    }
    if (strcmp(name, "snid") == 0) {
        return set_id(&m->ex.snid, v);
    }
    if (strcmp(name, "account-id") == 0) {
        return set_id(&m->ex.account_id, v);
    }
    if (strcmp(name, "idle") == 0) {
        return set_seconds(&m->tab.idle_ms, v);
    }
    if (strcmp(name, "active") == 0) {
        return set_seconds(&m->tab.active_ms, v);
    }
    if (strcmp(name, "fin") == 0) {
        return set_seconds(&m->tab.fin_ms, v);
    }
    if (strcmp(name, "version") == 0) {
        rc = num(v, 10, &n);
        m->ex.version = (uint8_t) n;
        return rc == 0 && (n == 5 || n == 9 || n == 10) ? 0 : PROBE_E_CONFIG;
    }
    if (strcmp(name, "domain") == 0) {
        rc = num(v, UINT32_MAX, &n);
        m->ex.domain = (uint32_t) n;
        return rc;
    }
    if (strcmp(name, "pen") == 0) {
        rc = num(v, UINT32_MAX, &n);
        m->ex.pen = (uint32_t) n;
        return rc == 0 && n != 0 ? 0 : PROBE_E_CONFIG;
    }
    if (strcmp(name, "max-flows") == 0) {
        rc = num(v, 1u << 30, &n);
        m->tab.max_flows = (uint32_t) n;
        return rc == 0 && n != 0 ? 0 : PROBE_E_CONFIG;
    }
    if (strcmp(name, "sampling") == 0) {
        rc = num(v, UINT32_MAX, &n);
        m->ex.sampling = (uint32_t) n;
        return rc;
    }
    if (strcmp(name, "max-msg") == 0) {
        rc = num(v, 65000, &n);
        m->ex.max_msg = (uint16_t) n;
        return rc;
    }
    return 1;
}

static int
ini_cb(void *arg, const char *section, const char *name, const char *value)
{
    struct probe_main *m = arg;

    if (section[0] != '\0' && strcmp(section, "probe") != 0) {
        fprintf(stderr, "flowprobe: config: unknown section [%s]\n", section);
        return 0;
    }
    int rc = set_opt(m, name, value);
    if (rc != 0) {
        fprintf(stderr, "flowprobe: config: %s '%s': %s\n", name, value,
                rc == 1 ? "unknown key" : "bad value");
        return 0;
    }
    return 1;
}

static const struct option longopts[] = {
    {"interface", required_argument, NULL, 'i'},
    {"read", required_argument, NULL, 'r'},
    {"collector", required_argument, NULL, 'c'},
    {"version", required_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"config", required_argument, NULL, 'C'},
    {"instance-id", required_argument, NULL, 0},
    {"snid", required_argument, NULL, 0},
    {"account-id", required_argument, NULL, 0},
    {"pen", required_argument, NULL, 0},
    {"domain", required_argument, NULL, 0},
    {"idle", required_argument, NULL, 0},
    {"active", required_argument, NULL, 0},
    {"fin", required_argument, NULL, 0},
    {"max-flows", required_argument, NULL, 0},
    {"local-net", required_argument, NULL, 0},
    {"ifindex", required_argument, NULL, 0},
    {"sampling", required_argument, NULL, 0},
    {"max-msg", required_argument, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int
join_filter(struct probe_main *m, int argc, char **argv)
{
    size_t len = 1;

    if (optind >= argc) {
        return 0;
    }
    for (int i = optind; i < argc; i++) {
        len += strlen(argv[i]) + 1;
    }
    char *f = calloc(1, len);
    if (f == NULL) {
        return -ENOMEM;
    }
    for (int i = optind; i < argc; i++) {
        strcat(f, argv[i]);
        strcat(f, i + 1 < argc ? " " : "");
    }
    free(m->filter);
    m->filter = f;
    return 0;
}

static int
parse_args(struct probe_main *m, int argc, char **argv)
{
    int c, li;

    /* The config file first, wherever --config stands, so the command line wins. */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[i + 1];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (path != NULL) {
            int rc = ini_parse(path, ini_cb, m);
            if (rc != 0) {
                fprintf(stderr, "flowprobe: config %s: %s %d\n", path,
                        rc < 0 ? "cannot read" : "error on line", rc);
                return PROBE_E_CONFIG;
            }
        }
    }
    while ((c = getopt_long(argc, argv, "+i:r:c:v:h", longopts, &li)) != -1) {
        const char *name = c == 'i'   ? "interface"
                           : c == 'r' ? "read"
                           : c == 'c' ? "collector"
                           : c == 'v' ? "version"
                           : c == 0   ? longopts[li].name
                                      : NULL;
        if (c == 'C') {
            continue;
        }
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (name == NULL) {
            usage(stderr);
            return PROBE_E_CONFIG;
        }
        if (c == 'i' || c == 'r') {
            /* A source on the command line replaces the config file's, whichever kind. */
            free(c == 'i' ? m->file : m->iface);
            *(c == 'i' ? &m->file : &m->iface) = NULL;
        }
        if (set_opt(m, name, optarg) != 0) {
            fprintf(stderr, "flowprobe: bad value for --%s: '%s'\n", name, optarg);
            return PROBE_E_CONFIG;
        }
    }
    if (join_filter(m, argc, argv) != 0) {
        return -ENOMEM;
    }
    if ((m->iface == NULL) == (m->file == NULL) || m->ex.ncollectors == 0) {
        fprintf(stderr, "flowprobe: give one of -i IFACE or -r FILE, and at least one -c\n");
        usage(stderr);
        return PROBE_E_CONFIG;
    }
    return 0;
}

/* The interface index flows are attributed to: --ifindex NAME=N for the capture interface
   (or the "*" entry, which also serves files), else the kernel's index of a live one. */
static uint32_t
capture_ifindex(const struct probe_main *m)
{
    const char *name = m->iface != NULL ? m->iface : "";

    for (unsigned i = 0; i < m->nifmap; i++) {
        if (strcmp(m->ifmap[i].name, name) == 0) {
            return m->ifmap[i].index;
        }
    }
    for (unsigned i = 0; i < m->nifmap; i++) {
        if (strcmp(m->ifmap[i].name, "*") == 0) {
            return m->ifmap[i].index;
        }
    }
    return m->iface != NULL ? if_nametoindex(m->iface) : 0;
}

/* ---- capture ---- */

static void
print_stats(struct probe_main *m)
{
    const struct probe_flowtab_stats *ts = probe_flowtab_stats(m->t);
    const struct probe_export_stats *xs = probe_export_stats(m->x);
    struct pcap_stat ps = {0};

    if (m->iface != NULL) {
        (void) pcap_stats(m->pcap, &ps);
    }
    fprintf(stderr,
            "flowprobe: packets=%llu accounted=%llu notip=%llu malformed=%llu sampled-out=%llu "
            "drops=%u ifdrops=%u flows=%llu active=%llu expired-idle=%llu expired-active=%llu "
            "expired-closed=%llu evicted=%llu flushed=%llu records=%llu not-exportable=%llu "
            "messages=%llu export-failures=%llu reconnects=%llu\n",
            (unsigned long long) m->seen, (unsigned long long) ts->packets,
            (unsigned long long) m->notip, (unsigned long long) m->malformed,
            (unsigned long long) m->sampled_out, ps.ps_drop, ps.ps_ifdrop,
            (unsigned long long) ts->flows, (unsigned long long) ts->active,
            (unsigned long long) ts->expired[PROBE_WHY_IDLE],
            (unsigned long long) ts->expired[PROBE_WHY_ACTIVE],
            (unsigned long long) ts->expired[PROBE_WHY_CLOSED],
            (unsigned long long) ts->expired[PROBE_WHY_EVICTED],
            (unsigned long long) ts->expired[PROBE_WHY_END], (unsigned long long) xs->records,
            (unsigned long long) xs->not_exportable, (unsigned long long) xs->messages,
            (unsigned long long) xs->send_errors, (unsigned long long) xs->reconnects);
}

static void
flush_batch(struct probe_main *m)
{
    if (m->nbatch > 0) {
        probe_export_now(m->x, m->last_ms);
        probe_flowtab_add_batch(m->t, m->batch, m->batch_us, m->nbatch);
        m->nbatch = 0;
    }
}

static void
tick(struct probe_main *m, uint64_t now_ms)
{
    flush_batch(m);
    probe_export_now(m->x, now_ms);
    probe_flowtab_expire(m->t, now_ms);
    probe_export_tick(m->x, now_ms, m->notip + m->malformed);
    m->next_tick_ms = now_ms + 1000;
}

static void
on_packet(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct probe_main *m = (struct probe_main *) arg;
    struct probe_pkt *p = &m->batch[m->nbatch];
    uint64_t ts_us = (uint64_t) h->ts.tv_sec * 1000000u + (uint64_t) h->ts.tv_usec;

    m->seen++;
    if (m->ex.sampling > 1 && ++m->sample_ctr % m->ex.sampling != 0) {
        m->sampled_out++; /* systematic count-based sampling (RFC 5475 §6.1) */
        return;
    }
    int rc = probe_parse(m->dlt, bytes, h->caplen, h->len, p);
    if (rc != 0) {
        m->notip += rc == PROBE_E_NOTIP ? 1u : 0u;
        m->malformed += rc == PROBE_E_NOTIP ? 0u : 1u;
        return;
    }
    uint64_t ms = ts_us / 1000;
    m->last_ms = ms > m->last_ms ? ms : m->last_ms;
    m->batch_us[m->nbatch++] = ts_us;
    if (m->nbatch == PROBE_BATCH) {
        flush_batch(m);
    }
    if (m->file != NULL && m->last_ms >= m->next_tick_ms) {
        tick(m, m->last_ms);
    }
}

static int
open_pcap(struct probe_main *m, char *err)
{
    if (m->file != NULL) {
        m->pcap = pcap_open_offline(m->file, err);
    } else if ((m->pcap = pcap_create(m->iface, err)) != NULL) {
        (void) pcap_set_snaplen(m->pcap, SNAPLEN);
        (void) pcap_set_promisc(m->pcap, 1);
        (void) pcap_set_immediate_mode(m->pcap, 1);
        int rc = pcap_activate(m->pcap);
        if (rc < 0) {
            snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(m->pcap));
            return -1;
        }
    }
    if (m->pcap == NULL) {
        return -1;
    }
    m->dlt = pcap_datalink(m->pcap);
    if (!probe_dlt_ok(m->dlt)) {
        snprintf(err, PCAP_ERRBUF_SIZE, "link type %s (%d) is not supported",
                 pcap_datalink_val_to_name(m->dlt), m->dlt);
        return -1;
    }
    if (m->filter != NULL) {
        struct bpf_program prog;
        if (pcap_compile(m->pcap, &prog, m->filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
            pcap_setfilter(m->pcap, &prog) != 0) {
            snprintf(err, PCAP_ERRBUF_SIZE, "filter '%s': %s", m->filter, pcap_geterr(m->pcap));
            return -1;
        }
        pcap_freecode(&prog);
    }
    return 0;
}

/* Read the file to its end; 1 when libpcap failed part-way (the caller still flushes). */
static int
run_file(struct probe_main *m)
{
    int n;

    do {
        n = pcap_dispatch(m->pcap, 4096, on_packet, (u_char *) m);
        flush_batch(m);
        if (stats_flag) {
            stats_flag = 0;
            print_stats(m);
        }
    } while (n > 0 && !stop_flag);
    if (n == PCAP_ERROR) {
        fprintf(stderr, "flowprobe: %s: %s\n", m->file, pcap_geterr(m->pcap));
        return 1; /* what was read is still flushed and exported */
    }
    return 0;
}

static int
run_live(struct probe_main *m)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pollfd pfd = {.fd = pcap_get_selectable_fd(m->pcap), .events = POLLIN};

    if (pcap_setnonblock(m->pcap, 1, err) != 0) {
        fprintf(stderr, "flowprobe: %s\n", err);
    }
    while (!stop_flag) {
        int rc = poll(&pfd, 1, 200);
        if (rc > 0 && pcap_dispatch(m->pcap, -1, on_packet, (u_char *) m) == PCAP_ERROR) {
            fprintf(stderr, "flowprobe: %s: %s\n", m->iface, pcap_geterr(m->pcap));
            return 1;
        }
        flush_batch(m);
        uint64_t now = flow_wall_ms();
        if (now >= m->next_tick_ms) {
            tick(m, now);
        }
        if (stats_flag) {
            stats_flag = 0;
            print_stats(m);
        }
    }
    return 0;
}

/* File mode: the exporter's clock starts at the first packet; the first packet is kept.
 * 1 with it, 0 for an empty file, -1 when libpcap cannot read it. */
static int
first_packet(struct probe_main *m, struct pcap_pkthdr *h, const u_char **data)
{
    struct pcap_pkthdr *hp;
    int rc = pcap_next_ex(m->pcap, &hp, data);
    if (rc == 1) {
        *h = *hp;
        m->ex.boot_ms = (uint64_t) h->ts.tv_sec * 1000u + (uint64_t) h->ts.tv_usec / 1000u;
        m->next_tick_ms = m->ex.boot_ms + 1000;
        return 1;
    }
    m->ex.boot_ms = flow_wall_ms();
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "flowprobe: %s: %s\n", m->file, pcap_geterr(m->pcap));
        return -1;
    }
    return 0;
}

static void
free_opts(struct probe_main *m)
{
    free(m->iface);
    free(m->file);
    free(m->filter);
    free((char *) m->ex.instance_id);
    free((char *) m->ex.snid);
    free((char *) m->ex.account_id);
    for (unsigned i = 0; i < m->ex.ncollectors; i++) {
        free((char *) m->ex.collectors[i]);
    }
    for (unsigned i = 0; i < m->nifmap; i++) {
        free(m->ifmap[i].name);
    }
}

static int
setup(struct probe_main *m, struct pcap_pkthdr *h1, const u_char **d1, int *have1)
{
    char err[PCAP_ERRBUF_SIZE] = "";
    char xerr[256] = "";
    int rc;

    if (open_pcap(m, err) != 0) {
        fprintf(stderr, "flowprobe: %s: %s\n", m->file != NULL ? m->file : m->iface, err);
        return 1;
    }
    m->ex.ifindex = capture_ifindex(m);
    m->ex.version = m->ex.version == 0 ? 10 : m->ex.version;
    *have1 = m->file != NULL ? first_packet(m, h1, d1) : 0;
    if (m->file == NULL) {
        m->ex.boot_ms = flow_wall_ms();
    }
    if ((rc = probe_export_create(&m->x, &m->ex, xerr, sizeof(xerr))) != 0) {
        fprintf(stderr, "flowprobe: %s\n", xerr[0] != '\0' ? xerr : probe_strerror(rc));
        return 1;
    }
    m->tab.seed = hash_seed();
    if ((rc = probe_flowtab_create(&m->t, &m->tab, probe_export_flow, m->x)) != 0) {
        fprintf(stderr, "flowprobe: flow cache: %s\n", probe_strerror(rc));
        return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct probe_main m = {
        .tab = {.max_flows = 131072, .idle_ms = 15000, .active_ms = 60000, .fin_ms = 1000},
    };
    struct pcap_pkthdr h1;
    const u_char *d1 = NULL;
    int have1 = 0, status = 1;

    if (parse_args(&m, argc, argv) != 0) {
        free_opts(&m);
        return 2;
    }
    if (setup(&m, &h1, &d1, &have1) != 0) {
        goto cleanup;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sig_pcap = m.pcap;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    int failed;
    if (m.file != NULL) {
        if (have1 > 0) {
            on_packet((u_char *) &m, &h1, d1);
        }
        failed = have1 < 0 ? 1 : run_file(&m);
    } else {
        tick(&m, flow_wall_ms());
        failed = run_live(&m);
    }
    uint64_t end_ms = m.file != NULL ? (m.last_ms != 0 ? m.last_ms : m.ex.boot_ms) : flow_wall_ms();
    flush_batch(&m);
    probe_export_now(m.x, end_ms);
    probe_flowtab_flush(m.t);
    probe_export_finish(m.x, end_ms, m.notip + m.malformed);
    print_stats(&m);
    status = failed ? 1 : 0;
cleanup:
    sig_pcap = NULL;
    probe_flowtab_destroy(m.t);
    probe_export_destroy(m.x);
    if (m.pcap != NULL) {
        pcap_close(m.pcap);
    }
    free_opts(&m);
    return status;
}
