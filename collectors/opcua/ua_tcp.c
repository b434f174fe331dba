/*
 * ua_tcp.c — OPC UA TCP transport: URLs, connect, HEL/ACK/ERR, chunk headers, reassembly.
 *
 * Part of the OPC UA client library (no ring, no event loop). Every length that comes
 * from the peer is checked against our announced limits before it is used; the
 * reassembly buffer grows only up to max_message and never past max_chunks chunks.
 */
#include "ua_tcp.h"
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ua_url_parse(const char *url, struct ua_url *ret)
{
        static const char scheme[] = "opc.tcp://";
        struct ua_url u = { .port = "4840", .path = "" };
        const char *p, *host_end, *port_start = NULL;

        if (!url || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
                return -EINVAL;
        p = url + sizeof(scheme) - 1;
        if (*p == '[') {
                const char *close = strchr(p, ']');
                if (!close || close == p + 1 || (size_t)(close - p - 1) >= sizeof(u.host))
                        return -EINVAL;
                memcpy(u.host, p + 1, (size_t)(close - p - 1));
                host_end = close + 1;
                if (*host_end == ':')
                        port_start = host_end + 1;
                else if (*host_end && *host_end != '/')
                        return -EINVAL;
        } else {
                host_end = p + strcspn(p, ":/");
                if (host_end == p || (size_t)(host_end - p) >= sizeof(u.host))
                        return -EINVAL;
                memcpy(u.host, p, (size_t)(host_end - p));
                if (*host_end == ':')
                        port_start = host_end + 1;
        }
        const char *path = strchr(host_end, '/');
        if (port_start) {
                size_t n = path ? (size_t)(path - port_start) : strlen(port_start);
                if (n == 0 || n >= sizeof(u.port))
                        return -EINVAL;
                for (size_t i = 0; i < n; i++)
                        if (port_start[i] < '0' || port_start[i] > '9')
                                return -EINVAL;
                memcpy(u.port, port_start, n);
                u.port[n] = 0;
                long port = strtol(u.port, NULL, 10);
                if (port < 1 || port > 65535)
                        return -EINVAL;
        }
        if (path) {
                if (strlen(path) >= sizeof(u.path))
                        return -EINVAL;
                strcpy(u.path, path);
        }
        for (const char *q = u.host; *q; q++)
                if (*q <= ' ' || *q == '@')
                        return -EINVAL;
        *ret = u;
        return 0;
}

int ua_tcp_connect(const struct ua_url *u)
{
        /* Under way, not done: the client's loop waits for it with its own deadline. */
        return net_connect_tcp(u->host, u->port, NET_NODELAY | NET_KEEPALIVE | NET_NOWAIT, -1, 0);
}

void ua_tcp_encode_hello(struct ua_enc *e, const struct ua_tcp_limits *ours, const char *url)
{
        size_t start = e->len;
        ua_enc_bytes(e, "HELF", 4);
        ua_enc_u32(e, 0); /* size, patched */
        ua_enc_u32(e, 0); /* protocol version */
        ua_enc_u32(e, ours->recv_buffer);
        ua_enc_u32(e, ours->send_buffer);
        ua_enc_u32(e, ours->max_message);
        ua_enc_u32(e, ours->max_chunks);
        ua_enc_cstring(e, url);
        ua_enc_patch_u32(e, start + 4, (uint32_t)(e->len - start));
}

int ua_tcp_decode_ack(const uint8_t *body, size_t len, struct ua_tcp_limits *ret)
{
        struct ua_dec d;
        ua_dec_init(&d, body, len);
        (void)ua_dec_u32(&d); /* protocol version */
        struct ua_tcp_limits l = {
                .recv_buffer = ua_dec_u32(&d),
                .send_buffer = ua_dec_u32(&d),
                .max_message = ua_dec_u32(&d),
                .max_chunks = ua_dec_u32(&d),
        };
        if (d.err)
                return d.err;
        if (l.recv_buffer < UA_TCP_MIN_CHUNK || l.send_buffer < UA_TCP_MIN_CHUNK)
                return -EPROTO;
        *ret = l;
        return 0;
}

int ua_tcp_decode_error(const uint8_t *body, size_t len, uint32_t *ret_status, char *reason,
                        size_t reason_size)
{
        struct ua_dec d;
        ua_dec_init(&d, body, len);
        uint32_t st = ua_dec_u32(&d);
        struct ua_string s = ua_dec_string(&d);
        if (d.err && len < 4)
                return d.err;
        *ret_status = st;
        ua_string_copy(s, reason, reason_size);
        return 0;
}

int ua_tcp_peek(const uint8_t *buf, size_t len, uint32_t max_chunk, struct ua_chunk_hdr *h)
{
        static const char *const types[] = { "MSG", "OPN", "CLO", "ACK", "ERR", "HEL", "RHE" };
        if (len < UA_TCP_HEADER_SIZE) {
                /* Check what is there already so garbage is refused without waiting. */
                if (len >= 3) {
                        bool known = false;
                        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                                known |= memcmp(buf, types[i], 3) == 0;
                        if (!known)
                                return -EBADMSG;
                }
                return 0;
        }
        bool known = false;
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                known |= memcmp(buf, types[i], 3) == 0;
        if (!known || (buf[3] != 'F' && buf[3] != 'C' && buf[3] != 'A'))
                return -EBADMSG;
        uint32_t size = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 |
                        (uint32_t)buf[7] << 24;
        if (size < UA_TCP_HEADER_SIZE || size > max_chunk)
                return -EMSGSIZE;
        memcpy(h->type, buf, 3);
        h->type[3] = 0;
        h->final = (char)buf[3];
        h->size = size;
        return len >= size ? 1 : 0;
}

void ua_reasm_reset(struct ua_reasm *r)
{
        r->len = 0;
        r->chunks = 0;
        r->request_id = 0;
        r->active = false;
        /* Give back a big buffer after a big message; keep a small one for reuse. */
        if (r->cap > 256 * 1024) {
                free(r->buf);
                r->buf = NULL;
                r->cap = 0;
        }
}

void ua_reasm_free(struct ua_reasm *r)
{
        free(r->buf);
        *r = (struct ua_reasm){ 0 };
}

int ua_reasm_add(struct ua_reasm *r, char final, uint32_t request_id, const uint8_t *body,
                 size_t len, const struct ua_tcp_limits *ours)
{
        if (final == 'A') {
                ua_reasm_reset(r);
                return -ECANCELED;
        }
        if (r->active && r->request_id != request_id) {
                ua_reasm_reset(r);
                return -EPROTO;
        }
        if (!r->active) {
                r->active = true;
                r->request_id = request_id;
                r->len = 0;
                r->chunks = 0;
        }
        r->chunks++;
        if (ours->max_chunks && r->chunks > ours->max_chunks) {
                ua_reasm_reset(r);
                return -E2BIG;
        }
        if (len > ours->max_message || r->len > ours->max_message - len) {
                ua_reasm_reset(r);
                return -EMSGSIZE;
        }
        if (r->len + len > r->cap) {
                size_t cap = r->cap ? r->cap : 4096;
                while (cap < r->len + len)
                        cap *= 2;
                if (cap > ours->max_message)
                        cap = ours->max_message;
                uint8_t *b = realloc(r->buf, cap);
                if (!b) {
                        ua_reasm_reset(r);
                        return -ENOMEM;
                }
                r->buf = b;
                r->cap = cap;
        }
        if (len)
                memcpy(r->buf + r->len, body, len);
        r->len += len;
        if (final == 'F') {
                r->active = false;
                return 1;
        }
        return 0;
}
