/* SPDX-License-Identifier: MIT */
/*
 * struct flow_rec: the one record type shared by every part of flowlog (DESIGN.md §3).
 *
 * The decoder fills it from NetFlow v5 / v9 / IPFIX data records, the encoder turns it back
 * into export messages, storage aggregates and stores it, and the query engine reads it.
 * Which fields a record actually carries is said by `present` (FLOW_HAS_*); a field whose bit
 * is clear holds zero and is shown as `-`.
 *
 * Addresses are always 16 bytes: IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d
 * (RFC 4291 §2.5.5.2), so one comparison serves both families.
 *
 * Unknown information elements are kept, not dropped: `raw` holds them as a packed list of
 * entries, bounded by FLOW_RAW_MAX bytes:
 *
 *   offset size  field
 *   0      4     enterprise number (0 for IANA IEs), big-endian
 *   4      2     element id (without the enterprise bit), big-endian
 *   6      2     value length n, big-endian
 *   8      n     value bytes, as on the wire
 *
 * An element that does not fit is counted in the decoder's stats and FLOW_F_RAW_TRUNC is set.
 */
#ifndef FLOWLOG_FLOW_H
#define FLOWLOG_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FLOW_ID_MAX  40  /* instance-id, snid and account-id, including the NUL */
#define FLOW_RAW_MAX 128 /* bytes of unknown IEs kept per record */

/* Bits of flow_rec.present: which optional fields were carried by the source. */
enum flow_has {
    FLOW_HAS_SRCADDR = 1u << 0,
    FLOW_HAS_DSTADDR = 1u << 1,
    FLOW_HAS_SRCPORT = 1u << 2,
    FLOW_HAS_DSTPORT = 1u << 3,
    FLOW_HAS_PROTOCOL = 1u << 4,
    FLOW_HAS_PACKETS = 1u << 5,
    FLOW_HAS_BYTES = 1u << 6,
    FLOW_HAS_TCPFLAGS = 1u << 7,
    FLOW_HAS_TOS = 1u << 8,
    FLOW_HAS_INPORT = 1u << 9,
    FLOW_HAS_OUTPORT = 1u << 10,
    FLOW_HAS_DIRECTION = 1u << 11,
    FLOW_HAS_RTT = 1u << 12,
    FLOW_HAS_SAMPLING = 1u << 13,
    FLOW_HAS_INSTANCE = 1u << 14,
    FLOW_HAS_SNID = 1u << 15,
    FLOW_HAS_ACCOUNT = 1u << 16,
};

/* Bits of flow_rec.flags. */
enum flow_flag {
    FLOW_F_RAW_TRUNC = 1u << 0,  /* an unknown IE did not fit in raw[] */
    FLOW_F_TIME_GUESS = 1u << 1, /* no usable time IEs: start/end are the export time */
    FLOW_F_TIME_SKEW = 1u << 2,  /* set by storage: the end time was implausibly far from the
                                    receive time, so start/end are the receive time */
};

enum flow_dir {
    FLOW_DIR_UNKNOWN = 0,
    FLOW_DIR_IN = 1,
    FLOW_DIR_OUT = 2,
};

enum flow_action {
    FLOW_ACT_ACCEPT = 0, /* also when the source says nothing */
    FLOW_ACT_REJECT = 1,
};

enum flow_log_status {
    FLOW_LS_OK = 0,
    FLOW_LS_NODATA = 1,
    FLOW_LS_SKIPDATA = 2,
};

struct flow_rec {
    uint64_t start_ms; /* ms since the Unix epoch */
    uint64_t end_ms;
    uint64_t packets;
    uint64_t bytes;
    uint8_t srcaddr[16];
    uint8_t dstaddr[16];
    uint8_t exporter[16]; /* address the message came from */
    uint32_t present;     /* enum flow_has bits */
    uint32_t domain;      /* observation domain / source id / v5 engine type<<8|id */
    uint32_t inport;
    uint32_t outport;
    uint32_t sampling; /* 1-in-N packet sampling in force; 0 or 1 = none */
    uint32_t rtt_us;   /* TCP handshake RTT measured by flowprobe */
    uint16_t srcport;  /* for ICMP: 0 */
    uint16_t dstport;  /* for ICMP: type << 8 | code */
    uint16_t exporter_port;
    uint16_t tcp_flags; /* IPFIX allows 16 bits; NetFlow carries 8 */
    uint8_t protocol;
    uint8_t tos;
    uint8_t version;    /* 1, 5, 7, 9 or 10 */
    uint8_t direction;  /* enum flow_dir */
    uint8_t action;     /* enum flow_action */
    uint8_t log_status; /* enum flow_log_status */
    uint8_t flags;      /* enum flow_flag */
    uint8_t raw_len;    /* bytes used in raw[] */
    uint16_t flowlog;   /* set by storage: the flow log that captured it (0 = default) */
    uint32_t window;    /* set by storage: start of its capture window, Unix seconds */
    uint32_t skipped;   /* SKIPDATA records: records the exporter's sequence shows lost */
    char instance_id[FLOW_ID_MAX];
    char snid[FLOW_ID_MAX];
    char account_id[FLOW_ID_MAX];
    uint8_t raw[FLOW_RAW_MAX];
};

/* Set an address field from 4 IPv4 bytes (stored IPv4-mapped). */
static inline void
flow_addr_set_v4(uint8_t dst[16], const uint8_t v4[4])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(dst, prefix, 12);
    memcpy(dst + 12, v4, 4);
}

/* True when the 16-byte address is IPv4-mapped. */
static inline bool
flow_addr_is_v4(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    for (int i = 0; i < 12; i++) {
        if (a[i] != prefix[i]) {
            return false;
        }
    }
    return true;
}

/* One entry of flow_rec.raw, as flow_raw_next() hands it out. */
struct flow_raw_ie {
    uint32_t pen; /* 0 for IANA elements */
    uint16_t id;
    uint16_t len;
    const uint8_t *val; /* points into the record's raw[]; valid while the record is */
};

/*
 * Walk raw[]: *off starts at 0; each call fills *ie with the entry at *off and advances it.
 * Returns false at the end (or on a damaged list).
 */
static inline bool
flow_raw_next(const struct flow_rec *r, size_t *off, struct flow_raw_ie *ie)
{
    if (*off + 8 > r->raw_len) {
        return false;
    }
    const uint8_t *p = r->raw + *off;
    ie->pen = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
    ie->id = (uint16_t) (p[4] << 8 | p[5]);
    ie->len = (uint16_t) (p[6] << 8 | p[7]);
    if (*off + 8 + ie->len > r->raw_len) {
        return false;
    }
    ie->val = p + 8;
    *off += 8u + ie->len;
    return true;
}

#endif
