/* SPDX-License-Identifier: MIT */
/*
 * flowprobe's internal interfaces, shared by its files (capture.c, flowtab.c, export.c,
 * main.c) and its unit tests. flowprobe is a program: this header is no public contract.
 *
 *   capture.c  link layer -> IPv4/IPv6 -> transport: one packet to struct probe_pkt (pure)
 *   flowtab.c  the flow cache: bidirectional entries, idle/active/FIN/RST expiry, eviction
 *   export.c   flows -> struct flow_rec -> the encoder (enc.h) -> UDP/TCP collectors
 *   main.c     options, config file, pcap (live or file), signals, statistics
 */
#ifndef FLOWLOG_PROBE_H
#define FLOWLOG_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enc.h"
#include "flow.h"

/* flowprobe's error band: -1300 ... -1349. System errors pass as -errno. */
enum probe_err {
    PROBE_E_NOTIP = -1300,    /* not an IPv4/IPv6 packet (ARP, LLDP, ...): skipped, counted */
    PROBE_E_TRUNC = -1301,    /* the IP header is cut short by the capture */
    PROBE_E_BADHDR = -1302,   /* an IP header field is impossible (version, lengths) */
    PROBE_E_LINKTYPE = -1303, /* a link type flowprobe does not read */
    PROBE_E_CONFIG = -1304,   /* bad option or configuration value */
};

const char *probe_strerror(int err);

/* ---- capture.c: packet parsing ---- */

/* Link types, as libpcap's DLT_* values on Linux (probe_parse is pure, no pcap.h needed). */
enum probe_dlt {
    PROBE_DLT_NULL = 0,   /* BSD loopback: 4-byte address family in the writer's order */
    PROBE_DLT_EN10MB = 1, /* Ethernet */
    PROBE_DLT_RAW = 12,   /* raw IP (LINKTYPE_RAW 101 is mapped to this by libpcap) */
    PROBE_DLT_RAW14 = 14, /* raw IP on OpenBSD */
    PROBE_DLT_LOOP = 108, /* OpenBSD loopback: address family big-endian */
    PROBE_DLT_LINUX_SLL = 113,
    PROBE_DLT_IPV4 = 228,
    PROBE_DLT_IPV6 = 229,
    PROBE_DLT_LINUX_SLL2 = 276,
};

/* One packet, as the flow cache needs it. Addresses are IPv4-mapped for IPv4. */
struct probe_pkt {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport; /* 0 when the protocol has none or the packet is a later fragment */
    uint16_t dport; /* ICMP/ICMPv6: type << 8 | code */
    uint8_t proto;
    uint8_t tos;       /* IPv4 TOS, IPv6 traffic class */
    uint8_t tcp_flags; /* 0 unless TCP with its header captured */
    bool v6;
    bool frag;    /* a fragment (first or later) */
    uint32_t len; /* bytes counted: the IP packet's length from its header */
};

/*
 * Parse one captured packet of link type dlt: caplen bytes at pkt, wirelen its length on the
 * wire (used when an IPv6 payload length is 0: jumbogram or offloaded super-packet).
 * Returns 0 with *out filled, or PROBE_E_NOTIP, PROBE_E_TRUNC, PROBE_E_BADHDR,
 * PROBE_E_LINKTYPE. A transport header cut short by the snap length is not an error: the
 * packet counts with ports 0.
 */
int probe_parse(int dlt, const uint8_t *pkt, size_t caplen, size_t wirelen, struct probe_pkt *out);

/* True when probe_parse() reads this link type. */
bool probe_dlt_ok(int dlt);

/* ---- flowtab.c: the flow cache ---- */

enum probe_why {
    PROBE_WHY_IDLE = 0,    /* no packet for idle_ms */
    PROBE_WHY_ACTIVE = 1,  /* a packet came active_ms after the record's start */
    PROBE_WHY_CLOSED = 2,  /* FIN both ways or RST, then fin_ms quiet */
    PROBE_WHY_EVICTED = 3, /* the cache was full: least recently used flow pushed out */
    PROBE_WHY_END = 4,     /* flushed at exit */
    PROBE_WHY_COUNT = 5,
};

/*
 * One bidirectional cache entry (a conversation). Side 0 is the (address, port) pair that
 * sorts lower, so both directions of a conversation find the same entry; each side with
 * packets becomes one exported unidirectional record. Kept small on purpose: 120 bytes.
 */
struct probe_flow {
    /* The key: compared and hashed as the first PROBE_KEY_LEN bytes. */
    uint8_t addr[2][16];
    uint16_t port[2];
    uint8_t proto;
    /* End of key. */
    uint8_t state;        /* enum probe_state bits */
    uint8_t tos[2];       /* last seen per side */
    uint8_t tcp_flags[2]; /* OR per side */
    uint32_t hnext;       /* hash chain: index + 1, 0 = end */
    uint32_t lprev;       /* expiry list links: index + 1, 0 = none */
    uint32_t lnext;
    uint32_t hash;
    uint32_t touch_s;     /* second (of packet time) the entry was queued at its list's tail */
    uint32_t rtt_us;      /* TCP handshake round trip, 0 = not measured */
    uint32_t syn_us;      /* SYN's time, µs after start_ms */
    uint64_t start_ms;    /* first packet of the record (either side) */
    uint32_t first_ms[2]; /* per side, ms after start_ms */
    uint32_t last_ms[2];
    uint32_t packets[2];
    uint64_t bytes[2];
};
#define PROBE_KEY_LEN 37

enum probe_state {
    PROBE_ST_FIN0 = 1u << 0,    /* side 0 sent FIN */
    PROBE_ST_FIN1 = 1u << 1,    /* side 1 sent FIN */
    PROBE_ST_RST = 1u << 2,     /* either side sent RST */
    PROBE_ST_CLOSING = 1u << 3, /* on the closing list */
    PROBE_ST_SYN = 1u << 4,     /* a SYN (no ACK) seen; its side in PROBE_ST_SYNSIDE */
    PROBE_ST_SYNSIDE = 1u << 5,
    PROBE_ST_SYNACK = 1u << 6, /* the other side answered SYN+ACK */
    PROBE_ST_V6 = 1u << 7,
};

struct probe_flowtab_cfg {
    uint32_t max_flows; /* entries, allocated up front (pages touched as used) */
    uint32_t idle_ms;
    uint32_t active_ms;
    uint32_t fin_ms; /* quiet time after FIN both ways or RST before the flow is expired */
    uint64_t seed;   /* hash seed; flowprobe draws one per process so that nobody on the
                        wire can aim packets at one bucket chain. Tests may leave it 0. */
};

struct probe_flowtab_stats {
    uint64_t packets; /* packets accounted */
    uint64_t flows;   /* records started (a split at the active timeout starts one) */
    uint64_t active;  /* entries in use now */
    uint64_t expired[PROBE_WHY_COUNT];
};

struct probe_flowtab;

/*
 * Called with each flow as it leaves the cache (or is split): f is valid during the call only.
 */
typedef void probe_expire_fn(void *arg, const struct probe_flow *f, enum probe_why why);

/* Returns 0, PROBE_E_CONFIG (max_flows 0 or too big, a timeout 0) or -ENOMEM. */
int probe_flowtab_create(struct probe_flowtab **out, const struct probe_flowtab_cfg *cfg,
                         probe_expire_fn *fn, void *arg);
void probe_flowtab_destroy(struct probe_flowtab *t);

/* Account one packet seen at ts_us (µs since the epoch). May expire flows through fn. */
void probe_flowtab_add(struct probe_flowtab *t, const struct probe_pkt *p, uint64_t ts_us);

/* The same for n <= PROBE_BATCH packets in order, with the memory loads overlapped. */
#define PROBE_BATCH 32
void probe_flowtab_add_batch(struct probe_flowtab *t, const struct probe_pkt *p,
                             const uint64_t *ts_us, size_t n);

/* Expire what is due at now_ms (idle, and closed flows after fin_ms). */
void probe_flowtab_expire(struct probe_flowtab *t, uint64_t now_ms);

/* Expire everything (PROBE_WHY_END). */
void probe_flowtab_flush(struct probe_flowtab *t);

const struct probe_flowtab_stats *probe_flowtab_stats(const struct probe_flowtab *t);

/*
 * Fill r (fully overwritten) with the record of side s of f: addresses, ports, protocol,
 * tos, tcp-flags, packets, bytes, start, end and rtt. Returns false when that side saw no
 * packet.
 */
bool probe_flow_rec(const struct probe_flow *f, int s, struct flow_rec *r);

/* ---- export.c: records to collectors ---- */

#define PROBE_MAX_COLLECTORS 8
#define PROBE_MAX_NETS       32

struct probe_net {
    uint8_t addr[16]; /* IPv4-mapped for IPv4 */
    uint8_t bits;     /* prefix length over the 16 bytes (IPv4 /24 is 120) */
};

struct probe_export_cfg {
    uint8_t version; /* 10, 9 or 5 */
    uint32_t domain;
    uint32_t pen;
    uint32_t sampling;
    const char *instance_id; /* NULL: not sent */
    const char *snid;
    const char *account_id;
    struct probe_net nets[PROBE_MAX_NETS];
    unsigned nnets;
    uint32_t ifindex; /* of the capture interface: inport of inbound, outport of outbound */
    uint64_t boot_ms;
    const char *collectors[PROBE_MAX_COLLECTORS]; /* HOST:PORT[/udp|/tcp] */
    unsigned ncollectors;
    uint16_t max_msg; /* 0: from the path MTU */
};

struct probe_export_stats {
    uint64_t records;        /* records handed to the encoders (per collector counted once) */
    uint64_t not_exportable; /* v5: IPv6 records */
    uint64_t send_errors;    /* messages that could not be sent (all collectors) */
    uint64_t messages;       /* messages sent */
    uint64_t reconnects;     /* TCP connections made after the first */
};

struct probe_export;

/* Open the collectors' sockets (TCP ones connect lazily). Returns 0, PROBE_E_CONFIG, -errno. */
int probe_export_create(struct probe_export **out, const struct probe_export_cfg *cfg, char *errbuf,
                        size_t errlen);
void probe_export_destroy(struct probe_export *x);

/* Parse "HOST:PORT[/udp|/tcp]" ("[v6]:PORT" for IPv6). 0 or PROBE_E_CONFIG. */
int probe_collector_parse(const char *spec, char *host, size_t hostlen, uint16_t *port, bool *tcp);

/* Parse "ADDR/BITS" (IPv4 or IPv6). 0 or PROBE_E_CONFIG. */
int probe_net_parse(const char *spec, struct probe_net *n);

/* Direction of a record by the local networks: FLOW_DIR_IN, _OUT or _UNKNOWN. */
int probe_direction(const struct probe_net *nets, unsigned nnets, const uint8_t src[16],
                    const uint8_t dst[16]);

/* The expire callback: arg is the struct probe_export. Exports both sides of f. */
void probe_export_flow(void *arg, const struct probe_flow *f, enum probe_why why);

/* Once a second or so: options records when due, flush partial messages, reconnect TCP. */
void probe_export_tick(struct probe_export *x, uint64_t now_ms, uint64_t ignored_pkts);

/* Send what is buffered and the options records (at exit). */
void probe_export_finish(struct probe_export *x, uint64_t now_ms, uint64_t ignored_pkts);

/* Set the export clock (file mode: packet time). */
void probe_export_now(struct probe_export *x, uint64_t now_ms);

const struct probe_export_stats *probe_export_stats(const struct probe_export *x);

#endif
