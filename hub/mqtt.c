/*
 * mqtt.c — the MQTT bridge: [mqtt] settings, the broker connection on its own thread,
 * publishing from the outbox, discovery bookkeeping (see mqtt.h).
 *
 * The thread owns the libmosquitto handle; nothing else touches it. Its loop: wait in
 * poll() on the outbox's eventfd and the broker socket; read, write and keep alive with
 * mosquitto_loop_read/write/misc; while connected, move messages from the outbox to the
 * library only while the socket takes them (mosquitto_want_write() false) and fewer than
 * MAX_INFLIGHT wait for the broker, so the library never holds more than a socket's worth.
 * Connection failures retry with a doubling back-off (1 s … 10 s), logged on change.
 * Settings change only on this thread, from what the reload hook (lws thread) leaves
 * under m.lock.
 */
#include "mqtt.h"

#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"
#include "events.h"
#include "hub.h"
#include "hubconf.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "mqtt_cmd.h"
#include "mqtt_disco.h"
#include "mqtt_queue.h"
#include "registry.h"
#include "util.h"

#define MAX_INFLIGHT       512 /* messages handed to the library, not yet written/acked */
#define BACKOFF_MIN_MS     1000u
#define BACKOFF_MAX_MS     10000u
#define CONNECT_TIMEOUT_MS 10000u
#define MAX_ITEMS          50000u /* state topics kept */

struct settings {
        bool enabled, tls, insecure, discovery;
        char host[256];
        int port, protocol, state_qos, event_qos;
        unsigned keepalive;
        char client_id[80], username[128], password[256];
        char ca_file[PATH_MAX], cert_file[PATH_MAX], key_file[PATH_MAX];
        char base[192], node[192], prefix[96];
        enum auth_role role;
        size_t buffer;
};

static struct {
        pthread_mutex_t lock;
        struct settings pending;
        bool changed, rediscover, stop, running;
        pthread_t thread;
        struct conf *cfg;
        const char *path;
        bool path_explicit, keys_changed;
        char hostname[65];
} m = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The bridge thread's own state. */
struct link {
        struct settings s;
        struct mosquitto *mosq;
        bool connected, closing;
        uint64_t next_try, attempt_at, failed_at, backoff;
        unsigned inflight;
        uint32_t session;
        uint64_t sessions;
        char problem[200];
};

static uint64_t now_ms(void)
{
        return mono_ns() / NSEC_PER_MSEC;
}

static void state_gauge(unsigned v)
{
        atomic_store_explicit(&hub.stats.mqtt_state, v, memory_order_relaxed);
}

/* Log a problem when it differs from the last one (not every retry). */
_printf_(2, 3) static void problem(struct link *l, const char *fmt, ...)
{
        char buf[sizeof(l->problem)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (strcmp(buf, l->problem) != 0)
                log_warning("mqtt: %s", buf);
        strscpy(l->problem, sizeof(l->problem), buf);
}

/* ---- settings ---------------------------------------------------------------------- */

static int parse_broker(const char *url, struct settings *s)
{
        const char *p = url;
        if (startswith(p, "mqtts://")) {
                s->tls = true;
                p += 8;
        } else if (startswith(p, "mqtt://")) {
                p += 7;
        } else {
                return -EINVAL;
        }
        s->port = s->tls ? 8883 : 1883;
        const char *colon;
        if (*p == '[') {
                const char *e = strchr(p, ']');
                if (!e || (size_t)(e - p - 1) >= sizeof(s->host))
                        return -EINVAL;
                snprintf(s->host, sizeof(s->host), "%.*s", (int)(e - p - 1), p + 1);
                colon = e[1] == ':' ? e + 1 : NULL;
        } else {
                colon = strchr(p, ':');
                size_t n = colon ? (size_t)(colon - p) : strcspn(p, "/");
                if (n == 0 || n >= sizeof(s->host))
                        return -EINVAL;
                snprintf(s->host, sizeof(s->host), "%.*s", (int)n, p);
        }
        if (colon) {
                uint64_t v;
                char port[8];
                snprintf(port, sizeof(port), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
                if (safe_atou64(port, &v) < 0 || v == 0 || v > 65535)
                        return -EINVAL;
                s->port = (int)v;
        }
        return 0;
}

static void settings_from(const struct conf *c, struct settings *s)
{
        *s = (struct settings){ 0 };
        s->enabled = conf_get_bool(c, "mqtt", "enabled");
        if (parse_broker(conf_get_string(c, "mqtt", "broker"), s) < 0) {
                log_error("mqtt: bad broker URL '%s', bridge off",
                          conf_get_string(c, "mqtt", "broker"));
                s->enabled = false;
        }
        s->protocol = strcmp(conf_get_string(c, "mqtt", "protocol"), "5") == 0 ? MQTT_PROTOCOL_V5
                                                                               : MQTT_PROTOCOL_V311;
        s->keepalive = (unsigned)(conf_get_uint(c, "mqtt", "keepalive") / 1000);
        const char *v = conf_get_string(c, "mqtt", "client_id");
        if (v && *v)
                strscpy(s->client_id, sizeof(s->client_id), v);
        else
                snprintf(s->client_id, sizeof(s->client_id), "ringhub-%s", m.hostname);
        strscpy(s->username, sizeof(s->username), conf_get_string(c, "mqtt", "username"));
        v = conf_get_string(c, "mqtt", "password_file");
        if (v && *v) {
                ssize_t n = read_file_bounded(v, s->password, sizeof(s->password));
                if (n < 0)
                        log_error_errno((int)n, "mqtt: cannot read password_file %s: %m", v);
                s->password[strcspn(s->password, "\r\n")] = 0;
        }
        strscpy(s->ca_file, sizeof(s->ca_file), conf_get_string(c, "mqtt", "ca_file"));
        strscpy(s->cert_file, sizeof(s->cert_file), conf_get_string(c, "mqtt", "cert_file"));
        strscpy(s->key_file, sizeof(s->key_file), conf_get_string(c, "mqtt", "key_file"));
        s->insecure = conf_get_bool(c, "mqtt", "tls_insecure");
        v = conf_get_string(c, "mqtt", "base_topic");
        if (v && *v && (strpbrk(v, "+#") || v[strlen(v) - 1] == '/' || v[0] == '/')) {
                log_error("mqtt: base_topic '%s' has a wildcard or an empty level, using the "
                          "default",
                          v);
                v = NULL;
        }
        if (v && *v)
                strscpy(s->base, sizeof(s->base), v);
        else
                snprintf(s->base, sizeof(s->base), "ringhub/%s", m.hostname);
        mqtt_disco_id(s->node, sizeof(s->node), s->base);
        strscpy(s->prefix, sizeof(s->prefix), conf_get_string(c, "mqtt", "discovery_prefix"));
        s->discovery = conf_get_bool(c, "mqtt", "discovery");
        s->role = auth_role_from_name(conf_get_string(c, "mqtt", "role"));
        if (s->role == AUTH_ROLE_NONE)
                s->role = AUTH_ROLE_VIEWER;
        s->state_qos = (int)conf_get_uint(c, "mqtt", "state_qos");
        s->event_qos = (int)conf_get_uint(c, "mqtt", "event_qos");
        s->buffer = (size_t)conf_get_uint(c, "mqtt", "buffer");
}

/* ---- publishing -------------------------------------------------------------------- */

static bool publish(struct link *l, const char *topic, const void *p, size_t len, int qos,
                    bool retain)
{
        int rc = mosquitto_publish(l->mosq, NULL, topic, (int)len, p, qos, retain);
        if (rc == MOSQ_ERR_SUCCESS) {
                l->inflight++;
                return true;
        }
        if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET ||
            rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_INVAL) {
                /* This message can never go: dropped, not retried. */
                log_warning("mqtt: cannot publish %zu bytes to %s: %s, dropped", len, topic,
                            mosquitto_strerror(rc));
                atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, 1, memory_order_relaxed);
                return true;
        }
        return false;
}

static bool publish_rel(struct link *l, const char *rel, const void *p, size_t len, int qos,
                        bool retain)
{
        char topic[512];
        snprintf(topic, sizeof(topic), "%s/%s", l->s.base, rel);
        return publish(l, topic, p, len, qos, retain);
}

struct announce {
        struct link *l;
        char **topics;
        size_t n, cap;
};

static void announce_emit(const char *topic, const char *payload, size_t len, void *userdata)
{
        struct announce *a = userdata;
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 16;
                char **t = realloc(a->topics, cap * sizeof(*t));
                if (!t)
                        return;
                a->topics = t;
                a->cap = cap;
        }
        char *t = strdup(topic);
        if (!t)
                return;
        a->topics[a->n++] = t;
        (void)publish(a->l, topic, payload, len, 1, true);
}

/* Discovery for one item: publish its configs, clear the ones it no longer has. */
static void announce(struct link *l, struct mqtt_item *it, struct hub_body *payload)
{
        if (!l->s.discovery && !it->n_cfg) {
                it->announced = l->session;
                return;
        }
        struct announce a = { .l = l };
        if (l->s.discovery) {
                struct json_tokener *tok = json_tokener_new();
                json_object *ent =
                    tok ? json_tokener_parse_ex(tok, payload->s, (int)payload->len) : NULL;
                if (tok)
                        json_tokener_free(tok);
                bool ctl = l->s.role >= AUTH_ROLE_OPERATOR &&
                           control_allowed(l->s.role, AUTH_ROLE_OPERATOR);
                struct mqtt_disco_ctx c = { .prefix = l->s.prefix,
                                            .node = l->s.node,
                                            .base = l->s.base,
                                            .device_name = m.hostname,
                                            .control = ctl };
                mqtt_disco_entity(&c, it->topic, it->key, it->rel, ent, announce_emit, &a);
                json_object_put(ent);
        }
        for (size_t i = 0; i < it->n_cfg; i++) {
                bool kept = false;
                for (size_t j = 0; j < a.n && !kept; j++)
                        kept = strcmp(it->cfg[i], a.topics[j]) == 0;
                if (!kept)
                        (void)publish(l, it->cfg[i], "", 0, 1, true);
                free(it->cfg[i]);
        }
        free(it->cfg);
        it->cfg = a.topics;
        it->n_cfg = a.n;
        it->announced = l->session;
}

static bool send_state(struct link *l, struct mqtt_out *o)
{
        struct mqtt_item *it = o->item;
        if (!o->payload) {
                /* Gone: clear the retained state and every discovery config it had. */
                if (!publish_rel(l, o->rel, "", 0, l->s.state_qos, true))
                        return false;
                for (size_t i = 0; i < it->n_cfg; i++) {
                        (void)publish(l, it->cfg[i], "", 0, 1, true);
                        free(it->cfg[i]);
                }
                free(it->cfg);
                it->cfg = NULL;
                it->n_cfg = 0;
                return true;
        }
        if (!publish_rel(l, o->rel, o->payload->s, o->payload->len, l->s.state_qos, true))
                return false;
        if (it->announced != l->session)
                announce(l, it, o->payload);
        return true;
}

static void pump(struct link *l)
{
        for (unsigned n = 0; n < 256 && l->connected; n++) {
                if (mosquitto_want_write(l->mosq) || l->inflight >= MAX_INFLIGHT)
                        return;
                struct mqtt_out o;
                if (!mqtt_queue_take(&o))
                        return;
                bool ok = o.item ? send_state(l, &o)
                                 : publish_rel(l, o.rel, o.payload->s, o.payload->len,
                                               l->s.event_qos, false);
                mqtt_queue_put(&o, ok);
                if (!ok)
                        return;
        }
}

/* ---- the connection ---------------------------------------------------------------- */

static void seed_collectors(void)
{
        struct registry_entry *ents = calloc(RING_MAX_PRODUCERS, sizeof(*ents));
        if (!ents || !hub.ring) {
                free(ents);
                return;
        }
        size_t n = registry_snapshot(hub.ring, ents, RING_MAX_PRODUCERS);
        uint64_t now = real_ns();
        for (size_t i = 0; i < n; i++) {
                if (!ents[i].interval_ms) /* ad-hoc writers (ringhubctl inject) */
                        continue;
                json_object *o = registry_entry_json(&ents[i], now);
                size_t len;
                const char *s = o ? jsonfmt_text(o, &len) : NULL;
                if (s)
                        mqtt_queue_state(HUB_T_COLLECTOR, ents[i].name, s, len);
                json_object_put(o);
        }
        free(ents);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
        struct link *l = obj;
        if (rc != 0) {
                problem(l, "broker %s:%d refused the connection: %s", l->s.host, l->s.port,
                        mosquitto_connack_string(rc));
                return;
        }
        char topic[512];
        l->connected = true;
        l->backoff = BACKOFF_MIN_MS;
        l->inflight = 0;
        l->session++;
        if (l->sessions++ > 0)
                atomic_fetch_add_explicit(&hub.stats.mqtt_reconnects, 1, memory_order_relaxed);
        log_info("mqtt: connected to %s:%d%s as %s, base topic %s", l->s.host, l->s.port,
                 l->s.tls ? " (TLS)" : "", l->s.client_id, l->s.base);
        l->problem[0] = 0;
        state_gauge(2);
        snprintf(topic, sizeof(topic), "%s/status", l->s.base);
        (void)publish(l, topic, "online", 6, 1, true);
        snprintf(topic, sizeof(topic), "%s/+/set", l->s.base);
        (void)mosquitto_subscribe(mosq, NULL, topic, 1);
        snprintf(topic, sizeof(topic), "%s/+/+/set", l->s.base);
        (void)mosquitto_subscribe(mosq, NULL, topic, 1);
        mqtt_queue_set_link(true);
        seed_collectors();
        mqtt_queue_resend_all();
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
        struct link *l = obj;
        bool was = l->connected;
        l->connected = false;
        l->inflight = 0;
        mqtt_queue_set_link(false);
        if (l->closing)
                return;
        state_gauge(1);
        if (was)
                problem(l, "connection to %s:%d lost (%s), reconnecting", l->s.host, l->s.port,
                        rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        else if (!*l->problem)
                problem(l, "cannot connect to %s:%d (%s)", l->s.host, l->s.port,
                        rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        l->failed_at = now_ms();
        l->next_try = l->failed_at + l->backoff;
        l->backoff = MIN(l->backoff * 2, (uint64_t)BACKOFF_MAX_MS);
}

/* A handshake that failed inside mosquitto_loop_read/write without a disconnect callback
 * (TLS: a certificate refused): the same as any failed attempt. */
static void check_attempt(struct link *l, int rc)
{
        if (rc == MOSQ_ERR_SUCCESS || l->connected || !l->mosq || mosquitto_socket(l->mosq) >= 0 ||
            l->failed_at >= l->attempt_at)
                return;
        problem(l, "cannot connect to %s:%d (%s)", l->s.host, l->s.port,
                rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        l->failed_at = now_ms();
        l->next_try = l->failed_at + l->backoff;
        l->backoff = MIN(l->backoff * 2, (uint64_t)BACKOFF_MAX_MS);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
        struct link *l = obj;
        if (l->inflight)
                l->inflight--;
        atomic_fetch_add_explicit(&hub.stats.mqtt_sent, 1, memory_order_relaxed);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
        struct link *l = obj;
        size_t bl = strlen(l->s.base), tl = strlen(msg->topic);
        if (msg->retain || msg->payloadlen <= 0 || tl <= bl + 5 ||
            strncmp(msg->topic, l->s.base, bl) != 0 || msg->topic[bl] != '/' ||
            strcmp(msg->topic + tl - 4, "/set") != 0)
                return; /* a retained command is stale by definition: never replayed; an
                         * empty message is how a retained one is cleared */
        char rel[256], origin[128];
        snprintf(rel, sizeof(rel), "%.*s", (int)(tl - bl - 5), msg->topic + bl + 1);
        snprintf(origin, sizeof(origin), "mqtt:%s", l->s.client_id);
        mqtt_cmd_handle(rel, msg->payload, (size_t)MAX(msg->payloadlen, 0), l->s.role, origin);
}

static void link_setup(struct link *l)
{
        char topic[512];
        struct settings *s = &l->s;
        l->mosq = mosquitto_new(s->client_id, true, l);
        if (!l->mosq) {
                problem(l, "cannot create the client: %s", strerror(errno));
                return;
        }
        int rc = mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, s->protocol);
        (void)mosquitto_max_inflight_messages_set(l->mosq, 0); /* bounded by MAX_INFLIGHT */
        snprintf(topic, sizeof(topic), "%s/status", s->base);
        if (!rc)
                rc = mosquitto_will_set(l->mosq, topic, 7, "offline", 1, true);
        if (!rc && (*s->username || *s->password))
                rc = mosquitto_username_pw_set(l->mosq, *s->username ? s->username : NULL,
                                               *s->password ? s->password : NULL);
        if (!rc && s->tls) {
                rc = mosquitto_tls_set(
                    l->mosq, *s->ca_file ? s->ca_file : NULL, *s->ca_file ? NULL : "/etc/ssl/certs",
                    *s->cert_file ? s->cert_file : NULL, *s->key_file ? s->key_file : NULL, NULL);
                if (!rc)
                        rc = mosquitto_tls_insecure_set(l->mosq, s->insecure);
        }
        if (rc) {
                problem(l, "bad client settings (TLS files, protocol): %s", mosquitto_strerror(rc));
                mosquitto_destroy(l->mosq);
                l->mosq = NULL;
                return;
        }
        mosquitto_connect_callback_set(l->mosq, on_connect);
        mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
        mosquitto_publish_callback_set(l->mosq, on_publish);
        mosquitto_message_callback_set(l->mosq, on_message);
        l->backoff = BACKOFF_MIN_MS;
        l->next_try = 0;
        l->closing = false;
        state_gauge(1);
}

static void try_connect(struct link *l)
{
        uint64_t now = now_ms();
        l->attempt_at = now;
        errno = 0;
        int rc = mosquitto_connect_async(l->mosq, l->s.host, l->s.port, (int)l->s.keepalive);
        if (rc == MOSQ_ERR_SUCCESS) {
                /* Not connected before the deadline: the next attempt replaces it. */
                l->next_try = now + CONNECT_TIMEOUT_MS;
                return;
        }
        problem(l, "cannot connect to %s:%d (%s)", l->s.host, l->s.port,
                rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        l->next_try = now + l->backoff;
        l->backoff = MIN(l->backoff * 2, (uint64_t)BACKOFF_MAX_MS);
}

/* Close cleanly (offline, DISCONNECT, flushed within a second) and drop the handle. */
static void link_down(struct link *l)
{
        if (!l->mosq)
                return;
        l->closing = true;
        if (l->connected) {
                char topic[512];
                snprintf(topic, sizeof(topic), "%s/status", l->s.base);
                (void)publish(l, topic, "offline", 7, 1, true);
                (void)mosquitto_disconnect(l->mosq);
                uint64_t end = now_ms() + 1000;
                while (mosquitto_socket(l->mosq) >= 0 && mosquitto_want_write(l->mosq) &&
                       now_ms() < end) {
                        struct pollfd p = { .fd = mosquitto_socket(l->mosq), .events = POLLOUT };
                        if (poll(&p, 1, 100) > 0 && mosquitto_loop_write(l->mosq, 64) != 0)
                                break;
                }
        }
        l->connected = false;
        mqtt_queue_set_link(false);
        mosquitto_destroy(l->mosq);
        l->mosq = NULL;
        state_gauge(0);
}

/* ---- the thread -------------------------------------------------------------------- */

static bool primed(void)
{
        pthread_mutex_lock(&hub.prime_lock);
        bool p = hub.primed;
        pthread_mutex_unlock(&hub.prime_lock);
        return p;
}

static void wake(void)
{
        int fd = mqtt_queue_fd();
        if (fd >= 0)
                (void)eventfd_write(fd, 1);
}

static void *bridge_main(void *arg)
{
        struct link l = { .backoff = BACKOFF_MIN_MS };
        bool enabled = false, ready = false;
        for (;;) {
                hub_beat(HUB_BEAT_MQTT);
                pthread_mutex_lock(&m.lock);
                bool stop = m.stop, changed = m.changed, rediscover = m.rediscover;
                m.changed = m.rediscover = false;
                if (changed)
                        l.s = m.pending;
                pthread_mutex_unlock(&m.lock);
                if (stop)
                        break;
                if (changed) {
                        link_down(&l);
                        mqtt_queue_set_limits(MAX_ITEMS, l.s.buffer);
                        enabled = l.s.enabled;
                        ready = false;
                        if (!enabled)
                                mqtt_queue_enable(false);
                }
                /* State is copied in once the reader has rebuilt it from the ring. */
                if (enabled && !ready && primed()) {
                        mqtt_queue_enable(true);
                        link_setup(&l);
                        ready = true;
                }
                if (rediscover && l.connected) {
                        l.session++;
                        mqtt_queue_resend_all();
                }
                struct pollfd p[2] = { { .fd = mqtt_queue_fd(), .events = POLLIN }, { .fd = -1 } };
                int timeout = enabled && !ready ? 50 : -1;
                if (l.mosq) {
                        uint64_t now = now_ms();
                        if (!l.connected && now >= l.next_try)
                                try_connect(&l);
                        p[1].fd = mosquitto_socket(l.mosq);
                        if (p[1].fd >= 0)
                                p[1].events = POLLIN | (mosquitto_want_write(l.mosq) ? POLLOUT : 0);
                        now = now_ms();
                        timeout = l.connected ? 1000
                                              : (int)MIN((uint64_t)1000,
                                                         l.next_try > now ? l.next_try - now : 0);
                        if (l.connected && l.inflight < MAX_INFLIGHT &&
                            !mosquitto_want_write(l.mosq) && mqtt_queue_pending())
                                timeout = 0;
                }
                if (poll(p, p[1].fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
                        log_warning_errno(-errno, "mqtt: poll: %m");
                if (p[0].revents & POLLIN)
                        mqtt_queue_drain_fd();
                if (l.mosq && p[1].fd >= 0 && p[1].revents) {
                        if (p[1].revents & (POLLIN | POLLHUP | POLLERR) ||
                            (l.s.tls && (p[1].revents & POLLOUT)))
                                check_attempt(&l, mosquitto_loop_read(l.mosq, 64));
                        if ((p[1].revents & POLLOUT) && mosquitto_socket(l.mosq) >= 0)
                                check_attempt(&l, mosquitto_loop_write(l.mosq, 64));
                }
                if (l.mosq && mosquitto_socket(l.mosq) >= 0)
                        (void)mosquitto_loop_misc(l.mosq);
                if (l.connected)
                        pump(&l);
        }
        link_down(&l);
        return NULL;
}

static int start_thread(void)
{
        if (m.running)
                return 0;
        int r = -pthread_create(&m.thread, NULL, bridge_main, NULL);
        if (r < 0)
                return log_error_errno(r, "mqtt: cannot start the bridge thread: %m");
        m.running = true;
        hub_beat_register(HUB_BEAT_MQTT, "mqtt", wake);
        return 0;
}

/* ---- configuration and reload ------------------------------------------------------ */

static int on_key(const struct conf_change *ch, void *userdata)
{
        m.keys_changed = true;
        return 0;
}

static void report(const struct conf_change *ch, enum conf_apply_result result, int error,
                   void *userdata)
{
        if (strcmp(ch->key->section, "mqtt") == 0)
                conf_report_log(ch, result, error, userdata);
}

static void reload(void *userdata)
{
        struct conf *c = NULL;
        /* hubconf.c has read (and validated) the same file; errors are logged there. */
        if (conf_load(m.path, m.path_explicit ? 0 : CONF_MISSING_OK, &c, NULL) < 0) {
                log_warning("mqtt: configuration not reloaded; keeping the running one");
                return;
        }
        m.keys_changed = false;
        (void)conf_apply_changes(m.cfg, c, report, NULL, NULL);
        conf_free(m.cfg);
        m.cfg = c;
        struct settings s;
        settings_from(c, &s);
        pthread_mutex_lock(&m.lock);
        if (m.keys_changed) {
                m.pending = s;
                m.changed = true;
        }
        m.rediscover = true; /* [hub] control or auth may have changed what is offered */
        pthread_mutex_unlock(&m.lock);
        if (s.enabled)
                (void)start_thread();
        wake();
}

int mqtt_start(int argc, char **argv)
{
        if (gethostname(m.hostname, sizeof(m.hostname) - 1) < 0 || !*m.hostname)
                strscpy(m.hostname, sizeof(m.hostname), "localhost");
        mqtt_queue_topic_level(m.hostname, sizeof(m.hostname), m.hostname);
        m.path = conf_path_from_args(argc, argv, &m.path_explicit);
        int r = conf_load(m.path, m.path_explicit ? 0 : CONF_MISSING_OK, &m.cfg, NULL);
        if (r < 0)
                return log_error_errno(r, "mqtt: cannot read the configuration: %m");
        mosquitto_lib_init();
        r = mqtt_queue_init(MAX_ITEMS, (size_t)conf_get_uint(m.cfg, "mqtt", "buffer"));
        if (r < 0)
                return log_error_errno(r, "mqtt: %m");
        r = conf_on_change("mqtt", NULL, on_key, NULL);
        if (r >= 0)
                r = hubconf_add_reload_hook(reload, NULL);
        if (r >= 0)
                r = events_add_sink(mqtt_queue_sink, mqtt_queue_listening, NULL);
        if (r < 0)
                return log_error_errno(r, "mqtt: cannot register with the hub: %m");
        settings_from(m.cfg, &m.pending);
        m.changed = true;
        if (!m.pending.enabled)
                return 0;
        log_info("mqtt: bridge to %s:%d%s, base topic %s, discovery %s", m.pending.host,
                 m.pending.port, m.pending.tls ? " (TLS)" : "", m.pending.base,
                 m.pending.discovery ? m.pending.prefix : "off");
        return start_thread();
}

void mqtt_stop(void)
{
        pthread_mutex_lock(&m.lock);
        m.stop = true;
        pthread_mutex_unlock(&m.lock);
        if (m.running) {
                hub_beat_unregister(HUB_BEAT_MQTT);
                wake();
                pthread_join(m.thread, NULL);
                m.running = false;
        }
}

void mqtt_free(void)
{
        mqtt_queue_free();
        m.cfg = conf_free(m.cfg);
        mosquitto_lib_cleanup();
}
