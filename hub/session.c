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
 * then the fan-out, then client_disconnected, then the client is freed. The same begin,
 * dispatch and end serve a client on Engine.IO's polling transport (eio_poll.c). An
 * upgrade that names an existing client (the dialect's join()) only probes: its messages
 * go to the dialect's on_probe() until that switches the client over to this WebSocket.
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
#include "record_json.h"
#include "tokens.h"
#include "util.h"

struct pss {
        struct hub_client *c;
        bool probing;      /* c is on another transport: this WebSocket only probes */
        const char *reply; /* the probe's answer to write (static text) */
};

/* ---- authentication ---- */

#define SESSION_EXP_MAX_S (400ull * 24 * 3600) /* past jwt_max_lifetime's range */

static void token_expired(struct htimer *t)
{
        struct hub_client *c = htimer_owner(t, struct hub_client, exp_tm);
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
        c->has_ident = true;
        c->ident = id;
        /* A session lives no longer than its token (a new auth message moves this). */
        htimer_cancel(&c->exp_tm);
        if (id.exp) {
                /* Bounded before the multiply: exp is the token's word (a limit of its
                 * lifetime applies, but the timer must not overflow whatever exp says). */
                uint64_t now = (uint64_t)time(NULL);
                uint64_t secs = MIN(id.exp > now ? id.exp - now : 0, SESSION_EXP_MAX_S);
                htimer_schedule(&c->exp_tm, token_expired,
                                (lws_usec_t)secs * LWS_US_PER_SEC + 1000);
        }
        log_info("client %s (%s): authenticated as '%s' (%s)", c->uuid, c->ip, id.sub,
                 auth_role_name(id.role));
        return 0;
}

/* Re-check one live session after a reload: 0, or -1 when it was closed. */
static int recheck(struct hub_client *c)
{
        if (!c->authed)
                return 0; /* still within its authentication deadline (in-band dialects) */
        if (!c->has_ident) {
                log_notice("client %s (%s, %s): authentication now required, closing", c->uuid,
                           c->ip, c->d->name);
                client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication required");
                return -1;
        }
        struct auth_identity now;
        const char *why = NULL;
        if (tokens_recheck(&c->ident, &now, &why) < 0) {
                log_notice("client %s (%s, %s) as '%s': %s, closing", c->uuid, c->ip, c->d->name,
                           c->sub, why ? why : "credentials no longer valid");
                client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "credentials revoked");
                return -1;
        }
        if (now.role != c->role)
                log_notice("client %s (%s) as '%s': role %s -> %s after reload", c->uuid, c->ip,
                           c->sub, auth_role_name(c->role), auth_role_name(now.role));
        c->role = now.role;
        strscpy(c->sub, sizeof(c->sub), now.sub);
        c->ident = now;
        return 0;
}

void session_recheck_all(void)
{
        if (!tokens_auth_on())
                return; /* auth off: every session may do what auth off allows */
        unsigned closed = 0, n = 0;
        for (unsigned di = 0; di < hub_n_dialects; di++)
                for (struct hub_client *c = client_first(di), *next; c; c = next) {
                        next = c->next;
                        if (c->closing)
                                continue;
                        n++;
                        closed += recheck(c) < 0;
                }
        if (n)
                log_info("auth reloaded: %u sessions re-checked, %u closed", n, closed);
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
static void auth_deadline(struct htimer *t)
{
        struct hub_client *c = htimer_owner(t, struct hub_client, auth_tm);
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
                htimer_schedule(&c->auth_tm, auth_deadline,
                                (lws_usec_t)hub.opt.auth_timeout_secs * LWS_US_PER_SEC);
        return 0;
}

/* ---- client events ---- */

void session_client_event(unsigned topic, const char *uuid, const char *ip)
{
        json_object *o = json_object_new_object();
        if (!o)
                return;
        /* A client's own words (POST /api/clients): valid UTF-8 for every text frame. */
        uuid = uuid ? uuid : "unknown";
        json_object_object_add(o, "client_id", json_string_utf8(uuid, strlen(uuid)));
        if (ip)
                json_object_object_add(o, "client_ip", json_object_new_string(ip));
        (void)events_publish_json(topic, false, o, 0);
        json_object_put(o);
}

/* ---- open, receive, close ---- */

struct hub_client *session_begin(struct lws *wsi, const struct dialect *d, unsigned di,
                                 void (*kick)(struct hub_client *c), void *transport)
{
        if (client_count() >= hub.opt.max_clients || hub.shutting_down) {
                atomic_fetch_add_explicit(&hub.stats.clients_refused, 1, memory_order_relaxed);
                log_info("client refused: %u clients (limit %u)", client_count(),
                         hub.opt.max_clients);
                errno = EBUSY;
                return NULL;
        }
        /* The first client: an idle reader has not read the ring since its last tick. */
        (void)hub_reader_sync();
        events_catch_up(di); /* what its dialect skipped while nobody wanted it */
        struct hub_client *c = client_new(wsi, d, di);
        if (!c) {
                errno = ENOMEM;
                return NULL;
        }
        c->kick = kick;
        c->transport = transport;
        log_debug("client %" PRIu64 " connected (%s%s)", c->id, d->name, kick ? ", polling" : "");
        rate_limit_init(&c->in_rl, hub.opt.rate_limit, 2.0 * hub.opt.rate_limit);
        fanout_open(c);
        int code = authenticate_upgrade(c);
        if (code == 0 && d->on_open)
                code = d->on_open(c);
        client_sync_wants(c); /* what it subscribed to on open, counted for the publisher */
        if (code == 0)
                session_client_event(HUB_T_CLIENT_CONNECTED, c->uuid, c->ip);
        if (code > 0)
                client_close(c, code, "rejected");
        return c;
}

void session_end(struct hub_client *c)
{
        if (c->probe) {
                /* A WebSocket still probing to take this client over goes with it. */
                struct pss *p = lws_wsi_user(c->probe);
                if (p)
                        p->c = NULL;
                lws_set_timeout(c->probe, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
                c->probe = NULL;
        }
        if (c->d->on_close)
                c->d->on_close(c);
        htimer_cancel(&c->exp_tm);
        htimer_cancel(&c->auth_tm);
        /* Its own client_disconnected event (published below, on this thread, while it is
         * still listed) must not reach it: a rate hold would arm its timer after
         * fanout_close() cancelled it, and the freed client would stay in lws's timers. */
        c->closing = true;
        fanout_close(c);
        session_client_event(HUB_T_CLIENT_DISCONNECTED, c->uuid, c->ip);
        client_free(c);
}

static int session_open(struct lws *wsi, struct pss *pss)
{
        *pss = (struct pss){ 0 };
        char uri[256];
        int ul = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
        unsigned di = 0;
        const struct dialect *d = ul > 0 ? dialects_by_path(uri, strcspn(uri, "?"), &di) : NULL;
        if (!d) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                 (unsigned char *)"unknown endpoint", 16);
                return -1;
        }
        struct hub_client *c = NULL;
        int j = d->join ? d->join(wsi, &c) : 0;
        if (j < 0 || (j > 0 && (c->probe || c->closing))) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                 (unsigned char *)"unknown session", 15);
                return -1;
        }
        if (j > 0) {
                /* An upgrade: the client stays on its transport until the probe is done. */
                c->probe = wsi;
                pss->c = c;
                pss->probing = true;
                return 0;
        }
        c = session_begin(wsi, d, di, NULL, NULL);
        if (!c) {
                if (errno == EBUSY)
                        lws_close_reason(wsi, 1013, (unsigned char *)"too many clients", 16);
                else
                        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                                         (unsigned char *)"out of memory", 13);
                return -1;
        }
        pss->c = c;
        return 0;
}

static void session_closed(struct pss *pss)
{
        struct hub_client *c = pss->c;
        if (!c)
                return;
        pss->c = NULL;
        if (pss->probing) {
                /* The probe went away before the switch: the client stays where it is. */
                c->probe = NULL;
                if (c->d->on_probe)
                        (void)c->d->on_probe(c, NULL, NULL, 0, NULL);
                return;
        }
        session_end(c);
}

void session_switched(struct hub_client *c)
{
        struct pss *p = c->probe ? lws_wsi_user(c->probe) : NULL;
        c->probe = NULL;
        if (!p)
                return;
        p->probing = false;
        fanout_kick(c);
}

/* A message on a probing WebSocket (small, one frame): the dialect answers or switches. */
static int probe_receive(struct lws *wsi, struct pss *pss, const char *in, size_t len)
{
        char msg[32];
        if (lws_frame_is_binary(wsi) || !lws_is_final_fragment(wsi) || len >= sizeof(msg) ||
            !pss->c->d->on_probe)
                return -1;
        memcpy(msg, in, len);
        msg[len] = 0;
        int r = pss->c->d->on_probe(pss->c, wsi, msg, len, &pss->reply);
        if (r < 0)
                return -1;
        if (r > 0)
                session_switched(pss->c);
        if (pss->reply)
                lws_callback_on_writable(wsi);
        return 0;
}

static int probe_write(struct lws *wsi, struct pss *pss)
{
        if (!pss->reply)
                return 0;
        uint8_t buf[LWS_PRE + 32];
        size_t n = MIN(strlen(pss->reply), sizeof(buf) - LWS_PRE);
        memcpy(buf + LWS_PRE, pss->reply, n);
        pss->reply = NULL;
        return lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < 0 ? -1 : 0;
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

int session_dispatch(struct hub_client *c, const char *msg, size_t len)
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
        int r = c->d->on_text ? c->d->on_text(c, msg, len) : 0;
        client_sync_wants(c); /* its subscriptions may have changed */
        return r;
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
        int code = session_dispatch(c, c->rx, c->rx_len);
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

int session_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
        struct pss *pss = user;
        switch (reason) {
        case LWS_CALLBACK_ESTABLISHED:
                return session_open(wsi, pss);
        case LWS_CALLBACK_SERVER_WRITEABLE:
                if (pss && pss->c && pss->probing)
                        return probe_write(wsi, pss);
                return pss && pss->c ? fanout_write(pss->c) : 0;
        case LWS_CALLBACK_RECEIVE:
                if (pss && pss->c && pss->probing)
                        return probe_receive(wsi, pss, in, len);
                return pss && pss->c ? session_receive(wsi, pss->c, in, len) : -1;
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
                /* The answer to our close frame (fanout.c wrote it, close_code 0): the
                 * handshake is done, close the socket without echoing a second one. */
                if (pss && pss->c && !pss->probing && pss->c->closing && !pss->c->close_code)
                        return -1;
                return pss && pss->c && !pss->probing ? session_peer_close(pss->c, in, len) : 0;
        case LWS_CALLBACK_CLOSED:
                if (pss)
                        session_closed(pss);
                return 0;
        default:
                return 0;
        }
}

size_t session_pss_size(void)
{
        return sizeof(struct pss);
}
