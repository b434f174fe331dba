/*
 * topics.c — the topics table (topics.def) and its look-ups (see topics.h).
 *
 * Process: ringhub. Constant data and pure functions; any thread.
 */
#include "topics.h"

#include <assert.h>
#include <string.h>

/* The rows by topic id (name NULL: no row). */
static const struct topic_info by_id[HUB_T_MAX] = {
#define RECORD_TOPIC(rec, ...) [RT_##rec] = { RT_##rec, #rec, __VA_ARGS__ },
#define HUB_TOPIC(id, ...)     [HUB_T_##id] = { HUB_T_##id, __VA_ARGS__ },
#include "topics.def"
#undef RECORD_TOPIC
#undef HUB_TOPIC
};

/* The topic ids in topics.def order. */
static const unsigned order[TOPICS_N] = {
#define RECORD_TOPIC(rec, ...) RT_##rec,
#define HUB_TOPIC(id, ...)     HUB_T_##id,
#include "topics.def"
#undef RECORD_TOPIC
#undef HUB_TOPIC
};

/* 1 + the index of each topic's row (0: none), filled before main() from order[]. */
static unsigned char index_of[HUB_T_MAX];
static_assert(TOPICS_N < 255, "topics index fits a byte");

static void topics_index_init(void) __attribute__((constructor));
static void topics_index_init(void)
{
        for (size_t i = 0; i < TOPICS_N; i++)
                index_of[order[i]] = (unsigned char)(i + 1);
}

int topics_index(unsigned topic)
{
        return topic < HUB_T_MAX ? (int)index_of[topic] - 1 : -1;
}

const struct topic_info *topics_row(size_t i)
{
        return i < TOPICS_N ? &by_id[order[i]] : NULL;
}

const struct topic_info *topics_get(unsigned topic)
{
        return topic < HUB_T_MAX && by_id[topic].name ? &by_id[topic] : NULL;
}

const char *topics_event_name(unsigned topic)
{
        const struct topic_info *t = topics_get(topic);
        return t ? t->event : NULL;
}

int topics_by_event_name(const char *name)
{
        for (size_t i = 0; name && i < TOPICS_N; i++) {
                const struct topic_info *t = topics_row(i);
                if (t->event && strcmp(t->event, name) == 0)
                        return (int)t->id;
        }
        return -1;
}

const struct topic_info *topics_by_rest(const char *path, size_t len)
{
        for (size_t i = 0; i < TOPICS_N; i++) {
                const struct topic_info *t = topics_row(i);
                if (t->rest && strlen(t->rest) == len && memcmp(t->rest, path, len) == 0)
                        return t;
        }
        return NULL;
}

const char *topics_prom_name(unsigned type)
{
        const struct topic_info *t = topics_get(type);
        if (t && t->prom)
                return t->prom;
        const struct record_desc *d = schema_record(type);
        return d ? d->name : NULL;
}
