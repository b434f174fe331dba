/*
 * rest_unraid.h — the Unraid agent's REST conventions and the routes built per request.
 */
#pragma once

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdbool.h>

/* The agent's largest request body (bytes); over it → 413. */
#define REST_UNRAID_BODY_MAX (1024u * 1024u)

/* Add the agent's CORS headers ([hub] cors_origin; none when it is empty). */
void rest_unraid_headers(struct MHD_Response *r);
/* true when this request of the connection's client address is over [hub] rest_rate. */
bool rest_unraid_limited(struct MHD_Connection *conn);
/*
 * GET /api/v1/<sub> for the routes built per request (collectors/status, fans,
 * temperatures, docker/port-conflicts, diagnostics/self-test, health/report,
 * network/access-urls): a new object, or NULL when sub is none of them.
 */
json_object *rest_unraid_get(const char *sub);
/*
 * The body of a SINGLE topic no collector has written yet: the agent's defaults (every
 * seed field typed) and a source_status saying why.
 */
json_object *rest_unraid_default(unsigned type, const char *collector);
