/*
 * dialects.c — the list of WebSocket dialects the hub speaks.
 *
 * Process: ringhub. Adding a dialect is one file implementing struct dialect plus one
 * line here; the order is the hand-off's dialect number. Nothing else lives here.
 */
#include "clients.h"
#include "dialect.h"
#include "macros.h"

const struct dialect *const hub_dialects[] = {
        &dialect_unraid,
        &dialect_native,
        &dialect_sio,
        &dialect_ledfx,
};
const unsigned hub_n_dialects = ELEMENTSOF(hub_dialects);
