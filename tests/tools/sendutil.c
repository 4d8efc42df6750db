/* SPDX-License-Identifier: MIT */
/* The loopback-only destination check (sendutil.h). */
#define _DEFAULT_SOURCE /* inet_pton, in6addr_loopback */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "sendutil.h"

int
sendutil_loopback(const char *addr, uint16_t port, struct sockaddr_storage *dst, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) dst;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) dst;

    memset(dst, 0, sizeof(*dst));
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
            return -1;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        if (memcmp(&sin6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback)) != 0) {
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -1;
}
