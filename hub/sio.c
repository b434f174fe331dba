/*
 * sio.c — Engine.IO/Socket.IO packet parsing (see sio.h).
 *
 * Format of a Socket.IO packet inside an Engine.IO message ("4"):
 *   <type>[<attachments>-][<namespace>,][<ack id>][<json>]
 * Everything is bounds-checked against the frame length; a namespace longer than
 * SIO_NSP_MAX or an ack id over 2^53 is malformed.
 */
#include "sio.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "macros.h"

int sio_parse(const char *f, size_t n, struct sio_packet *ret)
{
        if (!f || !ret || n == 0)
                return -EBADMSG;
        struct sio_packet p = { .sio = -1, .ack_id = -1, .nsp = "/" };
        if (f[0] < '0' || f[0] > '6')
                return -EBADMSG;
        p.eio = (enum eio_type)(f[0] - '0');
        size_t i = 1;
        if (p.eio != EIO_MESSAGE) {
                p.data = f + i;
                p.data_len = n - i;
                *ret = p;
                return 0;
        }
        if (i >= n || f[i] < '0' || f[i] > '6')
                return -EBADMSG;
        p.sio = f[i++] - '0';
        if (p.sio == SIO_BINARY_EVENT || p.sio == SIO_BINARY_ACK)
                return -EPROTONOSUPPORT;
        if (i < n && f[i] == '/') {
                size_t s = i;
                while (i < n && f[i] != ',')
                        i++;
                if (i >= n || i - s >= SIO_NSP_MAX)
                        return -EBADMSG;
                memcpy(p.nsp, f + s, i - s);
                p.nsp[i - s] = 0;
                i++; /* ',' */
        }
        if (i < n && f[i] >= '0' && f[i] <= '9') {
                int64_t v = 0;
                while (i < n && f[i] >= '0' && f[i] <= '9') {
                        v = v * 10 + (f[i++] - '0');
                        if (v > (INT64_C(1) << 53))
                                return -EBADMSG;
                }
                p.ack_id = v;
        }
        p.data = f + i;
        p.data_len = n - i;
        if (p.data_len && p.data[0] != '[' && p.data[0] != '{' && p.data[0] != '"')
                return -EBADMSG;
        if ((p.sio == SIO_EVENT || p.sio == SIO_ACK) && (!p.data_len || p.data[0] != '['))
                return -EBADMSG;
        *ret = p;
        return 0;
}

static bool has_pair(const char *q, const char *key, const char *val)
{
        size_t kl = strlen(key), vl = strlen(val);
        for (const char *p = q; p && *p;) {
                const char *amp = strchr(p, '&');
                size_t len = amp ? (size_t)(amp - p) : strlen(p);
                if (len == kl + 1 + vl && strncmp(p, key, kl) == 0 && p[kl] == '=' &&
                    strncmp(p + kl + 1, val, vl) == 0)
                        return true;
                p = amp ? amp + 1 : NULL;
        }
        return false;
}

bool sio_query_value(const char *query, const char *key, char *out, size_t size)
{
        size_t kl = strlen(key);
        if (query && *query == '?')
                query++;
        for (const char *p = query; p && *p;) {
                const char *amp = strchr(p, '&');
                size_t len = amp ? (size_t)(amp - p) : strlen(p);
                if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
                        if (len - kl - 1 >= size)
                                return false;
                        memcpy(out, p + kl + 1, len - kl - 1);
                        out[len - kl - 1] = 0;
                        return true;
                }
                p = amp ? amp + 1 : NULL;
        }
        return false;
}

void sio_random_id(char *out, size_t size)
{
        static const char abc[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t b[32];
        size_t n = MIN(size - 1, sizeof(b));
        if (getrandom(b, n, 0) != (ssize_t)n)
                memset(b, 0, sizeof(b));
        for (size_t i = 0; i < n; i++)
                out[i] = abc[b[i] & 63];
        out[n] = 0;
}

bool sio_query_ok(const char *query)
{
        if (!query)
                return false;
        if (*query == '?')
                query++;
        return has_pair(query, "EIO", "4") && has_pair(query, "transport", "websocket");
}
