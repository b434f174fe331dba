/*
 * dialects.c — the list of WebSocket dialects the hub speaks.
 *
 * Process: ringhub. Adding a dialect is one file implementing struct dialect plus one
 * line here; the order is the hand-off's dialect number. Nothing else lives here.
 */
#include "dialect.h"
#include "macros.h"

const struct dialect *const hub_dialects[] = {
        &dialect_unraid,
};
const unsigned hub_n_dialects = ELEMENTSOF(hub_dialects);
