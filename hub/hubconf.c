/*
 * hubconf.c — configuration file for the hub (see hubconf.h).
 *
 * Strings taken from the file are copied: the table they came from is freed on reload
 * while hub.opt still points at them. Only the lws thread applies a reload, and every
 * reloadable field is read by that thread (or, for auth, under tokens.c's lock). What
 * else must follow a reload registers a hook; the result is published as config.updated.
 */
#include "hubconf.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "macros.h"
#include "util.h"

static struct conf *cfg;
/* [hub] keys a command-line flag set: a reload never overrides them. */
static char flagged[24][24];
static unsigned n_flagged;

void hubconf_flag(const char *key)
{
        if (n_flagged < ELEMENTSOF(flagged))
                strscpy(flagged[n_flagged++], sizeof(flagged[0]), key);
}

static bool from_file(const char *key)
{
        for (unsigned i = 0; i < n_flagged; i++)
                if (strcmp(flagged[i], key) == 0)
                        return false;
        return true;
}
static unsigned version = 1;
/* Copies of the strings hub.opt points at, one slot per key. */
enum keep_slot {
        KEEP_LISTEN,
        KEEP_AUTH,
        KEEP_TOKEN_FILE,
        KEEP_JWT_SECRET_FILE,
        KEEP_RING_NAME,
        KEEP_TLS_CERT,
        KEEP_TLS_KEY,
        KEEP_JWT_AUDIENCE,
        KEEP_JWT_ISSUER,
        KEEP_STATE_DIR,
        KEEP_ALARMS_FILE,
        KEEP_CORS_ORIGIN,
        KEEP_N
};
static char *owned[KEEP_N];

struct reload_hook {
        void (*fn)(void *userdata);
        void *userdata;
};
static struct reload_hook hooks[8];
static unsigned n_hooks;

int hubconf_add_reload_hook(void (*fn)(void *userdata), void *userdata)
{
        if (n_hooks >= ELEMENTSOF(hooks))
                return -ENOSPC;
        hooks[n_hooks++] = (struct reload_hook){ .fn = fn, .userdata = userdata };
        return 0;
}

static const char *keep(enum keep_slot slot, const char *s)
{
        free(owned[slot]);
        owned[slot] = s ? strdup(s) : NULL;
        return owned[slot];
}

static int log_level_of(const char *s)
{
        if (!s)
                return LOG_INFO;
        if (!strcmp(s, "debug"))
                return LOG_DEBUG;
        if (!strcmp(s, "notice"))
                return LOG_NOTICE;
        if (!strcmp(s, "warning"))
                return LOG_WARNING;
        if (!strcmp(s, "error"))
                return LOG_ERR;
        return LOG_INFO;
}

static unsigned secs_of_ms(uint64_t ms)
{
        return (unsigned)MAX((uint64_t)1, (ms + 999) / 1000);
}

/* [hub] state_dir, else the directory systemd made for the service (StateDirectory=,
 * passed as $STATE_DIRECTORY, the first of a colon-separated list), else none: a hub
 * started by hand or by a test writes nothing under /var/lib. */
static const char *state_dir(void)
{
        const char *v = conf_get_string(cfg, "hub", "state_dir");
        if (v && *v)
                return keep(KEEP_STATE_DIR, v);
        const char *env = getenv("STATE_DIRECTORY");
        if (!env || env[0] != '/')
                return NULL;
        char first[4096];
        snprintf(first, sizeof(first), "%.*s", (int)strcspn(env, ":"), env);
        return keep(KEEP_STATE_DIR, first);
}

/* Apply every [hub] key (reloadable or not: at start all apply). */
static void apply(struct hub_options *o, bool at_start)
{
        if (at_start) {
                /* Without a config file the hub listens on loopback only; a file that says
                 * where to listen (the shipped one: every interface) is followed. */
                if (conf_is_set(cfg, "hub", "listen") && from_file("listen"))
                        o->listen = keep(KEEP_LISTEN, conf_get_string(cfg, "hub", "listen"));
                if (from_file("head_timeout"))
                        o->head_timeout_ms = (unsigned)conf_get_uint(cfg, "hub", "head_timeout");
                if (from_file("cors_origin"))
                        o->cors_origin =
                            keep(KEEP_CORS_ORIGIN, conf_get_string(cfg, "hub", "cors_origin"));
                if (from_file("state_dir"))
                        o->state_dir = state_dir();
                if (from_file("alarms_file"))
                        o->alarms_file =
                            keep(KEEP_ALARMS_FILE, conf_get_string(cfg, "hub", "alarms_file"));
                o->history_alarms = (unsigned)conf_get_uint(cfg, "history", "last_alarms");
                o->history_events = (unsigned)conf_get_uint(cfg, "history", "last_events");
                o->history_logs = (unsigned)conf_get_uint(cfg, "history", "last_logs");
        }
#define SET(key, field, expr)              \
        do {                               \
                if (from_file(key))        \
                        o->field = (expr); \
        } while (0)
        /* The gate and rest.c enforce these per connection: a reload applies them. */
        SET("max_pending", max_pending, (unsigned)conf_get_uint(cfg, "hub", "max_pending"));
        SET("http_connections", http_connections,
            (unsigned)conf_get_uint(cfg, "hub", "http_connections"));
        SET("max_pending_per_address", max_pending_per_address,
            (unsigned)conf_get_uint(cfg, "hub", "max_pending_per_address"));
        SET("http_connections_per_address", http_connections_per_address,
            (unsigned)conf_get_uint(cfg, "hub", "http_connections_per_address"));
        SET("max_clients", max_clients, (unsigned)conf_get_uint(cfg, "hub", "max_clients"));
        SET("max_message", max_message, (unsigned)conf_get_uint(cfg, "hub", "max_message"));
        SET("ping_interval", ping_secs, secs_of_ms(conf_get_uint(cfg, "hub", "ping_interval")));
        SET("read_deadline", read_timeout_secs,
            secs_of_ms(conf_get_uint(cfg, "hub", "read_deadline")));
        SET("queue", queue_len, (unsigned)conf_get_uint(cfg, "hub", "queue"));
        SET("slow_timeout", slow_timeout_ms, (unsigned)conf_get_uint(cfg, "hub", "slow_timeout"));
        SET("coalesce", coalesce_us, (unsigned)conf_get_uint(cfg, "hub", "coalesce") * 1000u);
        SET("rate_limit", rate_limit, (unsigned)conf_get_uint(cfg, "hub", "rate_limit"));
        SET("rest_rate", rest_rate, (unsigned)conf_get_uint(cfg, "hub", "rest_rate"));
        SET("rest_burst", rest_burst, (unsigned)conf_get_uint(cfg, "hub", "rest_burst"));
        SET("diagnostics_interval", diag_interval_ms,
            (unsigned)conf_get_uint(cfg, "hub", "diagnostics_interval"));
        SET("auth", auth, keep(KEEP_AUTH, conf_get_string(cfg, "hub", "auth")));
        if (from_file("control"))
                atomic_store(&o->control, conf_get_bool(cfg, "hub", "control"));
        /* Key files only when the file names them: a missing default file is no error. */
        SET("token_file", token_file,
            conf_is_set(cfg, "hub", "token_file")
                ? keep(KEEP_TOKEN_FILE, conf_get_string(cfg, "hub", "token_file"))
                : NULL);
        SET("jwt_secret_file", jwt_secret_file,
            conf_is_set(cfg, "hub", "jwt_secret_file")
                ? keep(KEEP_JWT_SECRET_FILE, conf_get_string(cfg, "hub", "jwt_secret_file"))
                : NULL);
        SET("tls_cert", tls_cert, keep(KEEP_TLS_CERT, conf_get_string(cfg, "hub", "tls_cert")));
        SET("tls_key", tls_key, keep(KEEP_TLS_KEY, conf_get_string(cfg, "hub", "tls_key")));
        SET("tls_only", tls_only, conf_get_bool(cfg, "hub", "tls_only"));
        if (o->tls_cert && !*o->tls_cert)
                o->tls_cert = NULL;
        if (o->tls_key && !*o->tls_key)
                o->tls_key = NULL;
        SET("jwt_max_lifetime", jwt_max_lifetime_s,
            conf_get_uint(cfg, "hub", "jwt_max_lifetime") / 1000);
        SET("jwt_audience", jwt_audience,
            keep(KEEP_JWT_AUDIENCE, conf_get_string(cfg, "hub", "jwt_audience")));
        SET("jwt_issuer", jwt_issuer,
            keep(KEEP_JWT_ISSUER, conf_get_string(cfg, "hub", "jwt_issuer")));
        if (o->token_file && !*o->token_file)
                o->token_file = NULL;
        if (o->jwt_secret_file && !*o->jwt_secret_file)
                o->jwt_secret_file = NULL;
#undef SET
        if (o->ping_secs >= o->read_timeout_secs)
                o->ping_secs = MAX(1u, o->read_timeout_secs / 2);
        log_set_max_level(log_level_of(conf_get_string(cfg, "log", "level")));
}

int hubconf_load(int argc, char **argv)
{
        int r = conf_load_from_args(argc, argv, &cfg);
        if (r < 0)
                return -EINVAL;
        apply(&hub.opt, true);
        if (conf_source(cfg))
                log_debug("configuration from %s", conf_source(cfg));
        return 0;
}

const char *hubconf_ring_name(void)
{
        return keep(KEEP_RING_NAME, conf_get_string(cfg, "ring", "name"));
}

void hubconf_ring_opts(struct ring_open_opts *ro)
{
        ro->capacity = (uint32_t)conf_get_uint(cfg, "ring", "capacity");
        ro->mode = (mode_t)conf_get_uint(cfg, "ring", "mode");
        ro->gid = conf_is_set(cfg, "ring", "group") ? conf_ring_gid(cfg) : (gid_t)-1;
}

struct diff_ctx {
        json_object *changes;
        unsigned applied, restart;
};

static void on_change(const struct conf_key *k, const char *old_value, const char *new_value,
                      void *userdata)
{
        struct diff_ctx *d = userdata;
        bool ours = !strcmp(k->section, "hub") || !strcmp(k->section, "log") ||
                    !strcmp(k->section, "ring") || !strcmp(k->section, "history");
        /* A collector's section is applied by that collector (it gets its own SIGHUP). */
        bool applied = ours && k->reload;
        char key[96];
        snprintf(key, sizeof(key), "%s.%s", k->section, k->key);
        json_object *c = json_object_new_object();
        json_object_object_add(c, "old", old_value ? json_object_new_string(old_value) : NULL);
        json_object_object_add(c, "new", new_value ? json_object_new_string(new_value) : NULL);
        json_object_object_add(c, "applied", json_object_new_boolean(applied));
        if (ours && !k->reload)
                json_object_object_add(c, "needs_restart", json_object_new_boolean(1));
        json_object_object_add(d->changes, key, c);
        if (!ours)
                return;
        if (applied) {
                d->applied++;
                log_info("config: %s = %s (was %s), applied", key, new_value ? new_value : "",
                         old_value ? old_value : "");
        } else {
                d->restart++;
                log_notice("config: %s = %s (was %s) takes effect after a restart", key,
                           new_value ? new_value : "", old_value ? old_value : "");
        }
}

/* What the reload being applied did, for the hooks (hubconf_reload_summary()). */
static char summary[160];

const char *hubconf_reload_summary(void)
{
        return summary;
}

void hubconf_reload(void)
{
        struct conf *old = NULL;
        struct diff_ctx d = { .changes = json_object_new_object() };
        const char *status;

        if (conf_reload(&cfg, &old) < 0) {
                log_warning("configuration not reloaded (errors above); keeping the running one");
                status = "rejected";
                snprintf(summary, sizeof(summary),
                         "not reloaded: the file has errors; the running configuration stays");
        } else {
                conf_diff(old, cfg, on_change, &d);
                conf_free(old);
                apply(&hub.opt, false);
                status = d.restart ? "partially_applied" : "applied";
                version++;
                snprintf(summary, sizeof(summary),
                         "reloaded from %s: %u change(s) applied, %u need a restart",
                         conf_source(cfg) ? conf_source(cfg) : "defaults", d.applied, d.restart);
                log_info("configuration %s", summary);
        }
        /* Files of their own (tokens, the JWT secret) are re-read by their modules. */
        for (unsigned i = 0; i < n_hooks; i++)
                hooks[i].fn(hooks[i].userdata);

        json_object *o = json_object_new_object();
        json_object_object_add(
            o, "config_id",
            json_object_new_string(conf_source(cfg) ? conf_source(cfg) : "defaults"));
        json_object_object_add(o, "version", json_object_new_int64(version));
        json_object_object_add(o, "updated_by", json_object_new_string("SIGHUP"));
        json_object_object_add(o, "changes", d.changes);
        json_object_object_add(o, "status", json_object_new_string(status));
        (void)events_publish_json(HUB_T_CONFIG, false, o, 0);
        json_object_put(o);
}

void hubconf_free(void)
{
        cfg = conf_free(cfg);
        for (size_t i = 0; i < ELEMENTSOF(owned); i++) {
                free(owned[i]);
                owned[i] = NULL;
        }
}
