/*
 * fanout.c — the outbound side of WebSocket clients (see fanout.h).
 *
 * Process: ringhub, lws thread. Frames are pre-framed and refcounted; each client queue
 * holds references, never copies. A writeable client gets up to 64 queued frames joined
 * into one write. A full queue conflates state frames of the same topic (latest wins); a
 * client that still cannot keep up is closed with 1008 and one log line. Over the
 * events/s cap or a subscription's rate, a state frame waits (latest wins) for a timer;
 * other frames are dropped and counted. Must not block: no ring waits, no JSON encoding
 * of events here.
 */
#include "fanout.h"

#include <inttypes.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "dialects.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define WRITE_BATCH   64
#define SCRATCH_BYTES FANOUT_WRITE_MAX
#define HELD_NONE     UINT64_MAX
#define COAL_SLACK_NS (200 * 1000ull)

static struct hub_msg *latest[HUB_MAX_DIALECTS][HUB_T_MAX];
/* Makes latest[d][topic] current when its dialect skipped the topic (events.c). */
static void (*refresh)(unsigned d, unsigned topic);
static uint8_t scratch[LWS_PRE + SCRATCH_BYTES];

/* One clock reading per fan-out pass: per-client rate limits then cost no syscall each. */
static uint64_t fan_now;

/* ---- adaptive coalescing: a busy client's frames wait (bounded) to share a write ---- */

/* Clients whose write waits: COAL_HELD until coal_until_ns (in the order they began
 * waiting, so by deadline; one timer for all), COAL_DUE until the end of this drain. */
enum { COAL_NONE, COAL_HELD, COAL_DUE, COAL_LISTS };
static struct hub_client *coal_head[COAL_LISTS], *coal_tail[COAL_LISTS];
static struct htimer coal_tm;

static void coal_unlink(struct hub_client *c)
{
        unsigned l = c->coal_list;
        if (l == COAL_NONE)
                return;
        if (c->coal_prev)
                c->coal_prev->coal_next = c->coal_next;
        else
                coal_head[l] = c->coal_next;
        if (c->coal_next)
                c->coal_next->coal_prev = c->coal_prev;
        else
                coal_tail[l] = c->coal_prev;
        c->coal_prev = c->coal_next = NULL;
        c->coal_list = COAL_NONE;
}

static void coal_append(struct hub_client *c, unsigned l, uint64_t until)
{
        c->coal_until_ns = until;
        c->coal_prev = coal_tail[l];
        c->coal_next = NULL;
        if (coal_tail[l])
                coal_tail[l]->coal_next = c;
        else
                coal_head[l] = c;
        coal_tail[l] = c;
        c->coal_list = (uint8_t)l;
}

static void request_write(struct hub_client *c)
{
        if (c->kick)
                c->kick(c); /* polling: the waiting poll request, if any */
        else if (c->wsi)
                lws_callback_on_writable(c->wsi);
}

/* Write a client now, on the lws thread but outside its WRITEABLE callback: only while lws
 * holds nothing unsent for it (its socket took the last write whole). Otherwise wait for
 * POLLOUT as before, so a slow client's backlog stays in our queue, where the limits and
 * conflation see it. Saves a poll() pass over every socket per write. */
static void write_direct(struct hub_client *c)
{
        if (c->closing)
                return;
        if (c->kick || !c->wsi || lws_partial_buffered(c->wsi)) {
                request_write(c);
                return;
        }
        if (fanout_write(c) < 0) {
                c->closing = true; /* the socket failed: lws closes it on its next pass */
                lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
}

/* Write every client of list l whose time has come. */
static void coal_release(unsigned l, uint64_t until)
{
        while (coal_head[l] && coal_head[l]->coal_until_ns <= until) {
                struct hub_client *c = coal_head[l];
                coal_unlink(c);
                write_direct(c);
        }
}

static void coal_arm(uint64_t now);

/* The hold's timer: every held client whose deadline has come (or is within the timer's
 * granularity) is written. */
static void coal_expired(struct htimer *t)
{
        uint64_t now = mono_ns();
        coal_release(COAL_HELD, now + COAL_SLACK_NS);
        coal_arm(now);
}

static void coal_arm(uint64_t now)
{
        struct hub_client *h = coal_head[COAL_HELD];
        if (!h || !hub.lws)
                return;
        htimer_schedule(&coal_tm, coal_expired,
                        (lws_usec_t)(h->coal_until_ns > now ? (h->coal_until_ns - now) / 1000 : 0) +
                            1);
}

/* A frame is queued: ask for a write. A client that wrote within the last coalesce
 * interval is busy: its write waits until that interval has passed since this frame, so
 * the frames arriving meanwhile go out in the same write. An idle client (the NAS case)
 * is written at once: at the end of the drain that queued it (every frame of the drain in
 * one write), or at the next POLLOUT for a frame queued outside a drain (a reply). */
static void want_write(struct hub_client *c)
{
        if (c->write_pending)
                return;
        c->write_pending = true;
        if (!c->kick && hub.lws && c->coal_list == COAL_NONE) {
                uint64_t hold = (uint64_t)hub.opt.coalesce_us * 1000ull;
                uint64_t now = fanout_now_ns();
                if (hold && c->last_write_ns && now - c->last_write_ns < hold) {
                        coal_append(c, COAL_HELD, now + hold);
                        if (coal_head[COAL_HELD] == c)
                                coal_arm(now);
                        atomic_fetch_add_explicit(&hub.stats.ws_writes_held, 1,
                                                  memory_order_relaxed);
                        return;
                }
                if (fan_now) {
                        coal_append(c, COAL_DUE, now);
                        return;
                }
        }
        request_write(c);
}

static void close_slow(struct hub_client *c, const char *why)
{
        atomic_fetch_add_explicit(&hub.stats.clients_slow, 1, memory_order_relaxed);
        log_warning("client %" PRIu64 " (%s): %s with %u frames queued, closing", c->id, c->d->name,
                    why, c->q_len);
        client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer");
}

void fanout_send(struct hub_client *c, struct hub_msg *m)
{
        if (c->closing)
                return;
        if (c->q_len == c->q_cap) {
                /* Full: the newest state of a topic replaces the queued older one. */
                uint64_t pos =
                    (m->flags & HUB_MSG_STATE) && m->topic < HUB_T_MAX ? c->state_pos[m->topic] : 0;
                if (pos && pos - 1 >= c->q_head_abs) {
                        /* The newest queued state of this topic is replaced in place. */
                        unsigned i = (unsigned)(pos - 1 - c->q_head_abs);
                        struct hub_msg **slot = &c->q[(c->q_head + i) % c->q_cap];
                        if ((*slot)->topic == m->topic && ((*slot)->flags & HUB_MSG_STATE)) {
                                hub_msg_unref(*slot);
                                *slot = hub_msg_ref(m);
                                atomic_fetch_add_explicit(&hub.stats.conflated, 1,
                                                          memory_order_relaxed);
                                uint64_t now = fanout_now_ns();
                                if (!c->stalled_since)
                                        c->stalled_since = now;
                                else if (now - c->stalled_since >=
                                         (uint64_t)hub.opt.slow_timeout_ms * NSEC_PER_MSEC)
                                        close_slow(c, "no progress while conflating");
                                return;
                        }
                }
                close_slow(c, "queue full");
                return;
        }
        if ((m->flags & HUB_MSG_STATE) && m->topic < HUB_T_MAX)
                c->state_pos[m->topic] = c->q_head_abs + c->q_len + 1;
        c->q[(c->q_head + c->q_len++) % c->q_cap] = hub_msg_ref(m);
        want_write(c);
}

void fanout_set_refresh(void (*fn)(unsigned d, unsigned topic))
{
        refresh = fn;
}

void fanout_keep_latest(unsigned d, struct hub_msg *m)
{
        if (d >= hub_n_dialects || !(m->flags & HUB_MSG_STATE) || m->topic >= HUB_T_MAX)
                return;
        hub_msg_unref(latest[d][m->topic]);
        latest[d][m->topic] = hub_msg_ref(m);
}

/* The client's want of topic is counted first, then the frame is made current if its
 * dialect skipped rendering it while nobody wanted it. */
static struct hub_msg *latest_for(struct hub_client *c, unsigned topic)
{
        if (!client_sync_want(c, topic))
                return NULL;
        if (refresh)
                refresh(c->di, topic);
        return latest[c->di][topic];
}

struct hub_msg *fanout_latest(struct hub_client *c, unsigned topic)
{
        if (topic >= HUB_T_MAX)
                return NULL;
        (void)client_sync_want(c, topic);
        if (refresh) /* also for a topic it does not want: a request (get_system_status) */
                refresh(c->di, topic);
        return latest[c->di][topic];
}

static void deliver_all(unsigned d, struct hub_msg *m)
{
        for (struct hub_client *c = client_first(d), *next; c; c = next) {
                next = c->next;
                if (c->d->wants && !c->d->wants(c, m->topic))
                        continue;
                if (c->d->deliver)
                        c->d->deliver(c, m);
                else
                        fanout_send(c, m);
        }
}

void fanout_reply(struct hub_client *c, json_object *o)
{
        if (!o)
                return;
        struct hub_msg *m = hub_msg_from_json(0, o);
        json_object_put(o);
        if (!m)
                return;
        fanout_send(c, m);
        hub_msg_unref(m);
}

void fanout_snapshot(struct hub_client *c)
{
        for (unsigned t = 0; t < HUB_T_MAX; t++) {
                struct hub_msg *m = latest_for(c, t);
                if (m)
                        fanout_send(c, m);
        }
}

uint64_t fanout_now_ns(void)
{
        return fan_now ? fan_now : mono_ns();
}

void fanout_broadcast(unsigned d, struct hub_msg *m)
{
        if (d >= hub_n_dialects || hub.shutting_down)
                return;
        if ((m->flags & HUB_MSG_STATE) && m->topic < HUB_T_MAX) {
                hub_msg_unref(latest[d][m->topic]);
                latest[d][m->topic] = hub_msg_ref(m);
        }
        deliver_all(d, m);
}

bool fanout_drain(void)
{
        /* Not again from inside a drain (an event published on this thread while frames
         * are delivered): the outer drain owns the taken array. */
        static bool draining;
        if (draining)
                return false;
        draining = true;
        fan_now = mono_ns();
        size_t n;
        struct hub_handoff *a = hub_handoff_take(&n);
        for (size_t i = 0; i < n; i++) {
                if (a[i].client) {
                        for (struct hub_client *c = client_first(a[i].dialect); c; c = c->next)
                                if (c->id == a[i].client) {
                                        fanout_send(c, a[i].msg);
                                        break;
                                }
                } else
                        fanout_broadcast(a[i].dialect, a[i].msg);
                hub_msg_unref(a[i].msg);
        }
        hub_handoff_done(a);
        fan_now = 0;
        coal_release(COAL_DUE, UINT64_MAX);
        draining = false;
        return true;
}

void fanout_free(void)
{
        for (unsigned di = 0; di < HUB_MAX_DIALECTS; di++)
                for (unsigned t = 0; t < HUB_T_MAX; t++) {
                        hub_msg_unref(latest[di][t]);
                        latest[di][t] = NULL;
                }
}

/*
 * A closing client: write the close frame ourselves (code, reason) and keep the socket
 * until the peer answers with its own close (session.c then drops it) or 2 s pass.
 * Returning -1 with lws_close_reason() instead makes lws send the frame and close the
 * socket at once; a client still sending (a flood) then finds unread data on our side,
 * the kernel answers with a reset, and the client loses the close frame: 1006, not the
 * code we meant. close_code 0 marks the frame as sent.
 */
static int write_close(struct hub_client *c)
{
        if (!c->close_code)
                return 0; /* sent: waiting for the peer's close */
        uint8_t frame[LWS_PRE + 2 + 125];
        uint8_t *f = frame + LWS_PRE;
        size_t rlen = MIN(strlen(c->close_reason), (size_t)123 - 2);
        f[0] = 0x88; /* FIN, close */
        f[1] = (uint8_t)(2 + rlen);
        f[2] = (uint8_t)(c->close_code >> 8);
        f[3] = (uint8_t)(c->close_code & 0xff);
        memcpy(f + 4, c->close_reason, rlen);
        if (lws_write(c->wsi, f, 4 + rlen, LWS_WRITE_RAW) < 0)
                return -1;
        c->close_code = 0;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 2);
        return 0;
}

/* The first n queued frames are sent (total bytes): off the queue, into ret (the
 * references move there) or dropped. */
static void dequeue(struct hub_client *c, unsigned n, size_t total, struct hub_msg **ret)
{
        for (unsigned i = 0; i < n; i++) {
                if (ret)
                        ret[i] = c->q[c->q_head];
                else
                        hub_msg_unref(c->q[c->q_head]);
                c->q_head = (c->q_head + 1) % c->q_cap;
        }
        c->q_len -= n;
        c->q_head_abs += n;
        c->stalled_since = 0;
        atomic_fetch_add_explicit(&hub.stats.ws_writes, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.ws_messages, n, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.ws_bytes, total, memory_order_relaxed);
}

int fanout_write(struct hub_client *c)
{
        coal_unlink(c); /* writeable now (asked before the hold): the hold is moot */
        c->write_pending = false;
        if (c->closing)
                return write_close(c);
        if (c->q_len == 0)
                return 0;
        unsigned n = 0;
        size_t total = 0;
        uint8_t *buf;
        struct hub_msg *first = c->q[c->q_head];
        if (c->q_len == 1 || first->len > SCRATCH_BYTES / 2) {
                /* One frame: straight from its shared buffer (LWS_PRE headroom is there). */
                buf = first->frame;
                total = first->len;
                n = 1;
        } else {
                buf = scratch + LWS_PRE;
                while (n < c->q_len && n < WRITE_BATCH) {
                        struct hub_msg *m = c->q[(c->q_head + n) % c->q_cap];
                        if (total + m->len > SCRATCH_BYTES)
                                break;
                        memcpy(buf + total, m->frame, m->len);
                        total += m->len;
                        n++;
                }
        }
        /* Complete frames, already framed: lws sends them as they are. */
        int w = lws_write(c->wsi, buf, total, LWS_WRITE_RAW);
        if (w < 0)
                return -1;
        dequeue(c, n, total, NULL);
        c->last_write_ns = mono_ns();
        if (c->q_len) {
                /* More than one write's worth: the rest goes at the next chance. */
                c->write_pending = true;
                request_write(c);
        }
        return 0;
}

unsigned fanout_take(struct hub_client *c, struct hub_msg **ret, unsigned max)
{
        c->write_pending = false;
        if (c->closing)
                return 0;
        unsigned n = MIN(MIN(c->q_len, max), (unsigned)WRITE_BATCH);
        size_t total = 0;
        for (unsigned i = 0; i < n; i++)
                total += c->q[(c->q_head + i) % c->q_cap]->len;
        dequeue(c, n, total, ret);
        return n;
}

void fanout_kick(struct hub_client *c)
{
        coal_unlink(c);
        c->write_pending = true;
        request_write(c);
}

/* ---- the events/s cap and per-topic rate holds ---- */

void fanout_open(struct hub_client *c)
{
        rate_limit_init(&c->out_rl, hub.opt.max_events, hub.opt.max_events);
}

void fanout_close(struct hub_client *c)
{
        /* Gone: nothing more is queued (the disconnect event published next must not
         * put it back on the coalescing list it leaves here). */
        c->closing = true;
        c->write_pending = false;
        coal_unlink(c);
        htimer_cancel(&c->hold_tm);
        for (unsigned t = 0; t < HUB_T_MAX; t++) {
                hub_msg_unref(c->held[t]);
                c->held[t] = NULL;
        }
        c->n_held = 0;
        if (c->dropped)
                log_info("client %s: %" PRIu64 " events dropped over the %u events/s cap", c->uuid,
                         c->dropped, hub.opt.max_events);
}

static void release(struct htimer *t);

static void reschedule(struct hub_client *c, uint64_t now)
{
        uint64_t wait = HELD_NONE;
        for (unsigned t = 0; t < HUB_T_MAX && c->n_held; t++) {
                if (!c->held[t])
                        continue;
                uint64_t w = MAX(rate_limit_wait_ns(&c->topic_rl[t], now),
                                 rate_limit_wait_ns(&c->out_rl, now));
                wait = MIN(wait, w);
        }
        if (wait == HELD_NONE)
                return;
        htimer_schedule(&c->hold_tm, release, (lws_usec_t)MAX(wait / 1000, (uint64_t)1000));
}

static void release(struct htimer *tm)
{
        struct hub_client *c = htimer_owner(tm, struct hub_client, hold_tm);
        if (c->closing)
                return;
        uint64_t now = mono_ns();
        for (unsigned t = 0; t < HUB_T_MAX && c->n_held; t++) {
                struct hub_msg *m = c->held[t];
                if (!m || rate_limit_wait_ns(&c->topic_rl[t], now) ||
                    rate_limit_wait_ns(&c->out_rl, now))
                        continue;
                (void)rate_limit_take(&c->topic_rl[t], now);
                (void)rate_limit_take(&c->out_rl, now);
                c->held[t] = NULL;
                c->n_held--;
                fanout_send(c, m);
                hub_msg_unref(m);
        }
        reschedule(c, now);
}

static void hold(struct hub_client *c, unsigned t, struct hub_msg *m, uint64_t now)
{
        if (c->held[t])
                hub_msg_unref(c->held[t]);
        else
                c->n_held++;
        c->held[t] = hub_msg_ref(m);
        reschedule(c, now);
}

void fanout_deliver(struct hub_client *c, struct hub_msg *m)
{
        if (c->closing)
                return;
        unsigned t = m->topic;
        uint64_t now = fanout_now_ns();
        if (t < HUB_T_MAX && c->topic_rl[t].rate > 0) {
                /* At most `rate` per second of this topic; the latest one waits. */
                if (c->held[t] || !rate_limit_take(&c->topic_rl[t], now)) {
                        hold(c, t, m, now);
                        return;
                }
        }
        if (!rate_limit_take(&c->out_rl, now)) {
                if (t < HUB_T_MAX && (m->flags & HUB_MSG_STATE)) {
                        hold(c, t, m, now);
                        return;
                }
                if (c->dropped++ == 0)
                        log_notice("client %s (%s): over %u events/s, dropping events", c->uuid,
                                   c->ip, hub.opt.max_events);
                return;
        }
        fanout_send(c, m);
}

void fanout_drop_held(struct hub_client *c, unsigned topic)
{
        if (topic >= HUB_T_MAX || !c->held[topic])
                return;
        hub_msg_unref(c->held[topic]);
        c->held[topic] = NULL;
        c->n_held--;
}

void fanout_set_topic_rate(struct hub_client *c, unsigned topic, double hz)
{
        if (topic >= HUB_T_MAX)
                return;
        if (hz <= 0) {
                c->topic_rl[topic] = (struct rate_limit){ 0 };
                if (c->held[topic]) {
                        /* Unlimited now: what was waiting goes out at once. */
                        struct hub_msg *m = c->held[topic];
                        c->held[topic] = NULL;
                        c->n_held--;
                        fanout_send(c, m);
                        hub_msg_unref(m);
                }
                return;
        }
        if (c->topic_rl[topic].rate != hz)
                rate_limit_init(&c->topic_rl[topic], hz, 1);
}
