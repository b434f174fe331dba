/*
 * plc_carousel.h — the carousel PLC's raw TCP byte protocol, client side (blocking with
 * deadlines), for the PLC collector's device threads.
 *
 * A request is a command byte (+ an argument byte for non-zero commands); the reply is
 * exactly 2 bytes [status][position]. A connection is reused while the PLC keeps it;
 * a PLC that closes after each reply (one-shot) is reconnected transparently. Every
 * call is bounded by its timeout: a PLC that accepts and never answers costs one
 * timeout, never a stall. No logging here: errors come back as text for the caller.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "plc_codec.h"

struct carousel_conn {
        char host[48];
        uint16_t port;
        uint32_t timeout_ms;
        int fd; /* -1 when closed */
};

void carousel_conn_init(struct carousel_conn *cc, const char *host, uint16_t port,
                        uint32_t timeout_ms);
void carousel_conn_close(struct carousel_conn *cc);
/* Connect (resolving host) within the timeout. 0 or -errno with err filled. */
int carousel_conn_open(struct carousel_conn *cc, char *err, size_t errlen);
/*
 * One request/reply: connects first if needed. On -errno the connection is closed and
 * err says why (refused, timeout, short or long reply, closed by the PLC).
 */
int carousel_transact(struct carousel_conn *cc, uint8_t command, uint8_t argument,
                      struct carousel_status *ret, char *err, size_t errlen);
