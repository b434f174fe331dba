/*
 * state_agent.h — the Unraid agent's derived and default fields on the canonical JSON.
 *
 * One table (state_agent.c) drives both ways of adding them: straight into the
 * schema-driven writer's text (the hot path) and onto a json-c tree (cold paths); the
 * two give the same bytes (tests/hub/state_writer_test.c).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record_json.h"
#include "schema.h"

/* The Unraid-typed JSON flags every cached body uses. */
#define STATE_RJ_FLAGS       (RJ_SEED_TYPED | RJ_ALIASES)
#define STATE_AGENT_RJ_FLAGS STATE_RJ_FLAGS

/* An entity's children of one type, as state_agent_write() reads them. */
struct agent_kids {
        unsigned type;
        uint32_t n;
        const uint8_t *p; /* n × record size */
};

/* Resolve the table against the schema (once, before any writer runs: state_init()). */
void state_agent_init(void);
/*
 * Add to o (one entity's JSON of record type `type`, children already nested) the fields
 * the current Unraid agent's DTOs carry that are presentation of ours (ram_used_mb,
 * memory_display, port_mappings, uptime …) or that ringhub cannot source (the DTO's
 * default then: false, 0, "", []). Keys already present are left alone.
 */
void state_agent_fields(unsigned type, json_object *o);
/* Whether the agent adds fields to entities of record type `type`. */
bool state_agent_adds(unsigned type);
/* The record field the writer must leave out of the entity's members because the agent's
 * field of that name replaces it at the end (an empty "storage"), or NULL. */
const struct field_desc *state_agent_omitted(unsigned type, const void *payload);
/* Append the agent's members of one entity (its record and children) to b, each after a
 * ',' unless *first (then cleared): the bytes state_agent_fields() adds to its tree.
 * 0 or -ENOMEM. */
int state_agent_write(struct rj_buf *b, unsigned type, const void *payload,
                      const struct agent_kids *kids, unsigned n_kids, bool *first);
/* printf's "%.2f" of v into buf (size ≥ 32), as the memory texts write it; its length. */
size_t state_agent_fixed2(char *buf, size_t size, double v);
