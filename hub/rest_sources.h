/*
 * rest_sources.h — the REST routes of the Unraid agent's newer sources (notifications,
 * ZFS), in the agent's shapes, with `source_status` saying why a body is empty.
 *
 * Process: ringhub, the mhd thread. Built per request from the state cache under
 * state_lock (never touches the ring or lws); knows nothing of libmicrohttpd: rest.c
 * sends what rest_sources_get() returns.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct rest_sources_reply {
        unsigned status; /* HTTP status */
        char *body;      /* JSON text (malloc'd), the caller frees it */
        size_t len;
        /* For a body that is a JSON array (no room for a key): "state; reason", sent as the
         * X-Source-Status header. */
        char source_header[192];
};

/*
 * GET /api/v1/<sub>: true when <sub> is one of these routes (then *ret is filled: a body,
 * or status 404 for an unknown id, 500 when out of memory), false when it is not ours.
 */
bool rest_sources_get(const char *sub, struct rest_sources_reply *ret);
