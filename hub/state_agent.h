/*
 * state_agent.h — the Unraid agent's derived and default fields on the canonical JSON.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

/*
 * Add to o (one entity's JSON of record type `type`, children already nested) the fields
 * the current Unraid agent's DTOs carry that are presentation of ours (ram_used_mb,
 * memory_display, port_mappings, uptime …) or that ringhub cannot source (the DTO's
 * default then: false, 0, "", []). Keys already present are left alone.
 */
void state_agent_fields(unsigned type, json_object *o);
/* Whether state_agent_fields() adds anything to entities of record type `type` (its cases
 * must match). */
bool state_agent_adds(unsigned type);
