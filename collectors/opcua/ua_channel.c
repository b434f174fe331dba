/*
 * ua_channel.c — OPC UA client: UA-TCP connection and secure channel (SecurityPolicy None).
 *
 * Part of the OPC UA client library (no ring). Bytes in (ua_client_feed) → chunks →
 * reassembled messages → ua_client_dispatch(); requests out are encoded once with the
 * request header, split into chunks the peer accepts, and queued until the socket takes
 * them. HEL/ACK, OpenSecureChannel issue and renew, CLO and the sequence, channel and
 * token checks on every chunk live here. Chunk sizes and counts are checked against
 * what we announced before anything is buffered. This file knows no service or session
 * content: it never decodes a response body past the OPN fields it owns.
 */
#include "ua_client_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const struct ua_tcp_limits *ua_client_peer_limits(const struct ua_client *c)
{
        return &c->peer;
}

void ua_client_channel_info(const struct ua_client *c, uint32_t *ret_token, uint32_t *ret_renewals)
{
        if (ret_token)
                *ret_token = c->token_id;
        if (ret_renewals)
                *ret_renewals = c->renewals;
}

int ua_client_fd(const struct ua_client *c)
{
        return c->fd;
}

short ua_client_poll_events(const struct ua_client *c)
{
        if (c->fd < 0)
                return 0;
        short ev = POLLIN;
        if (c->phase == PH_TCP || c->out.len > c->out_off)
                ev |= POLLOUT;
        return ev;
}

/* ---- sending ---- */

static void enc_request_header(struct ua_client *c, uint32_t handle, uint32_t timeout_ms)
{
        ua_enc_nodeid(&c->msg, &c->auth_token);
        ua_enc_i64(&c->msg, ua_datetime_from_unix_ns(real_now_ns()));
        ua_enc_u32(&c->msg, handle);
        ua_enc_u32(&c->msg, 0); /* return diagnostics */
        ua_enc_cstring(&c->msg, NULL);
        ua_enc_u32(&c->msg, timeout_ms);
        ua_enc_null_extension_object(&c->msg);
}

/* Start a request body in c->msg: type id then the request header. Returns the handle. */
uint32_t ua_channel_begin_request(struct ua_client *c, uint32_t type, uint32_t timeout_ms)
{
        ua_enc_reset(&c->msg);
        struct ua_nodeid t = UA_NODEID_NUM(0, type);
        ua_enc_nodeid(&c->msg, &t);
        uint32_t h = ++c->next_handle;
        if (h == 0)
                h = c->next_handle = 1;
        enc_request_header(c, h, timeout_ms);
        return h;
}

uint32_t ua_channel_next_request_id(struct ua_client *c)
{
        uint32_t id = ++c->next_request_id;
        if (id == 0)
                id = c->next_request_id = 1;
        return id;
}

static uint32_t next_seq(struct ua_client *c)
{
        uint32_t s = ++c->seq;
        if (s == 0 || s > UINT32_MAX - 1024) /* wrap below 1024 (Part 6 §6.7.2.4) */
                s = c->seq = 1;
        return s;
}

static int flush_out(struct ua_client *c);

/* Split c->msg into MSG/CLO chunks the peer can take and queue them. */
int ua_channel_queue(struct ua_client *c, const char *type, uint32_t request_id)
{
        if (c->msg.err)
                return c->msg.err;
        size_t chunk_body = c->peer.recv_buffer - 24; /* header 8 + channel/token 8 + seq 8 */
        if (c->peer.max_message && c->msg.len > c->peer.max_message)
                return -EMSGSIZE;
        size_t n_chunks = (c->msg.len + chunk_body - 1) / chunk_body;
        if (n_chunks == 0)
                n_chunks = 1;
        if (c->peer.max_chunks && n_chunks > c->peer.max_chunks)
                return -EMSGSIZE;
        size_t off = 0;
        for (size_t i = 0; i < n_chunks; i++) {
                size_t n = MIN(chunk_body, c->msg.len - off);
                bool last = i + 1 == n_chunks;
                ua_enc_bytes(&c->out, type, 3);
                ua_enc_u8(&c->out, last ? 'F' : 'C');
                ua_enc_u32(&c->out, (uint32_t)(24 + n));
                ua_enc_u32(&c->out, c->channel_id);
                ua_enc_u32(&c->out, c->token_id);
                ua_enc_u32(&c->out, next_seq(c));
                ua_enc_u32(&c->out, request_id);
                ua_enc_bytes(&c->out, c->msg.buf + off, n);
                off += n;
        }
        if (c->out.err)
                return c->out.err;
        c->last_request_ns = mono_now();
        return flush_out(c);
}

/* Queue the body in c->msg as a MSG and remember the request. */
int ua_channel_send_request(struct ua_client *c, uint32_t handle, uint32_t req_type,
                            uint32_t resp_type, uint64_t timeout_ms, generic_cb cb, void *ud,
                            size_t expect_n)
{
        uint32_t rid = ua_channel_next_request_id(c);
        if (!ua_client_add_pending(c, rid, handle, req_type, resp_type, timeout_ms, cb, ud,
                                   expect_n))
                return -EBUSY;
        int r = ua_channel_queue(c, "MSG", rid);
        if (r < 0) {
                for (unsigned i = 0; i < MAX_PENDING; i++)
                        if (c->pending[i].used && c->pending[i].request_id == rid)
                                c->pending[i].used = false;
                if (r != -EMSGSIZE)
                        return ua_client_teardown(c, r, "cannot send %s request: %s",
                                                  ua_service_name(req_type), strerror(-r));
        }
        return r;
}

int ua_channel_send_opn(struct ua_client *c, bool renew)
{
        uint32_t handle = ua_channel_begin_request(c, T_OPN_REQ, c->cfg.request_timeout_ms);
        ua_enc_u32(&c->msg, 0);             /* client protocol version */
        ua_enc_u32(&c->msg, renew ? 1 : 0); /* Issue / Renew */
        ua_enc_u32(&c->msg, 1);             /* MessageSecurityMode None */
        ua_enc_string(&c->msg, (struct ua_string){ .len = 0, .data = (const uint8_t *)"" });
        ua_enc_u32(&c->msg, c->cfg.channel_lifetime_ms);
        if (c->msg.err)
                return c->msg.err;
        uint32_t rid = ua_channel_next_request_id(c);
        size_t start = c->out.len;
        ua_enc_bytes(&c->out, "OPNF", 4);
        ua_enc_u32(&c->out, 0);
        ua_enc_u32(&c->out, c->channel_id);
        ua_enc_cstring(&c->out, POLICY_NONE);
        ua_enc_cstring(&c->out, NULL); /* sender certificate */
        ua_enc_cstring(&c->out, NULL); /* receiver thumbprint */
        ua_enc_u32(&c->out, next_seq(c));
        ua_enc_u32(&c->out, rid);
        ua_enc_bytes(&c->out, c->msg.buf, c->msg.len);
        ua_enc_patch_u32(&c->out, start + 4, (uint32_t)(c->out.len - start));
        if (c->out.err)
                return c->out.err;
        if (!ua_client_add_pending(c, rid, handle, T_OPN_REQ, T_OPN_RESP, c->cfg.request_timeout_ms,
                                   NULL, NULL, 0))
                return -EBUSY;
        c->renewing = renew;
        return flush_out(c);
}

static int flush_out(struct ua_client *c)
{
        if (c->offline) {
                ua_enc_reset(&c->out);
                c->out_off = 0;
                return 0;
        }
        if (c->fd < 0 || c->phase == PH_TCP)
                return 0;
        while (c->out.len > c->out_off) {
                ssize_t n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return -errno;
                }
                c->out_off += (size_t)n;
        }
        ua_enc_reset(&c->out);
        c->out_off = 0;
        return 0;
}

/* ---- handshake ---- */

static int start_hello(struct ua_client *c)
{
        ua_tcp_encode_hello(&c->out, &c->ours, c->url);
        if (c->out.err)
                return ua_client_teardown(c, c->out.err, "cannot encode HEL");
        c->phase = PH_HEL;
        int r = flush_out(c);
        if (r < 0)
                return ua_client_teardown(c, r, "cannot send HEL: %s", strerror(-r));
        return 0;
}

int ua_channel_on_opn(struct ua_client *c, struct ua_dec *d, const struct resp_header *h)
{
        char sb[32];
        if (!ua_status_good(h->status))
                return ua_client_teardown(c, -EPROTO, "OpenSecureChannel failed: %s",
                                          ua_status_name(h->status, sb, sizeof(sb)));
        (void)ua_dec_u32(d); /* server protocol version */
        uint32_t channel = ua_dec_u32(d);
        uint32_t token = ua_dec_u32(d);
        (void)ua_dec_i64(d); /* created at */
        uint32_t lifetime = ua_dec_u32(d);
        (void)ua_dec_string(d); /* server nonce */
        if (d->err)
                return ua_client_teardown(c, d->err, "OpenSecureChannel response is malformed");
        if (c->renewing && channel != c->channel_id)
                return ua_client_teardown(
                    c, -EPROTO, "renewed secure channel has another id (%" PRIu32 ")", channel);
        if (lifetime < 1000)
                lifetime = 1000;
        c->channel_id = channel;
        c->prev_token_id = c->token_id;
        c->token_id = token;
        c->renew_at = mono_now() + (uint64_t)lifetime * 750000ull; /* 75 % of the lifetime */
        if (c->renewing) {
                c->renewing = false;
                c->renewals++;
                return 0;
        }
        ua_session_send_create(c);
        return 0;
}

/* ---- receiving ---- */

/* One whole chunk of h->size bytes at buf. */
static int handle_chunk(struct ua_client *c, const struct ua_chunk_hdr *h, const uint8_t *buf)
{
        const uint8_t *body = buf + UA_TCP_HEADER_SIZE;
        size_t len = h->size - UA_TCP_HEADER_SIZE;
        char reason[160], sb[32];

        if (strcmp(h->type, "ERR") == 0) {
                uint32_t st = 0;
                if (ua_tcp_decode_error(body, len, &st, reason, sizeof(reason)) < 0)
                        return ua_client_teardown(c, -EPROTO, "server sent a malformed ERR");
                return ua_client_teardown(c, -ECONNREFUSED, "server error %s: %s",
                                          ua_status_name(st, sb, sizeof(sb)),
                                          reason[0] ? reason : "(no reason)");
        }
        if (strcmp(h->type, "ACK") == 0) {
                if (c->phase != PH_HEL)
                        return ua_client_teardown(c, -EPROTO, "unexpected ACK");
                struct ua_tcp_limits l;
                int r = ua_tcp_decode_ack(body, len, &l);
                if (r < 0)
                        return ua_client_teardown(c, r, "malformed ACK (buffer sizes below 8192?)");
                /* The peer's receive buffer is our chunk size; never above what we offered. */
                l.recv_buffer = MIN(l.recv_buffer, c->ours.send_buffer);
                c->peer = l;
                c->phase = PH_OPN;
                r = ua_channel_send_opn(c, false);
                if (r < 0)
                        return ua_client_teardown(c, r, "cannot send OpenSecureChannel: %s",
                                                  strerror(-r));
                return 0;
        }
        if (h->final != 'F' && strcmp(h->type, "MSG") != 0)
                return ua_client_teardown(c, -EPROTO, "%s must be a single chunk", h->type);
        if (c->phase == PH_HEL || c->phase == PH_TCP)
                return ua_client_teardown(c, -EPROTO, "%s before ACK (garbage after HEL?)",
                                          h->type);

        struct ua_dec d;
        ua_dec_init(&d, body, len);
        uint32_t channel = ua_dec_u32(&d);
        if (strcmp(h->type, "OPN") == 0) {
                struct ua_string policy = ua_dec_string(&d);
                (void)ua_dec_string(&d); /* sender certificate */
                (void)ua_dec_string(&d); /* receiver thumbprint */
                if (!d.err && !ua_string_eq(policy, POLICY_NONE))
                        return ua_client_teardown(
                            c, -EPROTO, "server answered OPN with another security policy");
        } else {
                uint32_t token = ua_dec_u32(&d);
                if (!d.err && channel != c->channel_id)
                        return ua_client_teardown(
                            c, -EPROTO, "%s for secure channel %" PRIu32 ", ours is %" PRIu32,
                            h->type, channel, c->channel_id);
                if (!d.err && token != c->token_id && token != c->prev_token_id)
                        return ua_client_teardown(c, -EPROTO, "%s with unknown token id %" PRIu32,
                                                  h->type, token);
        }
        uint32_t seq = ua_dec_u32(&d);
        uint32_t rid = ua_dec_u32(&d);
        if (d.err)
                return ua_client_teardown(c, -EPROTO, "truncated %s chunk header", h->type);
        if (c->peer_seq_known) {
                uint32_t want = c->peer_seq + 1;
                bool wrap = c->peer_seq > UINT32_MAX - 1024 && seq < 1024;
                if (seq != want && !wrap)
                        return ua_client_teardown(c, -EPROTO,
                                                  "sequence number %" PRIu32 " after %" PRIu32, seq,
                                                  c->peer_seq);
        }
        c->peer_seq = seq;
        c->peer_seq_known = true;
        if (strcmp(h->type, "CLO") == 0)
                return ua_client_teardown(c, -ECONNRESET, "server closed the secure channel");
        if (strcmp(h->type, "OPN") == 0) {
                if (c->reasm.active)
                        return ua_client_teardown(c, -EPROTO, "OPN inside a chunked message");
                return ua_client_dispatch(c, rid, d.p, ua_dec_left(&d));
        }
        if (strcmp(h->type, "MSG") != 0)
                return ua_client_teardown(c, -EPROTO, "unexpected %s", h->type);
        int r = ua_reasm_add(&c->reasm, h->final, rid, d.p, ua_dec_left(&d), &c->ours);
        if (r == -ECANCELED) {
                /* The server aborted a response: fail that request. */
                for (unsigned i = 0; i < MAX_PENDING; i++)
                        if (c->pending[i].used && c->pending[i].request_id == rid) {
                                snprintf(c->error, sizeof(c->error),
                                         "%s response aborted by server",
                                         ua_service_name(c->pending[i].req_type));
                                c->pending[i].deadline = 0; /* expire at the next tick */
                        }
                return 0;
        }
        if (r == -EMSGSIZE)
                return ua_client_teardown(c, r, "response larger than %" PRIu32 " bytes",
                                          c->ours.max_message);
        if (r == -E2BIG)
                return ua_client_teardown(c, r, "response in more than %" PRIu32 " chunks",
                                          c->ours.max_chunks);
        if (r < 0)
                return ua_client_teardown(c, r, "bad chunk sequence: %s", strerror(-r));
        if (r == 0)
                return 0;
        r = ua_client_dispatch(c, rid, c->reasm.buf, c->reasm.len);
        c->reasm.len = 0;
        return r;
}

void ua_client_begin_offline(struct ua_client *c)
{
        c->offline = true;
        c->phase = PH_HEL;
        c->phase_deadline = UINT64_MAX;
        c->error[0] = 0;
}

int ua_client_feed(struct ua_client *c, const uint8_t *data, size_t len)
{
        unsigned gen = c->gen;
        if (c->cb.rx && len)
                c->cb.rx(c, data, len, c->ud);
        while (len > 0) {
                if (c->phase == PH_NONE || gen != c->gen)
                        return -ECONNRESET;
                size_t room = OUR_CHUNK - c->in_len;
                size_t n = MIN(room, len);
                memcpy(c->in + c->in_len, data, n);
                c->in_len += n;
                data += n;
                len -= n;
                size_t off = 0;
                for (;;) {
                        struct ua_chunk_hdr h;
                        int r = ua_tcp_peek(c->in + off, c->in_len - off, c->ours.recv_buffer, &h);
                        if (r == -EBADMSG)
                                return ua_client_teardown(
                                    c, r, "garbage from server (not a UA-TCP chunk)");
                        if (r == -EMSGSIZE)
                                return ua_client_teardown(
                                    c, r, "chunk size out of range (limit %" PRIu32 ")",
                                    c->ours.recv_buffer);
                        if (r == 0)
                                break;
                        r = handle_chunk(c, &h, c->in + off);
                        if (gen != c->gen || c->phase == PH_NONE)
                                return r < 0 ? r : -ECONNRESET;
                        off += h.size;
                }
                if (off) {
                        memmove(c->in, c->in + off, c->in_len - off);
                        c->in_len -= off;
                }
        }
        return 0;
}

int ua_client_process(struct ua_client *c, short revents)
{
        if (c->fd < 0)
                return 0;
        if (c->phase == PH_TCP) {
                int err = 0;
                socklen_t l = sizeof(err);
                if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
                        return 0;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err)
                        return ua_client_teardown(c, -err, "cannot connect to %.64s:%s: %s",
                                                  c->u.host, c->u.port, strerror(err));
                return start_hello(c);
        }
        if (revents & POLLOUT) {
                int r = flush_out(c);
                if (r < 0)
                        return ua_client_teardown(c, r, "send failed: %s", strerror(-r));
        }
        if (revents & (POLLIN | POLLHUP | POLLERR)) {
                uint8_t buf[16384];
                /* Bounded: at most 64 reads per wake-up so one busy peer cannot starve us. */
                for (int i = 0; i < 64 && c->fd >= 0; i++) {
                        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (n == 0)
                                return ua_client_teardown(c, -ECONNRESET,
                                                          "server closed the connection");
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        break;
                                return ua_client_teardown(c, -errno, "receive failed: %s",
                                                          strerror(errno));
                        }
                        int r = ua_client_feed(c, buf, (size_t)n);
                        if (r < 0)
                                return r;
                        if ((size_t)n < sizeof(buf))
                                break;
                }
        }
        return 0;
}
