/*
 * ua_tcp.h — OPC UA TCP transport: endpoint URLs, HEL/ACK/ERR, chunk framing, reassembly.
 *
 * Part of the OPC UA client library (no ring). Pure functions over buffers plus a
 * non-blocking connect; the client (ua_channel.c) owns the socket. Reassembly enforces
 * the limits we announce in HEL: chunk size, message size and chunk count, so a peer
 * that sends endless 'C' chunks or a huge size field is refused, never buffered.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ua_types.h"

#define UA_TCP_HEADER_SIZE 8u
#define UA_TCP_MIN_CHUNK   8192u /* smallest buffer size a peer may announce (Part 6) */

struct ua_url {
        char host[256];
        char port[8];
        char path[256];
};

/* opc.tcp://host[:port][/path]; [v6]:port accepted. Returns 0 or -EINVAL. */
int ua_url_parse(const char *url, struct ua_url *ret);
/* Non-blocking TCP connect (SOCK_CLOEXEC, TCP_NODELAY). Returns fd or -errno. */
int ua_tcp_connect(const struct ua_url *u);

struct ua_tcp_limits {
        uint32_t recv_buffer, send_buffer; /* chunk sizes */
        uint32_t max_message, max_chunks;  /* 0 = no limit (peer side only) */
};

void ua_tcp_encode_hello(struct ua_enc *e, const struct ua_tcp_limits *ours, const char *url);
/* Body of an ACK (after the 8-byte header). */
int ua_tcp_decode_ack(const uint8_t *body, size_t len, struct ua_tcp_limits *ret);
/* Body of an ERR: status and reason text (copied, terminated). */
int ua_tcp_decode_error(const uint8_t *body, size_t len, uint32_t *ret_status, char *reason,
                        size_t reason_size);

/* A parsed chunk header. */
struct ua_chunk_hdr {
        char type[4]; /* "MSG", "OPN", "CLO", "ACK", "ERR", "HEL", "RHE" */
        char final;   /* 'F', 'C', 'A' */
        uint32_t size;
};
/*
 * Look at the start of buf: 0 when more bytes are needed, 1 with *h filled when a whole
 * chunk of h->size bytes is there, -EBADMSG for an unknown type/final byte, -EMSGSIZE when
 * the size is below the header or above max_chunk.
 */
int ua_tcp_peek(const uint8_t *buf, size_t len, uint32_t max_chunk, struct ua_chunk_hdr *h);

/* Reassembly of one message from its chunks (security None: bodies are plain). */
struct ua_reasm {
        uint8_t *buf;
        size_t len, cap;
        uint32_t chunks;
        uint32_t request_id;
        bool active;
};

/*
 * Add a chunk body (after the sequence header). Returns 1 when the message is complete
 * (buf/len hold it), 0 when more chunks are needed, -ECANCELED for an 'A' abort,
 * -EMSGSIZE / -E2BIG when the message or chunk count passes the limits, -EPROTO when a
 * chunk of another request interleaves.
 */
int ua_reasm_add(struct ua_reasm *r, char final, uint32_t request_id, const uint8_t *body,
                 size_t len, const struct ua_tcp_limits *ours);
void ua_reasm_reset(struct ua_reasm *r);
void ua_reasm_free(struct ua_reasm *r);
