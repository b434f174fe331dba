/*
 * topic.h — topic patterns and per-subscription rate limits for the hub's dialects.
 *
 * Pure functions. A pattern is a dotted name where "*" matches one or more whole
 * segments at the end ("system.*", "*") or exactly one segment in the middle
 * ("module.*.status"); anything else must match literally.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

bool topic_match(const char *pattern, const char *topic);
/* Is the pattern well formed (non-empty, printable, "*" only as a whole segment)? */
bool topic_pattern_valid(const char *pattern);

/* A token bucket: `rate` per second, burst `burst`. rate 0 = unlimited. */
struct rate_limit {
        double rate, burst, tokens;
        uint64_t last_ns;
};
void rate_limit_init(struct rate_limit *r, double rate, double burst);
/* Take one token at time now_ns; false when none is left. */
bool rate_limit_take(struct rate_limit *r, uint64_t now_ns);
/* Nanoseconds until a token is available (0 when one is). */
uint64_t rate_limit_wait_ns(const struct rate_limit *r, uint64_t now_ns);
