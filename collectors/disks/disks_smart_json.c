/*
 * disks_smart_json.c — smartctl's JSON output (`smartctl -j -n standby -a`) into a
 * struct smart_info, for ringhub-collect-disks.
 *
 * Pure parsing: called on the SMART thread with the text and exit status of one run,
 * touches nothing else. ATA and NVMe keep the same facts under different keys; a disk
 * asleep (standby, exit bit 1) keeps what its last active read knew but no temperature;
 * no JSON, or a device smartctl could not open, leaves a one-line problem instead.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "disks.h"
#include "util.h"

void smart_reset(struct smart_info *i)
{
        *i = (struct smart_info){
                .temp = NAN, .errors = MISSING_U64, .poh = MISSING_U64, .cycles = MISSING_U64
        };
        strscpy(i->status, sizeof(i->status), "UNKNOWN");
        strscpy(i->spin, sizeof(i->spin), "unknown");
}

static json_object *jget(json_object *o, const char *path)
{
        char key[64];
        while (o && *path) {
                const char *dot = strchr(path, '.');
                size_t n = dot ? (size_t)(dot - path) : strlen(path);
                if (n >= sizeof(key))
                        return NULL;
                memcpy(key, path, n);
                key[n] = 0;
                if (!json_object_is_type(o, json_type_object) ||
                    !json_object_object_get_ex(o, key, &o))
                        return NULL;
                path += n + (dot ? 1 : 0);
        }
        return o;
}

static uint64_t jget_u64(json_object *o, const char *path)
{
        json_object *v = jget(o, path);
        if (!v || !json_object_is_type(v, json_type_int))
                return MISSING_U64;
        int64_t i = json_object_get_int64(v);
        return i < 0 ? MISSING_U64 : (uint64_t)i;
}

static const char *jget_str(json_object *o, const char *path)
{
        json_object *v = jget(o, path);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Fill *i from smartctl's JSON and exit status. */
void smart_parse(const char *dev, const char *out, int status, struct smart_info *i,
                 const struct smart_info *prev)
{
        json_tokener *tok = json_tokener_new();
        json_object *j = tok ? json_tokener_parse_ex(tok, out, (int)strlen(out)) : NULL;
        if (tok && json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(j);
                j = NULL;
        }
        json_tokener_free(tok);
        smart_reset(i);
        if (!j || !json_object_is_type(j, json_type_object)) {
                snprintf(i->problem, sizeof(i->problem),
                         "smartctl printed no JSON for %s (exit status %d)", dev, status);
                json_object_put(j);
                return;
        }
        const char *msg = NULL;
        bool standby = false;
        json_object *msgs = jget(j, "smartctl.messages");
        if (msgs && json_object_is_type(msgs, json_type_array))
                for (size_t k = 0; k < json_object_array_length(msgs); k++) {
                        const char *s = jget_str(json_object_array_get_idx(msgs, k), "string");
                        if (!s)
                                continue;
                        if (!msg)
                                msg = s;
                        if (strcasestr(s, "STANDBY") || strcasestr(s, "SLEEP"))
                                standby = true;
                }
        if (standby && (status & 2)) {
                /* Asleep: keep what the last active read knew, but no temperature. */
                if (prev && prev->known) {
                        *i = *prev;
                        i->temp = NAN;
                        i->problem[0] = 0;
                }
                strscpy(i->spin, sizeof(i->spin), "standby");
                json_object_put(j);
                return;
        }
        if (status & 3) {
                /* Command line error or device could not be opened: nothing to report. */
                snprintf(i->problem, sizeof(i->problem), "%s: %s", dev,
                         msg ? msg : "smartctl could not read the device");
                json_object_put(j);
                return;
        }
        i->known = true;
        strscpy(i->spin, sizeof(i->spin), "active");
        json_object *passed = jget(j, "smart_status.passed");
        if (passed && json_object_is_type(passed, json_type_boolean))
                strscpy(i->status, sizeof(i->status),
                        json_object_get_boolean(passed) ? "PASSED" : "FAILED");
        const char *s;
        if ((s = jget_str(j, "model_name")))
                strscpy(i->model, sizeof(i->model), s);
        if ((s = jget_str(j, "serial_number")))
                strscpy(i->serial, sizeof(i->serial), s);
        uint64_t t = jget_u64(j, "temperature.current");
        if (t == MISSING_U64)
                t = jget_u64(j, "nvme_smart_health_information_log.temperature");
        if (t != MISSING_U64 && t < 150)
                i->temp = (double)t;
        i->poh = jget_u64(j, "power_on_time.hours");
        if (i->poh == MISSING_U64)
                i->poh = jget_u64(j, "nvme_smart_health_information_log.power_on_hours");
        i->cycles = jget_u64(j, "power_cycle_count");
        if (i->cycles == MISSING_U64)
                i->cycles = jget_u64(j, "nvme_smart_health_information_log.power_cycles");
        i->errors = jget_u64(j, "ata_smart_error_log.extended.count");
        if (i->errors == MISSING_U64)
                i->errors = jget_u64(j, "ata_smart_error_log.summary.count");
        if (i->errors == MISSING_U64)
                i->errors = jget_u64(j, "nvme_smart_health_information_log.media_errors");
        json_object *table = jget(j, "ata_smart_attributes.table");
        if (table && json_object_is_type(table, json_type_array))
                for (size_t k = 0; k < json_object_array_length(table) && i->n_attrs < MAX_ATTRS;
                     k++) {
                        json_object *a = json_object_array_get_idx(table, k);
                        uint64_t id = jget_u64(a, "id");
                        if (id == MISSING_U64 || id > 255)
                                continue;
                        struct smart_attr *sa = &i->attrs[i->n_attrs++];
                        uint64_t v;
                        sa->id = (uint32_t)id;
                        sa->value = (v = jget_u64(a, "value")) <= 255 ? (uint32_t)v : MISSING_U32;
                        sa->worst = (v = jget_u64(a, "worst")) <= 255 ? (uint32_t)v : MISSING_U32;
                        sa->thresh = (v = jget_u64(a, "thresh")) <= 255 ? (uint32_t)v : MISSING_U32;
                        sa->raw = jget_u64(a, "raw.value");
                        strscpy(sa->name, sizeof(sa->name), (s = jget_str(a, "name")) ? s : "");
                        strscpy(sa->when_failed, sizeof(sa->when_failed),
                                (s = jget_str(a, "when_failed")) ? s : "");
                }
        json_object_put(j);
}
