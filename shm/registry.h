/*
 * registry.h — the ring's producer registry: who writes into the ring, alive or not.
 *
 * Linked by every process. Collectors register (taking back their own name's entry on
 * a restart, which bumps its generation), heartbeat and unregister; the hub and
 * ringhubctl read a snapshot. Nobody outside registry.c touches `ring->producers[]`:
 * the snapshot and its JSON (one shape for REST, the native dialect and ringhubctl)
 * are the only views.
 *
 * Liveness, in one place: an entry is `running` while its process exists (pid present,
 * not reused: /proc start time checked) and its heartbeat is fresh (within 3 intervals
 * + 1 s when it declared an interval), `stale` when the process is there but silent,
 * `dead` when the process is gone without unregistering, `exited` when it unregistered.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox.h"
#include "ring.h"

/*
 * Take (or take back) the registry entry named `name`: an entry with that name whose
 * process is gone is reused, its generation bumped, and its mailbox emptied. -EEXIST
 * when a live process holds the name, -ENOSPC when the registry is full. Returns the
 * entry index.
 */
int ring_producer_register(struct ring *r, const char *name, uint32_t interval_ms);
void ring_producer_heartbeat(struct ring *r, int idx);
void ring_producer_unregister(struct ring *r, int idx, int exit_code);
/* Is the registered process still there (pid present and not reused)? */
bool ring_producer_alive(const struct ring *r, unsigned idx);
/* The producer's main interval changed (a reload): liveness follows it. */
void ring_producer_set_interval(struct ring *r, int idx, uint32_t interval_ms);
/* The next batch id of this producer (counts the batch). */
uint32_t ring_producer_next_batch(struct ring *r, int idx);
/* Records this producer has given up so far. */
uint64_t ring_producer_dropped(const struct ring *r, int idx);

enum registry_state {
        REGISTRY_FREE = 0,
        REGISTRY_RUNNING,
        REGISTRY_STALE,
        REGISTRY_DEAD,
        REGISTRY_EXITED,
};

struct registry_entry {
        unsigned index;
        char name[RING_NAME_MAX + 1];
        enum registry_state state;
        bool alive; /* running or stale */
        uint32_t pid, generation, interval_ms, exit_code;
        uint64_t start_ns, heartbeat_ns; /* realtime */
        uint64_t written, dropped, batches;
        struct mailbox_stats mailbox;
};

/* The state word: "running", "stale", "dead", "exited" ("free" for an unused entry). */
const char *registry_state_name(enum registry_state s);

/* One entry (index < RING_MAX_PRODUCERS) as of now; false when the entry is free. */
bool registry_get(const struct ring *r, unsigned index, uint64_t now_ns,
                  struct registry_entry *ret);
/* Every entry in use, in index order; returns how many were written (≤ max). */
size_t registry_snapshot(const struct ring *r, struct registry_entry *out, size_t max);
/* The index of the entry named `name` (live or not), or -ENOENT. */
int registry_find(const struct ring *r, const char *name);

/*
 * The entry as JSON (new ref): index, name, pid, state, alive, generation, interval_ms,
 * started, last_heartbeat, heartbeat_age_s, records_written, records_dropped, batches,
 * exit_code (exited only) and mailbox{queued, posted, taken, answered, busy, rejected,
 * timed_out, expired}.
 */
json_object *registry_entry_json(const struct registry_entry *e, uint64_t now_ns);
