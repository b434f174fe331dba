/*
 * session.c — WebSocket sessions for every dialect (see session.h).
 *
 * Process: ringhub, lws thread. Open: the upgrade's path names the dialect; over the
 * client limit or shutting down the upgrade is refused with 1013; the client gets its
 * uuid and peer address; with auth on, the upgrade's token ("Authorization: Bearer" or
 * ?token=) is checked, and a client without a valid one is closed unless its dialect
 * authenticates in band (DIALECT_AUTH_IN_BAND). Receive: binary frames, messages over
 * max_message and malformed ones close the client (a bad frame); every frame of a
 * fragmented message counts FRAME_COST bytes toward max_message and one message toward
 * the rate limit, and the message must end within the read deadline (empty
 * continuation frames are no free ride); then the inbound rate
 * limit (one token bucket per client: the excess is dropped, the dialect's rate_limited()
 * tells the client once a second, abuse closes it with 1008), then the dialect's
 * on_text(). A close we start is a handshake: fanout.c writes the close frame, what the
 * peer still sends is dropped, and its close answer ends the connection (closing the
 * socket on unread data would reset it and lose the close frame). Close: the dialect,
 * then the fan-out, then client_disconnected, then the client is freed.
 * Never blocks, never touches the ring.
 */
#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dialect.h"
#include "dialects.h"
#include "events.h"
#include "fanout.h"
#include "log.h"
#include "macros.h"
#include "tokens.h"
#include "util.h"

struct pss {
        struct hub_client *c;
};

/* ---- authentication ---- */

static void token_expired(lws_sorted_usec_list_t *sul)
{
        struct hub_client *c = lws_container_of(sul, struct hub_client, exp_sul);
        if (c->closing)
                return;
        log_info("client %s (%s): token of '%s' expired, closing", c->uuid, c->ip, c->sub);
        client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "token expired");
}

int session_authenticate(struct hub_client *c, const char *token, const char **why)
{
        struct auth_identity id;
        int r = tokens_verify(token, &id, why);
        if (r < 0) {
                log_notice("client %s (%s, %s): authentication failed: %s", c->uuid, c->ip,
                           c->d->name, *why ? *why : "refused");
                return r;
        }
        c->authed = true;
        c->role = id.role;
        strscpy(c->sub, sizeof(c->sub), id.sub);
        /* A session lives no longer than its token (a new auth message moves this). */
        lws_sul_cancel(&c->exp_sul);
        if (id.exp) {
                uint64_t now = (uint64_t)time(NULL);
                lws_sul_schedule(lws_get_context(c->wsi), 0, &c->exp_sul, token_expired,
                                 (lws_usec_t)(id.exp > now ? id.exp - now : 0) * LWS_US_PER_SEC +
                                     1000);
        }
        log_info("client %s (%s): authenticated as '%s' (%s)", c->uuid, c->ip, id.sub,
                 auth_role_name(id.role));
        return 0;
}

bool session_may(const struct hub_client *c, enum auth_role need)
{
        if (!tokens_auth_on())
                return true;
        return c && c->authed && c->role >= need;
}

/* The token of the upgrade request: "Authorization: Bearer X" or ?token=X. */
static bool upgrade_token(struct lws *wsi, char *buf, size_t size)
{
        char hdr[AUTH_TOKEN_MAX + 32];
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
            lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
                const char *t = auth_bearer(hdr);
                if (t && strlen(t) < size) {
                        strscpy(buf, size, t);
                        return true;
                }
        }
        /* Returns a pointer into buf, after "token=". */
        const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)size);
        if (!v || !*v)
                return false;
        memmove(buf, v, strlen(v) + 1);
        return true;
}

/* Every dialect that authenticates in band (native auth message, Socket.IO CONNECT) gets
 * auth_timeout_secs to do it: an unauthenticated client must not hold a client slot. */
static void auth_deadline(lws_sorted_usec_list_t *sul)
{
        struct hub_client *c = lws_container_of(sul, struct hub_client, auth_sul);
        if (c->authed || c->closing)
                return;
        log_notice("client %s (%s, %s): no auth within %u s, closing", c->uuid, c->ip, c->d->name,
                   hub.opt.auth_timeout_secs);
        client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication timeout");
}

/* 0, or -1 after closing a client that may not stay. */
static int authenticate_upgrade(struct hub_client *c)
{
        if (!tokens_auth_on()) {
                c->authed = true;
                c->role = AUTH_ROLE_ADMIN;
                return 0;
        }
        char *tok = malloc(AUTH_TOKEN_MAX + 1);
        if (tok && upgrade_token(c->wsi, tok, AUTH_TOKEN_MAX + 1)) {
                const char *why = NULL;
                if (session_authenticate(c, tok, &why) < 0)
                        c->auth_why = why ? why : "refused";
        }
        if (tok) {
                explicit_bzero(tok, AUTH_TOKEN_MAX + 1);
                free(tok);
        }
        if (!c->authed && !(c->d->flags & DIALECT_AUTH_IN_BAND)) {
                if (!c->auth_why)
                        log_notice("client %s (%s, %s): no token, closing", c->uuid, c->ip,
                                   c->d->name);
                client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication failed");
                return -1;
        }
        if (!c->authed)
                lws_sul_schedule(lws_get_context(c->wsi), 0, &c->auth_sul, auth_deadline,
                                 (lws_usec_t)hub.opt.auth_timeout_secs * LWS_US_PER_SEC);
        return 0;
}

/* ---- client events ---- */

void session_client_event(unsigned topic, const char *uuid, const char *ip)
{
        json_object *o = json_object_new_object();
        if (!o)
                return;
        json_object_object_add(o, "client_id", json_object_new_string(uuid ? uuid : "unknown"));
        if (ip)
                json_object_object_add(o, "client_ip", json_object_new_string(ip));
        (void)events_publish_json(topic, false, o, 0);
        json_object_put(o);
}

/* ---- open, receive, close ---- */

static int session_open(struct lws *wsi, struct pss *pss)
{
        char uri[256];
        int ul = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
        unsigned di = 0;
        const struct dialect *d = ul > 0 ? dialects_by_path(uri, strcspn(uri, "?"), &di) : NULL;
        if (!d) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                 (unsigned char *)"unknown endpoint", 16);
                return -1;
        }
        if (client_count() >= hub.opt.max_clients || hub.shutting_down) {
                atomic_fetch_add_explicit(&hub.stats.clients_refused, 1, memory_order_relaxed);
                lws_close_reason(wsi, 1013, (unsigned char *)"too many clients", 16);
                return -1;
        }
        struct hub_client *c = client_new(wsi, d, di);
        if (!c) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                                 (unsigned char *)"out of memory", 13);
                return -1;
        }
        pss->c = c;
        log_debug("client %" PRIu64 " connected (%s)", c->id, d->name);
        rate_limit_init(&c->in_rl, hub.opt.rate_limit, 2.0 * hub.opt.rate_limit);
        fanout_open(c);
        int code = authenticate_upgrade(c);
        if (code == 0 && d->on_open)
                code = d->on_open(c);
        if (code == 0)
                session_client_event(HUB_T_CLIENT_CONNECTED, c->uuid, c->ip);
        if (code > 0)
                client_close(c, code, "rejected");
        return 0;
}

static void session_closed(struct pss *pss)
{
        struct hub_client *c = pss->c;
        if (!c)
                return;
        if (c->d->on_close)
                c->d->on_close(c);
        lws_sul_cancel(&c->exp_sul);
        lws_sul_cancel(&c->auth_sul);
        /* Its own client_disconnected event (published below, on this thread, while it is
         * still listed) must not reach it: a rate hold would arm its timer after
         * fanout_close() cancelled it, and the freed client would stay in lws's timers. */
        c->closing = true;
        fanout_close(c);
        session_client_event(HUB_T_CLIENT_DISCONNECTED, c->uuid, c->ip);
        client_free(c);
        pss->c = NULL;
}

/* Bytes each frame of a message counts toward max_message besides its payload. */
#define FRAME_COST 64

static int reject(struct lws *wsi, int code, const char *reason)
{
        atomic_fetch_add_explicit(&hub.stats.bad_frames, 1, memory_order_relaxed);
        lws_close_reason(wsi, code, (unsigned char *)reason, strlen(reason));
        return -1;
}

/*
 * Count one inbound message. 0: go on; 1: over the limit, drop it (and when *ret_notify,
 * tell the client: once a second); -1: abuse, close the client.
 */
static int inbound(struct hub_client *c, bool *ret_notify)
{
        uint64_t now = mono_ns();
        *ret_notify = false;
        if (rate_limit_take(&c->in_rl, now))
                return 0;
        if (now - c->excess_window_ns > NSEC_PER_SEC) {
                c->excess_window_ns = now;
                c->excess = 0;
                *ret_notify = true;
        }
        if (++c->excess > hub.opt.rate_limit) {
                log_notice("client %s (%s): more than %u messages/s, closing", c->uuid, c->ip,
                           hub.opt.rate_limit);
                return -1;
        }
        return 1;
}

/* The rate limit, then the dialect: 0, or a close code for a bad frame. */
static int dispatch(struct hub_client *c)
{
        bool notify;
        int k = inbound(c, &notify);
        if (k < 0) {
                /* Every dialect alike: 1008 with the reason, through the close handshake
                 * (fanout.c), the rest of the flood read and dropped until the peer closes. */
                client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit exceeded");
                return 0;
        }
        if (k > 0) {
                if (notify && c->d->rate_limited)
                        c->d->rate_limited(c);
                return 0;
        }
        return c->d->on_text ? c->d->on_text(c, c->rx, c->rx_len) : 0;
}

static int session_receive(struct lws *wsi, struct hub_client *c, const void *in, size_t len)
{
        if (c->closing)
                return 0;
        if (lws_frame_is_binary(wsi))
                return reject(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                              "binary messages not supported");
        bool frame_end = lws_remaining_packet_payload(wsi) == 0;
        bool final = frame_end && lws_is_final_fragment(wsi);
        uint64_t now = mono_ns();
        if (c->rx_len == 0 && c->rx_frames == 0)
                c->rx_started_ns = now;
        if (frame_end)
                c->rx_frames++;
        if (c->rx_len + len + (size_t)c->rx_frames * FRAME_COST > hub.opt.max_message) {
                /* Through the close handshake: the rest of a flood is read and dropped. */
                atomic_fetch_add_explicit(&hub.stats.bad_frames, 1, memory_order_relaxed);
                client_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
                return 0;
        }
        if (frame_end && !final) {
                /* A non-final frame: a message toward the rate limit, and the whole
                 * message within the read deadline. */
                bool notify;
                if (inbound(c, &notify) < 0) {
                        client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit exceeded");
                        return 0;
                }
                if (now - c->rx_started_ns > (uint64_t)hub.opt.read_timeout_secs * NSEC_PER_SEC) {
                        client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                     "message not completed in time");
                        return 0;
                }
        }
        if (c->rx_len + len + 1 > c->rx_cap) {
                size_t cap =
                    MIN((size_t)hub.opt.max_message + 1, MAX(c->rx_len + len + 1, (size_t)512));
                char *p = realloc(c->rx, cap);
                if (!p)
                        return reject(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
                c->rx = p;
                c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (!final)
                return 0;
        c->rx[c->rx_len] = 0;
        int code = dispatch(c);
        c->rx_len = 0;
        c->rx_frames = 0;
        if (c->rx_cap > 4096) {
                free(c->rx);
                c->rx = NULL;
                c->rx_cap = 0;
        }
        if (code > 0)
                return reject(wsi, code, code == 1007 ? "malformed message" : "rejected");
        return 0;
}

/* RFC 6455 7.4: a close code a peer may send (lws already answers 1002 to some others). */
static bool close_code_valid(unsigned code)
{
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
               (code >= 3000 && code <= 4999);
}

/* The peer's close frame: 0 lets lws echo it; a 1-byte payload or a code out of range is
 * a protocol error: our 1002 goes out (fanout.c writes it) and the socket closes. */
static int session_peer_close(struct hub_client *c, const uint8_t *in, size_t len)
{
        if (len == 0 || (len >= 2 && close_code_valid((unsigned)in[0] << 8 | in[1])))
                return 0;
        atomic_fetch_add_explicit(&hub.stats.bad_frames, 1, memory_order_relaxed);
        client_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "invalid close frame");
        (void)fanout_write(c);
        return -1;
}

static int session_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len)
{
        struct pss *pss = user;
        switch (reason) {
        case LWS_CALLBACK_ESTABLISHED:
                return session_open(wsi, pss);
        case LWS_CALLBACK_SERVER_WRITEABLE:
                return pss && pss->c ? fanout_write(pss->c) : 0;
        case LWS_CALLBACK_RECEIVE:
                return pss && pss->c ? session_receive(wsi, pss->c, in, len) : -1;
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
                /* The answer to our close frame (fanout.c wrote it, close_code 0): the
                 * handshake is done, close the socket without echoing a second one. */
                if (pss && pss->c && pss->c->closing && !pss->c->close_code)
                        return -1;
                return pss && pss->c ? session_peer_close(pss->c, in, len) : 0;
        case LWS_CALLBACK_CLOSED:
                if (pss)
                        session_closed(pss);
                return 0;
        default:
                return 0;
        }
}

void session_protocol(struct lws_protocols *ret)
{
        *ret = (struct lws_protocols){
                .name = "ringhub-ws",
                .callback = session_callback,
                .per_session_data_size = sizeof(struct pss),
                .rx_buffer_size = 4096,
        };
}
