/*
 * unraid_int.h — what unraid.c and unraid_control.c share (ringhub-collect-unraid only).
 */
#pragma once

#include "collector.h"
#include "collector_worker.h"

/*
 * The notification commands (hub/control.c's catalogue, area "notifications"):
 * notify-create {title, subject?, description?, importance?, link?}, notify-archive ID,
 * notify-unarchive ID, notify-delete ID, notify-archive-all. base is the notifications
 * folder (its unread/ and archive/). Each is a rename, a write or an unlink on the event
 * loop (local files: no worker thread) and is answered at once; inotify then publishes
 * the new list. Returns 1 for a verb that is not a notification's (left to the skeleton).
 */
int unraid_notify_command(struct collector *c, const char *base,
                          const struct collector_command *cmd);

/* unraid_files.c: the registration record (var.ini) and the parity history
 * (parity-checks.log); tasks of the collector. */
int unraid_registration_run(struct collector *c);
int unraid_parity_run(struct collector *c);

/* unraid_settings.c: the settings rows (ident.cfg, disk.cfg, docker.cfg, domain.cfg,
 * var.ini's mover keys) as one batch of unraid_setting records; part of the files task. */
int unraid_settings_run(struct collector *c);
/* Is name one of the files the settings come from (for the inotify filter)? */
bool unraid_settings_file(const char *name);

/* unraid_plugins.c: the installed plugins (/boot/config/plugins/NAME.plg, updates waiting in
 * /tmp/plugins) as one batch of unraid_plugin records; part of the files task. */
int unraid_plugins_run(struct collector *c);
/* The User Scripts plugin's scripts as one batch of user_script records (files task). */
int unraid_user_scripts_run(struct collector *c);

/* unraid_devices.c: the unassigned devices (whole disks disks.ini does not name, their
 * partitions, the plugin's settings) and the remote shares of the mount table as two
 * batches (unassigned_device with unassigned_partition children, unassigned_remote); the
 * "devices" task. */
int unraid_unassigned_run(struct collector *c);

/* unraid_services.c: the agent's thirteen network services, enabled (Unraid's config
 * files) and running (one scan of /proc/PID/comm), as one batch of net_service records;
 * the "devices" task. */
int unraid_services_run(struct collector *c);

/* unraid_scripts.c: the command "script-run" (target: a User Scripts folder name) runs that
 * script with a deadline and bounded output on the worker (started on first use).
 * Returns 1 for another verb. */
int unraid_script_command(struct collector *c, struct collector_worker **worker,
                          const struct collector_command *cmd);
