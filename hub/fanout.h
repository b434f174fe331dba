/*
 * fanout.h — the outbound side of every WebSocket client: shared frames into per-client
 * queues, conflation, batched writes, the events/s cap and per-topic rate holds, and the
 * latest state frame per dialect and topic (the snapshot a new client gets).
 *
 * Process: ringhub, lws thread only (frames from other threads arrive through the
 * hand-off, drained by fanout_drain()). Queues hold references, never copies. Must not
 * block, never encodes an event.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "hub.h"

/* The most bytes one write hands to the kernel: also the WebSocket protocol's
 * tx_packet_size, without which lws cuts every write into rx_buffer_size pieces. */
#define FANOUT_WRITE_MAX (64 * 1024)

/* Monotonic now, read once per fan-out pass (per-client limits use it). */
uint64_t fanout_now_ns(void);

/* Queue a frame (takes a new ref). Applies the queue limit and conflation. */
void fanout_send(struct hub_client *c, struct hub_msg *m);
/* Queue a per-client reply built with json-c (puts o). */
void fanout_reply(struct hub_client *c, json_object *o);
/* Queue a frame through the events/s cap and the topic's rate (a state frame over either
 * is held, latest wins, and released by a timer). */
void fanout_deliver(struct hub_client *c, struct hub_msg *m);
/* Forget a frame of the topic still waiting for this client (it unsubscribed). */
void fanout_drop_held(struct hub_client *c, unsigned topic);
/* At most hz frames per second of a topic to this client (0 = unlimited). */
void fanout_set_topic_rate(struct hub_client *c, unsigned topic, double hz);
/* Queue the latest state frame of every topic the client wants (snapshot on connect). */
void fanout_snapshot(struct hub_client *c);
/* The latest state frame of a topic in the client's dialect (borrowed), or NULL. Current:
 * a frame its dialect skipped while no client wanted the topic is made first. */
struct hub_msg *fanout_latest(struct hub_client *c, unsigned topic);
/* Set at start-up: fn(d, topic) makes dialect d's latest frame of topic current (with
 * fanout_keep_latest()) when it was not rendered while nobody wanted it. Called before
 * fanout_latest() and fanout_snapshot() read a frame. */
void fanout_set_refresh(void (*fn)(unsigned d, unsigned topic));
/* Keep m as dialect d's latest state frame of its topic, sending it to nobody. */
void fanout_keep_latest(unsigned d, struct hub_msg *m);

/* A client starts / stops receiving (session.c). */
void fanout_open(struct hub_client *c);
void fanout_close(struct hub_client *c);
/* The client is writeable: send up to 64 queued frames (FANOUT_WRITE_MAX bytes) in one
 * write. 0, or -1 when the connection failed. A client that wrote less than
 * hub.coalesce ago waits that long for its next write (frames queued meanwhile join it);
 * an idle one is written at once. */
int fanout_write(struct hub_client *c);
/* Polling transport: take up to max (at most 64) queued frames, their references moving
 * to ret; 0 when there are none (the next queued frame kicks the client again). */
unsigned fanout_take(struct hub_client *c, struct hub_msg **ret, unsigned max);
/* Ask for a write now (a client whose transport changed). */
void fanout_kick(struct hub_client *c);

/* Send a frame of dialect d to every client of it now (keeping it for snapshots when it
 * is state); wants() and deliver() apply. */
void fanout_broadcast(unsigned d, struct hub_msg *m);
/* Fan out everything the hand-off holds. False when called from inside a drain (an
 * event published while frames are delivered): nothing done, the outer drain goes on. */
bool fanout_drain(void);
/* Drop the snapshot frames (loop exit). */
void fanout_free(void);
