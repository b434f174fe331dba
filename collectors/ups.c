/*
 * ups.c — ringhub-collect-ups: the UPS from NUT's upsd or apcupsd's NIS.
 *
 * Runs as its own process. One task (default 10 s) asks the configured servers in order —
 * NUT (`--nut [UPS@]HOST:PORT`) then apcupsd (`--apcupsd HOST:PORT`); with neither,
 * the local NUT server 127.0.0.1:3493 — and writes one `ups` record: the first that answers with
 * data, or {connected:false} when none does. NUT: `LIST UPS` (when no UPS name is given), `LIST VAR
 * <ups>`, `LOGOUT` over one short TCP connection. NIS: the 2-byte-length framed `status` request
 * and its framed `KEY : VALUE` lines up to the empty frame.
 *
 * Status words are mapped to ONLINE/ONBATT/LOWBATT (LB wins over OB, OB over OL); the
 * server's words are kept in raw_status. Power is the real power when reported, else
 * nominal real power × load. Every connection, send and receive shares one deadline
 * (--timeout, default min(5 s, ¾ interval)); a failing server is retried with backoff.
 * `--nut none` without `--apcupsd` means no UPS can ever appear: exit 4.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "net.h"
#include "util.h"

#define NUT_DEFAULT    "127.0.0.1:3493"
#define REPLY_MAX      (64u * 1024)
#define BACKOFF_MAX_MS 60000u

enum { OPT_NUT = 0x200, OPT_APCUPSD, OPT_TIMEOUT };
enum ups_kind { UPS_NUT, UPS_APCUPSD };

struct ups_server {
        enum ups_kind kind;
        char host[128];
        char port[8];
        char ups[64];   /* NUT UPS name; "" = the first one listed */
        char label[96]; /* source name in source_status */
        uint64_t next_try_ns;
        uint32_t backoff_ms;
};

struct ups_state {
        struct ups_server servers[2];
        unsigned n_servers;
        bool nut_off;
        uint32_t timeout_ms;
        uint64_t deadline_ns;
        char buf[REPLY_MAX + 1];
        size_t len;
};

/* ---- a TCP client with one deadline (common/net.c) ---- */

static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
        return net_wait_fd(fd, events, collector_stop_fd(), deadline_ns);
}

static int tcp_connect(const struct ups_server *srv, uint64_t deadline_ns)
{
        return net_connect_tcp(srv->host, srv->port, 0, -1, deadline_ns);
}

static int send_all(int fd, const void *data, size_t n, uint64_t deadline_ns)
{
        const char *p = data;
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        int r = wait_fd(fd, POLLOUT, deadline_ns);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

/* Read more into s->buf. 0 on data, -ECONNRESET at EOF, -EMSGSIZE when full. */
static int recv_more(struct ups_state *s, int fd)
{
        if (s->len >= REPLY_MAX)
                return -EMSGSIZE;
        for (;;) {
                ssize_t k = recv(fd, s->buf + s->len, REPLY_MAX - s->len, 0);
                if (k > 0) {
                        s->len += (size_t)k;
                        s->buf[s->len] = 0;
                        return 0;
                }
                if (k == 0)
                        return -ECONNRESET;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
                int r = wait_fd(fd, POLLIN, s->deadline_ns);
                if (r < 0)
                        return r;
        }
}

/* ---- values ---- */

static double num_prefix(const char *v)
{
        char *end;
        if (!v)
                return NAN;
        while (*v == ' ')
                v++;
        double d = strtod(v, &end);
        if (end == v || !isfinite(d))
                return NAN;
        return d;
}

static bool has_word(const char *words, const char *w)
{
        size_t n = strlen(w);
        for (const char *p = words; (p = strstr(p, w)); p += n)
                if ((p == words || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
                        return true;
        return false;
}

static void map_status(struct rec_ups *u, const char *raw, bool apc)
{
        strscpy(u->raw_status, sizeof(u->raw_status), raw);
        if (has_word(raw, apc ? "LOWBATT" : "LB"))
                strscpy(u->status, sizeof(u->status), "LOWBATT");
        else if (has_word(raw, apc ? "ONBATT" : "OB"))
                strscpy(u->status, sizeof(u->status), "ONBATT");
        else if (has_word(raw, apc ? "ONLINE" : "OL"))
                strscpy(u->status, sizeof(u->status), "ONLINE");
        else {
                char w[16];
                strscpy(w, sizeof(w), raw);
                w[strcspn(w, " ")] = 0;
                strscpy(u->status, sizeof(u->status), w[0] ? w : "UNKNOWN");
        }
}

static void finish_power(struct rec_ups *u, double real, double nominal)
{
        /* A nominal power of 0 (apcupsd's default) means unknown. */
        if (!isnan(nominal) && nominal > 0)
                u->nominal_power_watts = nominal;
        if (!isnan(real) && real >= 0)
                u->power_watts = real;
        else if (!isnan(nominal) && nominal > 0 && !isnan(u->load_percent))
                u->power_watts = nominal * u->load_percent / 100.0;
}

static void set_pct(double *dst, double v)
{
        if (!isnan(v) && v >= 0 && v <= 1000)
                *dst = v;
}

static void set_volts(double *dst, double v)
{
        if (!isnan(v) && v >= 0 && v < 100000)
                *dst = v;
}

/* ---- NUT ---- */

/* Next complete line from the buffer at *pos, reading more as needed. */
static int nut_line(struct ups_state *s, int fd, size_t *pos, char **ret)
{
        for (;;) {
                char *nl = memchr(s->buf + *pos, '\n', s->len - *pos);
                if (nl) {
                        *nl = 0;
                        if (nl > s->buf + *pos && nl[-1] == '\r')
                                nl[-1] = 0;
                        *ret = s->buf + *pos;
                        *pos = (size_t)(nl - s->buf) + 1;
                        return 0;
                }
                if (*pos > 0) { /* keep the buffer small: drop consumed lines */
                        memmove(s->buf, s->buf + *pos, s->len - *pos);
                        s->len -= *pos;
                        *pos = 0;
                }
                int r = recv_more(s, fd);
                if (r < 0)
                        return r;
        }
}

/* Unquote "value" with \" and \\ escapes in place. */
static char *nut_unquote(char *p)
{
        if (*p != '"')
                return p;
        char *o = ++p, *out = p;
        for (; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                        p++;
                *o++ = *p;
        }
        *o = 0;
        return out;
}

static int nut_query(struct ups_state *s, struct ups_server *srv, struct rec_ups *u, char *msg,
                     size_t msz)
{
        _cleanup_close_ int fd = tcp_connect(srv, s->deadline_ns);
        char cmd[128], ups[64], *line;
        size_t pos = 0;
        int r;

        if (fd < 0) {
                snprintf(msg, msz, "cannot connect: %s", strerror(-fd));
                return fd;
        }
        s->len = 0;
        strscpy(ups, sizeof(ups), srv->ups);
        if (!ups[0]) {
                r = send_all(fd, "LIST UPS\n", 9, s->deadline_ns);
                if (r < 0)
                        goto io_fail;
                for (;;) {
                        r = nut_line(s, fd, &pos, &line);
                        if (r < 0)
                                goto io_fail;
                        if (startswith(line, "ERR ")) {
                                snprintf(msg, msz, "LIST UPS: %.100s", line);
                                return -EPROTO;
                        }
                        if (startswith(line, "UPS ") && !ups[0]) {
                                char *n = line + 4;
                                n[strcspn(n, " ")] = 0;
                                strscpy(ups, sizeof(ups), n);
                        }
                        if (startswith(line, "END LIST UPS"))
                                break;
                        if (!startswith(line, "BEGIN LIST UPS") && !startswith(line, "UPS ")) {
                                snprintf(msg, msz, "LIST UPS: unexpected answer");
                                return -EBADMSG;
                        }
                }
                if (!ups[0]) {
                        snprintf(msg, msz, "upsd serves no UPS");
                        return -ENODEV;
                }
        }
        if (strspn(ups, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
            strlen(ups)) {
                snprintf(msg, msz, "unusable UPS name");
                return -EBADMSG;
        }
        snprintf(cmd, sizeof(cmd), "LIST VAR %s\n", ups);
        r = send_all(fd, cmd, strlen(cmd), s->deadline_ns);
        if (r < 0)
                goto io_fail;

        double charge = NAN, runtime = NAN, load = NAN, in_v = NAN, out_v = NAN, real = NAN,
               nominal = NAN, batt_v = NAN;
        char status[64] = "", model[64] = "", dmodel[64] = "";
        bool begun = false;
        for (;;) {
                r = nut_line(s, fd, &pos, &line);
                if (r < 0)
                        goto io_fail;
                if (startswith(line, "ERR ")) {
                        snprintf(msg, msz, "LIST VAR %.40s: %.80s", ups, line);
                        return -EPROTO;
                }
                if (startswith(line, "BEGIN LIST VAR")) {
                        begun = true;
                        continue;
                }
                if (startswith(line, "END LIST VAR"))
                        break;
                if (!begun || !startswith(line, "VAR ")) {
                        snprintf(msg, msz, "LIST VAR: unexpected answer");
                        return -EBADMSG;
                }
                char *p = line + 4;
                p += strcspn(p, " "); /* the UPS name */
                p += strspn(p, " ");
                char *key = p;
                p += strcspn(p, " ");
                if (!*p)
                        continue;
                *p++ = 0;
                const char *val = nut_unquote(p + strspn(p, " "));
                if (!strcmp(key, "ups.status"))
                        strscpy(status, sizeof(status), val);
                else if (!strcmp(key, "ups.model"))
                        strscpy(model, sizeof(model), val);
                else if (!strcmp(key, "device.model"))
                        strscpy(dmodel, sizeof(dmodel), val);
                else if (!strcmp(key, "battery.charge"))
                        charge = num_prefix(val);
                else if (!strcmp(key, "battery.runtime"))
                        runtime = num_prefix(val);
                else if (!strcmp(key, "ups.load"))
                        load = num_prefix(val);
                else if (!strcmp(key, "input.voltage"))
                        in_v = num_prefix(val);
                else if (!strcmp(key, "output.voltage"))
                        out_v = num_prefix(val);
                else if (!strcmp(key, "ups.realpower"))
                        real = num_prefix(val);
                else if (!strcmp(key, "ups.realpower.nominal"))
                        nominal = num_prefix(val);
                else if (!strcmp(key, "battery.voltage"))
                        batt_v = num_prefix(val);
        }
        (void)send_all(fd, "LOGOUT\n", 7, s->deadline_ns);

        if (!status[0] || has_word(status, "WAIT")) {
                snprintf(msg, msz, "UPS %.40s: no data from its driver yet", ups);
                return -EAGAIN;
        }
        u->connected = 1;
        strscpy(u->name, sizeof(u->name), ups);
        strscpy(u->source, sizeof(u->source), "nut");
        strscpy(u->model, sizeof(u->model), model[0] ? model : dmodel);
        map_status(u, status, false);
        set_pct(&u->battery_charge_percent, charge);
        if (!isnan(runtime) && runtime >= 0 && runtime < 1e9)
                u->battery_runtime_seconds = (uint64_t)runtime;
        set_pct(&u->load_percent, load);
        set_volts(&u->input_voltage, in_v);
        set_volts(&u->output_voltage, out_v);
        set_volts(&u->battery_voltage, batt_v);
        finish_power(u, real, nominal);
        snprintf(msg, msz, "UPS %.40s", ups);
        return 0;

io_fail:
        snprintf(msg, msz, "%s",
                 r == -ETIMEDOUT    ? "no answer within the timeout"
                 : r == -ECONNRESET ? "connection closed mid-answer"
                 : r == -EMSGSIZE   ? "answer too large"
                                    : strerror(-r));
        return r;
}

/* ---- apcupsd NIS ---- */

static int nis_query(struct ups_state *s, struct ups_server *srv, struct rec_ups *u, char *msg,
                     size_t msz)
{
        _cleanup_close_ int fd = tcp_connect(srv, s->deadline_ns);
        static const char req[] = "\0\6status";
        int r;

        if (fd < 0) {
                snprintf(msg, msz, "cannot connect: %s", strerror(-fd));
                return fd;
        }
        r = send_all(fd, req, sizeof(req) - 1, s->deadline_ns);
        if (r < 0)
                goto io_fail;

        double charge = NAN, timeleft = NAN, load = NAN, in_v = NAN, out_v = NAN, nominal = NAN,
               batt_v = NAN;
        char status[64] = "", model[64] = "", name[64] = "";
        size_t pos = 0;
        s->len = 0;
        for (;;) {
                while (s->len - pos < 2)
                        if ((r = recv_more(s, fd)) < 0)
                                goto io_fail;
                size_t n = ((size_t)(uint8_t)s->buf[pos] << 8) | (uint8_t)s->buf[pos + 1];
                if (n == 0)
                        break;
                while (s->len - pos < 2 + n)
                        if ((r = recv_more(s, fd)) < 0)
                                goto io_fail;
                char line[512];
                size_t m = MIN(n, sizeof(line) - 1);
                memcpy(line, s->buf + pos + 2, m);
                line[m] = 0;
                pos += 2 + n;

                char *colon = strchr(line, ':');
                if (!colon) {
                        snprintf(msg, msz, "NIS: a line without ':'");
                        return -EBADMSG;
                }
                *colon = 0;
                char *key = strstrip(line), *val = strstrip(colon + 1);
                if (!strcmp(key, "STATUS"))
                        strscpy(status, sizeof(status), val);
                else if (!strcmp(key, "MODEL"))
                        strscpy(model, sizeof(model), val);
                else if (!strcmp(key, "UPSNAME"))
                        strscpy(name, sizeof(name), val);
                else if (!strcmp(key, "BCHARGE"))
                        charge = num_prefix(val);
                else if (!strcmp(key, "TIMELEFT"))
                        timeleft = num_prefix(val);
                else if (!strcmp(key, "LOADPCT"))
                        load = num_prefix(val);
                else if (!strcmp(key, "LINEV"))
                        in_v = num_prefix(val);
                else if (!strcmp(key, "OUTPUTV"))
                        out_v = num_prefix(val);
                else if (!strcmp(key, "NOMPOWER"))
                        nominal = num_prefix(val);
                else if (!strcmp(key, "BATTV"))
                        batt_v = num_prefix(val);
        }
        if (!status[0]) {
                snprintf(msg, msz, "NIS: no STATUS line");
                return -EBADMSG;
        }
        if (has_word(status, "COMMLOST")) {
                snprintf(msg, msz, "apcupsd lost contact with the UPS");
                return -ENOLINK;
        }
        u->connected = 1;
        strscpy(u->name, sizeof(u->name), name);
        strscpy(u->source, sizeof(u->source), "apcupsd");
        strscpy(u->model, sizeof(u->model), model);
        map_status(u, status, true);
        set_pct(&u->battery_charge_percent, charge);
        if (!isnan(timeleft) && timeleft >= 0 && timeleft < 1e7)
                u->battery_runtime_seconds = (uint64_t)llround(timeleft * 60.0);
        set_pct(&u->load_percent, load);
        set_volts(&u->input_voltage, in_v);
        set_volts(&u->output_voltage, out_v);
        set_volts(&u->battery_voltage, batt_v);
        finish_power(u, NAN, nominal);
        snprintf(msg, msz, "UPS %.40s", name[0] ? name : model);
        return 0;

io_fail:
        snprintf(msg, msz, "%s",
                 r == -ETIMEDOUT    ? "no answer within the timeout"
                 : r == -ECONNRESET ? "connection closed mid-answer"
                 : r == -EMSGSIZE   ? "answer too large"
                                    : strerror(-r));
        return r;
}

/* ---- the cycle ---- */

static int ups_run(struct collector *c)
{
        struct ups_state *s = collector_state(c);
        struct rec_ups u;
        char msg[160];

        record_init_missing(RT_ups, &u);
        s->deadline_ns = mono_ns() + (uint64_t)s->timeout_ms * NSEC_PER_MSEC;
        for (unsigned i = 0; i < s->n_servers; i++) {
                struct ups_server *srv = &s->servers[i];
                if (mono_ns() < srv->next_try_ns)
                        continue;
                record_init_missing(RT_ups, &u);
                int r = srv->kind == UPS_NUT ? nut_query(s, srv, &u, msg, sizeof(msg))
                                             : nis_query(s, srv, &u, msg, sizeof(msg));
                if (r == -ECANCELED)
                        return 0; /* stopping: say nothing about a server cut short */
                if (r >= 0) {
                        srv->backoff_ms = 0;
                        srv->next_try_ns = 0;
                        collector_source_status(c, srv->label, true, "%s", msg);
                        return collector_emit(c, RT_ups, &u);
                }
                uint32_t iv = collector_interval_ms(c, 0);
                srv->backoff_ms =
                    srv->backoff_ms ? MIN(srv->backoff_ms * 2, MIN(BACKOFF_MAX_MS, 8 * iv)) : iv;
                srv->next_try_ns = mono_ns() + (uint64_t)srv->backoff_ms * NSEC_PER_MSEC;
                collector_source_status(c, srv->label, false, "%s", msg);
                /* The next server gets a fresh budget of its own. */
                s->deadline_ns = mono_ns() + (uint64_t)s->timeout_ms * NSEC_PER_MSEC;
        }
        record_init_missing(RT_ups, &u);
        u.connected = 0;
        return collector_emit(c, RT_ups, &u);
}

static int parse_hostport(const char *arg, const char *def_port, struct ups_server *srv)
{
        char buf[200];
        const char *at = strchr(arg, '@');
        srv->ups[0] = 0;
        if (at) {
                if ((size_t)(at - arg) >= sizeof(srv->ups) || at == arg)
                        return -EINVAL;
                memcpy(srv->ups, arg, (size_t)(at - arg));
                srv->ups[at - arg] = 0;
                arg = at + 1;
        }
        if (strscpy(buf, sizeof(buf), arg))
                return -EINVAL;
        char *host = buf, *port = NULL;
        if (*host == '[') {
                char *close_ = strchr(host, ']');
                if (!close_)
                        return -EINVAL;
                *close_ = 0;
                host++;
                if (close_[1] == ':')
                        port = close_ + 2;
                else if (close_[1])
                        return -EINVAL;
        } else {
                char *colon = strrchr(host, ':');
                if (colon && colon == strchr(host, ':')) { /* one colon: not a bare IPv6 */
                        *colon = 0;
                        port = colon + 1;
                }
        }
        uint64_t p;
        if (!*host || (port && (safe_atou64(port, &p) < 0 || p == 0 || p > 65535)))
                return -EINVAL;
        if (strscpy(srv->host, sizeof(srv->host), host))
                return -EINVAL;
        strscpy(srv->port, sizeof(srv->port), port ? port : def_port);
        return 0;
}

static int ups_parse_option(struct collector *c, int opt, const char *arg)
{
        struct ups_state *s = collector_state(c);
        uint64_t v;
        switch (opt) {
        case OPT_NUT:
        case OPT_APCUPSD: {
                bool nut = opt == OPT_NUT;
                if (nut && (strcmp(arg, "none") == 0 || strcmp(arg, "off") == 0)) {
                        s->nut_off = true;
                        return 0;
                }
                if (s->n_servers >= ELEMENTSOF(s->servers)) {
                        log_error("--nut and --apcupsd may each be given once");
                        return -EINVAL;
                }
                struct ups_server *srv = &s->servers[s->n_servers];
                *srv = (struct ups_server){ .kind = nut ? UPS_NUT : UPS_APCUPSD };
                if (parse_hostport(arg, nut ? "3493" : "3551", srv) < 0 || (!nut && srv->ups[0])) {
                        log_error("--%s: '%s' is not %sHOST[:PORT]", nut ? "nut" : "apcupsd", arg,
                                  nut ? "[UPS@]" : "");
                        return -EINVAL;
                }
                s->n_servers++;
                return 0;
        }
        case OPT_TIMEOUT:
                if (safe_atou64(arg, &v) < 0 || v < 10 || v > 600000) {
                        log_error("--timeout: '%s' is not a number of milliseconds (10..600000)",
                                  arg);
                        return -EINVAL;
                }
                s->timeout_ms = (uint32_t)v;
                return 0;
        }
        return -EINVAL;
}

/*
 * No --nut/--apcupsd flag: [collector.ups] driver, server and name. A file that leaves
 * them all out keeps the local NUT server; apcupsd without a server is the local NIS.
 */
static int ups_from_conf(struct collector *c)
{
        struct ups_state *s = collector_state(c);
        const struct conf *cfg = collector_conf(c);
        const char *sec = "collector.ups";
        if (!conf_is_set(cfg, sec, "driver") && !conf_is_set(cfg, sec, "server") &&
            !conf_is_set(cfg, sec, "name"))
                return 0;
        const char *driver = conf_get_string(cfg, sec, "driver");
        bool nut = !driver || strcmp(driver, "apcupsd") != 0;
        const char *server = conf_is_set(cfg, sec, "server") ? conf_get_string(cfg, sec, "server")
                             : nut                           ? NUT_DEFAULT
                                                             : "127.0.0.1:3551";
        const char *name = conf_get_string(cfg, sec, "name");
        struct ups_server *srv = &s->servers[0];
        *srv = (struct ups_server){ .kind = nut ? UPS_NUT : UPS_APCUPSD };
        if (!server || startswith(server, "*:") ||
            parse_hostport(server, nut ? "3493" : "3551", srv) < 0 || srv->ups[0]) {
                log_error("[collector.ups] server: '%s' is not HOST:PORT", server ? server : "");
                return -EINVAL;
        }
        if (name && *name) {
                if (!nut)
                        log_warning("[collector.ups] name is for NUT; apcupsd ignores it");
                else if (strscpy(srv->ups, sizeof(srv->ups), name)) {
                        log_error("[collector.ups] name: '%s' is too long", name);
                        return -EINVAL;
                }
        }
        s->n_servers = 1;
        return 0;
}

static int ups_init(struct collector *c)
{
        struct ups_state *s = collector_state(c);
        bool have_nut = false;
        if (s->n_servers == 0 && !s->nut_off) {
                int r = ups_from_conf(c);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < s->n_servers; i++)
                have_nut |= s->servers[i].kind == UPS_NUT;
        if (s->nut_off && have_nut) {
                log_error("--nut none and --nut HOST:PORT contradict each other");
                return -EINVAL;
        }
        if (s->n_servers == 0 && !s->nut_off) {
                /* Nothing configured: the local NUT server. */
                s->servers[0] = (struct ups_server){ .kind = UPS_NUT };
                (void)parse_hostport(NUT_DEFAULT, "3493", &s->servers[0]);
                s->n_servers = 1;
        }
        if (s->n_servers == 0) {
                log_info("NUT is configured off and no apcupsd is given: no UPS can appear");
                return -ENODEV;
        }
        for (unsigned i = 0; i < s->n_servers; i++) {
                struct ups_server *srv = &s->servers[i];
                bool v6 = strchr(srv->host, ':') != NULL;
                char label[sizeof(srv->label)];
                snprintf(label, sizeof(label), "%s:%s%.48s%s:%.5s%s%.24s",
                         srv->kind == UPS_NUT ? "nut" : "apcupsd", v6 ? "[" : "", srv->host,
                         v6 ? "]" : "", srv->port, srv->ups[0] ? "/" : "", srv->ups);
                strscpy(srv->label, sizeof(srv->label), label);
                log_info("UPS source %s", srv->label);
        }
        if (!s->timeout_ms)
                s->timeout_ms = MIN(5000u, MAX(collector_interval_ms(c, 0) * 3 / 4, 10u));
        return 0;
}

static const struct option ups_options[] = {
        { "nut", required_argument, NULL, OPT_NUT },
        { "apcupsd", required_argument, NULL, OPT_APCUPSD },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        {},
};

static const struct collector_ops ups_ops = {
        .name = "ups",
        .description = "the UPS from NUT upsd or apcupsd NIS",
        .tasks = { { "ups", 10000, ups_run } },
        .state_size = sizeof(struct ups_state),
        .options = ups_options,
        .options_help =
            "  --nut [UPS@]HOST[:PORT]  NUT upsd (default " NUT_DEFAULT "); 'none' turns NUT off\n"
            "  --apcupsd HOST[:PORT]    apcupsd NIS (port 3551); with --nut, asked after it\n"
            "  --timeout MS         budget for one server's answer (default min(5000, "
            "3/4 interval))\n",
        .parse_option = ups_parse_option,
        .init = ups_init,
};

int main(int argc, char **argv)
{
        return collector_main(&ups_ops, argc, argv);
}
