/*
 * topics.h — the hub's topics and their wire identity, from topics.def.
 *
 * Process: ringhub; immutable tables, any thread. A topic id is a record type id
 * (< RT_MAX) or one of the hub's pseudo topics HUB_T_*; HUB_T_MAX bounds both. Every
 * dialect, rest.c and metrics.c take names and paths from here; none keeps its own list.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "schema.h"

enum {
        HUB_T_BEFORE_FIRST = RT_MAX - 1,
#define RECORD_TOPIC(...)
#define HUB_TOPIC(id, ...) HUB_T_##id,
#include "topics.def"
#undef RECORD_TOPIC
#undef HUB_TOPIC
        HUB_T_MAX,
};

/* Which dialects carry a topic beyond the rule "has a name in it" (topics.def). */
enum { TC_UNRAID = 1u << 0, TC_SIO = 1u << 1 };

/* Number of rows in topics.def. */
enum {
        TOPICS_N = 0
#define RECORD_TOPIC(...) +1
#define HUB_TOPIC(...)    +1
#include "topics.def"
#undef RECORD_TOPIC
#undef HUB_TOPIC
};

struct topic_info {
        unsigned id;
        const char *name; /* core name: the record's, or "collector", "hub_diag", … */
        const char *native, *native_alt, *event, *alias, *rest, *rest_alt, *prom;
        unsigned carry; /* TC_* */
};

/* Row i (< TOPICS_N) in topics.def order. */
const struct topic_info *topics_row(size_t i);
/* The index (< TOPICS_N) of a topic's row, or -1 when it has none. */
int topics_index(unsigned topic);
/* The row of a topic id, or NULL when the hub does not publish it. */
const struct topic_info *topics_get(unsigned topic);
/* The snake_case event name of a topic, or NULL. */
const char *topics_event_name(unsigned topic);
/* The topic of a snake_case event name, or -1. */
int topics_by_event_name(const char *name);
/* The row serving /api/v1/<path> (path without {id}), or NULL. */
const struct topic_info *topics_by_rest(const char *path, size_t len);
/* The metric stem of a record type: its row's, else the record's own name (records kept as
 * state that no dialect carries yet, and children). NULL when the type is unknown. */
const char *topics_prom_name(unsigned type);
