/*
 * alarms_defs.h — alarm definitions and payloads as JSON (alarms_defs.c): parse and check
 * a definition (the seed's Alarm fields), the on.alarm payload of an alarm, and the
 * definition files (the configuration's alarms file, the state directory's alarms.json).
 *
 * Process: ringhub, any thread; pure apart from the two file helpers. Used by
 * alarms_hub.c only.
 */
#pragma once

#include <json-c/json.h>

#include "alarms.h"

/*
 * Fill ret from o. With base (an update), fields o leaves out keep base's values; without,
 * name, tag, trigger_type and trigger_value are required. The id is o's "id" when given
 * (configuration files), else derived from the name. 0, or -EINVAL with *ret_why set.
 */
int alarms_def_parse(json_object *o, const struct alarm_def *base, struct alarm_def *ret,
                     const char **ret_why);
/* A definition as it is stored (new ref). */
json_object *alarms_def_json(const struct alarm_def *d);
/* The seed's Alarm payload with the ISA-18.2 state object (new ref). change < 0: none;
 * user: who acted (NULL: the process). */
json_object *alarms_payload(const struct alarm *a, int change, const char *user);
/* The id of a name: 8 hex digits of its hash (stable across restarts). */
void alarms_id_of(const char *name, char ret[ALARM_ID_MAX]);

/* Read a JSON array of definitions (new ref). -ENOENT when the file is missing,
 * -EINVAL when it is not an array (logged). */
int alarms_file_read(const char *path, json_object **ret);
/* Write an array atomically (temporary file, fsync, rename). 0 or -errno. */
int alarms_file_write(const char *path, json_object *array);
