/*
 * mqtt_cmd.h — commands that arrive on the MQTT bridge's `…/set` topics.
 *
 * Process: ringhub, the bridge's thread. A message on `<base>/<entity>/set` (a Home
 * Assistant button or switch, or any client allowed to publish there) names an action
 * ("start", "stop", "refresh", "parity-check-start", or a JSON object {"action": …,
 * "confirm": true, …}); it becomes one control_submit() (control.h) with the bridge's
 * configured role, so the catalogue, the `[hub] control` gate, the audit line and the
 * `command.executed` event are the same as for REST. With auth off the bridge's own role
 * still has to be operator or better: the default viewer bridge refuses every command
 * (logged and audited as FORBIDDEN). Nothing here blocks: the outcome is logged when it
 * comes.
 */
#pragma once

#include <stddef.h>

#include "auth.h"

/* rel: the entity's topic below the base ("container/web1", "array", "collector/system"). */
void mqtt_cmd_handle(const char *rel, const char *payload, size_t len, enum auth_role role,
                     const char *origin);
