/*
 * loop.h — the lws thread's loop: libwebsockets set-up, signals (SIGTERM/SIGINT stop,
 * SIGHUP reloads), the systemd watchdog and READY/STOPPING, and the orderly shutdown.
 *
 * Process: ringhub, main thread (lws is single-threaded; only lws_cancel_service() is
 * called from elsewhere).
 */
#pragma once

struct MHD_Daemon;

/* Run until SIGTERM/SIGINT: the gate on listen_fd (kept open), WebSocket sessions, the
 * fan-out. 0, or -errno when the loop could not be set up. */
int loop_run(int listen_fd, struct MHD_Daemon *mhd);
