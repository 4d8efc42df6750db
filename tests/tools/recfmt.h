/* SPDX-License-Identifier: MIT */
/*
 * The canonical one-line dump of a struct flow_rec used by golden tests and decdump:
 *   v=10 exp=192.0.2.1:50000 dom=0 src=... dst=... sport=.. dport=.. proto=.. pkts=..
 *   bytes=.. tos=.. flags=.. in=.. out=.. dir=in|out start=<ms> end=<ms>
 * Missing values print as '-'. tests/golden/gen-expect.py writes the same format from tshark.
 */
#ifndef FLOWLOG_RECFMT_H
#define FLOWLOG_RECFMT_H

#include <stddef.h>

#include "flow.h"

/* Format an address (IPv4-mapped prints dotted, else RFC 5952). buf >= 46 bytes. */
void recfmt_addr(char *buf, size_t cap, const uint8_t addr[16]);
/* Write the canonical line (no newline) into buf; returns its length. */
int recfmt_line(char *buf, size_t cap, const struct flow_rec *r);
/*
 * The canonical line followed by the fields tshark cannot check, for our own golden cases:
 *   act=ACCEPT|REJECT samp=N|- inst=..|- snid=..|- acct=..|- rtt=N|- raw=PEN.ID:HEX,...|-
 */
int recfmt_line_full(char *buf, size_t cap, const struct flow_rec *r);

#endif
