/*
 * state.h — the hub's state cache: the latest entity per topic, built from ring batches.
 *
 * Process: ringhub. The reader thread is the only writer; the mhd thread reads REST
 * bodies and walks entities for /metrics. Both hold state_lock while they touch it.
 * Every topic's JSON (and each entity's, for /{id} lookups) is serialized once per
 * state change by state_publish(), never per request. No ring or socket access here.
 */
#pragma once

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "record_json.h"
#include "ring.h"
#include "schema.h"
#include "state_agent.h"

#define STATE_MAX_KIDS     4
#define STATE_KEY_MAX      160
#define STATE_MAX_ENTITIES 10000 /* per LIST/KEYED topic */

struct state_kids {
        uint16_t type;
        uint32_t n;
        uint8_t *p; /* n × record size */
};

struct state_entity {
        char key[STATE_KEY_MAX];
        uint16_t type;
        uint64_t ts_ns;
        struct state_kids kids[STATE_MAX_KIDS];
        struct hub_body *body; /* this entity's JSON (NULL until published) */
        _Alignas(8) uint8_t payload[];
};

struct state_topic {
        const struct record_desc *d;
        bool seen;                  /* a record arrived since the hub started */
        bool dirty;                 /* changed but not yet published */
        struct state_entity **ents; /* LIST/KEYED sorted by key; SINGLE: at most one */
        size_t n, cap;
        struct hub_body *body; /* full state JSON (NULL until published) */
        uint64_t ts_ns;        /* newest record */
};

/* What a batch changed (filled by state_apply_batch). */
struct state_changes {
        bool topic[RT_MAX];          /* SINGLE/LIST topics whose state changed */
        struct state_entity **keyed; /* KEYED entities upserted, in order */
        size_t n_keyed, cap_keyed;
};

extern pthread_mutex_t state_lock;

int state_init(void);
void state_free(void);
struct state_topic *state_topic(unsigned type);
/* Index of child type kid in its parent's state_entity.kids[] (-ENOENT when not a child). */
int state_kid_slot(unsigned parent, unsigned kid);

/* Apply one complete batch (records already validated). Caller holds state_lock. */
int state_apply_batch(const struct ring_record *const *recs, size_t n, struct state_changes *ch);

/*
 * Serialize a SINGLE/LIST topic (its entities and the whole list) with the schema-driven
 * writer and keep the bodies. 0 and *ret_body set (a new ref), or -ENOMEM. Caller holds
 * state_lock.
 */
int state_publish(struct state_topic *t, struct hub_body **ret_body);
/* One entity as a JSON object (Unraid-typed, with children and timestamp): the json-c
 * tree for cold paths (REST lookups, MQTT discovery). */
json_object *state_entity_json(const struct record_desc *d, const struct state_entity *e);
/* The same entity's text appended to b, byte for byte what serializing
 * state_entity_json() gives, without a json-c tree. 0 or -ENOMEM. */
int state_entity_write(struct rj_buf *b, const struct record_desc *d, const struct state_entity *e);
/* Find an entity by key (or by an alternate field value, e.g. a container name). */
struct state_entity *state_find(struct state_topic *t, const char *key, const char *alt_field);
