/*
 * jsonfmt.h — small JSON and text helpers shared by the dialects, REST and the session.
 *
 * Process: ringhub; pure functions (uuid4 reads getrandom), any thread. Nothing here
 * knows about clients, dialects or sockets.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define JSONFMT_UUID_LEN 36

/* Parse exactly one JSON value from msg (NULL when malformed or trailing bytes). */
json_object *jsonfmt_parse(const char *msg, size_t len);
/* ISO 8601 UTC with milliseconds: 2024-12-19T10:30:00.123Z. Returns the length (0 on
 * failure). */
size_t jsonfmt_iso8601(char *buf, size_t size, uint64_t realtime_ns);
/* PyAutomation's timestamp "%m/%d/%Y, %H:%M:%S.%f" in local time (Socket.IO objects,
 * Events and Logs). Returns the length (0 on failure). */
size_t jsonfmt_pyauto_time(char *buf, size_t size, uint64_t realtime_ns);
/* A random (version 4) UUID. 0 or -errno. */
int jsonfmt_uuid4(char out[JSONFMT_UUID_LEN + 1]);
/* A number as JSON text the way json_double() writes it ("null" when not finite). */
size_t jsonfmt_double(char *buf, size_t size, double v);
/* Serialize o (plain, no slash escapes); the text lives as long as o. */
const char *jsonfmt_text(json_object *o, size_t *ret_len);
