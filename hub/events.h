/*
 * events.h — the one publish path: every event the hub produces goes through here.
 *
 * Process: ringhub, any thread. An event — a state change from the ring (reader.c), a
 * client connecting, going away or asking for a sync (session.c, rest.c, Socket.IO), or
 * the hub's own (diagnostics, collectors, estop, config.updated; later command results
 * and alarms) — is rendered once per dialect (dialect.h render()) and handed to the
 * fan-out: delivered at once on the lws thread, through the hand-off queue from any
 * other thread. Then every sink registered with events_add_sink() sees it.
 *
 * Sinks are how history, alarms or an MQTT bridge hang off the hub: a sink is called on
 * the publishing thread (reader, lws or mhd), once per event, after the dialects have
 * rendered it; ev and everything it points at are valid only during the call (take
 * json_object_get(events_data(ev)) or copy ev->json to keep them). A sink must not block, must
 * not publish from inside the call, and is registered before the hub's threads start
 * (main.c wiring); it stays until exit.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "hub.h"

#define EVENTS_SINKS_MAX 8

typedef void (*events_sink_fn)(const struct hub_event *ev, void *userdata);

/* Register a sink; listening (NULL: always) says whether it keeps anything now — while no
 * sink listens and no client is connected, periodic events (diagnostics) wait. 0, or
 * -ENOSPC when EVENTS_SINKS_MAX are registered. */
int events_add_sink(events_sink_fn fn, bool (*listening)(void *userdata), void *userdata);

/* Publish one event whose data is already serialized (ev->json): render in every
 * dialect, fan out, tell the sinks. Counts it in hub.stats.events. ev->data may be NULL
 * (the reader's state events): the tree is then parsed from ev->json only when a
 * dialect or sink asks for it with events_data(). */
void events_publish(const struct hub_event *ev);
/* The event's data as a json-c tree, parsed from ev->json on first use (once per event,
 * shared by every dialect and sink; valid during the publish). NULL on a parse failure.
 * Render functions and sinks read data through this, never ev->data. */
json_object *events_data(const struct hub_event *ev);
/*
 * Publish data (an object or array) as an event of topic: serialized once here (counted
 * as a serialization), timestamped now. rec_ts_ns is the realtime of what is behind it
 * (0 = now). 0, or -ENOMEM.
 */
int events_publish_json(unsigned topic, bool state, json_object *data, uint64_t rec_ts_ns);
/* The same with data already serialized (the schema-driven writer's text): no tree is
 * built unless a dialect or sink asks for events_data(). */
void events_publish_text(unsigned topic, bool state, const char *json, size_t len,
                         uint64_t rec_ts_ns);

/* Is anyone listening: a WebSocket client or a sink? Without, the reader's periodic work
 * (diagnostics) waits: nobody would get it. */
bool events_listened(void);
/* The reader says it goes to sleep idle (nobody listening) or not; returns what it may do
 * (false when a listener is already there). The next event published with a client
 * connected wakes it (ring_wake). */
bool events_reader_idle(bool idle);

/* lws thread, as a client of dialect d connects (before it is counted, so nothing is
 * sent to it before it is authenticated): deliver the frames handed off without a
 * wake-up while their dialect had no client, and render the record topics' state frames
 * d skipped while no client of it wanted them (from the state cache; takes state_lock),
 * so its snapshot is current. */
void events_catch_up(unsigned d);

/* lws thread (fanout's refresh hook, set by main): dialect d's latest frame of topic is
 * about to be read for a client that wants it. When d skipped the topic while nobody
 * wanted it, the frames on their way are delivered and the frame is made from the state
 * cache (takes state_lock) and kept for that client's dialect, sent to nobody. */
void events_refresh_latest(unsigned d, unsigned topic);

/* A thread publishing many events in a row (the reader's drain) wakes the lws thread once:
 * between begin and end, hand-offs are not kicked one by one. */
void events_batch_begin(void);
void events_batch_end(void);
