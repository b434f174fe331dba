/*
 * plc_map_impl.h — what plc_map.c (parsing) and plc_map_check.c (checking, planning)
 * share while a map is being built: the raw strings kept until plc_map_finish() resolves
 * them, and two parse helpers. Private to those two files; main thread only.
 */
#pragma once

#include "plc_map.h"

struct tag_raw {
        char device[32], area[24], address[16], type[16], order[12], bit[8];
        unsigned line;
};

/* Raw strings resolved by plc_map_finish(), parallel to m->tags / m->machines. */
struct plc_map_raw {
        struct tag_raw *tags;
        char machine_device[PLC_MAX_MACHINES][32];
        unsigned machine_line[PLC_MAX_MACHINES];
};

int plc_map_device_find(const struct plc_map *m, const char *name);
/* Decimal only (strtoull's base 0 would read "010" as octal), within [0, max]. */
int plc_map_parse_uint(const char *s, uint64_t max, uint64_t *ret);
