/*
 * mqtt_cmd.c — `…/set` messages → control_submit() (see mqtt_cmd.h).
 */
#include "mqtt_cmd.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "control.h"
#include "hub.h"
#include "log.h"
#include "macros.h"
#include "tokens.h"
#include "util.h"

/* The bridge's topic level → the catalogue's area, and the collector that answers. */
static const struct area {
        const char *seg, *area, *collector; /* collector NULL: the entity is the collector */
        bool id;
} areas[] = {
        { "container", "docker", "docker", true },
        { "vm", "vm", "vm", true },
        { "array", "array", "disks", false },
        { "disk", "disks", "disks", true },
        { "collector", "collectors", NULL, true },
        { "machine", "machines", "plc", true },
        { "tag", "tags", "plc", true },
};

static void done(const struct command_outcome *o, void *userdata)
{
        log_debug("mqtt: command %s %s%s%s: %s", o->collector, o->action, *o->target ? " " : "",
                  o->target, o->status);
}

void mqtt_cmd_handle(const char *rel, const char *payload, size_t len, enum auth_role role,
                     const char *origin)
{
        char seg[32], id[128], action[64], text[512];
        const char *slash = strchr(rel, '/');
        size_t sl = slash ? (size_t)(slash - rel) : strlen(rel);
        atomic_fetch_add_explicit(&hub.stats.mqtt_commands, 1, memory_order_relaxed);
        snprintf(seg, sizeof(seg), "%.*s", (int)MIN(sl, sizeof(seg) - 1), rel);
        strscpy(id, sizeof(id), slash ? slash + 1 : "");
        snprintf(text, sizeof(text), "%.*s", (int)MIN(len, sizeof(text) - 1),
                 payload ? payload : "");
        strstrip(text);

        json_object *args = NULL, *a;
        if (text[0] == '{') {
                args = json_tokener_parse(text);
                if (args && json_object_object_get_ex(args, "action", &a) &&
                    json_object_is_type(a, json_type_string))
                        strscpy(action, sizeof(action), json_object_get_string(a));
                else
                        action[0] = 0;
        } else {
                strscpy(action, sizeof(action), text);
        }

        const struct area *ar = NULL;
        for (size_t i = 0; i < ELEMENTSOF(areas); i++)
                if (strcmp(areas[i].seg, seg) == 0)
                        ar = &areas[i];
        struct control_request req = {
                .area = ar ? ar->area : seg,
                .action = action,
                .id = ar && ar->id ? id : NULL,
                .args = args,
        };
        /* The array's topic also carries its parity check: "parity-check-start". */
        if (ar && strcmp(ar->area, "array") == 0 && startswith(action, "parity-check-")) {
                req.area = "parity-check";
                req.action = action + strlen("parity-check-");
        }
        const char *collector = ar && ar->collector ? ar->collector : id;

        if (!tokens_auth_on() && role < AUTH_ROLE_OPERATOR) {
                log_warning("mqtt: refused %s %s%s%s from %s: the bridge's role is %s "
                            "(set [mqtt] role = operator to allow commands)",
                            req.area, req.action, req.id ? " " : "", req.id ? req.id : "", origin,
                            auth_role_name(role));
                struct command_request cr = { .collector = collector,
                                              .action = req.action,
                                              .target = req.id,
                                              .origin = origin,
                                              .role = auth_role_name(role) };
                commands_refuse(&cr, "FORBIDDEN", "the MQTT bridge's role may not send commands",
                                done, NULL);
        } else {
                struct control_who who = { .role = role, .name = origin };
                log_info("mqtt: %s %s%s%s requested on %s/set", req.area, req.action,
                         req.id ? " " : "", req.id ? req.id : "", rel);
                control_submit(&req, &who, done, NULL);
        }
        json_object_put(args);
}
