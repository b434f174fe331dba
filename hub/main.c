/*
 * main.c — ringhub: the hub daemon's entry point. Parses arguments and wires the parts.
 *
 * Process: ringhub. Order: attach to the ring as its single consumer, start the reader
 * thread (it rebuilds state from what the ring still holds), start libmicrohttpd, take
 * the listening socket (systemd's fd 3 or --listen), wait until state is rebuilt, then
 * run the lws loop (loop.c, which sends READY=1) until SIGTERM. It also wires what
 * follows a reload (tokens re-read on SIGHUP). Nothing here serves requests.
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 usage, 3 ring incompatible or busy.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "alarms_hub.h"
#include "commands.h"
#include "config.h"
#include "events.h"
#include "fanout.h"
#include "hub.h"
#include "hubconf.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "macros.h"
#include "mqtt.h"
#include "reader.h"
#include "rest.h"
#include "session.h"
#include "state.h"
#include "tls.h"
#include "tokens.h"
#include "util.h"

#define DEFAULT_LISTEN "127.0.0.1:8043"

static void help(void)
{
        printf(
            "Usage: ringhub [OPTIONS]\n\n"
            "The ringhub hub: ring -> state -> WebSocket and REST on one port.\n\n"
            "  --ring NAME             ring name (default $RINGHUB_RING or 'ringhub')\n"
            "  --listen ADDR:PORT      listen here when not socket-activated\n"
            "                          (default " DEFAULT_LISTEN "; [v6]:PORT for IPv6)\n"
            "  --max-clients N         WebSocket clients (default 100)\n"
            "  --max-message BYTES     inbound WebSocket message size (default 16384)\n"
            "  --ping-interval SECS    ping an idle client after (default 30)\n"
            "  --read-timeout SECS     hang up on a silent client after (default 60)\n"
            "  --queue N               queued messages per client (default 256)\n"
            "  --slow-timeout MS       close a client conflating this long (default 10000)\n"
            "  --head-timeout MS       a request head must arrive within (default 10000)\n"
            "  --max-pending N         connections waiting for their head (default 1024)\n"
            "  --http-connections N    REST connections (default 1000)\n"
            "  --rest-rate N           REST requests/s per client address (default 50, 0 = off)\n"
            "  --tls-cert PATH         TLS certificate chain (PEM): https:// and wss://\n"
            "                          on the same port\n"
            "  --tls-key PATH          TLS private key (PEM; default: in --tls-cert)\n"
            "  --tls-only on|off       with a certificate: refuse plain HTTP (default on)\n"
            "  --max-pending-per-address N\n"
            "                          waiting heads from one address (default 64)\n"
            "  --http-connections-per-address N\n"
            "                          REST connections of one address (default 256)\n"
            "  --auth MODE             off, token or jwt (default off)\n"
            "  --token-file PATH       API tokens, lines 'TOKEN ROLE [NAME]'\n"
            "  --jwt-secret-file PATH  HS256 secret for --auth jwt\n"
            "  --control on|off        with --auth off: accept commands (default off)\n"
            "  --auth-timeout SECS     /ws and Socket.IO clients must authenticate within\n"
            "                          (default 10)\n"
            "  --alarms-file PATH      alarm definitions, a JSON array (docs/alarms.md)\n"
            "  --state-dir DIR         the hub's own files: history (default $STATE_DIRECTORY\n"
            "                          from systemd, else none: kept in memory)\n"
            "  --rate-limit N          inbound messages/s per client (default 20)\n"
            "  --max-events N          outbound events/s per client (default 1000)\n"
            "  --sio-ping-interval MS  Socket.IO pingInterval (default 25000)\n"
            "  --sio-ping-timeout MS   Socket.IO pingTimeout (default 20000)\n"
            "  --check-history FILE    check a history store file and exit (0 valid,\n"
            "                          1 torn tail or damaged, 2 unreadable)\n"
            "  --config FILE           configuration file (default /etc/ringhub/ringhub.conf,\n"
            "                          $RINGHUB_CONFIG); flags override it; SIGHUP re-reads it\n"
            "  -v, --verbose           debug logging\n"
            "  -h, --help              this help\n"
            "      --version           print the version\n");
}

static const char *arg_check_history;

/* ringhub --check-history FILE: the store's own check, for operators and tests. */
static int check_history(const char *path)
{
        struct history_check_result res;
        int r = history_check(path, &res);
        if (r < 0) {
                log_error_errno(r, "cannot read %s: %m", path);
                return 2;
        }
        printf("%s: %s; %llu alarms, %llu events, %llu logs, seq %llu..%llu, %llu valid "
               "bytes, %llu after them\n",
               path,
               r == 0           ? "valid"
               : r == 1         ? "torn tail (dropped when the hub opens it)"
               : res.bad_header ? "not a history store"
                                : "damaged (moved aside when the hub opens it)",
               (unsigned long long)res.records[HISTORY_ALARM],
               (unsigned long long)res.records[HISTORY_EVENT],
               (unsigned long long)res.records[HISTORY_LOG], (unsigned long long)res.first_seq,
               (unsigned long long)res.last_seq, (unsigned long long)res.good_bytes,
               (unsigned long long)res.bad_bytes);
        return r == 0 ? 0 : 1;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        uint64_t v;
        if (safe_atou64(s, &v) < 0 || v < min || v > max)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

static int parse_on_off(const char *s)
{
        return strcmp(s, "on") == 0 ? 1 : strcmp(s, "off") == 0 ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv)
{
        enum {
                ARG_RING = 0x100,
                ARG_LISTEN,
                ARG_MAX_CLIENTS,
                ARG_MAX_MESSAGE,
                ARG_PING,
                ARG_READ_TIMEOUT,
                ARG_QUEUE,
                ARG_SLOW,
                ARG_HEAD,
                ARG_PENDING,
                ARG_HTTP,
                ARG_PENDING_ADDR,
                ARG_HTTP_ADDR,
                ARG_REST_RATE,
                ARG_AUTH,
                ARG_TOKEN_FILE,
                ARG_JWT_SECRET_FILE,
                ARG_AUTH_TIMEOUT,
                ARG_RATE_LIMIT,
                ARG_MAX_EVENTS,
                ARG_SIO_PING,
                ARG_SIO_TIMEOUT,
                ARG_VERSION,
                ARG_CONFIG,
                ARG_CONTROL,
                ARG_TLS_CERT,
                ARG_TLS_KEY,
                ARG_TLS_ONLY,
                ARG_STATE_DIR,
                ARG_ALARMS_FILE,
                ARG_CHECK_HISTORY,
        };
        static const struct option opts[] = {
                { "ring", required_argument, NULL, ARG_RING },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "max-clients", required_argument, NULL, ARG_MAX_CLIENTS },
                { "max-message", required_argument, NULL, ARG_MAX_MESSAGE },
                { "ping-interval", required_argument, NULL, ARG_PING },
                { "read-timeout", required_argument, NULL, ARG_READ_TIMEOUT },
                { "queue", required_argument, NULL, ARG_QUEUE },
                { "slow-timeout", required_argument, NULL, ARG_SLOW },
                { "head-timeout", required_argument, NULL, ARG_HEAD },
                { "max-pending", required_argument, NULL, ARG_PENDING },
                { "http-connections", required_argument, NULL, ARG_HTTP },
                { "max-pending-per-address", required_argument, NULL, ARG_PENDING_ADDR },
                { "http-connections-per-address", required_argument, NULL, ARG_HTTP_ADDR },
                { "rest-rate", required_argument, NULL, ARG_REST_RATE },
                { "auth", required_argument, NULL, ARG_AUTH },
                { "token-file", required_argument, NULL, ARG_TOKEN_FILE },
                { "jwt-secret-file", required_argument, NULL, ARG_JWT_SECRET_FILE },
                { "auth-timeout", required_argument, NULL, ARG_AUTH_TIMEOUT },
                { "rate-limit", required_argument, NULL, ARG_RATE_LIMIT },
                { "max-events", required_argument, NULL, ARG_MAX_EVENTS },
                { "sio-ping-interval", required_argument, NULL, ARG_SIO_PING },
                { "sio-ping-timeout", required_argument, NULL, ARG_SIO_TIMEOUT },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "control", required_argument, NULL, ARG_CONTROL },
                { "tls-cert", required_argument, NULL, ARG_TLS_CERT },
                { "tls-key", required_argument, NULL, ARG_TLS_KEY },
                { "tls-only", required_argument, NULL, ARG_TLS_ONLY },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "alarms-file", required_argument, NULL, ARG_ALARMS_FILE },
                { "check-history", required_argument, NULL, ARG_CHECK_HISTORY },
                {},
        };
        struct hub_options *o = &hub.opt;
        *o = (struct hub_options){
                .max_clients = 100,
                .max_message = 16384,
                .ping_secs = 30,
                .read_timeout_secs = 60,
                .queue_len = 256,
                .slow_timeout_ms = 10000,
                .coalesce_us = 2000,
                .head_timeout_ms = 10000,
                .max_pending = 1024,
                .http_connections = 1000,
                .max_pending_per_address = 64,
                .http_connections_per_address = 256,
                .rest_rate = 50,
                .rest_burst = 100,
                .cors_origin = "*",
                .auth = "off",
                .auth_timeout_secs = 10,
                .rate_limit = 20,
                .max_events = 1000,
                .sio_ping_ms = 25000,
                .sio_timeout_ms = 20000,
                .diag_interval_ms = 1000,
                .tls_only = true,
        };
        /* The configuration file first; the flags below override it. */
        if (hubconf_load(argc, argv) < 0)
                return -EINVAL;
        int c;
        while ((c = getopt_long(argc, argv, "vh", opts, NULL)) >= 0) {
                int r = 0;
                switch (c) {
                case ARG_RING:
                        o->ring = optarg;
                        break;
                case ARG_LISTEN:
                        o->listen = optarg;
                        break;
                case ARG_MAX_CLIENTS:
                        r = parse_uint(optarg, 1, 100000, &o->max_clients);
                        break;
                case ARG_MAX_MESSAGE:
                        r = parse_uint(optarg, 64, 16 << 20, &o->max_message);
                        break;
                case ARG_PING:
                        r = parse_uint(optarg, 1, 3600, &o->ping_secs);
                        break;
                case ARG_READ_TIMEOUT:
                        r = parse_uint(optarg, 1, 3600, &o->read_timeout_secs);
                        break;
                case ARG_QUEUE:
                        r = parse_uint(optarg, 4, 65536, &o->queue_len);
                        break;
                case ARG_SLOW:
                        r = parse_uint(optarg, 0, 3600000, &o->slow_timeout_ms);
                        break;
                case ARG_HEAD:
                        r = parse_uint(optarg, 100, 3600000, &o->head_timeout_ms);
                        break;
                case ARG_PENDING:
                        r = parse_uint(optarg, 1, 100000, &o->max_pending);
                        break;
                case ARG_HTTP:
                        r = parse_uint(optarg, 1, 100000, &o->http_connections);
                        break;
                case ARG_PENDING_ADDR:
                        r = parse_uint(optarg, 1, 100000, &o->max_pending_per_address);
                        break;
                case ARG_HTTP_ADDR:
                        r = parse_uint(optarg, 1, 100000, &o->http_connections_per_address);
                        break;
                case ARG_REST_RATE:
                        r = parse_uint(optarg, 0, 100000, &o->rest_rate);
                        break;
                case ARG_AUTH:
                        o->auth = optarg;
                        r = tokens_mode_valid(optarg) ? 0 : -EINVAL;
                        break;
                case ARG_TOKEN_FILE:
                        o->token_file = optarg;
                        break;
                case ARG_JWT_SECRET_FILE:
                        o->jwt_secret_file = optarg;
                        break;
                case ARG_AUTH_TIMEOUT:
                        r = parse_uint(optarg, 1, 3600, &o->auth_timeout_secs);
                        break;
                case ARG_RATE_LIMIT:
                        r = parse_uint(optarg, 1, 1000000, &o->rate_limit);
                        break;
                case ARG_MAX_EVENTS:
                        r = parse_uint(optarg, 1, 10000000, &o->max_events);
                        break;
                case ARG_SIO_PING:
                        r = parse_uint(optarg, 100, 3600000, &o->sio_ping_ms);
                        break;
                case ARG_SIO_TIMEOUT:
                        r = parse_uint(optarg, 100, 3600000, &o->sio_timeout_ms);
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("ringhub " RINGHUB_VERSION);
                        return 0;
                case ARG_CONFIG:
                        break; /* read before the flags */
                case ARG_ALARMS_FILE:
                        o->alarms_file = optarg;
                        break;
                case ARG_CHECK_HISTORY:
                        arg_check_history = optarg;
                        break;
                case ARG_STATE_DIR:
                        o->state_dir = optarg;
                        r = optarg[0] == '/' ? 0 : -EINVAL;
                        break;
                case ARG_CONTROL:
                        r = parse_on_off(optarg);
                        if (r >= 0)
                                atomic_store(&o->control, r == 1);
                        break;
                case ARG_TLS_CERT:
                        o->tls_cert = *optarg ? optarg : NULL;
                        break;
                case ARG_TLS_KEY:
                        o->tls_key = *optarg ? optarg : NULL;
                        break;
                case ARG_TLS_ONLY:
                        r = parse_on_off(optarg);
                        if (r >= 0)
                                o->tls_only = r == 1;
                        break;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        const char *name = "?";
                        for (size_t i = 0; opts[i].name; i++)
                                if (opts[i].val == c)
                                        name = opts[i].name;
                        log_error("invalid value '%s' for --%s", optarg, name);
                        return -EINVAL;
                }
                /* The file's [hub] key of the same meaning must not undo this flag on reload. */
                static const struct {
                        int arg;
                        const char *key;
                } keys[] = {
                        { ARG_LISTEN, "listen" },
                        { ARG_MAX_CLIENTS, "max_clients" },
                        { ARG_MAX_MESSAGE, "max_message" },
                        { ARG_PING, "ping_interval" },
                        { ARG_READ_TIMEOUT, "read_deadline" },
                        { ARG_QUEUE, "queue" },
                        { ARG_SLOW, "slow_timeout" },
                        { ARG_HEAD, "head_timeout" },
                        { ARG_PENDING, "max_pending" },
                        { ARG_HTTP, "http_connections" },
                        { ARG_PENDING_ADDR, "max_pending_per_address" },
                        { ARG_HTTP_ADDR, "http_connections_per_address" },
                        { ARG_REST_RATE, "rest_rate" },
                        { ARG_AUTH, "auth" },
                        { ARG_TOKEN_FILE, "token_file" },
                        { ARG_JWT_SECRET_FILE, "jwt_secret_file" },
                        { ARG_RATE_LIMIT, "rate_limit" },
                        { ARG_CONTROL, "control" },
                        { ARG_TLS_CERT, "tls_cert" },
                        { ARG_TLS_KEY, "tls_key" },
                        { ARG_TLS_ONLY, "tls_only" },
                        { ARG_STATE_DIR, "state_dir" },
                        { ARG_ALARMS_FILE, "alarms_file" },
                };
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (keys[i].arg == c)
                                hubconf_flag(keys[i].key);
        }
        if (optind < argc) {
                log_error("unexpected argument '%s' (try --help)", argv[optind]);
                return -EINVAL;
        }
        if (o->ping_secs >= o->read_timeout_secs)
                o->ping_secs = MAX(1u, o->read_timeout_secs / 2);
        return 1;
}

static int listen_on(const char *spec)
{
        char host[256];
        const char *port;
        if (spec[0] == '[') {
                const char *e = strchr(spec, ']');
                if (!e || e[1] != ':' || (size_t)(e - spec - 1) >= sizeof(host))
                        return log_error_errno(-EINVAL, "bad --listen '%s' (want [ADDR]:PORT)",
                                               spec);
                memcpy(host, spec + 1, (size_t)(e - spec - 1));
                host[e - spec - 1] = 0;
                port = e + 2;
        } else {
                const char *e = strrchr(spec, ':');
                if (!e || (size_t)(e - spec) >= sizeof(host))
                        return log_error_errno(-EINVAL, "bad --listen '%s' (want ADDR:PORT)", spec);
                memcpy(host, spec, (size_t)(e - spec));
                host[e - spec] = 0;
                port = e + 1;
        }
        struct addrinfo hints = { .ai_family = AF_UNSPEC,
                                  .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST },
                        *res = NULL;
        int r = getaddrinfo(*host ? host : NULL, port, &hints, &res);
        if (r != 0)
                return log_error_errno(-EINVAL, "bad --listen '%s': %s", spec, gai_strerror(r));
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(res);
                return log_error_errno(r, "socket: %m");
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
                r = -errno;
                freeaddrinfo(res);
                close(fd);
                return log_error_errno(r, "cannot listen on %s: %m", spec);
        }
        freeaddrinfo(res);
        log_info("listening on %s", spec);
        return fd;
}

static int take_listen_fd(void)
{
        int n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "sd_listen_fds: %m");
        if (n > 1)
                return log_error_errno(-EINVAL, "expected one socket from systemd, got %d", n);
        if (n == 1) {
                int fd = SD_LISTEN_FDS_START;
                if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
                        return log_error_errno(-EINVAL,
                                               "fd %d from systemd is not a listening "
                                               "stream socket",
                                               fd);
                /* systemd hands it over blocking; the gate needs non-blocking accepts. */
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
                    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                        return log_error_errno(-errno, "fcntl on the activated socket: %m");
                log_info("using the socket from systemd (fd %d)", fd);
                return fd;
        }
        return listen_on(hub.opt.listen ? hub.opt.listen : DEFAULT_LISTEN);
}

static void reload_tokens(void *userdata)
{
        /* The token file and JWT secret are files of their own: re-read them as well. */
        if (tokens_reload() == 0)
                session_recheck_all(); /* live sessions lose what the new settings deny */
}

static void journal_reload(void *userdata)
{
        const struct journal_entry e = { .message = "configuration reloaded (SIGHUP)",
                                         .description = hubconf_reload_summary(),
                                         .classification = JOURNAL_CLASS_CONFIG,
                                         .priority = 4 };
        (void)journal_event(&e, NULL);
}

static int hub_main(int argc, char **argv)
{
        log_set_ident("ringhub");
        int r = parse_args(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (arg_check_history)
                return check_history(arg_check_history);
        tzset();
        signal(SIGPIPE, SIG_IGN);
        /* SIGTERM/SIGINT (and SIGHUP: reload) arrive through a signalfd in the lws loop. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);

        /* The socket first: a bad --listen (exit 2) or a taken port (exit 1) stops the hub
         * before it creates the ring or anything else. */
        _cleanup_close_ int lfd = take_listen_fd();
        if (lfd < 0)
                return lfd == -EINVAL ? 2 : 1;

        hub.start_ns = real_ns();
        if (tokens_init() < 0)
                return 2;
        (void)hubconf_add_reload_hook(reload_tokens, NULL);
        if (tls_init() < 0)
                return 2;
        (void)hubconf_add_reload_hook(tls_reload, NULL);
        /* The history: before anything can journal (commands, collectors, reloads). A
         * directory that cannot be used leaves it in memory only (logged). */
        const struct history_limits hl = { .last = { [HISTORY_ALARM] = hub.opt.history_alarms,
                                                     [HISTORY_EVENT] = hub.opt.history_events,
                                                     [HISTORY_LOG] = hub.opt.history_logs } };
        if (journal_open(hub.opt.state_dir, &hl) == -EINVAL)
                return 2;
        (void)hubconf_add_reload_hook(journal_reload, NULL);
        if (state_init() < 0)
                return 1;
        /* A client's latest state of a topic its dialect skipped is made from the state. */
        fanout_set_refresh(events_refresh_latest);

        /* Ring: --ring, else $RINGHUB_RING, else the config file's [ring] name. */
        const char *name = hub.opt.ring || getenv("RINGHUB_RING") ? ring_default_name(hub.opt.ring)
                                                                  : hubconf_ring_name();
        struct ring_abi_info abi = { 0 };
        struct ring_open_opts ro = { .create = true, .gid = (gid_t)-1 };
        hubconf_ring_opts(&ro);
        r = ring_open(name, &ro, &hub.ring, &abi);
        if (r == -EPROTONOSUPPORT) {
                log_error("ring %s has ABI %u (slot %u, header %u); this hub speaks ABI %u "
                          "(slot %u, header %u)",
                          name, abi.found_abi, abi.found_slot_size, abi.found_header_size,
                          RING_ABI_VERSION, RING_SLOT_SIZE, RING_HEADER_SIZE);
                return 3;
        }
        if (r < 0) {
                log_error_errno(r, "cannot open ring %s: %m", name);
                return 3;
        }
        r = ring_consumer_attach(hub.ring);
        if (r < 0) {
                log_error_errno(r, "another hub (pid %u) is attached to ring %s: %m",
                                (unsigned)atomic_load(&hub.ring->hdr->hub_pid), name);
                ring_close(hub.ring);
                return 3;
        }

        int exit_code = 1;
        struct MHD_Daemon *mhd = NULL;
        if (mqtt_start(argc, argv) < 0) /* an events sink: before anything publishes */
                goto out;
        if (alarms_hub_init(hub.opt.alarms_file, hub.opt.state_dir) < 0) /* a sink too */
                goto out;
        if (commands_start() < 0)
                goto out;
        if (reader_start() < 0)
                goto out;
        if (rest_start(&mhd) < 0)
                goto out;
        reader_wait_primed();
        log_info("attached to ring %s (capacity %u)", name, hub.ring->hdr->capacity);
        if (loop_run(lfd, mhd) >= 0)
                exit_code = 0;
out:
        mqtt_stop();     /* offline published; no new commands from …/set */
        commands_stop(); /* what is still in flight is answered before REST goes away */
        reader_stop();
        rest_stop(mhd);
        alarms_hub_free();
        mqtt_free();         /* every publishing thread has stopped */
        hub_handoff_clear(); /* what the reader rendered after the loop left */
        pthread_mutex_lock(&state_lock);
        state_free();
        pthread_mutex_unlock(&state_lock);
        hub_msg_pool_free(); /* every frame is unreferenced by now */
        ring_consumer_detach(hub.ring);
        ring_close(hub.ring);
        journal_close(); /* every thread that journals has stopped */
        tokens_free();
        log_info("stopped");
        return exit_code;
}

int main(int argc, char **argv)
{
        /* A one-off large buffer (the alarms file's, 4 MiB) must not leave glibc's
         * thresholds raised: what the hub frees when idle goes back. The arenas stay per
         * thread (the reader and the lws thread allocate concurrently). */
        malloc_lean(0);
        int r = hub_main(argc, argv);
        tls_free();     /* after lws and libmicrohttpd let go of their ends */
        hubconf_free(); /* every exit path, early ones included */
        return r;
}
