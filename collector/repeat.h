/* SPDX-License-Identifier: MIT */
/*
 * The repeater (repeat.c, docs/collector.md "Repeater"): every message the listeners accept
 * is sent on, unchanged, as one UDP datagram to each [repeat] destination. Its config part
 * (config_repeat.c, library coll) parses the destination list; its socket part (repeat.c,
 * flowlogd) sends. Both run on the ingest loop's thread only.
 */
#ifndef FLOWLOG_REPEAT_H
#define FLOWLOG_REPEAT_H

#include <stddef.h>
#include <stdint.h>

#define COLL_REPEAT_MAX     8    /* destinations in [repeat] to */
#define COLL_REPEAT_SPEC    128  /* characters in one HOST:PORT item */
#define COLL_REPEAT_TO_MAX  1024 /* characters in the whole [repeat] to list */

/* [repeat] keys. */
struct coll_repeat_cfg {
    char to[COLL_REPEAT_TO_MAX]; /* "HOST:PORT, [V6]:PORT ..."; "" = no repeater */
    uint32_t sndbuf_bytes;       /* each destination socket's send buffer: its queue. 4 MiB */
};

/* One destination's counters. sent + dropped + errors = messages offered to it. */
struct coll_repeat_stats {
    char name[COLL_REPEAT_SPEC]; /* "127.0.0.1:9995" as resolved */
    uint64_t sent;               /* datagrams the kernel took */
    uint64_t dropped;            /* its send buffer was full (EAGAIN, ENOBUFS): copy lost */
    uint64_t errors;             /* any other send error (ECONNREFUSED after an ICMP
                                    unreachable, EMSGSIZE for a message over 65507 bytes) */
};

struct coll_repeat_totals {
    size_t n;
    struct coll_repeat_stats d[COLL_REPEAT_MAX];
};

/*
 * Split a [repeat] to list (commas and/or blanks) into items: up to COLL_REPEAT_MAX
 * "HOST:PORT" or "[V6]:PORT" strings written to items. Returns the number of items, or
 * -EINVAL with a message naming the bad item (no port, a port out of range, too many).
 * Nothing is resolved here (library coll does no I/O).
 */
int coll_repeat_split(const char *list, char items[][COLL_REPEAT_SPEC], char *msg,
                      size_t msglen);
/* Append one destination (the -R option) to a to-list; -ENOSPC when it does not fit. */
int coll_repeat_append(struct coll_repeat_cfg *cfg, const char *spec);

struct coll_repeat;
/*
 * Resolve every destination and open a non-blocking, connected UDP socket for each, and make
 * it the one coll_repeat_tap sends through. A cfg with no destinations gives *out = NULL and
 * 0. -EINVAL (with a message) for a name that does not resolve; -errno for a socket error.
 */
int coll_repeat_open(const struct coll_repeat_cfg *cfg, struct coll_repeat **out, char *msg,
                     size_t msglen);
/* Send data to every destination; never waits. A no-op without an open repeater. */
void coll_repeat_tap(const uint8_t *data, size_t len);
/* The open repeater's counters (n = 0 without one). */
void coll_repeat_totals(struct coll_repeat_totals *out);
/* Close the sockets; NULL ok. */
void coll_repeat_close(struct coll_repeat *r);

#endif
