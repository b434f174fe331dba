/*
 * mqtt_queue.h — the MQTT bridge's outbox: what the hub published, waiting for the broker.
 *
 * Process: ringhub. The events sink (mqtt_queue_sink(), registered by mqtt.c) runs on
 * whichever thread publishes an event and only enqueues: a short critical section, no I/O,
 * never a wait. The bridge's thread (mqtt.c) takes from it. Two kinds of messages:
 *
 *   state   one item per MQTT topic below the base ("system", "disk/sda", "tag/P_01"):
 *           the latest payload (later ones replace it while it waits: coalesced), kept
 *           after it is sent so that a reconnect sends the whole state again. An entity
 *           that left its list becomes a tombstone (payload NULL: an empty retained
 *           message clears it at the broker), freed once sent.
 *   event   a FIFO of non-state events ("event/command"); dropped and counted while the
 *           link is down or the FIFO is full.
 *
 * Payloads are the hub's own serialization: ev->json, split per list element for lists
 * (each element is exactly the entity's cached body); nothing here serializes JSON.
 * Memory is bounded: items and event bytes have caps (mqtt_queue_init()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

/* One state topic. Fields marked (bridge) belong to the bridge's thread alone. */
struct mqtt_item {
        struct mqtt_item *hnext, *dnext; /* hash chain, dirty FIFO (under the lock) */
        bool dirty;
        unsigned topic;           /* record type or HUB_T_* */
        uint32_t gen;             /* the list generation that last carried it */
        struct hub_body *payload; /* NULL: a tombstone */
        uint32_t announced;       /* (bridge) discovery session that announced it */
        char **cfg;               /* (bridge) discovery config topics announced for it */
        size_t n_cfg;
        char key[96]; /* the entity's name in its topic ("" for a single) */
        char rel[];   /* topic below the base */
};

/* What the bridge takes out: a reference it must mqtt_queue_put(). */
struct mqtt_out {
        struct mqtt_item *item;   /* state; NULL for an event */
        struct hub_body *payload; /* NULL: tombstone (empty retained message) */
        char rel[160];            /* events: topic below the base */
};

/* Caps: max_items state topics, max_event_bytes of queued events. 0, or -ENOMEM. The
 * sink keeps nothing until mqtt_queue_enable(true). */
int mqtt_queue_init(size_t max_items, size_t max_event_bytes);
/* Drop everything (after the sink can no longer be called). */
void mqtt_queue_free(void);
/* Change the caps (reload). */
void mqtt_queue_set_limits(size_t max_items, size_t max_event_bytes);

/* The events sink (events_add_sink()): classify, coalesce, enqueue, kick the bridge. */
void mqtt_queue_sink(const struct hub_event *ev, void *userdata);
/* Does the sink keep anything now (the bridge is enabled)? Any thread. */
bool mqtt_queue_listening(void *userdata);

/* An eventfd that becomes readable when something was queued (bridge thread polls it). */
int mqtt_queue_fd(void);
/* Clear the fd's readiness (bridge thread, before looking at the queue). */
void mqtt_queue_drain_fd(void);
/* The link is up (events are queued) or down (events are dropped and counted). */
void mqtt_queue_set_link(bool up);
/* Mark every state item for sending again (a new connection: the broker's retained copy
 * may be older or gone). */
void mqtt_queue_resend_all(void);
/* Anything waiting? */
bool mqtt_queue_pending(void);

/* Take the oldest event, else the oldest dirty state item. false when nothing waits. */
bool mqtt_queue_take(struct mqtt_out *o);
/* Done with o: sent (true) or not (false: a state item is marked dirty again; an event
 * is dropped and counted). A sent tombstone is freed. */
void mqtt_queue_put(struct mqtt_out *o, bool sent);

/* Set the state of a named entity of topic (collectors from the registry at connect). */
void mqtt_queue_state(unsigned topic, const char *name, const char *json, size_t len);
/* Start (true: the state cache is copied in, then the sink keeps it current) or stop
 * (false: everything is dropped) keeping state. Takes state_lock: not from a sink. */
void mqtt_queue_enable(bool on);

/* Split a JSON array text into its top-level element texts: fn(i, start, len) for each.
 * Returns the number of elements, or -EINVAL when s is not an array. (Exported for the
 * unit test.) */
int mqtt_queue_split_array(const char *s, size_t len,
                           void (*fn)(size_t i, const char *p, size_t n, void *userdata),
                           void *userdata);
/* Make text safe as one MQTT topic level: '/', '+', '#' and control characters become '_'. */
void mqtt_queue_topic_level(char *dst, size_t size, const char *src);
