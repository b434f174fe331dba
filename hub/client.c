/*
 * client.c — one WebSocket client's struct, lifetime, lists and registry (see client.h).
 *
 * Process: ringhub. The lws thread creates, closes and frees clients and walks the
 * per-dialect lists without a lock (it is their only writer); it changes them under
 * reg_lock, which the mhd thread takes to read the registry for /api/clients. uuid and
 * ip never change after client_new(). No ring access, no JSON encoding of events.
 */
#include "client.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "log.h"
#include "macros.h"
#include "tls.h"
#include "util.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hub_client *reg; /* newest first */
static struct hub_client *lists[HUB_MAX_DIALECTS];
static _Atomic unsigned n_dialect[HUB_MAX_DIALECTS];
static _Atomic unsigned n_clients;
static _Atomic unsigned n_topic[HUB_MAX_DIALECTS][HUB_T_MAX];
static uint64_t next_id = 1;

struct hub_client *client_new(struct lws *wsi, const struct dialect *d, unsigned di)
{
        if (di >= HUB_MAX_DIALECTS)
                return NULL;
        size_t priv = ALIGN_TO(d->priv_size, (size_t)16);
        struct hub_client *c = calloc(1, sizeof(*c) + priv + hub.opt.queue_len * sizeof(void *));
        if (!c)
                return NULL;
        if (jsonfmt_uuid4(c->uuid) < 0) {
                free(c);
                return NULL;
        }
        c->wsi = wsi;
        c->d = d;
        c->di = di;
        c->id = next_id++;
        c->q = (struct hub_msg **)(c->priv + priv);
        c->q_cap = hub.opt.queue_len;
        if (!tls_peer_name(lws_get_socket_fd(wsi), c->ip, sizeof(c->ip)) &&
            !lws_get_peer_simple(wsi, c->ip, sizeof(c->ip)))
                strscpy(c->ip, sizeof(c->ip), "unknown");
        /* IPv4-mapped IPv6 reads better as IPv4. */
        if (startswith(c->ip, "::ffff:") && strchr(c->ip, '.'))
                memmove(c->ip, c->ip + 7, strlen(c->ip + 7) + 1);

        pthread_mutex_lock(&reg_lock);
        c->next = lists[di];
        if (c->next)
                c->next->prev = c;
        lists[di] = c;
        c->reg_next = reg;
        reg = c;
        pthread_mutex_unlock(&reg_lock);
        atomic_fetch_add(&n_dialect[di], 1);
        unsigned n = atomic_fetch_add(&n_clients, 1) + 1;
        atomic_store(&hub.stats.clients, n);
        atomic_fetch_add_explicit(&hub.stats.clients_total, 1, memory_order_relaxed);
        return c;
}

static void queue_clear(struct hub_client *c)
{
        for (unsigned i = 0; i < c->q_len; i++)
                hub_msg_unref(c->q[(c->q_head + i) % c->q_cap]);
        c->q_head_abs += c->q_len;
        c->q_len = 0;
        c->q_head = 0;
}

void client_free(struct hub_client *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&reg_lock);
        if (c->prev)
                c->prev->next = c->next;
        else
                lists[c->di] = c->next;
        if (c->next)
                c->next->prev = c->prev;
        for (struct hub_client **p = &reg; *p; p = &(*p)->reg_next)
                if (*p == c) {
                        *p = c->reg_next;
                        break;
                }
        pthread_mutex_unlock(&reg_lock);
        for (unsigned t = 0; t < HUB_T_MAX; t++)
                if (c->wants_mask[t / 64] & (UINT64_C(1) << (t % 64)))
                        atomic_fetch_sub(&n_topic[c->di][t], 1);
        atomic_fetch_sub(&n_dialect[c->di], 1);
        unsigned n = atomic_fetch_sub(&n_clients, 1) - 1;
        atomic_store(&hub.stats.clients, n);
        queue_clear(c);
        free(c->rx);
        free(c);
}

void client_close(struct hub_client *c, int code, const char *reason)
{
        if (c->closing)
                return;
        c->closing = true;
        c->close_code = (uint16_t)code;
        strscpy(c->close_reason, sizeof(c->close_reason), reason ? reason : "");
        queue_clear(c);
        c->write_pending = false;
        if (c->kick) {
                /* Polling: the transport ends the session (not from inside this call). */
                c->kick(c);
                return;
        }
        lws_callback_on_writable(c->wsi);
        /* A peer that never reads never makes us writeable: give up after 2 s. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
}

void client_close_all(int code, const char *reason)
{
        for (unsigned d = 0; d < HUB_MAX_DIALECTS; d++)
                for (struct hub_client *c = lists[d]; c; c = c->next)
                        client_close(c, code, reason);
}

struct hub_client *client_first(unsigned di)
{
        return di < HUB_MAX_DIALECTS ? lists[di] : NULL;
}

unsigned client_count(void)
{
        return atomic_load(&n_clients);
}

bool client_sync_want(struct hub_client *c, unsigned topic)
{
        if (topic >= HUB_T_MAX)
                return false;
        bool want = !c->d->wants || c->d->wants(c, topic);
        uint64_t bit = UINT64_C(1) << (topic % 64), *w = &c->wants_mask[topic / 64];
        if (want == !!(*w & bit))
                return want;
        /* Counted before the caller looks at the topic's latest frame (seq_cst). */
        if (want)
                atomic_fetch_add(&n_topic[c->di][topic], 1);
        else
                atomic_fetch_sub(&n_topic[c->di][topic], 1);
        *w ^= bit;
        return want;
}

void client_sync_wants(struct hub_client *c)
{
        for (unsigned t = 0; t < HUB_T_MAX; t++)
                (void)client_sync_want(c, t);
}

unsigned client_count_topic(unsigned di, unsigned topic)
{
        return di < HUB_MAX_DIALECTS && topic < HUB_T_MAX ? atomic_load(&n_topic[di][topic]) : 0;
}

unsigned client_count_dialect(unsigned di)
{
        return di < HUB_MAX_DIALECTS ? atomic_load_explicit(&n_dialect[di], memory_order_relaxed)
                                     : 0;
}

json_object *client_list_json(void)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        pthread_mutex_lock(&reg_lock);
        for (struct hub_client *c = reg; c; c = c->reg_next)
                json_object_object_add(o, c->uuid, json_object_new_string(c->ip));
        pthread_mutex_unlock(&reg_lock);
        return o;
}

void *client_priv(struct hub_client *c)
{
        return c->priv;
}

struct lws *client_wsi(struct hub_client *c)
{
        return c->wsi;
}

struct lws_context *client_context(const struct hub_client *c)
{
        return c->wsi ? lws_get_context(c->wsi) : hub.lws;
}

bool client_polling(const struct hub_client *c)
{
        return c->kick != NULL;
}

uint64_t client_id(const struct hub_client *c)
{
        return c->id;
}

const char *client_uuid(const struct hub_client *c)
{
        return c->uuid;
}

const char *client_ip(const struct hub_client *c)
{
        return c->ip;
}

bool client_authed(const struct hub_client *c)
{
        return c->authed;
}

enum auth_role client_role(const struct hub_client *c)
{
        return c->role;
}

const char *client_sub(const struct hub_client *c)
{
        return c->sub;
}

const char *client_auth_why(const struct hub_client *c)
{
        return c->auth_why;
}

bool client_closing(const struct hub_client *c)
{
        return c->closing;
}

const struct dialect *client_dialect(const struct hub_client *c, unsigned *ret_index)
{
        if (ret_index)
                *ret_index = c->di;
        return c->d;
}
