/*
 * alarms_defs.c — alarm definitions and payloads as JSON (see alarms_defs.h).
 *
 * Process: ringhub, any thread. A definition names what it watches by `tag`: a metric
 * path topic:entity:field whose topic is a record the hub keeps and whose field is one of
 * that record's, or a plain tag name (tag:<name>:value). Names and tags are checked for
 * characters that would need escaping in a metric label, so /metrics writes them as they
 * are. Times on the wire are seconds; the engine keeps milliseconds.
 */
#include "alarms_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "schema.h"
#include "util.h"

#define ALARMS_FILE_MAX (4u << 20)
#define DAY_S           86400.0

void alarms_id_of(const char *name, char ret[ALARM_ID_MAX])
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *p = name; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
        snprintf(ret, ALARM_ID_MAX, "%08x", h);
}

/* Printable ASCII without '"' and '\\' (label-safe), 1..max-1 long. */
static bool label_safe(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (!n || n >= max)
                return false;
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
                        return false;
        return true;
}

static bool id_ok(const char *s)
{
        size_t n = strlen(s);
        if (!n || n >= ALARM_ID_MAX)
                return false;
        for (; *s; s++)
                if (!(*s >= '0' && *s <= '9') && !(*s >= 'a' && *s <= 'z') &&
                    !(*s >= 'A' && *s <= 'Z') && *s != '_' && *s != '-')
                        return false;
        return true;
}

/* The topic's record and field must exist and be numeric or boolean. */
static bool path_ok(const char *tag, const char **why)
{
        char t[ALARM_TAG_MAX], e[ALARM_TAG_MAX], f[ALARM_TAG_MAX];
        if (!label_safe(tag, ALARM_TAG_MAX) || !alarm_path_split(tag, t, e, f)) {
                *why = "tag must be a tag name or a metric path topic:entity:field";
                return false;
        }
        const struct record_desc *r = schema_record_by_name(t);
        if (!r || r->kind == SK_CHILD || r->kind == SK_EVENT) {
                *why = "unknown topic in tag (disk, ups, tag, container, pool, …)";
                return false;
        }
        const struct field_desc *fd = schema_field_by_name(r, f);
        if (!fd || !(fd->kind == FK_U32 || fd->kind == FK_U64 || fd->kind == FK_I64 ||
                     fd->kind == FK_F64 || fd->kind == FK_BOOL)) {
                *why = "the field in tag is not a numeric field of that topic";
                return false;
        }
        return true;
}

/* A number field: absent keeps *v; present must be a number (or a boolean) in range. */
static bool num_field(json_object *o, const char *key, double min, double max, double *v,
                      bool *present)
{
        json_object *x;
        if (present)
                *present = false;
        if (!json_object_object_get_ex(o, key, &x))
                return true;
        if (json_object_is_type(x, json_type_boolean))
                *v = json_object_get_boolean(x) ? 1 : 0;
        else if (json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int))
                *v = json_object_get_double(x);
        else
                return false;
        if (present)
                *present = true;
        return isfinite(*v) && *v >= min && *v <= max;
}

static bool str_field(json_object *o, const char *key, char *buf, size_t size, bool *present)
{
        json_object *x;
        *present = json_object_object_get_ex(o, key, &x);
        if (!*present)
                return true;
        if (!json_object_is_type(x, json_type_string) ||
            (size_t)json_object_get_string_len(x) >= size)
                return false;
        strcpy(buf, json_object_get_string(x));
        return true;
}

static bool ms_field(json_object *o, const char *key, double max_s, uint64_t *ms)
{
        double s = (double)*ms / 1000.0;
        if (!num_field(o, key, 0, max_s, &s, NULL))
                return false;
        *ms = (uint64_t)llround(s * 1000.0);
        return true;
}

int alarms_def_parse(json_object *o, const struct alarm_def *base, struct alarm_def *ret,
                     const char **ret_why)
{
        struct alarm_def d = base ? *base : (struct alarm_def){ 0 };
        bool has_name, has_tag, has_desc, has_id, has_val;
        char trig[24] = "";
        bool has_trig;
        *ret_why = NULL;
        if (!o || !json_object_is_type(o, json_type_object)) {
                *ret_why = "the body must be a JSON object";
                return -EINVAL;
        }
        if (!str_field(o, "name", d.name, sizeof(d.name), &has_name) ||
            (has_name && !label_safe(d.name, sizeof(d.name))))
                *ret_why = "name must be 1 to 63 printable characters without quotes";
        else if (!str_field(o, "tag", d.tag, sizeof(d.tag), &has_tag))
                *ret_why = "tag must be a string";
        else if (!str_field(o, "description", d.description, sizeof(d.description), &has_desc))
                *ret_why = "description must be a string of at most 255 bytes";
        else if (!str_field(o, "trigger_type", trig, sizeof(trig), &has_trig) ||
                 (has_trig && alarm_trigger_parse(trig) < 0))
                *ret_why = "trigger_type must be HIGH-HIGH, HIGH, LOW, LOW-LOW or BOOL";
        else if (!num_field(o, "trigger_value", -1e300, 1e300, &d.setpoint, &has_val))
                *ret_why = "trigger_value must be a number";
        else if (!num_field(o, "deadband", 0, 1e300, &d.deadband, NULL))
                *ret_why = "deadband must be a number >= 0";
        else if (!ms_field(o, "on_delay", DAY_S, &d.on_delay_ms) ||
                 !ms_field(o, "off_delay", DAY_S, &d.off_delay_ms))
                *ret_why = "on_delay and off_delay are seconds, 0 to 86400";
        else if (!ms_field(o, "stale_after", 7 * DAY_S, &d.stale_ms))
                *ret_why = "stale_after is seconds, 0 (never) to 604800";
        else if (!ms_field(o, "max_shelve_time", 7 * DAY_S, &d.max_shelve_ms))
                *ret_why = "max_shelve_time is seconds, up to 604800";
        else if (!str_field(o, "id", d.id, sizeof(d.id), &has_id) || (has_id && !id_ok(d.id)))
                *ret_why = "id must be 1 to 39 letters, digits, '_' or '-'";
        else if (!base && (!has_name || !has_tag || !has_trig || !has_val))
                *ret_why = "name, tag, trigger_type and trigger_value are required";
        else if (has_tag || !base)
                (void)path_ok(d.tag, ret_why);
        if (*ret_why)
                return -EINVAL;
        if (has_trig)
                d.trigger = (enum alarm_trigger)alarm_trigger_parse(trig);
        if (!has_id && !base)
                alarms_id_of(d.name, d.id);
        if (!d.max_shelve_ms)
                d.max_shelve_ms = ALARM_SHELVE_MAX_MS;
        *ret = d;
        return 0;
}

static json_object *secs(uint64_t ms)
{
        return json_object_new_double((double)ms / 1000.0);
}

json_object *alarms_def_json(const struct alarm_def *d)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_string(d->id));
        json_object_object_add(o, "name", json_object_new_string(d->name));
        json_object_object_add(o, "tag", json_object_new_string(d->tag));
        json_object_object_add(o, "description", json_object_new_string(d->description));
        json_object_object_add(o, "trigger_type",
                               json_object_new_string(alarm_trigger_name(d->trigger)));
        json_object_object_add(o, "trigger_value", json_object_new_double(d->setpoint));
        json_object_object_add(o, "deadband", json_object_new_double(d->deadband));
        json_object_object_add(o, "on_delay", secs(d->on_delay_ms));
        json_object_object_add(o, "off_delay", secs(d->off_delay_ms));
        json_object_object_add(o, "stale_after", secs(d->stale_ms));
        json_object_object_add(o, "max_shelve_time", secs(d->max_shelve_ms));
        return o;
}

static json_object *ts_or_null(uint64_t ns)
{
        char ts[48];
        return ns && jsonfmt_pyauto_time(ts, sizeof(ts), ns) ? json_object_new_string(ts) : NULL;
}

static json_object *str_or_null(const char *s)
{
        return s && *s ? json_object_new_string(s) : NULL;
}

json_object *alarms_payload(const struct alarm *a, int change, const char *user)
{
        json_object *o = alarms_def_json(&a->def);
        json_object *st = json_object_new_object(), *sp = json_object_new_object();
        if (!o || !st || !sp) {
                json_object_put(o);
                json_object_put(st);
                json_object_put(sp);
                return NULL;
        }
        enum alarm_state s = a->state;
        json_object_object_add(o, "identifier", json_object_new_string(a->def.id));
        json_object_object_add(sp, "type",
                               json_object_new_string(alarm_trigger_name(a->def.trigger)));
        json_object_object_add(sp, "value", json_object_new_double(a->def.setpoint));
        json_object_object_add(sp, "setpoint", json_object_new_double(a->def.setpoint));
        json_object_object_add(sp, "hysteresis", json_object_new_double(a->def.deadband));
        json_object_object_add(o, "alarm_setpoint", sp);
        json_object_object_add(st, "mnemonic", json_object_new_string(alarm_state_mnemonic(s)));
        json_object_object_add(st, "state", json_object_new_string(alarm_state_name(s)));
        json_object_object_add(st, "process_condition",
                               json_object_new_string(a->cond ? "Abnormal" : "Normal"));
        json_object_object_add(st, "alarm_status",
                               json_object_new_string(alarm_state_alarm_status(s)));
        json_object_object_add(st, "annunciate_status",
                               json_object_new_string(alarm_state_annunciate_status(s)));
        json_object_object_add(st, "acknowledge_status",
                               json_object_new_string(alarm_state_ack_status(s)));
        json_object_object_add(st, "timestamp", ts_or_null(a->state_ns));
        json_object_object_add(st, "ack_timestamp", ts_or_null(a->ack_ns));
        json_object_object_add(st, "ack_user", str_or_null(a->ack_user));
        json_object_object_add(st, "source_lost", json_object_new_boolean(a->source_lost));
        json_object_object_add(st, "shelved_until",
                               s == ALARM_SHELVED ? ts_or_null(a->shelved_until_ns) : NULL);
        json_object_object_add(o, "state", st);
        json_object_object_add(o, "value", a->have_value ? json_object_new_double(a->value) : NULL);
        json_object_object_add(o, "source_lost", json_object_new_boolean(a->source_lost));
        json_object_object_add(o, "source",
                               json_object_new_string(a->def.from_config ? "config" : "rest"));
        json_object_object_add(o, "timestamp", ts_or_null(a->state_ns));
        json_object_object_add(o, "alarm_time", ts_or_null(a->raised_ns));
        json_object_object_add(o, "ack_time", ts_or_null(a->ack_ns));
        json_object_object_add(o, "rtn_time", ts_or_null(a->rtn_ns));
        if (change >= 0)
                json_object_object_add(
                    o, "event",
                    json_object_new_string(alarm_change_name((enum alarm_change)change)));
        json_object_object_add(o, "user", str_or_null(user));
        return o;
}

int alarms_file_read(const char *path, json_object **ret)
{
        _cleanup_free_ char *buf = malloc(ALARMS_FILE_MAX);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read_file_bounded(path, buf, ALARMS_FILE_MAX);
        if (n < 0)
                return (int)n;
        json_object *o = jsonfmt_parse(buf, (size_t)n);
        if (!o || !json_object_is_type(o, json_type_array)) {
                json_object_put(o);
                log_error("%s: not a JSON array of alarm definitions", path);
                return -EINVAL;
        }
        *ret = o;
        return 0;
}

int alarms_file_write(const char *path, json_object *array)
{
        char tmp[4096];
        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        size_t len;
        const char *s = jsonfmt_text(array, &len);
        if (!s)
                return -ENOMEM;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        int r = 0;
        for (size_t off = 0; off < len && r == 0;) {
                ssize_t w = write(fd, s + off, len - off);
                if (w < 0 && errno != EINTR)
                        r = -errno;
                else if (w > 0)
                        off += (size_t)w;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}
