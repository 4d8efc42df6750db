/* SPDX-License-Identifier: MIT */
/*
 * flowlogd's parts, private to collector/: the ingest pipeline (datagrams -> decoder ->
 * storage batches) and the listeners (libuv UDP sockets feeding it). main.c wires them.
 */
#ifndef FLOWLOG_COLL_H
#define FLOWLOG_COLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "dec.h"
#include "stor.h"

/* ---- pipeline.c ---- */

struct coll_counters {
    uint64_t datagrams;
    uint64_t octets;
    uint64_t records;         /* decoded */
    uint64_t records_dropped; /* no free storage batch: counted, not stored */
    uint64_t batches;         /* submitted to storage */
};

struct coll_pipeline;

/* Decoder + storage hand-off. Loads the decoder's templates from the store. */
int coll_pipeline_open(struct coll_pipeline **out, struct stor_env *stor, uint64_t now_ms);
/* Decode one message (a UDP datagram, or one IPFIX message framed from a TCP stream) from
 * `from` over `transport` (enum dec_transport) and queue its records for storage. */
void coll_pipeline_message(struct coll_pipeline *p, const struct sockaddr *from, uint8_t transport,
                           const uint8_t *data, size_t len, uint64_t now_ms);
/* A TCP session ended: its templates go with it (RFC 7011 §8). */
void coll_pipeline_forget(struct coll_pipeline *p, const struct sockaddr *from);
/* Hand the partly filled batch to storage (a timer calls this so records never wait long). */
void coll_pipeline_flush(struct coll_pipeline *p);
/* Periodic work: template expiry, template snapshot to the store. */
void coll_pipeline_tick(struct coll_pipeline *p, uint64_t now_ms);
void coll_pipeline_counters(const struct coll_pipeline *p, struct coll_counters *out);
const struct dec_stats *coll_pipeline_dec_stats(const struct coll_pipeline *p);
/* Flush, save templates, free. NULL ok. The store stays open (the caller closes it). */
void coll_pipeline_close(struct coll_pipeline *p, uint64_t now_ms);

/* ---- listen.c ---- */

struct coll_listener;

/*
 * Parse "udp:ADDR:PORT" or "tcp:ADDR:PORT" ("udp:[::1]:4739" for IPv6) into *addr and
 * *tcp. Returns 0, or -EINVAL with a message in msg.
 */
int coll_listen_parse(const char *spec, struct sockaddr_storage *addr, bool *tcp, char *msg,
                      size_t msglen);
/* Bind a UDP listener on the loop feeding p; rcvbuf is the receive buffer to ask for. */
int coll_listen_udp(uv_loop_t *loop, const struct sockaddr *addr, int rcvbuf,
                    struct coll_pipeline *p, struct coll_listener **out, char *msg, size_t msglen);
/* Bind an IPFIX-over-TCP listener (RFC 7011 §10.4): many exporters at once, messages framed
 * from the stream however it is cut. */
int coll_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, struct coll_pipeline *p,
                    struct coll_listener **out, char *msg, size_t msglen);
/* "ADDR:PORT" actually bound (port 0 resolved), for the startup line. */
void coll_listen_name(const struct coll_listener *l, char *buf, size_t len);
/* "udp" or "tcp". */
const char *coll_listen_proto(const struct coll_listener *l);
/* Close the socket (and a TCP listener's sessions); the memory goes in close callbacks. */
void coll_listen_close(struct coll_listener *l);

/* Wall-clock milliseconds, the `now` given to the decoder and the store. */
uint64_t coll_now_ms(void);

#endif
