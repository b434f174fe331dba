/*
 * sio.h — Engine.IO v4 / Socket.IO v5 packet codec for the hub's Socket.IO dialect.
 *
 * Pure functions, no I/O (but the random session ids): parse one packet, query strings.
 * One Engine.IO packet per WebSocket text frame, or per record of a polling payload
 * (eio_poll.c splits those); binary attachments (types 5 and 6) are refused.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum eio_type {
        EIO_OPEN = 0,
        EIO_CLOSE = 1,
        EIO_PING = 2,
        EIO_PONG = 3,
        EIO_MESSAGE = 4,
        EIO_UPGRADE = 5,
        EIO_NOOP = 6
};
enum sio_type {
        SIO_CONNECT = 0,
        SIO_DISCONNECT = 1,
        SIO_EVENT = 2,
        SIO_ACK = 3,
        SIO_CONNECT_ERROR = 4,
        SIO_BINARY_EVENT = 5,
        SIO_BINARY_ACK = 6
};

#define SIO_NSP_MAX 64

struct sio_packet {
        enum eio_type eio;
        int sio;               /* enum sio_type, -1 when eio != EIO_MESSAGE */
        char nsp[SIO_NSP_MAX]; /* "/" when absent */
        int64_t ack_id;        /* -1 when absent */
        const char *data;      /* JSON text after the header (not terminated), may be empty */
        size_t data_len;
};

/* Parse one frame. Returns 0, or -EBADMSG (malformed), -EPROTONOSUPPORT (binary). */
int sio_parse(const char *frame, size_t len, struct sio_packet *ret);

/* The value of key in a query string ("a=1&b=2", a leading '?' allowed) into out;
 * false when absent or longer than size - 1. No percent-decoding (ids need none). */
bool sio_query_value(const char *query, const char *key, char *out, size_t size);
/* size - 1 random characters of [A-Za-z0-9_-] and a NUL (session ids). */
void sio_random_id(char *out, size_t size);

/* Does the query string ask for Engine.IO 4 over websocket? (keys in any order) */
bool sio_query_ok(const char *query);
