/*
 * rest_unraid.c — the Unraid agent's REST conventions and the routes built per request.
 *
 * Process: ringhub, libmicrohttpd's thread (called by rest.c). The agent's HTTP habits:
 * CORS headers on every answer, a per-client-address token bucket ([hub] rest_rate /
 * rest_burst, 50/s with bursts of 100 as the agent; a bounded table, the least recently
 * seen address gives its place up). Routes whose body is not a cached state body, in
 * the agent's DTO shapes: /collectors/status from the ring's registry, /fans and
 * /temperatures from the system record's sensors, /docker/port-conflicts from the
 * containers' published ports, /diagnostics/self-test and /health/report from the
 * collectors and their source_status records, /network/access-urls from the network
 * interfaces. Where the source is missing the agent's default body goes out with a
 * `source_status` ({subsystem, state, reason, last_checked}) saying why — never a 404.
 * Reads the state under state_lock; touches neither the ring cursor nor lws.
 */
#include "rest_unraid.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "macros.h"
#include "record_json.h"
#include "registry.h"
#include "state.h"
#include "state_agent.h"
#include "util.h"

/* ---- CORS ---- */

void rest_unraid_headers(struct MHD_Response *r)
{
        const char *origin = hub.opt.cors_origin;
        if (!r || !origin || !*origin)
                return;
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Access-Control-Allow-Methods",
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization");
}

/* ---- the per-address rate limit ---- */

#define LIMIT_BUCKETS 256
#define LIMIT_WAYS    4

struct limit_ent {
        char addr[INET6_ADDRSTRLEN];
        double tokens;
        uint64_t last_ns;
};

static struct limit_ent limits[LIMIT_BUCKETS][LIMIT_WAYS];
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

static void client_addr(struct MHD_Connection *conn, char *buf, size_t size)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        *buf = 0;
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
                          (socklen_t)size);
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
                          (socklen_t)size);
        else
                snprintf(buf, size, "local");
}

bool rest_unraid_limited(struct MHD_Connection *conn)
{
        unsigned rate = hub.opt.rest_rate, burst = MAX(hub.opt.rest_burst, 1u);
        if (rate == 0)
                return false;
        char addr[INET6_ADDRSTRLEN];
        client_addr(conn, addr, sizeof(addr));
        uint32_t h = 2166136261u;
        for (const char *p = addr; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
        uint64_t now = mono_ns();
        pthread_mutex_lock(&limit_lock);
        struct limit_ent *set = limits[h % LIMIT_BUCKETS], *e = NULL, *oldest = &set[0];
        for (unsigned i = 0; i < LIMIT_WAYS && !e; i++) {
                if (strcmp(set[i].addr, addr) == 0 && set[i].last_ns)
                        e = &set[i];
                else if (set[i].last_ns < oldest->last_ns)
                        oldest = &set[i];
        }
        if (!e) {
                e = oldest;
                strscpy(e->addr, sizeof(e->addr), addr);
                e->tokens = burst;
        } else
                e->tokens = MIN((double)burst, e->tokens + (double)(now - e->last_ns) / 1e9 * rate);
        e->last_ns = now;
        bool over = e->tokens < 1.0;
        if (!over)
                e->tokens -= 1.0;
        pthread_mutex_unlock(&limit_lock);
        return over;
}

/* ---- helpers ---- */

static json_object *time_now(void)
{
        char buf[64];
        format_rfc3339_ns(buf, sizeof(buf), real_ns(), false);
        return json_object_new_string(buf);
}

/* The agent's SourceStatus: {subsystem, state, reason?, last_checked, last_error?}. */
static json_object *source_status(const char *subsystem, const char *state, const char *reason)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "subsystem", json_object_new_string(subsystem));
        json_object_object_add(o, "state", json_object_new_string(state));
        if (reason && *reason)
                json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "last_checked", time_now());
        if (reason && *reason && strcmp(state, "healthy") != 0)
                json_object_object_add(o, "last_error", json_object_new_string(reason));
        return o;
}

static json_object *not_reported(const char *collector)
{
        char why[128];
        snprintf(why, sizeof(why), "no %s collector has reported (not running on this host)",
                 collector);
        return source_status(collector, "unavailable", why);
}

/* The single entity of a SINGLE topic as JSON, or NULL. Caller holds state_lock. */
static json_object *single_json(unsigned type)
{
        struct state_topic *t = state_topic(type);
        if (!t || !t->seen || t->n == 0)
                return NULL;
        return state_entity_json(t->d, t->ents[0]);
}

json_object *rest_unraid_default(unsigned type, const char *collector)
{
        const struct record_desc *d = schema_record(type);
        if (!d)
                return NULL;
        /* The state's default entity (every seed field typed, empty child lists). */
        pthread_mutex_lock(&state_lock);
        struct state_topic *t = state_topic(type);
        json_object *o = t && t->n ? state_entity_json(d, t->ents[0]) : NULL;
        pthread_mutex_unlock(&state_lock);
        if (!o) {
                uint8_t payload[SCHEMA_PAYLOAD_MAX];
                record_init_missing(type, payload);
                o = record_json_new(type, payload, STATE_RJ_FLAGS);
                if (!o)
                        return NULL;
                state_agent_fields(type, o);
                json_object_object_add(o, "timestamp", time_now());
        }
        json_object_object_add(o, "source_status", not_reported(collector));
        return o;
}

/* ---- /collectors/status ---- */

static json_object *collectors_status(void)
{
        struct registry_entry *ents = calloc(RING_MAX_PRODUCERS, sizeof(*ents));
        if (!ents)
                return NULL;
        size_t n = registry_snapshot(hub.ring, ents, RING_MAX_PRODUCERS);
        uint64_t now = real_ns();
        json_object *o = json_object_new_object(), *a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                const struct registry_entry *e = &ents[i];
                json_object *c = registry_entry_json(e, now);
                bool running = e->state == REGISTRY_RUNNING || e->state == REGISTRY_STALE;
                char err[64] = "";
                if (e->state == REGISTRY_STALE)
                        snprintf(err, sizeof(err), "no heartbeat");
                else if (e->state == REGISTRY_DEAD)
                        snprintf(err, sizeof(err), "process died");
                else if (e->state == REGISTRY_EXITED && e->exit_code)
                        snprintf(err, sizeof(err), "exited with code %u", e->exit_code);
                json_object_object_add(c, "enabled", json_object_new_boolean(1));
                json_object_object_add(c, "status",
                                       json_object_new_string(running ? "running" : "stopped"));
                json_object_object_add(c, "interval", json_object_new_int64(e->interval_ms / 1000));
                json_object_object_add(c, "interval_seconds",
                                       json_object_new_int64(e->interval_ms / 1000));
                json_object_object_add(c, "error_count", json_object_new_int(*err ? 1 : 0));
                json_object_object_add(c, "required", json_object_new_boolean(0));
                if (e->heartbeat_ns) {
                        char buf[64];
                        format_rfc3339_ns(buf, sizeof(buf), e->heartbeat_ns, false);
                        json_object_object_add(c, "last_run", json_object_new_string(buf));
                }
                if (*err)
                        json_object_object_add(c, "error", json_object_new_string(err));
                json_object_array_add(a, c);
        }
        free(ents);
        json_object_object_add(o, "collectors", a);
        json_object_object_add(o, "total", json_object_new_int64((int64_t)n));
        json_object_object_add(o, "enabled_count", json_object_new_int64((int64_t)n));
        json_object_object_add(o, "disabled_count", json_object_new_int(0));
        json_object_object_add(o, "timestamp", time_now());
        return o;
}

/* ---- /fans, /temperatures ---- */

/* A copy of the system entity's list under key ([] without one). Caller holds state_lock. */
static json_object *system_list(json_object *sys, const char *key)
{
        json_object *v;
        if (sys && json_object_object_get_ex(sys, key, &v) &&
            json_object_is_type(v, json_type_array))
                return json_object_get(v);
        return json_object_new_array();
}

static json_object *fans(json_object *sys)
{
        json_object *o = json_object_new_object(), *in = system_list(sys, "fans");
        json_object *a = json_object_new_array();
        size_t n = json_object_array_length(in);
        for (size_t i = 0; i < n; i++) {
                json_object *f = json_object_array_get_idx(in, i), *v;
                json_object *d = json_object_new_object();
                char id[32];
                snprintf(id, sizeof(id), "fan%zu", i + 1);
                json_object_object_add(d, "id", json_object_new_string(id));
                json_object_object_add(d, "name",
                                       json_object_object_get_ex(f, "name", &v)
                                           ? json_object_get(v)
                                           : json_object_new_string(""));
                json_object_object_add(d, "rpm",
                                       json_object_new_int64(json_object_object_get_ex(f, "rpm", &v)
                                                                 ? json_object_get_int64(v)
                                                                 : 0));
                json_object_object_add(d, "pwm_value", json_object_new_int(0));
                json_object_object_add(d, "pwm_percent", json_object_new_int(0));
                json_object_object_add(d, "mode", json_object_new_string("automatic"));
                json_object_object_add(d, "controllable", json_object_new_boolean(0));
                json_object_array_add(a, d);
        }
        json_object_put(in);
        json_object *cfg = json_object_new_object(), *safety = json_object_new_object();
        json_object_object_add(safety, "min_speed_percent", json_object_new_int(0));
        json_object_object_add(safety, "critical_temp_celsius", json_double(0));
        json_object_object_add(safety, "failure_rpm_threshold", json_object_new_int(0));
        json_object_object_add(cfg, "enabled", json_object_new_boolean(sys != NULL));
        json_object_object_add(cfg, "control_enabled", json_object_new_boolean(0));
        json_object_object_add(cfg, "control_method", json_object_new_string("hwmon"));
        json_object_object_add(cfg, "poll_interval_seconds", json_object_new_int(5));
        json_object_object_add(cfg, "safety", safety);
        json_object *sum = json_object_new_object();
        json_object_object_add(sum, "total_fans", json_object_new_int64((int64_t)n));
        json_object_object_add(sum, "controllable_fans", json_object_new_int(0));
        json_object_object_add(o, "fans", a);
        json_object_object_add(o, "profiles", json_object_new_array());
        json_object_object_add(o, "config", cfg);
        json_object_object_add(o, "summary", sum);
        json_object_object_add(o, "timestamp", time_now());
        if (!sys)
                json_object_object_add(o, "source_status", not_reported("system"));
        return o;
}

/* ---- /docker/port-conflicts ---- */

/* Whether container e publishes host port (port, proto). */
static bool binds(const struct state_entity *e, int slot, const struct rec_container_port *want)
{
        const struct state_kids *k = &e->kids[slot];
        const struct rec_container_port *ports = (const void *)k->p;
        for (uint32_t i = 0; i < k->n; i++)
                if (ports[i].host_port == want->host_port &&
                    strcmp(ports[i].protocol, want->protocol) == 0)
                        return true;
        return false;
}

static const char *container_name(const struct state_entity *e)
{
        return ((const struct rec_container *)e->payload)->name;
}

/*
 * [{host_port, protocol, containers[]}] for each host port published by more than one
 * container, listed once (at its first container, in the state's order).
 */
static json_object *port_conflicts(void)
{
        json_object *a = json_object_new_array();
        struct state_topic *t = state_topic(RT_container);
        int slot = state_kid_slot(RT_container, RT_container_port);
        if (!t || slot < 0)
                return a;
        for (size_t i = 0; i < t->n; i++) {
                const struct state_kids *k = &t->ents[i]->kids[slot];
                const struct rec_container_port *ports = (const void *)k->p;
                for (uint32_t p = 0; p < k->n; p++) {
                        const struct rec_container_port *pp = &ports[p];
                        bool seen = pp->host_port == 0 || pp->host_port == MISSING_U32;
                        /* Once per port: not listed at an earlier container, nor twice
                         * for one container's IPv4 and IPv6 bindings. */
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = binds(t->ents[j], slot, pp);
                        for (uint32_t q = 0; q < p && !seen; q++)
                                seen = ports[q].host_port == pp->host_port &&
                                       strcmp(ports[q].protocol, pp->protocol) == 0;
                        json_object *names = NULL;
                        for (size_t j = i + 1; j < t->n && !seen; j++) {
                                if (!binds(t->ents[j], slot, pp))
                                        continue;
                                if (!names) {
                                        names = json_object_new_array();
                                        json_object_array_add(
                                            names,
                                            json_object_new_string(container_name(t->ents[i])));
                                }
                                json_object_array_add(
                                    names, json_object_new_string(container_name(t->ents[j])));
                        }
                        if (!names)
                                continue;
                        json_object *c = json_object_new_object();
                        json_object_object_add(c, "host_port",
                                               json_object_new_int64(pp->host_port));
                        json_object_object_add(
                            c, "protocol",
                            json_object_new_string(*pp->protocol ? pp->protocol : "tcp"));
                        json_object_object_add(c, "containers", names);
                        json_object_array_add(a, c);
                }
        }
        return a;
}

/* ---- /diagnostics/self-test, /health/report ---- */

static const char *source_state(const char *status)
{
        return !strcmp(status, "up")       ? "healthy"
               : !strcmp(status, "absent") ? "disabled"
                                           : "unavailable";
}

/* Every source_status record as the agent's SourceStatus. Caller holds state_lock. */
static json_object *subsystems(void)
{
        json_object *a = json_object_new_array();
        struct state_topic *t = state_topic(RT_source_status);
        for (size_t i = 0; t && i < t->n; i++) {
                const struct rec_source_status *s = (const void *)t->ents[i]->payload;
                char name[128];
                snprintf(name, sizeof(name), "%s:%s", s->collector, s->source);
                json_object *o = source_status(name, source_state(s->status),
                                               strcmp(s->status, "up") ? s->message : NULL);
                char buf[64];
                if (t->ents[i]->ts_ns &&
                    format_rfc3339_ns(buf, sizeof(buf), t->ents[i]->ts_ns, false))
                        json_object_object_add(o, "last_checked", json_object_new_string(buf));
                json_object_array_add(a, o);
        }
        return a;
}

static const char *overall(json_object *subs)
{
        const char *worst = "healthy";
        for (size_t i = 0; i < json_object_array_length(subs); i++) {
                json_object *st;
                json_object_object_get_ex(json_object_array_get_idx(subs, i), "state", &st);
                if (!strcmp(json_object_get_string(st), "unavailable"))
                        worst = "degraded";
        }
        return worst;
}

/* The OS version when the host is Unraid (the array is Unraid's), else "". */
static json_object *unraid_version(json_object *sys)
{
        json_object *arr = single_json(RT_array), *k, *v;
        bool unraid = arr && json_object_object_get_ex(arr, "kind", &k) &&
                      !strcmp(json_object_get_string(k), "unraid");
        json_object_put(arr);
        return json_object_new_string(unraid && sys && json_object_object_get_ex(sys, "version", &v)
                                          ? json_object_get_string(v)
                                          : "");
}

static json_object *self_test(json_object *sys, json_object *subs)
{
        json_object *o = json_object_new_object(), *caps = json_object_new_object();
        json_object *items = json_object_new_array();
        struct registry_entry *ents = calloc(RING_MAX_PRODUCERS, sizeof(*ents));
        size_t n = ents ? registry_snapshot(hub.ring, ents, RING_MAX_PRODUCERS) : 0;
        for (size_t i = 0; i < n; i++) {
                json_object *c = json_object_new_object();
                json_object_object_add(c, "name", json_object_new_string(ents[i].name));
                json_object_object_add(c, "available", json_object_new_boolean(ents[i].alive));
                json_object_array_add(items, c);
        }
        free(ents);
        json_object_object_add(o, "unraid_version", unraid_version(sys));
        json_object_object_add(o, "overall_state", json_object_new_string(overall(subs)));
        json_object_object_add(caps, "unraid_version", unraid_version(sys));
        json_object_object_add(caps, "items", items);
        json_object_object_add(o, "capabilities", caps);
        json_object_object_add(o, "subsystems", json_object_get(subs));
        json_object_object_add(o, "timestamp", time_now());
        return o;
}

static void finding(json_object *a, const char *severity, const char *title, const char *detail)
{
        json_object *f = json_object_new_object();
        json_object_object_add(f, "severity", json_object_new_string(severity));
        json_object_object_add(f, "title", json_object_new_string(title));
        json_object_object_add(f, "detail", json_object_new_string(detail));
        json_object_array_add(a, f);
}

static json_object *health_report(json_object *subs)
{
        json_object *o = json_object_new_object(), *fs = json_object_new_array();
        json_object *degraded = json_object_new_array();
        unsigned crit = 0, warn = 0;
        struct registry_entry *ents = calloc(RING_MAX_PRODUCERS, sizeof(*ents));
        size_t n = ents ? registry_snapshot(hub.ring, ents, RING_MAX_PRODUCERS) : 0;
        char title[160], detail[256];
        for (size_t i = 0; i < n; i++) {
                if (ents[i].state == REGISTRY_RUNNING || ents[i].state == REGISTRY_EXITED)
                        continue;
                snprintf(title, sizeof(title), "Collector %s is %s", ents[i].name,
                         registry_state_name(ents[i].state));
                snprintf(detail, sizeof(detail), "pid %u, generation %u", ents[i].pid,
                         ents[i].generation);
                finding(fs, "critical", title, detail);
                crit++;
        }
        free(ents);
        for (size_t i = 0; i < json_object_array_length(subs); i++) {
                json_object *s = json_object_array_get_idx(subs, i), *st, *sub, *why;
                json_object_object_get_ex(s, "state", &st);
                if (strcmp(json_object_get_string(st), "unavailable") != 0)
                        continue;
                json_object_object_get_ex(s, "subsystem", &sub);
                snprintf(title, sizeof(title), "Source unavailable: %s",
                         json_object_get_string(sub));
                finding(fs, "warning", title,
                        json_object_object_get_ex(s, "reason", &why) ? json_object_get_string(why)
                                                                     : "");
                json_object_array_add(degraded, json_object_get(s));
                warn++;
        }
        json_object_object_add(o, "findings", fs);
        json_object_object_add(o, "critical_count", json_object_new_int((int)crit));
        json_object_object_add(o, "warning_count", json_object_new_int((int)warn));
        json_object_object_add(o, "info_count", json_object_new_int(0));
        json_object_object_add(o, "generated_at", time_now());
        if (warn) {
                json_object *d = json_object_new_object();
                json_object_object_add(d, "count", json_object_new_int((int)warn));
                json_object_object_add(d, "items", degraded);
                json_object_object_add(o, "degraded_subsystems", d);
        } else
                json_object_put(degraded);
        return o;
}

/* ---- /network/access-urls ---- */

static json_object *access_urls(void)
{
        json_object *o = json_object_new_object(), *a = json_object_new_array();
        struct state_topic *t = state_topic(RT_netif);
        for (size_t i = 0; t && i < t->n; i++) {
                const struct rec_netif *n = (const void *)t->ents[i]->payload;
                if (!*n->ip_address || !strcmp(n->kind, "loopback") ||
                    startswith(n->ip_address, "127."))
                        continue;
                json_object *u = json_object_new_object();
                json_object_object_add(u, "type", json_object_new_string("lan"));
                json_object_object_add(u, "name", json_object_new_string(n->name));
                json_object_object_add(u, "ipv4", json_object_new_string(n->ip_address));
                json_object_array_add(a, u);
        }
        json_object_object_add(o, "urls", a);
        json_object_object_add(o, "timestamp", time_now());
        if (!t || !t->seen)
                json_object_object_add(o, "source_status", not_reported("network"));
        return o;
}

/* ---- the routes ---- */

json_object *rest_unraid_get(const char *sub)
{
        if (strcmp(sub, "collectors/status") == 0)
                return collectors_status();
        static const char *const routes[] = { "fans",
                                              "temperatures",
                                              "docker/port-conflicts",
                                              "diagnostics/self-test",
                                              "health/report",
                                              "network/access-urls" };
        size_t r = 0;
        while (r < ELEMENTSOF(routes) && strcmp(sub, routes[r]) != 0)
                r++;
        if (r == ELEMENTSOF(routes))
                return NULL;
        json_object *o = NULL;
        pthread_mutex_lock(&state_lock);
        json_object *sys = single_json(RT_system);
        json_object *subs = r == 3 || r == 4 ? subsystems() : NULL;
        switch (r) {
        case 0:
                o = fans(sys);
                break;
        case 1:
                o = system_list(sys, "temperatures");
                break;
        case 2:
                o = port_conflicts();
                break;
        case 3:
                o = self_test(sys, subs);
                break;
        case 4:
                o = health_report(subs);
                break;
        default:
                o = access_urls();
                break;
        }
        pthread_mutex_unlock(&state_lock);
        json_object_put(subs);
        json_object_put(sys);
        return o;
}
