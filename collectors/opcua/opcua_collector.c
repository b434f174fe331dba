/*
 * opcua_collector.c — ringhub-collect-opcua: OPC UA subscriptions → tag records in the ring.
 *
 * One process, one sd-event loop, one client (ua_client.h) per configured endpoint. On
 * each session: resolve namespace URIs through the server's NamespaceArray (2255),
 * create one subscription and its monitored items (with an absolute-deadband
 * DataChangeFilter where configured), then write one `tag` record per value change and
 * one `opcua_conn` record per connection state change. A lost connection is retried with
 * exponential backoff and the subscription re-created; a tag with a bad NodeId is
 * reported with its status while the others keep working. Never blocks on a server and
 * never exits because of one: whatever a server sends ends at most in a reconnect.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "collector.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "ua_client.h"
#include "util.h"

#define MAX_ENDPOINTS  16u
#define MAX_TAGS       10000u
#define MI_BATCH       500u
#define BACKOFF_MIN_MS 500u

struct tag {
        char name[48];
        char node_text[96];
        char ns_uri[160];
        struct ua_nodeid node; /* string ids point into node_text */
        double interval_ms, deadband;
        char unit[16];
        char description[96];
        unsigned ep;
        bool bad_reported;
        uint32_t last_status;
};

struct endpoint {
        struct collector *c;
        unsigned idx;
        char url[128];
        struct ua_client *ua;
        sd_event_source *io, *timer;
        uint32_t backoff_ms;
        uint64_t reconnect_at; /* CLOCK_MONOTONIC ns; 0 = none */
        uint32_t sub_id;
        char last_state[16], last_reason[160];
        uint16_t *ns_map; /* config namespace URI → server index */
        unsigned pending_batches;
};

struct opcua_state {
        struct tag *tags;
        unsigned n_tags, cap_tags;
        struct endpoint eps[MAX_ENDPOINTS];
        unsigned n_eps;
        const char *username, *password;
        uint32_t reconnect_max_ms;
        double publish_ms;
        bool tags_flag, reconnect_flag, publish_flag; /* flags win over the config file */
        bool started;
        sd_event *event;
        uint64_t values;
};

enum {
        OPT_ENDPOINT = 0x200,
        OPT_TAG,
        OPT_TAGS,
        OPT_USER,
        OPT_PASSWORD,
        OPT_RECONNECT_MAX,
        OPT_PUBLISH
};

static const struct option options[] = {
        { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "tag", required_argument, NULL, OPT_TAG },
        { "tags", required_argument, NULL, OPT_TAGS },
        { "username", required_argument, NULL, OPT_USER },
        { "password", required_argument, NULL, OPT_PASSWORD },
        { "reconnect-max", required_argument, NULL, OPT_RECONNECT_MAX },
        { "publish-interval", required_argument, NULL, OPT_PUBLISH },
        {},
};

/* ---- configuration ---- */

/* NAME=NODEID[,interval=MS][,deadband=X][,unit=U][,desc=TEXT] */
static int parse_tag(struct opcua_state *s, const char *spec)
{
        static const char *const keys[] = { ",interval=", ",deadband=", ",unit=", ",desc=" };
        char buf[512];
        if (strscpy(buf, sizeof(buf), spec))
                return log_error_errno(-EINVAL, "--tag: '%.40s…' is too long", spec);
        char *eq = strchr(buf, '=');
        if (!eq || eq == buf)
                return log_error_errno(-EINVAL, "--tag: '%s' is not NAME=NODEID[,options]", spec);
        *eq = 0;
        char *rest = eq + 1;
        /* The NodeId ends at the first ",key=" we know (a string id may hold commas). */
        char *opts = NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                char *k = strstr(rest, keys[i]);
                if (k && (!opts || k < opts))
                        opts = k;
        }
        if (opts)
                *opts++ = 0;
        if (s->n_tags >= MAX_TAGS)
                return log_error_errno(-E2BIG, "--tag: more than %u tags", MAX_TAGS);
        if (s->n_tags == s->cap_tags) {
                unsigned cap = s->cap_tags ? s->cap_tags * 2 : 16;
                struct tag *t = realloc(s->tags, cap * sizeof(*t));
                if (!t)
                        return log_error_errno(-ENOMEM, "out of memory");
                s->tags = t;
                s->cap_tags = cap;
        }
        struct tag *t = &s->tags[s->n_tags];
        *t = (struct tag){ .interval_ms = 1000, .deadband = 0, .ep = s->n_eps ? s->n_eps - 1 : 0 };
        if (strscpy(t->name, sizeof(t->name), buf))
                return log_error_errno(-EINVAL, "--tag: name '%s' longer than %zu bytes", buf,
                                       sizeof(t->name) - 1);
        if (strscpy(t->node_text, sizeof(t->node_text), rest))
                return log_error_errno(-EINVAL, "--tag %s: NodeId longer than %zu bytes", t->name,
                                       sizeof(t->node_text) - 1);
        for (unsigned i = 0; i < s->n_tags; i++)
                if (strcmp(s->tags[i].name, t->name) == 0)
                        return log_error_errno(-EINVAL, "--tag: name '%s' given twice", t->name);
        while (opts && *opts) {
                char *next = NULL;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        char *k = strstr(opts, keys[i]);
                        if (k && (!next || k < next))
                                next = k;
                }
                if (next)
                        *next++ = 0;
                char *v = strchr(opts, '=');
                if (!v)
                        return log_error_errno(-EINVAL, "--tag %s: bad option '%s'", t->name, opts);
                *v++ = 0;
                double d;
                if (strcmp(opts, "interval") == 0) {
                        if (safe_atod(v, &d) < 0 || !(d >= 0 && d <= 86400000))
                                return log_error_errno(
                                    -EINVAL, "--tag %s: interval '%s' is not 0..86400000 ms",
                                    t->name, v);
                        t->interval_ms = d;
                } else if (strcmp(opts, "deadband") == 0) {
                        if (safe_atod(v, &d) < 0 || !(d >= 0) || !isfinite(d))
                                return log_error_errno(
                                    -EINVAL, "--tag %s: deadband '%s' is not a number ≥ 0", t->name,
                                    v);
                        t->deadband = d;
                } else if (strcmp(opts, "unit") == 0)
                        strscpy(t->unit, sizeof(t->unit), v);
                else if (strcmp(opts, "desc") == 0)
                        strscpy(t->description, sizeof(t->description), v);
                else
                        return log_error_errno(-EINVAL, "--tag %s: unknown option '%s'", t->name,
                                               opts);
                opts = next;
        }
        const char *uri = NULL;
        size_t uri_len = 0;
        if (ua_nodeid_parse(t->node_text, &t->node, &uri, &uri_len) < 0)
                return log_error_errno(-EINVAL,
                                       "--tag %s: '%s' is not a NodeId (ns=1;s=Name, i=85, "
                                       "nsu=URI;s=Name)",
                                       t->name, t->node_text);
        if (t->node.kind == UA_NODEID_BYTESTRING)
                return log_error_errno(-EINVAL, "--tag %s: ByteString NodeIds are not supported",
                                       t->name);
        if (uri) {
                if (uri_len >= sizeof(t->ns_uri))
                        return log_error_errno(-EINVAL, "--tag %s: namespace URI too long",
                                               t->name);
                memcpy(t->ns_uri, uri, uri_len);
                t->ns_uri[uri_len] = 0;
        }
        s->n_tags++;
        return 0;
}

static int parse_tags_file(struct opcua_state *s, const char *path)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[600];
        unsigned no = 0;
        if (!f)
                return log_error_errno(-errno, "--tags: cannot open %s: %m", path);
        while (fgets(line, sizeof(line), f)) {
                no++;
                if (!strchr(line, '\n') && !feof(f))
                        return log_error_errno(-EINVAL, "%s:%u: line too long", path, no);
                char *l = strstrip(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;
                int r = parse_tag(s, l);
                if (r < 0)
                        return log_error_errno(r, "%s:%u: invalid tag line", path, no);
        }
        return 0;
}

static int opcua_parse_option(struct collector *c, int opt, const char *arg)
{
        struct opcua_state *s = collector_state(c);
        uint64_t v;
        switch (opt) {
        case OPT_ENDPOINT: {
                struct ua_url u;
                if (s->n_eps >= MAX_ENDPOINTS)
                        return log_error_errno(-E2BIG, "--endpoint: more than %u endpoints",
                                               MAX_ENDPOINTS);
                if (ua_url_parse(arg, &u) < 0)
                        return log_error_errno(
                            -EINVAL, "--endpoint: '%s' is not opc.tcp://host[:port][/path]", arg);
                if (strscpy(s->eps[s->n_eps].url, sizeof(s->eps[0].url), arg))
                        return log_error_errno(-EINVAL, "--endpoint: URL too long");
                s->n_eps++;
                return 0;
        }
        case OPT_TAG:
                s->tags_flag = true;
                return parse_tag(s, arg);
        case OPT_TAGS:
                s->tags_flag = true;
                return parse_tags_file(s, arg);
        case OPT_USER:
                s->username = arg;
                return 0;
        case OPT_PASSWORD:
                s->password = arg;
                return 0;
        case OPT_RECONNECT_MAX:
                if (safe_atou64(arg, &v) < 0 || v < BACKOFF_MIN_MS || v > 3600000)
                        return log_error_errno(-EINVAL,
                                               "--reconnect-max: '%s' is not 500..3600000 ms", arg);
                s->reconnect_max_ms = (uint32_t)v;
                s->reconnect_flag = true;
                return 0;
        case OPT_PUBLISH:
                if (safe_atou64(arg, &v) < 0 || v < 10 || v > 3600000)
                        return log_error_errno(
                            -EINVAL, "--publish-interval: '%s' is not 10..3600000 ms", arg);
                s->publish_ms = (double)v;
                s->publish_flag = true;
                return 0;
        }
        return -EINVAL;
}

/* ---- records ---- */

/*
 * One opcua_conn record per change of state. A reconnect attempt while the server is
 * down is none: its "connecting" is not written and a failure with another reason is
 * only logged, so the record stays "disconnected" (clients see one disconnected event
 * per outage, not two per attempt) until a session is active again.
 */
static void emit_conn(struct endpoint *ep, const char *state, const char *reason)
{
        if (strcmp(state, "connecting") == 0 && strcmp(ep->last_state, "disconnected") == 0)
                return;
        if (strcmp(ep->last_state, state) == 0) {
                if (strcmp(ep->last_reason, reason) != 0) {
                        strscpy(ep->last_reason, sizeof(ep->last_reason), reason);
                        if (strcmp(state, "disconnected") == 0)
                                log_notice("%s: still disconnected: %s", ep->url, reason);
                }
                return;
        }
        strscpy(ep->last_state, sizeof(ep->last_state), state);
        strscpy(ep->last_reason, sizeof(ep->last_reason), reason);
        struct rec_opcua_conn rec;
        record_init_missing(RT_opcua_conn, &rec);
        strscpy(rec.endpoint, sizeof(rec.endpoint), ep->url);
        rec.connected = strcmp(state, "connected") == 0;
        strscpy(rec.state, sizeof(rec.state), state);
        strscpy(rec.reason, sizeof(rec.reason), reason);
        if (ep->ua)
                strscpy(rec.server_uri, sizeof(rec.server_uri), ua_client_server_uri(ep->ua));
        (void)collector_emit(ep->c, RT_opcua_conn, &rec);
        if (rec.connected)
                log_info("%s: connected (%s)", ep->url,
                         rec.server_uri[0] ? rec.server_uri : "no server URI");
        else if (strcmp(state, "disconnected") == 0)
                log_warning("%s: disconnected: %s", ep->url, reason);
        if (strcmp(state, "connecting") != 0)
                collector_source_status(ep->c, ep->url, rec.connected, "%s", reason);
}

static void fill_tag(struct rec_tag *rec, const struct tag *t, const struct endpoint *ep)
{
        record_init_missing(RT_tag, rec);
        strscpy(rec->name, sizeof(rec->name), t->name);
        strscpy(rec->endpoint, sizeof(rec->endpoint), ep->url);
        strscpy(rec->node_id, sizeof(rec->node_id), t->node_text);
        strscpy(rec->unit, sizeof(rec->unit), t->unit);
        strscpy(rec->description, sizeof(rec->description), t->description);
        if (t->interval_ms >= 0 && t->interval_ms < 4e9)
                rec->scan_time_ms = (uint32_t)t->interval_ms;
        rec->dead_band = t->deadband;
}

static void emit_tag_status(struct endpoint *ep, struct tag *t, uint32_t status, const char *why)
{
        char sb[32];
        struct rec_tag rec;
        fill_tag(&rec, t, ep);
        rec.status_code = status;
        strscpy(rec.quality, sizeof(rec.quality), ua_status_quality(status));
        rec.server_time = real_ns();
        (void)collector_emit(ep->c, RT_tag, &rec);
        if (!t->bad_reported || t->last_status != status)
                log_warning("%s: tag %s (%s): %s %s", ep->url, t->name, t->node_text, why,
                            ua_status_name(status, sb, sizeof(sb)));
        t->bad_reported = true;
        t->last_status = status;
}

static void on_data_change(struct ua_client *ua, uint32_t sub_id, uint32_t handle,
                           const struct ua_datavalue *dv, void *ud)
{
        struct endpoint *ep = ud;
        struct opcua_state *s = collector_state(ep->c);
        if (handle == 0 || handle > s->n_tags || s->tags[handle - 1].ep != ep->idx)
                return; /* not one of ours: ignore */
        struct tag *t = &s->tags[handle - 1];
        struct rec_tag rec;
        fill_tag(&rec, t, ep);
        uint32_t status = dv->mask & UA_DV_STATUS ? dv->status : UA_GOOD;
        rec.status_code = status;
        strscpy(rec.quality, sizeof(rec.quality), ua_status_quality(status));
        rec.source_time = ua_datetime_to_unix_ns(dv->source_ts);
        rec.server_time = ua_datetime_to_unix_ns(dv->server_ts);
        const struct ua_variant *v = &dv->value;
        if ((dv->mask & UA_DV_VALUE) && v->type != UA_T_NULL) {
                if (v->is_array) {
                        char tn[16];
                        snprintf(tn, sizeof(tn), "%.13s[]", ua_builtin_name(v->type));
                        strscpy(rec.data_type, sizeof(rec.data_type), tn);
                        ua_variant_format(v, rec.value_string, sizeof(rec.value_string));
                } else {
                        strscpy(rec.data_type, sizeof(rec.data_type), ua_builtin_name(v->type));
                        switch (v->type) {
                        case UA_T_BOOLEAN:
                                rec.value_bool = v->v.b;
                                rec.value = v->v.b ? 1.0 : 0.0;
                                break;
                        case UA_T_SBYTE:
                        case UA_T_INT16:
                        case UA_T_INT32:
                        case UA_T_INT64:
                                rec.value_int = v->v.i;
                                rec.value = (double)v->v.i;
                                break;
                        case UA_T_BYTE:
                        case UA_T_UINT16:
                        case UA_T_UINT32:
                                rec.value_int = (int64_t)v->v.u;
                                rec.value = (double)v->v.u;
                                break;
                        case UA_T_UINT64:
                                if (v->v.u <= INT64_MAX)
                                        rec.value_int = (int64_t)v->v.u;
                                rec.value = (double)v->v.u;
                                break;
                        case UA_T_FLOAT:
                        case UA_T_DOUBLE:
                                rec.value = v->v.d;
                                break;
                        default:
                                ua_variant_format(v, rec.value_string, sizeof(rec.value_string));
                        }
                }
        }
        if (ua_status_good(status))
                t->bad_reported = false;
        else if (!t->bad_reported || t->last_status != status) {
                char sb[32];
                log_warning("%s: tag %s: %s", ep->url, t->name,
                            ua_status_name(status, sb, sizeof(sb)));
                t->bad_reported = true;
        }
        t->last_status = status;
        s->values++;
        (void)collector_emit(ep->c, RT_tag, &rec);
}

/* ---- session setup: namespaces → subscription → monitored items ---- */

static void schedule(struct endpoint *ep);
static void create_subscription(struct endpoint *ep);

/* The results carry no handle, so each batch remembers its tags through a small closure. */
struct mi_batch {
        struct endpoint *ep;
        unsigned *tags;
        unsigned n;
};

static void on_monitored_batch(struct ua_client *ua, uint32_t status,
                               const struct ua_monitor_result *res, size_t n, void *ud)
{
        struct mi_batch *b = ud;
        struct endpoint *ep = b->ep;
        struct opcua_state *s = collector_state(ep->c);
        char sb[32];
        if (ua_client_state(ua) == UA_CS_ACTIVE) {
                if (!ua_status_good(status))
                        log_warning("%s: CreateMonitoredItems failed: %s", ep->url,
                                    ua_status_name(status, sb, sizeof(sb)));
                for (size_t i = 0; i < n && i < b->n; i++) {
                        struct tag *t = &s->tags[b->tags[i]];
                        if (ua_status_bad(res[i].status))
                                emit_tag_status(ep, t, res[i].status, "cannot monitor:");
                        else
                                log_debug("%s: monitoring %s (%s) every %.0f ms", ep->url, t->name,
                                          t->node_text, res[i].revised_sampling_ms);
                }
        }
        free(b->tags);
        free(b);
}

static void create_items(struct endpoint *ep)
{
        struct opcua_state *s = collector_state(ep->c);
        _cleanup_free_ struct ua_monitor_item *items = calloc(MI_BATCH, sizeof(*items));
        struct mi_batch *b = NULL;
        if (!items)
                return;
        for (unsigned i = 0; i <= s->n_tags; i++) {
                if (i < s->n_tags) {
                        struct tag *t = &s->tags[i];
                        if (t->ep != ep->idx)
                                continue;
                        struct ua_nodeid node = t->node;
                        if (t->ns_uri[0]) {
                                if (!ep->ns_map || ep->ns_map[i] == UINT16_MAX) {
                                        emit_tag_status(
                                            ep, t, UA_BAD_NODEIDUNKNOWN,
                                            "namespace URI not in the server's NamespaceArray:");
                                        continue;
                                }
                                node.ns = ep->ns_map[i];
                        }
                        if (!b) {
                                b = calloc(1, sizeof(*b));
                                if (b)
                                        b->tags = calloc(MI_BATCH, sizeof(*b->tags));
                                if (!b || !b->tags) {
                                        if (b)
                                                free(b);
                                        log_error("out of memory");
                                        return;
                                }
                                b->ep = ep;
                        }
                        items[b->n] = (struct ua_monitor_item){ .node = node,
                                                                .client_handle = i + 1,
                                                                .sampling_ms = t->interval_ms,
                                                                .deadband = t->deadband,
                                                                .queue_size = 1 };
                        b->tags[b->n++] = i;
                }
                if (b && (b->n == MI_BATCH || i == s->n_tags)) {
                        int r = ua_client_create_monitored_items(ep->ua, ep->sub_id, items, b->n,
                                                                 on_monitored_batch, b);
                        if (r < 0) {
                                log_warning_errno(r, "%s: cannot create monitored items: %m",
                                                  ep->url);
                                free(b->tags);
                                free(b);
                                return;
                        }
                        b = NULL;
                }
        }
}

static void on_subscription(struct ua_client *ua, uint32_t status, uint32_t sub_id, double interval,
                            uint32_t keepalive, void *ud)
{
        struct endpoint *ep = ud;
        char sb[32];
        if (ua_client_state(ua) != UA_CS_ACTIVE)
                return;
        if (!ua_status_good(status)) {
                char reason[128];
                snprintf(reason, sizeof(reason), "CreateSubscription failed: %s",
                         ua_status_name(status, sb, sizeof(sb)));
                ua_client_disconnect(ua, reason);
                return;
        }
        ep->sub_id = sub_id;
        log_debug("%s: subscription %" PRIu32 ", publishing every %.0f ms, keep-alive ×%" PRIu32,
                  ep->url, sub_id, interval, keepalive);
        create_items(ep);
}

static void create_subscription(struct endpoint *ep)
{
        struct opcua_state *s = collector_state(ep->c);
        double pub = s->publish_ms;
        bool any = false;
        if (pub <= 0) {
                pub = 1000;
                for (unsigned i = 0; i < s->n_tags; i++)
                        if (s->tags[i].ep == ep->idx) {
                                double iv =
                                    s->tags[i].interval_ms > 0 ? s->tags[i].interval_ms : 100;
                                pub = any ? fmin(pub, iv) : iv;
                                any = true;
                        }
                pub = fmax(pub, 50);
        }
        /* Keep-alive after ~10 publishing intervals, but at least every 5 s and at most 30 s. */
        uint32_t ka = (uint32_t)fmax(1, fmin(30000 / pub, fmax(10, 5000 / pub)));
        struct ua_subscription_params p = { .publishing_interval_ms = pub,
                                            .max_keepalive_count = ka,
                                            .lifetime_count = ka * 3,
                                            .max_notifications = 0 };
        int r = ua_client_create_subscription(ep->ua, &p, on_subscription, ep);
        if (r < 0)
                log_warning_errno(r, "%s: cannot create the subscription: %m", ep->url);
}

static void on_namespaces(struct ua_client *ua, uint32_t status, const struct ua_datavalue *res,
                          size_t n, void *ud)
{
        struct endpoint *ep = ud;
        struct opcua_state *s = collector_state(ep->c);
        char sb[32];
        if (ua_client_state(ua) != UA_CS_ACTIVE)
                return;
        free(ep->ns_map);
        ep->ns_map = calloc(s->n_tags ? s->n_tags : 1, sizeof(*ep->ns_map));
        if (!ep->ns_map) {
                ua_client_disconnect(ua, "out of memory");
                return;
        }
        for (unsigned i = 0; i < s->n_tags; i++)
                ep->ns_map[i] = UINT16_MAX;
        if (!ua_status_good(status) || n != 1 || !ua_status_good(res[0].status) ||
            !res[0].value.is_array || res[0].value.type != UA_T_STRING)
                log_warning(
                    "%s: cannot read the NamespaceArray (%s); tags by namespace URI stay "
                    "unresolved",
                    ep->url,
                    ua_status_name(ua_status_good(status) && n == 1 ? res[0].status : status, sb,
                                   sizeof(sb)));
        else {
                size_t pos = 0;
                struct ua_variant el;
                for (uint32_t idx = 0;
                     idx <= UINT16_MAX - 1 && ua_variant_array_next(&res[0].value, &pos, &el);
                     idx++)
                        for (unsigned i = 0; i < s->n_tags; i++)
                                if (s->tags[i].ep == ep->idx && s->tags[i].ns_uri[0] &&
                                    ua_string_eq(el.v.s, s->tags[i].ns_uri))
                                        ep->ns_map[i] = (uint16_t)idx;
        }
        create_subscription(ep);
}

static void on_state(struct ua_client *ua, enum ua_client_state st, const char *reason, void *ud)
{
        struct endpoint *ep = ud;
        struct opcua_state *s = collector_state(ep->c);
        if (st == UA_CS_CONNECTING) {
                emit_conn(ep, "connecting", reason);
                return;
        }
        if (st == UA_CS_ACTIVE) {
                ep->backoff_ms = 0;
                ep->sub_id = 0;
                emit_conn(ep, "connected", "session active");
                bool need_ns = false;
                for (unsigned i = 0; i < s->n_tags; i++)
                        need_ns |= s->tags[i].ep == ep->idx && s->tags[i].ns_uri[0];
                if (need_ns) {
                        struct ua_read_item it = { .node = UA_NODEID_NUM(0, 2255),
                                                   .attribute = UA_ATTR_VALUE };
                        int r = ua_client_read(ua, &it, 1, on_namespaces, ep);
                        if (r < 0)
                                log_warning_errno(r, "%s: cannot read the NamespaceArray: %m",
                                                  ep->url);
                } else
                        create_subscription(ep);
                return;
        }
        if (st == UA_CS_DISCONNECTED) {
                emit_conn(ep, "disconnected", reason && *reason ? reason : "connection lost");
                ep->sub_id = 0;
                uint32_t max = s->reconnect_max_ms ? s->reconnect_max_ms : 10000;
                ep->backoff_ms = ep->backoff_ms ? MIN(ep->backoff_ms * 2, max) : BACKOFF_MIN_MS;
                ep->reconnect_at = mono_ns() + (uint64_t)ep->backoff_ms * NSEC_PER_MSEC;
        }
}

/* ---- event loop glue ---- */

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *ud)
{
        struct endpoint *ep = ud;
        short pe = 0;
        if (revents & EPOLLIN)
                pe |= POLLIN;
        if (revents & EPOLLOUT)
                pe |= POLLOUT;
        if (revents & EPOLLERR)
                pe |= POLLERR;
        if (revents & EPOLLHUP)
                pe |= POLLHUP;
        (void)ua_client_process(ep->ua, pe);
        schedule(ep);
        return 0;
}

static void try_connect(struct endpoint *ep)
{
        ep->reconnect_at = 0;
        int r = ua_client_connect(ep->ua);
        if (r < 0) {
                struct opcua_state *s = collector_state(ep->c);
                emit_conn(ep, "disconnected", ua_client_error(ep->ua));
                uint32_t max = s->reconnect_max_ms ? s->reconnect_max_ms : 10000;
                ep->backoff_ms = ep->backoff_ms ? MIN(ep->backoff_ms * 2, max) : BACKOFF_MIN_MS;
                ep->reconnect_at = mono_ns() + (uint64_t)ep->backoff_ms * NSEC_PER_MSEC;
        }
}

static int on_timer(sd_event_source *es, uint64_t usec, void *ud)
{
        struct endpoint *ep = ud;
        uint64_t now = mono_ns();
        if (ua_client_state(ep->ua) == UA_CS_DISCONNECTED) {
                if (ep->reconnect_at && now >= ep->reconnect_at)
                        try_connect(ep);
        } else
                (void)ua_client_tick(ep->ua, now);
        schedule(ep);
        return 0;
}

/* Bring the io source and the timer in line with what the client needs now. */
static void schedule(struct endpoint *ep)
{
        struct opcua_state *s = collector_state(ep->c);
        int fd = ua_client_fd(ep->ua);
        int r;
        if (ep->io && (fd < 0 || sd_event_source_get_io_fd(ep->io) != fd))
                ep->io = sd_event_source_disable_unref(ep->io);
        if (fd >= 0) {
                short pe = ua_client_poll_events(ep->ua);
                uint32_t ev = (pe & POLLIN ? EPOLLIN : 0) | (pe & POLLOUT ? EPOLLOUT : 0);
                if (!ep->io) {
                        r = sd_event_add_io(s->event, &ep->io, fd, ev, on_io, ep);
                        if (r < 0) {
                                log_error_errno(r, "%s: cannot watch the socket: %m", ep->url);
                                ua_client_disconnect(ep->ua, "cannot watch the socket");
                                return schedule(ep);
                        }
                } else
                        (void)sd_event_source_set_io_events(ep->io, ev);
        }
        uint64_t when = ua_client_state(ep->ua) == UA_CS_DISCONNECTED
                            ? ep->reconnect_at
                            : ua_client_next_deadline(ep->ua);
        if (!when || when == UINT64_MAX) {
                if (ep->timer)
                        (void)sd_event_source_set_enabled(ep->timer, SD_EVENT_OFF);
                return;
        }
        uint64_t usec = when / 1000 + 1;
        if (!ep->timer) {
                r = sd_event_add_time(s->event, &ep->timer, CLOCK_MONOTONIC, usec, 1000, on_timer,
                                      ep);
                if (r < 0)
                        log_error_errno(r, "%s: cannot add a timer: %m", ep->url);
                return;
        }
        (void)sd_event_source_set_time(ep->timer, usec);
        (void)sd_event_source_set_enabled(ep->timer, SD_EVENT_ONESHOT);
}

/*
 * [collector.opcua] reconnect_max and interval (the publishing interval), unless a flag
 * set them: at start and on SIGHUP (a new publishing interval applies to the next
 * subscription, i.e. after a reconnect). Keys the file leaves out keep the defaults.
 */
static void opcua_conf_timing(struct collector *c)
{
        struct opcua_state *s = collector_state(c);
        const struct conf *cfg = collector_conf(c);
        if (!s->reconnect_flag)
                s->reconnect_max_ms =
                    conf_is_set(cfg, "collector.opcua", "reconnect_max")
                        ? (uint32_t)conf_get_uint(cfg, "collector.opcua", "reconnect_max")
                        : 0;
        if (!s->publish_flag)
                s->publish_ms = conf_is_set(cfg, "collector.opcua", "interval")
                                    ? (double)conf_get_uint(cfg, "collector.opcua", "interval")
                                    : 0;
}

/*
 * No --endpoint: [collector.opcua] endpoint. No --tag/--tags: [collector.opcua] tags, each
 * a NodeId (named after its string identifier, or the NodeId itself with '=' as ':') or a
 * full NAME=NODEID[,options] spec.
 */
static int opcua_conf_start(struct collector *c)
{
        struct opcua_state *s = collector_state(c);
        const struct conf *cfg = collector_conf(c);
        if (s->n_eps == 0 && conf_is_set(cfg, "collector.opcua", "endpoint")) {
                int r = opcua_parse_option(c, OPT_ENDPOINT,
                                           conf_get_string(cfg, "collector.opcua", "endpoint"));
                if (r < 0)
                        return r;
        }
        if (s->tags_flag)
                return 0;
        const char *list = conf_get_string(cfg, "collector.opcua", "tags");
        _cleanup_free_ char *buf = strdup(list ? list : "");
        if (!buf)
                return log_error_errno(-ENOMEM, "out of memory");
        for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w;
             w = strtok_r(NULL, " \t", &save)) {
                static const char *const bare[] = { "ns=", "nsu=", "i=", "s=", "g=", "b=" };
                bool is_node = false;
                for (size_t i = 0; i < ELEMENTSOF(bare); i++)
                        is_node |= startswith(w, bare[i]);
                char spec[512], name[48];
                if (is_node) {
                        const char *sid = strstr(w, ";s=");
                        sid = sid ? sid + 3 : startswith(w, "s=") ? w + 2 : NULL;
                        strscpy(name, sizeof(name), sid && *sid ? sid : w);
                        for (char *p = name; *p; p++)
                                if (*p == '=' || *p == ',')
                                        *p = ':';
                        snprintf(spec, sizeof(spec), "%s=%s", name, w);
                } else
                        strscpy(spec, sizeof(spec), w);
                int r = parse_tag(s, spec);
                if (r < 0)
                        return log_error_errno(r, "[collector.opcua] tags: bad tag '%.60s'", w);
        }
        return 0;
}

static void opcua_reload(struct collector *c)
{
        struct opcua_state *s = collector_state(c);
        opcua_conf_timing(c);
        log_info("reconnect back-off at most %u ms, publishing interval %s",
                 s->reconnect_max_ms ? s->reconnect_max_ms : 10000,
                 s->publish_ms > 0 ? "from the config" : "auto");
}

static int opcua_init(struct collector *c)
{
        struct opcua_state *s = collector_state(c);
        int rc = opcua_conf_start(c);
        if (rc < 0)
                return rc;
        opcua_conf_timing(c);
        if (s->n_eps == 0)
                return log_error_errno(-EINVAL, "no --endpoint given and no [collector.opcua] "
                                                "endpoint in the config file (see --help)");
        if (s->n_tags == 0)
                log_warning("no tags configured: connections are watched, no values collected");
        for (unsigned i = 0; i < s->n_eps; i++) {
                struct endpoint *ep = &s->eps[i];
                ep->c = c;
                ep->idx = i;
                struct ua_client_config cfg = { .endpoint_url = ep->url,
                                                .username = s->username,
                                                .password = s->password,
                                                .application_uri = "urn:ringhub:collect-opcua",
                                                .session_name = "ringhub-collect-opcua" };
                struct ua_client_callbacks cb = { .state = on_state,
                                                  .data_change = on_data_change };
                int r = ua_client_new(&cfg, &cb, ep, &ep->ua);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot create a client: %m", ep->url);
        }
        return 0;
}

/* Housekeeping task: starts the connections on its first run (the loop exists by then). */
static int opcua_task(struct collector *c)
{
        struct opcua_state *s = collector_state(c);
        if (s->started)
                return 0;
        sd_event *e = collector_event(c);
        if (!e) {
                log_notice("--once: OPC UA subscriptions need the event loop; nothing collected");
                return 0;
        }
        s->event = sd_event_ref(e);
        s->started = true;
        for (unsigned i = 0; i < s->n_eps; i++) {
                try_connect(&s->eps[i]);
                schedule(&s->eps[i]);
        }
        return 0;
}

static void opcua_done(struct collector *c)
{
        struct opcua_state *s = collector_state(c);
        uint64_t notif = 0, ns = 0;
        for (unsigned i = 0; i < s->n_eps; i++) {
                struct endpoint *ep = &s->eps[i];
                if (ep->ua) {
                        uint64_t a, b;
                        ua_client_stats(ep->ua, &a, &b);
                        notif += a;
                        ns += b;
                        if (ua_client_state(ep->ua) != UA_CS_DISCONNECTED) {
                                ua_client_disconnect(ep->ua, "collector stopping");
                        }
                }
                ep->io = sd_event_source_disable_unref(ep->io);
                ep->timer = sd_event_source_disable_unref(ep->timer);
                ep->ua = ua_client_free(ep->ua);
                free(ep->ns_map);
                ep->ns_map = NULL;
        }
        log_info("stopping: %" PRIu64 " values written, %" PRIu64 " data changes decoded, %" PRIu64
                 " ns per data change",
                 s->values, notif, notif ? ns / notif : 0);
        s->event = sd_event_unref(s->event);
        free(s->tags);
        s->tags = NULL;
}

static const struct collector_ops ops = {
        .name = "opcua",
        .description = "OPC UA tags (SecurityPolicy None) into the ring",
        .tasks = { { .name = "housekeeping", .interval_ms = 5000, .run = opcua_task } },
        .interval_key_is_own = true, /* [collector.opcua] interval = publishing interval */
        .state_size = sizeof(struct opcua_state),
        .options = options,
        .options_help =
            "  (flags replace the config file's [collector.opcua] endpoint, tags, reconnect_max\n"
            "   and interval, the publishing interval)\n"
            "      --endpoint URL        OPC UA server, opc.tcp://host:port[/path] (repeatable);\n"
            "                            tags given after it belong to it\n"
            "      --tag NAME=NODEID[,interval=MS][,deadband=X][,unit=U][,desc=TEXT]\n"
            "                            a tag (repeatable); NODEID like ns=1;s=Plant.Temp, "
            "i=2258\n"
            "                            or nsu=urn:your:namespace;s=Name (resolved through the\n"
            "                            server's NamespaceArray); interval is the sampling\n"
            "                            interval (default 1000), deadband an absolute filter\n"
            "      --tags FILE           one --tag value per line ('#' comments)\n"
            "      --username U          user name token (only where the server accepts it\n"
            "      --password P          unencrypted); default anonymous\n"
            "      --reconnect-max MS    longest wait between reconnects (default 10000)\n"
            "      --publish-interval MS subscription publishing interval (default: the\n"
            "                            smallest sampling interval, at least 50)\n",
        .parse_option = opcua_parse_option,
        .init = opcua_init,
        .done = opcua_done,
        .reload = opcua_reload,
};

int main(int argc, char **argv)
{
        return collector_main(&ops, argc, argv);
}
