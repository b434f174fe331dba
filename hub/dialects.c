/*
 * dialects.c — the list of WebSocket dialects the hub speaks, and lookup by path.
 *
 * Process: ringhub. Adding a dialect is one file implementing struct dialect plus one
 * line here (and its declaration in dialects.h); the order is the dialect's number. A
 * dialect may also answer on other paths (aliases[]: the native dialect on "/" and on
 * the AGV seed's "/ws/telemetry").
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

/* More upgrade paths: the carousel server's clients connect to the server root (a plain
 * GET of it stays REST's: dialects_path_is_alias), the AGV seed's to /ws/telemetry. */
static const struct {
        const char *path;
        const struct dialect *d;
        bool plain_get_is_rest;
} aliases[] = {
        { "/", &dialect_native, true },
        { "/ws/telemetry", &dialect_native, false },
};

bool dialects_path_is_alias(const char *path, size_t len)
{
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (strlen(aliases[i].path) == len && memcmp(aliases[i].path, path, len) == 0)
                        return aliases[i].plain_get_is_rest;
        return false;
}

const struct dialect *dialects_by_path(const char *path, size_t len, unsigned *ret_index)
{
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (strlen(aliases[i].path) == len && memcmp(aliases[i].path, path, len) == 0) {
                        path = aliases[i].d->path;
                        len = strlen(path);
                        break;
                }
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
