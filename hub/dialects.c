/*
 * dialects.c — the list of WebSocket dialects the hub speaks, and lookup by path.
 *
 * Process: ringhub. Adding a dialect is one file implementing struct dialect plus one
 * line here (and its declaration in dialects.h); the order is the dialect's number.
 */
#include "dialects.h"

#include <string.h>

#include "macros.h"

const struct dialect *const hub_dialects[] = {
        &dialect_unraid,
        &dialect_native,
        &dialect_sio,
        &dialect_ledfx,
};
const unsigned hub_n_dialects = ELEMENTSOF(hub_dialects);
static_assert(ELEMENTSOF(hub_dialects) <= HUB_MAX_DIALECTS, "too many dialects");

const struct dialect *dialects_by_path(const char *path, size_t len, unsigned *ret_index)
{
        for (unsigned i = 0; i < hub_n_dialects; i++) {
                const char *p = hub_dialects[i]->path;
                if (strlen(p) == len && memcmp(p, path, len) == 0) {
                        if (ret_index)
                                *ret_index = i;
                        return hub_dialects[i];
                }
        }
        return NULL;
}
