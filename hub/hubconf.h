/*
 * hubconf.h — the hub's side of /etc/ringhub/ringhub.conf.
 *
 * Process: ringhub. The file supplies defaults for hub_options and the ring ([ring],
 * [hub], [log]); command-line flags override them. SIGHUP re-reads it (lws thread):
 * keys marked reloadable are applied at once, the others are reported as needing a
 * restart, the reload hooks run (modules that read files of their own: tokens), and one
 * config.updated event listing the changes goes through the publish path (events.c) to
 * every dialect that carries it. The loader never calls into a dialect or a client.
 */
#pragma once

#include <json-c/json.h>

#include "conf.h"
#include "hub.h"

/* Load the file named by --config/$RINGHUB_CONFIG/default (before flag parsing) and set
 * hub.opt's defaults from it. Returns 0 or -EINVAL (errors logged with file:line). */
int hubconf_load(int argc, char **argv);
/* A flag set this [hub] key: reloads keep the flag's value. */
void hubconf_flag(const char *key);
/* Ring open options from [ring] (capacity, mode, group). */
void hubconf_ring_opts(struct ring_open_opts *ro);
/* The ring name from [ring] when neither --ring nor $RINGHUB_RING named one. */
const char *hubconf_ring_name(void);
/* Call fn(userdata) on every reload, after hub.opt has the new values and before
 * config.updated is published (register at start-up). 0, or -ENOSPC. */
int hubconf_add_reload_hook(void (*fn)(void *userdata), void *userdata);
/* In a reload hook: what this reload did, for a human ("reloaded from FILE: 2 change(s)
 * applied, 0 need a restart", or "not reloaded: …" when the file had errors). */
const char *hubconf_reload_summary(void);
/* SIGHUP, lws thread. */
void hubconf_reload(void);
void hubconf_free(void);
