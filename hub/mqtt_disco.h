/*
 * mqtt_disco.h — Home Assistant MQTT discovery for the bridge's state topics.
 *
 * Process: ringhub, the MQTT bridge's thread only. Given one entity as the bridge
 * publishes it (its topic, its name, its JSON), this builds the discovery messages that
 * describe it to Home Assistant: `<prefix>/<component>/<node>/<object>/config`, one per
 * sensor, binary sensor, switch or button. Sensors come from the record schema: every
 * numeric field with a unit (device_class, state_class and unit_of_measurement derived
 * from the schema's unit word), plus a few unitless counters; a tag's unit is its own.
 * Switches and buttons are offered only when the caller says control is allowed, and
 * only for actions the control catalogue knows. Everything here is pure: no I/O, no
 * locks; the caller publishes and remembers what was announced.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct mqtt_disco_ctx {
        const char *prefix;      /* discovery prefix ("homeassistant") */
        const char *node;        /* node id, [A-Za-z0-9_-] */
        const char *base;        /* the bridge's base topic */
        const char *device_name; /* the NAS device's name (host name) */
        bool control;            /* switches and buttons may be offered */
};

typedef void (*mqtt_disco_emit_fn)(const char *topic, const char *payload, size_t len,
                                   void *userdata);

/*
 * Emit the discovery configs of one entity: topic is its record type or HUB_T_COLLECTOR,
 * key its name ("" for a single), rel its topic below the base, ent its JSON (may be NULL
 * when it could not be parsed: nothing is emitted). Returns the number emitted.
 */
int mqtt_disco_entity(const struct mqtt_disco_ctx *c, unsigned topic, const char *key,
                      const char *rel, json_object *ent, mqtt_disco_emit_fn emit, void *userdata);

/* Text as a Home Assistant object id / node id: anything but [A-Za-z0-9_-] becomes '_'. */
void mqtt_disco_id(char *dst, size_t size, const char *src);
