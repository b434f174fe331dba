/*
 * docker.c — ringhub-collect-docker: containers from the Docker Engine API.
 *
 * Runs as its own process. One task (default 10 s) asks the engine over its unix socket
 * (default /var/run/docker.sock, --socket PATH; podman's compatible service answers the
 * same) for every container, inspects each one (restart policy and count, start time,
 * exit code, network mode) and takes one-shot stats of the running ones. CPU % and the
 * network rates come from this process's own previous sample (podman's one-shot stats
 * carry no precpu), so the first cycle after a container starts leaves them missing.
 * Writes one `container` batch per cycle with `container_port` and `container_mount`
 * children (the mounts from the inspect, else the list), sorted by name.
 *
 * Every request shares one deadline per cycle (--timeout, default min(5 s, ¾ interval)):
 * a hung engine costs one timeout, never the interval. An engine that is absent, refuses,
 * times out or answers garbage gives an empty list and a source status "down", and is
 * retried with exponential backoff. Never spawns a process.
 *
 * Commands start, stop, restart, pause and unpause (target: container id, name or id
 * prefix; stop/restart take args {"timeout": S}) are the only writes to the engine. They
 * run on one worker thread with a queue (docker_control.c, collector_worker.c), never on
 * the event loop: a stop may wait its whole timeout while the list and other commands go
 * on.
 *
 * HTTP is http_unix.c (no libcurl: the collector idles at the footprint of the skeleton).
 * One connection is kept alive for the requests of a cycle and closed at its end.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector.h"
#include "conf.h"
#include "docker_int.h"
#include "collector_spawn.h"
#include "collector_worker.h"
#include "http_unix.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
#define DOCKER_MAX_CONTAINERS 400
#define BACKOFF_MAX_MS        60000u

enum { OPT_SOCKET = 0x200, OPT_TIMEOUT, OPT_NO_STATS };

struct sample {
        char id[72];
        uint64_t t_ns;
        uint64_t cpu_total, cpu_system; /* MISSING_U64 when absent */
        uint64_t rx, tx;
};

struct docker_state {
        const char *socket;
        uint32_t timeout_ms;
        bool stats, stats_from_flag; /* --no-stats, else [collector.docker] stats */
        char socket_buf[108];        /* the file's socket (the table is freed on SIGHUP) */
        struct http_unix http;
        bool stopping; /* a request was cut short by SIGTERM: publish nothing more */
        struct sample *prev, *cur;
        size_t n_prev, n_cur;
        uint64_t next_try_ns;
        uint32_t backoff_ms;
        uint64_t deadline_ns;
        struct collector_worker *worker; /* commands; started by the first one */
};

void docker_freejsonp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}

/* ---- HTTP over the unix socket ---- */

/* The body of the last answer on h as JSON: 0 with *ret (NULL when empty), or -EBADMSG. */
int docker_body_json(const struct http_unix *h, json_object **ret)
{
        const char *body = h->body;
        size_t len = h->body_len;

        *ret = NULL;
        if (len == 0 || strspn(body, " \t\r\n") == len)
                return 0; /* podman: stats of a stopped container */
        if (len > INT32_MAX || strlen(body) != len)
                return -EBADMSG;
        json_tokener *tok = json_tokener_new_ex(64);
        if (!tok)
                return -ENOMEM;
        json_object *o = json_tokener_parse_ex(tok, body, (int)len);
        enum json_tokener_error je = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!o || je != json_tokener_success) {
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

/*
 * GET path within the cycle's deadline; on success *ret holds the parsed JSON (NULL for
 * an empty body). Fills msg with a short reason on failure: -ETIMEDOUT, -ENOENT (404),
 * -EPROTO (other status), -EBADMSG (not JSON), or http_unix_get()'s errors.
 */
static int docker_get(struct docker_state *s, const char *path, json_object **ret, char *msg,
                      size_t msg_size)
{
        *ret = NULL;
        if (mono_ns() + 5 * NSEC_PER_MSEC >= s->deadline_ns) {
                snprintf(msg, msg_size, "cycle deadline of %u ms passed", s->timeout_ms);
                return -ETIMEDOUT;
        }
        int code = http_unix_get(&s->http, path, s->deadline_ns);
        s->stopping |= code == -ECANCELED;
        if (code < 0) {
                snprintf(msg, msg_size, "%.60s: %.130s", path, s->http.error);
                return code;
        }
        if (code == 404) {
                snprintf(msg, msg_size, "%.60s: not found", path);
                return -ENOENT;
        }
        if (code != 200) {
                snprintf(msg, msg_size, "%.60s: HTTP status %d", path, code);
                return -EPROTO;
        }
        int r = docker_body_json(&s->http, ret);
        if (r < 0)
                snprintf(msg, msg_size, "%.60s: answer is not JSON", path);
        return r;
}

/* ---- JSON helpers ---- */

json_object *docker_jget(json_object *o, const char *key)
{
        json_object *v = NULL;
        if (!o || !json_object_is_type(o, json_type_object))
                return NULL;
        return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *docker_jstr(json_object *o, const char *key)
{
        json_object *v = docker_jget(o, key);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool jnum(json_object *o, const char *key, uint64_t *ret)
{
        json_object *v = docker_jget(o, key);
        if (!v ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
                return false;
        if (json_object_is_type(v, json_type_double)) {
                double d = json_object_get_double(v);
                if (!(d >= 0 && d < 1.8e19))
                        return false;
                *ret = (uint64_t)d;
                return true;
        }
        if (json_object_get_int64(v) < 0)
                return false;
        *ret = json_object_get_uint64(v);
        return true;
}

static bool jint(json_object *o, const char *key, int64_t *ret)
{
        json_object *v = docker_jget(o, key);
        if (!v || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

/* RFC 3339 → unix ns; 0 when unparsable or the zero time. */
static uint64_t parse_time(const char *s)
{
        struct tm tm = { 0 };
        if (!s)
                return 0;
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p || tm.tm_year < 71)
                return 0;
        uint64_t frac = 0, scale = NSEC_PER_SEC;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (uint64_t)(*p - '0') * scale;
                        }
        int64_t off = 0;
        if (*p == '+' || *p == '-') {
                int hh = 0, mm = 0;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return 0;
                off = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
        } else if (*p != 'Z')
                return 0;
        int64_t t = (int64_t)timegm(&tm) - off;
        return t > 0 ? (uint64_t)t * NSEC_PER_SEC + frac : 0;
}

/* ---- one container ---- */

const char *docker_first_name(json_object *c)
{
        json_object *names = docker_jget(c, "Names");
        if (names && json_object_is_type(names, json_type_array) &&
            json_object_array_length(names) > 0) {
                json_object *n = json_object_array_get_idx(names, 0);
                if (json_object_is_type(n, json_type_string)) {
                        const char *s = json_object_get_string(n);
                        return *s == '/' ? s + 1 : s;
                }
        }
        return "";
}

static int cmp_by_name(const void *a, const void *b)
{
        json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
        int r = strcmp(docker_first_name(x), docker_first_name(y));
        if (r)
                return r;
        const char *ix = docker_jstr(x, "Id"), *iy = docker_jstr(y, "Id");
        return strcmp(ix ? ix : "", iy ? iy : "");
}

static void image_tag(const char *image, char *out, size_t size)
{
        char buf[256];
        strscpy(buf, sizeof(buf), image);
        char *at = strchr(buf, '@');
        if (at)
                *at = 0;
        char *slash = strrchr(buf, '/');
        char *colon = strrchr(slash ? slash : buf, ':');
        if (startswith(buf, "sha256:"))
                colon = NULL; /* an image id, not a reference */
        strscpy(out, size,
                colon && colon[1]            ? colon + 1
                : startswith(buf, "sha256:") ? ""
                                             : "latest");
}

static const struct sample *prev_sample(struct docker_state *s, const char *id)
{
        for (size_t i = 0; i < s->n_prev; i++)
                if (strcmp(s->prev[i].id, id) == 0)
                        return &s->prev[i];
        return NULL;
}

static void take_stats(struct docker_state *s, struct rec_container *rec, const char *id,
                       json_object *st)
{
        json_object *cpu = docker_jget(st, "cpu_stats"), *mem = docker_jget(st, "memory_stats");
        struct sample now = { .t_ns = mono_ns(),
                              .cpu_total = MISSING_U64,
                              .cpu_system = MISSING_U64,
                              .rx = MISSING_U64,
                              .tx = MISSING_U64 };
        uint64_t v, ncpu = 0;

        strscpy(now.id, sizeof(now.id), id);
        if (jnum(docker_jget(cpu, "cpu_usage"), "total_usage", &v))
                now.cpu_total = v;
        if (jnum(cpu, "system_cpu_usage", &v) && v > 0)
                now.cpu_system = v;
        if (!jnum(cpu, "online_cpus", &ncpu) || ncpu == 0 || ncpu > 65536) {
                json_object *per = docker_jget(docker_jget(cpu, "cpu_usage"), "percpu_usage");
                ncpu = per && json_object_is_type(per, json_type_array)
                           ? json_object_array_length(per)
                           : 1;
                ncpu = MAX(ncpu, 1u);
        }

        uint64_t usage, limit;
        if (jnum(mem, "usage", &usage)) {
                uint64_t inactive;
                /* Like `docker stats`: page cache that can be dropped is not usage. */
                json_object *ms = docker_jget(mem, "stats");
                if (jnum(ms, "inactive_file", &inactive) && inactive <= usage)
                        usage -= inactive;
                else if (jnum(ms, "total_inactive_file", &inactive) && inactive <= usage)
                        usage -= inactive;
                rec->memory_usage_bytes = usage;
                if (jnum(mem, "limit", &limit) && limit > 0) {
                        rec->memory_limit_bytes = limit;
                        rec->memory_percent = (double)usage / (double)limit * 100.0;
                }
        }

        /* Docker: "networks" {eth0: {…}}; old engines "network" {…}. */
        json_object *nets = docker_jget(st, "networks");
        if (nets && json_object_is_type(nets, json_type_object)) {
                uint64_t rx = 0, tx = 0;
                bool any = false;
                json_object_object_foreach(nets, k, n)
                {
                        (void)k;
                        uint64_t a, b;
                        if (jnum(n, "rx_bytes", &a) && jnum(n, "tx_bytes", &b)) {
                                rx += a;
                                tx += b;
                                any = true;
                        }
                }
                if (any) {
                        now.rx = rx;
                        now.tx = tx;
                }
        } else if (jnum(docker_jget(st, "network"), "rx_bytes", &v)) {
                now.rx = v;
                if (jnum(docker_jget(st, "network"), "tx_bytes", &v))
                        now.tx = v;
        }
        rec->network_rx_bytes = now.rx;
        rec->network_tx_bytes = now.tx;

        const struct sample *p = prev_sample(s, id);
        if (p && now.t_ns > p->t_ns) {
                double dt = (double)(now.t_ns - p->t_ns) / 1e9;
                if (now.cpu_total != MISSING_U64 && p->cpu_total != MISSING_U64 &&
                    now.cpu_total >= p->cpu_total) {
                        double d = (double)(now.cpu_total - p->cpu_total), pct;
                        if (now.cpu_system != MISSING_U64 && p->cpu_system != MISSING_U64 &&
                            now.cpu_system > p->cpu_system)
                                pct = d / (double)(now.cpu_system - p->cpu_system) * (double)ncpu *
                                      100.0;
                        else
                                pct = d / (dt * 1e9) * 100.0;
                        rec->cpu_percent = MIN(MAX(pct, 0.0), 100.0 * (double)ncpu);
                }
                if (now.rx != MISSING_U64 && p->rx != MISSING_U64 && now.rx >= p->rx)
                        rec->network_rx_bytes_per_sec = (double)(now.rx - p->rx) / dt;
                if (now.tx != MISSING_U64 && p->tx != MISSING_U64 && now.tx >= p->tx)
                        rec->network_tx_bytes_per_sec = (double)(now.tx - p->tx) / dt;
        }
        if (s->n_cur < DOCKER_MAX_CONTAINERS)
                s->cur[s->n_cur++] = now;
}

static void add_ports(struct collector *c, const char *short_id, json_object *ports)
{
        if (!ports || !json_object_is_type(ports, json_type_array))
                return;
        size_t n = json_object_array_length(ports);
        for (size_t i = 0; i < n && i < 64; i++) {
                json_object *p = json_object_array_get_idx(ports, i);
                uint64_t priv, pub;
                if (!jnum(p, "PrivatePort", &priv) || priv > 65535)
                        continue;
                struct rec_container_port *r = collector_batch_add(c, RT_container_port);
                if (!r)
                        return;
                strscpy(r->container_id, sizeof(r->container_id), short_id);
                r->container_port = (uint32_t)priv;
                if (jnum(p, "PublicPort", &pub) && pub <= 65535)
                        r->host_port = (uint32_t)pub;
                const char *type = docker_jstr(p, "Type"), *ip = docker_jstr(p, "IP");
                strscpy(r->protocol, sizeof(r->protocol), type ? type : "tcp");
                strscpy(r->host_ip, sizeof(r->host_ip), ip ? ip : "");
        }
}

/* The container's mounts (Docker's Mounts: Source, Destination, RW), as the agent's
 * volume_mappings; a path longer than the record holds ends in "…" with truncated set. */
static void add_mounts(struct collector *c, const char *short_id, json_object *mounts)
{
        if (!mounts || !json_object_is_type(mounts, json_type_array))
                return;
        size_t n = json_object_array_length(mounts);
        for (size_t i = 0; i < n && i < 64; i++) {
                json_object *m = json_object_array_get_idx(mounts, i), *rw;
                const char *dst = docker_jstr(m, "Destination"), *src = docker_jstr(m, "Source");
                if (!dst || !*dst)
                        continue;
                struct rec_container_mount *r = collector_batch_add(c, RT_container_mount);
                if (!r)
                        return;
                strscpy(r->container_id, sizeof(r->container_id), short_id);
                bool cut = collector_copy_text(r->container_path, sizeof(r->container_path), dst);
                cut |= collector_copy_text(r->host_path, sizeof(r->host_path), src ? src : "");
                r->truncated = cut;
                bool writable = !json_object_object_get_ex(m, "RW", &rw) ||
                                !json_object_is_type(rw, json_type_boolean) ||
                                json_object_get_boolean(rw);
                strscpy(r->mode, sizeof(r->mode), writable ? "rw" : "ro");
        }
}

static void first_ip(json_object *networks, char *out, size_t size)
{
        if (!networks || !json_object_is_type(networks, json_type_object))
                return;
        json_object_object_foreach(networks, k, n)
        {
                (void)k;
                const char *ip = docker_jstr(n, "IPAddress");
                if (ip && *ip) {
                        strscpy(out, size, ip);
                        return;
                }
        }
}

static void add_container(struct collector *c, struct docker_state *s, json_object *ctr,
                          bool *timed_out)
{
        char path[160], msg[200], short_id[16];
        const char *id = docker_jstr(ctr, "Id");
        if (!id || strspn(id, "0123456789abcdef") < 12)
                return; /* not a container id: never put it in a URL */

        struct rec_container *rec = collector_batch_add(c, RT_container);
        if (!rec)
                return;
        strscpy(short_id, 13, id);
        strscpy(rec->id, sizeof(rec->id), short_id);
        strscpy(rec->name, sizeof(rec->name), docker_first_name(ctr));
        const char *image = docker_jstr(ctr, "Image"), *state = docker_jstr(ctr, "State"),
                   *status = docker_jstr(ctr, "Status");
        strscpy(rec->image, sizeof(rec->image), image ? image : "");
        image_tag(image ? image : "", rec->version, sizeof(rec->version));
        strscpy(rec->state, sizeof(rec->state), state ? state : "");
        strscpy(rec->status, sizeof(rec->status), status ? status : "");
        const char *mode = docker_jstr(docker_jget(ctr, "HostConfig"), "NetworkMode");
        if (mode)
                strscpy(rec->network_mode, sizeof(rec->network_mode), mode);
        first_ip(docker_jget(docker_jget(ctr, "NetworkSettings"), "Networks"), rec->ip_address,
                 sizeof(rec->ip_address));

        _cleanup_json_ json_object *ins = NULL;
        if (*timed_out)
                goto ports;
        snprintf(path, sizeof(path), "/containers/%.64s/json", id);
        int r = docker_get(s, path, &ins, msg, sizeof(msg));
        if (r == -ETIMEDOUT) {
                *timed_out = true;
                log_debug("%s", msg);
        } else if (r < 0)
                log_debug("%s, leaving its details out", msg); /* removed meanwhile */
        if (ins) {
                json_object *hc = docker_jget(ins, "HostConfig"), *st = docker_jget(ins, "State");
                const char *pol = docker_jstr(docker_jget(hc, "RestartPolicy"), "Name");
                strscpy(rec->restart_policy, sizeof(rec->restart_policy), pol && *pol ? pol : "no");
                uint64_t cnt;
                if (jnum(ins, "RestartCount", &cnt) && cnt <= UINT32_MAX - 1)
                        rec->restart_count = (uint32_t)cnt;
                int64_t ec;
                if (jint(st, "ExitCode", &ec))
                        rec->exit_code = ec;
                if (!mode && (mode = docker_jstr(hc, "NetworkMode")))
                        strscpy(rec->network_mode, sizeof(rec->network_mode), mode);
                if (!rec->ip_address[0])
                        first_ip(docker_jget(docker_jget(ins, "NetworkSettings"), "Networks"),
                                 rec->ip_address, sizeof(rec->ip_address));
                uint64_t started = parse_time(docker_jstr(st, "StartedAt")), now = real_ns();
                if (state && strcmp(state, "running") == 0 && started && started <= now)
                        rec->uptime_seconds = (now - started) / NSEC_PER_SEC;
        }

        if (s->stats && !*timed_out && state && strcmp(state, "running") == 0) {
                _cleanup_json_ json_object *st = NULL;
                snprintf(path, sizeof(path), "/containers/%.64s/stats?stream=false&one-shot=true",
                         id);
                r = docker_get(s, path, &st, msg, sizeof(msg));
                if (r == -ETIMEDOUT)
                        *timed_out = true;
                if (r < 0)
                        log_debug("%s", msg);
                else if (st)
                        take_stats(s, rec, id, st);
        }
ports:
        add_ports(c, short_id, docker_jget(ctr, "Ports"));
        /* The inspect's mounts, else the list's (the same shape). */
        json_object *mounts = docker_jget(ins, "Mounts");
        add_mounts(c, short_id, mounts ? mounts : docker_jget(ctr, "Mounts"));
}

/* ---- the cycle ---- */

static void source_failed(struct collector *c, struct docker_state *s, const char *msg)
{
        uint32_t iv = collector_interval_ms(c, 0);
        s->backoff_ms = s->backoff_ms ? MIN(s->backoff_ms * 2, MIN(BACKOFF_MAX_MS, 8 * iv)) : iv;
        s->next_try_ns = mono_ns() + (uint64_t)s->backoff_ms * NSEC_PER_MSEC;
        collector_source_status(c, s->socket, false, "%s", msg);
        s->n_prev = 0; /* rates start over when it is back */
}

static int docker_cycle(struct collector *c)
{
        struct docker_state *s = collector_state(c);
        _cleanup_json_ json_object *list = NULL;
        char msg[200];
        int r;

        collector_batch_begin(c);
        if (mono_ns() < s->next_try_ns) {
                collector_batch_add_empty(c, RT_container);
                return collector_batch_commit(c);
        }
        s->deadline_ns = mono_ns() + (uint64_t)s->timeout_ms * NSEC_PER_MSEC;
        r = docker_get(s, "/containers/json?all=1", &list, msg, sizeof(msg));
        if (r >= 0 && (!list || !json_object_is_type(list, json_type_array))) {
                snprintf(msg, sizeof(msg), "/containers/json: answer is not a list");
                r = -EBADMSG;
        }
        if (s->stopping)
                return 0; /* a hung engine must not hold the exit; nothing to say about it */
        if (r < 0) {
                source_failed(c, s, msg);
                collector_batch_add_empty(c, RT_container);
                return collector_batch_commit(c);
        }

        size_t n = MIN(json_object_array_length(list), (size_t)DOCKER_MAX_CONTAINERS);
        _cleanup_free_ json_object **items = calloc(MAX(n, 1u), sizeof(*items));
        if (!items)
                return log_error_errno(-ENOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(list, i);
                if (e && json_object_is_type(e, json_type_object))
                        items[k++] = e;
        }
        qsort(items, k, sizeof(*items), cmp_by_name);

        bool timed_out = false;
        s->n_cur = 0;
        for (size_t i = 0; i < k; i++)
                add_container(c, s, items[i], &timed_out);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_container);

        /* The samples of this cycle are the baseline of the next. */
        struct sample *t = s->prev;
        s->prev = s->cur;
        s->n_prev = s->n_cur;
        s->cur = t;
        s->n_cur = 0;

        if (s->stopping)
                return 0; /* cut short by SIGTERM: a partial list would hide containers */
        s->backoff_ms = 0;
        s->next_try_ns = 0;
        if (timed_out)
                collector_source_status(c, s->socket, true,
                                        "degraded: details cut short after %u ms", s->timeout_ms);
        else
                collector_source_status(c, s->socket, true, "%zu containers", k);
        return collector_batch_commit(c);
}

static int docker_run(struct collector *c)
{
        struct docker_state *s = collector_state(c);
        s->http.cancel_fd = collector_stop_fd(); /* SIGTERM cuts a hung engine short */
        int r = docker_cycle(c);
        /* Idle between cycles: no open connection, no big buffer kept. */
        http_unix_close(&s->http);
        http_unix_trim(&s->http, 64 << 10);
        return r;
}

static int docker_command(struct collector *c, const struct collector_command *cmd)
{
        struct docker_state *s = collector_state(c);
        return docker_control_command(c, s->socket, &s->worker, cmd);
}

static int docker_parse_option(struct collector *c, int opt, const char *arg)
{
        struct docker_state *s = collector_state(c);
        uint64_t v;
        switch (opt) {
        case OPT_SOCKET:
                if (!*arg || strlen(arg) >= 108) {
                        log_error("--socket: '%s' is not a usable unix socket path", arg);
                        return -EINVAL;
                }
                s->socket = arg;
                return 0;
        case OPT_TIMEOUT:
                if (safe_atou64(arg, &v) < 0 || v < 10 || v > 600000) {
                        log_error("--timeout: '%s' is not a number of milliseconds (10..600000)",
                                  arg);
                        return -EINVAL;
                }
                s->timeout_ms = (uint32_t)v;
                return 0;
        case OPT_NO_STATS:
                s->stats_from_flag = true;
                return 0;
        }
        return -EINVAL;
}

/* [collector.docker] stats, unless --no-stats: at start and on SIGHUP. */
static void apply_conf_stats(struct collector *c)
{
        struct docker_state *s = collector_state(c);
        s->stats =
            !s->stats_from_flag && conf_get_bool(collector_conf(c), "collector.docker", "stats");
}

static void docker_reload(struct collector *c)
{
        struct docker_state *s = collector_state(c);
        bool before = s->stats;
        apply_conf_stats(c);
        if (s->stats != before)
                log_info("per-container stats %s", s->stats ? "on" : "off");
}

static int docker_init(struct collector *c)
{
        struct docker_state *s = collector_state(c);
        const struct conf *cfg = collector_conf(c);
        /* --socket, else $RINGHUB_DOCKER_SOCKET, else the file's socket, else the default. */
        if (!s->socket && getenv("RINGHUB_DOCKER_SOCKET") && *getenv("RINGHUB_DOCKER_SOCKET"))
                s->socket = getenv("RINGHUB_DOCKER_SOCKET");
        if (!s->socket && conf_is_set(cfg, "collector.docker", "socket")) {
                const char *v = conf_get_string(cfg, "collector.docker", "socket");
                if (!v || !*v) {
                        log_error("[collector.docker] socket is empty: no engine to ask");
                        return -ENODEV;
                }
                if (strscpy(s->socket_buf, sizeof(s->socket_buf), v)) {
                        log_error("[collector.docker] socket: '%s' is too long for a unix socket",
                                  v);
                        return -EINVAL;
                }
                s->socket = s->socket_buf;
        }
        if (!s->socket)
                s->socket = DOCKER_DEFAULT_SOCKET;
        apply_conf_stats(c);
        if (!s->timeout_ms)
                s->timeout_ms = MIN(5000u, MAX(collector_interval_ms(c, 0) * 3 / 4, 10u));
        http_unix_init(&s->http, s->socket, "ringhub-collect-docker", DOCKER_BODY_MAX);
        s->prev = calloc(DOCKER_MAX_CONTAINERS, sizeof(*s->prev));
        s->cur = calloc(DOCKER_MAX_CONTAINERS, sizeof(*s->cur));
        if (!s->prev || !s->cur)
                return log_error_errno(-ENOMEM, "out of memory");
        log_info("engine at %s, timeout %u ms%s", s->socket, s->timeout_ms,
                 s->stats ? "" : ", no per-container stats");
        return 0;
}

static void docker_done(struct collector *c)
{
        struct docker_state *s = collector_state(c);
        s->worker = collector_worker_free(s->worker);
        if (s->http.socket_path) /* initialized */
                http_unix_done(&s->http);
        free(s->prev);
        free(s->cur);
}

static const struct option docker_options[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "no-stats", no_argument, NULL, OPT_NO_STATS },
        {},
};

static const struct collector_ops docker_ops = {
        .name = "docker",
        .description = "containers from the Docker Engine API",
        .tasks = { { "containers", 10000, docker_run } },
        .state_size = sizeof(struct docker_state),
        .options = docker_options,
        .options_help = "  --socket PATH        engine socket (default " DOCKER_DEFAULT_SOCKET
                        ", $RINGHUB_DOCKER_SOCKET)\n"
                        "  --timeout MS         budget for one cycle's requests (default min(5000, "
                        "3/4 interval))\n"
                        "  --no-stats           skip per-container CPU/memory/network stats\n",
        .parse_option = docker_parse_option,
        .init = docker_init,
        .done = docker_done,
        .reload = docker_reload,
        .command = docker_command,
};

int main(int argc, char **argv)
{
        return collector_main(&docker_ops, argc, argv);
}
