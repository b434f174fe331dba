/*
 * loop.c — the lws thread (see loop.h): set-up, signals, reload, watchdog, shutdown.
 *
 * Process: ringhub, main thread. Creates the lws context and vhost (no listener of its
 * own: the gate hands it adopted sockets), nests the signalfd, the gate's epoll and the
 * listening socket into lws as raw files, and services lws until stopped. The hand-off
 * wakes it with lws_cancel_service() (LWS_CALLBACK_EVENT_WAIT_CANCELLED), upon which the
 * fan-out drains it. SIGHUP re-reads the configuration (hubconf.c, which publishes
 * config.updated); SIGTERM closes every client with 1001 and leaves after they are gone
 * or 2 s. WATCHDOG=1 is sent from this thread (so it stops when this thread does) and
 * only while every other thread registered with hub_beat_register() (reader,
 * libmicrohttpd, commands, MQTT) has made progress within the period; each tick pokes
 * the idle ones so they show they are alive. Never blocks but in lws_service().
 */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "client.h"
#include "fanout.h"
#include "eio_poll.h"
#include "gate.h"
#include "hub.h"
#include "hubconf.h"
#include "log.h"
#include "macros.h"
#include "session.h"
#include "util.h"
#include "timers.h"

enum raw_kind { RAW_LISTEN = 1, RAW_EPOLL, RAW_SIGNAL, RAW_TIMERS };

static struct lws_context *ctx;
static struct lws_vhost *vh;
static int sig_fd = -EBADF;
static struct htimer watchdog_tm, shutdown_tm;
static bool exit_loop;
static uint64_t shutdown_started, watchdog_usec;
static lws_retry_bo_t retry_policy;
static struct lws_protocols protocols[3];

static void shutdown_timer(struct htimer *t)
{
        if (client_count() == 0 || mono_ns() - shutdown_started > 2 * NSEC_PER_SEC) {
                exit_loop = true;
                lws_cancel_service(ctx);
                return;
        }
        htimer_schedule(&shutdown_tm, shutdown_timer, 50 * LWS_US_PER_MS);
}

static void begin_shutdown(void)
{
        if (hub.shutting_down)
                return;
        hub.shutting_down = true;
        shutdown_started = mono_ns();
        sd_notify(0, "STOPPING=1");
        log_info("shutting down: closing %u clients", client_count());
        client_close_all(LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
        htimer_schedule(&shutdown_tm, shutdown_timer, 20 * LWS_US_PER_MS);
}

static void watchdog_timer(struct htimer *t)
{
        static const char *warned;
        /* Ping only while every registered thread beats too. */
        const char *stale = hub_beat_stale(watchdog_usec * 1000);
        if (!stale)
                sd_notify(0, "WATCHDOG=1");
        else if (stale != warned)
                log_error("watchdog: the %s thread has made no progress for %" PRIu64
                          " ms, not pinging systemd",
                          stale, watchdog_usec / 1000);
        warned = stale;
        hub_beat_poke_all();
        htimer_schedule(&watchdog_tm, watchdog_timer, (lws_usec_t)(watchdog_usec / 2));
}

static void signal_read(void)
{
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
                log_info("received signal %u", si.ssi_signo);
                if (si.ssi_signo == SIGHUP) {
                        hubconf_reload(); /* the config file and its hooks (tokens) */
                        continue;
                }
                begin_shutdown();
        }
}

static int raw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
        if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
                /* lws_cancel_service(): the hand-off has frames. */
                fanout_drain();
                return 0;
        }
        if (reason != LWS_CALLBACK_RAW_RX_FILE)
                return 0;
        switch ((intptr_t)lws_get_opaque_user_data(wsi)) {
        case RAW_LISTEN:
                gate_accept();
                break;
        case RAW_EPOLL:
                gate_events();
                break;
        case RAW_SIGNAL:
                signal_read();
                break;
        case RAW_TIMERS:
                htimers_run();
                break;
        }
        return 0;
}

static void lws_log(int level, const char *line)
{
        char buf[256];
        strscpy(buf, sizeof(buf), line);
        log_warning("lws: %s", strstrip(buf));
}

static int adopt_raw(int fd, enum raw_kind kind)
{
        /* lws closes what it adopts: give it a dup and keep ours. */
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        lws_sock_file_fd_type u = { .filefd = dfd };
        struct lws *w =
            lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, "ringhub-raw", NULL);
        if (!w)
                return -EIO;
        lws_set_opaque_user_data(w, (void *)(intptr_t)kind);
        return 0;
}

int loop_run(int listen_fd, struct MHD_Daemon *mhd)
{
        int r, ep_fd;
        hub_mark_loop_thread();
        lws_set_log_level(LLL_ERR, lws_log);
        retry_policy = (lws_retry_bo_t){
                .secs_since_valid_ping = (uint16_t)MIN(hub.opt.ping_secs, 65535u),
                .secs_since_valid_hangup = (uint16_t)MIN(hub.opt.read_timeout_secs, 65535u),
        };
        /* protocols[0]: what clients without a subprotocol get (and plain HTTP: polling). */
        eio_poll_protocol(&protocols[0]);
        protocols[1] = (struct lws_protocols){ .name = "ringhub-raw", .callback = raw_callback };
        protocols[2] = (struct lws_protocols){ NULL, NULL, 0, 0, 0, NULL, 0 };
        struct lws_context_creation_info info = { 0 };
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.protocols = protocols;
        info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
        info.max_http_header_data = 8192;
        info.timeout_secs = MAX(1u, hub.opt.head_timeout_ms / 1000);
        info.retry_and_idle_policy = &retry_policy;
        info.vhost_name = "ringhub";
        ctx = lws_create_context(&info);
        if (!ctx)
                return log_error_errno(-EIO, "cannot create the libwebsockets context");
        vh = lws_create_vhost(ctx, &info);
        if (!vh) {
                r = log_error_errno(-EIO, "cannot create the libwebsockets vhost");
                goto out;
        }
        hub.lws = ctx;

        ep_fd = gate_init(ctx, vh, listen_fd, mhd);
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (ep_fd < 0 || sig_fd < 0) {
                r = log_error_errno(ep_fd < 0 ? ep_fd : -errno, "cannot create epoll/signalfd: %m");
                goto out;
        }
        int tm_fd = htimers_fd();
        if (tm_fd < 0) {
                r = log_error_errno(tm_fd, "cannot create the timerfd: %m");
                goto out;
        }
        if ((r = adopt_raw(sig_fd, RAW_SIGNAL)) < 0 || (r = adopt_raw(ep_fd, RAW_EPOLL)) < 0 ||
            (r = adopt_raw(tm_fd, RAW_TIMERS)) < 0 || (r = adopt_raw(listen_fd, RAW_LISTEN)) < 0) {
                log_error_errno(r, "cannot nest descriptors into libwebsockets: %m");
                goto out;
        }
        if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
                /* Idle threads beat now, so the first tick judges them from here. */
                hub_beat_poke_all();
                htimer_schedule(&watchdog_tm, watchdog_timer, (lws_usec_t)(watchdog_usec / 2));
        }
        /* Frames rendered while we were setting up. */
        fanout_drain();

        sd_notify(0, "READY=1");
        log_info("ready");
        while (!exit_loop) {
                atomic_fetch_add_explicit(&hub.stats.loop_passes, 1, memory_order_relaxed);
                if (lws_service(ctx, 0) < 0)
                        break;
        }
        r = 0;
out:
        eio_poll_free();
        hub.lws = NULL;
        lws_context_destroy(ctx);
        ctx = NULL;
        vh = NULL;
        gate_free();
        fanout_free();
        htimers_free();
        hub_handoff_clear();
        if (sig_fd >= 0)
                close(sig_fd);
        sig_fd = -EBADF;
        return r;
}
