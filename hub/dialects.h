/*
 * dialects.h — the WebSocket dialects the hub speaks (dialects.c).
 *
 * Process: ringhub; constant data, any thread. The index of a dialect in hub_dialects[]
 * is its number in the hand-off, the fan-out and the client lists.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "dialect.h"

extern const struct dialect dialect_unraid, dialect_native, dialect_sio, dialect_ledfx;

extern const struct dialect *const hub_dialects[];
extern const unsigned hub_n_dialects;

/* The dialect whose upgrade path (or alias: "/" for native) is path[0..len), or NULL;
 * *ret_index is set when found. */
const struct dialect *dialects_by_path(const char *path, size_t len, unsigned *ret_index);
/* Is path[0..len) a second path of a dialect whose GET without an upgrade is REST's,
 * not a 426 ("/")? */
bool dialects_path_is_alias(const char *path, size_t len);
