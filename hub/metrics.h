/*
 * metrics.h — GET /metrics: Prometheus text of the state cache and the hub's counters
 * (metrics.c).
 *
 * Process: ringhub, mhd thread.
 */
#pragma once

#include <stddef.h>

/* The exposition text (malloc'd), or NULL on ENOMEM. */
char *metrics_render(size_t *ret_len);
